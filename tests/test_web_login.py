"""OidcLogin in an aiohttp.web app, end to end with oauthflow.testing's headless login."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from oauthflow import ClientConfig
from oauthflow.testing import AuthorizationServer
from oauthflow.web import OidcLogin

pytestmark = pytest.mark.asyncio

SECRET = "web-app-secret-long-enough-for-anything"


class App:
    def __init__(self, base: str, server: AuthorizationServer, session: aiohttp.ClientSession,
                 login: OidcLogin) -> None:
        self.base = base
        self.server = server
        self.http = session
        self.login = login

    async def get(self, path: str) -> tuple[int, str, str]:
        async with self.http.get(self.base + path, allow_redirects=False) as response:
            return response.status, response.headers.get("Location", ""), await response.text()

    async def log_in(self, user: str = "alice") -> str:
        """Browser-like login: the app's /auth/login, the provider's pages, the callback."""
        status, provider_url, _ = await self.get("/auth/login?next=/me")
        assert status == 302
        callback = await self.server.authorize(provider_url, user=user)
        assert callback.startswith(self.base + "/auth/callback?")
        return callback


@pytest_asyncio.fixture
async def app(oauth_server: AuthorizationServer,
              aiohttp_server: AiohttpServer) -> AsyncIterator[App]:
    application = web.Application()

    async def me(request: web.Request) -> web.Response:
        session = await login.session(request)
        if session is None:
            return web.json_response({"logged_in": False}, status=401)
        access = await session.tokens.get() if session.tokens is not None else None
        return web.json_response({"sub": session.claims.sub, "iss": session.claims.iss,
                                  "name": session.claims.claims.get("name"),
                                  "has_access_token": access is not None})

    application.router.add_get("/me", me)
    with socket.socket() as probe:  # the app's URL must be known before its routes are
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    oauth_server.register_client("web-app", SECRET, redirect_uris=(base + "/auth/callback",),
                                 post_logout_redirect_uris=(base + "/",))
    client = ClientConfig(client_id="web-app", client_secret=SECRET,
                          redirect_uri=base + "/auth/callback")
    login = OidcLogin(issuer=oauth_server.issuer, client=client, keep_tokens=True,
                      scope=("openid", "profile", "offline_access"), after_logout=base + "/")
    login.setup(application)
    await aiohttp_server(application, host="127.0.0.1", port=port)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP host
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        yield App(base, oauth_server, http, login)


async def test_login_gives_the_app_the_validated_identity_and_a_token_manager(app: App) -> None:
    status, _, _ = await app.get("/me")
    assert status == 401
    callback = await app.log_in()
    status, location, _ = await app.get(callback.removeprefix(app.base))
    assert (status, location) == (302, "/me")
    async with app.http.get(app.base + "/me") as response:
        body = await response.json()
    assert body == {"sub": "alice", "iss": app.server.issuer, "name": "Alice Example",
                    "has_access_token": True}
    cookies = {cookie.key: cookie for cookie in app.http.cookie_jar}
    session_cookie = cookies["oauthflow_session"]
    assert session_cookie["httponly"]
    assert session_cookie["samesite"] == "Lax"
    assert "oauthflow_login" not in cookies or not cookies["oauthflow_login"].value
    assert app.server.counters.grants["authorization_code"] == 1


async def test_replayed_callback_is_refused(app: App) -> None:
    callback = await app.log_in()
    status, _, _ = await app.get(callback.removeprefix(app.base))
    assert status == 302
    status, _, page = await app.get(callback.removeprefix(app.base))
    assert status == 400
    assert "no login in progress" in page
    assert app.server.counters.grants["authorization_code"] == 1  # the code was sent once


async def test_forged_callback_with_a_wrong_state_is_refused_and_sends_nothing(app: App) -> None:
    callback = await app.log_in()
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = "forged-" + query["state"][:10]
    forged = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    status, _, page = await app.get(forged.removeprefix(app.base))
    assert status == 400
    assert "could not be completed" in page
    assert len(app.server.requests_seen("token")) == 0  # the code was never exchanged
    status, _, _ = await app.get("/me")
    assert status == 401


async def test_denied_login_shows_the_providers_refusal(app: App) -> None:
    status, provider_url, _ = await app.get("/auth/login")
    callback = await app.server.authorize(provider_url, approve=False)
    status, _, page = await app.get(callback.removeprefix(app.base))
    assert status == 400
    assert "access_denied" in page


async def test_logout_forgets_the_session_and_redirects_to_the_provider(app: App) -> None:
    callback = await app.log_in()
    await app.get(callback.removeprefix(app.base))
    status, location, _ = await app.get("/auth/logout")
    assert status == 302
    assert location.startswith(app.server.end_session_endpoint + "?")
    params = parse_qs(urlsplit(location).query)
    assert params["post_logout_redirect_uri"] == [app.base + "/"]
    assert "id_token_hint" in params
    status, _, _ = await app.get("/me")
    assert status == 401


async def test_next_parameter_cannot_redirect_off_site(app: App) -> None:
    status, provider_url, _ = await app.get("/auth/login?next=//evil.example/x")
    callback = await app.server.authorize(provider_url)
    status, location, _ = await app.get(callback.removeprefix(app.base))
    assert (status, location) == (302, "/")
