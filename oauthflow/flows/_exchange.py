"""The one step every token grant shares: send a built request, parse the token response."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from oauthflow.clock import Clock
from oauthflow.errors import InvalidResponseError, OAuthError
from oauthflow.protocol.http import HttpRequest
from oauthflow.protocol.token_endpoint import parse_token_response
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["exchange", "scrub_description", "scrub_snippet"]

# Form members whose values are credentials; an echo of them must not reach a message.
_SENSITIVE_FORM = frozenset({
    "client_secret", "client_assertion", "refresh_token", "code", "code_verifier",
    "device_code", "assertion", "subject_token", "actor_token", "password", "token",
})


async def exchange(transport: Transport, request: HttpRequest, clock: Clock) -> Token:
    """Send a token request and parse the answer into a :class:`Token`.

    ``expires_in`` is made absolute with the wall-clock time at which the answer arrived.

    Raises:
        OAuthError, InvalidResponseError, TransportError, ConfigurationError: as raised by
            the transport and the parser.

    Cancellation: cancelling the caller abandons the request; if the server already
    processed it, its answer is lost (a TokenManager therefore runs this in a task of its
    own that callers cannot cancel).
    """
    response = await transport.send(request)
    try:
        return parse_token_response(response, received_at=clock.time())
    except InvalidResponseError as exc:
        raise scrub_snippet(exc, request) from exc.__cause__
    except OAuthError as exc:
        raise scrub_description(exc, request) from exc.__cause__


def scrub_snippet(error: InvalidResponseError, request: HttpRequest) -> InvalidResponseError:
    """``error`` again, without any credential the request carried in its body snippet.

    The snippet parser already redacts ``name=value`` pairs; this also catches a page that
    echoes a bare credential (a proxy's error page quoting the request, say).
    """
    snippet = error.body_snippet
    cleaned = _scrub(snippet, request)
    if cleaned == snippet:
        return error
    message = str(error).split(": ", 1)[1].split(" [HTTP ")[0].split("; body starts")[0]
    return InvalidResponseError(error.code, message, status=error.status, body_snippet=cleaned)


def scrub_description(error: OAuthError, request: HttpRequest) -> OAuthError:
    """``error`` again, without any credential the request carried in its description.

    Some servers quote the refresh token or code they refuse in ``error_description``
    ("refresh token rt-2 is expired"); that text reaches messages and logs.
    """
    description = error.error_description
    cleaned = _scrub(description, request)
    if cleaned == description:
        return error
    return type(error)(error.error, cleaned, error.error_uri, status=error.status)


def _scrub(text: str | None, request: HttpRequest) -> str | None:
    if not text:
        return text
    for secret in _request_secrets(request):
        text = text.replace(secret, "<redacted>")
    return text


def _request_secrets(request: HttpRequest) -> list[str]:
    secrets = [value for name, value in request.form if name in _SENSITIVE_FORM and value]
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if credentials:
        secrets.append(credentials)
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        for part in decoded.split(":", 1)[1:]:
            secrets += [part, unquote(part)]
    # longest first, so a secret that contains another is replaced whole
    return sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
