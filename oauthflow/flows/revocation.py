"""Revoke a token: end a session at the authorization server (logout, uninstall, leak).

Spec: RFC 7009 (OAuth 2.0 Token Revocation).
"""

from __future__ import annotations

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError
from oauthflow.flows._exchange import scrub_snippet
from oauthflow.protocol.revocation import (
    TokenTypeHint,
    build_revocation_request,
    parse_revocation_response,
)
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["revoke_token"]


async def revoke_token(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    token: str | Token,
    *,
    token_type_hint: TokenTypeHint | None = None,
    clock: Clock | None = None,
) -> None:
    """Revoke ``token`` at the server's ``revocation_endpoint``.

    Given a :class:`Token`, its refresh token is revoked when it has one, else its access
    token (pass ``token_type_hint="access_token"`` to revoke the access token of a Token
    that has both). RFC 7009 §2.1: "If the particular token is a refresh token and the
    authorization server supports the revocation of access tokens, then the authorization
    server SHOULD also invalidate all access tokens based on the same authorization grant";
    revoking an access token leaves the refresh token alive.

    A token the server does not know (already expired, already revoked) is not an error:
    RFC 7009 §2.2 answers 200 "if the client submitted an invalid token".

    Args:
        transport: sends the request.
        server: the server's metadata; its ``revocation_endpoint`` is used, and its
            ``token_endpoint`` is the ``aud`` of JWT client assertions.
        client: the client the token was issued to (servers refuse to revoke another
            client's token).
        token: the token string, or a :class:`Token`.
        token_type_hint: the kind of a token string; for a Token, which of its tokens
            to revoke.
        clock: the time of JWT client assertions.

    Raises:
        ConfigurationError: the server has no ``revocation_endpoint``, the token is empty,
            or a Token has no refresh token and ``token_type_hint="refresh_token"``.
        OAuthError: the server refused (``invalid_client``, ``unsupported_token_type``,
            oidc-provider's ``invalid_request`` for another client's token).
        InvalidResponseError: the answer breaks RFC 7009 (e.g. not JSON on an error).
        TransportError: the endpoint could not be reached, or did not answer in time.

    Cancellation: cancelling the caller abandons the request; the token may or may not
    have been revoked. Revoking again is safe (a revoked token is an "invalid token" that
    the server answers with 200).
    """
    endpoint = server.revocation_endpoint
    if endpoint is None:
        raise ConfigurationError("the server metadata has no revocation_endpoint")
    value, hint = _choose(token, token_type_hint)
    clock = clock or SystemClock()
    request = build_revocation_request(
        endpoint, client, value, token_type_hint=hint, now=clock.time(),
        assertion_audience=server.token_endpoint,
    )
    response = await transport.send(request)
    try:
        parse_revocation_response(response)
    except InvalidResponseError as exc:
        raise scrub_snippet(exc, request) from exc.__cause__


def _choose(
    token: str | Token, hint: TokenTypeHint | None
) -> tuple[str, TokenTypeHint | None]:
    """The token string to revoke and its hint."""
    if not isinstance(token, Token):
        return token, hint
    if hint == "access_token":
        return token.access_token, "access_token"
    if token.refresh_token:
        return token.refresh_token, "refresh_token"
    if hint == "refresh_token":
        raise ConfigurationError("this Token has no refresh token to revoke")
    return token.access_token, "access_token"
