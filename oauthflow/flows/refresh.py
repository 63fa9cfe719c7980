"""The refresh token grant: trade a refresh token for a new access token.

Spec: RFC 6749 §6; OAuth 2.0 Security BCP (RFC 9700) §4.14 on refresh-token rotation.
"""

from __future__ import annotations

from collections.abc import Sequence

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig
from oauthflow.errors import INVALID_GRANT, OAuthError, ReauthenticationRequiredError
from oauthflow.flows._exchange import exchange
from oauthflow.protocol.token_endpoint import Params, build_refresh_request
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["refresh_access_token"]


async def refresh_access_token(
    transport: Transport,
    token_endpoint: str,
    client: ClientConfig,
    refresh_token: str,
    *,
    scope: Sequence[str] | None = None,
    resource: Sequence[str] = (),
    extra_params: Params = (),
    clock: Clock | None = None,
) -> Token:
    """Use ``refresh_token`` to get a new access token.

    RFC 6749 §6: "The authorization server MAY issue a new refresh token, in which case
    the client MUST discard the old refresh token and replace it with the new refresh
    token." When the response carries no ``refresh_token``, the old one stays valid and
    is kept in the returned token (several peers drop it here and lose the session).

    Raises:
        ReauthenticationRequiredError: the server answered ``invalid_grant``: the refresh
            token is expired, revoked or already used; the user must log in again.
        OAuthError: the server refused for another reason (e.g. ``invalid_client``).
        InvalidResponseError: the answer is not a valid token response.
        TransportError: the endpoint could not be reached, or did not answer in time.
        ConfigurationError: a bad argument, or an insecure token endpoint.

    Cancellation: cancelling the caller abandons the request. With a rotating server the
    new refresh token may then be lost; a TokenManager avoids this by running the refresh
    in its own task, which callers cannot cancel.
    """
    clock = clock or SystemClock()
    request = build_refresh_request(
        token_endpoint, client, refresh_token, scope=scope, resource=resource,
        extra_params=extra_params, now=clock.time(),
    )
    try:
        token = await exchange(transport, request, clock)
    except OAuthError as exc:
        if exc.error == INVALID_GRANT and not isinstance(exc, ReauthenticationRequiredError):
            raise ReauthenticationRequiredError(
                exc.error, exc.error_description, exc.error_uri, status=exc.status
            ) from exc
        raise
    if token.refresh_token is None:
        token = token.replace(refresh_token=refresh_token)
    return token
