"""``AuthorizationServer``: a real OAuth 2.0 / OIDC server on 127.0.0.1 for tests and demos.

The aiohttp front end: routes, the knobs middleware (counters, request log, latency, queued
failures) and the public API tests call. Grant logic is authlib's (``authlib_server``),
state is in ``core``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from .authlib_server import AuthlibServer
from .core import PATHS, ServerCore
from .endpoints import ROUTES, Endpoints
from .headless import HeadlessBrowser
from .knobs import ENDPOINTS, Counters, Failure, RecordedRequest, Settings
from .models import AUTH_METHODS, DEVICE_CODE_GRANT, RegisteredClient, User
from .pages import Pages
from .resource import ProtectedResource

__all__ = ["AuthorizationServer"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DEFAULT_GRANTS = ("client_credentials", "refresh_token", "authorization_code", DEVICE_CODE_GRANT)
_OVERSIZED_CHUNK = 64 * 1024


class AuthorizationServer:
    """A local authorization server and protected API, as an async context manager.

    ``async with AuthorizationServer() as server:`` listens on 127.0.0.1 on an ephemeral port;
    ``start()``/``stop()`` do the same by hand. A user ``alice`` (password ``alice``) exists.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in {"127.0.0.1", "::1", "localhost"}:
            raise ValueError("the test server only listens on a loopback address")
        self._host, self._port = host, port
        self.core = ServerCore()
        self._authlib = AuthlibServer(self.core)
        self._endpoints = Endpoints(self.core, self._authlib)
        self._pages = Pages(self.core, self._authlib)
        self._resource = ProtectedResource(self.core)
        self._runner: web.AppRunner | None = None
        self._route_names: dict[tuple[str, str], str] = {}
        self.add_user("alice", password="alice", claims={
            "name": "Alice Example", "preferred_username": "alice",
            "email": "alice@example.test", "email_verified": True,
        })

    def __repr__(self) -> str:
        return f"AuthorizationServer(issuer={self.core.issuer_url!r})"

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> AuthorizationServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on the loopback address; sets :attr:`issuer`."""
        if self._runner is not None:
            raise RuntimeError("already started")
        runner = web.AppRunner(
            self._app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        self.core.issuer_url = f"http://{host}:{address[1]}"

    async def stop(self) -> None:
        """Close every connection and stop listening (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._knobs_middleware], client_max_size=256 * 1024)
        for method, path, handler, name in ROUTES:
            app.router.add_route(method, path, getattr(self._endpoints, handler), name=None)
            self._route_names[(method, path)] = name
        pages = self._pages
        app.router.add_get(PATHS["authorize"], pages.authorize)
        self._route_names[("GET", PATHS["authorize"])] = "authorize"
        app.router.add_post(PATHS["login"], pages.login)
        app.router.add_post(PATHS["consent"], pages.consent)
        app.router.add_get(PATHS["device"], pages.device_page)
        app.router.add_post(PATHS["device"], pages.device_submit)
        app.router.add_route("*", PATHS["api"] + "{tail:.*}", self._resource.handle)
        return app

    def _endpoint_name(self, request: web.Request) -> str | None:
        if request.path.startswith(PATHS["api"]):
            return "api"
        return self._route_names.get((request.method, request.path))

    @web.middleware
    async def _knobs_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        """Count, record, delay and maybe fail the request, per endpoint name."""
        name = self._endpoint_name(request)
        if name is None:
            return await handler(request)
        self.core.counters.requests[name] += 1
        self.core.seen.setdefault(name, []).append(await _record(name, request))
        delay = self.core.knobs.latency(name)
        if delay:
            await asyncio.sleep(delay)
        failure = self.core.knobs.take_failure(name)
        if failure is not None:
            return await _fail(request, failure)
        return await handler(request)

    # -- addresses ------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.core.issuer

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.core.url(path)

    @property
    def authorization_endpoint(self) -> str:
        return self.core.endpoint("authorize")

    @property
    def token_endpoint(self) -> str:
        return self.core.endpoint("token")

    @property
    def device_authorization_endpoint(self) -> str:
        return self.core.endpoint("device_authorization")

    @property
    def revocation_endpoint(self) -> str:
        return self.core.endpoint("revoke")

    @property
    def introspection_endpoint(self) -> str:
        return self.core.endpoint("introspect")

    @property
    def userinfo_endpoint(self) -> str:
        return self.core.endpoint("userinfo")

    @property
    def jwks_uri(self) -> str:
        return self.core.endpoint("jwks")

    @property
    def par_endpoint(self) -> str:
        return self.core.endpoint("par")

    @property
    def end_session_endpoint(self) -> str:
        return self.core.endpoint("end_session")

    @property
    def device_verification_uri(self) -> str:
        return self.core.endpoint("device")

    @property
    def api_url(self) -> str:
        """Base URL of the protected resource (ends with ``/``)."""
        return self.core.endpoint("api")

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document (RFC 8414 / OIDC Discovery)."""
        return self._endpoints.metadata()

    # -- registration ---------------------------------------------------------------------
    def register_client(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        auth_method: str | None = None,
        grant_types: tuple[str, ...] = _DEFAULT_GRANTS,
        redirect_uris: tuple[str, ...] = ("http://127.0.0.1/callback",),
        scope: str = "openid profile email read write offline_access",
        jwks: Mapping[str, Any] | None = None,
        post_logout_redirect_uris: tuple[str, ...] = (),
    ) -> RegisteredClient:
        """Register (or replace) a client. ``auth_method`` defaults to ``client_secret_basic``
        with a secret and ``none`` (public client) without one."""
        method = auth_method or ("client_secret_basic" if client_secret else "none")
        if method not in AUTH_METHODS:
            raise ValueError(f"unknown auth_method {method!r}; one of {sorted(AUTH_METHODS)}")
        needs_secret = method in {"client_secret_basic", "client_secret_post", "client_secret_jwt"}
        if needs_secret and not client_secret:
            raise ValueError(f"auth_method {method!r} needs a client_secret")
        if method == "private_key_jwt" and not jwks:
            raise ValueError("auth_method 'private_key_jwt' needs jwks (a public JWK or JWKS)")
        if method == "none" and client_secret:
            raise ValueError("a public client (auth_method 'none') has no secret")
        client = RegisteredClient(
            client_id=client_id, client_secret=client_secret, auth_method=method,
            grant_types=tuple(grant_types), redirect_uris=tuple(redirect_uris), scope=scope,
            jwks=jwks, post_logout_redirect_uris=tuple(post_logout_redirect_uris),
        )
        self.core.store.clients[client_id] = client
        return client

    def add_user(self, username: str, *, password: str | None = None,
                 claims: Mapping[str, Any] | None = None) -> User:
        """Add (or replace) a test user; the password defaults to the username."""
        user = User(username, password if password is not None else username, dict(claims or {}))
        self.core.store.users[username] = user
        return user

    # -- knobs ----------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def counters(self) -> Counters:
        return self.core.counters

    def reset_counters(self) -> None:
        """Zero the counters and forget the recorded requests."""
        self.core.counters.reset()
        self.core.seen.clear()

    def requests_seen(self, endpoint: str) -> list[RecordedRequest]:
        """Requests that reached ``endpoint`` (in order), for exact assertions."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        return list(self.core.seen.get(endpoint, []))

    def set_latency(self, endpoint: str, seconds: float) -> None:
        """Delay every answer of ``endpoint`` by ``seconds``."""
        self.core.knobs.set_latency(endpoint, seconds)

    def fail_next(
        self,
        endpoint: str,
        count: int = 1,
        *,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        retry_after: float | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        oversized: int | None = None,
        drop_connection: bool = False,
    ) -> None:
        """The next ``count`` requests to ``endpoint`` fail in the given way.

        ``error`` sends an RFC 6749 §5.2 JSON error (status 400 unless given); ``body`` a raw
        body; ``oversized`` a streamed JSON-looking body of that many bytes (status 200
        unless given); ``drop_connection`` closes the socket without an answer. Otherwise a
        JSON ``server_error`` / ``temporarily_unavailable`` with ``status`` (default 500).
        """
        default = 200 if oversized else 400 if error else 500
        failure = Failure(
            status=status if status is not None else default, error=error,
            error_description=error_description, retry_after=retry_after, body=body,
            content_type=content_type, oversized=oversized, drop_connection=drop_connection,
        )
        self.core.knobs.fail_next(endpoint, count, failure)

    def revoke_all(self) -> None:
        """Every access and refresh token issued so far stops working."""
        self.core.store.revoke_all()

    def rotate_keys(self, alg: str = "RS256") -> str:
        """Sign with a new key from now on (the old ones stay in the JWKS); its ``kid``."""
        return self.core.keys.rotate(alg)

    # -- headless users -------------------------------------------------------------------
    async def authorize(self, authorization_url: str, user: str = "alice", approve: bool = True,
                        *, password: str | None = None) -> str:
        """Drive the real login and consent pages over HTTP; the callback URL (not fetched).

        Cancellation aborts the in-flight page request and closes the browsing session.
        """
        secret = password if password is not None else self._password(user)
        async with HeadlessBrowser() as browser:
            return await browser.authorize(authorization_url, user, secret, approve)

    def authorize_directly(self, authorization_url: str, user: str = "alice",
                           approve: bool = True) -> str:
        """The programmatic path: decide without the pages; the callback URL.

        Raises :class:`~oauthflow.testing.AuthorizationRejectedError` when the request is
        refused without a redirect (unknown client, unregistered redirect URI).
        """
        params = parse_qsl(urlsplit(authorization_url).query, keep_blank_values=True)
        params = self._pages.resolve_params(params)
        chosen = self.core.store.users[user] if approve else None
        return self._pages.decide(params, chosen)

    async def approve_device(self, user_code: str, user: str = "alice", *,
                             via_pages: bool = False) -> None:
        """Approve an RFC 8628 user code as ``user`` (directly, or through the HTML page)."""
        await self._device_decision(user_code, user, True, via_pages)

    async def deny_device(self, user_code: str, user: str = "alice", *,
                          via_pages: bool = False) -> None:
        """Deny an RFC 8628 user code (the device then gets ``access_denied``)."""
        await self._device_decision(user_code, user, False, via_pages)

    async def _device_decision(self, user_code: str, user: str, approve: bool,
                               via_pages: bool) -> None:
        if via_pages:
            async with HeadlessBrowser() as browser:
                await browser.approve_device(self.device_verification_uri, user_code, user,
                                             self._password(user), approve)
            return
        grant = self.core.store.devices_by_user_code.get(user_code)
        if grant is None:
            raise KeyError("unknown user code")
        grant.decision = (self.core.store.users[user], approve)

    def _password(self, user: str) -> str:
        return self.core.store.users[user].password


async def _record(name: str, request: web.Request) -> RecordedRequest:
    body = await request.read() if request.can_read_body else b""
    form: dict[str, str] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        with contextlib.suppress(UnicodeDecodeError, ValueError):
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return RecordedRequest(
        endpoint=name, method=request.method, path=request.path, query=dict(request.query),
        headers=dict(request.headers), form=form, body=body,
    )


async def _fail(request: web.Request, failure: Failure) -> web.StreamResponse:
    """Answer with the queued failure instead of the endpoint."""
    if failure.drop_connection:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # aiohttp ends the handler quietly on a lost peer
    if failure.oversized:
        return await _oversized(request, failure)
    if failure.body is not None:
        return web.Response(status=failure.status, body=failure.body, headers=failure.headers(),
                            content_type=failure.content_type or "application/octet-stream")
    error = failure.error or ("temporarily_unavailable" if failure.status == 503
                              else "server_error")
    payload = {"error": error}
    if failure.error_description:
        payload["error_description"] = failure.error_description
    return web.json_response(payload, status=failure.status, headers=failure.headers())


async def _oversized(request: web.Request, failure: Failure) -> web.StreamResponse:
    response = web.StreamResponse(status=failure.status, headers=failure.headers())
    response.content_type = failure.content_type or "application/json"
    await response.prepare(request)
    remaining = failure.oversized or 0
    prefix = json.dumps({"access_token": ""})[:-2].encode()
    chunk = prefix + b"x" * (_OVERSIZED_CHUNK - len(prefix))
    with contextlib.suppress(ConnectionError):
        while remaining > 0:
            piece = chunk[:remaining]
            await response.write(piece)
            remaining -= len(piece)
            chunk = b"x" * _OVERSIZED_CHUNK
        await response.write_eof()
    return response

