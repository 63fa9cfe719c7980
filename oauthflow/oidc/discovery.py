"""Find a provider's endpoints from its issuer URL: OpenID Connect Discovery and RFC 8414.

Spec: OpenID Connect Discovery 1.0 §4 (``{issuer}/.well-known/openid-configuration``) and
§4.3 ("The issuer value returned MUST be identical to the Issuer URL that was used as the
prefix to /.well-known/openid-configuration to retrieve the configuration information.");
RFC 8414 §3 and §3.1 (for an issuer with a path the well-known segment goes between host
and path: ``https://h/.well-known/oauth-authorization-server/tenant``), §3.3 ("the
"issuer" value returned MUST be identical to the authorization server's issuer identifier
value into which the well-known URI string was inserted").

URLs tried, in order, moving to the next only when one answers with a 4xx (a 5xx or a
transport failure is an outage and is reported, not masked):

1. ``{issuer}/.well-known/openid-configuration`` (OIDC Discovery);
2. for an issuer with a path, ``https://h/.well-known/openid-configuration/path`` (the
   RFC 8414 §5 style some providers use for OIDC);
3. ``https://h/.well-known/oauth-authorization-server[/path]`` (RFC 8414).

The document's ``issuer`` must equal the configured issuer exactly (code
``issuer_mismatch``): a provider cannot speak for another issuer, which is what stops
mix-up attacks. Endpoints must be ``https`` (``http`` only to a loopback host).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError
from oauthflow.oidc._single_flight import SingleFlight
from oauthflow.oidc.errors import ISSUER_MISMATCH
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.snippet import body_snippet
from oauthflow.protocol.urls import require_secure_url
from oauthflow.transport import Transport

__all__ = ["DiscoveryCache", "discover", "discovery_urls", "parse_discovery_document"]

_OIDC: Final = "/.well-known/openid-configuration"
_RFC8414: Final = "/.well-known/oauth-authorization-server"
_ENDPOINTS: Final = (
    "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
    "registration_endpoint", "end_session_endpoint", "revocation_endpoint",
    "introspection_endpoint", "device_authorization_endpoint",
    "pushed_authorization_request_endpoint", "check_session_iframe",
)
# Members whose value is a JSON array of strings (OIDC Discovery §3, RFC 8414 §2).
_STRING_LISTS: Final = (
    "scopes_supported", "response_types_supported", "response_modes_supported",
    "grant_types_supported", "acr_values_supported", "subject_types_supported",
    "id_token_signing_alg_values_supported", "id_token_encryption_alg_values_supported",
    "id_token_encryption_enc_values_supported", "userinfo_signing_alg_values_supported",
    "userinfo_encryption_alg_values_supported", "userinfo_encryption_enc_values_supported",
    "request_object_signing_alg_values_supported", "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported", "display_values_supported",
    "claim_types_supported", "claims_supported", "claims_locales_supported",
    "ui_locales_supported", "code_challenge_methods_supported",
    "revocation_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_methods_supported",
)
_BOOLEANS: Final = (
    "claims_parameter_supported", "request_parameter_supported",
    "request_uri_parameter_supported", "require_request_uri_registration",
    "authorization_response_iss_parameter_supported", "require_pushed_authorization_requests",
    "frontchannel_logout_supported", "backchannel_logout_supported",
)


def discovery_urls(issuer: str, *, allow_insecure_http: bool = False) -> tuple[str, ...]:
    """The well-known URLs to try for ``issuer``, in order (see the module docstring).

    Raises:
        ConfigurationError: ``issuer`` is not an ``https`` URL (``http`` only to a loopback
            host, or anywhere with ``allow_insecure_http``), or has a query or fragment
            (OIDC Discovery §2, RFC 8414 §2).
    """
    require_secure_url(issuer, what="issuer", allow_insecure_http=allow_insecure_http)
    parts = urlsplit(issuer)
    if parts.query or parts.fragment:
        raise ConfigurationError("issuer must not have a query or a fragment")
    path = parts.path.rstrip("/")
    origin = (parts.scheme, parts.netloc)

    def at(well_known: str, suffix: str) -> str:
        return urlunsplit((*origin, well_known + suffix, "", ""))

    urls = [issuer.rstrip("/") + _OIDC]
    if path:
        urls.append(at(_OIDC, path))
    urls.append(at(_RFC8414, path))
    return tuple(urls)


def _invalid(code: str, message: str, status: int | None = 200) -> InvalidResponseError:
    return InvalidResponseError(code, message, status=status)


def _check_members(document: Mapping[str, Any], *, allow_insecure_http: bool) -> None:
    for name in _ENDPOINTS:
        value = document.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _invalid(InvalidResponseError.INVALID_FIELD_TYPE, f"'{name}' is not a string")
        try:
            require_secure_url(value, what=name, allow_insecure_http=allow_insecure_http)
        except ConfigurationError as exc:
            raise _invalid(InvalidResponseError.INVALID_FIELD_VALUE, str(exc)) from None
    for name in _STRING_LISTS:
        value = document.get(name)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            raise _invalid(
                InvalidResponseError.INVALID_FIELD_TYPE, f"'{name}' is not an array of strings"
            )
    for name in _BOOLEANS:
        value = document.get(name)
        if value is not None and not isinstance(value, bool):
            raise _invalid(InvalidResponseError.INVALID_FIELD_TYPE, f"'{name}' is not a boolean")


def parse_discovery_document(
    document: Mapping[str, Any],
    issuer: str,
    *,
    openid: bool = True,
    allow_insecure_http: bool = False,
) -> ServerMetadata:
    """Check a discovery document fetched for ``issuer`` and build the metadata.

    Args:
        document: the JSON object.
        issuer: the issuer it was fetched for.
        openid: the document came from ``openid-configuration``: then ``jwks_uri`` is
            required (OIDC Discovery §3: "jwks_uri REQUIRED").
        allow_insecure_http: accept ``http`` endpoints on any host (tests only).

    Raises:
        InvalidResponseError: ``issuer_mismatch``; ``missing_field`` (``issuer``,
            ``token_endpoint``, ``jwks_uri``); ``invalid_field_type`` (a member of the
            wrong type); ``invalid_field_value`` (an endpoint that is not https).
    """
    found = document.get("issuer")
    if not isinstance(found, str) or not found:
        raise _invalid(InvalidResponseError.MISSING_FIELD, "the discovery document has no 'issuer'")
    if found != issuer:
        raise _invalid(
            ISSUER_MISMATCH,
            "the discovery document's 'issuer' is not the configured issuer "
            "(OIDC Discovery §4.3 / RFC 8414 §3.3 require them to be identical)",
        )
    _check_members(document, allow_insecure_http=allow_insecure_http)
    for name in ("token_endpoint", *(("jwks_uri",) if openid else ())):
        if not document.get(name):
            raise _invalid(
                InvalidResponseError.MISSING_FIELD, f"the discovery document has no '{name}'"
            )
    try:
        return ServerMetadata.from_dict(document)
    except ConfigurationError as exc:
        raise _invalid(InvalidResponseError.INVALID_FIELD_VALUE, str(exc)) from None


def _document(response: HttpResponse) -> dict[str, Any]:
    try:
        document = json.loads(response.body)
    except (ValueError, RecursionError):
        raise InvalidResponseError(
            InvalidResponseError.RESPONSE_NOT_JSON, "the discovery document is not JSON",
            status=response.status, body_snippet=body_snippet(response.body),
        ) from None
    if not isinstance(document, dict):
        raise _invalid(
            InvalidResponseError.RESPONSE_NOT_OBJECT, "the discovery document is not a JSON object",
            response.status,
        )
    return document


async def discover(
    transport: Transport, issuer: str, *, allow_insecure_http: bool = False
) -> ServerMetadata:
    """Fetch and check the provider metadata of ``issuer`` (no caching: see
    :class:`DiscoveryCache`).

    Raises:
        ConfigurationError: ``issuer`` is not an acceptable URL.
        InvalidResponseError: ``issuer_mismatch`` and the other codes of
            :func:`parse_discovery_document`; ``unexpected_status`` when no well-known
            URL answered 200; ``response_not_json``/``response_not_object``.
        TransportError: the provider could not be reached.

    Cancellation: cancelling the caller abandons the request in flight.
    """
    last: HttpResponse | None = None
    for url in discovery_urls(issuer, allow_insecure_http=allow_insecure_http):
        response = await transport.send(
            HttpRequest(method="GET", url=url, headers={"Accept": "application/json"})
        )
        if response.status == 200:
            return parse_discovery_document(
                _document(response), issuer, openid=_OIDC in url,
                allow_insecure_http=allow_insecure_http,
            )
        last = response
        if not 400 <= response.status < 500:
            break
    assert last is not None
    raise InvalidResponseError(
        InvalidResponseError.UNEXPECTED_STATUS, "no discovery document was found for the issuer",
        status=last.status, body_snippet=body_snippet(last.body),
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    metadata: ServerMetadata
    expires: float  # monotonic


class DiscoveryCache:
    """Provider metadata by issuer, fetched once and kept for ``ttl`` seconds.

    Concurrent callers for the same issuer share one fetch; a failed fetch is not cached
    (the next call tries again).

    Args:
        transport: sends the GETs.
        ttl: seconds a document is reused (monotonic clock).
        allow_insecure_http: accept ``http`` endpoints on any host (tests only).
        clock: time source; tests pass a :class:`~oauthflow.ManualClock`.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        ttl: float = 3600.0,
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if not (isinstance(ttl, (int, float)) and math.isfinite(ttl) and ttl >= 0):
            raise ConfigurationError("ttl must be a finite number of seconds >= 0")
        self._transport = transport
        self._ttl = float(ttl)
        self._allow_insecure_http = allow_insecure_http
        self._clock = clock or SystemClock()
        self._entries: dict[str, _Entry] = {}
        self._flights: dict[str, SingleFlight[ServerMetadata]] = {}

    def __repr__(self) -> str:
        return f"DiscoveryCache(issuers={sorted(self._entries)!r}, ttl={self._ttl!r})"

    async def get(self, issuer: str) -> ServerMetadata:
        """The metadata of ``issuer``: cached, or fetched with :func:`discover`.

        Raises: as :func:`discover`.

        Cancellation: cancelling the caller stops its wait only; the shared fetch goes on
        and its result is cached.
        """
        entry = self._entries.get(issuer)
        if entry is not None and self._clock.monotonic() < entry.expires:
            return entry.metadata
        flight = self._flights.setdefault(issuer, SingleFlight())
        return await flight.run(lambda: self._fetch(issuer))

    def invalidate(self, issuer: str) -> None:
        """Forget the document of ``issuer``; the next :meth:`get` fetches it again."""
        self._entries.pop(issuer, None)

    async def _fetch(self, issuer: str) -> ServerMetadata:
        metadata = await discover(
            self._transport, issuer, allow_insecure_http=self._allow_insecure_http
        )
        self._entries[issuer] = _Entry(metadata, self._clock.monotonic() + self._ttl)
        return metadata
