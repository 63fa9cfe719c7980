"""Authorization code + PKCE (HTML pages and programmatic), refresh rotation, device flow,
revocation, introspection, PAR, userinfo and end-session."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from oauthflow.testing import AuthorizationServer
from tests.testing._util import CALLBACK, TIMEOUT, auth_url, basic, pkce_pair, post_form, query_of

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


async def _code_tokens(server: AuthorizationServer, via_pages: bool = True) -> dict[str, str]:
    server.register_client("web", "websecret")
    verifier, challenge = pkce_pair()
    url = auth_url(server, "web", challenge)
    if via_pages:
        callback = await server.authorize(url, user="alice", approve=True)
    else:
        callback = server.authorize_directly(url, user="alice")
    params = query_of(callback)
    assert callback.startswith(CALLBACK + "?")
    assert (params["state"], params["iss"]) == ("state-1", server.issuer)
    form = {"grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": CALLBACK, "code_verifier": verifier}
    status, body, _ = await post_form(server.token_endpoint, form, basic("web", "websecret"))
    assert status == 200, body
    # single use
    status2, again, _ = await post_form(server.token_endpoint, form, basic("web", "websecret"))
    assert (status2, again["error"]) == (400, "invalid_grant")
    return body


@pytest.mark.asyncio
@pytest.mark.parametrize("via_pages", [True, False])
async def test_authorization_code_pkce_with_id_token(
    oauth_server: AuthorizationServer, via_pages: bool
) -> None:
    tokens = await _code_tokens(oauth_server, via_pages)
    assert set(tokens) == {"access_token", "token_type", "expires_in", "scope",
                           "refresh_token", "id_token"}
    keys = KeySet.import_key_set(oauth_server.core.keys.jwks())  # type: ignore[arg-type]
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert (claims["iss"], claims["aud"], claims["sub"]) == (oauth_server.issuer, ["web"], "alice")
    assert claims["nonce"] == "nonce-1"
    assert claims["name"] == "Alice Example"
    assert oauth_server.counters.grants["authorization_code"] == 1
    pages = oauth_server.counters.requests["authorize"]
    assert pages == (1 if via_pages else 0)


@pytest.mark.asyncio
async def test_plain_pkce_and_missing_pkce_are_refused_with_iss(
    oauth_server: AuthorizationServer,
) -> None:
    oauth_server.register_client("web", "websecret")
    url = auth_url(oauth_server, "web", "x" * 43, code_challenge_method="plain")
    params = query_of(await oauth_server.authorize(url))
    assert (params["error"], params["state"], params["iss"]) == (
        "invalid_request", "state-1", oauth_server.issuer)
    url = auth_url(oauth_server, "web", "")
    assert query_of(await oauth_server.authorize(url))["error"] == "invalid_request"


@pytest.mark.asyncio
async def test_deny_gives_access_denied(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("web", "websecret")
    _, challenge = pkce_pair()
    params = query_of(await oauth_server.authorize(auth_url(oauth_server, "web", challenge),
                                                   approve=False))
    assert (params["error"], params["iss"]) == ("access_denied", oauth_server.issuer)
    assert "code" not in params


@pytest.mark.asyncio
async def test_login_page_rejects_bad_password_and_csrf(oauth_server: AuthorizationServer) -> None:
    from oauthflow.testing import HeadlessError

    oauth_server.register_client("web", "websecret")
    _, challenge = pkce_pair()
    with pytest.raises(HeadlessError, match="401"):
        await oauth_server.authorize(auth_url(oauth_server, "web", challenge), password="nope")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.post(
        oauth_server.url("/login"), data={"txn": "x", "csrf": "y"}
    ) as r:
        assert r.status == 400


@pytest.mark.asyncio
async def test_unregistered_redirect_is_not_followed(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("web", "websecret")
    _, challenge = pkce_pair()
    url = auth_url(oauth_server, "web", challenge, redirect_uri="http://evil.example/cb")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(
        url, allow_redirects=False
    ) as r:
        assert r.status == 400
        assert "Location" not in r.headers


@pytest.mark.asyncio
async def test_refresh_rotation_and_reuse_detection(oauth_server: AuthorizationServer) -> None:
    first = await _code_tokens(oauth_server)
    creds = basic("web", "websecret")
    status, second, _ = await post_form(
        oauth_server.token_endpoint,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, creds)
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    # reusing the rotated-out token kills the whole grant
    status, body, _ = await post_form(
        oauth_server.token_endpoint,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, creds)
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body, _ = await post_form(
        oauth_server.token_endpoint,
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}, creds)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert oauth_server.counters.grants["refresh_token"] == 1


@pytest.mark.asyncio
async def test_refresh_without_rotation_keeps_token(oauth_server: AuthorizationServer) -> None:
    oauth_server.settings.refresh_token_rotation = False
    first = await _code_tokens(oauth_server)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    for _ in range(2):
        status, body, _ = await post_form(oauth_server.token_endpoint, form,
                                          basic("web", "websecret"))
        assert status == 200
        assert "refresh_token" not in body


async def _device_start(server: AuthorizationServer) -> dict[str, Any]:
    server.register_client("tv")
    status, body, _ = await post_form(server.device_authorization_endpoint,
                                      {"client_id": "tv", "scope": "read"})
    assert status == 200
    assert body["verification_uri"] == server.device_verification_uri
    return body


async def _poll(server: AuthorizationServer, device_code: str) -> tuple[int, dict[str, str]]:
    form = {"grant_type": DEVICE, "device_code": device_code, "client_id": "tv"}
    status, body, _ = await post_form(server.token_endpoint, form)
    return status, body


@pytest.mark.asyncio
async def test_device_pending_slow_down_then_approved_via_pages(
    oauth_server: AuthorizationServer,
) -> None:
    oauth_server.settings.device_poll_interval = 0.2
    oauth_server.settings.device_slow_down_increment = 0.1
    start = await _device_start(oauth_server)
    assert start["interval"] == 0.2
    assert (await _poll(oauth_server, start["device_code"]))[1]["error"] == "authorization_pending"
    assert (await _poll(oauth_server, start["device_code"]))[1]["error"] == "slow_down"
    await oauth_server.approve_device(start["user_code"], "alice", via_pages=True)
    await asyncio.sleep(0.35)
    status, body = await _poll(oauth_server, start["device_code"])
    assert status == 200, body
    assert body["scope"] == "read"
    assert oauth_server.counters.grants[DEVICE] == 1


@pytest.mark.asyncio
async def test_device_denied_and_expired(oauth_server: AuthorizationServer) -> None:
    oauth_server.settings.device_poll_interval = 0
    start = await _device_start(oauth_server)
    await oauth_server.deny_device(start["user_code"])
    assert (await _poll(oauth_server, start["device_code"]))[1]["error"] == "access_denied"
    oauth_server.settings.device_code_lifetime = 0.1
    start = await _device_start(oauth_server)
    await asyncio.sleep(0.15)
    assert (await _poll(oauth_server, start["device_code"]))[1]["error"] == "expired_token"


@pytest.mark.asyncio
async def test_revocation_and_introspection(oauth_server: AuthorizationServer) -> None:
    tokens = await _code_tokens(oauth_server)
    creds = basic("web", "websecret")
    status, info, _ = await post_form(oauth_server.introspection_endpoint,
                                      {"token": tokens["access_token"]}, creds)
    assert status == 200
    assert (info["active"], info["sub"], info["client_id"]) == (True, "alice", "web")
    status, _, _ = await post_form(oauth_server.revocation_endpoint,
                                   {"token": tokens["refresh_token"],
                                    "token_type_hint": "refresh_token"}, creds)
    assert status == 200
    for token in (tokens["access_token"], tokens["refresh_token"]):
        _, info, _ = await post_form(oauth_server.introspection_endpoint, {"token": token}, creds)
        assert info == {"active": False}
    status, _, _ = await post_form(oauth_server.revocation_endpoint, {"token": "unknown"}, creds)
    assert status == 200  # RFC 7009 §2.2
    status, body, _ = await post_form(oauth_server.revocation_endpoint, {}, creds)
    assert (status, body["error"]) == (400, "invalid_request")


@pytest.mark.asyncio
async def test_par_request_uri_is_single_use(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("web", "websecret")
    verifier, challenge = pkce_pair()
    form = query_of(auth_url(oauth_server, "web", challenge))
    status, pushed, _ = await post_form(oauth_server.par_endpoint, form, basic("web", "websecret"))
    assert status == 201
    assert pushed["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert pushed["expires_in"] == 60
    query = urlencode({"client_id": "web", "request_uri": pushed["request_uri"]})
    url = f"{oauth_server.authorization_endpoint}?{query}"
    params = query_of(await oauth_server.authorize(url))
    assert params["state"] == "state-1"
    assert "code" in params
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(url, allow_redirects=False) as r:
        assert r.status == 400  # used up
    status, body, _ = await post_form(oauth_server.par_endpoint,
                                      {**form, "code_challenge_method": "plain"},
                                      basic("web", "websecret"))
    assert (status, body["error"]) == (400, "invalid_request")
    assert verifier


@pytest.mark.asyncio
async def test_userinfo_and_end_session(oauth_server: AuthorizationServer) -> None:
    tokens = await _code_tokens(oauth_server)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with s.get(oauth_server.userinfo_endpoint, headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["sub"] == "alice"
        async with s.get(oauth_server.userinfo_endpoint) as r:
            assert r.status == 401
        oauth_server.register_client("web", "websecret",
                                     post_logout_redirect_uris=("http://127.0.0.1/bye",))
        params = {"id_token_hint": tokens["id_token"], "state": "s9",
                  "post_logout_redirect_uri": "http://127.0.0.1/bye"}
        async with s.get(oauth_server.end_session_endpoint, params=params,
                         allow_redirects=False) as r:
            assert (r.status, r.headers["Location"]) == (302, "http://127.0.0.1/bye?state=s9")
        params["post_logout_redirect_uri"] = "http://evil.example/"
        async with s.get(oauth_server.end_session_endpoint, params=params,
                         allow_redirects=False) as r:
            assert r.status == 400
