"""How the demo obtains its first token, per flow, against the embedded server.

Each flow ends in a TokenManager that keeps the token valid for the fan-out job:

- ``client-credentials``: the service's own token, re-fetched on expiry;
- ``device``: a public client shows a user code; the demo's headless user approves it (as a
  person would on their phone); the refresh token then keeps the session alive;
- ``authorization-code``: PKCE + ``state`` + ``nonce``; the headless user logs in through the
  server's real HTML login and consent pages; the ID token is validated (OpenID Connect) and
  the identity shown; the refresh token keeps the session alive.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.flows.device import poll_device_token, start_device_authorization
from oauthflow.flows.revocation import revoke_token
from oauthflow.oidc import JwksCache
from oauthflow.oidc.id_token import validate_login
from oauthflow.testing import AuthorizationServer
from oauthflow.token_manager import TokenManager
from oauthflow.transport import Transport

__all__ = ["FLOWS", "FlowSession", "start_flow"]

FLOWS = ("client-credentials", "device", "authorization-code")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(slots=True, kw_only=True)
class FlowSession:
    """A started flow: the manager, and what the summary shows about the login."""

    tokens: TokenManager
    initial_grant: str
    server: ServerMetadata
    client: ClientConfig
    identity: str | None = None
    user_code: str | None = None

    async def revoke(self, auth_server: AuthorizationServer, transport: Transport) -> None:
        """The revocation event: every token for client credentials; for a user's session,
        its current access token through the revocation endpoint (RFC 7009), so the
        refresh token survives and renews it."""
        current = self.tokens.current
        if self.initial_grant == "client_credentials" or current is None:
            auth_server.revoke_all()
            return
        await revoke_token(transport, self.server, self.client, current.access_token,
                           token_type_hint="access_token")


async def start_flow(flow: str, auth_server: AuthorizationServer,
                     transport: Transport) -> FlowSession:
    """Register a client for ``flow`` and obtain the first token; the session."""
    metadata = ServerMetadata.from_dict(auth_server.metadata)
    if flow == "client-credentials":
        return _client_credentials(auth_server, metadata, transport)
    if flow == "device":
        return await _device(auth_server, metadata, transport)
    if flow == "authorization-code":
        return await _authorization_code(auth_server, metadata, transport)
    raise ValueError(f"unknown flow {flow!r}; one of {', '.join(FLOWS)}")


def _client_credentials(auth_server: AuthorizationServer, metadata: ServerMetadata,
                        transport: Transport) -> FlowSession:
    secret = secrets.token_urlsafe(24)
    auth_server.register_client("demo-service", secret, scope="read write")
    client = ClientConfig(client_id="demo-service", client_secret=secret)
    tokens = TokenManager.for_client_credentials(server=metadata, client=client, scope=["read"],
                                                 transport=transport)
    return FlowSession(tokens=tokens, initial_grant="client_credentials", server=metadata,
                       client=client)


async def _device(auth_server: AuthorizationServer, metadata: ServerMetadata,
                  transport: Transport) -> FlowSession:
    auth_server.settings.device_poll_interval = 0.2
    auth_server.register_client("demo-cli", grant_types=(DEVICE_GRANT, "refresh_token"),
                                scope="read offline_access")
    client = ClientConfig(client_id="demo-cli")
    authorization = await start_device_authorization(
        transport, metadata, client, scope=["read", "offline_access"])
    # The person: opens verification_uri on another device and enters the code.
    approval = asyncio.ensure_future(auth_server.approve_device(authorization.user_code))
    token = await poll_device_token(transport, metadata, client, authorization)
    await approval
    tokens = TokenManager.for_refresh_token(server=metadata, client=client, token=token,
                                            transport=transport)
    return FlowSession(tokens=tokens, initial_grant=DEVICE_GRANT, server=metadata,
                       client=client, user_code=authorization.user_code)


async def _authorization_code(auth_server: AuthorizationServer, metadata: ServerMetadata,
                              transport: Transport) -> FlowSession:
    secret = secrets.token_urlsafe(24)
    redirect_uri = "http://127.0.0.1/callback"
    auth_server.register_client("demo-web", secret, redirect_uris=(redirect_uri,),
                                scope="openid profile read offline_access")
    client = ClientConfig(client_id="demo-web", client_secret=secret, redirect_uri=redirect_uri)
    pending = await start_authorization(
        transport, metadata, client, scope=["openid", "profile", "read", "offline_access"])
    callback = await auth_server.authorize(pending.url, user="alice")  # the HTML pages
    token = await exchange_code(transport, metadata, client, pending, callback)
    claims = await validate_login(pending, token, jwks=JwksCache.for_server(transport, metadata),
                                  client_id=client.client_id)
    name = claims.claims.get("name")
    identity = f"{name} (sub={claims.sub}, iss={claims.iss})" if name else claims.sub
    tokens = TokenManager.for_refresh_token(server=metadata, client=client, token=token,
                                            transport=transport)
    return FlowSession(tokens=tokens, initial_grant="authorization_code", server=metadata,
                       client=client, identity=identity)
