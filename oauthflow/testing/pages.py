"""The HTML a person (or a headless test) sees: authorization, login, consent, device pages.

Real minimal forms a browser can use. Each pending authorization is a *transaction* with its
own CSRF token, sent both as a hidden form field and as a cookie (double submit): a POST
without both matching is refused with 403.
"""

from __future__ import annotations

import hmac
import html
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from authlib.oauth2.rfc6749 import OAuth2Error  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.grants import BaseGrant  # type: ignore[import-untyped]

from .authlib_server import AuthlibResponse, AuthlibServer, ParsedRequest
from .core import PATHS, ServerCore
from .endpoints import html_page, parse_params, to_web
from .models import User

__all__ = ["AuthorizationRejectedError", "Pages", "Transaction"]

_CSRF_COOKIE = "oauthflow_csrf"


class AuthorizationRejectedError(ValueError):
    """An authorization request the server refuses without redirecting (bad client/redirect)."""

    def __init__(self, error: str, description: str | None) -> None:
        super().__init__(f"{error}: {description or ''}".rstrip(": "))
        self.error = error
        self.error_description = description


@dataclass(repr=False)
class Transaction:
    """One authorization request waiting for login and consent."""

    params: tuple[tuple[str, str], ...]
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    user: User | None = None


class Pages:
    """Handlers of the interactive pages, plus the programmatic approval they share."""

    def __init__(self, core: ServerCore, authlib: AuthlibServer) -> None:
        self.core = core
        self.authlib = authlib
        self.transactions: dict[str, Transaction] = {}

    def __repr__(self) -> str:
        return f"Pages(pending={len(self.transactions)})"

    # -- shared logic -----------------------------------------------------------------
    def resolve_params(self, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Replace a PAR ``request_uri`` by the pushed parameters (RFC 9126 §4), once.

        §4: "The authorization server MUST validate authorization requests arising from a
        pushed request as it would any other authorization request"; the ``client_id`` of
        the request must be the one that pushed it.
        """
        args = dict(params)
        request_uri = args.get("request_uri")
        if request_uri is None:
            return params
        pushed = self.core.pushed.pop(request_uri, None)
        if pushed is None or pushed[2] <= self.core.now() or pushed[0] != args.get("client_id"):
            raise AuthorizationRejectedError("invalid_request_uri", "Unknown or expired")
        return list(pushed[1])

    def validate(self, params: list[tuple[str, str]]) -> BaseGrant | AuthlibResponse:
        """authlib's validation: the grant, or the redirect carrying the error (with ``iss``)."""
        parsed = ParsedRequest("GET", self.core.endpoint("authorize"), {}, tuple(params))
        try:
            return self.authlib.get_consent_grant(parsed, end_user=None)
        except ValueError:  # authlib will not echo unprintable input in error_description
            raise AuthorizationRejectedError("invalid_request", "Malformed request") from None
        except OAuth2Error as error:
            if not error.redirect_uri:
                raise AuthorizationRejectedError(error.error, error.description) from None
            response = self.authlib.handle_error_response(None, error)
            response.location = _with_iss(str(response.location), self.core.issuer)
            return response

    def decide(self, params: list[tuple[str, str]], user: User | None) -> str:
        """Approve (``user``) or deny (None); the callback URL with code or error, state, iss."""
        grant = self.validate(params)
        if isinstance(grant, AuthlibResponse):
            return str(grant.location)
        grant.request.user = user
        response = self.authlib.create_authorization_response(
            grant.request, grant_user=user, grant=grant
        )
        assert isinstance(response, AuthlibResponse)
        return str(response.location)

    # -- handlers -----------------------------------------------------------------------
    async def authorize(self, request: web.Request) -> web.Response:
        """RFC 6749 §4.1.1 authorization endpoint: validate, then show the login page."""
        try:
            params = self.resolve_params(list(request.query.items()))
            grant = self.validate(params)
        except AuthorizationRejectedError as error:
            return html_page(400, f"Authorization request refused: {error}")
        if isinstance(grant, AuthlibResponse):
            return to_web(grant)
        txn_id = secrets.token_urlsafe(16)
        txn = Transaction(tuple(params))
        self.transactions[txn_id] = txn
        client = grant.request.client.client_id
        response = _login_page(txn_id, txn.csrf, client, "")
        response.set_cookie(_CSRF_COOKIE, txn.csrf, httponly=True, samesite="Lax", path="/")
        return response

    async def login(self, request: web.Request) -> web.Response:
        """Check the username and password, then show the consent page."""
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        txn_id, txn, args = form
        user = self.core.store.users.get(args.get("username", ""))
        password = args.get("password", "")
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            return _login_page(txn_id, txn.csrf, "", "Wrong username or password.", status=401)
        txn.user = user
        scope = dict(txn.params).get("scope", "")
        return _consent_page(txn_id, txn.csrf, dict(txn.params).get("client_id", ""), scope)

    async def consent(self, request: web.Request) -> web.Response:
        """Approve or deny: redirect to the client's callback (RFC 6749 §4.1.2 / §4.1.2.1)."""
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        txn_id, txn, args = form
        if txn.user is None:
            return html_page(400, "Log in first.")
        del self.transactions[txn_id]
        approved = args.get("decision") == "approve"
        try:
            location = self.decide(list(txn.params), txn.user if approved else None)
        except AuthorizationRejectedError as error:
            return html_page(400, f"Authorization request refused: {error}")
        return web.Response(status=302, headers={"Location": location})

    async def device_page(self, request: web.Request) -> web.Response:
        """RFC 8628 §3.3: the verification page (user code, login and decision in one form)."""
        csrf = secrets.token_urlsafe(16)
        user_code = html.escape(request.query.get("user_code", ""))
        body = (
            f'<form method="post" action="{PATHS["device"]}">'
            f'<input type="hidden" name="csrf" value="{csrf}">'
            f'<label>Code <input name="user_code" value="{user_code}"></label>'
            '<label>Username <input name="username"></label>'
            '<label>Password <input type="password" name="password"></label>'
            '<button name="decision" value="approve">Approve</button>'
            '<button name="decision" value="deny">Deny</button></form>'
        )
        response = _html(200, "Connect a device", body)
        response.set_cookie(_CSRF_COOKIE, csrf, httponly=True, samesite="Lax", path="/")
        return response

    async def device_submit(self, request: web.Request) -> web.Response:
        params = await parse_params(request)
        if isinstance(params, web.Response):
            return params
        args = dict(params)
        cookie = request.cookies.get(_CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, args.get("csrf", "")):
            return html_page(403, "CSRF check failed.")
        grant = self.core.store.devices_by_user_code.get(args.get("user_code", "").upper().strip())
        if grant is None or grant.is_expired():
            return html_page(400, "Unknown or expired code.")
        user = self.core.store.users.get(args.get("username", ""))
        password = args.get("password", "")
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            return html_page(401, "Wrong username or password.")
        approved = args.get("decision") == "approve"
        grant.decision = (user, approved)
        return html_page(200, "Device approved." if approved else "Device denied.")

    # -- helpers ------------------------------------------------------------------------
    async def _form(
        self, request: web.Request
    ) -> tuple[str, Transaction, dict[str, str]] | web.Response:
        params = await parse_params(request)
        if isinstance(params, web.Response):
            return params
        args = dict(params)
        txn = self.transactions.get(args.get("txn", ""))
        if txn is None:
            return html_page(400, "Unknown or finished authorization request.")
        cookie = request.cookies.get(_CSRF_COOKIE, "")
        sent = args.get("csrf", "")
        if not (hmac.compare_digest(txn.csrf, sent) and hmac.compare_digest(txn.csrf, cookie)):
            return html_page(403, "CSRF check failed.")
        return args["txn"], txn, args


def _with_iss(location: str, issuer: str) -> str:
    """RFC 9207 §2: "including error responses" -- add ``iss`` if authlib's hook did not."""
    if "iss" in dict(parse_qsl(urlsplit(location).query)):
        return location
    from urllib.parse import urlencode

    return location + ("&" if "?" in location else "?") + urlencode({"iss": issuer})


def _html(status: int, title: str, body: str) -> web.Response:
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(status=status, text=page, content_type="text/html")


def _login_page(txn: str, csrf: str, client: str, error: str, status: int = 200) -> web.Response:
    message = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        f"{message}<p>Sign in to continue to {html.escape(client)}.</p>"
        f'<form method="post" action="{PATHS["login"]}">'
        f'<input type="hidden" name="txn" value="{txn}">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        '<label>Username <input name="username" autocomplete="username"></label>'
        '<label>Password <input type="password" name="password"></label>'
        '<button type="submit">Sign in</button></form>'
    )
    return _html(status, "Sign in", body)


def _consent_page(txn: str, csrf: str, client: str, scope: str) -> web.Response:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in scope.split())
    body = (
        f"<p>{html.escape(client)} asks for:</p><ul>{items}</ul>"
        f'<form method="post" action="{PATHS["consent"]}">'
        f'<input type="hidden" name="txn" value="{txn}">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        '<button name="decision" value="approve">Approve</button>'
        '<button name="decision" value="deny">Deny</button></form>'
    )
    return _html(200, "Authorize", body)
