"""The authorization code grant, without I/O: the login URL, PAR, the callback check, the
code exchange request.

Spec: RFC 6749 §4.1 (authorization code grant), §10.12 (CSRF and ``state``); RFC 7636
(PKCE, S256 only); RFC 9207 (``iss`` in the authorization response); RFC 9126 (pushed
authorization requests); RFC 8707 (``resource``); OpenID Connect Core §3.1.2.1
(``nonce``, ``prompt``, ``login_hint``, ``max_age``).

The order of the callback check is the security property (RFC 9207 §2.4, RFC 6749 §10.12,
oauth4webapi's ``validateAuthResponse``): ``iss`` first, then ``state``, and only then an
``error`` is surfaced, so an attacker cannot push an error (or a code) into someone else's
login.

Security: :class:`AuthorizationRequest` holds the PKCE verifier, ``state`` and ``nonce``
(its ``repr`` shows none of them, nor the URL's query); no error message here quotes a
code, a state or a verifier.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import AuthorizationResponseError, ConfigurationError, InvalidResponseError
from oauthflow.protocol.http import HttpRequest
from oauthflow.protocol.par import build_par_request, parse_par_response
from oauthflow.protocol.params import Params, pairs, resource_params, scope_param
from oauthflow.protocol.pkce import S256, code_challenge_s256, generate_code_verifier
from oauthflow.protocol.snippet import strip_controls
from oauthflow.protocol.token_endpoint import build_token_request
from oauthflow.protocol.urls import require_secure_url

__all__ = [
    "AUTHORIZATION_CODE",
    "AuthorizationRequest",
    "authorization_parameters",
    "build_authorization_request",
    "build_code_exchange_request",
    "build_par_request",  # defined in oauthflow.protocol.par
    "parse_par_response",  # defined in oauthflow.protocol.par
    "pushed_authorization_url",
    "validate_callback",
]

AUTHORIZATION_CODE: Final = "authorization_code"

# Members this module sets; ``extra_params`` may not set them.
_OWNED: Final = frozenset({
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "resource", "prompt", "login_hint",
    "max_age", "request_uri",
})
# Client credentials are never authorization request members.
_CREDENTIALS: Final = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_RANDOM_BYTES: Final = 32  # 256 bits, 43 base64url characters
# 22 base64url characters carry 132 bits: the least accepted for a caller's own value.
_MIN_RANDOM_CHARS: Final = 22
# RFC 6749 Appendix A.5: state = 1*VSCHAR, VSCHAR = %x20-7E.
_VSCHAR: Final = re.compile(r"[\x20-\x7e]+")
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_URI_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class AuthorizationRequest:
    """A login in progress: where to send the browser, and what to check when it returns.

    Keep it on the server side (in the user's server-side session, never in a cookie or
    the page): it holds the PKCE verifier. Use it for **one** exchange; start a new login
    for the next one (the server refuses a code twice anyway).

    Attributes:
        url: the authorization URL to send the user's browser to.
        state: the CSRF token sent in ``url`` (RFC 6749 §10.12). Not shown by ``repr``.
        code_verifier: the PKCE secret (RFC 7636 §4.1). Not shown by ``repr``.
        nonce: sent when ``openid`` is in scope (OIDC Core §3.1.2.1), for the ID token's
            ``nonce`` claim; ``None`` otherwise. Not shown by ``repr``.
        redirect_uri: the redirect URI sent, repeated in the code exchange (RFC 6749 §4.1.3).
        scope: the scopes requested.
        issuer: the ``iss`` expected in the callback (the server's issuer identifier).
        require_iss: the server advertises ``authorization_response_iss_parameter_supported``,
            so a callback without ``iss`` is refused (RFC 9207 §2.4).
        created_at: wall-clock seconds since the epoch when the request was built.
        resource: the RFC 8707 resource indicators requested (sent again at the exchange).
        parameters: the authorization request's members, as sent in ``url`` or pushed with
            PAR. Not shown by ``repr``.
    """

    url: str
    state: str
    code_verifier: str
    nonce: str | None
    redirect_uri: str
    scope: tuple[str, ...]
    issuer: str | None
    require_iss: bool
    created_at: float
    resource: tuple[str, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return (
            f"AuthorizationRequest(url={endpoint + '?...'!r}, redirect_uri={self.redirect_uri!r}, "
            f"scope={self.scope!r}, issuer={self.issuer!r}, require_iss={self.require_iss!r}, "
            f"created_at={self.created_at!r})"
        )


# --- the authorization request (RFC 6749 §4.1.1) -------------------------------------


def build_authorization_request(
    server: ServerMetadata,
    client: ClientConfig,
    *,
    redirect_uri: str | None = None,
    scope: Sequence[str] = (),
    resource: Sequence[str] = (),
    prompt: str | None = None,
    login_hint: str | None = None,
    max_age: int | None = None,
    extra_params: Params = (),
    now: float,
    state: str | None = None,
    nonce: str | None = None,
    code_verifier: str | None = None,
    allow_insecure_http: bool = False,
) -> AuthorizationRequest:
    """Start a login: fresh ``state``, PKCE verifier and (for ``openid``) ``nonce``, and the URL.

    Args:
        server: needs ``authorization_endpoint``; its ``issuer`` is the ``iss`` expected back.
        client: its ``client_id`` is sent; ``redirect_uri`` defaults to the client's.
        scope: scope tokens (RFC 6749 §3.3); with ``"openid"`` a ``nonce`` is sent.
        resource: RFC 8707 resource indicators, one ``resource`` member each.
        prompt, login_hint, max_age: OpenID Connect Core §3.1.2.1 members.
        extra_params: any other member (e.g. ``audience``, ``acr_values``), in order.
        now: wall-clock seconds since the epoch (``created_at``).
        state, nonce, code_verifier: your own values instead of fresh random ones (tests,
            or a state bound to your session); ``state`` and ``nonce`` need at least 22
            characters of ASCII, the verifier 43-128 unreserved ones.
        allow_insecure_http: accept an ``http://`` authorization endpoint that is not
            loopback. For test rigs only.

    Raises:
        ConfigurationError: no authorization endpoint or redirect URI, an unsafe
            endpoint, an invalid member, or ``extra_params`` setting a member this
            function owns. Nothing secret is quoted.
    """
    endpoint = server.authorization_endpoint
    if not endpoint:
        raise ConfigurationError("the server metadata has no authorization_endpoint")
    require_secure_url(
        endpoint, what="authorization_endpoint", allow_insecure_http=allow_insecure_http
    )
    require_iss = server.extra.get("authorization_response_iss_parameter_supported") is True
    if require_iss and not server.issuer:
        raise ConfigurationError(
            "the server sends 'iss' in authorization responses (RFC 9207) but the metadata "
            "has no issuer to compare it with"
        )
    redirect = _redirect_uri(redirect_uri if redirect_uri is not None else client.redirect_uri)
    if isinstance(scope, str):
        raise ConfigurationError('scope must be a sequence of scope tokens, e.g. ["a", "b"]')
    state = _random_or_checked("state", state)
    if nonce is not None or "openid" in scope:
        nonce = _random_or_checked("nonce", nonce)
    verifier = code_verifier if code_verifier is not None else generate_code_verifier()
    parameters = authorization_parameters(
        client, redirect_uri=redirect, scope=scope, state=state,
        code_challenge=code_challenge_s256(verifier), nonce=nonce, resource=resource,
        prompt=prompt, login_hint=login_hint, max_age=max_age, extra_params=extra_params,
    )
    return AuthorizationRequest(
        url=_with_query(endpoint, parameters), state=state, code_verifier=verifier,
        nonce=nonce, redirect_uri=redirect, scope=tuple(scope), issuer=server.issuer,
        require_iss=require_iss, created_at=now, resource=tuple(resource),
        parameters=parameters,
    )


def authorization_parameters(
    client: ClientConfig,
    *,
    redirect_uri: str,
    scope: Sequence[str],
    state: str,
    code_challenge: str,
    nonce: str | None = None,
    resource: Sequence[str] = (),
    prompt: str | None = None,
    login_hint: str | None = None,
    max_age: int | None = None,
    extra_params: Params = (),
) -> tuple[tuple[str, str], ...]:
    """The members of an authorization request, in order (the URL query, or a PAR body).

    RFC 6749 §4.1.1: ``response_type`` "REQUIRED. Value MUST be set to "code"",
    ``client_id`` REQUIRED, ``redirect_uri``, ``scope``, ``state`` "RECOMMENDED" (always
    sent here); RFC 7636 §4.3: ``code_challenge`` and ``code_challenge_method``.

    Raises:
        ConfigurationError: an invalid scope token, resource URI, ``prompt``,
            ``login_hint`` or ``max_age``, or ``extra_params`` setting an owned member.
    """
    extra = pairs(extra_params)
    for name, _ in extra:
        if name in _OWNED or name in _CREDENTIALS:
            raise ConfigurationError(
                f"parameter {name!r} is set by oauthflow; pass it as its own argument"
            )
    members = [
        ("response_type", "code"),
        ("client_id", client.client_id),
        ("redirect_uri", redirect_uri),
        *scope_param(scope),
        ("state", state),
    ]
    if nonce is not None:
        members.append(("nonce", nonce))
    members += [("code_challenge", code_challenge), ("code_challenge_method", S256)]
    members += resource_params(resource)
    for name, value in (("prompt", prompt), ("login_hint", login_hint)):
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{name} must be a non-empty string")
            members.append((name, value))
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ConfigurationError("max_age must be a non-negative integer of seconds")
        members.append(("max_age", str(max_age)))
    return (*members, *extra)


def _redirect_uri(value: str | None) -> str:
    """RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI ... The
    endpoint URI MUST NOT include a fragment component." Custom schemes (RFC 8252 §7.1)
    are allowed."""
    if not value:
        raise ConfigurationError("a redirect_uri is needed (argument or ClientConfig)")
    if not isinstance(value, str) or not _URI_SCHEME.match(value):
        raise ConfigurationError("redirect_uri must be an absolute URI (RFC 6749 §3.1.2)")
    if "#" in value:
        raise ConfigurationError("redirect_uri must not have a fragment (RFC 6749 §3.1.2)")
    return value


def _random_or_checked(name: str, value: str | None) -> str:
    """A fresh 256-bit value, or the caller's, if it has enough characters to be random."""
    if value is None:
        return secrets.token_urlsafe(_RANDOM_BYTES)
    if (not isinstance(value, str) or len(value) < _MIN_RANDOM_CHARS
            or not _VSCHAR.fullmatch(value)):
        raise ConfigurationError(
            f"{name} must be at least {_MIN_RANDOM_CHARS} printable ASCII characters of "
            "random data (>= 128 bits; RFC 6749 §10.10)"
        )
    return value


def _with_query(endpoint: str, members: Sequence[tuple[str, str]]) -> str:
    """``endpoint`` with ``members`` added to its query.

    RFC 6749 §3.1: "The endpoint URI MAY include an "application/x-www-form-urlencoded"
    formatted query component, which MUST be retained when adding additional query
    parameters."
    """
    parts = urlsplit(endpoint)
    kept = parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in members}
    if any(name in names for name, _ in kept):
        raise ConfigurationError(
            "the authorization_endpoint's own query repeats a member oauthflow sends"
        )
    query = "&".join(part for part in (parts.query, urlencode(list(members))) if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


# --- the browser URL of a pushed request (RFC 9126 §4) --------------------------------


def pushed_authorization_url(server: ServerMetadata, client: ClientConfig, request_uri: str) -> str:
    """The authorization URL for a pushed request (RFC 9126 §4).

    "client_id REQUIRED", "request_uri REQUIRED": nothing else is sent through the browser.
    """
    endpoint = server.authorization_endpoint
    if not endpoint:
        raise ConfigurationError("the server metadata has no authorization_endpoint")
    return _with_query(endpoint, (("client_id", client.client_id), ("request_uri", request_uri)))


# --- the callback (RFC 6749 §4.1.2, RFC 9207 §2.4) ------------------------------------


def validate_callback(pending: AuthorizationRequest, callback: str | Mapping[str, str]) -> str:
    """Check the redirect back from the authorization endpoint; return the code.

    Args:
        pending: the request this login started with.
        callback: the URL the browser was sent to (its query is read; ``response_mode``
            ``query``), a bare query string, or the parameters (e.g. aiohttp's
            ``request.query``, or the form of a ``form_post`` callback).

    The checks, in this order:

    1. ``iss`` (RFC 9207 §2.4): "clients MUST reject authorization responses without the
       iss parameter" when the server advertises it (``iss_missing``); "If the value does
       not match the expected issuer identifier, clients MUST reject the authorization
       response" (``iss_mismatch``, simple string comparison). Not checked when the
       expected issuer is unknown (``ServerMetadata.issuer`` is ``None``).
    2. ``state`` (RFC 6749 §10.12), compared in constant time: ``state_missing``,
       ``state_mismatch``.
    3. ``error`` (RFC 6749 §4.1.2.1): only now surfaced, as
       :class:`AuthorizationResponseError`.
    4. ``code``: ``code_missing`` without one.

    A member that these checks read and that appears twice is refused
    (``invalid_field_value``): RFC 6749 §3.1 "parameters MUST NOT be included more than once".

    Raises:
        InvalidResponseError: a check failed (``.code`` says which); no value is quoted.
        AuthorizationResponseError: the server redirected back with an error.
        ConfigurationError: ``callback`` is a mapping with non-string names or values.
    """
    members = _callback_members(callback)
    iss = _single(members, "iss")
    if pending.issuer is not None:
        if iss is None and pending.require_iss:
            raise InvalidResponseError(
                InvalidResponseError.ISS_MISSING,
                "the callback has no 'iss' but the server always sends one (RFC 9207)",
            )
        if iss is not None and iss != pending.issuer:
            raise InvalidResponseError(
                InvalidResponseError.ISS_MISMATCH,
                "the callback's 'iss' is not the issuer the request was sent to (RFC 9207)",
            )
    state = _single(members, "state")
    if not state:
        raise InvalidResponseError(
            InvalidResponseError.STATE_MISSING, "the callback has no 'state'"
        )
    if not hmac.compare_digest(_utf8(state), _utf8(pending.state)):
        raise InvalidResponseError(
            InvalidResponseError.STATE_MISMATCH,
            "the callback's 'state' is not this login's (another login, or forged)",
        )
    error = _single(members, "error")
    if error:
        description = _single(members, "error_description")
        uri = _single(members, "error_uri")
        raise AuthorizationResponseError(
            strip_controls(error).strip(),
            strip_controls(description).strip() if description else None,
            strip_controls(uri).strip() if uri else None,
        )
    code = _single(members, "code")
    if not code:
        raise InvalidResponseError(InvalidResponseError.CODE_MISSING, "the callback has no 'code'")
    return code


def _callback_members(callback: str | Mapping[str, str]) -> dict[str, list[str]]:
    """Name -> values of the callback's parameters (a multi-dict's repeats are kept)."""
    if isinstance(callback, str):
        before_fragment = callback.partition("#")[0]
        query = before_fragment.partition("?")[2] if "?" in before_fragment else before_fragment
        pairs = parse_qsl(query, keep_blank_values=True)
    elif isinstance(callback, Mapping):
        pairs = list(callback.items())
        if not all(isinstance(n, str) and isinstance(v, str) for n, v in pairs):
            raise ConfigurationError("callback parameters must be strings")
    else:
        raise ConfigurationError("callback must be a URL or a mapping of its parameters")
    members: dict[str, list[str]] = {}
    for name, value in pairs:
        members.setdefault(name, []).append(value)
    return members


def _utf8(text: str) -> bytes:
    # compare_digest takes ASCII-only str; bytes work for any text (lone surrogates too).
    return text.encode("utf-8", errors="surrogatepass")


def _single(members: Mapping[str, list[str]], name: str) -> str | None:
    values = members.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidResponseError(
            InvalidResponseError.INVALID_FIELD_VALUE,
            f"the callback repeats {name!r} (RFC 6749 §3.1)",
        )
    return values[0]


# --- the token request (RFC 6749 §4.1.3) ----------------------------------------------


def build_code_exchange_request(
    token_endpoint: str,
    client: ClientConfig,
    pending: AuthorizationRequest,
    code: str,
    *,
    now: float,
    resource: Sequence[str] | None = None,
) -> HttpRequest:
    """The token request that trades ``code`` for tokens (RFC 6749 §4.1.3, RFC 7636 §4.5).

    "grant_type REQUIRED. Value MUST be set to "authorization_code"", "code REQUIRED",
    "redirect_uri REQUIRED, if the "redirect_uri" parameter was included in the
    authorization request ... and their values MUST be identical" (always sent, as sent);
    RFC 7636 §4.5 "code_verifier REQUIRED". ``resource`` (RFC 8707 §2.2) defaults to the
    authorization request's indicators; pass ``()`` to send none.

    Raises:
        ConfigurationError: an empty code, an invalid resource URI, or a client
            authentication problem.
    """
    if not isinstance(code, str) or not code:
        raise ConfigurationError("the authorization code must be a non-empty string")
    indicators = pending.resource if resource is None else resource
    members = [
        ("code", code),
        ("redirect_uri", pending.redirect_uri),
        ("code_verifier", pending.code_verifier),
        *resource_params(indicators),
    ]
    return build_token_request(token_endpoint, client, AUTHORIZATION_CODE, members, now=now)
