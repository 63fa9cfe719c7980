"""The interop harness works: oidc-provider answers every flow over plain aiohttp requests.

These tests use no oauthflow client code, so a failure here is a harness or provider problem,
never a library bug. Integration tests (real Node.js process on 127.0.0.1).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from joserfc import jwt
from joserfc.jwk import KeySet

from .headless import authorize, enter_device_code
from .provider_process import DEVICE_CODE_GRANT, OidcProvider, RegisteredClient
from .wire import Pkce, authorization_url, post_form

__all__: list[str] = []

pytestmark = pytest.mark.interop


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def counters(http: aiohttp.ClientSession, provider: OidcProvider) -> dict[str, Any]:
    async with http.get(provider.counters_url) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def reset_counters(http: aiohttp.ClientSession, provider: OidcProvider) -> None:
    async with http.post(provider.reset_counters_url) as response:
        assert response.status == 200


def callback_params(callback_url: str) -> dict[str, str]:
    """The query of a redirect to the client, one value per name (as RFC 6749 sends them)."""
    parsed = parse_qs(urlsplit(callback_url).query, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values()), parsed
    return {name: values[0] for name, values in parsed.items()}


async def login_for_code(
    provider: OidcProvider, client: RegisteredClient, pkce: Pkce, *, approve: bool = True
) -> dict[str, str]:
    """Authorization code request (RFC 6749 4.1.1 + PKCE S256), approved by the headless user."""
    state = secrets.token_urlsafe(16)
    url = authorization_url(
        provider.authorization_endpoint,
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": "openid email",
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        },
    )
    params = callback_params(await authorize(url, client.redirect_uri, approve=approve))
    # RFC 9207 section 2: the iss parameter; RFC 6749 4.1.2: state returned unchanged.
    assert params.pop("state") == state
    assert params.pop("iss") == provider.issuer
    return params


@pytest.mark.asyncio
async def test_discovery_issuer_matches_and_features_are_advertised(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    async with http.get(oidc_provider.discovery_url) as response:
        assert response.status == 200
        document = await response.json()
    assert document["issuer"] == oidc_provider.issuer
    assert oidc_provider.issuer.startswith("http://127.0.0.1:")
    for name in (
        "token_endpoint",
        "device_authorization_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "pushed_authorization_request_endpoint",
    ):
        assert document[name].startswith(oidc_provider.issuer + "/"), name
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert {"client_credentials", "refresh_token", DEVICE_CODE_GRANT} <= set(
        document["grant_types_supported"]
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["basic", "post", "private_key_jwt"])
async def test_client_credentials_with_each_authentication_method(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, name: str
) -> None:
    await reset_counters(http, oidc_provider)
    client = oidc_provider.clients[name]
    form = {"grant_type": "client_credentials"}
    got = await post_form(http, oidc_provider.token_endpoint, form, client=client)
    assert got.status == 200, got.body
    assert got.body["token_type"] == "Bearer"
    assert got.body["expires_in"] == oidc_provider.access_token_ttl
    assert "refresh_token" not in got.body
    assert (await counters(http, oidc_provider))["grants"] == {"client_credentials": 1}


@pytest.mark.asyncio
async def test_client_credentials_wrong_secret_is_invalid_client(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    real = oidc_provider.clients["basic"]
    impostor = RegisteredClient(
        name="impostor",
        client_id=real.client_id,
        auth_method=real.auth_method,
        grant_types=real.grant_types,
        client_secret="not-the-secret",
    )
    form = {"grant_type": "client_credentials"}
    got = await post_form(http, oidc_provider.token_endpoint, form, client=impostor)
    assert got.status == 401
    assert got.body["error"] == "invalid_client"


@pytest.mark.asyncio
async def test_resource_indicator_gives_jwt_or_opaque_access_token(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["basic"]
    form = {
        "grant_type": "client_credentials",
        "resource": oidc_provider.jwt_api_resource,
        "scope": "api:read",
    }
    got = await post_form(http, oidc_provider.token_endpoint, form, client=client)
    assert got.status == 200, got.body
    async with http.get(oidc_provider.jwks_uri) as response:
        keys = KeySet.import_key_set(await response.json())
    token = jwt.decode(got.body["access_token"], keys, algorithms=["RS256"])
    assert token.header["typ"] == "at+jwt"
    assert token.claims["aud"] == oidc_provider.jwt_api_resource
    assert token.claims["iss"] == oidc_provider.issuer
    assert token.claims["client_id"] == client.client_id
    assert token.claims["scope"] == "api:read"

    form["resource"] = oidc_provider.api_resource
    opaque = await post_form(http, oidc_provider.token_endpoint, form, client=client)
    assert opaque.status == 200, opaque.body
    assert opaque.body["access_token"].count(".") == 0
    introspection = await post_form(
        http,
        oidc_provider.introspection_endpoint,
        {"token": opaque.body["access_token"]},
        client=client,
    )
    assert introspection.status == 200
    assert introspection.body["active"] is True
    assert introspection.body["aud"] == oidc_provider.api_resource
    assert introspection.body["client_id"] == client.client_id


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["public", "basic"])
async def test_refresh_token_rotation_rejects_the_old_refresh_token(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession, name: str
) -> None:
    client = oidc_provider.clients[name]
    pkce = Pkce()
    params = await login_for_code(oidc_provider, client, pkce)
    exchange = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": client.redirect_uri,
        "code_verifier": pkce.verifier,
    }
    first = await post_form(http, oidc_provider.token_endpoint, exchange, client=client)
    assert first.status == 200, first.body
    assert {"access_token", "refresh_token", "id_token"} <= set(first.body)

    refresh = {"grant_type": "refresh_token", "refresh_token": first.body["refresh_token"]}
    second = await post_form(http, oidc_provider.token_endpoint, refresh, client=client)
    assert second.status == 200, second.body
    assert second.body["refresh_token"] != first.body["refresh_token"]
    assert second.body["access_token"] != first.body["access_token"]

    reused = await post_form(http, oidc_provider.token_endpoint, refresh, client=client)
    assert reused.status == 400
    assert reused.body["error"] == "invalid_grant"
    # Reuse detection: presenting a rotated-out refresh token revokes the whole grant, so the
    # newest refresh token is dead too (what a client that loses a rotation race runs into).
    newest = {"grant_type": "refresh_token", "refresh_token": second.body["refresh_token"]}
    after_reuse = await post_form(http, oidc_provider.token_endpoint, newest, client=client)
    assert after_reuse.status == 400
    assert after_reuse.body["error"] == "invalid_grant"


@pytest.mark.asyncio
async def test_denied_consent_redirects_with_access_denied(oidc_provider: OidcProvider) -> None:
    params = await login_for_code(
        oidc_provider, oidc_provider.clients["public"], Pkce(), approve=False
    )
    assert params["error"] == "access_denied"
    assert "code" not in params


@pytest.mark.asyncio
async def test_pushed_authorization_request_then_code_exchange(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["basic"]
    pkce, state = Pkce(), secrets.token_urlsafe(16)
    pushed = await post_form(
        http,
        oidc_provider.pushed_authorization_request_endpoint,
        {
            # RFC 9126 section 2.1: the authorization request parameters, client_id included
            # even though the client also authenticates (oidc-provider rejects the push without).
            "client_id": client.client_id,
            "response_type": "code",
            "redirect_uri": client.redirect_uri,
            "scope": "openid",
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        },
        client=client,
    )
    # RFC 9126 section 2.2: 201 with request_uri and expires_in.
    assert pushed.status == 201, pushed.body
    assert pushed.body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    url = authorization_url(
        oidc_provider.authorization_endpoint,
        {"client_id": client.client_id, "request_uri": pushed.body["request_uri"]},
    )
    params = callback_params(await authorize(url, client.redirect_uri))
    assert params["state"] == state
    exchange = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": client.redirect_uri,
        "code_verifier": pkce.verifier,
    }
    tokens = await post_form(http, oidc_provider.token_endpoint, exchange, client=client)
    assert tokens.status == 200, tokens.body


async def start_device_authorization(
    provider: OidcProvider, http: aiohttp.ClientSession, client: RegisteredClient
) -> dict[str, Any]:
    got = await post_form(
        http, provider.device_authorization_endpoint, {"scope": "openid"}, client=client
    )
    assert got.status == 200, got.body
    assert {"device_code", "user_code", "verification_uri", "expires_in"} <= set(got.body)
    return dict(got.body)


@pytest.mark.asyncio
async def test_device_flow_approved_headlessly(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["public"]
    device = await start_device_authorization(oidc_provider, http, client)
    poll = {"grant_type": DEVICE_CODE_GRANT, "device_code": device["device_code"]}

    pending = await post_form(http, oidc_provider.token_endpoint, poll, client=client)
    assert pending.status == 400
    assert pending.body["error"] == "authorization_pending"

    title = await enter_device_code(device["verification_uri"], device["user_code"])
    assert title == "Sign-in Success"

    granted = await post_form(http, oidc_provider.token_endpoint, poll, client=client)
    assert granted.status == 200, granted.body
    assert {"access_token", "refresh_token", "id_token"} <= set(granted.body)
    again = await post_form(http, oidc_provider.token_endpoint, poll, client=client)
    assert again.status == 400
    assert again.body["error"] == "invalid_grant"


@pytest.mark.asyncio
async def test_device_flow_denied_headlessly(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["basic"]
    device = await start_device_authorization(oidc_provider, http, client)
    await enter_device_code(device["verification_uri"], device["user_code"], approve=False)
    poll = {"grant_type": DEVICE_CODE_GRANT, "device_code": device["device_code"]}
    denied = await post_form(http, oidc_provider.token_endpoint, poll, client=client)
    assert denied.status == 400
    assert denied.body["error"] == "access_denied"


async def call_api(
    http: aiohttp.ClientSession, provider: OidcProvider, token: str | None
) -> tuple[int, str | None, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.get(provider.api_url, headers=headers) as response:
        body: dict[str, Any] = await response.json()
        return response.status, response.headers.get("WWW-Authenticate"), body


@pytest.mark.asyncio
async def test_resource_accepts_the_token_then_answers_invalid_token_after_revoke_all(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["post"]
    form = {"grant_type": "client_credentials", "resource": oidc_provider.api_resource}
    got = await post_form(http, oidc_provider.token_endpoint, form, client=client)
    assert got.status == 200, got.body
    token = got.body["access_token"]

    status, challenge, body = await call_api(http, oidc_provider, token)
    assert (status, challenge) == (200, None)
    assert body["client_id"] == client.client_id
    assert body["aud"] == oidc_provider.api_resource

    async with http.post(oidc_provider.revoke_all_url) as response:
        assert response.status == 200
        assert (await response.json())["revoked"] >= 1

    status, challenge, body = await call_api(http, oidc_provider, token)
    assert status == 401
    assert challenge is not None
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert body == {"error": "invalid_token"}


@pytest.mark.asyncio
async def test_resource_challenge_without_token_has_no_error_code(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    status, challenge, _ = await call_api(http, oidc_provider, None)
    # RFC 6750 section 3.1: no error code when the request carried no authentication.
    assert (status, challenge) == (401, 'Bearer realm="oauthflow-interop"')


@pytest.mark.asyncio
async def test_revocation_endpoint_revokes_one_token(
    oidc_provider: OidcProvider, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["basic"]
    form = {"grant_type": "client_credentials"}
    kept = await post_form(http, oidc_provider.token_endpoint, form, client=client)
    revoked = await post_form(http, oidc_provider.token_endpoint, form, client=client)
    token = revoked.body["access_token"]
    # RFC 7009 section 2.2: "The authorization server responds with HTTP status code 200".
    answer = await post_form(
        http, oidc_provider.revocation_endpoint, {"token": token}, client=client
    )
    assert answer.status == 200
    assert (await call_api(http, oidc_provider, token))[0] == 401
    assert (await call_api(http, oidc_provider, kept.body["access_token"]))[0] == 200
