"""Pushed authorization requests: send the authorization request's members straight to the
server, and get a ``request_uri`` to put in the browser's URL instead.

Spec: RFC 9126 §2.1 (request), §2.2 (response), §2.3 (errors). The browser URL built from
the result is :func:`oauthflow.protocol.authorization.pushed_authorization_url` (§4).

Why: the request's members (scopes, PKCE challenge, ``state``) travel over a
client-authenticated TLS channel instead of the browser, so they cannot be read or
altered there, and URLs stay short.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError
from oauthflow.protocol.client_auth import build_client_auth
from oauthflow.protocol.http import FORM_CONTENT_TYPE, HttpRequest, HttpResponse
from oauthflow.protocol.params import Params, pairs
from oauthflow.protocol.responses import raise_for_error_response

__all__ = ["build_par_request", "parse_par_response"]

# Client credentials travel only through build_client_auth.
_CREDENTIALS: Final = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


def build_par_request(
    server: ServerMetadata, client: ClientConfig, parameters: Params, *, now: float
) -> HttpRequest:
    """Push the authorization request's members to the PAR endpoint (RFC 9126 §2.1).

    "The client sends the parameters that comprise an authorization request directly to
    the PAR endpoint" with client authentication "as defined in [RFC6749] for token
    endpoint requests". ``client_id`` stays in the body even when the client
    authenticates another way ("it is similarly required in a pushed authorization
    request"; oidc-provider looks the client up by it). A JWT assertion's ``aud`` is the
    issuer, which §2 says "SHOULD be used".

    Raises:
        ConfigurationError: no PAR endpoint; ``parameters`` holds ``request_uri`` ("MUST
            NOT be provided", §2.1), a client credential, or another ``client_id``.
    """
    endpoint = server.pushed_authorization_request_endpoint
    if not endpoint:
        raise ConfigurationError(
            "the server metadata has no pushed_authorization_request_endpoint"
        )
    members = pairs(parameters)
    for name, value in members:
        if name == "request_uri" or name in _CREDENTIALS:
            raise ConfigurationError(f"a pushed authorization request must not carry {name!r}")
        if name == "client_id" and value != client.client_id:
            raise ConfigurationError("the pushed client_id is not the client's")
    auth = build_client_auth(client, audience=server.issuer or endpoint, now=now)
    if not any(name == "client_id" for name, _ in members):
        members.insert(0, ("client_id", client.client_id))
    headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE, **auth.headers}
    form = (*members, *((n, v) for n, v in auth.form if n != "client_id"))
    return HttpRequest(method="POST", url=endpoint, headers=headers, form=form)


def parse_par_response(response: HttpResponse) -> tuple[str, float]:
    """The ``request_uri`` and its lifetime in seconds from a PAR response (RFC 9126 §2.2).

    "request_uri: The request URI corresponding to the authorization request posted";
    "expires_in: A JSON number that represents the lifetime of the request URI in seconds
    as a positive integer." Errors (§2.3) are RFC 6749 §5.2 objects.

    Raises:
        OAuthError: the server refused the request (e.g. ``invalid_request``).
        InvalidResponseError: not a JSON object, or a missing or mistyped member.
    """
    document = raise_for_error_response(response)
    status = response.status
    request_uri = document.get("request_uri")
    if request_uri is None or request_uri == "":
        raise InvalidResponseError(
            InvalidResponseError.MISSING_FIELD, "member 'request_uri' is missing", status=status
        )
    if not isinstance(request_uri, str):
        raise InvalidResponseError(
            InvalidResponseError.INVALID_FIELD_TYPE, "member 'request_uri' must be a string",
            status=status,
        )
    return request_uri, _positive_seconds(document, "expires_in", status)


def _positive_seconds(document: Mapping[str, Any], name: str, status: int) -> float:
    value = document.get(name)
    if value is None:
        raise InvalidResponseError(
            InvalidResponseError.MISSING_FIELD, f"member {name!r} is missing", status=status
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidResponseError(
            InvalidResponseError.INVALID_FIELD_TYPE, f"member {name!r} must be a number",
            status=status,
        )
    if not 0 < value < float("inf"):
        raise InvalidResponseError(
            InvalidResponseError.INVALID_FIELD_VALUE,
            f"member {name!r} must be a positive number of seconds", status=status,
        )
    return float(value)
