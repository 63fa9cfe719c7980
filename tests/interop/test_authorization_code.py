"""oauthflow's authorization code flow (PKCE, PAR, RFC 9207 ``iss``) against panva's
oidc-provider (OpenID Certified), on 127.0.0.1.

Integration tests: the headless browser logs in through the provider's own pages; the
provider's counters say how many grants it issued and refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest
import pytest_asyncio
from joserfc import jwt
from joserfc.jwk import KeySet

from oauthflow.clock import ManualClock
from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import AuthorizationResponseError, InvalidResponseError, OAuthError
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.protocol.authorization import AuthorizationRequest
from oauthflow.protocol.pkce import generate_code_verifier
from oauthflow.token import Token
from oauthflow.token_manager import TokenManager
from oauthflow.transport import Transport

from .clients import config_for
from .headless import authorize
from .provider_process import OidcProvider

__all__: list[str] = []

pytestmark = [pytest.mark.interop, pytest.mark.asyncio]

# offline_access with prompt=consent: how oidc-provider grants a refresh token to any client.
SCOPE = ["openid", "offline_access"]


@pytest_asyncio.fixture
async def http(oidc_provider: OidcProvider) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain session for the provider's test controls; the counters start at zero."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(oidc_provider.reset_counters_url) as response:
            assert response.status == 200
        yield session


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport() as sender:
        yield sender


async def counters(http: aiohttp.ClientSession, provider: OidcProvider) -> dict[str, Any]:
    async with http.get(provider.counters_url) as response:
        body: dict[str, Any] = await response.json()
        return body


def metadata(provider: OidcProvider, **extra: object) -> ServerMetadata:
    return ServerMetadata.from_dict({**provider.metadata, **extra})


async def login(
    provider: OidcProvider, client: ClientConfig, transport: Transport, *,
    server: ServerMetadata | None = None, use_par: bool | None = None, approve: bool = True,
) -> tuple[AuthorizationRequest, str]:
    """Start a login with oauthflow; the headless user signs in; (pending, callback URL)."""
    pending = await start_authorization(
        transport, server or metadata(provider), client, scope=SCOPE, prompt="consent",
        use_par=use_par,
    )
    assert client.redirect_uri is not None
    return pending, await authorize(pending.url, client.redirect_uri, approve=approve)


def tamper(callback: str, **changes: str) -> str:
    parts = urlsplit(callback)
    members = {**dict(parse_qsl(parts.query)), **changes}
    return urlunsplit(parts._replace(query=urlencode(members)))


async def id_token_claims(http: aiohttp.ClientSession, provider: OidcProvider,
                          token: Token) -> dict[str, Any]:
    assert token.id_token is not None
    async with http.get(provider.jwks_uri) as response:
        keys = KeySet.import_key_set(await response.json())
    claims: dict[str, Any] = jwt.decode(token.id_token, keys).claims
    return claims


@pytest.mark.parametrize("name", ["basic", "post", "private_key_jwt", "public"])
async def test_code_flow_with_pkce_for_each_client(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport, name: str
) -> None:
    client = config_for(oidc_provider.clients[name])
    server = metadata(oidc_provider)
    pending, callback = await login(oidc_provider, client, transport)
    assert pending.require_iss  # the provider advertises RFC 9207, so iss was checked
    token = await exchange_code(transport, server, client, pending, callback)
    assert token.refresh_token
    assert token.token_type.lower() == "bearer"
    assert token.expires_at == token.issued_at + oidc_provider.access_token_ttl
    claims = await id_token_claims(http, oidc_provider, token)
    assert (claims["iss"], claims["aud"], claims["nonce"]) == (
        oidc_provider.issuer, client.client_id, pending.nonce)
    assert (await counters(http, oidc_provider))["grants"] == {"authorization_code": 1}


@pytest.mark.parametrize("name", ["basic", "public"])
async def test_par_when_asked(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport, name: str
) -> None:
    client = config_for(oidc_provider.clients[name])
    pending, callback = await login(oidc_provider, client, transport, use_par=True)
    query = parse_qsl(urlsplit(pending.url).query)
    assert [member for member, _ in query] == ["client_id", "request_uri"]
    assert query[1][1].startswith("urn:ietf:params:oauth:request_uri:")
    token = await exchange_code(transport, metadata(oidc_provider), client, pending, callback)
    assert token.access_token
    seen = await counters(http, oidc_provider)
    assert seen["routes"]["pushed_authorization_request"] == 1
    assert seen["grants"] == {"authorization_code": 1}


async def test_par_automatically_when_the_metadata_requires_it(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport
) -> None:
    client = config_for(oidc_provider.clients["post"])
    server = metadata(oidc_provider, require_pushed_authorization_requests=True)
    pending, callback = await login(oidc_provider, client, transport, server=server)
    assert [member for member, _ in parse_qsl(urlsplit(pending.url).query)] == [
        "client_id", "request_uri"]
    await exchange_code(transport, server, client, pending, callback)
    seen = await counters(http, oidc_provider)
    assert seen["routes"]["pushed_authorization_request"] == 1
    assert seen["grants"] == {"authorization_code": 1}


@pytest.mark.parametrize("name", ["basic", "public"])
async def test_login_then_the_manager_refreshes_with_rotation(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport, name: str
) -> None:
    client = config_for(oidc_provider.clients[name])
    server = metadata(oidc_provider)
    clock = ManualClock()
    pending, callback = await login(oidc_provider, client, transport)
    first = await exchange_code(transport, server, client, pending, callback, clock=clock)
    chain = [first.refresh_token]
    async with TokenManager.for_refresh_token(
        token=first, client=client, server=server, transport=transport, clock=clock
    ) as tokens:
        assert await tokens.get() is first
        for _ in range(3):
            clock.advance(oidc_provider.access_token_ttl + 1)
            renewed = await asyncio.gather(*(tokens.get() for _ in range(10)))
            assert len({token.access_token for token in renewed}) == 1
            chain.append(renewed[0].refresh_token)
    # A lost rotation is fatal here: reusing a rotated-out refresh token revokes the grant.
    assert len(set(chain)) == 4
    seen = await counters(http, oidc_provider)
    assert seen["grants"] == {"authorization_code": 1, "refresh_token": 3}
    assert seen.get("grant_errors", {}) == {}


async def test_a_code_works_once(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport
) -> None:
    client = config_for(oidc_provider.clients["basic"])
    server = metadata(oidc_provider)
    pending, callback = await login(oidc_provider, client, transport)
    await exchange_code(transport, server, client, pending, callback)
    with pytest.raises(OAuthError) as raised:
        await exchange_code(transport, server, client, pending, callback)
    assert (raised.value.error, raised.value.status) == ("invalid_grant", 400)
    seen = await counters(http, oidc_provider)
    assert (seen["grants"], seen["grant_errors"]) == (
        {"authorization_code": 1}, {"authorization_code": 1})


async def test_a_wrong_pkce_verifier_is_refused(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport
) -> None:
    client = config_for(oidc_provider.clients["public"])
    pending, callback = await login(oidc_provider, client, transport)
    tampered = dataclasses.replace(pending, code_verifier=generate_code_verifier())
    with pytest.raises(OAuthError) as raised:
        await exchange_code(transport, metadata(oidc_provider), client, tampered, callback)
    assert (raised.value.error, raised.value.status) == ("invalid_grant", 400)
    seen = await counters(http, oidc_provider)
    assert (seen["grants"], seen["grant_errors"]) == ({}, {"authorization_code": 1})


async def test_denied_consent_is_an_authorization_response_error(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport
) -> None:
    client = config_for(oidc_provider.clients["public"])
    pending, callback = await login(oidc_provider, client, transport, approve=False)
    with pytest.raises(AuthorizationResponseError) as raised:
        await exchange_code(transport, metadata(oidc_provider), client, pending, callback)
    assert raised.value.error == "access_denied"
    assert (await counters(http, oidc_provider))["grants"] == {}


async def test_another_logins_error_is_a_state_error(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport
) -> None:
    client = config_for(oidc_provider.clients["public"])
    pending = await start_authorization(transport, metadata(oidc_provider), client, scope=SCOPE)
    _, foreign = await login(oidc_provider, client, transport, approve=False)
    with pytest.raises(InvalidResponseError) as raised:
        await exchange_code(transport, metadata(oidc_provider), client, pending, foreign)
    assert raised.value.code == InvalidResponseError.STATE_MISMATCH


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"iss": "http://127.0.0.1:1"}, InvalidResponseError.ISS_MISMATCH),
        ({"state": "forged-state-0123456789abcdef"}, InvalidResponseError.STATE_MISMATCH),
    ],
    ids=["wrong-iss", "wrong-state"],
)
async def test_tampered_callbacks_send_nothing(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, transport: Transport,
    changes: dict[str, str], code: str,
) -> None:
    client = config_for(oidc_provider.clients["basic"])
    pending, callback = await login(oidc_provider, client, transport)
    with pytest.raises(InvalidResponseError) as raised:
        await exchange_code(transport, metadata(oidc_provider), client, pending,
                            tamper(callback, **changes))
    assert raised.value.code == code
    seen = await counters(http, oidc_provider)
    assert "token" not in seen["routes"]
    assert (seen["grants"], seen["grant_errors"]) == ({}, {})
