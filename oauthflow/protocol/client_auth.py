"""Client authentication at the token endpoint: the headers and form members that prove
who the client is.

Spec: RFC 6749 §2.3 (client password: ``client_secret_basic``, ``client_secret_post``),
RFC 7523 §2.2 and §3 (JWT client assertions: ``private_key_jwt``, ``client_secret_jwt``),
RFC 7518 §3.2 (HMAC key size), RFC 8414 §2 (method names), RFC 9864 (EdDSA names).

Security: :class:`ClientAuthParts` carries the client secret or a signed assertion; its
``repr`` shows header and member names only.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from oauthflow.config import ClientConfig, PrivateKey
from oauthflow.errors import ConfigurationError

if TYPE_CHECKING:
    from joserfc.jwk import OctKey

# joserfc is imported inside the functions that sign: ``import oauthflow`` does not load it
# (nor the cryptography package), which most clients, using a client secret, never need.

__all__ = ["JWT_BEARER_ASSERTION_TYPE", "ClientAuthParts", "build_client_auth"]

JWT_BEARER_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_EC_ALGS: Final = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
# RFC 9864 §2: the fully-specified names; joserfc 1.8 deprecates the polymorphic "EdDSA"
# (a SecurityWarning on every use). "EdDSA" still works when set as ``signing_alg``.
_OKP_ALGS: Final = {"Ed25519": "Ed25519", "Ed448": "Ed448"}
# RFC 7518 §3.2: "A key of the same size as the hash output (for instance, 256 bits for
# "HS256") or larger MUST be used with this algorithm."
_HMAC_KEY_BYTES: Final = {"HS256": 32, "HS384": 48, "HS512": 64}


@dataclass(frozen=True, slots=True, repr=False)
class ClientAuthParts:
    """What a token request needs to authenticate the client.

    Attributes:
        headers: headers to add, e.g. ``{"Authorization": "Basic ..."}``.
        form: form members to append, in order, e.g. ``(("client_id", "x"),)``.
    """

    headers: Mapping[str, str]
    form: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    def __repr__(self) -> str:
        names = [name for name, _ in self.form]
        return f"ClientAuthParts(headers={sorted(self.headers)!r}, form_names={names!r})"

    __str__ = __repr__


def build_client_auth(
    client: ClientConfig,
    *,
    audience: str,
    now: float,
    jti: str | None = None,
    assertion_lifetime: float = 60.0,
) -> ClientAuthParts:
    """Build the client authentication for one token-endpoint request.

    Args:
        client: the client and its method (``client.method``).
        audience: the ``aud`` of a JWT assertion: the token endpoint URL (RFC 7523 §3
            "The token endpoint URL of the authorization server MAY be used").
        now: wall-clock seconds since the epoch, for ``iat`` / ``exp``.
        jti: the assertion's unique id (random when not given; pass one only in tests).
        assertion_lifetime: seconds until the assertion's ``exp``.

    Raises:
        ConfigurationError: a secret or key is missing, the secret is too short for the
            HMAC algorithm, or the key cannot sign with the algorithm.
    """
    method = client.method
    if method == "client_secret_basic":
        return ClientAuthParts(headers={"Authorization": _basic(client)}, form=())
    if method == "client_secret_post":
        return ClientAuthParts(
            headers={},
            form=(("client_id", client.client_id), ("client_secret", _secret(client))),
        )
    if method == "none":
        return ClientAuthParts(headers={}, form=(("client_id", client.client_id),))
    if assertion_lifetime <= 0:
        raise ConfigurationError("assertion_lifetime must be positive")
    claims = _assertion_claims(client, audience, now, jti, assertion_lifetime)
    assertion = _sign_assertion(client, claims)
    # RFC 7523 §2.2: "client_assertion_type ... MUST be
    # urn:ietf:params:oauth:client-assertion-type:jwt-bearer"; "client_assertion ... MUST
    # contain a single JWT". client_id is also sent: RFC 6749 §3.2.1 lets a confidential
    # client omit it, but several servers look the client up by it before the assertion.
    return ClientAuthParts(
        headers={},
        form=(
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("client_id", client.client_id),
        ),
    )


def _secret(client: ClientConfig) -> str:
    if not client.client_secret:
        raise ConfigurationError(f"{client.method} needs a client_secret")
    return client.client_secret


def _basic(client: ClientConfig) -> str:
    """The ``Authorization`` value for ``client_secret_basic``.

    RFC 6749 §2.3.1: "The client identifier is encoded using the
    "application/x-www-form-urlencoded" encoding algorithm per Appendix B, and the encoded
    value is used as the username; the client password is encoded using the same
    algorithm and used as the password."

    ``quote(..., safe="")`` rather than ``quote_plus``: a space becomes ``%20`` and ``+``
    becomes ``%2B``, which decode the same under ``unquote`` (what Authlib's server uses)
    and ``unquote_plus``; a ``+`` for a space would arrive as a literal ``+`` under
    ``unquote``. Non-ASCII is percent-encoded UTF-8, as Appendix B requires.
    """
    user = quote(client.client_id, safe="")
    password = quote(_secret(client), safe="")
    credentials = base64.b64encode(f"{user}:{password}".encode("ascii")).decode("ascii")
    return f"Basic {credentials}"


def _assertion_claims(
    client: ClientConfig, audience: str, now: float, jti: str | None, lifetime: float
) -> dict[str, Any]:
    """RFC 7523 §3 claims of a client assertion.

    "The JWT MUST contain an "iss" (issuer) claim that contains a unique identifier for the
    entity that issued the JWT" and, for client authentication, "the subject MUST be the
    "client_id" of the OAuth client"; "The JWT MUST contain an "aud" (audience) claim";
    "The JWT MUST contain an "exp" (expiration time) claim"; "The JWT MAY contain a "jti"
    (JWT ID) claim" (required by OpenID Connect Core §9, so always sent).
    """
    if not audience:
        raise ConfigurationError("a client assertion needs an audience (the token endpoint)")
    return {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": audience,
        "jti": jti if jti is not None else secrets.token_urlsafe(24),
        "iat": int(now),
        "exp": int(now + lifetime),
    }


def _sign_assertion(client: ClientConfig, claims: dict[str, Any]) -> str:
    """Sign ``claims`` as a compact JWS with the client's key or secret."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    key: OctKey | PrivateKey
    header: dict[str, Any]
    if client.method == "client_secret_jwt":
        alg = client.signing_alg or "HS256"
        key = _hmac_key(_secret(client), alg)
        header = {"alg": alg}
    else:
        if client.private_key is None:
            raise ConfigurationError("private_key_jwt needs a private_key (a joserfc key)")
        key = client.private_key
        alg = client.signing_alg or _default_alg(key)
        header = {"alg": alg}
        if key.kid:
            header["kid"] = key.kid
    if alg.lower() == "none":
        # RFC 7523 §3: "The JWT MUST be digitally signed or have a Message Authentication
        # Code (MAC) applied by the issuer." An unsecured JWT proves nothing.
        raise ConfigurationError("a client assertion must be signed; 'none' is refused")
    try:
        # default_type=None: no "typ" header (optional, RFC 7519 §5.1).
        return jwt.encode(header, claims, key, algorithms=[alg], default_type=None)
    except JoseError as exc:
        raise ConfigurationError(
            f"cannot sign the client assertion with {alg!r}: {exc.description}"
        ) from exc


def _hmac_key(secret: str, alg: str) -> OctKey:
    """The client secret as an HMAC key, refusing one shorter than RFC 7518 §3.2 allows."""
    from joserfc.jwk import OctKey

    needed = _HMAC_KEY_BYTES.get(alg)
    if needed is None:
        raise ConfigurationError(
            f"client_secret_jwt signs with HS256, HS384 or HS512, not {alg!r}"
        )
    raw = secret.encode("utf-8")
    if len(raw) < needed:
        raise ConfigurationError(
            f"client_secret_jwt with {alg} needs a client_secret of at least {needed} bytes "
            "(RFC 7518 §3.2)"
        )
    key: OctKey = OctKey.import_key(raw)
    return key


def _default_alg(key: PrivateKey) -> str:
    """The algorithm for ``key`` when ``ClientConfig.signing_alg`` is not set.

    A key that names its own ``alg`` (a JWK member) keeps it; otherwise RS256 for RSA,
    ES256/ES384/ES512 by curve for EC, Ed25519/Ed448 (RFC 9864) for OKP.
    """
    from joserfc.jwk import ECKey, RSAKey

    if key.alg:
        return key.alg
    if isinstance(key, RSAKey):
        return "RS256"
    by_curve = _EC_ALGS if isinstance(key, ECKey) else _OKP_ALGS
    alg = by_curve.get(key.curve_name)
    if alg is None:
        raise ConfigurationError(
            f"cannot sign with a {type(key).__name__} on curve {key.curve_name!r}; "
            "set ClientConfig.signing_alg or use a signing key"
        )
    return alg
