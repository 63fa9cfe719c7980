"""Adversity knobs, counters, the request log, the fuzz test and the session fixture."""

from __future__ import annotations

import asyncio
import random
import time

import aiohttp
import pytest

from oauthflow.testing import AuthorizationServer
from tests.testing._util import TIMEOUT, basic, post_form

CC = {"grant_type": "client_credentials"}


@pytest.mark.asyncio
async def test_fail_next_variants_then_recovery(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("svc", "s3cret")
    creds = basic("svc", "s3cret")
    oauth_server.fail_next("token", count=2, status=503, retry_after=1)
    oauth_server.fail_next("token", count=1, status=400, error="invalid_grant")
    oauth_server.fail_next("token", count=1, status=502, body=b"<html>Bad Gateway</html>",
                           content_type="text/html")
    for _ in range(2):
        status, body, headers = await post_form(oauth_server.token_endpoint, CC, creds)
        assert (status, body["error"], headers["Retry-After"]) == (
            503, "temporarily_unavailable", "1")
    status, body, _ = await post_form(oauth_server.token_endpoint, CC, creds)
    assert (status, body) == (400, {"error": "invalid_grant"})
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.post(
        oauth_server.token_endpoint, data=CC, headers=creds
    ) as r:
        assert (r.status, r.content_type, await r.read()) == (
            502, "text/html", b"<html>Bad Gateway</html>")
    status, _, _ = await post_form(oauth_server.token_endpoint, CC, creds)
    assert status == 200
    assert oauth_server.counters.requests["token"] == 5
    assert oauth_server.counters.grants["client_credentials"] == 1


@pytest.mark.asyncio
async def test_oversized_and_dropped(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("svc", "s3cret")
    oauth_server.fail_next("token", oversized=2_000_000)
    oauth_server.fail_next("token", drop_connection=True)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with s.post(oauth_server.token_endpoint, data=CC) as r:
            assert r.status == 200
            assert len(await r.read()) == 2_000_000
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with s.post(oauth_server.token_endpoint, data=CC) as r:
                await r.read()
    status, _, _ = await post_form(oauth_server.token_endpoint, CC, basic("svc", "s3cret"))
    assert status == 200


@pytest.mark.asyncio
async def test_latency_and_request_log(oauth_server: AuthorizationServer) -> None:
    oauth_server.register_client("svc", "s3cret")
    oauth_server.set_latency("token", 0.2)
    started = time.monotonic()
    await post_form(oauth_server.token_endpoint, {**CC, "scope": "read"}, basic("svc", "s3cret"))
    assert time.monotonic() - started >= 0.2
    [seen] = oauth_server.requests_seen("token")
    assert (seen.method, seen.path, dict(seen.form)) == (
        "POST", "/token", {"grant_type": "client_credentials", "scope": "read"})
    assert seen.headers["Authorization"] == basic("svc", "s3cret")["Authorization"]
    assert "s3cret" not in repr(seen)
    oauth_server.reset_counters()
    assert oauth_server.counters.requests["token"] == 0
    assert oauth_server.requests_seen("token") == []
    with pytest.raises(ValueError, match="unknown endpoint"):
        oauth_server.fail_next("tokens")


def test_secrets_not_in_reprs() -> None:
    server = AuthorizationServer()
    client = server.register_client("svc", "s3cret-value")
    assert "s3cret-value" not in repr(client)
    user = server.add_user("bob", password="pw-secret-1")
    assert "pw-secret-1" not in repr(user)


_ENDPOINTS = [
    ("POST", "/token"), ("POST", "/revoke"), ("POST", "/introspect"),
    ("POST", "/device_authorization"), ("POST", "/par"), ("GET", "/authorize"),
    ("POST", "/login"), ("POST", "/consent"), ("POST", "/device"), ("GET", "/userinfo"),
    ("GET", "/end_session"), ("POST", "/end_session"), ("GET", "/api/x"), ("POST", "/api/x"),
]
_NAMES = ["grant_type", "client_id", "client_secret", "code", "refresh_token", "scope",
          "redirect_uri", "code_verifier", "device_code", "token", "token_type_hint",
          "client_assertion", "client_assertion_type", "response_type", "state",
          "code_challenge", "code_challenge_method", "request_uri", "txn", "csrf", "user_code",
          "id_token_hint", "post_logout_redirect_uri", "nonce", "prompt"]
_VALUES = ["", "svc", "s3cret", "client_credentials", "authorization_code", "refresh_token",
           "urn:ietf:params:oauth:grant-type:device_code", "code", "openid", "\x00", "é\"'<>",
           "a" * 300, "http://127.0.0.1/callback", "S256", "plain", "none", "%ZZ", "a.b.c",
           "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "eyJhbGciOiJub25lIn0.e30."]
_HEADERS = [{}, {"Authorization": "Basic !!!"}, {"Authorization": "Basic c3ZjOnMzY3JldA=="},
            {"Authorization": "Bearer "}, {"Authorization": "Bearer x.y.z"},
            {"Authorization": "Basic " + "QQ" * 40}, {"Content-Type": "application/json"},
            {"Content-Type": "text/plain"}, {"Authorization": "Digest x"}]


@pytest.mark.asyncio
async def test_fuzz_never_5xx(oauth_server: AuthorizationServer) -> None:
    """Seeded random bodies and headers at every endpoint: always an RFC-style 4xx or 2xx."""
    oauth_server.register_client("svc", "s3cret")
    oauth_server.register_client("pub")
    rng = random.Random(1234)
    statuses: set[int] = set()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        for _ in range(400):
            method, path = rng.choice(_ENDPOINTS)
            pairs = [(rng.choice(_NAMES), rng.choice(_VALUES)) for _ in range(rng.randint(0, 6))]
            headers = dict(rng.choice(_HEADERS))
            if rng.random() < 0.2:
                body: bytes | str = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
            else:
                body = "&".join(f"{k}={v}" for k, v in pairs)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            url = oauth_server.url(path)
            if method == "GET":
                async with s.get(url, params=pairs, headers=headers,
                                 allow_redirects=False) as r:
                    await r.read()
            else:
                async with s.post(url, data=body, headers=headers, allow_redirects=False) as r:
                    await r.read()
            assert r.status < 500, (method, path, pairs, headers, r.status)
            statuses.add(r.status)
    assert {400, 401} <= statuses


@pytest.mark.asyncio(loop_scope="session")
async def test_session_fixture(oauth_server_session: AuthorizationServer) -> None:
    oauth_server_session.register_client("sess", "pw")
    status, _, _ = await post_form(oauth_server_session.token_endpoint, CC, basic("sess", "pw"))
    assert status == 200
    await asyncio.sleep(0)
