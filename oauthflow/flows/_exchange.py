"""The one step every token grant shares: send a built request, parse the token response."""

from __future__ import annotations

from oauthflow.clock import Clock
from oauthflow.protocol.http import HttpRequest
from oauthflow.protocol.token_endpoint import parse_token_response
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["exchange"]


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
    return parse_token_response(response, received_at=clock.time())
