"""Token endpoint requests and responses: build the POST, read the token or the error.

Spec: RFC 6749 §3.2 (token endpoint), §3.3 (scope), §4.4 (client credentials), §6
(refresh), §5.1 (successful response), §5.2 (error response); RFC 8707 §2 (``resource``);
RFC 8693 (token exchange, through :func:`build_token_request`).

The parser is lenient where providers differ harmlessly and strict where a wrong type
would corrupt state:

- the body must be a JSON object and an ``error`` member is an error at any status (see
  :mod:`oauthflow.protocol.responses`, re-exported here as :func:`raise_for_error_response`);
- ``expires_in`` may be a number or a numeric string ("at least PayPal returns string,
  while most return number", golang/oauth2); a bool, a negative or a non-finite number is
  rejected; without it, the ``exp`` of a JWT access token is used (unverified);
- ``null`` for an optional member, and an empty ``refresh_token`` / ``id_token``, count as
  absent (so a refresh response never wipes a stored refresh token with ``""``).

Security: error messages name the offending member, never its value, and a JSON body is
never quoted in an error (any member may be a credential).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from oauthflow.config import ClientConfig
from oauthflow.errors import ConfigurationError, InvalidResponseError
from oauthflow.protocol.client_auth import build_client_auth
from oauthflow.protocol.http import FORM_CONTENT_TYPE, HttpRequest, HttpResponse
from oauthflow.protocol.jwt_exp import unverified_jwt_exp
from oauthflow.protocol.members import invalid, optional_str, required_str
from oauthflow.protocol.params import (
    Params,
    pairs,
    refuse_owned,
    resource_params,
    scope_param,
)
from oauthflow.protocol.responses import raise_for_error_response
from oauthflow.token import Token

__all__ = [
    "CLIENT_CREDENTIALS",
    "REFRESH_TOKEN",
    "TOKEN_EXCHANGE",
    "Params",
    "build_client_credentials_request",
    "build_refresh_request",
    "build_token_request",
    "parse_token_response",
    "raise_for_error_response",  # defined in oauthflow.protocol.responses
]

CLIENT_CREDENTIALS: Final = "client_credentials"
REFRESH_TOKEN: Final = "refresh_token"
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"


# Members that only this module may set: the grant type and the client's credentials.
_RESERVED_PARAMS: Final = frozenset(
    {"grant_type", "client_secret", "client_assertion", "client_assertion_type"}
)
_NUMERIC_STRING: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_KNOWN_MEMBERS: Final = frozenset(
    {"access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token", "error"}
)


# --- requests -----------------------------------------------------------------------


def build_token_request(
    token_endpoint: str,
    client: ClientConfig,
    grant_type: str,
    params: Params = (),
    *,
    now: float,
    assertion_audience: str | None = None,
) -> HttpRequest:
    """Build a token request for any grant, extension grants included (RFC 6749 §4.5).

    RFC 6749 §3.2: "The client MUST use the HTTP "POST" method when making access token
    requests." The form is ``grant_type`` first, then ``params`` in order, then the client
    authentication members; client authentication headers are added (§2.3).

    Args:
        token_endpoint: the token endpoint URL (its security is checked by the caller).
        client: the client and its authentication method.
        grant_type: e.g. ``"client_credentials"`` or :data:`TOKEN_EXCHANGE`.
        params: grant parameters as pairs (a name may repeat) or a mapping.
        now: wall-clock seconds since the epoch (for JWT client assertions).
        assertion_audience: the ``aud`` of a JWT client assertion; defaults to the token
            endpoint URL. Some servers want their issuer identifier instead.

    Raises:
        ConfigurationError: ``params`` tries to set ``grant_type`` or a client credential,
            repeats a member the client authentication sets, or is not all strings.
    """
    if not grant_type:
        raise ConfigurationError("grant_type must not be empty")
    members = pairs(params)
    auth = build_client_auth(client, audience=assertion_audience or token_endpoint, now=now)
    auth_names = {name for name, _ in auth.form}
    for name, _ in members:
        if name in _RESERVED_PARAMS or name in auth_names:
            raise ConfigurationError(
                f"parameter {name!r} is set by oauthflow (grant type or client authentication)"
            )
    headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE}
    headers.update(auth.headers)
    return HttpRequest(
        method="POST",
        url=token_endpoint,
        headers=headers,
        form=(("grant_type", grant_type), *members, *auth.form),
    )


def build_client_credentials_request(
    token_endpoint: str,
    client: ClientConfig,
    *,
    scope: Sequence[str] | None = None,
    resource: Sequence[str] = (),
    extra_params: Params = (),
    now: float,
) -> HttpRequest:
    """Build a client credentials token request (RFC 6749 §4.4.2).

    Args:
        scope: scope tokens, sent space-separated; omitted when ``None`` or empty.
        resource: target resource URIs, one ``resource`` member each (RFC 8707 §2).
        extra_params: more members (e.g. ``audience``), appended in order.

    Raises:
        ConfigurationError: an invalid scope token or resource URI, or ``extra_params``
            setting ``scope`` or a reserved member.
    """
    extra = pairs(extra_params)
    refuse_owned(extra, {"scope"})
    params = [*scope_param(scope), *resource_params(resource), *extra]
    return build_token_request(token_endpoint, client, CLIENT_CREDENTIALS, params, now=now)


def build_refresh_request(
    token_endpoint: str,
    client: ClientConfig,
    refresh_token: str,
    *,
    scope: Sequence[str] | None = None,
    resource: Sequence[str] = (),
    extra_params: Params = (),
    now: float,
) -> HttpRequest:
    """Build a refresh request (RFC 6749 §6).

    "scope OPTIONAL. The scope of the access request as described by Section 3.3. The
    requested scope MUST NOT include any scope not originally granted by the resource
    owner, and if omitted is treated as equal to the scope originally granted".

    Raises:
        ConfigurationError: an empty refresh token, an invalid scope token or resource
            URI, or ``extra_params`` setting ``refresh_token``, ``scope`` or a reserved
            member.
    """
    if not isinstance(refresh_token, str) or not refresh_token:
        raise ConfigurationError("refresh_token must be a non-empty string")
    extra = pairs(extra_params)
    refuse_owned(extra, {"refresh_token", "scope"})
    params = [
        ("refresh_token", refresh_token),
        *scope_param(scope),
        *resource_params(resource),
        *extra,
    ]
    return build_token_request(token_endpoint, client, REFRESH_TOKEN, params, now=now)


# --- responses ----------------------------------------------------------------------


def parse_token_response(
    response: HttpResponse,
    *,
    received_at: float,
    accepted_token_types: Collection[str] = ("bearer",),
) -> Token:
    """Read a :class:`Token` from a token endpoint response (RFC 6749 §5.1).

    Args:
        response: the response as received.
        received_at: wall-clock seconds since the epoch when it was received; becomes
            ``issued_at`` and the base of ``expires_at``.
        accepted_token_types: token types the caller can use, compared
            case-insensitively ("The access token type ... is case insensitive", §5.1).

    Raises:
        OAuthError: the server sent an error object (see :func:`raise_for_error_response`).
        InvalidResponseError: the response is not a valid token response; ``.code`` says
            how (``missing_field``, ``invalid_field_type``, ``invalid_field_value``,
            ``unsupported_token_type``, or one of :func:`raise_for_error_response`'s).
    """
    document = raise_for_error_response(response)
    status = response.status
    access_token = required_str(document, "access_token", status)
    token_type = required_str(document, "token_type", status)
    if isinstance(accepted_token_types, str):
        accepted_token_types = (accepted_token_types,)
    accepted = {name.lower() for name in accepted_token_types}
    if token_type.lower() not in accepted:
        raise invalid(
            InvalidResponseError.UNSUPPORTED_TOKEN_TYPE,
            "member 'token_type' names a token type this client does not use",
            status,
        )
    expires_at = _expires_at(document, access_token, received_at, status)
    scope = optional_str(document, "scope", status)
    return Token(
        access_token=access_token,
        token_type=token_type,
        expires_at=expires_at,
        issued_at=received_at,
        refresh_token=optional_str(document, "refresh_token", status) or None,
        scope=None if scope is None else tuple(scope.split()),
        id_token=optional_str(document, "id_token", status) or None,
        extra={k: v for k, v in document.items() if k not in _KNOWN_MEMBERS},
    )


def _expires_at(
    document: Mapping[str, Any], access_token: str, received_at: float, status: int
) -> float | None:
    """Absolute expiry from ``expires_in`` (RFC 6749 §5.1), else from a JWT ``exp``.

    "expires_in RECOMMENDED. The lifetime in seconds of the access token." When it is
    absent, the access token's own ``exp`` is read WITHOUT verification, only to schedule
    renewal (see :mod:`oauthflow.protocol.jwt_exp`); else ``None``.
    """
    value = document.get("expires_in")
    if value is None:
        exp = unverified_jwt_exp(access_token)
        # An ``exp`` at or before receipt says more about clock skew than about the token
        # (the server just issued it): treat the expiry as unknown, so the manager applies
        # its default lifetime and a 401 still renews, instead of renewing on every call.
        return exp if exp is not None and exp > received_at else None
    seconds = _seconds(value, status)
    return received_at + seconds


def _seconds(value: object, status: int) -> float:
    """``expires_in`` as a finite, non-negative number of seconds."""
    if isinstance(value, str):
        # golang/oauth2: "at least PayPal returns string, while most return number".
        if not _NUMERIC_STRING.fullmatch(value.strip()):
            raise _bad_expires_in(status)
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(
            InvalidResponseError.INVALID_FIELD_TYPE,
            "member 'expires_in' must be a number",
            status,
        )
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        raise _bad_expires_in(status) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise _bad_expires_in(status)
    return seconds


def _bad_expires_in(status: int) -> InvalidResponseError:
    return invalid(
        InvalidResponseError.INVALID_FIELD_VALUE,
        "member 'expires_in' must be a non-negative, finite number of seconds",
        status,
    )
