"""The claim checks of an ID token (OpenID Connect Core §3.1.3.7), pure: no I/O, no clock.

Run only on the claims of a token whose signature has verified. Each check raises an
:class:`~oauthflow.oidc.errors.IdTokenError` whose ``.code`` names it; messages name the
claim, never its value.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from oauthflow.oidc.errors import IdTokenError

__all__ = ["ClaimChecks", "IdTokenClaims", "check_id_token_claims"]


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class IdTokenClaims:
    """The validated claims of an ID token: who logged in, where, when and how.

    Attributes:
        sub: the user's identifier at the issuer; with ``iss``, the key to your user record
            (OIDC Core §5.7: "The sub (subject) and iss (issuer) Claims, used together, are
            the only Claims that an RP can rely upon as a stable identifier").
        iss: the issuer.
        aud: the audiences (always a tuple, even when the token had a single string).
        exp, iat: expiry and issue time (seconds since the epoch).
        nonce: the nonce the token carried, if any.
        auth_time: when the user authenticated, if the token said.
        acr: the authentication context class reference, if any.
        amr: the authentication methods references (empty when absent).
        azp: the authorized party, if any.
        claims: every claim of the token, read-only (``email``, ``name``...).

    ``repr`` shows only ``sub`` and ``iss``: the other claims are personal data.
    """

    sub: str
    iss: str
    aud: tuple[str, ...]
    exp: float
    iat: float
    nonce: str | None = None
    auth_time: float | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    azp: str | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not isinstance(self.claims, MappingProxyType):
            object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))

    def __repr__(self) -> str:
        return f"IdTokenClaims(sub={self.sub!r}, iss={self.iss!r})"

    __str__ = __repr__

    def get(self, name: str, default: Any = None) -> Any:
        """A claim by name (``claims.get("email")``)."""
        return self.claims.get(name, default)


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ClaimChecks:
    """What the claims must satisfy.

    Attributes:
        issuer: the expected ``iss``, exactly.
        client_id: must be among ``aud`` (and equal ``azp`` when present).
        nonce: the nonce sent in the authorization request; ``None`` when none was sent
            (then a ``nonce`` in the token is not checked).
        now: wall-clock seconds since the epoch.
        leeway: allowed clock skew in seconds, for ``exp``, ``iat`` and ``auth_time``.
        expected_at_hash: the ``at_hash`` the access token gives; ``None`` skips the check.
        max_age: the ``max_age`` sent; then ``auth_time`` is required and must be recent.
        acr_values: acceptable ``acr`` values; empty accepts any.
    """

    issuer: str
    client_id: str
    nonce: str | None
    now: float
    leeway: float = 60.0
    expected_at_hash: str | None = field(default=None)
    max_age: int | None = None
    acr_values: Sequence[str] = ()


def _fail(code: str, message: str) -> IdTokenError:
    return IdTokenError(code, message)


def _string(claims: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise _fail(IdTokenError.MALFORMED, f"the ID token has no '{name}' claim")
        return None
    if not isinstance(value, str) or (required and not value):
        raise _fail(IdTokenError.MALFORMED, f"the ID token claim '{name}' is not a string")
    return value


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    """RFC 7519 §2 NumericDate: "A JSON numeric value representing the number of seconds
    from 1970-01-01T00:00:00Z UTC"; non-integer values allowed."""
    value = claims.get(name)
    if value is None:
        if required:
            raise _fail(IdTokenError.MALFORMED, f"the ID token has no '{name}' claim")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(IdTokenError.MALFORMED, f"the ID token claim '{name}' is not a number")
    return float(value)


def _audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """OIDC Core §2: "aud ... It MAY also contain identifiers for other audiences. In the
    general case, the aud value is an array of case-sensitive strings. In the common
    special case when there is one audience, the aud value MAY be a single
    case-sensitive string." """
    aud = claims.get("aud")
    if isinstance(aud, str) and aud:
        return (aud,)
    if isinstance(aud, list) and aud and all(isinstance(item, str) for item in aud):
        return tuple(aud)
    raise _fail(IdTokenError.MALFORMED, "the ID token claim 'aud' is not a string or an array")


def _string_list(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(IdTokenError.MALFORMED, f"the ID token claim '{name}' is not a string array")
    return tuple(value)


def check_id_token_claims(claims: Mapping[str, Any], checks: ClaimChecks) -> IdTokenClaims:
    """Check ``claims`` (from a verified ID token) and return them as :class:`IdTokenClaims`.

    The checks, in order, each with its own error code: the types of the standard claims
    (``malformed``), ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``, ``at_hash``,
    ``auth_time`` with ``max_age``, ``acr``.

    Raises:
        IdTokenError: the first check that failed.
    """
    values = _read(claims)
    _check_issuer(values.iss, checks.issuer)
    _check_audience(values, checks.client_id)
    _check_times(values, checks)
    _check_nonce(values.nonce, checks.nonce)
    _check_at_hash(claims, checks.expected_at_hash)
    _check_auth_time(values, checks)
    _check_acr(values.acr, checks.acr_values)
    return values


def _read(claims: Mapping[str, Any]) -> IdTokenClaims:
    """OIDC Core §2: ``iss``, ``sub``, ``aud``, ``exp``, ``iat`` are REQUIRED."""
    iss = _string(claims, "iss", required=True)
    sub = _string(claims, "sub", required=True)
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=True)
    assert iss is not None
    assert sub is not None
    assert exp is not None
    assert iat is not None
    return IdTokenClaims(
        sub=sub, iss=iss, aud=_audiences(claims), exp=exp, iat=iat,
        nonce=_string(claims, "nonce", required=False),
        auth_time=_number(claims, "auth_time", required=False),
        acr=_string(claims, "acr", required=False), amr=_string_list(claims, "amr"),
        azp=_string(claims, "azp", required=False), claims=claims,
    )


def _check_issuer(iss: str, issuer: str) -> None:
    """§3.1.3.7 item 2: "The Issuer Identifier for the OpenID Provider (which is typically
    obtained during Discovery) MUST exactly match the value of the iss (issuer) Claim." """
    if iss != issuer:
        raise _fail(IdTokenError.ISS_MISMATCH, "the ID token's 'iss' is not the expected issuer")


def _check_audience(values: IdTokenClaims, client_id: str) -> None:
    """§3.1.3.7 item 3: "The Client MUST validate that the aud (audience) Claim contains
    its client_id value registered at the Issuer". Items 4-5: "If the ID Token contains
    multiple audiences, the Client SHOULD verify that an azp Claim is present." "If an azp
    (authorized party) Claim is present, the Client SHOULD verify that its client_id is
    the Claim Value." Both SHOULDs are enforced."""
    if client_id not in values.aud:
        raise _fail(IdTokenError.AUD_MISMATCH, "the ID token's 'aud' does not have our client_id")
    if len(values.aud) > 1 and values.azp is None:
        raise _fail(IdTokenError.AZP_MISSING, "the ID token has several audiences and no 'azp'")
    if values.azp is not None and values.azp != client_id:
        raise _fail(IdTokenError.AZP_MISMATCH, "the ID token's 'azp' is not our client_id")


def _check_times(values: IdTokenClaims, checks: ClaimChecks) -> None:
    """§3.1.3.7 item 9: "The current time MUST be before the time represented by the exp
    Claim (possibly allowing for some small leeway to account for clock skew)." Item 10:
    "The iat Claim can be used to reject tokens that were issued too far away from the
    current time": one issued in the future (beyond the leeway) is rejected."""
    if checks.now >= values.exp + checks.leeway:
        raise _fail(IdTokenError.EXPIRED, "the ID token has expired ('exp' is past)")
    if values.iat > checks.now + checks.leeway:
        raise _fail(IdTokenError.IAT_IN_FUTURE, "the ID token's 'iat' is in the future")


def _check_nonce(nonce: str | None, expected: str | None) -> None:
    """§3.1.3.7 item 11: "If a nonce value was sent in the Authentication Request, a nonce
    Claim MUST be present and its value checked to verify that it is the same value as the
    one that was sent in the Authentication Request." Compared in constant time."""
    if expected is None:
        return
    if nonce is None:
        raise _fail(IdTokenError.NONCE_MISSING, "a nonce was sent but the ID token has none")
    if not hmac.compare_digest(nonce.encode("utf-8"), expected.encode("utf-8")):
        raise _fail(IdTokenError.NONCE_MISMATCH, "the ID token's 'nonce' is not the one sent")


def _check_at_hash(claims: Mapping[str, Any], expected: str | None) -> None:
    """§3.1.3.8: "If the ID Token contains an at_hash Claim, the Client MAY use it to
    validate the Access Token" (§3.2.2.9 for the implicit flow). Checked whenever it is
    present and the access token is known."""
    at_hash = claims.get("at_hash")
    if at_hash is None or expected is None:
        return
    if not isinstance(at_hash, str):
        raise _fail(IdTokenError.MALFORMED, "the ID token claim 'at_hash' is not a string")
    if not hmac.compare_digest(at_hash.encode("utf-8"), expected.encode("ascii")):
        raise _fail(
            IdTokenError.AT_HASH_MISMATCH, "the ID token's 'at_hash' does not fit the access token"
        )


def _check_auth_time(values: IdTokenClaims, checks: ClaimChecks) -> None:
    """§3.1.3.7 item 13: "If the max_age request parameter was used, the Client SHOULD
    check the auth_time Claim value and request re-authentication if it determines too
    much time has elapsed since the last End-User authentication." §3.1.2.1: with
    max_age "the auth_time Claim value is REQUIRED"."""
    if checks.max_age is None:
        return
    if values.auth_time is None:
        raise _fail(
            IdTokenError.AUTH_TIME_MISSING, "max_age was sent but the ID token has no 'auth_time'"
        )
    if checks.now > values.auth_time + checks.max_age + checks.leeway:
        raise _fail(
            IdTokenError.AUTH_TIME_TOO_OLD, "the user authenticated longer ago than max_age allows"
        )


def _check_acr(acr: str | None, acr_values: Sequence[str]) -> None:
    """§3.1.3.7 item 12: "If the acr Claim was requested, the Client SHOULD check that the
    asserted Claim Value is appropriate." Treated as essential: with ``acr_values`` given,
    ``acr`` must be one of them."""
    if not acr_values:
        return
    if acr is None or acr not in acr_values:
        raise _fail(IdTokenError.ACR_MISMATCH, "the ID token's 'acr' is not one of those required")
