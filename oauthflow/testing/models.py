"""What the local authorization server remembers: clients, users, codes, tokens, device grants.

Everything lives in memory, in one :class:`Store`. The record classes implement the small
"mixin" interfaces authlib's grant classes call (``check_client_secret``, ``get_scope``,
``is_expired`` ...), so authlib's grant logic runs unchanged on top of them.

Secrets (client secrets, tokens, codes, PKCE challenges) are excluded from every ``repr``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTH_METHODS",
    "DEVICE_CODE_GRANT",
    "AuthorizationCode",
    "DeviceGrant",
    "IssuedToken",
    "RegisteredClient",
    "Store",
    "User",
]

#: Client authentication methods (OIDC Core §9 names) a client can be registered with.
AUTH_METHODS = frozenset(
    {"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}
)
#: RFC 8628 §3.4 grant type.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

_DEFAULT_GRANTS = ("client_credentials", "refresh_token", "authorization_code", DEVICE_CODE_GRANT)


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered in code with :meth:`AuthorizationServer.register_client`.

    ``client_secret`` and ``jwks`` never appear in ``repr``.
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"
    grant_types: tuple[str, ...] = _DEFAULT_GRANTS
    redirect_uris: tuple[str, ...] = ("http://127.0.0.1/callback",)
    scope: str = "openid profile email read write offline_access"
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)
    post_logout_redirect_uris: tuple[str, ...] = ()

    # -- authlib ClientMixin ------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def default_scope(self) -> str:
        """The scope granted when none is requested: the registered scope minus OIDC ones.

        RFC 6749 §3.3: "If the client omits the scope parameter when requesting
        authorization, the authorization server MUST either process the request using a
        pre-defined default value or fail the request indicating an invalid scope."
        """
        return " ".join(s for s in self.scope.split() if s not in {"openid", "offline_access"})

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope cut to what is registered; None (invalid_scope) if nothing is left.

        RFC 6749 §3.3: the server "MAY fully or partially ignore the scope requested".
        """
        if not scope:
            return self.default_scope()
        allowed = set(self.scope.split())
        granted = " ".join(s for s in scope.split() if s in allowed)
        return granted or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match (RFC 9700 §4.1.3), except the port of a loopback URI.

        RFC 8252 §7.3: "The authorization server MUST allow any port to be specified at the
        time of the request for loopback IP redirect URIs".
        """
        return any(_same_redirect(redirect_uri, r) for r in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def _same_redirect(requested: str, registered: str) -> bool:
    from urllib.parse import urlsplit

    if requested == registered:
        return True
    try:
        a, b = urlsplit(requested), urlsplit(registered)
        a_port, b_port = a.port, b.port  # may raise ValueError on garbage
    except ValueError:
        return False
    del a_port, b_port
    loopback = {"127.0.0.1", "::1", "[::1]"}
    return (
        a.scheme == b.scheme == "http"
        and a.hostname in loopback
        and a.hostname == b.hostname
        and (a.path, a.query) == (b.path, b.query)
        and not a.fragment
    )


@dataclass(frozen=True)
class User:
    """A test user who can log in on the HTML pages or be named in headless calls."""

    username: str
    password: str = field(repr=False)
    claims: Mapping[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.username


@dataclass(repr=False)
class AuthorizationCode:
    """An issued authorization code (RFC 6749 §4.1.2), single use."""

    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user: User
    expires_at: float
    auth_time: int
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    def __repr__(self) -> str:
        return f"AuthorizationCode(client_id={self.client_id!r}, user={self.user.username!r})"

    # -- authlib AuthorizationCodeMixin (OIDC flavour) ------------------------------------
    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


@dataclass(repr=False)
class IssuedToken:
    """One token response: an access token, maybe a refresh token, and who it is for.

    ``grant_id`` ties together every token descended from one authorization, so a reused
    (rotated-out) refresh token can revoke the whole family (RFC 9700 §4.14.2).
    """

    access_token: str
    jti: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    grant_type: str
    grant_id: str
    user: User | None = None
    refresh_token: str | None = None
    revoked: bool = False
    refresh_revoked: bool = False
    refresh_rotated: bool = False

    def __repr__(self) -> str:
        return (
            f"IssuedToken(client_id={self.client_id!r}, grant_type={self.grant_type!r}, "
            f"revoked={self.revoked})"
        )

    @property
    def subject(self) -> str:
        """``sub`` of the access token: the user, or the client itself (client credentials)."""
        return self.user.username if self.user else self.client_id

    # -- authlib TokenMixin -------------------------------------------------------------
    def check_client(self, client: RegisteredClient) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user(self) -> User | None:
        return self.user


@dataclass(repr=False)
class DeviceGrant:
    """A pending RFC 8628 device authorization, keyed by device code and user code."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: float
    last_poll: float | None = None
    decision: tuple[User, bool] | None = None
    now: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"DeviceGrant(client_id={self.client_id!r}, decided={self.decision is not None})"

    # -- authlib DeviceCredentialMixin ---------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return self.now() >= self.expires_at


@dataclass
class Store:
    """All server state. Plain dicts: authlib's server calls are synchronous."""

    clients: dict[str, RegisteredClient] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens_by_access: dict[str, IssuedToken] = field(default_factory=dict)
    tokens_by_jti: dict[str, IssuedToken] = field(default_factory=dict)
    tokens_by_refresh: dict[str, IssuedToken] = field(default_factory=dict)
    devices: dict[str, DeviceGrant] = field(default_factory=dict)
    devices_by_user_code: dict[str, DeviceGrant] = field(default_factory=dict)
    used_jtis: set[str] = field(default_factory=set)
    used_nonces: set[str] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"Store(clients={len(self.clients)}, tokens={len(self.tokens_by_jti)})"

    def add_token(self, token: IssuedToken) -> None:
        self.tokens_by_access[token.access_token] = token
        self.tokens_by_jti[token.jti] = token
        if token.refresh_token:
            self.tokens_by_refresh[token.refresh_token] = token

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token of one authorization (reuse detection, RFC 7009 §2.1)."""
        for token in self.tokens_by_jti.values():
            if token.grant_id == grant_id:
                token.revoked = token.refresh_revoked = True

    def revoke_all(self) -> None:
        for token in self.tokens_by_jti.values():
            token.revoked = token.refresh_revoked = True
