"""Errors of the OpenID Connect layer, and the ``.code`` strings it adds.

An ID token that fails a check raises :class:`IdTokenError`, a subclass of
:class:`~oauthflow.errors.InvalidResponseError`, whose ``.code`` names the check that failed
(the constants of :class:`IdTokenError`). Match on ``.code``, not on the message::

    try:
        claims = await validate_id_token(...)
    except IdTokenError as exc:
        if exc.code == IdTokenError.EXPIRED: ...

Other OIDC response problems raise a plain :class:`~oauthflow.errors.InvalidResponseError`
with one of the codes below (:data:`ISSUER_MISMATCH` for discovery, :data:`SUB_MISMATCH`
for UserInfo), next to the codes ``errors.py`` already defines.

Security: messages name the claim or header member that failed, never a token, and never
a claim's value (claims are personal data).
"""

from __future__ import annotations

from typing import Final

from oauthflow.errors import InvalidResponseError

__all__ = ["ISSUER_MISMATCH", "IdTokenError", "SUB_MISMATCH"]

#: Discovery: the document's ``issuer`` is not exactly the configured issuer
#: (OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3.3).
ISSUER_MISMATCH: Final = InvalidResponseError.ISSUER_MISMATCH
#: UserInfo: the response's ``sub`` differs from the ID token's (OIDC Core §5.3.2).
SUB_MISMATCH: Final = InvalidResponseError.SUB_MISMATCH


class IdTokenError(InvalidResponseError):
    """An ID token failed one of the checks of OpenID Connect Core §3.1.3.7.

    Attributes:
        code: which check failed: one of the constants of this class.

    Raised only after the token's signature verified for every claim check, so a forged
    token always fails with a signature or key code, never with a claim code.
    """

    # -- the JWS (OIDC Core §3.1.3.7 item 6, RFC 7515, RFC 8725) --------------------------
    MALFORMED: Final = "malformed"  # not a JWS compact JWT, or a claim of the wrong type
    ALG_NOT_ALLOWED: Final = "alg_not_allowed"  # "none", HS* without a secret, not allowed
    UNKNOWN_KEY: Final = "unknown_key"  # no key in the JWKS (even after one refresh)
    KID_AMBIGUOUS: Final = "kid_ambiguous"  # no "kid" and several candidate keys
    BAD_SIGNATURE: Final = "bad_signature"
    # -- the claims (OIDC Core §3.1.3.7 items 2-13) ----------------------------------------
    # ISS_MISMATCH ("iss_mismatch") is inherited from InvalidResponseError (RFC 9207 uses it)
    AUD_MISMATCH: Final = "aud_mismatch"
    AZP_MISSING: Final = "azp_missing"
    AZP_MISMATCH: Final = "azp_mismatch"
    EXPIRED: Final = "expired"
    IAT_IN_FUTURE: Final = "iat_in_future"
    NONCE_MISSING: Final = "nonce_missing"
    NONCE_MISMATCH: Final = "nonce_mismatch"
    AT_HASH_MISMATCH: Final = "at_hash_mismatch"
    AUTH_TIME_MISSING: Final = "auth_time_missing"
    AUTH_TIME_TOO_OLD: Final = "auth_time_too_old"
    ACR_MISMATCH: Final = "acr_mismatch"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
