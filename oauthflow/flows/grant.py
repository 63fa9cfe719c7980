"""Any other grant at the token endpoint (extension grants, RFC 6749 §4.5).

For example token exchange (RFC 8693) or the JWT bearer grant (RFC 7523 §2.1): pass the
``grant_type`` URI and its parameters.
"""

from __future__ import annotations

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig
from oauthflow.flows._exchange import exchange
from oauthflow.protocol.token_endpoint import Params, build_token_request
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["request_token"]


async def request_token(
    transport: Transport,
    token_endpoint: str,
    client: ClientConfig,
    grant_type: str,
    params: Params = (),
    *,
    clock: Clock | None = None,
) -> Token:
    """Request a token with an arbitrary ``grant_type`` and parameters.

    Raises:
        OAuthError: the server refused (an RFC 6749 §5.2 error object).
        InvalidResponseError: the answer is not a valid token response.
        TransportError: the endpoint could not be reached, or did not answer in time.
        ConfigurationError: a bad argument, or an insecure token endpoint.

    Cancellation: cancelling the caller abandons the request.
    """
    clock = clock or SystemClock()
    request = build_token_request(token_endpoint, client, grant_type, params, now=clock.time())
    return await exchange(transport, request, clock)
