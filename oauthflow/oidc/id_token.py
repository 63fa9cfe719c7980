"""Validate an ID token completely: signature with the provider's keys, then every claim.

Spec: OpenID Connect Core 1.0 §3.1.3.7 (ID Token Validation), §3.1.3.8 (``at_hash``),
§10.1 (signing); RFC 8725 (JWT best current practices).

The order matters: the header is parsed and the algorithm checked against the allow-list
first, the key is found (refreshing the JWKS once for an unknown ``kid``), the signature is
verified, and only then are the claims read, so nothing an attacker wrote into an unsigned
token can influence anything but the key lookup.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from joserfc.jwk import OctKey, OKPKey

from oauthflow.clock import Clock, SystemClock
from oauthflow.errors import ConfigurationError, InvalidResponseError
from oauthflow.oidc.claims import ClaimChecks, IdTokenClaims, check_id_token_claims
from oauthflow.oidc.errors import IdTokenError
from oauthflow.oidc.jose import (
    HMAC_ALGS,
    CompactJwt,
    VerifyingKey,
    allowed_algorithms,
    check_alg,
    parse_compact_jwt,
    token_hash,
    verify_signature,
)
from oauthflow.oidc.jwks import JwksCache
from oauthflow.protocol.authorization import AuthorizationRequest
from oauthflow.token import Token

__all__ = ["validate_id_token", "validate_login", "verify_jwt_signature"]


async def validate_id_token(
    id_token: str,
    *,
    jwks: JwksCache,
    issuer: str,
    client_id: str,
    nonce: str | None,
    access_token: str | None = None,
    max_age: int | None = None,
    acr_values: Sequence[str] = (),
    leeway: float = 60.0,
    allowed_algs: Collection[str] | None = None,
    client_secret: str | None = None,
    clock: Clock | None = None,
) -> IdTokenClaims:
    """Validate ``id_token`` as OpenID Connect Core §3.1.3.7 requires; its claims.

    Args:
        id_token: the ``id_token`` of the token response (``token.id_token``).
        jwks: the provider's keys (:meth:`JwksCache.for_server`).
        issuer: the provider's issuer identifier, exactly (from discovery).
        client_id: this client's identifier: must be an audience (and the ``azp``).
        nonce: the ``nonce`` sent in the authorization request (``pending.nonce``); pass
            ``None`` explicitly when none was sent, e.g. for an ID token from a refresh.
        access_token: the access token of the same response; its ``at_hash`` is checked
            when the token has one.
        max_age: the ``max_age`` sent: ``auth_time`` is then required and must be recent.
        acr_values: acceptable ``acr`` values (checked as essential); empty accepts any.
        leeway: clock skew allowed, in seconds, for ``exp``, ``iat`` and ``auth_time``.
        allowed_algs: the JWS algorithms to accept. Default: ``jwks.algorithms`` (what the
            provider advertises), else every asymmetric algorithm. ``none`` is never
            accepted; ``HS256``/``HS384``/``HS512`` only with ``client_secret``.
        client_secret: for providers that sign ID tokens with the client secret (HS*,
            OIDC Core §10.1). Never needed otherwise.
        clock: wall-clock source for ``exp``/``iat``/``auth_time``.

    Raises:
        IdTokenError: with ``.code`` naming the failed check (``malformed``,
            ``alg_not_allowed``, ``unknown_key``, ``kid_ambiguous``, ``bad_signature``,
            ``iss_mismatch``, ``aud_mismatch``, ``azp_missing``, ``azp_mismatch``,
            ``expired``, ``iat_in_future``, ``nonce_missing``, ``nonce_mismatch``,
            ``at_hash_mismatch``, ``auth_time_missing``, ``auth_time_too_old``,
            ``acr_mismatch``).
        TransportError, InvalidResponseError: the JWKS was needed and could not be fetched.
        ConfigurationError: ``allowed_algs`` names ``none`` or unknown algorithms, or
            ``leeway`` is negative.

    Cancellation: cancelling the caller stops its wait; a JWKS fetch it started goes on
    for the other callers and its result is kept.
    """
    if leeway < 0:
        raise ConfigurationError("leeway must be >= 0 seconds")
    clock = clock or SystemClock()
    jwt = parse_compact_jwt(id_token)
    key = await _verified_key(jwt, jwks, allowed_algs, client_secret)
    checks = ClaimChecks(
        issuer=issuer, client_id=client_id, nonce=nonce, now=clock.time(), leeway=leeway,
        expected_at_hash=_at_hash(access_token, jwt.alg, key), max_age=max_age,
        acr_values=tuple(acr_values),
    )
    return check_id_token_claims(jwt.claims, checks)


async def validate_login(
    pending: AuthorizationRequest,
    token: Token,
    *,
    jwks: JwksCache,
    client_id: str,
    acr_values: Sequence[str] = (),
    leeway: float = 60.0,
    allowed_algs: Collection[str] | None = None,
    client_secret: str | None = None,
    clock: Clock | None = None,
) -> IdTokenClaims:
    """Validate the ID token of a login: :func:`validate_id_token` with what the login
    sent (``pending.issuer``, ``pending.nonce``, the ``max_age`` parameter) and the access
    token of the same response (for ``at_hash``).

    For ``exchange_code(...)``'s result::

        pending = await start_authorization(transport, server, client, scope=["openid"])
        ...
        token = await exchange_code(transport, server, client, pending, callback)
        claims = await validate_login(pending, token, jwks=jwks, client_id=client.client_id)

    Raises:
        InvalidResponseError: ``missing_field`` when the response has no ``id_token``
            although ``openid`` was requested (OIDC Core §3.1.3.3: "id_token REQUIRED").
        IdTokenError, TransportError, ConfigurationError: as :func:`validate_id_token`;
            ConfigurationError also when the login's issuer is unknown (metadata without
            ``issuer``).

    Cancellation: as :func:`validate_id_token`.
    """
    if pending.issuer is None:
        raise ConfigurationError("the login's server metadata has no issuer to check iss against")
    if not token.id_token:
        raise InvalidResponseError(
            InvalidResponseError.MISSING_FIELD, "the token response has no id_token", status=200
        )
    return await validate_id_token(
        token.id_token, jwks=jwks, issuer=pending.issuer, client_id=client_id,
        nonce=pending.nonce, access_token=token.access_token, max_age=_max_age(pending),
        acr_values=acr_values, leeway=leeway, allowed_algs=allowed_algs,
        client_secret=client_secret, clock=clock,
    )


def _max_age(pending: AuthorizationRequest) -> int | None:
    """The ``max_age`` the request carried (the flow checked it is a non-negative integer)."""
    for name, value in pending.parameters:
        if name == "max_age":
            return int(value)
    return None


async def verify_jwt_signature(
    jwt: CompactJwt,
    jwks: JwksCache,
    *,
    allowed_algs: Collection[str] | None = None,
    client_secret: str | None = None,
) -> VerifyingKey:
    """Check the algorithm of a parsed JWT, find its key and verify its signature.

    For any signed JWT from the provider (ID tokens, signed UserInfo responses).
    Returns the key that verified it.

    Raises:
        IdTokenError: ``alg_not_allowed``, ``unknown_key``, ``kid_ambiguous`` or
            ``bad_signature``.
        TransportError, InvalidResponseError: the JWKS was needed and could not be fetched.

    Cancellation: as :func:`validate_id_token`.
    """
    return await _verified_key(jwt, jwks, allowed_algs, client_secret)


async def _verified_key(
    jwt: CompactJwt,
    jwks: JwksCache,
    allowed_algs: Collection[str] | None,
    client_secret: str | None,
) -> VerifyingKey:
    allowed = allowed_algorithms(allowed_algs, jwks.algorithms)
    check_alg(jwt.alg, allowed, have_secret=bool(client_secret))
    key: VerifyingKey
    if jwt.alg in HMAC_ALGS:
        # OIDC Core §10.1: "the octets of the UTF-8 representation of the client_secret
        # corresponding to the client_id are used as the key".
        assert client_secret
        key = OctKey.import_key(client_secret.encode("utf-8"))
    else:
        key = await jwks.key_for(jwt.alg, jwt.kid)
    if not verify_signature(jwt, key):
        raise IdTokenError(IdTokenError.BAD_SIGNATURE, "the JWT signature does not verify")
    return key


def _at_hash(access_token: str | None, alg: str, key: VerifyingKey) -> str | None:
    if access_token is None:
        return None
    curve = key.curve_name if isinstance(key, OKPKey) else None
    return token_hash(access_token, alg, curve)
