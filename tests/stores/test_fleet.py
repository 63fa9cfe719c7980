"""Real processes sharing one store (a file, then Redis) against a real token server.

Each worker process (``tests/stores/worker.py``) builds
``TokenManager.for_refresh_token(store=...)`` and calls ``get()`` once; the server
(``oauthflow.testing.AuthorizationServer``, rotating refresh tokens with reuse detection)
runs in the test's event loop and counts every token request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from oauthflow import ClientConfig, RenewalEvent, TokenEventListener, TokenManager
from oauthflow.testing import AuthorizationServer
from oauthflow.token import Token
from tests.stores.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    SharedStore,
    Spec,
    close_store,
    expired,
    fleet,
    login,
    open_store,
    refresh_directly,
    sha,
)

pytestmark = pytest.mark.asyncio

WORKERS = 8
#: How long after a kill the takeover may take beyond the lock's own bound (process
#: scheduling on a loaded 2-core machine, one refresh request).
SLACK = 3.0


def renew_config(server: AuthorizationServer, spec: Spec, **extra: Any) -> dict[str, Any]:
    return {"mode": "renew", "store": dict(spec), "token_endpoint": server.token_endpoint,
            "renewal_timeout": 20, **extra}


def lock_bound(spec: Spec) -> float:
    """How long a dead holder can keep others out: Redis, the TTL; a file, nothing."""
    return float(spec["lock_ttl"]) if spec["kind"] == "redis" else 0.0


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def seeded(
    oauth_server: AuthorizationServer, shared_spec: Spec
) -> AsyncIterator[tuple[Token, SharedStore]]:
    """A real login, saved in the shared store as expired; the server's counters zeroed."""
    token = await login(oauth_server)
    store = open_store(shared_spec)
    try:
        await store.save(expired(token))
        oauth_server.reset_counters()
        yield token, store
    finally:
        await close_store(store)


async def assert_still_works(server: AuthorizationServer, refresh_token: str | None) -> None:
    assert refresh_token is not None
    status, body = await refresh_directly(server, refresh_token)
    assert status == 200, body


async def test_eight_processes_with_an_expired_token_make_one_token_request(
    oauth_server: AuthorizationServer, shared_spec: Spec, seeded: tuple[Token, SharedStore],
) -> None:
    logged_in, store = seeded
    oauth_server.set_latency("token", 0.3)  # everyone asks while the one request is in flight
    async with fleet() as workers:
        processes = [await workers.spawn(renew_config(oauth_server, shared_spec))
                     for _ in range(WORKERS)]
        for process in processes:
            await workers.expect(process, "READY")
        workers.go(*processes)
        results = [await workers.result(process) for process in processes]

    assert [r["ok"] for r in results] == [True] * WORKERS, results
    assert oauth_server.counters.requests["token"] == 1
    assert oauth_server.counters.grants["refresh_token"] == 1
    (request,) = oauth_server.requests_seen("token")
    assert request.form["refresh_token"] == logged_in.refresh_token
    assert sorted(r["outcome"] for r in results) == ["adopted"] * (WORKERS - 1) + ["renewed"]
    stored = await store.load()
    assert stored is not None
    assert {r["access_token_sha256"] for r in results} == {sha(stored.access_token)}
    assert {r["refresh_token_sha256"] for r in results} == {sha(stored.refresh_token)}
    assert stored.refresh_token != logged_in.refresh_token  # rotated, and persisted
    await assert_still_works(oauth_server, stored.refresh_token)


async def test_a_renewer_killed_mid_request_is_replaced_and_no_refresh_token_is_lost(
    oauth_server: AuthorizationServer, shared_spec: Spec, seeded: tuple[Token, SharedStore],
) -> None:
    logged_in, store = seeded
    oauth_server.set_latency("token", 60.0)  # the first renewal hangs at the server
    config = renew_config(oauth_server, shared_spec)
    async with fleet() as workers:
        renewer = await workers.spawn(config)
        others = [await workers.spawn(config) for _ in range(3)]
        for process in (renewer, *others):
            await workers.expect(process, "READY")
        workers.go(renewer)
        await wait_until(lambda: oauth_server.counters.requests["token"] == 1)
        workers.go(*others)
        await asyncio.sleep(0.3)  # they queue behind the renewer's lock
        assert [p.returncode for p in others] == [None] * 3
        oauth_server.set_latency("token", 0.0)
        workers.kill(renewer)  # SIGKILL while its token request is in flight
        killed = time.monotonic()
        results = [await workers.result(process) for process in others]
        took = time.monotonic() - killed

    assert [r["ok"] for r in results] == [True] * 3, results  # no invalid_grant
    assert took < lock_bound(shared_spec) + SLACK
    assert sorted(r["outcome"] for r in results) == ["adopted", "adopted", "renewed"]
    # The dead renewer's request never reached the grant; the successor used the same,
    # still valid refresh token, and saved the rotated one before anyone used the token.
    assert oauth_server.counters.requests["token"] == 2
    assert oauth_server.counters.grants["refresh_token"] == 1
    presented = [r.form["refresh_token"] for r in oauth_server.requests_seen("token")]
    assert presented == [logged_in.refresh_token] * 2
    stored = await store.load()
    assert stored is not None
    assert {r["refresh_token_sha256"] for r in results} == {sha(stored.refresh_token)}
    await assert_still_works(oauth_server, stored.refresh_token)


@pytest.mark.parametrize("rotation", [False, True], ids=["no-rotation", "rotation"])
async def test_a_renewer_killed_after_the_server_answered(
    oauth_server: AuthorizationServer, shared_spec: Spec, seeded: tuple[Token, SharedStore],
    rotation: bool,
) -> None:
    """The documented failure mode (docs/fleets.md): the server answered, the renewer died
    before saving. Without rotation the successor renews with the same refresh token;
    with rotation the new refresh token died with the renewer, the old one is refused, and
    the successor says so (re-authentication), without overwriting the store."""
    logged_in, store = seeded
    oauth_server.settings.refresh_token_rotation = rotation
    async with fleet() as workers:
        renewer = await workers.spawn(renew_config(oauth_server, shared_spec,
                                                   pause_before_save=60))
        successor = await workers.spawn(renew_config(oauth_server, shared_spec))
        for process in (renewer, successor):
            await workers.expect(process, "READY")
        workers.go(renewer)
        await workers.expect(renewer, "SAVING")  # answered by the server, not yet saved
        workers.go(successor)
        workers.kill(renewer)
        killed = time.monotonic()
        result = await workers.result(successor)
        took = time.monotonic() - killed

    assert took < lock_bound(shared_spec) + SLACK
    assert oauth_server.counters.requests["token"] == 2
    presented = [r.form["refresh_token"] for r in oauth_server.requests_seen("token")]
    assert presented == [logged_in.refresh_token] * 2
    stored = await store.load()
    assert stored is not None
    if not rotation:
        assert result["ok"] is True
        assert result["outcome"] == "renewed"
        assert stored.refresh_token == logged_in.refresh_token
        await assert_still_works(oauth_server, stored.refresh_token)
    else:
        assert result == {"ok": False, "error_type": "ReauthenticationRequiredError",
                          "error": "invalid_grant", "conflicts": 0}
        # not overwritten: still the login's (expired) token and refresh token
        assert stored.access_token == logged_in.access_token
        assert stored.refresh_token == logged_in.refresh_token


class _Recorder(TokenEventListener):
    def __init__(self) -> None:
        self.events: list[RenewalEvent] = []
        self.conflicts = 0

    def on_renewal(self, event: RenewalEvent) -> None:
        self.events.append(event)

    def on_store_conflict(self) -> None:
        self.conflicts += 1


async def test_a_login_saved_during_a_renewal_wins_the_compare_and_swap(
    oauth_server: AuthorizationServer, shared_spec: Spec, seeded: tuple[Token, SharedStore],
) -> None:
    """Another process (say a CLI login) saves while our renewal is in flight: our save
    is refused, nothing is overwritten, and the manager adopts the saved token."""
    _, store = seeded
    fresh_login = await login(oauth_server)
    oauth_server.reset_counters()
    oauth_server.set_latency("token", 0.5)
    recorder = _Recorder()
    own_store = open_store(shared_spec)
    manager = TokenManager.for_refresh_token(
        client=ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
        token_endpoint=oauth_server.token_endpoint, store=own_store, listeners=[recorder],
    )
    try:
        async with manager:
            renewal = asyncio.create_task(manager.get())
            await wait_until(lambda: oauth_server.counters.requests["token"] == 1)
            await store.save(fresh_login)
            token = await asyncio.wait_for(renewal, 10)
    finally:
        await close_store(own_store)

    assert token == fresh_login
    assert recorder.conflicts == 1
    assert [(e.outcome, e.reason) for e in recorder.events] == [("adopted", "initial")]
    assert await store.load() == fresh_login
    assert oauth_server.counters.grants["refresh_token"] == 1
