"""aiohttp handlers of the JSON endpoints: token, revocation, introspection, device
authorization, PAR, discovery, JWKS, userinfo and end-session.

Each handler parses the HTTP request strictly (RFC 6749 §3.2: form-encoded POST, no repeated
parameters), hands it to authlib, and turns authlib's answer into an aiohttp response.
"""

from __future__ import annotations

import hmac
import html
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from .authlib_server import AuthlibResponse, AuthlibServer, ParsedRequest
from .core import PATHS, ServerCore, user_claims
from .grants import TOKEN_AUTH_METHODS
from .knobs import wire_seconds

__all__ = ["ROUTES", "Endpoints", "html_page", "oauth_error", "parse_params", "to_web"]

_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> web.Response:
    """RFC 6749 §5.2 error object."""
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers={**_NO_STORE, **(headers or {})})


def to_web(response: AuthlibResponse) -> web.Response:
    return web.Response(status=response.status, body=response.body, headers=response.headers)


async def parse_params(request: web.Request) -> list[tuple[str, str]] | web.Response:
    """The OAuth parameters of a request, or a 400 ``invalid_request`` response.

    GET: the query string. POST: the ``application/x-www-form-urlencoded`` body (RFC 6749
    §3.2: "The client MUST use the HTTP "POST" method when making access token requests").
    RFC 6749 §3.1/§3.2: "Request and response parameters MUST NOT be included more than once."
    """
    if request.method == "GET":
        params = list(request.query.items())
    else:
        if request.content_type != _FORM:
            return oauth_error("invalid_request", f"The body must be {_FORM}")
        raw = await request.read()
        try:
            params = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            return oauth_error("invalid_request", "The body is not valid form data")
    names = [name for name, _ in params]
    if len(names) != len(set(names)):
        return oauth_error("invalid_request", "A parameter is repeated")
    return params


def _parsed(request: web.Request, params: Sequence[tuple[str, str]]) -> ParsedRequest:
    return ParsedRequest(request.method, str(request.url), request.headers, tuple(params))


class Endpoints:
    """The JSON endpoint handlers of one server."""

    def __init__(self, core: ServerCore, authlib: AuthlibServer) -> None:
        self.core = core
        self.authlib = authlib

    def __repr__(self) -> str:
        return f"Endpoints({self.core!r})"

    async def token(self, request: web.Request) -> web.Response:
        """RFC 6749 §3.2 token endpoint (every grant)."""
        params = await parse_params(request)
        if isinstance(params, web.Response):
            return params
        try:
            result = self.authlib.create_token_response(_parsed(request, params))
        except ValueError:
            return _unprintable()
        return to_web(result)

    async def revoke(self, request: web.Request) -> web.Response:
        """RFC 7009 §2: 200 for valid *and* unknown tokens."""
        return await self._authlib_endpoint(request, "revocation")

    async def introspect(self, request: web.Request) -> web.Response:
        """RFC 7662 §2."""
        return await self._authlib_endpoint(request, "introspection")

    async def device_authorization(self, request: web.Request) -> web.Response:
        """RFC 8628 §3.1/3.2."""
        return await self._authlib_endpoint(request, "device_authorization")

    async def _authlib_endpoint(self, request: web.Request, name: str) -> web.Response:
        params = await parse_params(request)
        if isinstance(params, web.Response):
            return params
        try:
            result = self.authlib.create_endpoint_response(name, _parsed(request, params))
        except ValueError:
            return _unprintable()
        assert isinstance(result, AuthlibResponse)
        return to_web(result)

    async def par(self, request: web.Request) -> web.Response:
        """RFC 9126 §2 pushed authorization request (authlib has no server side: ours).

        §2.1: "The authorization server MUST ... authenticate the client in the same way as
        at the token endpoint" and "validate the pushed request as it would an authorization
        request sent to the authorization endpoint". §2.2: 201 with ``request_uri`` and
        ``expires_in``.
        """
        params = await parse_params(request)
        if isinstance(params, web.Response):
            return params
        parsed = _parsed(request, params)
        oauth_request = self.authlib.create_oauth2_request(parsed)
        from authlib.oauth2.rfc6749 import OAuth2Error  # type: ignore[import-untyped]

        try:
            client = self.authlib.authenticate_client(oauth_request, TOKEN_AUTH_METHODS, "par")
            if "request_uri" in dict(params):
                return oauth_error("invalid_request", "'request_uri' is not allowed in a PAR")
            authorize = [(k, v) for k, v in params if not k.startswith("client_")]
            authorize.append(("client_id", client.client_id))
            self.authlib.get_consent_grant(
                ParsedRequest("GET", self.core.endpoint("authorize"), {}, tuple(authorize))
            )
        except ValueError:
            return _unprintable()
        except OAuth2Error as error:
            status, body, headers = error()
            if error.redirect_uri:  # RFC 9126 §2.3: errors are JSON, never redirects
                status, body = 400, dict(error.get_body())
                headers = {"Content-Type": "application/json", **_NO_STORE}
            return to_web(self.authlib.handle_response(status, body, headers))
        request_uri = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(24)
        lifetime = self.core.settings.par_lifetime
        self.core.pushed[request_uri] = (client.client_id, authorize, self.core.now() + lifetime)
        body = {"request_uri": request_uri, "expires_in": wire_seconds(lifetime)}
        return web.json_response(body, status=201, headers=_NO_STORE)

    async def discovery(self, request: web.Request) -> web.Response:
        """RFC 8414 §3 / OIDC Discovery §4 (same document on both well-known paths)."""
        return web.json_response(self.metadata())

    def metadata(self) -> dict[str, Any]:
        core = self.core
        return {
            "issuer": core.issuer,
            "authorization_endpoint": core.endpoint("authorize"),
            "token_endpoint": core.endpoint("token"),
            "device_authorization_endpoint": core.endpoint("device_authorization"),
            "revocation_endpoint": core.endpoint("revoke"),
            "introspection_endpoint": core.endpoint("introspect"),
            "userinfo_endpoint": core.endpoint("userinfo"),
            "jwks_uri": core.endpoint("jwks"),
            "pushed_authorization_request_endpoint": core.endpoint("par"),
            "end_session_endpoint": core.endpoint("end_session"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [
                "authorization_code", "client_credentials", "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access", "read", "write"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
                                 "name", "email", "email_verified", "preferred_username"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ["HS256", "RS256", "ES256"],
            "revocation_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "authorization_response_iss_parameter_supported": True,
            "require_pushed_authorization_requests": False,
        }

    async def jwks(self, request: web.Request) -> web.Response:
        """RFC 7517 §5 JWK Set of every signing key (current and rotated-out)."""
        return web.json_response(self.core.keys.jwks())

    async def userinfo(self, request: web.Request) -> web.Response:
        """OIDC Core §5.3: claims of the user of a valid access token with ``openid`` scope."""
        token = _bearer(request)
        if token is None:
            return _challenge(401, 'Bearer realm="userinfo"')
        record, reason = self.core.check_access_token(token)
        if record is None:
            return _challenge(401, _bearer_error("userinfo", "invalid_token", reason))
        if record.user is None or "openid" not in record.scope.split():
            header = _bearer_error("userinfo", "insufficient_scope", "The 'openid' scope is needed")
            return _challenge(403, header)
        return web.json_response(user_claims(record.user, record.scope))

    async def end_session(self, request: web.Request) -> web.Response:
        """OIDC RP-Initiated Logout 1.0 §2/§3 (a small endpoint of our own).

        "post_logout_redirect_uri ... MUST have been previously registered"; ``state`` is
        passed back. Unknown or unregistered redirect targets get a 400 page, never a redirect.
        """
        params = await parse_params(request)
        if isinstance(params, web.Response):
            return params
        args = dict(params)
        client_id = args.get("client_id")
        hint = args.get("id_token_hint")
        if hint:
            claims = self.core.keys.verify(hint)
            if claims is None or claims.get("iss") != self.core.issuer:
                return html_page(400, "Invalid id_token_hint")
            aud = claims.get("aud")
            audiences = aud if isinstance(aud, list) else [aud]
            if client_id and client_id not in audiences:
                return html_page(400, "client_id does not match id_token_hint")
            client_id = client_id or (audiences[0] if audiences else None)
        target = args.get("post_logout_redirect_uri")
        response: web.Response
        if target:
            client = self.core.store.clients.get(client_id or "")
            registered = client.post_logout_redirect_uris if client else ()
            if not any(hmac.compare_digest(target, uri) for uri in registered):
                return html_page(400, "post_logout_redirect_uri is not registered")
            state = args.get("state")
            query = urlencode({"state": state}) if state else ""
            location = target + (("&" if "?" in target else "?") + query if query else "")
            response = web.Response(status=302, headers={"Location": location})
        else:
            response = html_page(200, "You are signed out.")
        response.del_cookie("oauthflow_session", path="/")
        return response


def _unprintable() -> web.Response:
    """authlib refuses to build an error whose description would echo characters outside
    RFC 6749 §5.2's set (it raises ValueError); the request was malformed either way."""
    return oauth_error("invalid_request", "The request contains characters that are not allowed")


def _bearer(request: web.Request) -> str | None:
    """RFC 6750 §2.1 ``Authorization: Bearer <token>``; None when absent or another scheme."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _bearer_error(realm: str, error: str, description: str) -> str:
    safe = description.replace('"', "'")
    return f'Bearer realm="{realm}", error="{error}", error_description="{safe}"'


def _challenge(status: int, header: str) -> web.Response:
    return web.json_response(
        {"error": "invalid_token"} if "error=" in header else {},
        status=status,
        headers={"WWW-Authenticate": header, **_NO_STORE},
    )


def html_page(status: int, message: str) -> web.Response:
    text = f"<!doctype html><title>oauthflow test server</title><p>{html.escape(message)}</p>"
    return web.Response(status=status, text=text, content_type="text/html")


#: Routes of these handlers: (method, path, handler name, endpoint name for the knobs).
ROUTES: list[tuple[str, str, str, str]] = [
    ("POST", PATHS["token"], "token", "token"),
    ("POST", PATHS["revoke"], "revoke", "revoke"),
    ("POST", PATHS["introspect"], "introspect", "introspect"),
    ("POST", PATHS["device_authorization"], "device_authorization", "device_authorization"),
    ("POST", PATHS["par"], "par", "par"),
    ("GET", "/.well-known/openid-configuration", "discovery", "discovery"),
    ("GET", "/.well-known/oauth-authorization-server", "discovery", "discovery"),
    ("GET", PATHS["jwks"], "jwks", "jwks"),
    ("GET", PATHS["userinfo"], "userinfo", "userinfo"),
    ("POST", PATHS["userinfo"], "userinfo", "userinfo"),
    ("GET", PATHS["end_session"], "end_session", "end_session"),
    ("POST", PATHS["end_session"], "end_session", "end_session"),
]
