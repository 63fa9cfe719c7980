"""Reading a JSON endpoint response: the object of a success, or the error it carries.

Spec: RFC 6749 §5.2 (error response), used by every endpoint that answers with JSON:
token (RFC 6749 §5), revocation (RFC 7009 §2.2.1), introspection (RFC 7662 §2.3), device
authorization (RFC 8628 §3.2).

Lenient where providers differ harmlessly: the body is parsed as JSON whatever its
Content-Type ("400 text/plain" JSON bodies exist), and ``"error": null`` / ``""`` count as
no error. Strict where it matters: an ``error`` member is an error at any status, a 200
included, and anything that is not a JSON object is refused.

Security: a JSON body is never quoted in an error (any member may be a credential); a
non-JSON body is quoted only through :func:`oauthflow.protocol.snippet.body_snippet`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from oauthflow.errors import InvalidResponseError, OAuthError
from oauthflow.protocol.http import HttpResponse
from oauthflow.protocol.snippet import body_snippet, strip_controls

__all__ = ["raise_for_error_response"]


def raise_for_error_response(response: HttpResponse) -> dict[str, Any]:
    """The JSON object of a successful response; raise for anything else.

    Shared by every endpoint that answers with JSON (token, revocation, introspection,
    device authorization). RFC 6749 §5.2: the error response is a JSON object with
    "error REQUIRED. A single ASCII error code", "error_description OPTIONAL",
    "error_uri OPTIONAL"; such an object is an error at any status, a 200 included.

    Raises:
        OAuthError: the object has an ``error`` string.
        InvalidResponseError: ``response_not_json`` (with a redacted body snippet),
            ``response_not_object``, ``invalid_field_type`` (``error`` not a string), or
            ``unexpected_status`` (not 2xx and no ``error``).
    """
    status = response.status
    try:
        document = json.loads(response.body)
    except (ValueError, RecursionError):
        raise InvalidResponseError(
            InvalidResponseError.RESPONSE_NOT_JSON,
            "the response body is not JSON",
            status=status,
            body_snippet=body_snippet(response.body),
        ) from None
    if not isinstance(document, dict):
        raise InvalidResponseError(
            InvalidResponseError.RESPONSE_NOT_OBJECT,
            "the response body is JSON but not an object",
            status=status,
        )
    _raise_oauth_error(document, status)
    if not 200 <= status < 300:
        raise InvalidResponseError(
            InvalidResponseError.UNEXPECTED_STATUS,
            "unexpected HTTP status without an OAuth error object",
            status=status,
        )
    return document


def _raise_oauth_error(document: Mapping[str, Any], status: int) -> None:
    """Raise :class:`OAuthError` if ``document`` is an RFC 6749 §5.2 error object.

    ``"error": null`` and ``"error": ""`` are taken as "no error" (some servers add an
    empty ``error`` member to every response). Control characters and surrounding spaces
    are removed from the three members, which end up in messages and logs (RFC 6749 §5.2
    allows no controls: "Values for the "error" parameter MUST NOT include characters
    outside the set %x20-21 / %x23-5B / %x5D-7E").
    """
    error = document.get("error")
    if error is None or error == "":
        return
    if not isinstance(error, str):
        raise InvalidResponseError(
            InvalidResponseError.INVALID_FIELD_TYPE,
            "member 'error' must be a string",
            status=status,
        )
    description = document.get("error_description")
    uri = document.get("error_uri")
    raise OAuthError(
        strip_controls(error).strip(),
        strip_controls(description).strip() if isinstance(description, str) else None,
        strip_controls(uri).strip() if isinstance(uri, str) else None,
        status=status,
    )
