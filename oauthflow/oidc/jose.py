"""Signed JWTs from the provider, pure: parse the compact form, check ``alg``, verify.

Spec: RFC 7515 §7.1 (JWS compact serialization), §4.1.11 (``crit``), §5.2 (validation);
RFC 7518 §3 (algorithms); RFC 8725 §3.1-3.2 (algorithm verification, no ``none``);
OpenID Connect Core §3.1.3.7 item 6-8 and §10.1 (signatures), §3.1.3.6 (``at_hash``).

joserfc does the cryptography (its algorithm models and keys); the parsing and the
algorithm policy are here, so that nothing in a token header can choose the key type:

- ``none`` is always refused, whatever the configuration;
- ``HS256``/``HS384``/``HS512`` are accepted only with the client secret as the key
  (OIDC Core §10.1), never with a key from the JWKS, so the classic key-confusion attack
  (HMAC "signed" with the provider's public RSA key) cannot work;
- the algorithm must also suit the key (an RS256 token is never checked with an EC key);
- key-carrying headers (``jku``, ``jwk``, ``x5u``, ``x5c``) are ignored: keys come only
  from the provider's ``jwks_uri``;
- ``crit`` is refused (we understand no extension), as RFC 7515 §4.1.11 requires, and so is
  an unencoded payload (RFC 7797 ``b64``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from oauthflow.errors import ConfigurationError
from oauthflow.oidc.errors import IdTokenError

__all__ = [
    "ASYMMETRIC_ALGS",
    "CompactJwt",
    "HMAC_ALGS",
    "MAX_JWT_LENGTH",
    "VerifyingKey",
    "allowed_algorithms",
    "check_alg",
    "key_suits",
    "parse_compact_jwt",
    "token_hash",
    "verify_signature",
]

VerifyingKey = RSAKey | ECKey | OKPKey | OctKey

#: Signature algorithms with a public key (RFC 7518 §3.1, RFC 8037, RFC 9864).
ASYMMETRIC_ALGS: Final = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "Ed448",
})
#: MAC algorithms: usable only with the client secret (OIDC Core §10.1).
HMAC_ALGS: Final = frozenset({"HS256", "HS384", "HS512"})
#: A longer string is not parsed at all.
MAX_JWT_LENGTH: Final = 256 * 1024

_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
_REFUSED_HEADERS: Final = ("crit", "b64")
# RFC 9068 §4 / RFC 8417 / OIDC Back-Channel Logout §2.4: explicitly typed JWTs that are
# not ID tokens (an access token or a logout token must never pass as an ID token).
_FOREIGN_TYPES: Final = frozenset({"at+jwt", "logout+jwt", "secevent+jwt"})
_HASHES: Final[Mapping[str, Callable[[bytes], bytes]]] = {
    "256": lambda data: hashlib.sha256(data).digest(),
    "384": lambda data: hashlib.sha384(data).digest(),
    "512": lambda data: hashlib.sha512(data).digest(),
}


@dataclass(frozen=True, slots=True, repr=False)
class CompactJwt:
    """A parsed (not yet verified) JWS compact JWT.

    Attributes:
        header: the protected header.
        claims: the payload, a JSON object. Not trustworthy until verified.
        signing_input: ``BASE64URL(header) "." BASE64URL(payload)`` as sent.
        signature: the decoded signature bytes.
    """

    header: Mapping[str, Any]
    claims: Mapping[str, Any] = field(repr=False)
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def alg(self) -> str:
        value = self.header["alg"]
        assert isinstance(value, str)
        return value

    @property
    def kid(self) -> str | None:
        value = self.header.get("kid")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        return f"CompactJwt(alg={self.alg!r}, kid={self.kid!r})"


def _malformed(message: str) -> IdTokenError:
    return IdTokenError(IdTokenError.MALFORMED, message)


def _b64url_decode(segment: str, part: str) -> bytes:
    """RFC 7515 §2: base64url "with all trailing '=' characters omitted"."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise _malformed(f"the JWT {part} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _malformed(f"the JWT {part} is not base64url") from None


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """RFC 7515 §5.2: duplicate member names MUST be rejected (or the last one used)."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError("duplicate member")
        result[name] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_unique_members,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed(f"the JWT {part} is not a JSON object without duplicate members") from None
    if not isinstance(value, dict):
        raise _malformed(f"the JWT {part} is not a JSON object")
    return value


def parse_compact_jwt(token: str) -> CompactJwt:
    """Split and decode a JWS compact JWT; nothing is verified yet.

    RFC 7515 §7.1: ``BASE64URL(UTF8(JWS Protected Header)) '.' BASE64URL(JWS Payload) '.'
    BASE64URL(JWS Signature)``. A JWE (five parts) is refused: encrypted ID tokens are
    not supported.

    Raises:
        IdTokenError: ``malformed``, naming the part that is wrong (never quoting it).
    """
    if not isinstance(token, str) or not token or len(token) > MAX_JWT_LENGTH:
        raise _malformed("the ID token is not a non-empty string of reasonable length")
    parts = token.split(".")
    if len(parts) == 5:
        raise _malformed("the JWT is encrypted (JWE); encrypted tokens are not supported")
    if len(parts) != 3 or not parts[1]:
        raise _malformed("the JWT is not a JWS compact serialization (three parts)")
    header = _json_object(_b64url_decode(parts[0], "header"), "header")
    claims = _json_object(_b64url_decode(parts[1], "payload"), "payload")
    signature = _b64url_decode(parts[2], "signature")
    _check_header(header)
    return CompactJwt(
        header=header, claims=claims, signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
    )


def _check_header(header: Mapping[str, Any]) -> None:
    if not isinstance(header.get("alg"), str) or not header["alg"]:
        raise _malformed("the JWT header has no 'alg' string")
    if "kid" in header and not isinstance(header["kid"], str):
        raise _malformed("the JWT header 'kid' is not a string")
    for name in _REFUSED_HEADERS:
        if name in header:
            # RFC 7515 §4.1.11: "If any of the listed extension Header Parameters are not
            # understood and supported by the recipient, then the JWS is invalid."
            raise _malformed(f"the JWT header has {name!r}, which is not supported")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise _malformed("the JWT header 'typ' is not a string")
    if isinstance(typ, str) and typ.lower().removeprefix("application/") in _FOREIGN_TYPES:
        raise _malformed(f"the JWT is typed {typ!r}, not an ID token")


def allowed_algorithms(
    configured: Collection[str] | None, advertised: Collection[str] | None
) -> frozenset[str]:
    """The algorithms to accept: the configured ones, else the provider's, else all
    asymmetric ones; never ``none``.

    Raises:
        ConfigurationError: ``configured`` names ``none`` or only unsupported algorithms.
    """
    if configured is not None:
        chosen = frozenset(configured)
        if "none" in chosen:
            raise ConfigurationError("the 'none' algorithm is never accepted for ID tokens")
        unknown = chosen - ASYMMETRIC_ALGS - HMAC_ALGS
        if unknown or not chosen:
            raise ConfigurationError(
                f"allowed_algs must name supported JWS algorithms; unsupported: {sorted(unknown)}"
            )
        return chosen
    if advertised is not None:
        usable = frozenset(advertised) & (ASYMMETRIC_ALGS | HMAC_ALGS)
        if usable:
            return usable
    return ASYMMETRIC_ALGS


def check_alg(alg: str, allowed: Collection[str], *, have_secret: bool) -> None:
    """Refuse ``alg`` unless it is allowed and usable.

    RFC 8725 §3.1: "Libraries MUST enable the caller to specify a supported set of
    algorithms and MUST NOT use any other algorithms when performing cryptographic
    operations." §3.2: the ``none`` algorithm only when the caller asked for it (never).

    Raises:
        IdTokenError: ``alg_not_allowed``.
    """
    if alg == "none":
        raise IdTokenError(IdTokenError.ALG_NOT_ALLOWED, "unsigned JWTs (alg 'none') are refused")
    if alg in HMAC_ALGS and not have_secret:
        raise IdTokenError(
            IdTokenError.ALG_NOT_ALLOWED,
            f"{alg} needs the client secret as the key; a public key is never used as one",
        )
    if alg not in allowed or alg not in ASYMMETRIC_ALGS | HMAC_ALGS:
        raise IdTokenError(IdTokenError.ALG_NOT_ALLOWED, f"the algorithm {alg!r} is not allowed")


def key_suits(key: VerifyingKey, alg: str) -> bool:
    """Whether ``key`` can verify ``alg`` signatures (type, curve, ``use``, key ``alg``)."""
    model = JWSRegistry.algorithms.get(alg)
    if model is None:
        return False
    if alg == "EdDSA" and (not isinstance(key, OKPKey) or key.curve_name not in {
            "Ed25519", "Ed448"}):
        return False
    try:
        model.check_key(key)
    except (JoseError, ValueError):
        return False
    return True


def verify_signature(jwt: CompactJwt, key: VerifyingKey) -> bool:
    """Whether the JWS signature of ``jwt`` verifies with ``key`` for the header's ``alg``.

    The caller has already checked the algorithm (:func:`check_alg`) and that the key
    suits it (:func:`key_suits`).
    """
    model = JWSRegistry.algorithms[jwt.alg]
    if not key_suits(key, jwt.alg):
        return False
    try:
        return bool(model.verify(jwt.signing_input, jwt.signature, key))
    except (JoseError, ValueError, TypeError):
        return False


def token_hash(value: str, alg: str, curve: str | None = None) -> str:
    """``at_hash`` / ``c_hash`` of ``value`` for an ID token signed with ``alg``.

    OIDC Core §3.1.3.6: "Its value is the base64url encoding of the left-most half of the
    hash of the octets of the ASCII representation of the access_token value, where the
    hash algorithm used is the hash algorithm used in the alg Header Parameter of the ID
    Token's JOSE Header." For EdDSA the hash follows the curve: SHA-512 for Ed25519 and
    SHAKE256 (114 octets) for Ed448 (OpenID Connect Core errata).

    Raises:
        IdTokenError: ``malformed``, when no hash is defined for ``alg``.
    """
    data = value.encode("utf-8")
    if alg == "Ed448" or (alg == "EdDSA" and curve == "Ed448"):
        digest = hashlib.shake_256(data).digest(114)
    elif alg in {"Ed25519", "EdDSA"}:
        digest = hashlib.sha512(data).digest()
    elif alg[-3:] in _HASHES and alg[:2] in {"RS", "PS", "ES", "HS"}:
        digest = _HASHES[alg[-3:]](data)
    else:
        raise _malformed(f"no token hash is defined for the algorithm {alg!r}")
    half = digest[: len(digest) // 2]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")
