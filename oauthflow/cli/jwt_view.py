"""Decode a JWT for a person to read, WITHOUT verifying it; say when things expire in words.

Spec: RFC 7515 §7.1 (JWS compact serialization: ``header.payload.signature``, each
base64url without padding), RFC 7519 §4.1 (registered claims; ``exp``, ``nbf``, ``iat`` are
NumericDates: seconds since the epoch).

Security: decoding is not verification. Anyone can write any claims into a JWT; only the
signature, checked against the issuer's keys (:func:`oauthflow.oidc.validate_id_token`),
makes them trustworthy. The signature and the token itself are secrets of a kind (the token
is a credential), so :func:`redact` stands in for them unless asked.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

__all__ = [
    "TIME_CLAIMS",
    "DecodedJwt",
    "decode_jwt",
    "describe_expiry",
    "describe_time",
    "human_duration",
    "redact",
]

#: RFC 7519 §4.1 NumericDate claims (and OIDC Core §2 ``auth_time``).
TIME_CLAIMS: Final = ("exp", "nbf", "iat", "auth_time")
_MAX_CHARS: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class DecodedJwt:
    """The two readable parts of a JWS JWT and the length of its signature."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signature_chars: int


def _part(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        raise ValueError(f"the JWT's {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"the JWT's {what} is not a JSON object")
    return value


def decode_jwt(token: str) -> DecodedJwt:
    """Split and decode ``token`` (nothing is verified).

    Raises:
        ValueError: not a JWS compact serialization (a JWE, with five parts, is encrypted
            and cannot be read; an opaque token has no parts). The message never quotes the
            token.
    """
    token = token.strip()
    if len(token) > _MAX_CHARS:
        raise ValueError("the token is too long to be a JWT worth decoding")
    parts = token.split(".")
    if len(parts) == 5:
        raise ValueError("this is an encrypted JWT (JWE): its claims cannot be read")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ValueError("not a JWT (expected three base64url parts separated by dots)")
    return DecodedJwt(_part(parts[0], "header"), _part(parts[1], "payload"), len(parts[2]))


def human_duration(seconds: float) -> str:
    """``45 s``, ``4 min``, ``2 h``, ``3 d``: to the nearest second, then rounded down to the
    largest whole unit (days from 2 d on)."""
    seconds = round(abs(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "d" else 1):
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def describe_expiry(expires_at: float | None, now: float) -> str:
    """``expires in 4 min`` / ``expired 2 h ago`` / ``no expiry given``."""
    if expires_at is None:
        return "no expiry given"
    left = expires_at - now
    if left > 0:
        return f"expires in {human_duration(left)}"
    return f"expired {human_duration(left)} ago"


def describe_time(value: object, now: float) -> str | None:
    """A NumericDate as ``1700000000 (2023-11-14 22:13:20 UTC, 4 min ago)``, or ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    try:
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    delta = value - now
    relative = f"in {human_duration(delta)}" if delta > 0 else f"{human_duration(delta)} ago"
    shown = int(value) if float(value).is_integer() else value
    return f"{shown} ({moment:%Y-%m-%d %H:%M:%S} UTC, {relative})"


def redact(what: str, chars: int | None = None) -> str:
    """The stand-in shown for a secret: ``<hidden: 43 characters; --show-secrets shows it>``."""
    size = f"{chars} characters; " if chars is not None else ""
    return f"<{what} hidden: {size}--show-secrets shows it>"
