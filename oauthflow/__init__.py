"""oauthflow: asyncio-native OAuth 2.0 / OpenID Connect client for aiohttp.

The usual entry points::

    tokens = TokenManager.for_client_credentials(token_endpoint=..., client=ClientConfig(...))
    session = aiohttp.ClientSession(middlewares=(BearerAuthMiddleware(tokens, origins=[...]),))

Everything listed in ``__all__`` is public API; the modules behind it are not.
"""

from oauthflow.clock import Clock, ManualClock, SystemClock
from oauthflow.config import ClientAuthMethod, ClientConfig, ServerMetadata
from oauthflow.errors import (
    AuthorizationResponseError,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
    OAuthFlowError,
    ReauthenticationRequiredError,
    StoreConflictError,
    TokenUnavailableError,
    TransportError,
)
from oauthflow.flows.client_credentials import fetch_client_credentials_token
from oauthflow.flows.grant import request_token
from oauthflow.flows.refresh import refresh_access_token
from oauthflow.middleware import BearerAuthMiddleware, TokenSource, default_should_retry
from oauthflow.registry import RegistryTokenSource, TokenRegistry
from oauthflow.renewal import (
    RenewalEvent,
    RenewalPolicy,
    RenewalStats,
    TokenEventListener,
)
from oauthflow.stores import MemoryTokenStore, SharedTokenStore, TokenStore, VersionedToken
from oauthflow.telemetry import LoggingListener, OpenTelemetryListener
from oauthflow.token import Token
from oauthflow.token_key import TokenKey
from oauthflow.token_manager import ManagerOptions, Renewer, TokenManager
from oauthflow.transport import RetryPolicy, Transport

__version__ = "0.1.0"

__all__ = [
    "AuthorizationResponseError",
    "BearerAuthMiddleware",
    "ClientAuthMethod",
    "ClientConfig",
    "Clock",
    "ConfigurationError",
    "InvalidResponseError",
    "LoggingListener",
    "ManagerOptions",
    "ManualClock",
    "MemoryTokenStore",
    "OAuthError",
    "OAuthFlowError",
    "OpenTelemetryListener",
    "ReauthenticationRequiredError",
    "RegistryTokenSource",
    "RenewalEvent",
    "RenewalPolicy",
    "RenewalStats",
    "Renewer",
    "RetryPolicy",
    "ServerMetadata",
    "SharedTokenStore",
    "StoreConflictError",
    "SystemClock",
    "Token",
    "TokenEventListener",
    "TokenKey",
    "TokenManager",
    "TokenRegistry",
    "TokenSource",
    "TokenStore",
    "TokenUnavailableError",
    "Transport",
    "TransportError",
    "VersionedToken",
    "default_should_retry",
    "fetch_client_credentials_token",
    "refresh_access_token",
    "request_token",
]
