"""OpenID Connect login for aiohttp.web applications: ``/login``, ``/callback``, ``/logout``.

Spec: OpenID Connect Core §3.1 (authorization code flow), RFC 7636 (PKCE), RFC 9207 (``iss``),
OpenID Connect RP-Initiated Logout 1.0.

What it keeps and where:

- the login in progress (state, nonce, PKCE verifier) stays **on the server**, under an
  opaque random id; the browser only holds that id in a short-lived cookie;
- after login, the validated identity (ID token claims) and, if asked, a TokenManager for
  calling APIs on the user's behalf, also on the server, behind another opaque cookie;
- cookies are ``HttpOnly``, ``SameSite=Lax`` (the provider's redirect back is a top-level
  GET, which Lax cookies accompany) and ``Secure`` unless the app itself runs on plain
  loopback HTTP.

A callback is accepted once: its pending login is removed before the code is exchanged, so
a replayed or forged callback (wrong ``state``, a code for someone else) fails with 400.

Sessions live in this process's memory: run one process per login state, or put a shared
session layer in front (the opaque ids make that straightforward).
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import ConfigurationError, OAuthError, OAuthFlowError
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.oidc import DiscoveryCache, IdTokenClaims, JwksCache, build_logout_url
from oauthflow.oidc.id_token import validate_login
from oauthflow.protocol.authorization import AuthorizationRequest
from oauthflow.protocol.urls import is_loopback_host
from oauthflow.token import Token
from oauthflow.token_manager import TokenManager
from oauthflow.transport import Transport

__all__ = ["LoginSession", "OidcLogin"]

logger = logging.getLogger("oauthflow.web")

_PENDING_COOKIE = "oauthflow_login"
_SESSION_COOKIE = "oauthflow_session"


@dataclass(slots=True)
class _Pending:
    request: AuthorizationRequest
    return_to: str
    expires: float


@dataclass(slots=True, kw_only=True)
class LoginSession:
    """A logged-in user, as the app sees it.

    Attributes:
        claims: the validated ID token claims (``claims.sub`` identifies the user).
        id_token: the raw ID token, kept for the logout's ``id_token_hint``.
        tokens: a TokenManager that keeps the user's access token valid (refreshing it),
            when the login was configured with ``keep_tokens=True``; else ``None``.
        expires: monotonic time after which the session is forgotten.
    """

    claims: IdTokenClaims
    id_token: str | None = field(repr=False)
    tokens: TokenManager | None = field(default=None, repr=False)
    expires: float = 0.0


class OidcLogin:
    """Login, callback and logout handlers for an aiohttp.web application.

    Args:
        issuer: the provider's issuer URL (its metadata is discovered and cached).
        client: the app's client (confidential or public); ``redirect_uri`` must be this
            app's callback URL, e.g. ``https://app.example.com/auth/callback``.
        scope: scopes to request; ``openid`` is always included.
        keep_tokens: keep a TokenManager per session (the access token for APIs, renewed
            with the refresh token; ask for ``offline_access`` if the provider needs it).
        after_login: where to send the browser after a successful login when the login
            did not say (``/auth/login?next=/reports``; only same-site paths are followed).
        after_logout: the provider sends the browser here after logout
            (``post_logout_redirect_uri``; must be registered at the provider).
        session_ttl: seconds a session lives.
        login_ttl: seconds a started login may take.
        transport: for provider calls (default: a private one, closed on app cleanup).
        allow_insecure_http: plain-http provider endpoints off loopback (tests only).

    Use ``login.setup(app)``; then ``await login.session(request)`` in handlers.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client: ClientConfig,
        scope: Sequence[str] = ("openid", "profile", "email"),
        keep_tokens: bool = False,
        after_login: str = "/",
        after_logout: str | None = None,
        session_ttl: float = 8 * 3600,
        login_ttl: float = 600,
        transport: Transport | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        if not client.redirect_uri:
            raise ConfigurationError("OidcLogin needs client.redirect_uri (this app's callback)")
        self._issuer = issuer
        self._client = client
        self._scope = ("openid", *[s for s in scope if s != "openid"])
        self._keep_tokens = keep_tokens
        self._after_login = after_login
        self._after_logout = after_logout
        self._session_ttl = session_ttl
        self._login_ttl = login_ttl
        self._owns_transport = transport is None
        self._transport = transport or Transport(allow_insecure_http=allow_insecure_http)
        self._discovery = DiscoveryCache(self._transport, allow_insecure_http=allow_insecure_http)
        self._allow_insecure_http = allow_insecure_http
        self._jwks: JwksCache | None = None
        self._pending: dict[str, _Pending] = {}
        self._sessions: dict[str, LoginSession] = {}
        callback = urlsplit(client.redirect_uri)
        self._callback_path = callback.path or "/"
        self._secure_cookies = not (
            callback.scheme == "http" and is_loopback_host(callback.hostname or "")
        )

    def __repr__(self) -> str:
        return (f"OidcLogin(issuer={self._issuer!r}, client_id={self._client.client_id!r}, "
                f"sessions={len(self._sessions)})")

    # -- wiring ---------------------------------------------------------------------------

    def setup(self, app: web.Application, *, login_path: str = "/auth/login",
              logout_path: str = "/auth/logout") -> None:
        """Add the three routes (the callback path is the one of ``client.redirect_uri``)."""
        app.router.add_get(login_path, self.login)
        app.router.add_get(self._callback_path, self.callback)
        app.router.add_get(logout_path, self.logout)
        app.on_cleanup.append(self._cleanup)

    async def session(self, request: web.Request) -> LoginSession | None:
        """The logged-in session of ``request``, or ``None``."""
        session_id = request.cookies.get(_SESSION_COOKIE)
        session = self._sessions.get(session_id) if session_id else None
        if session is None:
            return None
        if time.monotonic() >= session.expires:
            await self._forget(session_id or "")
            return None
        return session

    # -- handlers -------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Start a login: remember it server-side, redirect to the provider."""
        self._expire()
        server = await self._server()
        pending = await start_authorization(
            self._transport, server, self._client, scope=self._scope,
            allow_insecure_http=self._allow_insecure_http,
        )
        login_id = secrets.token_urlsafe(32)
        self._pending[login_id] = _Pending(
            pending, _same_site_path(request.query.get("next"), self._after_login),
            time.monotonic() + self._login_ttl,
        )
        response = _redirect(pending.url)
        self._set_cookie(response, _PENDING_COOKIE, login_id, max_age=int(self._login_ttl))
        return response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        """Finish a login: check the redirect, exchange the code, validate the ID token."""
        login_id = request.cookies.get(_PENDING_COOKIE, "")
        pending = self._pending.pop(login_id, None)  # one use, whatever happens next
        if pending is None or time.monotonic() >= pending.expires:
            return _failure(400, "no login in progress (expired, or already completed)")
        try:
            server = await self._server()
            token = await exchange_code(
                self._transport, server, self._client, pending.request, dict(request.query)
            )
            claims = await validate_login(
                pending.request, token, jwks=self._jwks_for(server),
                client_id=self._client.client_id, client_secret=self._client.client_secret,
            )
        except OAuthError as exc:
            logger.info("login refused: %s", exc.error)
            return _failure(400, f"the provider refused the login ({exc.error})")
        except OAuthFlowError as exc:
            logger.warning("login failed: %s", exc)
            return _failure(400, "the login could not be completed")
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = LoginSession(
            claims=claims, id_token=token.id_token, tokens=self._manager(server, token),
            expires=time.monotonic() + self._session_ttl,
        )
        response = _redirect(pending.return_to)
        self._set_cookie(response, _SESSION_COOKIE, session_id, max_age=int(self._session_ttl))
        response.del_cookie(_PENDING_COOKIE, path="/")
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Forget the session here, then log out at the provider if it supports it."""
        session_id = request.cookies.get(_SESSION_COOKIE, "")
        session = self._sessions.get(session_id)
        await self._forget(session_id)
        server = await self._server()
        target = self._after_logout or "/"
        if server.end_session_endpoint:
            target = build_logout_url(
                server, id_token_hint=session.id_token if session else None,
                post_logout_redirect_uri=self._after_logout,
                client_id=self._client.client_id,
            )
        response = _redirect(target)
        response.del_cookie(_SESSION_COOKIE, path="/")
        return response

    # -- helpers --------------------------------------------------------------------------

    async def _server(self) -> ServerMetadata:
        return await self._discovery.get(self._issuer)

    def _jwks_for(self, server: ServerMetadata) -> JwksCache:
        if self._jwks is None:
            self._jwks = JwksCache.for_server(self._transport, server)
        return self._jwks

    def _manager(self, server: ServerMetadata, token: Token) -> TokenManager | None:
        if not self._keep_tokens:
            return None
        if not token.refresh_token:
            logger.info("no refresh token: the session's access token will not be renewed")
        return TokenManager.for_refresh_token(
            client=self._client, token=token, server=server, transport=self._transport,
        )

    def _set_cookie(self, response: web.StreamResponse, name: str, value: str,
                    *, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                            samesite="Lax", secure=self._secure_cookies)

    def _expire(self) -> None:
        now = time.monotonic()
        for login_id in [k for k, p in self._pending.items() if now >= p.expires]:
            del self._pending[login_id]

    async def _forget(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None and session.tokens is not None:
            await session.tokens.aclose()

    async def _cleanup(self, _app: web.Application) -> None:
        for session_id in list(self._sessions):
            await self._forget(session_id)
        if self._owns_transport:
            await self._transport.aclose()


def _same_site_path(value: str | None, default: str) -> str:
    """Only a local path (``/x``, not ``//host`` or ``https://...``): no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _failure(status: int, message: str) -> web.Response:
    page = (f"<!doctype html><title>Login failed</title><h1>Login failed</h1>"
            f"<p>{html.escape(message)}</p><p><a href=\"/\">Back</a></p>")
    return web.Response(status=status, text=page, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
