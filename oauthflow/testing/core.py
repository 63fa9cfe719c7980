"""The state every part of the local authorization server shares.

One :class:`ServerCore` holds the store, keys, settings, knobs and counters, the issuer URL
once the server listens, and the server's clock (the real clock plus
``settings.clock_offset``). The authlib wiring, the HTML pages and the protected resource all
read from it; nothing else is global.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from oauthflow.clock import Clock, SystemClock

from .keys import KeyRing
from .knobs import Counters, Knobs, RecordedRequest, Settings
from .models import IssuedToken, RegisteredClient, Store, User

__all__ = ["PATHS", "ServerCore", "user_claims"]

#: Path of each endpoint, relative to the issuer.
PATHS = {
    "authorize": "/authorize",
    "token": "/token",
    "device_authorization": "/device_authorization",
    "device": "/device",
    "revoke": "/revoke",
    "introspect": "/introspect",
    "userinfo": "/userinfo",
    "jwks": "/jwks",
    "par": "/par",
    "end_session": "/end_session",
    "login": "/login",
    "consent": "/consent",
    "api": "/api/",
}

#: OIDC Core §5.4: the claims each standard scope releases.
_SCOPE_CLAIMS = {
    "profile": (
        "name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
        "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}


def user_claims(user: User, scope: str) -> dict[str, Any]:
    """``sub`` plus the user's claims released by ``scope`` (OIDC Core §5.4)."""
    claims: dict[str, Any] = {"sub": user.username}
    scopes = set(scope.split())
    for name, released in _SCOPE_CLAIMS.items():
        if name in scopes:
            claims.update({k: v for k, v in user.claims.items() if k in released})
    return claims


@dataclass
class ServerCore:
    """Shared state of one :class:`~oauthflow.testing.AuthorizationServer`."""

    store: Store = field(default_factory=Store)
    keys: KeyRing = field(default_factory=KeyRing)
    settings: Settings = field(default_factory=Settings)
    knobs: Knobs = field(default_factory=Knobs)
    counters: Counters = field(default_factory=Counters)
    clock: Clock = field(default_factory=SystemClock)
    seen: dict[str, list[RecordedRequest]] = field(default_factory=dict)
    #: RFC 9126 pushed requests: request_uri -> (client_id, params, expires_at).
    pushed: dict[str, tuple[str, list[tuple[str, str]], float]] = field(default_factory=dict)
    issuer_url: str | None = None

    def __repr__(self) -> str:
        return f"ServerCore(issuer={self.issuer_url!r})"

    @property
    def issuer(self) -> str:
        if self.issuer_url is None:
            raise RuntimeError("the authorization server is not started")
        return self.issuer_url

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.issuer + "/" + path.lstrip("/")

    def endpoint(self, name: str) -> str:
        return self.url(PATHS[name])

    def now(self) -> float:
        """The server's wall clock in seconds: real time plus ``settings.clock_offset``."""
        return self.clock.time() + self.settings.clock_offset

    def mint_access_token(
        self, client: RegisteredClient, user: User | None, scope: str, grant_type: str
    ) -> IssuedToken:
        """A signed JWT access token (RFC 9068 profile) and its server-side record.

        ``exp`` is rounded up to a whole second (JWT NumericDate), but the record keeps the
        exact float expiry, which the protected resource and introspection enforce, so a
        3-second token really dies after 3 seconds.
        """
        now = self.now()
        lifetime = self.settings.access_token_lifetime
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": self.issuer,
            "sub": user.username if user else client.client_id,
            "aud": self.endpoint("api"),
            "client_id": client.client_id,
            "scope": scope,
            "iat": int(now),
            "exp": math.ceil(now + lifetime),
            "jti": jti,
        }
        access_token = self.keys.sign(claims, typ="at+jwt")
        return IssuedToken(
            access_token=access_token,
            jti=jti,
            client_id=client.client_id,
            scope=scope,
            issued_at=now,
            expires_at=now + lifetime,
            grant_type=grant_type,
            grant_id=secrets.token_urlsafe(8),
            user=user,
        )

    def check_access_token(self, access_token: str) -> tuple[IssuedToken | None, str]:
        """The record of a valid access token, or None and why (for ``error_description``).

        Checks the JWS signature against the JWKS keys, ``iss``, ``exp``, the exact
        server-side expiry and revocation.
        """
        claims = self.keys.verify(access_token)
        if claims is None or claims.get("iss") != self.issuer:
            return None, "The access token is malformed or its signature does not verify"
        now = self.now()
        record = self.store.tokens_by_jti.get(str(claims.get("jti")))
        if record is None or record.access_token != access_token:
            return None, "The access token is unknown"
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now or record.expires_at <= now:
            return None, "The access token expired"
        if record.revoked:
            return None, "The access token was revoked"
        return record, ""
