"""RedisTokenStore against a real redis-server: key layout, the lock's TTL, watchdog and
fencing, a holder killed with SIGKILL, and errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError

from oauthflow.errors import ConfigurationError, TokenUnavailableError
from oauthflow.store.redis import RedisTokenStore
from oauthflow.testing.redis_server import LocalRedis
from oauthflow.token import Token
from tests.stores.support import Spec, fleet

pytestmark = pytest.mark.asyncio

TOKEN = Token(access_token="at-redis-secret", refresh_token="rt-redis-secret", expires_at=2e9)


@pytest_asyncio.fixture
async def client(redis_server: LocalRedis) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_server.url)
    try:
        yield redis
    finally:
        await redis.aclose()


def store_for(client: Redis, spec: Spec, lock_ttl: float = 10.0) -> RedisTokenStore:
    return RedisTokenStore(client, spec["namespace"], lock_ttl=lock_ttl)


async def enter_and_leave(store: RedisTokenStore) -> None:
    async with store.renewal_lock():
        pass


async def test_keys_are_namespaced_and_hash_tagged(client: Redis, redis_spec: Spec) -> None:
    store = store_for(client, redis_spec)
    namespace = redis_spec["namespace"]
    assert store.token_key == f"oauthflow:{{{namespace}}}:token"
    assert store.lock_key == f"oauthflow:{{{namespace}}}:lock"
    version = await store.save_if_unchanged(TOKEN, None)
    fields = await client.hgetall(store.token_key)
    assert sorted(fields) == [b"serial", b"token", b"version"]
    assert fields[b"serial"] == b"1"
    assert fields[b"version"] == version.encode()
    assert version.startswith("1:")
    assert json.loads(fields[b"token"]) == {"oauthflow_token": 1, "token": TOKEN.to_dict()}
    assert await client.ttl(store.token_key) == -1  # no expiry: a refresh token lives long


async def test_a_client_that_decodes_responses_works_too(
    redis_server: LocalRedis, redis_spec: Spec,
) -> None:
    redis = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        store = store_for(redis, redis_spec)
        version = await store.save_if_unchanged(TOKEN, None)
        stored = await store.load_versioned()
        assert stored is not None
        assert (stored.token, stored.version) == (TOKEN, version)
        await store.save_if_unchanged(TOKEN, version)
        await enter_and_leave(store)
        assert await redis.exists(store.lock_key) == 0
    finally:
        await redis.aclose()


async def test_the_lock_has_the_ttl_and_is_gone_after_release(
    client: Redis, redis_spec: Spec,
) -> None:
    store = store_for(client, redis_spec, lock_ttl=5.0)
    async with store.renewal_lock():
        assert 4000 < await client.pttl(store.lock_key) <= 5000
        assert len(await client.get(store.lock_key) or b"") == 32  # a random fencing value
    assert await client.exists(store.lock_key) == 0


async def test_the_watchdog_keeps_a_live_holders_lock_past_its_ttl(
    client: Redis, redis_spec: Spec,
) -> None:
    holder = store_for(client, redis_spec, lock_ttl=0.3)
    other = store_for(client, redis_spec, lock_ttl=0.3)
    async with holder.renewal_lock():
        waiter = asyncio.create_task(enter_and_leave(other))
        await asyncio.sleep(1.0)  # more than three TTLs
        assert not waiter.done()
        assert await client.pttl(holder.lock_key) > 0
    await asyncio.wait_for(waiter, 5)


async def test_a_holder_whose_lock_expired_does_not_release_the_next_holders(
    client: Redis, redis_spec: Spec, caplog: pytest.LogCaptureFixture,
) -> None:
    first = store_for(client, redis_spec)
    second = store_for(client, redis_spec)
    entered, leave = asyncio.Event(), asyncio.Event()

    async def second_holder() -> None:
        async with second.renewal_lock():
            entered.set()
            await leave.wait()

    async with first.renewal_lock():
        await client.delete(first.lock_key)  # as if its TTL ran out during a long stall
        task = asyncio.create_task(second_holder())
        await asyncio.wait_for(entered.wait(), 5)
        value = await client.get(first.lock_key)
    assert await client.get(first.lock_key) == value  # compare-and-delete left it alone
    leave.set()
    await asyncio.wait_for(task, 5)
    assert await client.exists(first.lock_key) == 0


async def test_a_killed_holder_keeps_others_out_for_at_most_the_ttl(
    client: Redis, redis_spec: Spec,
) -> None:
    spec = dict(redis_spec, lock_ttl=1.0)
    store = store_for(client, spec)
    async with fleet() as workers:
        holder = await workers.spawn({"mode": "hold-lock", "store": spec})
        await workers.expect(holder, "LOCKED")
        waiter = asyncio.create_task(enter_and_leave(store))
        await asyncio.sleep(1.5)  # longer than the TTL: the live holder's watchdog extends
        assert not waiter.done()
        workers.kill(holder)
        killed = time.monotonic()
        assert await client.exists(store.lock_key) == 1  # SIGKILL released nothing
        await asyncio.wait_for(waiter, 5)
        assert time.monotonic() - killed < 1.0 + 1.0  # the TTL, plus a poll and slack


async def test_an_unreachable_redis_raises_its_connection_error() -> None:
    store = RedisTokenStore.from_url("redis://127.0.0.1:1/0", "unreachable")
    try:
        with pytest.raises(RedisConnectionError):
            await store.load()
    finally:
        await store.aclose()


async def test_bad_options_are_configuration_errors(client: Redis) -> None:
    with pytest.raises(ConfigurationError):
        RedisTokenStore(client, "")
    with pytest.raises(ConfigurationError):
        RedisTokenStore(client, "ns", lock_ttl=0)
    with pytest.raises(ConfigurationError):
        RedisTokenStore(client, "ns", lock_poll_interval=-1)


async def test_a_value_that_is_not_a_token_is_refused(client: Redis, redis_spec: Spec) -> None:
    store = store_for(client, redis_spec)
    await client.hset(store.token_key, mapping={"token": "{oops", "version": "1:x"})
    with pytest.raises(TokenUnavailableError, match=r"Redis key .*\(not JSON\)"):
        await store.load()


#: The ACL rule docs/fleets.md recommends: the store's keys and commands, nothing else.
DOCUMENTED_ACL = (
    "on", ">acl-test-password", "resetkeys", "~oauthflow:*", "resetchannels", "-@all",
    "+hmget", "+hdel", "+set", "+evalsha", "+script|load",
    "+get", "+del", "+pexpire", "+hexists", "+hget", "+hincrby", "+hset",
)


async def command(client: Redis, *args: str) -> object:
    """A raw Redis command (redis-py leaves ``execute_command`` untyped)."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


async def test_the_documented_acl_is_enough_and_keeps_other_keys_out(
    client: Redis, redis_server: LocalRedis, redis_spec: Spec,
) -> None:
    user = f"oauthflow-{redis_spec['namespace']}"
    await command(client, "ACL", "SETUSER", user, "reset", *DOCUMENTED_ACL)
    url = redis_server.url.replace("redis://", f"redis://{user}:acl-test-password@")
    await command(client, "SCRIPT", "FLUSH")  # the restricted user must load them
    store = RedisTokenStore.from_url(url, redis_spec["namespace"])
    try:
        version = await store.save_if_unchanged(TOKEN, None)
        await store.save_if_unchanged(TOKEN, version)
        await store.save(TOKEN)
        assert await store.load() == TOKEN
        await enter_and_leave(store)
        await store.clear()
        restricted = Redis.from_url(url)
        try:
            with pytest.raises(NoPermissionError):
                await restricted.get("some-other-key")
        finally:
            await restricted.aclose()
    finally:
        await store.aclose()
        await command(client, "ACL", "DELUSER", user)
