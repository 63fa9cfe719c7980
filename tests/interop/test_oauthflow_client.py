"""oauthflow's client against panva's oidc-provider (OpenID Certified), on 127.0.0.1.

Client credentials with every client authentication method, refresh with rotation through
the TokenManager, and the bearer middleware's 401 path. Integration tests.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio

from oauthflow import (
    BearerAuthMiddleware,
    ClientConfig,
    ManualClock,
    OAuthError,
    ReauthenticationRequiredError,
    Token,
    TokenManager,
    Transport,
    request_token,
)

from .clients import config_for
from .headless import authorize
from .provider_process import OidcProvider
from .wire import Pkce, authorization_url

__all__: list[str] = []

pytestmark = [pytest.mark.interop, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def http(oidc_provider: OidcProvider) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(oidc_provider.reset_counters_url) as response:
            assert response.status == 200
        yield session


async def grants(http: aiohttp.ClientSession, provider: OidcProvider) -> dict[str, Any]:
    async with http.get(provider.counters_url) as response:
        body: dict[str, Any] = await response.json()
        return body


@pytest.mark.parametrize("name", ["basic", "post", "private_key_jwt"])
async def test_client_credentials_manager_with_each_auth_method(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, name: str
) -> None:
    client = config_for(oidc_provider.clients[name])
    async with TokenManager.for_client_credentials(
        token_endpoint=oidc_provider.token_endpoint, client=client,
        resource=[oidc_provider.api_resource],
    ) as tokens:
        results = await asyncio.gather(*(tokens.get() for _ in range(50)))
    assert len({token.access_token for token in results}) == 1
    token = results[0]
    assert token.token_type.lower() == "bearer"
    assert token.expires_at is not None
    assert token.expires_at - token.issued_at == oidc_provider.access_token_ttl
    counters = await grants(http, oidc_provider)
    assert counters["grants"] == {"client_credentials": 1}


async def test_wrong_secret_is_a_typed_invalid_client(oidc_provider: OidcProvider) -> None:
    real = oidc_provider.clients["basic"]
    client = ClientConfig(client_id=real.client_id, client_secret="not-the-secret")
    async with TokenManager.for_client_credentials(
        token_endpoint=oidc_provider.token_endpoint, client=client
    ) as tokens:
        with pytest.raises(OAuthError) as raised:
            await tokens.get()
    assert (raised.value.error, raised.value.status) == ("invalid_client", 401)
    assert "not-the-secret" not in str(raised.value)


async def login(provider: OidcProvider, client: ClientConfig, transport: Transport) -> Token:
    """A code from the headless login (PKCE S256), exchanged with oauthflow's generic grant."""
    pkce = Pkce()
    state = secrets.token_urlsafe(16)
    assert client.redirect_uri is not None
    url = authorization_url(provider.authorization_endpoint, {
        "response_type": "code", "client_id": client.client_id,
        "redirect_uri": client.redirect_uri, "scope": "openid offline_access",
        "prompt": "consent", "state": state, "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    })
    callback = await authorize(url, client.redirect_uri)
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert params["state"] == state
    return await request_token(transport, provider.token_endpoint, client, "authorization_code", {
        "code": params["code"], "redirect_uri": client.redirect_uri,
        "code_verifier": pkce.verifier,
    })


@pytest.mark.parametrize("name", ["public", "basic"])
async def test_refresh_with_rotation_through_the_manager(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, name: str
) -> None:
    client = config_for(oidc_provider.clients[name])
    clock = ManualClock()
    saved: list[Token] = []
    async with Transport() as transport:
        first = await login(oidc_provider, client, transport)
        assert first.refresh_token
        assert first.id_token
        first = first.replace(issued_at=clock.time(),
                              expires_at=clock.time() + oidc_provider.access_token_ttl)
        async with TokenManager.for_refresh_token(
            token_endpoint=oidc_provider.token_endpoint, client=client, token=first,
            transport=transport, clock=clock, on_renewed=saved.append,
        ) as tokens:
            assert await tokens.get() is first
            refresh_tokens = [first.refresh_token]
            for _ in range(3):
                clock.advance(oidc_provider.access_token_ttl + 1)
                renewed = await asyncio.gather(*(tokens.get() for _ in range(20)))
                assert len({token.access_token for token in renewed}) == 1
                refresh_tokens.append(renewed[0].refresh_token)
    assert len(set(refresh_tokens)) == 4  # rotated every time, each new one used next
    assert [token.refresh_token for token in saved] == refresh_tokens[1:]
    counters = await grants(http, oidc_provider)
    assert counters["grants"] == {"authorization_code": 1, "refresh_token": 3}
    assert counters.get("grant_errors", {}) == {}


async def test_rotated_out_refresh_token_gives_reauthentication_required(
    oidc_provider: OidcProvider,
) -> None:
    client = config_for(oidc_provider.clients["basic"])
    clock = ManualClock()
    async with Transport() as transport:
        first = await login(oidc_provider, client, transport)
        expired = first.replace(expires_at=clock.time() - 1)
        async with TokenManager.for_refresh_token(
            token_endpoint=oidc_provider.token_endpoint, client=client, token=expired,
            transport=transport, clock=clock,
        ) as tokens:
            await tokens.get()  # rotates: first.refresh_token is now dead
        async with TokenManager.for_refresh_token(
            token_endpoint=oidc_provider.token_endpoint, client=client, token=expired,
            transport=transport, clock=clock,
        ) as stale:
            with pytest.raises(ReauthenticationRequiredError) as raised:
                await stale.get()
    assert raised.value.error == "invalid_grant"


async def test_middleware_renews_once_when_the_provider_revokes_every_token(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    client = config_for(oidc_provider.clients["post"])
    api_origin = oidc_provider.issuer
    async with TokenManager.for_client_credentials(
        token_endpoint=oidc_provider.token_endpoint, client=client,
        resource=[oidc_provider.api_resource],
    ) as tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=[api_origin]),)
    ) as session:
        async def call(payload: int) -> int:
            async with session.post(oidc_provider.api_url, json={"n": payload}) as response:
                await response.read()
                return response.status

        assert await call(0) == 200
        async with http.post(oidc_provider.revoke_all_url) as response:
            assert response.status == 200
        statuses = await asyncio.gather(*(call(i) for i in range(50)))
        assert tokens.stats.invalidations == 1
    assert statuses == [200] * 50
    counters = await grants(http, oidc_provider)
    assert counters["grants"] == {"client_credentials": 2}  # the first token + one renewal
    assert counters["api"] == {"200": 51, "401": 50}
