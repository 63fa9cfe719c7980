"""TokenManager against a real token endpoint on 127.0.0.1 (integration).

Concurrency is made deterministic by holding the token endpoint on ``fake.gate`` and
waiting for ``fake.token_request_arrived``; no sleeps decide an outcome.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import weakref
from typing import Any

import pytest

from oauthflow import (
    ClientConfig,
    InvalidResponseError,
    ManualClock,
    MemoryTokenStore,
    OAuthError,
    ReauthenticationRequiredError,
    RenewalEvent,
    RenewalPolicy,
    RetryPolicy,
    Token,
    TokenEventListener,
    TokenManager,
    TokenUnavailableError,
    Transport,
)
from tests.support.fake_server import CLIENT_ID, CLIENT_SECRET, FakeServer, Scripted

pytestmark = pytest.mark.asyncio

CLIENT = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


async def _no_sleep(_: float) -> None:
    return None


def cc_manager(fake: FakeServer, clock: ManualClock, **kwargs: Any) -> TokenManager:
    return TokenManager.for_client_credentials(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, **kwargs
    )


def expired_token(clock: ManualClock, refresh_token: str | None = None) -> Token:
    return Token(access_token="at-old", expires_at=clock.time() - 1, issued_at=clock.time() - 61,
                 refresh_token=refresh_token)


async def wait_for_token_request(fake: FakeServer) -> None:
    await asyncio.wait_for(fake.token_request_arrived.wait(), 5)


async def test_ten_thousand_callers_on_an_expired_token_share_one_request(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    async with cc_manager(fake, clock) as tokens:
        first = await tokens.get()
        clock.advance(3601)
        fake.gate = asyncio.Event()
        fake.token_request_arrived.clear()
        callers = [asyncio.ensure_future(tokens.get()) for _ in range(10_000)]
        await wait_for_token_request(fake)
        fake.gate.set()
        results = await asyncio.gather(*callers)
    assert fake.token_calls == 2
    assert (tokens.stats.renewals, tokens.stats.waits) == (2, 10_001)
    assert {token.access_token for token in results} == {"at-2"}
    assert len({id(token) for token in results}) == 1
    assert first.access_token == "at-1"


async def test_cancelled_initiator_and_waiters_do_not_lose_a_rotated_refresh_token(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    fake.gate = asyncio.Event()
    tokens = TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock,
        token=expired_token(clock, refresh_token="rt-0"),
    )
    async with tokens:
        initiator = asyncio.ensure_future(tokens.get())
        await wait_for_token_request(fake)
        waiters = [asyncio.ensure_future(tokens.get()) for _ in range(20)]
        await asyncio.sleep(0)
        initiator.cancel()
        for waiter in waiters[:10]:
            waiter.cancel()
        fake.gate.set()
        survivors = await asyncio.gather(*waiters[10:])
        with pytest.raises(asyncio.CancelledError):
            await initiator
        assert [token.access_token for token in survivors] == ["at-1"] * 10
        assert fake.token_calls == 1
        assert tokens.current is not None
        assert tokens.current.refresh_token == "rt-1"

        clock.advance(3601)
        renewed = await tokens.get()
    assert renewed.access_token == "at-2"
    assert [seen.form["refresh_token"] for seen in fake.token_requests] == ["rt-0", "rt-1"]
    assert renewed.refresh_token == "rt-2"


async def test_caller_timeout_does_not_cancel_the_shared_renewal(fake: FakeServer) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    fake.gate = asyncio.Event()
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, refresh_token="rt-0",
    ) as tokens:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(tokens.get(), 0.05)
        fake.gate.set()
        token = await tokens.get()
    assert (token.access_token, token.refresh_token) == ("at-1", "rt-1")
    assert fake.token_calls == 1


async def test_failed_renewal_reaches_every_waiter_and_the_next_call_tries_again(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    fake.gate = asyncio.Event()
    transport = Transport(retry=RetryPolicy(attempts=2), sleep=_no_sleep)
    fake.script(Scripted(status=500, json_body={"error": "server_error"}),
                Scripted(status=500, body=b"<html>oops</html>", content_type="text/html"))
    async with transport, TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, refresh_token="rt-0",
        transport=transport,
    ) as tokens:
        callers = [asyncio.ensure_future(tokens.get()) for _ in range(50)]
        await wait_for_token_request(fake)
        fake.gate.set()
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
        errors = {id(outcome) for outcome in outcomes}
        assert len(errors) == 1
        error = outcomes[0]
        assert isinstance(error, InvalidResponseError)
        assert (error.code, error.status) == (InvalidResponseError.RESPONSE_NOT_JSON, 500)
        assert fake.token_calls == 2  # the first 500 was retried once, then given up

        fake.script(Scripted(status=400, json_body={"error": "invalid_grant"}))
        callers = [asyncio.ensure_future(tokens.get()) for _ in range(50)]
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
        assert all(isinstance(outcome, ReauthenticationRequiredError) for outcome in outcomes)
        assert len({id(outcome) for outcome in outcomes}) == 1
        assert isinstance(outcomes[0], OAuthError)
        assert outcomes[0].error == "invalid_grant"
        assert fake.token_calls == 3  # an OAuth 4xx is never retried

        token = await tokens.get()  # the next call tries again, and the server is back
    assert token.access_token == "at-1"
    assert fake.token_calls == 4
    assert [seen.form["refresh_token"] for seen in fake.token_requests] == ["rt-0"] * 4


async def test_fresh_token_is_returned_without_suspending(fake: FakeServer) -> None:
    async with cc_manager(fake, ManualClock()) as tokens:
        token = await tokens.get()
        coroutine = tokens.get()
        with pytest.raises(StopIteration) as done:
            coroutine.send(None)
        assert done.value.value is token


async def test_leeway_renews_in_the_background_while_callers_keep_the_valid_token(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    renewed = asyncio.Event()
    async with cc_manager(fake, clock, policy=RenewalPolicy(leeway=60),
                          on_renewed=lambda _: renewed.set()) as tokens:
        first = await tokens.get()
        renewed.clear()
        clock.advance(3600 - 30)  # 30 s left: inside the leeway, far from the margin
        fake.gate = asyncio.Event()
        fake.token_request_arrived.clear()
        served = [await tokens.get() for _ in range(100)]
        assert all(token is first for token in served)
        await wait_for_token_request(fake)
        fake.gate.set()
        await asyncio.wait_for(renewed.wait(), 5)
        assert (await tokens.get()).access_token == "at-2"
    assert fake.token_calls == 2


async def test_invalidate_renews_only_for_the_current_token(fake: FakeServer) -> None:
    clock = ManualClock()
    async with cc_manager(fake, clock) as tokens:
        first = await tokens.get()
        assert tokens.invalidate(first) is True
        assert tokens.invalidate(first) is True  # still current until renewed
        second = await tokens.get()
        assert tokens.invalidate(first) is False  # an old token's 401 changes nothing
        assert await tokens.get() is second
        assert (tokens.stats.invalidations, tokens.stats.renewals) == (1, 2)
    assert fake.token_calls == 2


async def test_response_without_expires_in_uses_the_default_lifetime(fake: FakeServer) -> None:
    clock = ManualClock()
    fake.lifetime = None
    policy = RenewalPolicy(default_lifetime=100, leeway=10, expiry_margin=1)
    async with cc_manager(fake, clock, policy=policy) as tokens:
        first = await tokens.get()
        assert first.expires_at is None
        clock.advance(95)
        assert await tokens.get() is first  # background renewal started
        await asyncio.sleep(0.05)
        clock.advance(5)
        assert (await tokens.get()).access_token == "at-2"


async def test_refresh_response_without_refresh_token_keeps_the_old_one(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    fake.rotate_refresh_tokens = False
    fake.grant_refresh_token("rt-0")
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, refresh_token="rt-0",
    ) as tokens:
        first = await tokens.get()
        clock.advance(3601)
        second = await tokens.get()
    assert (first.refresh_token, second.refresh_token) == ("rt-0", "rt-0")
    assert [seen.form["refresh_token"] for seen in fake.token_requests] == ["rt-0", "rt-0"]


class RecordingStore(MemoryTokenStore):
    def __init__(self, manager_box: list[TokenManager], token: Token | None = None) -> None:
        super().__init__(token)
        self.box = manager_box
        self.saved: list[tuple[str, str | None]] = []
        self.fail = False

    async def save(self, token: Token) -> None:
        current = self.box[0].current
        self.saved.append((token.access_token, None if current is None else current.access_token))
        if self.fail:
            raise OSError("disk full")
        await super().save(token)


async def test_store_is_saved_before_callers_see_the_token(fake: FakeServer) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    box: list[TokenManager] = []
    store = RecordingStore(box, expired_token(clock, refresh_token="rt-0"))
    renewed: list[Token] = []
    tokens = TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, store=store,
        on_renewed=renewed.append,
    )
    box.append(tokens)
    async with tokens:
        token = await tokens.get()
        # at save time the manager had not published the new token: persist before publish
        assert store.saved == [("at-1", None)]
        assert renewed == [token]
        assert (await store.load()) is token

        store.fail = True
        clock.advance(3601)
        with pytest.raises(OSError, match="disk full"):
            await tokens.get()
        assert tokens.current is token  # the unsaved token was not published
    assert fake.token_calls == 2


async def test_store_token_is_used_without_a_request_when_valid(fake: FakeServer) -> None:
    clock = ManualClock()
    stored = Token(access_token="at-stored", expires_at=clock.time() + 600,
                   issued_at=clock.time(), refresh_token="rt-stored")
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock,
        store=MemoryTokenStore(stored),
    ) as tokens:
        assert await tokens.get() is stored
    assert fake.token_calls == 0


async def test_renewal_timeout_gives_a_typed_error_and_failure_hook(fake: FakeServer) -> None:
    failures: list[BaseException] = []
    fake.gate = asyncio.Event()
    async with cc_manager(
        fake, ManualClock(), policy=RenewalPolicy(renewal_timeout=0.2),
        on_renewal_failed=failures.append,
    ) as tokens:
        with pytest.raises(TokenUnavailableError, match=r"within 0\.2s"):
            await tokens.get()
    assert len(failures) == 1
    assert isinstance(failures[0], TokenUnavailableError)


async def test_closed_manager_refuses_and_aclose_waits_for_the_renewal(fake: FakeServer) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    fake.gate = asyncio.Event()
    store = MemoryTokenStore()
    tokens = TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, refresh_token="rt-0",
        store=store,
    )
    caller = asyncio.ensure_future(tokens.get())
    await wait_for_token_request(fake)
    closing = asyncio.ensure_future(tokens.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()
    fake.gate.set()
    await closing
    assert (await caller).refresh_token == "rt-1"
    saved = await store.load()
    assert saved is not None
    assert saved.refresh_token == "rt-1"
    with pytest.raises(TokenUnavailableError, match="closed"):
        await tokens.get()


async def test_hook_errors_are_logged_not_raised(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: Token) -> None:
        raise RuntimeError("hook bug")

    async with cc_manager(fake, ManualClock(), on_renewed=broken) as tokens:
        assert (await tokens.get()).access_token == "at-1"
    assert any("hook raised" in record.getMessage() for record in caplog.records)


async def test_policy_and_constructors_reject_nonsense() -> None:
    from oauthflow import ConfigurationError

    with pytest.raises(ConfigurationError):
        RenewalPolicy(leeway=-1)
    with pytest.raises(ConfigurationError):
        RenewalPolicy(renewal_timeout=0)
    with pytest.raises(ConfigurationError):
        TokenManager.for_refresh_token(token_endpoint="https://as.example/token", client=CLIENT)


async def test_managers_sharing_a_store_renew_once_and_adopt_each_others_tokens(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    store = MemoryTokenStore(expired_token(clock, refresh_token="rt-0"))
    fake.gate = asyncio.Event()
    managers = [
        TokenManager.for_refresh_token(token_endpoint=fake.token_endpoint, client=CLIENT,
                                       clock=clock, store=store)
        for _ in range(5)
    ]
    callers = [asyncio.ensure_future(m.get()) for m in managers for _ in range(10)]
    await wait_for_token_request(fake)
    fake.gate.set()
    results = await asyncio.gather(*callers)
    assert {token.access_token for token in results} == {"at-1"}
    assert fake.token_calls == 1
    assert [m.stats.renewals for m in managers].count(1) == 1  # the others adopted it

    # an API refuses at-1: the first manager to hear it renews, the others adopt at-2
    assert managers[0].invalidate(results[0])
    assert (await managers[0].get()).access_token == "at-2"
    for manager in managers[1:]:
        manager.invalidate(results[0])
        assert (await manager.get()).access_token == "at-2"
    assert fake.token_calls == 2
    assert [seen.form["refresh_token"] for seen in fake.token_requests] == ["rt-0", "rt-1"]
    for manager in managers:
        await manager.aclose()


class ConflictingStore(MemoryTokenStore):
    """Another process saves while our renewal is in flight (its lock TTL ran out)."""

    def __init__(self, token: Token, intruder: Token) -> None:
        super().__init__(token)
        self.intruder = intruder

    async def save_if_unchanged(self, token: Token, expected_version: str | None) -> str:
        await self.save(self.intruder)
        return await super().save_if_unchanged(token, expected_version)


async def test_store_conflict_adopts_the_token_saved_meanwhile(fake: FakeServer) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    intruder = Token(access_token="at-other", refresh_token="rt-other",
                     expires_at=clock.time() + 3600, issued_at=clock.time())
    store = ConflictingStore(expired_token(clock, refresh_token="rt-0"), intruder)
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, store=store,
    ) as tokens:
        assert await tokens.get() is intruder
    assert (await store.load()) is intruder
    assert fake.token_calls == 1


async def test_plain_http_token_endpoint_is_refused_when_the_manager_is_built() -> None:
    from oauthflow import ConfigurationError

    with pytest.raises(ConfigurationError, match="endpoint"):
        TokenManager.for_client_credentials(token_endpoint="http://as.example/token",
                                            client=CLIENT)
    loopback = TokenManager.for_client_credentials(token_endpoint="http://127.0.0.1:1/token",
                                                   client=CLIENT)
    await loopback.aclose()


class RecordingListener(TokenEventListener):
    def __init__(self) -> None:
        self.events: list[RenewalEvent] = []
        self.invalidated: list[str] = []
        self.reauth: list[str] = []
        self.conflicts = 0
        self.renewal_ended = asyncio.Event()

    def on_renewal(self, event: RenewalEvent) -> None:
        self.events.append(event)
        self.renewal_ended.set()

    def on_invalidated(self, token: Token) -> None:
        self.invalidated.append(token.access_token)

    def on_reauthentication_required(self, error: ReauthenticationRequiredError) -> None:
        self.reauth.append(error.error)

    def on_store_conflict(self) -> None:
        self.conflicts += 1


async def test_listeners_hear_every_renewal_with_reason_outcome_and_waiters(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    listener = RecordingListener()

    class Broken(TokenEventListener):
        def on_renewal(self, event: RenewalEvent) -> None:
            raise RuntimeError("listener bug")

    broken = Broken()
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, refresh_token="rt-0",
        listeners=[broken, listener], policy=RenewalPolicy(leeway=60),
    ) as tokens:
        first = (await asyncio.gather(*(tokens.get() for _ in range(3))))[0]
        clock.advance(3600 - 30)
        listener.renewal_ended.clear()
        assert await tokens.get() is first  # starts a background renewal
        await asyncio.wait_for(listener.renewal_ended.wait(), 5)
        second = await tokens.get()
        assert tokens.invalidate(second)
        third = await tokens.get()
        clock.advance(7200)
        fake.script(Scripted(status=400, json_body={"error": "invalid_grant"}))
        with pytest.raises(ReauthenticationRequiredError):
            await tokens.get()
    summary = [(e.reason, e.outcome, e.waiters) for e in listener.events]
    assert summary == [
        ("initial", "renewed", 3),
        ("expiring", "renewed", 0),
        ("invalidated", "renewed", 1),
        ("expired", "failed", 1),
    ]
    assert [e.token.access_token if e.token else None for e in listener.events] == [
        first.access_token, second.access_token, third.access_token, None]
    assert all(e.duration >= 0 for e in listener.events)
    assert isinstance(listener.events[-1].error, ReauthenticationRequiredError)
    assert listener.invalidated == [second.access_token]
    assert listener.reauth == ["invalid_grant"]


async def test_listener_hears_store_conflicts_and_adoptions(fake: FakeServer) -> None:
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    intruder = Token(access_token="at-other", refresh_token="rt-other",
                     expires_at=clock.time() + 3600, issued_at=clock.time())
    listener = RecordingListener()
    store = ConflictingStore(expired_token(clock, refresh_token="rt-0"), intruder)
    async with TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, store=store,
        listeners=[listener],
    ) as tokens:
        await tokens.get()
    assert listener.conflicts == 1
    assert [(e.reason, e.outcome) for e in listener.events] == [("initial", "adopted")]


async def test_fresh_never_suspends_and_says_when_get_would_wait(fake: FakeServer) -> None:
    clock = ManualClock()
    async with cc_manager(fake, clock, policy=RenewalPolicy(leeway=60)) as tokens:
        assert tokens.fresh() is None  # nothing yet: get() would wait
        first = await tokens.get()
        assert tokens.fresh() is first
        clock.advance(3600 - 30)  # inside the leeway: handed out, renewal in the background
        assert tokens.fresh() is first
        assert tokens.stats.background_renewals == 1
        clock.advance(29)  # inside the margin: get() would wait
        assert tokens.fresh() is None
        assert (await tokens.get()).access_token == "at-2"


async def test_get_future_is_get_as_a_future_of_the_callers_own(fake: FakeServer) -> None:
    clock = ManualClock()
    async with cc_manager(fake, clock) as tokens:
        fake.gate = asyncio.Event()
        futures = [tokens.get_future() for _ in range(3)]
        await wait_for_token_request(fake)
        assert not any(future.done() for future in futures)
        futures[0].cancel()  # one caller gives up: the renewal goes on for the others
        fake.gate.set()
        first, second = await asyncio.gather(*futures[1:])
        assert first is second
        assert first.access_token == "at-1"
        assert fake.token_calls == 1
        ready = tokens.get_future()  # fresh: already done, no request
        assert ready.done()
        assert ready.result() is first
        assert tokens.stats.waits == 3
    with pytest.raises(TokenUnavailableError):
        tokens.get_future()


async def test_get_future_hands_every_waiter_the_renewal_error(fake: FakeServer) -> None:
    clock = ManualClock()
    fake.script(Scripted(status=400, json_body={"error": "invalid_client"}))
    async with cc_manager(fake, clock) as tokens:
        futures = [tokens.get_future() for _ in range(3)]
        results = await asyncio.gather(*futures, return_exceptions=True)
    assert [type(result) for result in results] == [OAuthError] * 3
    assert len({id(result) for result in results}) == 1
    assert fake.token_calls == 1


async def test_the_manager_keeps_no_waiter_once_the_renewal_has_ended(fake: FakeServer) -> None:
    clock = ManualClock()
    async with cc_manager(fake, clock) as tokens:
        waiters = [tokens.get_future() for _ in range(100)]
        for waiter in waiters:
            await waiter
        refs = [weakref.ref(waiter) for waiter in waiters]
        del waiters, waiter
        await asyncio.sleep(0)  # leave the step the first waiter woke (the loop holds it)
        gc.collect()
        assert [ref() for ref in refs] == [None] * 100


def _record(released: list[int], index: int, _: object) -> None:
    released.append(index)


async def test_waiters_are_released_in_order_a_batch_per_loop_iteration(
    fake: FakeServer,
) -> None:
    clock = ManualClock()
    async with cc_manager(fake, clock) as tokens:
        fake.gate = asyncio.Event()
        waiters = [tokens.get_future() for _ in range(1_000)]
        released: list[int] = []
        for index, waiter in enumerate(waiters):
            waiter.add_done_callback(functools.partial(_record, released, index))
        await wait_for_token_request(fake)
        fake.gate.set()
        token = await waiters[0]
        # Woken by the first batch: the rest come in later loop iterations...
        assert sum(waiter.done() for waiter in waiters) == 256
        # ...while a new caller gets the published token without waiting.
        assert tokens.fresh() is token
        waiters[900].cancel()  # a caller giving up before its batch: skipped, no error
        results = await asyncio.gather(*waiters[:900], *waiters[901:])
    assert all(result is token for result in results)
    await asyncio.sleep(0)  # done callbacks run in the iteration after completion
    assert [index for index in released if index != 900] == [*range(900), *range(901, 1_000)]
    assert waiters[900].cancelled()
    assert fake.token_calls == 1
