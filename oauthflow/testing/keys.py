"""Signing keys of the local authorization server, published as a JWKS (RFC 7517).

An RS256 and an ES256 key are generated at startup; the RS256 one signs until
:meth:`KeyRing.rotate` makes a new key current. Old keys stay in the JWKS so tokens signed
before a rotation still verify, which is what a real provider does during a rollover.
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

__all__ = ["SUPPORTED_ALGS", "KeyRing"]

#: JWS algorithms this server signs with.
SUPPORTED_ALGS = ("RS256", "ES256")

_Key = RSAKey | ECKey


def _generate(alg: str) -> _Key:
    if alg == "RS256":
        key: _Key = RSAKey.generate_key(2048, auto_kid=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", auto_kid=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {SUPPORTED_ALGS}")
    return key


class KeyRing:
    """The server's private keys; the newest one of the current algorithm signs."""

    def __init__(self) -> None:
        self._keys: list[tuple[str, _Key]] = [("ES256", _generate("ES256"))]
        self._current: tuple[str, _Key] = ("RS256", _generate("RS256"))
        self._keys.append(self._current)

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current_alg!r}, keys={len(self._keys)})"

    @property
    def current_alg(self) -> str:
        return self._current[0]

    @property
    def current_kid(self) -> str:
        kid = self._current[1].kid
        assert kid is not None  # auto_kid=True
        return kid

    def rotate(self, alg: str = "RS256") -> str:
        """Generate a new key for ``alg`` and sign with it from now on; returns its ``kid``."""
        self._current = (alg, _generate(alg))
        self._keys.append(self._current)
        return self.current_kid

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        """A compact JWS of ``claims`` signed with the current key (``kid`` in the header)."""
        alg, key = self._current
        header = {"alg": alg, "kid": self.current_kid, "typ": typ}
        return jwt.encode(header, claims, key, algorithms=[alg])

    def private_key(self) -> _Key:
        """The current private key (authlib's OpenID extension signs ID tokens with it)."""
        return self._current[1]

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document: every key ever used, each with ``use``, ``alg``, ``kid``."""
        keys = []
        for alg, key in self._keys:
            public = key.as_dict(private=False)
            public.update({"use": "sig", "alg": alg})
            keys.append(public)
        return {"keys": keys}

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of ``token`` if its signature verifies with one of our keys, else None.

        Only checks the signature (``exp`` and the rest are the caller's job).
        """
        keyset = KeySet([key for _, key in self._keys])
        try:
            decoded = jwt.decode(token, keyset, algorithms=list(SUPPORTED_ALGS))
        except (JoseError, ValueError, TypeError):
            return None
        return dict(decoded.claims)
