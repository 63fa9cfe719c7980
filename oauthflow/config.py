"""Client and server configuration values, checked when they are built.

Spec: RFC 6749 §2.3 (client authentication), RFC 7523 (JWT client assertions),
RFC 8414 §2 (authorization server metadata).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args
from urllib.parse import urlsplit

from oauthflow.errors import ConfigurationError

if TYPE_CHECKING:
    # joserfc (and the cryptography package under it) is imported when a key is first
    # used, not by ``import oauthflow``: most clients never sign anything.
    from joserfc.jwk import ECKey, OKPKey, RSAKey

__all__ = [
    "ClientAuthMethod",
    "ClientConfig",
    "PrivateKey",
    "ServerMetadata",
    "resolve_token_endpoint",
]

ClientAuthMethod: TypeAlias = Literal[
    "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"
]
PrivateKey: TypeAlias = "RSAKey | ECKey | OKPKey"
"""A joserfc private key: ``RSAKey``, ``ECKey`` or ``OKPKey``."""

_AUTH_METHODS = frozenset(get_args(ClientAuthMethod))
_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Who the client is and how it proves it at the token endpoint.

    Attributes:
        client_id: the identifier the authorization server issued.
        client_secret: for ``client_secret_basic`` / ``client_secret_post`` /
            ``client_secret_jwt``. Never shown by ``repr``.
        auth_method: how to authenticate (RFC 6749 §2.3, RFC 7523 §2.2). Defaults to
            ``client_secret_basic`` with a secret, ``private_key_jwt`` with a key, else
            ``none`` (a public client).
        private_key: a joserfc key for ``private_key_jwt``; its ``kid`` goes in the header.
        signing_alg: the JWS algorithm of client assertions (default RS256 for RSA keys,
            ES256 for P-256 keys, Ed25519 for OKP keys (RFC 9864; ``"EdDSA"`` may be
            set for servers that only know the old name), HS256 for ``client_secret_jwt``).
        redirect_uri: for the authorization code flow.
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: ClientAuthMethod | None = None
    private_key: PrivateKey | None = field(default=None, repr=False)
    signing_alg: str | None = None
    redirect_uri: str | None = None

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ConfigurationError("client_id must not be empty")
        method = self.auth_method or self._default_method()
        if method not in _AUTH_METHODS:
            raise ConfigurationError(f"unknown client auth method {method!r}")
        object.__setattr__(self, "auth_method", method)
        if method in _SECRET_METHODS and not self.client_secret:
            raise ConfigurationError(f"{method} needs a client_secret")
        if method == "private_key_jwt" and self.private_key is None:
            raise ConfigurationError("private_key_jwt needs a private_key (a joserfc key)")
        if (method == "private_key_jwt" and self.private_key is not None
                and not self.private_key.is_private):
            raise ConfigurationError("private_key_jwt needs a private key, not a public one")

    def _default_method(self) -> ClientAuthMethod:
        if self.private_key is not None:
            return "private_key_jwt"
        if self.client_secret:
            return "client_secret_basic"
        return "none"

    @property
    def method(self) -> ClientAuthMethod:
        """The effective authentication method (never ``None`` after construction)."""
        assert self.auth_method is not None
        return self.auth_method


def _check_url(name: str, url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL, got {url!r}")
    if parts.fragment:
        raise ConfigurationError(f"{name} must not have a fragment (RFC 6749 §3.1)")


_ENDPOINTS = (
    "token_endpoint",
    "authorization_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "pushed_authorization_request_endpoint",
    "end_session_endpoint",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerMetadata:
    """Where the authorization server's endpoints are (RFC 8414 §2 names).

    Build it by hand with just a ``token_endpoint``, or from a discovery document with
    :meth:`from_dict`. Unknown members of the document are kept in ``extra``.
    """

    token_endpoint: str
    issuer: str | None = None
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    pushed_authorization_request_endpoint: str | None = None
    end_session_endpoint: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for name in _ENDPOINTS:
            _check_url(name, getattr(self, name))
        if self.token_endpoint is None or not self.token_endpoint:
            raise ConfigurationError("token_endpoint is required")
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ServerMetadata:
        """Build from an RFC 8414 / OpenID discovery document.

        Raises:
            ConfigurationError: when an endpoint is missing, not a string, or not a URL.
        """
        values: dict[str, Any] = {}
        for name in ("issuer", *_ENDPOINTS):
            value = document.get(name)
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"metadata member {name} must be a string")
            values[name] = value
        if values["token_endpoint"] is None:
            raise ConfigurationError("metadata has no token_endpoint")
        known = {"issuer", *_ENDPOINTS}
        extra = {k: v for k, v in document.items() if k not in known}
        return cls(extra=extra, **values)


def resolve_token_endpoint(token_endpoint: str | None, server: ServerMetadata | None) -> str:
    """The token endpoint from exactly one of a URL and server metadata.

    Raises:
        ConfigurationError: both or neither were given.
    """
    if token_endpoint is not None and server is None:
        return token_endpoint
    if server is not None and token_endpoint is None:
        return server.token_endpoint
    raise ConfigurationError("give exactly one of token_endpoint and server")
