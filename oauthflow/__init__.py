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
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.flows.client_credentials import fetch_client_credentials_token
from oauthflow.flows.device import (
    device_login,
    device_login_events,
    poll_device_token,
    start_device_authorization,
)
from oauthflow.flows.grant import request_token
from oauthflow.flows.introspection import introspect_token
from oauthflow.flows.refresh import refresh_access_token
from oauthflow.flows.revocation import revoke_token
from oauthflow.loopback import LoopbackReceiver, open_browser
from oauthflow.middleware import BearerAuthMiddleware, TokenSource, default_should_retry
from oauthflow.protocol.authorization import AuthorizationRequest
from oauthflow.protocol.device import DeviceAuthorization
from oauthflow.protocol.introspection import Introspection
from oauthflow.registry import RegistryTokenSource, TokenRegistry
from oauthflow.renewal import (
    RenewalEvent,
    RenewalPolicy,
    RenewalStats,
    TokenEventListener,
)
from oauthflow.store.file import FileTokenStore
from oauthflow.stores import MemoryTokenStore, SharedTokenStore, TokenStore, VersionedToken
from oauthflow.telemetry import LoggingListener, OpenTelemetryListener
from oauthflow.token import Token
from oauthflow.token_key import TokenKey
from oauthflow.token_manager import ManagerOptions, Renewer, TokenManager
from oauthflow.transport import RetryPolicy, Transport

__version__ = "0.1.0"

__all__ = [
    "AuthorizationRequest",
    "AuthorizationResponseError",
    "BearerAuthMiddleware",
    "ClientAuthMethod",
    "ClientConfig",
    "Clock",
    "ConfigurationError",
    "DeviceAuthorization",
    "FileTokenStore",
    "Introspection",
    "InvalidResponseError",
    "LoggingListener",
    "LoopbackReceiver",
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
    "device_login",
    "device_login_events",
    "exchange_code",
    "fetch_client_credentials_token",
    "introspect_token",
    "open_browser",
    "poll_device_token",
    "refresh_access_token",
    "request_token",
    "revoke_token",
    "start_authorization",
    "start_device_authorization",
]
