"""Token introspection: ask the authorization server whether a token is active, and about it.

Spec: RFC 7662 §2.1 (request), §2.2 (response), §2.3 (error response); RFC 7519 §4.1
(the JWT claim names the response reuses).

The parser is strict about types: ``active`` must be a JSON boolean (a string ``"true"``
is refused, since reading it as true would accept a token the server did not vouch for),
timestamps must be numbers, ``aud`` a string or a list of strings. An inactive answer is
read as just that: its other members are ignored.

Security: the request carries the token and the client's credentials (its ``repr`` shows
member names only); errors name the offending member, never its value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from oauthflow.config import ClientConfig
from oauthflow.errors import InvalidResponseError
from oauthflow.protocol._token_post import TokenTypeHint, build_token_post
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.responses import raise_for_error_response

__all__ = [
    "Introspection",
    "TokenTypeHint",
    "build_introspection_request",
    "parse_introspection_response",
]

_STRING_MEMBERS: Final = ("client_id", "username", "token_type", "sub", "iss", "jti")
_TIME_MEMBERS: Final = ("exp", "iat", "nbf")
# "error" too: an empty or null "error" is no error (see raise_for_error_response), nor an extra.
_KNOWN_MEMBERS: Final = frozenset(
    {"active", "scope", "aud", "error", *_STRING_MEMBERS, *_TIME_MEMBERS}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Introspection:
    """What the authorization server said about a token (RFC 7662 §2.2).

    Attributes:
        active: "whether or not the presented token is currently active". Only ``True``
            means the token may be accepted; every other attribute is ``None`` (and
            ``extra`` empty) when it is ``False``.
        scope: the token's scopes, split on spaces.
        client_id: the client the token was issued to.
        username: "human-readable identifier for the resource owner".
        token_type: e.g. ``"Bearer"``.
        exp, iat, nbf: expiry, issue and not-before times, seconds since the epoch.
        sub: the subject (usually the resource owner's machine-readable id).
        aud: the intended audiences, always as a tuple.
        iss: the issuer of the token.
        jti: the token's identifier.
        extra: every other member, as received (``repr`` shows none of it).
    """

    active: bool
    scope: tuple[str, ...] | None = None
    client_id: str | None = None
    username: str | None = None
    token_type: str | None = None
    exp: float | None = None
    iat: float | None = None
    nbf: float | None = None
    sub: str | None = None
    aud: tuple[str, ...] | None = None
    iss: str | None = None
    jti: str | None = None
    extra: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


def build_introspection_request(
    endpoint: str,
    client: ClientConfig,
    token: str,
    *,
    token_type_hint: TokenTypeHint | None = None,
    now: float,
    assertion_audience: str | None = None,
) -> HttpRequest:
    """Build an introspection request (RFC 7662 §2.1).

    "The protected resource calls the introspection endpoint using an HTTP POST request
    with parameters sent as "application/x-www-form-urlencoded" data": "token REQUIRED"
    and "token_type_hint OPTIONAL". "To prevent token scanning attacks, the endpoint MUST
    also require some form of authorization to access this endpoint, such as client
    authentication as described in OAuth 2.0 [RFC6749]": the client's credentials are sent
    as at the token endpoint.

    Args:
        endpoint: the introspection endpoint URL.
        client: the client (or resource server) and how it authenticates.
        token: the token to ask about.
        token_type_hint: ``"access_token"`` or ``"refresh_token"``.
        now: wall-clock seconds since the epoch (JWT client assertions).
        assertion_audience: the ``aud`` of a JWT client assertion; defaults to
            ``endpoint`` (the flows pass the token endpoint, accepted everywhere).

    Raises:
        ConfigurationError: an empty token, an unknown hint, or unusable client credentials.
    """
    return build_token_post(
        endpoint, client, token, token_type_hint=token_type_hint, now=now,
        assertion_audience=assertion_audience,
    )


def parse_introspection_response(response: HttpResponse) -> Introspection:
    """Read an introspection response (RFC 7662 §2.2), or raise its error (§2.3).

    "active REQUIRED. Boolean indicator of whether or not the presented token is currently
    active." "If the introspection call is properly authorized but the token is not
    active, does not exist on this server, or the protected resource is not allowed to
    introspect this particular token, then the authorization server MUST return an
    introspection response with the "active" field set to "false"." The server "SHOULD NOT
    include any additional information about an inactive token", so none is read.

    Raises:
        OAuthError: an error object (§2.3: e.g. ``invalid_client`` with 401), at any status.
        InvalidResponseError: ``missing_field`` (no ``active``), ``invalid_field_type``
            (``active`` not a boolean, a timestamp not a number, ``aud`` not a string or
            list of strings, ...), ``invalid_field_value`` (a negative or non-finite
            timestamp), or one of :func:`raise_for_error_response`'s codes.
    """
    document = raise_for_error_response(response)
    status = response.status
    if "active" not in document or document["active"] is None:
        raise _invalid(InvalidResponseError.MISSING_FIELD, "member 'active' is missing", status)
    active = document["active"]
    if not isinstance(active, bool):
        raise _invalid(
            InvalidResponseError.INVALID_FIELD_TYPE, "member 'active' must be a boolean", status
        )
    if not active:
        return Introspection(active=False)
    text = {name: _optional_str(document, name, status) for name in _STRING_MEMBERS}
    time = {name: _optional_time(document, name, status) for name in _TIME_MEMBERS}
    scope = _optional_str(document, "scope", status)
    return Introspection(
        active=True,
        scope=None if scope is None else tuple(scope.split()),
        client_id=text["client_id"],
        username=text["username"],
        token_type=text["token_type"],
        exp=time["exp"],
        iat=time["iat"],
        nbf=time["nbf"],
        sub=text["sub"],
        aud=_audience(document.get("aud"), status),
        iss=text["iss"],
        jti=text["jti"],
        extra={k: v for k, v in document.items() if k not in _KNOWN_MEMBERS},
    )


def _invalid(code: str, message: str, status: int) -> InvalidResponseError:
    return InvalidResponseError(code, message, status=status)


def _optional_str(document: Mapping[str, Any], name: str, status: int) -> str | None:
    value = document.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(
        InvalidResponseError.INVALID_FIELD_TYPE, f"member {name!r} must be a string", status
    )


def _optional_time(document: Mapping[str, Any], name: str, status: int) -> float | None:
    """A NumericDate (RFC 7519 §2): seconds since the epoch, a JSON number.

    RFC 7662 §2.2: "Integer timestamp, measured in the number of seconds since January 1
    1970 UTC"; fractions are accepted (RFC 7519 allows them), strings and booleans are not.
    """
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(
            InvalidResponseError.INVALID_FIELD_TYPE, f"member {name!r} must be a number", status
        )
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise _invalid(
            InvalidResponseError.INVALID_FIELD_VALUE,
            f"member {name!r} must be a non-negative, finite number of seconds",
            status,
        )
    return seconds


def _audience(value: object, status: int) -> tuple[str, ...] | None:
    """``aud``: "Service-specific string identifier or list of string identifiers" (§2.2)."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise _invalid(
        InvalidResponseError.INVALID_FIELD_TYPE,
        "member 'aud' must be a string or a list of strings",
        status,
    )
