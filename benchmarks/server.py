"""The benchmark's token server and protected API: small, fast, and counting everything.

Run as ``python -m benchmarks.server --port 0``: it binds two ephemeral ports on 127.0.0.1
(the token server and the API, so the two have different origins), prints one JSON line
``{"token_port": ..., "api_port": ...}`` and serves until its stdin closes (the parent
died or is done) or ``--max-seconds`` pass.

Token server (``POST /token``, RFC 6749 §4.4 and §6):

* ``client_credentials`` with ``client_secret_basic`` (RFC 6749 §2.3.1: id and secret are
  form-urlencoded before Base64) or ``client_secret_post``;
* ``refresh_token``, optionally rotating: a rotated-out refresh token gets
  ``400 {"error": "invalid_grant"}`` (RFC 6749 §5.2). The refresh token is consumed when
  the request *arrives*, so a client that stops waiting has still lost it;
* a configurable latency (slept before answering) and ``expires_in``.

API (``GET /api``, RFC 6750): 200 with a tiny JSON body for a known, unexpired bearer
token, else ``401`` with ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 §3.1).
It counts requests that arrived with an expired token (``sent_expired``) and records any
request carrying a refresh token or the client secret (``leaks``; must stay 0).

Control (``POST /control`` on the token port, JSON ``{"action": ...}``): ``reset``,
``reset_counters``, ``configure`` (``latency``, ``expires_in``, ``rotation``,
``revoke_after``), ``revoke``, ``mint`` (a static access token, optionally exempt from
revocation, for the raw-aiohttp baseline), ``mint_refresh`` and ``stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import secrets
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from benchmarks.harness import die_with_parent

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "BenchServer", "Settings", "build_apps", "main"]

CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret"

_OK_BODY = b'{"ok":true}'
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
_MISSING_TOKEN = {"WWW-Authenticate": 'Bearer realm="bench"'}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Settings:
    """What the server does; changed at run time through ``/control`` ``configure``."""

    latency: float = 0.0
    expires_in: int = 3600
    rotation: bool = True
    revoke_after: frozenset[int] = frozenset()


@dataclass
class Counters:
    """What the server saw since the last reset."""

    token_requests: int = 0
    by_grant: dict[str, int] = field(default_factory=dict)
    token_inflight: int = 0
    token_inflight_max: int = 0
    invalid_grant: int = 0
    invalid_client: int = 0
    api_requests: int = 0
    api_ok: int = 0
    api_401: int = 0
    sent_expired: int = 0
    sent_unknown: int = 0
    revocations: int = 0
    leaks: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        data = dict(self.__dict__)
        data["by_grant"] = dict(self.by_grant)
        return data


@dataclass(slots=True)
class _AccessToken:
    expires_at: float
    revocable: bool


class BenchServer:
    """State and handlers of the token server and the API (one event loop, no locks)."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.counters = Counters()
        self._access: dict[str, _AccessToken] = {}
        self._refresh: set[str] = set()
        self._refresh_ever: set[str] = set()

    # -- tokens ------------------------------------------------------------------------

    def mint_access(self, expires_in: float, *, revocable: bool = True) -> str:
        """Issue an access token valid for ``expires_in`` seconds from now."""
        value = "at-" + secrets.token_urlsafe(16)
        self._access[value] = _AccessToken(time.time() + expires_in, revocable)
        return value

    def mint_refresh(self) -> str:
        """Issue a refresh token that the token endpoint will accept once (or forever)."""
        value = "rt-" + secrets.token_urlsafe(16)
        self._refresh.add(value)
        self._refresh_ever.add(value)
        return value

    def revoke_all(self) -> None:
        """Forget every revocable access token (refresh tokens stay valid)."""
        self._access = {k: v for k, v in self._access.items() if not v.revocable}
        self.counters.revocations += 1

    def reset(self) -> None:
        """Back to the start: default settings, no tokens, zero counters."""
        self.settings = Settings()
        self.counters = Counters()
        self._access.clear()
        self._refresh.clear()
        self._refresh_ever.clear()

    # -- /token ------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.StreamResponse:
        """RFC 6749 §4.4.2 / §6 token requests; errors are §5.2 JSON objects."""
        counters = self.counters
        counters.token_requests += 1
        counters.token_inflight += 1
        counters.token_inflight_max = max(counters.token_inflight_max, counters.token_inflight)
        try:
            form = await request.post()
            grant = str(form.get("grant_type", ""))
            counters.by_grant[grant] = counters.by_grant.get(grant, 0) + 1
            status, body = self._grant(request, grant, {k: str(v) for k, v in form.items()})
            if self.settings.latency > 0:
                await asyncio.sleep(self.settings.latency)
            return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})
        finally:
            counters.token_inflight -= 1

    def _grant(
        self, request: web.Request, grant: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        client = _client_credentials(request.headers.get("Authorization"), form)
        if client is not None and client != (CLIENT_ID, CLIENT_SECRET):
            self.counters.invalid_client += 1
            return 401, {"error": "invalid_client"}
        if grant == "client_credentials":
            if client is None:
                self.counters.invalid_client += 1
                return 401, {"error": "invalid_client"}
            return 200, self._token_body(refresh_token=None)
        if grant == "refresh_token":
            presented = form.get("refresh_token", "")
            if presented not in self._refresh:
                self.counters.invalid_grant += 1
                return 400, {"error": "invalid_grant", "error_description": "unknown or used"}
            if not self.settings.rotation:
                return 200, self._token_body(refresh_token=None)
            # Rotation: the presented refresh token dies now, whatever happens next.
            self._refresh.discard(presented)
            return 200, self._token_body(refresh_token=self.mint_refresh())
        return 400, {"error": "unsupported_grant_type"}

    def _token_body(self, *, refresh_token: str | None) -> dict[str, Any]:
        settings = self.settings
        # The token is valid from when the answer leaves, after the configured latency.
        body: dict[str, Any] = {
            "access_token": self.mint_access(settings.latency + settings.expires_in),
            "token_type": "Bearer",
            "expires_in": settings.expires_in,
            "scope": "read",
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return body

    # -- /api --------------------------------------------------------------------------

    async def api(self, request: web.Request) -> web.StreamResponse:
        """RFC 6750 §2.1 bearer check; §3.1 ``invalid_token`` challenge on failure."""
        counters = self.counters
        counters.api_requests += 1
        if counters.api_requests in self.settings.revoke_after:
            self.revoke_all()
        auth = request.headers.get("Authorization", "")
        if self._leaks(request, auth):
            counters.leaks += 1
        if not auth.startswith("Bearer "):
            counters.api_401 += 1
            return web.Response(status=401, headers=_MISSING_TOKEN)
        entry = self._access.get(auth[7:])
        if entry is None:
            counters.sent_unknown += 1
        elif time.time() >= entry.expires_at:
            counters.sent_expired += 1
        else:
            counters.api_ok += 1
            return web.Response(body=_OK_BODY, content_type="application/json")
        counters.api_401 += 1
        return web.Response(status=401, headers=_INVALID_TOKEN)

    def _leaks(self, request: web.Request, auth: str) -> bool:
        """Whether an API request carries a refresh token or the client secret."""
        if auth[7:] in self._refresh_ever or CLIENT_SECRET in request.path_qs:
            return True
        return any(CLIENT_SECRET in value for value in request.headers.values())

    # -- /control ----------------------------------------------------------------------

    async def control(self, request: web.Request) -> web.StreamResponse:
        """Run one control action (see the module docstring) and answer with the stats."""
        command: dict[str, Any] = await request.json()
        action = command.get("action")
        extra: dict[str, Any] = {}
        if action == "reset":
            self.reset()
        elif action == "reset_counters":
            self.counters = Counters()
        elif action == "configure":
            self._configure(command)
        elif action == "revoke":
            self.revoke_all()
        elif action == "mint":
            extra["access_token"] = self.mint_access(
                float(command.get("expires_in", 86400)),
                revocable=bool(command.get("revocable", False)),
            )
        elif action == "mint_refresh":
            extra["refresh_token"] = self.mint_refresh()
        elif action != "stats":
            return web.json_response({"error": f"unknown action {action!r}"}, status=400)
        return web.json_response({"stats": self.counters.as_dict(), **extra})

    def _configure(self, command: dict[str, Any]) -> None:
        settings = self.settings
        if "latency" in command:
            settings.latency = float(command["latency"])
        if "expires_in" in command:
            settings.expires_in = int(command["expires_in"])
        if "rotation" in command:
            settings.rotation = bool(command["rotation"])
        if "revoke_after" in command:
            settings.revoke_after = frozenset(int(n) for n in command["revoke_after"])


def _client_credentials(authorization: str | None, form: dict[str, str]) -> tuple[str, str] | None:
    """The (id, secret) a client presented, if any.

    RFC 6749 §2.3.1: "The client identifier is encoded using the
    application/x-www-form-urlencoded encoding algorithm [...] and the encoded value is
    used as the username; the client password is encoded using the same algorithm and
    used as the password."
    """
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ("", "")
        user, _, password = decoded.partition(":")
        return unquote_plus(user), unquote_plus(password)
    if "client_secret" in form:
        return form.get("client_id", ""), form["client_secret"]
    return None


def build_apps(server: BenchServer) -> tuple[web.Application, web.Application]:
    """The token application (``/token``, ``/control``) and the API application."""
    token_app = web.Application()
    token_app.router.add_post("/token", server.token)
    token_app.router.add_post("/control", server.control)
    api_app = web.Application()
    api_app.router.add_get("/api", server.api)
    return token_app, api_app


async def _serve(max_seconds: float, port: int) -> None:
    server = BenchServer()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    runners: list[web.AppRunner] = []
    ports: list[int] = []
    for index, app in enumerate(build_apps(server)):
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port if port and index == 0 else 0)
        await site.start()
        runners.append(runner)
        ports.append(_bound_port(runner))
    _watch_stdin(lambda: loop.call_soon_threadsafe(stop.set))
    print(json.dumps({"token_port": ports[0], "api_port": ports[1]}), flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    except asyncio.TimeoutError:
        print("benchmark server: --max-seconds reached, exiting", file=sys.stderr)
    finally:
        for runner in runners:
            await runner.cleanup()


def _bound_port(runner: web.AppRunner) -> int:
    """The port the runner's one site listened on (asked for port 0)."""
    address = runner.addresses[0]
    return int(address[1])


def _watch_stdin(on_eof: Callable[[], object]) -> None:
    """Call ``on_eof`` (from a thread) when stdin closes: the parent is gone or done."""

    def wait() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            on_eof()

    threading.Thread(target=wait, name="stdin-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m benchmarks.server --port 0 [--max-seconds N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="token port (0: any); API: any")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this")
    args = parser.parse_args(argv)
    die_with_parent()
    asyncio.run(_serve(args.max_seconds, args.port))


if __name__ == "__main__":
    main()
