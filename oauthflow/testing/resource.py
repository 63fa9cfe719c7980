"""The protected resource: ``{api_url}anything`` accepts a valid bearer token (RFC 6750).

It validates the JWT access token itself (signature via the server's JWKS keys, ``iss``,
``exp``) and asks the server's table whether the token was revoked or has expired at
sub-second precision. Answers echo what a client test needs to check: who the token is for,
its scope, the path, and a SHA-256 of the body (to detect a body sent empty on a retry).
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from .core import ServerCore

__all__ = ["ProtectedResource"]

_REALM = "api"


class ProtectedResource:
    """``GET``/``POST``/any method on ``/api/{path}``."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    def __repr__(self) -> str:
        return f"ProtectedResource({self.core.issuer_url!r})"

    async def handle(self, request: web.Request) -> web.Response:
        """RFC 6750 §3: no token -> 401 without error; a bad one -> 401 ``invalid_token``.

        §3.1: "If the request lacks any authentication information (e.g., the client was
        unaware that authentication is necessary or attempted using an unsupported
        authentication method), the resource server SHOULD NOT include an error code".
        """
        body = await request.read()
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":
            return _unauthorized(f'Bearer realm="{_REALM}"')
        if not token:
            header = f'Bearer realm="{_REALM}", error="invalid_request", ' \
                     'error_description="The bearer token is empty"'
            return web.json_response({"error": "invalid_request"}, status=400,
                                     headers={"WWW-Authenticate": header})
        record, reason = self.core.check_access_token(token)
        if record is None:
            header = (f'Bearer realm="{_REALM}", error="invalid_token", '
                      f'error_description="{reason}"')
            return _unauthorized(header, {"error": "invalid_token", "error_description": reason})
        return web.json_response({
            "ok": True,
            "sub": record.subject,
            "client_id": record.client_id,
            "scope": record.scope,
            "method": request.method,
            "path": request.path,
            "body_sha256": hashlib.sha256(body).hexdigest(),
        })


def _unauthorized(header: str, body: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body or {}, status=401, headers={"WWW-Authenticate": header})
