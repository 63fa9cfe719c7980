"""The SharedTokenStore contract, the same for every store: versioned reads,
compare-and-swap saves, an exclusive renewal lock, nothing secret in ``repr``.

Each test runs on the file store and the Redis store; two *instances* on the same file or
namespace stand for two processes (the fleet tests use real processes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from oauthflow import RenewalPolicy, TokenManager
from oauthflow.errors import StoreConflictError, TokenUnavailableError
from oauthflow.stores import SharedTokenStore
from oauthflow.token import Token
from tests.stores.support import SharedStore, Spec, close_store, open_store

pytestmark = pytest.mark.asyncio

TOKEN = Token(
    access_token="at-secret-1", refresh_token="rt-secret-1", expires_at=1_900_000_000.5,
    issued_at=1_800_000_000.25, scope=("read", "offline_access"), id_token="id-secret-1",
    token_type="Bearer", extra={"nested": {"a": [1, 2]}, "audience": "api"},
)
OTHER = Token(access_token="at-secret-2", refresh_token="rt-secret-2")


@pytest_asyncio.fixture
async def pair(shared_spec: Spec) -> AsyncIterator[tuple[SharedStore, SharedStore]]:
    """Two store instances on the same file / namespace."""
    first, second = open_store(shared_spec), open_store(shared_spec)
    try:
        yield first, second
    finally:
        await close_store(first)
        await close_store(second)


async def test_an_empty_store_has_no_token(pair: tuple[SharedStore, SharedStore]) -> None:
    store, _ = pair
    assert isinstance(store, SharedTokenStore)
    assert await store.load() is None
    assert await store.load_versioned() is None


async def test_a_saved_token_comes_back_whole_in_another_instance(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, twin = pair
    version = await store.save_if_unchanged(TOKEN, None)
    stored = await twin.load_versioned()
    assert stored is not None
    assert stored.version == version
    assert stored.token == TOKEN
    assert stored.token.extra["nested"] == {"a": [1, 2]}
    assert await twin.load() == TOKEN


async def test_every_save_makes_a_new_version(pair: tuple[SharedStore, SharedStore]) -> None:
    store, twin = pair
    versions = [await store.save_if_unchanged(TOKEN, None)]
    versions.append(await twin.save_if_unchanged(OTHER, versions[-1]))
    await store.save(TOKEN)
    stored = await twin.load_versioned()
    assert stored is not None
    versions.append(stored.version)
    assert len(set(versions)) == 3


async def test_compare_and_swap_refuses_a_stale_version_and_writes_nothing(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, twin = pair
    read_version = await store.save_if_unchanged(TOKEN, None)
    winner_version = await twin.save_if_unchanged(OTHER, read_version)  # "another process"
    with pytest.raises(StoreConflictError):
        await store.save_if_unchanged(TOKEN.replace(access_token="at-late"), read_version)
    stored = await store.load_versioned()
    assert stored is not None
    assert (stored.token, stored.version) == (OTHER, winner_version)


async def test_expecting_an_empty_store_conflicts_with_any_token(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, twin = pair
    await twin.save(OTHER)
    with pytest.raises(StoreConflictError):
        await store.save_if_unchanged(TOKEN, None)
    assert await store.load() == OTHER


async def test_a_version_that_never_existed_conflicts(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, _ = pair
    with pytest.raises(StoreConflictError):  # empty store
        await store.save_if_unchanged(TOKEN, "1:deadbeef")
    await store.save(TOKEN)
    for bogus in ("1:deadbeef", ""):
        with pytest.raises(StoreConflictError):
            await store.save_if_unchanged(OTHER, bogus)
    assert await store.load() == TOKEN


async def test_clear_empties_the_store_and_versions_do_not_come_back(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, twin = pair
    first = await store.save_if_unchanged(TOKEN, None)
    await twin.clear()
    assert await store.load_versioned() is None
    second = await store.save_if_unchanged(TOKEN, None)
    assert second != first
    await store.clear()
    await store.clear()  # idempotent
    assert await twin.load() is None


async def test_the_renewal_lock_excludes_another_instance_until_released(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, twin = pair
    entered = asyncio.Event()

    async def second_holder() -> None:
        async with twin.renewal_lock():
            entered.set()

    async with store.renewal_lock():
        waiter = asyncio.create_task(second_holder())
        # While we hold it, the other instance polls and must not get in. (A broken
        # lock lets it in within milliseconds; a correct one never does.)
        await asyncio.sleep(0.3)
        assert not entered.is_set()
    await asyncio.wait_for(waiter, 5)
    assert entered.is_set()


async def test_the_lock_is_released_when_the_body_raises(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, twin = pair
    with pytest.raises(RuntimeError, match="boom"):
        async with store.renewal_lock():
            raise RuntimeError("boom")
    await asyncio.wait_for(_enter_and_leave(twin), 5)


async def test_a_cancelled_waiter_takes_nothing(pair: tuple[SharedStore, SharedStore]) -> None:
    store, twin = pair
    async with store.renewal_lock():
        waiter = asyncio.create_task(_enter_and_leave(twin))
        await asyncio.sleep(0.1)  # let it poll a few times
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    # Neither instance is left holding anything: both can take the lock again.
    await asyncio.wait_for(_enter_and_leave(twin), 5)
    await asyncio.wait_for(_enter_and_leave(store), 5)


async def test_managers_of_one_process_queue_on_one_instance(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    store, _ = pair
    inside = 0
    most = 0

    async def holder() -> None:
        nonlocal inside, most
        async with store.renewal_lock():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.wait_for(asyncio.gather(*(holder() for _ in range(5))), 10)
    assert most == 1


async def test_a_manager_that_times_out_waiting_for_the_lock_leaves_nothing_behind(
    pair: tuple[SharedStore, SharedStore],
) -> None:
    """The manager's renewal_timeout bounds its wait for the lock; its cancellation takes
    nothing and calls no renewer, and the next attempt works."""
    holder, store = pair
    calls: list[Token | None] = []

    async def renew(current: Token | None) -> Token:
        calls.append(current)
        return OTHER

    manager = TokenManager(renew, store=store, policy=RenewalPolicy(renewal_timeout=0.3))
    async with manager:
        async with holder.renewal_lock():
            with pytest.raises(TokenUnavailableError, match=r"did not finish within 0\.3s"):
                await manager.get()
        assert calls == []
        assert await asyncio.wait_for(manager.get(), 5) == OTHER
    assert calls == [None]
    assert await holder.load() == OTHER
    await asyncio.wait_for(_enter_and_leave(holder), 5)


async def test_repr_names_no_secret(pair: tuple[SharedStore, SharedStore]) -> None:
    store, _ = pair
    await store.save(TOKEN)
    stored = await store.load_versioned()
    for text in (repr(store), str(store), repr(stored)):
        for secret in ("at-secret-1", "rt-secret-1", "id-secret-1"):
            assert secret not in text


async def _enter_and_leave(store: SharedStore) -> None:
    async with store.renewal_lock():
        pass
