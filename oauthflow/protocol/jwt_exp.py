"""Read the ``exp`` claim of a JWT access token WITHOUT verifying it, to schedule renewal.

Spec: RFC 7519 §4.1.4 (``exp``), RFC 7515 §7.1 (JWS compact serialization).

Security: nothing here is verified, and nothing here may be used to *trust* a token. The
client is not the token's audience and an access token is opaque to it (RFC 6749 §1.4);
the only use of this value is to guess when to renew a token whose response carried no
``expires_in``. A forged ``exp`` can at worst make the client renew early or late, and a
late renewal is caught by the resource server's 401.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Final

__all__ = ["unverified_jwt_exp"]

# A JWS compact serialization has exactly three parts; a JWE (five parts) is encrypted
# and its claims cannot be read. Longer payloads than this are not worth decoding.
_MAX_PAYLOAD_CHARS: Final = 64 * 1024


def unverified_jwt_exp(token: str) -> float | None:
    """The numeric ``exp`` claim of ``token`` if it is a readable JWS JWT, else ``None``.

    Never raises: an opaque token, a JWE, bad base64, a payload that is not a JSON object,
    or an ``exp`` that is not a finite, positive number all give ``None``.
    """
    parts = token.split(".")
    if len(parts) != 3 or not parts[1] or len(parts[1]) > _MAX_PAYLOAD_CHARS:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    try:
        value = float(exp)
    except OverflowError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value
