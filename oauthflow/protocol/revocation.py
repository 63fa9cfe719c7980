"""Token revocation: tell the authorization server a token is no longer needed.

Spec: RFC 7009 §2.1 (request), §2.2 (response), §2.2.1 (error response).

Security: the request carries the token being revoked and the client's credentials; its
``repr`` shows member names only. Errors never quote a JSON body.
"""

from __future__ import annotations

from oauthflow.config import ClientConfig
from oauthflow.errors import InvalidResponseError
from oauthflow.protocol._token_post import TokenTypeHint, build_token_post
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.responses import raise_for_error_response

__all__ = ["TokenTypeHint", "build_revocation_request", "parse_revocation_response"]


def build_revocation_request(
    endpoint: str,
    client: ClientConfig,
    token: str,
    *,
    token_type_hint: TokenTypeHint | None = None,
    now: float,
    assertion_audience: str | None = None,
) -> HttpRequest:
    """Build a revocation request (RFC 7009 §2.1).

    "The client requests the revocation of a particular token by making an HTTP POST
    request to the token revocation endpoint URL." Parameters: "token REQUIRED. The token
    that the client wants to get revoked." "token_type_hint OPTIONAL. A hint about the type
    of the token submitted for revocation." "The client also includes its authentication
    credentials as described in Section 2.3. of [RFC6749]."

    Args:
        endpoint: the revocation endpoint URL.
        client: the client and how it authenticates.
        token: the access or refresh token to revoke.
        token_type_hint: ``"access_token"`` or ``"refresh_token"``; the server searches
            every type anyway when the hint is wrong (§2.1: "it MUST extend its search").
        now: wall-clock seconds since the epoch (JWT client assertions).
        assertion_audience: the ``aud`` of a JWT client assertion. Defaults to
            ``endpoint``; pass the token endpoint URL for servers (authlib's among them)
            that accept only the token endpoint or the issuer, as the flows do.

    Raises:
        ConfigurationError: an empty token, an unknown hint, or unusable client credentials.
    """
    return build_token_post(
        endpoint, client, token, token_type_hint=token_type_hint, now=now,
        assertion_audience=assertion_audience,
    )


def parse_revocation_response(response: HttpResponse) -> None:
    """Check a revocation response: return on success, raise on an error.

    RFC 7009 §2.2: "The authorization server responds with HTTP status code 200 if the
    token has been revoked successfully or if the client submitted an invalid token."
    "The content of the response body is ignored by the client as all necessary
    information is conveyed in the response code." So any 2xx is success, whatever its
    body (often empty, sometimes ``{}`` or text).

    §2.2.1: "The error presentation conforms to the definition in Section 5.2 of
    [RFC6749]", with one more code, ``unsupported_token_type`` ("The authorization server
    does not support the revocation of the presented token type"). A 503 ("the client must
    assume the token still exists and may retry after a reasonable delay") is retried by
    :class:`oauthflow.Transport`, honouring ``Retry-After``; one that persists ends here as
    an error.

    Raises:
        OAuthError: the server sent an error object (e.g. ``invalid_client``,
            ``unsupported_token_type``); ``.status`` has the HTTP status.
        InvalidResponseError: a non-2xx status without an error object
            (``unexpected_status`` for an empty body, else ``response_not_json`` /
            ``response_not_object`` / ``unexpected_status``).
    """
    if 200 <= response.status < 300:
        return
    if response.body.strip():
        raise_for_error_response(response)  # raises for every non-2xx status
    raise InvalidResponseError(
        InvalidResponseError.UNEXPECTED_STATUS,
        "the revocation endpoint answered with an error status and no error object",
        status=response.status,
    )
