"""authlib grant, endpoint and extension subclasses: storage hooks onto :class:`ServerCore`.

Each class implements only what authlib leaves abstract (look up a code, save a device
credential, resolve a key); the RFC logic is authlib's. Every class reaches the shared
state through ``self.server.core`` (the :class:`~.authlib_server.AuthlibServer`).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from authlib.oauth2.rfc7662 import IntrospectionEndpoint  # type: ignore[import-untyped]
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant  # type: ignore[import-untyped]
from authlib.oidc.core import OpenIDCode  # type: ignore[import-untyped]
from joserfc.jwk import KeySet, OctKey

from .core import ServerCore, user_claims
from .knobs import wire_seconds
from .models import AuthorizationCode, DeviceGrant, IssuedToken, RegisteredClient, User

__all__ = [
    "TOKEN_AUTH_METHODS",
    "ClientCredentials",
    "DeviceAuthorization",
    "DeviceCode",
    "Introspection",
    "OpenIDExtension",
    "Pkce",
    "Refresh",
    "Revocation",
    "ServerAuthorizationCode",
    "register_assertion_methods",
]

#: Every method a registered client may use at the token, revocation, introspection,
#: device-authorization and PAR endpoints (each client is held to its own one).
TOKEN_AUTH_METHODS = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
]


def _core(server: Any) -> ServerCore:
    core = server.core
    assert isinstance(core, ServerCore)
    return core


# -- client authentication: RFC 7523 §2.2 assertions -------------------------------------
class _Assertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """``client_secret_jwt`` (HMAC with the secret) or ``private_key_jwt`` (registered JWK).

    RFC 7523 §3: "The JWT MUST contain an "aud" (audience) claim containing a value that
    identifies the authorization server as an intended audience. The token endpoint URL
    of the authorization server MAY be used as a value". Both the token endpoint and the
    issuer are accepted; ``jti`` may be used once.
    """

    def __init__(self, core: ServerCore, method: str) -> None:
        super().__init__(validate_jti=True, leeway=5)
        self.core = core
        self.CLIENT_AUTH_METHOD = method

    def get_audiences(self) -> list[str]:
        return [self.core.endpoint("token"), self.core.issuer]

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        key = f"{claims.get('sub')}:{jti}"
        if key in self.core.store.used_jtis:
            return False
        self.core.store.used_jtis.add(key)
        return True

    def resolve_client_public_key(self, client: RegisteredClient) -> OctKey | KeySet:
        if client.auth_method != self.CLIENT_AUTH_METHOD:
            raise InvalidClientError(description="The client uses another auth method.")
        if self.CLIENT_AUTH_METHOD == "client_secret_jwt" and client.client_secret:
            secret: OctKey = OctKey.import_key(client.client_secret.encode())
            return secret
        if self.CLIENT_AUTH_METHOD == "private_key_jwt" and client.jwks:
            jwks: Any = dict(client.jwks)
            keys: KeySet = KeySet.import_key_set(jwks if "keys" in jwks else {"keys": [jwks]})
            return keys
        raise InvalidClientError(description="The client has no key for this method.")


def _assertion_alg(assertion: str) -> str | None:
    """The ``alg`` of a compact JWS header, read without verifying (to pick the method)."""
    try:
        segment = assertion.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    alg = header.get("alg") if isinstance(header, dict) else None
    return alg if isinstance(alg, str) else None


def register_assertion_methods(server: Any, core: ServerCore) -> None:
    """Register ``client_secret_jwt`` and ``private_key_jwt`` with authlib's registry.

    Both read the same ``client_assertion`` parameter; the JWS ``alg`` (HMAC or not)
    decides which method is being attempted (OIDC Core §9).
    """
    for method, hmac in (("client_secret_jwt", True), ("private_key_jwt", False)):
        assertion_auth = _Assertion(core, method)

        def authenticate(
            query_client: Any, request: OAuth2Request, auth: _Assertion = assertion_auth,
            want_hmac: bool = hmac,
        ) -> RegisteredClient | None:
            assertion = request.form.get("client_assertion")
            alg = _assertion_alg(assertion) if isinstance(assertion, str) else None
            if alg is None or alg.startswith("HS") != want_hmac:
                return None
            client: RegisteredClient | None = auth(query_client, request)
            return client

        server.register_client_auth_method(method, authenticate)


# -- grants ---------------------------------------------------------------------------
class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """RFC 6749 §4.4; scope limited to the client's registered scope."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        scope = self.request.payload.scope
        if scope and self.request.client.get_allowed_scope(scope) != " ".join(scope.split()):
            raise InvalidScopeError()


class ServerAuthorizationCode(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """RFC 6749 §4.1: codes are single use and live ``settings.authorization_code_lifetime``."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        core = _core(self.server)
        data = request.payload.data
        user = request.user
        assert isinstance(user, User)
        core.store.codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            user=user,
            expires_at=core.now() + core.settings.authorization_code_lifetime,
            auth_time=int(core.now()),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(
        self, code: str, client: RegisteredClient
    ) -> AuthorizationCode | None:
        core = _core(self.server)
        record = core.store.codes.get(code)
        if record is None or record.client_id != client.client_id:
            return None
        if record.expires_at <= core.now():
            return None
        return record

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        _core(self.server).store.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User:
        return authorization_code.user


class Pkce(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 with S256 only and a challenge required from every client (RFC 9700 §2.1.1).

    RFC 7636 §4.2 defaults a missing ``code_challenge_method`` to "plain"; plain is refused
    here, so the method must be sent and be ``S256``.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDExtension(OpenIDCode):  # type: ignore[misc]
    """OIDC Core §3.1.3.6: an ID token in the code flow's token response, signed by our key."""

    def __init__(self, core: ServerCore) -> None:
        super().__init__(require_nonce=False)
        self.core = core

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        client_id = request.payload.client_id
        return any(
            c.nonce == nonce and c.client_id == client_id for c in self.core.store.codes.values()
        )

    def resolve_client_private_key(self, client: RegisteredClient) -> Any:
        return self.core.keys.private_key()

    def get_client_algorithm(self, client: RegisteredClient) -> str:
        return self.core.keys.current_alg

    def get_encode_header(self, client: RegisteredClient) -> dict[str, str]:
        return {"alg": self.core.keys.current_alg, "kid": self.core.keys.current_kid}

    def get_client_claims(self, client: RegisteredClient) -> dict[str, Any]:
        now = int(self.core.now())
        lifetime = int(self.core.settings.id_token_lifetime)
        return {"iss": self.core.issuer, "aud": [client.client_id], "iat": now,
                "exp": now + lifetime}

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        return user_claims(user, scope)


class Refresh(grants.RefreshTokenGrant):  # type: ignore[misc]
    """RFC 6749 §6 with optional rotation and reuse detection (RFC 9700 §4.14.2).

    "If a refresh token is compromised and subsequently used by both the attacker and the
    legitimate client, one of them will present an invalidated refresh token, which will
    inform the authorization server of the breach" -- the whole grant is then revoked.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def issue_token(self, user: Any, refresh_token: IssuedToken) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        token: dict[str, Any] = self.generate_token(
            user=user,
            scope=scope,
            include_refresh_token=_core(self.server).settings.refresh_token_rotation,
        )
        return token

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        core = _core(self.server)
        record = core.store.tokens_by_refresh.get(refresh_token)
        if record is None:
            return None
        if record.refresh_rotated:
            if core.settings.refresh_token_reuse_detection:
                core.store.revoke_grant(record.grant_id)
            return None
        return None if record.refresh_revoked else record

    def authenticate_user(self, refresh_token: IssuedToken) -> User | RegisteredClient:
        # A refresh token without a user (none is issued so today) acts for its client.
        return refresh_token.user or self.request.client

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        if _core(self.server).settings.refresh_token_rotation:
            refresh_token.refresh_rotated = True


class DeviceCode(DeviceCodeGrant):  # type: ignore[misc]
    """RFC 8628 §3.4/3.5: polling answers pending, slow_down, expired_token, access_denied."""

    def query_device_credential(self, device_code: str) -> DeviceGrant | None:
        return _core(self.server).store.devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[User, bool] | None:
        grant = _core(self.server).store.devices_by_user_code.get(user_code)
        return grant.decision if grant else None

    def should_slow_down(self, credential: DeviceGrant) -> bool:
        """RFC 8628 §3.5 "slow_down": polled faster than ``interval``; the interval grows."""
        core = _core(self.server)
        now = core.now()
        last, credential.last_poll = credential.last_poll, now
        if last is not None and now - last < credential.interval:
            credential.interval += core.settings.device_slow_down_increment
            return True
        return False

    def create_token_response(self) -> tuple[int, Any, Any]:
        result: tuple[int, Any, Any] = super().create_token_response()
        # The device code is spent once tokens are issued.
        credential = self.request.credential
        store = _core(self.server).store
        store.devices.pop(credential.device_code, None)
        store.devices_by_user_code.pop(credential.user_code, None)
        return result


class DeviceAuthorization(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    """RFC 8628 §3.1/3.2, lifetime and interval from ``settings``."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    @property
    def EXPIRES_IN(self) -> int | float:
        return wire_seconds(_core(self.server).settings.device_code_lifetime)

    @property
    def INTERVAL(self) -> int | float:
        return wire_seconds(_core(self.server).settings.device_poll_interval)

    def get_verification_uri(self) -> str:
        return _core(self.server).endpoint("device")

    def save_device_credential(self, client_id: str, scope: str | None, data: Any) -> None:
        core = _core(self.server)
        client = core.store.clients[client_id]
        grant = DeviceGrant(
            device_code=data["device_code"],
            user_code=data["user_code"],
            client_id=client_id,
            scope=client.get_allowed_scope(scope) or client.default_scope(),
            expires_at=core.now() + core.settings.device_code_lifetime,
            interval=core.settings.device_poll_interval,
            now=core.now,
        )
        core.store.devices[grant.device_code] = grant
        core.store.devices_by_user_code[grant.user_code] = grant


class _TokenView:
    """An access or refresh token as RFC 7009/7662 see it (one record holds both)."""

    def __init__(self, record: IssuedToken, kind: str, now: float) -> None:
        self.record, self.kind, self._now = record, kind, now

    def check_client(self, client: RegisteredClient) -> bool:
        return self.record.check_client(client)

    def get_scope(self) -> str:
        return self.record.scope

    def is_expired(self) -> bool:
        return self.kind == "access_token" and self.record.expires_at <= self._now

    def is_revoked(self) -> bool:
        if self.kind == "access_token":
            return self.record.revoked
        return self.record.refresh_revoked or self.record.refresh_rotated


def _query(core: ServerCore, token: str, hint: str | None) -> _TokenView | None:
    order = ["refresh_token", "access_token"] if hint == "refresh_token" else [
        "access_token", "refresh_token"]
    for kind in order:
        table = core.store.tokens_by_access if kind == "access_token" else (
            core.store.tokens_by_refresh)
        record = table.get(token)
        if record is not None:
            return _TokenView(record, kind, core.now())
    return None


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009. Revoking a refresh token revokes its whole grant (§2.1 "SHOULD also")."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> _TokenView | None:
        return _query(_core(self.server), token_string, token_type_hint)

    def revoke_token(self, token: _TokenView, request: OAuth2Request) -> None:
        if token.kind == "refresh_token":
            _core(self.server).store.revoke_grant(token.record.grant_id)
        else:
            token.record.revoked = True


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662. Any authenticated client may introspect (it plays the resource server)."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> _TokenView | None:
        return _query(_core(self.server), token_string, token_type_hint)

    def check_permission(self, token: _TokenView, client: RegisteredClient, request: Any) -> bool:
        return True

    def introspect_token(self, token: _TokenView) -> dict[str, Any]:
        record = token.record
        body: dict[str, Any] = {
            "active": True,
            "scope": record.scope,
            "client_id": record.client_id,
            "sub": record.subject,
            "iss": _core(self.server).issuer,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "iat": int(record.issued_at),
        }
        if token.kind == "access_token":
            body["exp"] = int(record.expires_at)
            body["jti"] = record.jti
        if record.user is not None:
            body["username"] = record.user.username
        return body

