"""A small, scriptable authorization server + API on aiohttp.web, for narrow tests.

The project's own ``oauthflow.testing.AuthorizationServer`` is the full server; this one
exists for what it cannot do simply: hold every token request on an :class:`asyncio.Event`
(deterministic concurrency tests), script exact responses, and record every byte seen.

Every token it issues carries a recognisable prefix, so a test can check that the API never
received a refresh token, an ID token or a client secret, and that the token endpoint never
received an API request's headers (:meth:`FakeServer.assert_no_cross_talk`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

CLIENT_ID = "svc:client é"
CLIENT_SECRET = "s3cret+/ é€:"
API_MARKER_HEADER = "X-Test-Api-Call"


@dataclass
class Scripted:
    """One canned token-endpoint answer."""

    status: int = 200
    body: bytes | None = None
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]


class FakeServer:
    """Token endpoint at ``/token``, API at ``/api/...``, redirects at ``/redirect``."""

    def __init__(self) -> None:
        self.base_url = ""  # set by the fixture once listening
        self.lifetime: float | None = 3600
        self.rotate_refresh_tokens = True
        self.gate: asyncio.Event | None = None
        self.token_request_arrived = asyncio.Event()
        self.scripted: deque[Scripted] = deque()
        self.token_requests: list[SeenRequest] = []
        self.api_requests: list[SeenRequest] = []
        self.issued_refresh_tokens: list[str] = []
        self.issued_id_tokens: list[str] = []
        self.valid_access: set[str] = set()
        self.valid_refresh: set[str] = set()
        self.redirect_target: str | None = None
        self.api_error = "invalid_token"
        self._serial = itertools.count(1)

    # -- knobs ----------------------------------------------------------------------------

    def script(self, *answers: Scripted) -> None:
        self.scripted.extend(answers)

    def revoke_all_access_tokens(self) -> None:
        self.valid_access.clear()

    def grant_refresh_token(self, value: str) -> None:
        self.valid_refresh.add(value)

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/token"

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def token_calls(self) -> int:
        return len(self.token_requests)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_route("*", "/api/{tail:.*}", self._api)
        app.router.add_get("/redirect", self._redirect)
        return app

    # -- checks ---------------------------------------------------------------------------

    def assert_no_cross_talk(self) -> None:
        """The API never saw a refresh token, ID token or secret; the AS never saw API headers."""
        secrets = [*self.issued_refresh_tokens, *self.issued_id_tokens, CLIENT_SECRET,
                   base64.b64encode(CLIENT_SECRET.encode()).decode()]
        for seen in self.api_requests:
            blob = json.dumps(seen.headers) + seen.body.decode("utf-8", "replace")
            for secret in secrets:
                assert secret not in blob, "the API received a credential meant for the AS"
        for seen in self.token_requests:
            assert API_MARKER_HEADER.lower() not in {k.lower() for k in seen.headers}

    # -- handlers -------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> SeenRequest:
        body = await request.read()
        form: dict[str, str] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        return SeenRequest(request.method, request.path, dict(request.headers), body, form)

    async def _token(self, request: web.Request) -> web.StreamResponse:
        seen = await self._record(request)
        self.token_requests.append(seen)
        self.token_request_arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.scripted:
            return self._scripted(self.scripted.popleft())
        if not self._client_ok(seen):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = seen.form.get("grant_type")
        if grant == "client_credentials":
            return web.json_response(self._issue(with_refresh=False))
        if grant == "refresh_token":
            return self._refresh(seen.form.get("refresh_token", ""))
        return web.json_response({"error": "unsupported_grant_type"}, status=400)

    def _scripted(self, answer: Scripted) -> web.Response:
        body = answer.body if answer.body is not None else json.dumps(answer.json_body).encode()
        return web.Response(status=answer.status, body=body, headers=answer.headers,
                            content_type=answer.content_type)

    def _client_ok(self, seen: SeenRequest) -> bool:
        header = seen.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return (unquote(user), unquote(password)) == (CLIENT_ID, CLIENT_SECRET)
        return (seen.form.get("client_id"), seen.form.get("client_secret")) == (
            CLIENT_ID, CLIENT_SECRET)

    def _refresh(self, refresh_token: str) -> web.Response:
        if refresh_token not in self.valid_refresh:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "refresh token is not valid"},
                status=400,
            )
        if self.rotate_refresh_tokens:
            self.valid_refresh.discard(refresh_token)
            return web.json_response(self._issue(with_refresh=True))
        return web.json_response(self._issue(with_refresh=False))

    def _issue(self, *, with_refresh: bool) -> dict[str, Any]:
        n = next(self._serial)
        access = f"at-{n}"
        self.valid_access.add(access)
        id_token = f"idt-{n}"
        self.issued_id_tokens.append(id_token)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                "id_token": id_token}
        if self.lifetime is not None:
            body["expires_in"] = self.lifetime
        if with_refresh:
            refresh = f"rt-{n}"
            self.valid_refresh.add(refresh)
            self.issued_refresh_tokens.append(refresh)
            body["refresh_token"] = refresh
        return body

    async def _api(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        self.api_requests.append(seen)
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if token is None:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="api"'})
        if token not in self.valid_access:
            challenge = f'Bearer realm="api", error="{self.api_error}"'
            return web.Response(status=401, text="x" * 70_000,
                                headers={"WWW-Authenticate": challenge})
        return web.json_response({"token": token, "path": request.path,
                                  "body_sha256": hashlib.sha256(seen.body).hexdigest()})

    async def _redirect(self, request: web.Request) -> web.Response:
        assert self.redirect_target is not None
        raise web.HTTPFound(self.redirect_target)
