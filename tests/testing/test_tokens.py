"""Discovery, JWKS, client authentication, client credentials and the protected resource."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from oauthflow.testing import AuthorizationServer
from tests.testing._util import TIMEOUT, basic, post_form

CC = {"grant_type": "client_credentials"}


async def _get(url: str, token: str | None = None) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        response = await s.get(url, headers=headers)
        await response.read()
        return response


@pytest.mark.asyncio
async def test_discovery_documents_agree_and_announce_rfc9207(
    oauth_server: AuthorizationServer,
) -> None:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        docs = []
        for name in ("openid-configuration", "oauth-authorization-server"):
            path = "/.well-known/" + name
            async with s.get(oauth_server.url(path)) as r:
                assert r.status == 200
                docs.append(await r.json())
    assert docs[0] == docs[1]
    doc = docs[0]
    assert doc["issuer"] == oauth_server.issuer
    assert doc["token_endpoint"] == oauth_server.token_endpoint
    assert doc["pushed_authorization_request_endpoint"] == oauth_server.par_endpoint
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert oauth_server.counters.requests["discovery"] == 2


@pytest.mark.asyncio
async def test_client_credentials_basic_token_verifies_with_jwks(
    oauth_server: AuthorizationServer,
) -> None:
    oauth_server.register_client("svc", "s3cret")
    status, body, headers = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(oauth_server.jwks_uri) as r:
        jwks = await r.json()
    claims = jwt.decode(body["access_token"], KeySet.import_key_set(jwks)).claims
    assert claims["sub"] == "svc"
    assert claims["iss"] == oauth_server.issuer
    assert oauth_server.counters.grants["client_credentials"] == 1
    assert oauth_server.counters.requests["token"] == 1


@pytest.mark.asyncio
async def test_bad_secret_is_invalid_client_401_with_basic_challenge(
    oauth_server: AuthorizationServer,
) -> None:
    oauth_server.register_client("svc", "s3cret")
    status, body, headers = await post_form(oauth_server.token_endpoint, CC, basic("svc", "no"))
    assert status == 401
    assert body["error"] == "invalid_client"
    assert headers["WWW-Authenticate"].startswith("Basic ")
    assert oauth_server.counters.grants["client_credentials"] == 0


@pytest.mark.asyncio
async def test_client_secret_post_and_unsupported_grant(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("p", "pw", auth_method="client_secret_post")
    form = {**CC, "client_id": "p", "client_secret": "pw"}
    status, _, _ = await post_form(oauth_server.token_endpoint, form)
    assert status == 200
    status, body, _ = await post_form(oauth_server.token_endpoint,
                                      {**form, "grant_type": "password"})
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    # basic is not this client's method
    status, body, _ = await post_form(oauth_server.token_endpoint, CC, basic("p", "pw"))
    assert (status, body["error"]) == (401, "invalid_client")


def _assertion(server: AuthorizationServer, client_id: str, key: object, alg: str,
               jti: str | None = None, aud: str | None = None) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud or server.token_endpoint,
              "exp": now + 60, "iat": now, "jti": jti or uuid.uuid4().hex}
    token = jwt.encode({"alg": alg}, claims, key, algorithms=[alg])  # type: ignore[arg-type]
    return {**CC, "client_assertion": token,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}


@pytest.mark.asyncio
async def test_client_secret_jwt_and_jti_replay(oauth_server: AuthorizationServer) -> None:
    secret = "a-long-shared-secret-for-hmac-0123456789"
    oauth_server.register_client("hs", secret, auth_method="client_secret_jwt")
    form = _assertion(oauth_server, "hs", OctKey.import_key(secret.encode()), "HS256", jti="j1")
    status, _, _ = await post_form(oauth_server.token_endpoint, form)
    assert status == 200
    status, body, _ = await post_form(oauth_server.token_endpoint, form)
    assert (status, body["error"]) == (400, "invalid_client")
    wrong_aud = _assertion(oauth_server, "hs", OctKey.import_key(secret.encode()), "HS256",
                           aud="http://127.0.0.1:1/token")
    status, body, _ = await post_form(oauth_server.token_endpoint, wrong_aud)
    assert (status, body["error"]) == (400, "invalid_client")


@pytest.mark.asyncio
async def test_private_key_jwt(oauth_server: AuthorizationServer) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    oauth_server.register_client("pk", auth_method="private_key_jwt",
                                 jwks=key.as_dict(private=False))
    status, body, _ = await post_form(oauth_server.token_endpoint,
                                      _assertion(oauth_server, "pk", key, "ES256"))
    assert status == 200, body
    other = ECKey.generate_key("P-256", auto_kid=True)
    status, body, _ = await post_form(oauth_server.token_endpoint,
                                      _assertion(oauth_server, "pk", other, "ES256"))
    assert (status, body["error"]) == (400, "invalid_client")


@pytest.mark.asyncio
async def test_api_accepts_token_and_echoes_body_hash(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("svc", "s3cret", scope="read write")
    _, token, _ = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    headers = {"Authorization": f"Bearer {token['access_token']}", "X-Test": "1"}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.post(
        oauth_server.api_url + "things/1", data=b"payload", headers=headers
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body == {"ok": True, "sub": "svc", "client_id": "svc", "scope": "read write",
                    "method": "POST", "path": "/api/things/1",
                    "body_sha256": hashlib.sha256(b"payload").hexdigest()}
    seen = oauth_server.requests_seen("api")
    assert [r.headers["X-Test"] for r in seen] == ["1"]
    assert seen[0].body == b"payload"


@pytest.mark.asyncio
async def test_api_challenges(oauth_server: AuthorizationServer) -> None:
    r = await _get(oauth_server.api_url + "x")
    assert (r.status, r.headers["WWW-Authenticate"]) == (401, 'Bearer realm="api"')
    r = await _get(oauth_server.api_url + "x", token="not-a-jwt")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')


@pytest.mark.asyncio
async def test_short_token_really_expires_and_revoke_all(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("svc", "s3cret")
    oauth_server.settings.access_token_lifetime = 0.3
    _, short, _ = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    assert short["expires_in"] == 0.3
    assert (await _get(oauth_server.api_url + "a", short["access_token"])).status == 200
    await asyncio.sleep(0.35)
    r = await _get(oauth_server.api_url + "a", short["access_token"])
    assert r.status == 401
    assert 'error_description="The access token expired"' in r.headers["WWW-Authenticate"]
    oauth_server.settings.access_token_lifetime = 60
    _, live, _ = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    oauth_server.revoke_all()
    r = await _get(oauth_server.api_url + "a", live["access_token"])
    assert 'error_description="The access token was revoked"' in r.headers["WWW-Authenticate"]


@pytest.mark.asyncio
async def test_clock_offset_ages_tokens(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("svc", "s3cret")
    _, token, _ = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    oauth_server.settings.clock_offset = 3601
    assert (await _get(oauth_server.api_url + "a", token["access_token"])).status == 401


@pytest.mark.asyncio
async def test_rotate_keys_keeps_old_tokens_valid(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("svc", "s3cret")
    _, old, _ = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    kid = oauth_server.rotate_keys(alg="ES256")
    _, new, _ = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    from joserfc import jws
    assert jws.extract_compact(new["access_token"].encode()).headers() == {
        "alg": "ES256", "kid": kid, "typ": "at+jwt"}
    for token in (old, new):
        assert (await _get(oauth_server.api_url + "a", token["access_token"])).status == 200
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(oauth_server.jwks_uri) as r:
        kids = [k["kid"] for k in (await r.json())["keys"]]
    assert kid in kids
    assert len(kids) == 3
