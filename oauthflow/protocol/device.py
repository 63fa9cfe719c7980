"""The Device Authorization Grant, pure: build the two requests, read the two responses.

Spec: RFC 8628 §3.1 (device authorization request), §3.2 (response), §3.4 (device access
token request), §3.5 (device access token response: ``authorization_pending``,
``slow_down``, ``access_denied``, ``expired_token``).

The polling loop itself (waiting, deadlines, back-off) lives in
:mod:`oauthflow.flows.device`; this module only decides, for one response, whether the
device has a token or must poll again and how long to wait.

Security: the ``device_code`` is a credential (whoever holds it gets the token once the user
approves): it is never shown by ``repr`` and never named in a message. The ``user_code``
and verification URIs are meant for the user's eyes; members with control characters are
refused, since an application prints them to a terminal or a screen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import (
    AUTHORIZATION_PENDING,
    SLOW_DOWN,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
)
from oauthflow.protocol.client_auth import build_client_auth
from oauthflow.protocol.http import FORM_CONTENT_TYPE, HttpRequest, HttpResponse
from oauthflow.protocol.members import invalid, required_str
from oauthflow.protocol.params import Params, pairs, refuse_owned, scope_param
from oauthflow.protocol.responses import raise_for_error_response
from oauthflow.protocol.token_endpoint import build_token_request, parse_token_response
from oauthflow.token import Token

__all__ = [
    "DEFAULT_INTERVAL",
    "DEVICE_CODE_GRANT",
    "SLOW_DOWN_INCREMENT",
    "DeviceAuthorization",
    "PollAgain",
    "build_device_authorization_request",
    "build_device_token_request",
    "interpret_poll_response",
    "parse_device_authorization_response",
]

#: RFC 8628 §3.4: "grant_type REQUIRED. Value MUST be set to
#: "urn:ietf:params:oauth:grant-type:device_code"."
DEVICE_CODE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
#: RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
DEFAULT_INTERVAL: Final = 5.0
#: RFC 8628 §3.5 "slow_down": "the interval MUST be increased by 5 seconds for this and all
#: subsequent requests."
SLOW_DOWN_INCREMENT: Final = 5.0

# Members the client authentication (or this module) sets; extra_params may not.
_OWNED: Final = frozenset(
    {"scope", "client_id", "client_secret", "client_assertion", "client_assertion_type"}
)
_CONTROLS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceAuthorization:
    """What the device authorization endpoint returned (RFC 8628 §3.2), made absolute.

    Show ``user_code`` and ``verification_uri`` to the user (or ``verification_uri_complete``,
    e.g. as a QR code), then poll with it.

    Attributes:
        device_code: the device verification code, sent back when polling. A credential:
            never shown by ``repr``; do not log it.
        user_code: the code the user types on the verification page.
        verification_uri: the page where the user enters ``user_code``.
        verification_uri_complete: the same page with the code filled in, if the server
            sent one ("designed for non-textual transmission", RFC 8628 §3.2).
        expires_at: wall-clock time (seconds since the epoch) at which both codes stop
            working: the time of receipt plus ``expires_in``.
        interval: seconds to wait between polls (5 when the server did not say).
    """

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_at: float
    interval: float = DEFAULT_INTERVAL

    def expires_in(self, now: float) -> float:
        """Seconds left at wall-clock time ``now`` before the codes expire (may be negative)."""
        return self.expires_at - now


@dataclass(frozen=True, slots=True)
class PollAgain:
    """No token yet: wait ``interval`` seconds, then poll again (RFC 8628 §3.5).

    ``interval`` is the one to use for this and every later poll (it grew by 5 seconds on
    ``slow_down``).
    """

    interval: float


# --- requests -----------------------------------------------------------------------


def build_device_authorization_request(
    server: ServerMetadata,
    client: ClientConfig,
    *,
    scope: Sequence[str] = (),
    extra_params: Params = (),
    now: float,
) -> HttpRequest:
    """Build the device authorization request (RFC 8628 §3.1).

    "The client initiates the authorization flow by requesting a set of verification codes
    from the authorization server by making an HTTP "POST" request to the device
    authorization endpoint." "client_id REQUIRED if the client is not authenticating with
    the authorization server as described in Section 3.2.1. of [RFC6749]"; "The client
    authentication requirements of Section 3.2.1 of [RFC6749] apply to requests on this
    endpoint". A JWT client assertion is addressed to the token endpoint (RFC 7523 §3).

    Args:
        server: must have a ``device_authorization_endpoint``.
        client: the client and how it authenticates (a public client sends ``client_id``).
        scope: scope tokens (RFC 6749 §3.3), sent space-separated; omitted when empty.
        extra_params: more members (e.g. RFC 8707 ``resource``, ``audience``), in order.
        now: wall-clock seconds since the epoch (for JWT client assertions).

    Raises:
        ConfigurationError: no device authorization endpoint, an invalid scope token, or
            ``extra_params`` setting ``scope`` or a client authentication member.
    """
    endpoint = server.device_authorization_endpoint
    if not endpoint:
        raise ConfigurationError(
            "the server metadata has no device_authorization_endpoint (RFC 8628 §4)"
        )
    extra = pairs(extra_params)
    refuse_owned(extra, _OWNED)
    auth = build_client_auth(client, audience=server.token_endpoint, now=now)
    headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE}
    headers.update(auth.headers)
    return HttpRequest(
        method="POST",
        url=endpoint,
        headers=headers,
        form=(*scope_param(scope), *extra, *auth.form),
    )


def build_device_token_request(
    server: ServerMetadata,
    client: ClientConfig,
    authorization: DeviceAuthorization,
    *,
    now: float,
) -> HttpRequest:
    """Build one poll of the token endpoint (RFC 8628 §3.4).

    "grant_type REQUIRED. Value MUST be set to "urn:ietf:params:oauth:grant-type:device_code"."
    "device_code REQUIRED. The device verification code, "device_code" from the device
    authorization response". The client authenticates as for any token request.

    Args:
        now: wall-clock seconds since the epoch (for JWT client assertions, which are
            therefore fresh on every poll).
    """
    return build_token_request(
        server.token_endpoint,
        client,
        DEVICE_CODE_GRANT,
        [("device_code", authorization.device_code)],
        now=now,
    )


# --- responses ----------------------------------------------------------------------


def parse_device_authorization_response(
    response: HttpResponse, *, received_at: float
) -> DeviceAuthorization:
    """Read the device authorization response (RFC 8628 §3.2).

    Members: "device_code REQUIRED", "user_code REQUIRED", "verification_uri REQUIRED",
    "verification_uri_complete OPTIONAL", "expires_in REQUIRED. The lifetime in seconds of
    the "device_code" and "user_code"", "interval OPTIONAL ... If no value is provided,
    clients MUST use 5 as the default."

    Strict types: ``expires_in`` and ``interval`` must be JSON numbers (not strings, not
    booleans), positive and finite. ``null`` counts as absent for the optional members.
    Lenient in one place: a ``verification_url`` member is read when ``verification_uri``
    is absent (Google's device endpoint uses that name, from a draft of the RFC).

    Args:
        received_at: wall-clock seconds since the epoch when the response arrived; the base
            of ``expires_at``.

    Raises:
        OAuthError: the server sent an error object (e.g. ``invalid_client``,
            ``invalid_scope``).
        InvalidResponseError: ``missing_field``, ``invalid_field_type``,
            ``invalid_field_value``, or one of
            :func:`~oauthflow.protocol.responses.raise_for_error_response`'s codes.
    """
    document = raise_for_error_response(response)
    status = response.status
    uri_name = "verification_uri"
    if document.get(uri_name) is None and document.get("verification_url") is not None:
        uri_name = "verification_url"
    complete = document.get("verification_uri_complete")
    interval = document.get("interval")
    return DeviceAuthorization(
        device_code=required_str(document, "device_code", status),
        user_code=_displayable(document, "user_code", status),
        verification_uri=_url(document, uri_name, status),
        verification_uri_complete=(
            None if complete is None else _url(document, "verification_uri_complete", status)
        ),
        expires_at=received_at + _positive_number(document, "expires_in", status),
        interval=(
            DEFAULT_INTERVAL if interval is None
            else _positive_number(document, "interval", status)
        ),
    )


def interpret_poll_response(
    response: HttpResponse, *, received_at: float, interval: float
) -> Token | PollAgain:
    """Decide what one poll's answer means (RFC 8628 §3.5).

    - a token response: the :class:`~oauthflow.token.Token` (parsed as in RFC 6749 §5.1);
    - ``authorization_pending``: :class:`PollAgain` with the same ``interval``. "The client
      SHOULD repeat the access token request to the token endpoint";
    - ``slow_down``: :class:`PollAgain` with ``interval + 5``. "the interval MUST be
      increased by 5 seconds for this and all subsequent requests";
    - any other error is raised: "If the client receives an error response with any other
      error code, it MUST stop polling".

    Args:
        received_at: wall-clock seconds since the epoch when the response arrived.
        interval: the polling interval in force when this poll was sent.

    Raises:
        OAuthError: ``access_denied`` ("The authorization request was denied"),
            ``expired_token`` ("The "device_code" has expired"), or any other error code.
        InvalidResponseError: the response is neither a token nor an error object.
    """
    try:
        return parse_token_response(response, received_at=received_at)
    except OAuthError as exc:
        if exc.error == AUTHORIZATION_PENDING:
            return PollAgain(interval)
        if exc.error == SLOW_DOWN:
            return PollAgain(interval + SLOW_DOWN_INCREMENT)
        raise


def _displayable(document: Mapping[str, Any], name: str, status: int) -> str:
    """A string the application shows to the user: no control characters (no escapes)."""
    value = required_str(document, name, status)
    if _CONTROLS.search(value):
        raise invalid(
            InvalidResponseError.INVALID_FIELD_VALUE,
            f"member {name!r} contains control characters",
            status,
        )
    return value


def _url(document: Mapping[str, Any], name: str, status: int) -> str:
    """An absolute ``http(s)`` URL shown to the user (never a ``javascript:`` link)."""
    value = _displayable(document, name, status)
    if not _is_web_url(value):
        raise invalid(
            InvalidResponseError.INVALID_FIELD_VALUE,
            f"member {name!r} must be an absolute http(s) URL",
            status,
        )
    return value


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host) and " " not in value


def _positive_number(document: Mapping[str, Any], name: str, status: int) -> float:
    """A JSON number of seconds, finite and greater than zero."""
    value = document.get(name)
    if value is None:
        raise invalid(InvalidResponseError.MISSING_FIELD, f"member {name!r} is missing", status)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(
            InvalidResponseError.INVALID_FIELD_TYPE,
            f"member {name!r} must be a number of seconds",
            status,
        )
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds <= 0:
        raise invalid(
            InvalidResponseError.INVALID_FIELD_VALUE,
            f"member {name!r} must be a positive, finite number of seconds",
            status,
        )
    return seconds
