"""Loopback login, revocation (RFC 7009) and introspection (RFC 7662) against oidc-provider.

The browser's redirect lands on oauthflow's LoopbackReceiver (the provider allows any port
for the registered ``http://127.0.0.1/callback``, RFC 8252 §7.3); the tokens are then
revoked and introspected with oauthflow's flows. Integration tests.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from oauthflow import (
    ClientConfig,
    OAuthError,
    ReauthenticationRequiredError,
    ServerMetadata,
    Token,
    Transport,
    fetch_client_credentials_token,
    refresh_access_token,
    request_token,
)
from oauthflow.flows.introspection import introspect_token
from oauthflow.flows.revocation import revoke_token
from oauthflow.loopback import DEFAULT_SUCCESS_PAGE, LoopbackReceiver
from oauthflow.protocol.introspection import Introspection

from .clients import config_for
from .headless import authorize
from .provider_process import OidcProvider
from .wire import Pkce, authorization_url

__all__: list[str] = []

pytestmark = [pytest.mark.interop, pytest.mark.asyncio]

TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport() as shared:
        yield shared


def metadata(provider: OidcProvider) -> ServerMetadata:
    return ServerMetadata.from_dict(provider.metadata)


async def loopback_login(provider: OidcProvider, client: ClientConfig,
                         transport: Transport) -> Token:
    """A CLI login: the redirect lands on a LoopbackReceiver; the code is exchanged (PKCE)."""
    pkce = Pkce()
    state = secrets.token_urlsafe(32)
    async with LoopbackReceiver() as receiver, aiohttp.ClientSession(timeout=TIMEOUT) as browser:
        url = authorization_url(provider.authorization_endpoint, {
            "response_type": "code", "client_id": client.client_id,
            "redirect_uri": receiver.redirect_uri, "scope": "openid offline_access",
            "prompt": "consent", "state": state, "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        })
        waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=state,
                                                                 timeout=20))
        location = await authorize(url, receiver.redirect_uri)
        # a stray request with a wrong state first: ignored, the login still completes
        async with browser.get(f"{receiver.redirect_uri}?code=forged&state=nope") as forged:
            assert forged.status == 400
        async with browser.get(location) as landed:
            assert (landed.status, await landed.text()) == (200, DEFAULT_SUCCESS_PAGE)
        params = await waiting
        redirect_uri = receiver.redirect_uri
    assert params["iss"] == provider.issuer  # RFC 9207, advertised by oidc-provider
    return await request_token(transport, provider.token_endpoint, client, "authorization_code", {
        "code": params["code"], "redirect_uri": redirect_uri, "code_verifier": pkce.verifier,
    })


async def api_status(provider: OidcProvider, access_token: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {access_token}"}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, \
            session.get(provider.api_url, headers=headers) as response:
        return response.status, response.headers.get("WWW-Authenticate", "")


@pytest.mark.parametrize("name", ["basic", "public"])
async def test_revoking_the_refresh_token_ends_the_session(
    oidc_provider: OidcProvider, transport: Transport, name: str
) -> None:
    client = config_for(oidc_provider.clients[name])
    server = metadata(oidc_provider)
    token = await loopback_login(oidc_provider, client, transport)
    assert token.refresh_token
    assert (await api_status(oidc_provider, token.access_token))[0] == 200

    await revoke_token(transport, server, client, token)  # the refresh token, hinted

    with pytest.raises(ReauthenticationRequiredError) as caught:
        await refresh_access_token(transport, oidc_provider.token_endpoint, client,
                                   token.refresh_token)
    assert caught.value.error == "invalid_grant"
    status, challenge = await api_status(oidc_provider, token.access_token)
    assert status == 401
    assert 'error="invalid_token"' in challenge
    assert await introspect_token(transport, server, client, token.access_token) == (
        Introspection(active=False))


async def test_revoking_the_access_token_keeps_the_refresh_token(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = config_for(oidc_provider.clients["post"])
    server = metadata(oidc_provider)
    token = await loopback_login(oidc_provider, client, transport)
    assert token.refresh_token

    await revoke_token(transport, server, client, token.access_token,
                       token_type_hint="access_token")

    assert not (await introspect_token(transport, server, client, token.access_token)).active
    status, challenge = await api_status(oidc_provider, token.access_token)
    assert (status, 'error="invalid_token"' in challenge) == (401, True)
    assert (await introspect_token(transport, server, client, token.refresh_token,
                                   token_type_hint="refresh_token")).active
    renewed = await refresh_access_token(transport, oidc_provider.token_endpoint, client,
                                         token.refresh_token)
    assert (await api_status(oidc_provider, renewed.access_token))[0] == 200


async def test_introspection_of_an_active_token_by_another_client(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    owner = config_for(oidc_provider.clients["public"])
    resource_server = config_for(oidc_provider.clients["basic"])
    token = await loopback_login(oidc_provider, owner, transport)

    result = await introspect_token(transport, metadata(oidc_provider), resource_server,
                                    token.access_token, token_type_hint="access_token")

    assert result.active is True
    assert (result.client_id, result.sub, result.iss) == (
        owner.client_id, "alice", oidc_provider.issuer)
    assert result.token_type == "Bearer"
    assert result.scope is not None
    assert set(result.scope) == {"openid", "offline_access"}
    assert token.expires_at is not None
    assert result.exp is not None
    assert result.iat is not None
    assert abs(result.exp - token.expires_at) <= 2
    assert result.exp - result.iat == oidc_provider.access_token_ttl


async def test_a_public_client_cannot_introspect_another_clients_token(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    owner = config_for(oidc_provider.clients["basic"])
    public = config_for(oidc_provider.clients["public"])
    token = await loopback_login(oidc_provider, owner, transport)
    result = await introspect_token(transport, metadata(oidc_provider), public,
                                    token.access_token)
    assert result == Introspection(active=False)  # RFC 7662 §2.2: not an error


async def test_revoking_another_clients_token_is_refused(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    owner = config_for(oidc_provider.clients["basic"])
    other = config_for(oidc_provider.clients["post"])
    token = await loopback_login(oidc_provider, owner, transport)
    with pytest.raises(OAuthError) as caught:
        await revoke_token(transport, metadata(oidc_provider), other, token)
    assert (caught.value.error, caught.value.status) == ("invalid_request", 400)
    assert token.refresh_token is not None
    assert token.refresh_token not in f"{caught.value} {caught.value!r}"
    assert (await api_status(oidc_provider, token.access_token))[0] == 200


async def test_client_credentials_token_with_private_key_jwt(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    """The client assertion's ``aud`` is the token endpoint, at the revocation endpoint too."""
    client = config_for(oidc_provider.clients["private_key_jwt"])
    server = metadata(oidc_provider)
    token = await fetch_client_credentials_token(transport, oidc_provider.token_endpoint, client,
                                                 resource=[oidc_provider.api_resource])
    assert (await api_status(oidc_provider, token.access_token))[0] == 200
    introspection = await introspect_token(transport, server, client, token.access_token)
    assert (introspection.active, introspection.client_id) == (True, client.client_id)
    assert introspection.aud == (oidc_provider.api_resource,)

    await revoke_token(transport, server, client, token)  # no refresh token: the access token

    assert (await api_status(oidc_provider, token.access_token))[0] == 401
    assert not (await introspect_token(transport, server, client, token.access_token)).active


async def test_unknown_token(oidc_provider: OidcProvider, transport: Transport) -> None:
    client = config_for(oidc_provider.clients["basic"])
    server = metadata(oidc_provider)
    await revoke_token(transport, server, client, "not-a-real-token")  # 200, empty body
    assert await introspect_token(transport, server, client, "not-a-real-token") == (
        Introspection(active=False))


async def test_wrong_secret_is_invalid_client(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    real = oidc_provider.clients["basic"]
    wrong = ClientConfig(client_id=real.client_id, client_secret="WRONG-SECRET-456")
    server = metadata(oidc_provider)
    for call in (revoke_token(transport, server, wrong, "t"),
                 introspect_token(transport, server, wrong, "t")):
        with pytest.raises(OAuthError) as caught:
            await call
        assert (caught.value.error, caught.value.status) == ("invalid_client", 401)
        assert "WRONG-SECRET-456" not in str(caught.value)
