"""Introspect a token: ask the authorization server whether it is active, and about it.

Spec: RFC 7662 (OAuth 2.0 Token Introspection). Typically called by a resource server
with its own client credentials, about a token a caller presented.
"""

from __future__ import annotations

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError
from oauthflow.flows._exchange import scrub_snippet
from oauthflow.protocol.introspection import (
    Introspection,
    TokenTypeHint,
    build_introspection_request,
    parse_introspection_response,
)
from oauthflow.transport import Transport

__all__ = ["introspect_token"]


async def introspect_token(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    token: str,
    *,
    token_type_hint: TokenTypeHint | None = None,
    clock: Clock | None = None,
) -> Introspection:
    """Ask the server's ``introspection_endpoint`` about ``token``.

    Accept the token only if ``result.active`` is ``True``; an unknown, expired or revoked
    token, or one this client may not introspect, comes back as ``active=False`` (RFC 7662
    §2.2), not as an error.

    Args:
        transport: sends the request.
        server: the server's metadata; its ``introspection_endpoint`` is used, and its
            ``token_endpoint`` is the ``aud`` of JWT client assertions.
        client: who asks (a resource server is a client of the authorization server).
        token: the access or refresh token to ask about.
        token_type_hint: ``"access_token"`` or ``"refresh_token"``.
        clock: the time of JWT client assertions.

    Raises:
        ConfigurationError: the server has no ``introspection_endpoint``, or the token is
            empty.
        OAuthError: the server refused the caller (e.g. ``invalid_client``).
        InvalidResponseError: the answer is not a valid introspection response.
        TransportError: the endpoint could not be reached, or did not answer in time.

    Cancellation: cancelling the caller abandons the request; nothing changes at the
    server.
    """
    endpoint = server.introspection_endpoint
    if endpoint is None:
        raise ConfigurationError("the server metadata has no introspection_endpoint")
    clock = clock or SystemClock()
    request = build_introspection_request(
        endpoint, client, token, token_type_hint=token_type_hint, now=clock.time(),
        assertion_audience=server.token_endpoint,
    )
    response = await transport.send(request)
    try:
        return parse_introspection_response(response)
    except InvalidResponseError as exc:
        raise scrub_snippet(exc, request) from exc.__cause__
