"""Broken and forged ID tokens, made with the local server's own keys, for negative tests.

A relying party must reject each of these (OpenID Connect Core §3.1.3.7, RFC 8725)::

    forge = IdTokenForge(server, client_id="web", nonce=pending_nonce)
    forge.sign(forge.claims(iss="https://evil.example"))      # wrong issuer, valid signature
    forge.sign(forge.claims(exp=forge.now - 3600))            # expired
    forge.sign(forge.claims(), kid=None)                      # no kid
    forge.unsigned(forge.claims())                            # alg "none"
    forge.hmac_with_public_key(forge.claims())                # HS256 keyed with the RSA public key
    forge.signed_by_stranger(forge.claims())                  # a key the JWKS does not have
    forge.tampered(forge.claims())                            # payload changed after signing

``forge.claims(**changes)`` starts from a valid claim set for the client (``iss``, ``sub``,
``aud``, ``iat``, ``exp``, ``auth_time``, ``nonce``); a change to :data:`MISSING` removes a
claim. Tokens are signed with the server's current key (``server.rotate_keys(alg=...)``
changes it), so everything but the broken part is genuine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any, Final

from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from oauthflow.oidc.jose import token_hash

if TYPE_CHECKING:
    from .server import AuthorizationServer

__all__ = ["MISSING", "IdTokenForge"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: A claim (or header member) given this value is left out.
MISSING: Final = _Missing()
_KEEP: Final = _Missing()

_HMAC_HASHES: Final = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


class IdTokenForge:
    """Makes ID tokens for ``client_id`` with the keys of ``server``.

    Args:
        server: a started :class:`~oauthflow.testing.AuthorizationServer`.
        client_id: the audience.
        nonce: put in every claim set (unless changed).
        user: the ``sub``.
        lifetime: seconds from ``iat`` to ``exp``.
    """

    def __init__(
        self,
        server: AuthorizationServer,
        client_id: str,
        *,
        nonce: str | None = None,
        user: str = "alice",
        lifetime: int = 300,
    ) -> None:
        self.server = server
        self.client_id = client_id
        self.nonce = nonce
        self.user = user
        self.lifetime = lifetime

    def __repr__(self) -> str:
        return f"IdTokenForge(client_id={self.client_id!r}, user={self.user!r})"

    @property
    def now(self) -> int:
        """The server's clock, in whole seconds."""
        return int(self.server.core.now())

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A valid claim set, with ``changes`` applied (:data:`MISSING` removes a claim)."""
        now = self.now
        claims: dict[str, Any] = {
            "iss": self.server.issuer, "sub": self.user, "aud": [self.client_id],
            "iat": now, "exp": now + self.lifetime, "auth_time": now,
        }
        if self.nonce is not None:
            claims["nonce"] = self.nonce
        return _apply(claims, changes)

    def at_hash(self, access_token: str, alg: str | None = None) -> str:
        """The ``at_hash`` of ``access_token`` for the current (or the given) algorithm."""
        return token_hash(access_token, alg or self.server.core.keys.current_alg)

    def sign(
        self,
        claims: dict[str, Any] | None = None,
        *,
        kid: str | _Missing | None = _KEEP,
        typ: str | None = "JWT",
    ) -> str:
        """Signed with the server's current key: a genuine token of these claims.

        ``kid=None`` leaves the ``kid`` out; a string puts that ``kid`` in the header.
        """
        keys = self.server.core.keys
        header: dict[str, Any] = {"alg": keys.current_alg}
        if kid is _KEEP:
            header["kid"] = keys.current_kid
        elif isinstance(kid, str):
            header["kid"] = kid
        if typ is not None:
            header["typ"] = typ
        return _serialize(header, claims or self.claims(), keys.private_key())

    def signed_by_stranger(
        self, claims: dict[str, Any] | None = None, *, kid: str | None = "not-in-the-jwks",
        alg: str = "RS256",
    ) -> str:
        """Signed with a fresh key the server never published (RS256 or ES256)."""
        key: RSAKey | ECKey
        key = RSAKey.generate_key(2048) if alg == "RS256" else ECKey.generate_key("P-256")
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        return _serialize(header, claims or self.claims(), key)

    def unsigned(self, claims: dict[str, Any] | None = None) -> str:
        """``alg: none`` with an empty signature (RFC 7519 §6.1, an "Unsecured JWT")."""
        header = {"alg": "none", "typ": "JWT"}
        return f"{_b64json(header)}.{_b64json(claims or self.claims())}."

    def hmac_with_public_key(self, claims: dict[str, Any] | None = None,
                             *, alg: str = "HS256") -> str:
        """The key-confusion attack: an HMAC keyed with the server's public key (PEM bytes),
        with the ``kid`` of that key, as a verifier that trusts the header would accept."""
        keys = self.server.core.keys
        public_pem = keys.private_key().as_pem(private=False)
        header = {"alg": alg, "typ": "JWT", "kid": keys.current_kid}
        signing_input = f"{_b64json(header)}.{_b64json(claims or self.claims())}"
        mac = hmac.new(public_pem, signing_input.encode("ascii"), _HMAC_HASHES[alg]).digest()
        return f"{signing_input}.{_b64(mac)}"

    def tampered(self, claims: dict[str, Any] | None = None, **changes: Any) -> str:
        """Genuinely signed, then the payload swapped for one with ``changes`` (default:
        another ``sub``), keeping the old signature."""
        original = claims or self.claims()
        header, _, signature = self.sign(original).split(".")
        forged = _apply(original, changes or {"sub": "mallory"})
        return f"{header}.{_b64json(forged)}.{signature}"


def _apply(claims: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(claims)
    for name, value in changes.items():
        if value is MISSING:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def _serialize(header: dict[str, Any], claims: dict[str, Any], key: RSAKey | ECKey) -> str:
    payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
    return jws.serialize_compact(header, payload, key, algorithms=[header["alg"]])
