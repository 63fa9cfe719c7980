"""The client credentials grant: a machine gets a token for itself.

Spec: RFC 6749 §4.4; RFC 8707 (``resource``).
"""

from __future__ import annotations

from collections.abc import Sequence

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig
from oauthflow.flows._exchange import exchange
from oauthflow.protocol.token_endpoint import Params, build_client_credentials_request
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["fetch_client_credentials_token"]


async def fetch_client_credentials_token(
    transport: Transport,
    token_endpoint: str,
    client: ClientConfig,
    *,
    scope: Sequence[str] | None = None,
    resource: Sequence[str] = (),
    extra_params: Params = (),
    clock: Clock | None = None,
) -> Token:
    """Ask the token endpoint for a token with the client's own credentials.

    Args:
        transport: sends the request.
        token_endpoint: the absolute URL of the token endpoint.
        client: the client id and how it authenticates.
        scope: scopes to request (RFC 6749 §3.3); ``None`` lets the server choose.
        resource: RFC 8707 resource indicators, one ``resource`` parameter each.
        extra_params: anything else the server wants (e.g. ``audience``).
        clock: where ``expires_at`` and assertion times come from.

    Raises:
        OAuthError: the server refused (e.g. ``invalid_client``, ``invalid_scope``).
        InvalidResponseError: the answer is not a valid token response.
        TransportError: the endpoint could not be reached, or did not answer in time.
        ConfigurationError: a bad argument, or an insecure token endpoint.

    Cancellation: cancelling the caller abandons the request (nothing to lose: a client
    credentials token can always be fetched again).
    """
    clock = clock or SystemClock()
    request = build_client_credentials_request(
        token_endpoint, client, scope=scope, resource=resource,
        extra_params=extra_params, now=clock.time(),
    )
    return await exchange(transport, request, clock)
