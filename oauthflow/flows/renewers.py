"""Grants packaged as *renewers*: coroutine functions a TokenManager calls for a new token.

A renewer receives the manager's current token (``None`` at first) and returns a new one.
This is golang/oauth2's ``TokenSource`` idea: a grant is something that produces a token;
caching and single-flight renewal wrap it (``oauthflow.token_manager``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from oauthflow.clock import Clock
from oauthflow.config import ClientConfig
from oauthflow.errors import TokenUnavailableError
from oauthflow.flows.client_credentials import fetch_client_credentials_token
from oauthflow.flows.refresh import refresh_access_token
from oauthflow.protocol.token_endpoint import Params
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["Renewer", "client_credentials_renewer", "refresh_token_renewer"]

Renewer = Callable[[Token | None], Awaitable[Token]]
"""Produces a new token; receives the current one (``None`` at first) for its refresh token."""


def client_credentials_renewer(
    transport: Transport,
    token_endpoint: str,
    client: ClientConfig,
    *,
    scope: Sequence[str] | None,
    resource: Sequence[str],
    extra_params: Params,
    clock: Clock,
) -> Renewer:
    """A renewer that asks for a new client credentials token, with the same parameters
    (scope, RFC 8707 resource, extras such as ``audience``) every time."""

    async def renew(_current: Token | None) -> Token:
        return await fetch_client_credentials_token(
            transport, token_endpoint, client, scope=scope, resource=resource,
            extra_params=extra_params, clock=clock,
        )

    return renew


def refresh_token_renewer(
    transport: Transport,
    token_endpoint: str,
    client: ClientConfig,
    *,
    initial_refresh_token: str | None,
    scope: Sequence[str] | None,
    resource: Sequence[str],
    extra_params: Params,
    clock: Clock,
) -> Renewer:
    """A renewer that uses the current token's refresh token (or ``initial_refresh_token``
    before there is a current token)."""

    async def renew(current: Token | None) -> Token:
        secret = current.refresh_token if current is not None else initial_refresh_token
        if not secret:
            raise TokenUnavailableError("no refresh token to renew with: log in again")
        return await refresh_access_token(
            transport, token_endpoint, client, secret, scope=scope, resource=resource,
            extra_params=extra_params, clock=clock,
        )

    return renew
