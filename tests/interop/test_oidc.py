"""oauthflow.oidc against panva's oidc-provider (OpenID Certified), on 127.0.0.1.

Discovery, JWKS, ID token validation of real logins (nonce, at_hash, max_age), UserInfo,
RP-initiated logout, and the JWKS refresh rate limit, counted at the provider. Integration
tests (real Node.js process).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from joserfc import jws
from joserfc.jwk import RSAKey

from oauthflow import (
    InvalidResponseError,
    ManualClock,
    RetryPolicy,
    ServerMetadata,
    Token,
    Transport,
    request_token,
)
from oauthflow.oidc import (
    ISSUER_MISMATCH,
    SUB_MISMATCH,
    DiscoveryCache,
    IdTokenClaims,
    IdTokenError,
    JwksCache,
    build_logout_url,
    discover,
    fetch_userinfo,
    validate_id_token,
)

from .clients import config_for
from .headless import authorize
from .provider_process import OidcProvider, RegisteredClient
from .wire import Pkce, authorization_url

__all__: list[str] = []

pytestmark = [pytest.mark.interop, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport(timeout=10.0, retry=RetryPolicy(attempts=1)) as sender:
        yield sender


@pytest_asyncio.fixture
async def http(oidc_provider: OidcProvider) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(oidc_provider.reset_counters_url) as response:
            assert response.status == 200
        yield session


async def routes(http: aiohttp.ClientSession, provider: OidcProvider) -> dict[str, int]:
    async with http.get(provider.counters_url) as response:
        body: dict[str, Any] = await response.json()
    counted: dict[str, int] = body["routes"]
    return counted


async def metadata_of(provider: OidcProvider, transport: Transport) -> ServerMetadata:
    return await DiscoveryCache(transport).get(provider.issuer)


async def login(
    provider: OidcProvider, client: RegisteredClient, transport: Transport, *, nonce: str,
    max_age: int | None = None,
) -> Token:
    """Authorization code + PKCE with a nonce, approved headlessly; the token response."""
    pkce = Pkce()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code", "client_id": client.client_id,
        "redirect_uri": client.redirect_uri, "scope": "openid email", "state": state,
        "nonce": nonce, "code_challenge": pkce.challenge, "code_challenge_method": "S256",
    }
    if max_age is not None:
        params["max_age"] = str(max_age)
    callback = await authorize(
        authorization_url(provider.authorization_endpoint, params), client.redirect_uri
    )
    query = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
    assert (query["state"], query["iss"]) == (state, provider.issuer)
    form = {"code": query["code"], "redirect_uri": client.redirect_uri,
            "code_verifier": pkce.verifier}
    return await request_token(
        transport, provider.token_endpoint, config_for(client), "authorization_code", form
    )


async def test_discovery_finds_the_provider(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    metadata = await metadata_of(oidc_provider, transport)
    assert metadata.issuer == oidc_provider.issuer
    assert metadata.jwks_uri == oidc_provider.jwks_uri
    assert metadata.token_endpoint == oidc_provider.token_endpoint
    assert metadata.end_session_endpoint is not None
    assert "RS256" in metadata.extra["id_token_signing_alg_values_supported"]


async def test_discovery_refuses_an_issuer_that_differs(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        await discover(transport, oidc_provider.issuer + "/")
    assert caught.value.code == ISSUER_MISMATCH


@pytest.mark.parametrize("name", ["basic", "public", "private_key_jwt", "es256"])
async def test_login_yields_a_valid_id_token_and_matching_userinfo(
    oidc_provider: OidcProvider, transport: Transport, http: aiohttp.ClientSession, name: str
) -> None:
    client = oidc_provider.clients[name]
    metadata = await metadata_of(oidc_provider, transport)
    jwks = JwksCache.for_server(transport, metadata)
    claims: list[IdTokenClaims] = []
    for _ in range(2):
        nonce = secrets.token_urlsafe(24)
        token = await login(oidc_provider, client, transport, nonce=nonce, max_age=300)
        assert token.id_token is not None
        header = json.loads(base64.urlsafe_b64decode(token.id_token.split(".")[0] + "=="))
        assert header["alg"] == ("ES256" if name == "es256" else "RS256")
        claims.append(await validate_id_token(
            token.id_token, jwks=jwks, issuer=oidc_provider.issuer,
            client_id=client.client_id, nonce=nonce, access_token=token.access_token,
            max_age=300,
        ))
        assert claims[-1].nonce == nonce
        assert claims[-1].auth_time is not None  # required because max_age was sent
        info = await fetch_userinfo(
            transport, metadata, token.access_token, expected_sub=claims[-1].sub
        )
        assert (info["sub"], info["email"]) == ("alice", "alice@example.test")
    assert [c.sub for c in claims] == ["alice", "alice"]
    assert claims[0].aud == (client.client_id,)
    assert (await routes(http, oidc_provider)).get("jwks") == 1  # one fetch for both logins


async def test_the_real_token_fails_every_check_it_should(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = oidc_provider.clients["basic"]
    jwks = JwksCache.for_server(transport, await metadata_of(oidc_provider, transport))
    nonce = secrets.token_urlsafe(24)
    token = await login(oidc_provider, client, transport, nonce=nonce)
    assert token.id_token is not None
    good: dict[str, Any] = {
        "jwks": jwks, "issuer": oidc_provider.issuer, "client_id": client.client_id,
        "nonce": nonce,
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"nonce": secrets.token_urlsafe(24)}, IdTokenError.NONCE_MISMATCH),
        ({"client_id": "someone-else"}, IdTokenError.AUD_MISMATCH),
        ({"issuer": oidc_provider.issuer + "/"}, IdTokenError.ISS_MISMATCH),
        ({"access_token": "not-the-access-token"}, IdTokenError.AT_HASH_MISMATCH),
        ({"acr_values": ["urn:example:loa:3"]}, IdTokenError.ACR_MISMATCH),
        ({"allowed_algs": ["ES256"]}, IdTokenError.ALG_NOT_ALLOWED),
    ]
    for changes, code in cases:
        with pytest.raises(IdTokenError) as caught:
            await validate_id_token(token.id_token, **{**good, **changes})
        assert caught.value.code == code, changes
    claims = await validate_id_token(token.id_token, **good, access_token=token.access_token)
    assert "at_hash" in claims.claims  # so the at_hash case above really compared hashes


async def test_userinfo_for_another_subject_is_refused(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = oidc_provider.clients["post"]
    metadata = await metadata_of(oidc_provider, transport)
    token = await login(oidc_provider, client, transport, nonce=secrets.token_urlsafe(24))
    with pytest.raises(InvalidResponseError) as caught:
        await fetch_userinfo(transport, metadata, token.access_token, expected_sub="bob")
    assert caught.value.code == SUB_MISMATCH


def forged(provider: OidcProvider, client_id: str, kid: str, key: RSAKey) -> str:
    claims = {"iss": provider.issuer, "sub": "alice", "aud": client_id, "iat": 1, "exp": 2}
    return jws.serialize_compact(
        {"alg": "RS256", "kid": kid}, json.dumps(claims).encode(), key, algorithms=["RS256"]
    )


async def test_unknown_kids_cost_at_most_one_jwks_fetch_per_interval(
    oidc_provider: OidcProvider, transport: Transport, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["basic"]
    clock = ManualClock()
    jwks = JwksCache.for_server(transport, await metadata_of(oidc_provider, transport),
                                clock=clock)
    nonce = secrets.token_urlsafe(24)
    token = await login(oidc_provider, client, transport, nonce=nonce)
    assert token.id_token is not None
    arguments: dict[str, Any] = {
        "jwks": jwks, "issuer": oidc_provider.issuer, "client_id": client.client_id,
        "nonce": None,
    }
    await validate_id_token(token.id_token, **arguments)
    assert (await routes(http, oidc_provider)).get("jwks") == 1
    clock.advance(61)
    stranger = RSAKey.generate_key(2048)
    tokens = [forged(oidc_provider, client.client_id, f"rotated-{n}", stranger) for n in range(100)]
    results = await asyncio.gather(
        *(validate_id_token(t, **arguments) for t in tokens), return_exceptions=True
    )
    assert {r.code for r in results if isinstance(r, IdTokenError)} == {IdTokenError.UNKNOWN_KEY}
    assert len(results) == 100
    for forgery in tokens[:20]:
        with pytest.raises(IdTokenError):
            await validate_id_token(forgery, **arguments)
    assert (await routes(http, oidc_provider)).get("jwks") == 2
    assert (await validate_id_token(token.id_token, **arguments)).sub == "alice"


async def test_logout_url_is_accepted_by_the_provider(
    oidc_provider: OidcProvider, transport: Transport, http: aiohttp.ClientSession
) -> None:
    client = oidc_provider.clients["basic"]
    metadata = await metadata_of(oidc_provider, transport)
    token = await login(oidc_provider, client, transport, nonce=secrets.token_urlsafe(24))
    assert token.id_token is not None
    url = build_logout_url(metadata, id_token_hint=token.id_token, client_id=client.client_id)
    async with http.get(url, allow_redirects=False) as response:
        page = await response.text()
    # oidc-provider asks the user to confirm the logout (RP-Initiated Logout §2: the OP
    # "SHOULD ask the End-User whether to log out of the OP as well")
    assert response.status == 200, page[:300]
    assert "logout" in page.lower()
    assert (await routes(http, oidc_provider)).get("end_session") == 1
