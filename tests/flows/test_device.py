"""The device flow against oauthflow.testing's AuthorizationServer (integration, 127.0.0.1).

Timing runs on virtual time (tests/flows/device_support.py): the exact sequence of waits is
asserted, and the server's clock moves with the device's, so its ``slow_down`` and expiry
checks see the polls as spaced by the device.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import OAuthError, ReauthenticationRequiredError, TransportError
from oauthflow.flows.device import (
    device_login,
    device_login_events,
    poll_device_token,
    start_device_authorization,
)
from oauthflow.flows.refresh import refresh_access_token
from oauthflow.protocol.device import DEVICE_CODE_GRANT, DeviceAuthorization
from oauthflow.testing import AuthorizationServer
from oauthflow.token import Token
from oauthflow.token_manager import TokenManager
from oauthflow.transport import RetryPolicy, Transport

from .device_support import VirtualTime

pytestmark = pytest.mark.asyncio

PUBLIC = ClientConfig(client_id="tv-app")
BASIC = ClientConfig(client_id="tv-basic", client_secret="tv-basic-secret")
POST = ClientConfig(client_id="tv-post", client_secret="tv-post-secret",
                    auth_method="client_secret_post")
TIMEOUT = 10.0


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    """No transport-level retries: every wait goes through the flow's injected sleep."""
    async with Transport(retry=RetryPolicy(attempts=1)) as sender:
        yield sender


def setup(server: AuthorizationServer) -> tuple[ServerMetadata, VirtualTime]:
    server.register_client("tv-app")
    server.register_client("tv-basic", "tv-basic-secret")
    server.register_client("tv-post", "tv-post-secret", auth_method="client_secret_post")
    return ServerMetadata.from_dict(server.metadata), VirtualTime(server)


async def start(
    server: AuthorizationServer, metadata: ServerMetadata, transport: Transport,
    vt: VirtualTime, client: ClientConfig = PUBLIC,
) -> DeviceAuthorization:
    return await start_device_authorization(
        transport, metadata, client, scope=["openid", "read"], clock=vt.clock
    )


async def poll(
    metadata: ServerMetadata, transport: Transport, vt: VirtualTime,
    authorization: DeviceAuthorization, client: ClientConfig = PUBLIC,
) -> Token:
    return await asyncio.wait_for(
        poll_device_token(transport, metadata, client, authorization, clock=vt.clock,
                          sleep=vt.sleep),
        TIMEOUT,
    )


def token_polls(server: AuthorizationServer) -> int:
    return server.counters.requests["token"]


@pytest.mark.parametrize("client", [PUBLIC, BASIC, POST], ids=["public", "basic", "post"])
async def test_approved_after_two_pending_polls(
    oauth_server: AuthorizationServer, transport: Transport, client: ClientConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauthflow")
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt, client)
    assert authorization.interval == 5.0
    assert authorization.expires_at == vt.clock.time() + 600
    assert authorization.verification_uri == oauth_server.device_verification_uri
    assert authorization.verification_uri_complete == (
        f"{oauth_server.device_verification_uri}?user_code={authorization.user_code}")
    vt.before_poll(3, lambda: oauth_server.approve_device(authorization.user_code))

    token = await poll(metadata, transport, vt, authorization, client)

    assert vt.sleeps == [5.0, 5.0, 5.0]
    assert token.refresh_token
    assert token.scope == ("openid", "read")
    assert token.issued_at == vt.clock.time()
    assert token.expires_at == vt.clock.time() + 3600
    [started] = oauth_server.requests_seen("device_authorization")
    assert started.form["scope"] == "openid read"
    assert ("client_id" in started.form) == (client.method != "client_secret_basic")
    polls = oauth_server.requests_seen("token")
    assert [p.form["grant_type"] for p in polls] == [DEVICE_CODE_GRANT] * 3
    assert {p.form["device_code"] for p in polls} == {authorization.device_code}
    assert oauth_server.counters.grants[DEVICE_CODE_GRANT] == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert authorization.device_code not in logged
    assert token.access_token not in logged


async def test_denied_stops_with_access_denied(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt)
    vt.before_poll(2, lambda: oauth_server.deny_device(authorization.user_code))

    with pytest.raises(OAuthError) as raised:
        await poll(metadata, transport, vt, authorization)

    assert (raised.value.error, raised.value.status) == ("access_denied", 400)
    assert vt.sleeps == [5.0, 5.0]
    assert token_polls(oauth_server) == 2
    assert authorization.device_code not in str(raised.value)


async def test_expired_token_from_the_server_stops_polling(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    """The server's clock runs ahead of the device's: its expiry comes first."""
    metadata, vt = setup(oauth_server)
    oauth_server.settings.device_code_lifetime = 12
    authorization = await start(oauth_server, metadata, transport, vt)
    assert authorization.expires_at == vt.clock.time() + 12
    oauth_server.settings.clock_offset += 8

    with pytest.raises(OAuthError) as raised:
        await poll(metadata, transport, vt, authorization)

    assert (raised.value.error, raised.value.status) == ("expired_token", 400)
    assert vt.sleeps == [5.0]
    assert token_polls(oauth_server) == 1


async def test_no_poll_at_or_after_the_deadline(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    oauth_server.settings.device_code_lifetime = 12
    authorization = await start(oauth_server, metadata, transport, vt)
    started = vt.clock.monotonic()

    with pytest.raises(OAuthError) as raised:
        await poll(metadata, transport, vt, authorization)

    # polls at +5 and +10; one at +15 would be past the 12 s lifetime: stop at +10.
    assert vt.sleeps == [5.0, 5.0]
    assert vt.clock.monotonic() - started == 10.0
    assert token_polls(oauth_server) == 2
    error = raised.value
    assert (error.error, error.status) == ("expired_token", None)
    assert error.error_description == "device code expired before the user approved"


async def test_slow_down_adds_five_seconds_for_every_later_poll(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt)
    vt.server_sees_early(2, 1.0)  # poll 2 lands 4 s after poll 1: the server says slow_down
    vt.before_poll(4, lambda: oauth_server.approve_device(authorization.user_code))

    token = await poll(metadata, transport, vt, authorization)

    # pending, slow_down, pending (10 s apart: no second slow_down), token
    assert vt.sleeps == [5.0, 5.0, 10.0, 10.0]
    assert token.access_token
    assert token_polls(oauth_server) == 4


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"),
    [(429, 12, 12.0), (503, 12, 12.0), (503, 2, 5.0), (429, None, 10.0)],
    ids=["429-longer-than-interval", "503-longer", "503-shorter-than-interval",
         "429-without-retry-after-backs-off"],
)
async def test_retry_after_on_429_and_503(
    oauth_server: AuthorizationServer, transport: Transport, status: int,
    retry_after: int | None, expected_wait: float,
) -> None:
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt)
    oauth_server.fail_next("token", status=status, retry_after=retry_after)
    vt.before_poll(3, lambda: oauth_server.approve_device(authorization.user_code))

    token = await poll(metadata, transport, vt, authorization)

    assert vt.sleeps == [5.0, expected_wait, 5.0]
    assert token.access_token
    assert token_polls(oauth_server) == 3


@pytest.mark.parametrize(
    ("max_backoff", "expected"),
    [(60.0, [5.0, 10.0, 20.0, 40.0, 5.0]), (15.0, [5.0, 10.0, 15.0, 15.0, 5.0])],
    ids=["doubling", "capped"],
)
async def test_connection_failures_back_off_exponentially(
    oauth_server: AuthorizationServer, transport: Transport, max_backoff: float,
    expected: list[float],
) -> None:
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt)
    oauth_server.fail_next("token", count=3, drop_connection=True)
    vt.before_poll(5, lambda: oauth_server.approve_device(authorization.user_code))

    token = await asyncio.wait_for(poll_device_token(
        transport, metadata, PUBLIC, authorization, clock=vt.clock, sleep=vt.sleep,
        max_backoff=max_backoff,
    ), TIMEOUT)

    # three dropped polls, one pending (the back-off resets), then the token
    assert vt.sleeps == expected
    assert token.access_token
    assert token_polls(oauth_server) == 5


async def test_an_answer_resets_the_back_off(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt)
    oauth_server.fail_next("token", drop_connection=True)

    async def drop_poll_3() -> None:
        oauth_server.fail_next("token", drop_connection=True)

    vt.before_poll(3, drop_poll_3)
    vt.before_poll(4, lambda: oauth_server.approve_device(authorization.user_code))

    await poll(metadata, transport, vt, authorization)

    # dropped, pending, dropped (a first failure again: 2x, not 4x), token
    assert vt.sleeps == [5.0, 10.0, 5.0, 10.0]


async def test_back_off_never_goes_past_the_deadline(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    oauth_server.settings.device_code_lifetime = 30
    authorization = await start(oauth_server, metadata, transport, vt)
    oauth_server.fail_next("token", count=10, drop_connection=True)

    with pytest.raises(OAuthError) as raised:
        await poll(metadata, transport, vt, authorization)

    assert vt.sleeps == [5.0, 10.0]  # then 20 s more would pass the 30 s lifetime
    assert token_polls(oauth_server) == 2
    assert (raised.value.error, raised.value.status) == ("expired_token", None)
    assert "could not be reached" in str(raised.value)
    cause = raised.value.__cause__
    assert isinstance(cause, TransportError)
    assert cause.code == TransportError.CONNECTION_FAILED


async def test_cancelling_stops_polling_at_once(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt)
    sleeping = asyncio.Event()

    async def wait_forever() -> None:
        sleeping.set()
        await asyncio.Event().wait()

    vt.before_poll(3, wait_forever)
    task = asyncio.create_task(poll(metadata, transport, vt, authorization))
    await asyncio.wait_for(sleeping.wait(), TIMEOUT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await oauth_server.approve_device(authorization.user_code)
    for _ in range(20):  # give a stray poll every chance to be sent
        await asyncio.sleep(0.005)
    assert token_polls(oauth_server) == 2
    assert oauth_server.counters.grants[DEVICE_CODE_GRANT] == 0


async def test_device_login_prompts_before_polling_then_returns_the_token(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    """Real time, a 50 ms interval; the user approves through the HTML pages."""
    metadata, _ = setup(oauth_server)
    oauth_server.settings.device_poll_interval = 0.05
    prompted: list[tuple[str, int]] = []

    async def on_prompt(authorization: DeviceAuthorization) -> None:
        prompted.append((authorization.user_code, token_polls(oauth_server)))
        await oauth_server.approve_device(authorization.user_code, via_pages=True)

    token = await asyncio.wait_for(
        device_login(transport, metadata, BASIC, scope=["read"], on_prompt=on_prompt),
        TIMEOUT,
    )

    assert [polls for _, polls in prompted] == [0]
    assert token.scope == ("read",)
    assert token_polls(oauth_server) == 1


async def test_device_login_accepts_a_plain_function(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    shown: list[DeviceAuthorization] = []
    vt.before_poll(1, lambda: oauth_server.approve_device(shown[0].user_code))

    token = await asyncio.wait_for(device_login(
        transport, metadata, PUBLIC, on_prompt=shown.append, clock=vt.clock, sleep=vt.sleep,
    ), TIMEOUT)

    assert len(shown) == 1
    assert token.access_token
    assert vt.sleeps == [5.0]


async def test_device_login_events_yields_the_authorization_then_the_token(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    events: list[DeviceAuthorization | Token] = []
    async for event in device_login_events(transport, metadata, PUBLIC, clock=vt.clock,
                                           sleep=vt.sleep):
        if isinstance(event, DeviceAuthorization):
            assert token_polls(oauth_server) == 0
            await oauth_server.approve_device(event.user_code)
        events.append(event)
    assert [type(event) for event in events] == [DeviceAuthorization, Token]
    assert token_polls(oauth_server) == 1


async def test_a_token_manager_keeps_the_session_alive_with_rotation(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata, vt = setup(oauth_server)
    authorization = await start(oauth_server, metadata, transport, vt)
    vt.before_poll(1, lambda: oauth_server.approve_device(authorization.user_code))
    first = await poll(metadata, transport, vt, authorization)
    assert first.refresh_token is not None

    async with TokenManager.for_refresh_token(
        client=PUBLIC, token=first, server=metadata, transport=transport, clock=vt.clock,
    ) as tokens:
        assert await tokens.get() is first
        vt.clock.advance(3601)
        second = await tokens.get()
        vt.clock.advance(3601)
        third = await tokens.get()

    refresh_tokens = [first.refresh_token, second.refresh_token, third.refresh_token]
    assert len(set(refresh_tokens)) == 3  # rotated each time, the new one used next
    assert oauth_server.counters.grants["refresh_token"] == 2
    with pytest.raises(ReauthenticationRequiredError):  # the rotated-out one is dead
        await refresh_access_token(transport, metadata.token_endpoint, PUBLIC,
                                   first.refresh_token, clock=vt.clock)
