"""oauthflow's device flow (RFC 8628) against panva's oidc-provider, on 127.0.0.1.

Approved, pending then approved, denied, expired (by the provider, and at the device's own
deadline) and a TokenManager refreshing with rotation afterwards. oidc-provider sends no
``interval`` (so the RFC's 5 s default is what the device waits) and never ``slow_down``
(that one is tested against oauthflow.testing). Waits run on virtual time
(tests/flows/device_support.py); the user is the headless browser of ``headless.py``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from oauthflow.config import ServerMetadata
from oauthflow.errors import OAuthError
from oauthflow.flows.device import device_login, poll_device_token, start_device_authorization
from oauthflow.protocol.device import DeviceAuthorization
from oauthflow.token import Token
from oauthflow.token_manager import TokenManager
from oauthflow.transport import RetryPolicy, Transport

from ..flows.device_support import VirtualTime
from .clients import config_for
from .headless import enter_device_code
from .provider_process import (
    DEVICE_CODE_GRANT,
    OidcProvider,
    ProviderStartError,
    find_node_tools,
    running_provider,
)

__all__: list[str] = []

pytestmark = [pytest.mark.interop, pytest.mark.asyncio]

SHORT_DEVICE_CODE_TTL = 6  # seconds; must exceed the 5 s default interval to allow one poll
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def short_lived_provider(
    oidc_provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OidcProvider]:
    """A second provider whose device codes live 6 s (the session one's live 10 minutes).

    Depends on ``oidc_provider`` for its skip/fail rules and its ``npm ci``.
    """
    tools = find_node_tools()
    assert tools is not None
    try:
        with running_provider(tools, tmp_path_factory.mktemp("oidc-provider-short"),
                              device_code_ttl=SHORT_DEVICE_CODE_TTL) as provider:
            yield provider
    except ProviderStartError as exc:
        pytest.fail(f"oidc-provider did not start: {exc}")


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport(retry=RetryPolicy(attempts=1)) as sender:
        yield sender


async def reset_counters(provider: OidcProvider) -> None:
    async with aiohttp.ClientSession() as http, http.post(provider.reset_counters_url) as got:
        assert got.status == 200


async def counters(provider: OidcProvider) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(provider.counters_url) as got:
        body: dict[str, Any] = await got.json()
        return body


async def user_approves(authorization: DeviceAuthorization, approve: bool = True) -> None:
    title = await enter_device_code(authorization.verification_uri, authorization.user_code,
                                    approve=approve)
    assert title == ("Sign-in Success" if approve else "Sign-in")  # aborted: no success page


def metadata_of(provider: OidcProvider) -> ServerMetadata:
    return ServerMetadata.from_dict(provider.metadata)


async def start(provider: OidcProvider, name: str, transport: Transport,
                vt: VirtualTime) -> DeviceAuthorization:
    return await start_device_authorization(
        transport, metadata_of(provider), config_for(provider.clients[name]),
        scope=["openid"], clock=vt.clock,
    )


async def poll(provider: OidcProvider, name: str, transport: Transport, vt: VirtualTime,
               authorization: DeviceAuthorization) -> Token:
    return await asyncio.wait_for(poll_device_token(
        transport, metadata_of(provider), config_for(provider.clients[name]), authorization,
        clock=vt.clock, sleep=vt.sleep,
    ), TIMEOUT)


@pytest.mark.parametrize("name", ["public", "basic", "post"])
async def test_device_login_approved(
    oidc_provider: OidcProvider, transport: Transport, name: str
) -> None:
    await reset_counters(oidc_provider)
    vt = VirtualTime()
    prompted: list[DeviceAuthorization] = []

    async def on_prompt(authorization: DeviceAuthorization) -> None:
        prompted.append(authorization)
        await user_approves(authorization)

    token = await asyncio.wait_for(device_login(
        transport, metadata_of(oidc_provider), config_for(oidc_provider.clients[name]),
        scope=["openid"], on_prompt=on_prompt, clock=vt.clock, sleep=vt.sleep,
    ), TIMEOUT)

    [authorization] = prompted
    assert authorization.interval == 5.0  # no "interval" member: the RFC 8628 default
    assert authorization.verification_uri == f"{oidc_provider.issuer}/device"
    assert authorization.verification_uri_complete == (
        f"{oidc_provider.issuer}/device?user_code={authorization.user_code}")
    assert authorization.expires_at == vt.clock.time() - 5.0 + 600
    assert vt.sleeps == [5.0]
    assert token.refresh_token
    assert token.id_token
    assert token.expires_at == vt.clock.time() + oidc_provider.access_token_ttl
    seen = await counters(oidc_provider)
    assert seen["grants"] == {DEVICE_CODE_GRANT: 1}
    assert seen.get("grant_errors", {}) == {}


async def test_pending_polls_then_approved(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    await reset_counters(oidc_provider)
    vt = VirtualTime()
    authorization = await start(oidc_provider, "public", transport, vt)
    vt.before_poll(3, lambda: user_approves(authorization))

    token = await poll(oidc_provider, "public", transport, vt, authorization)

    assert vt.sleeps == [5.0, 5.0, 5.0]
    assert token.access_token
    seen = await counters(oidc_provider)
    assert seen["grants"] == {DEVICE_CODE_GRANT: 1}
    assert seen["grant_errors"] == {DEVICE_CODE_GRANT: 2}  # two authorization_pending


async def test_denied(oidc_provider: OidcProvider, transport: Transport) -> None:
    await reset_counters(oidc_provider)
    vt = VirtualTime()
    authorization = await start(oidc_provider, "basic", transport, vt)
    vt.before_poll(2, lambda: user_approves(authorization, approve=False))

    with pytest.raises(OAuthError) as raised:
        await poll(oidc_provider, "basic", transport, vt, authorization)

    assert (raised.value.error, raised.value.status) == ("access_denied", 400)
    assert vt.sleeps == [5.0, 5.0]
    seen = await counters(oidc_provider)
    assert seen.get("grants", {}) == {}
    assert seen["grant_errors"] == {DEVICE_CODE_GRANT: 2}


async def test_expired_by_the_provider(
    short_lived_provider: OidcProvider, transport: Transport
) -> None:
    """The device was suspended: its clock stood still while the code expired (real time).

    oidc-provider says ``expired_token`` once the code's ``exp`` (whole seconds) has passed,
    but its store forgets the code at the exact millisecond of expiry, after which it says
    ``invalid_grant`` ("device code not found"). To meet the first answer, the code is
    issued half-way through a second and polled 0.2 s after its ``exp``.
    """
    await asyncio.sleep((0.5 - time.time() % 1) % 1)
    issued = time.time()
    vt = VirtualTime()
    authorization = await start(short_lived_provider, "public", transport, vt)
    assert authorization.expires_at == vt.clock.time() + SHORT_DEVICE_CODE_TTL

    async def suspended() -> None:
        await asyncio.sleep(math.floor(issued) + SHORT_DEVICE_CODE_TTL + 0.2 - time.time())

    vt.before_poll(1, suspended)

    with pytest.raises(OAuthError) as raised:
        await poll(short_lived_provider, "public", transport, vt, authorization)

    assert (raised.value.error, raised.value.status) == ("expired_token", 400)
    assert vt.sleeps == [5.0]


async def test_the_device_stops_at_its_own_deadline(
    short_lived_provider: OidcProvider, transport: Transport
) -> None:
    await reset_counters(short_lived_provider)
    vt = VirtualTime()
    authorization = await start(short_lived_provider, "public", transport, vt)

    with pytest.raises(OAuthError) as raised:
        await poll(short_lived_provider, "public", transport, vt, authorization)

    # one poll at +5 s (pending); the next, at +10 s, would be past the 6 s lifetime
    assert (raised.value.error, raised.value.status) == ("expired_token", None)
    assert vt.sleeps == [5.0]
    seen = await counters(short_lived_provider)
    assert seen["grant_errors"] == {DEVICE_CODE_GRANT: 1}


@pytest.mark.parametrize("name", ["public", "basic"])
async def test_a_token_manager_refreshes_with_rotation_afterwards(
    oidc_provider: OidcProvider, transport: Transport, name: str
) -> None:
    await reset_counters(oidc_provider)
    vt = VirtualTime()
    client = config_for(oidc_provider.clients[name])
    metadata = metadata_of(oidc_provider)
    first = await asyncio.wait_for(device_login(
        transport, metadata, client, scope=["openid"], on_prompt=user_approves,
        clock=vt.clock, sleep=vt.sleep,
    ), TIMEOUT)

    async with TokenManager.for_refresh_token(
        client=client, token=first, server=metadata, transport=transport, clock=vt.clock,
    ) as tokens:
        assert await tokens.get() is first
        refresh_tokens = [first.refresh_token]
        for _ in range(2):
            vt.clock.advance(oidc_provider.access_token_ttl + 1)
            renewed = await asyncio.gather(*(tokens.get() for _ in range(10)))
            assert len({token.access_token for token in renewed}) == 1
            refresh_tokens.append(renewed[0].refresh_token)

    # a lost rotation is fatal here (reuse revokes the grant): three distinct, all used once
    assert len(set(refresh_tokens)) == 3
    seen = await counters(oidc_provider)
    assert seen["grants"] == {DEVICE_CODE_GRANT: 1, "refresh_token": 2}
    assert seen.get("grant_errors", {}) == {}
