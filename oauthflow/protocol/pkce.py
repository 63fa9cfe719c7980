"""Proof Key for Code Exchange: the code verifier and its S256 challenge.

Spec: RFC 7636 §4.1 (code verifier), §4.2 (code challenge), §7.1 (entropy); OAuth 2.0
Security BCP (RFC 9700) §2.1.1 (use PKCE, and S256, always).

oauthflow only ever sends ``S256``: RFC 7636 §4.2 "If the client is capable of using
"S256", it MUST use "S256"". ``plain`` is not offered.

Security: a verifier is a credential until the code is exchanged; no function here puts
one in a message.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Final

from oauthflow.errors import ConfigurationError

__all__ = [
    "S256",
    "code_challenge_s256",
    "generate_code_verifier",
    "is_valid_code_verifier",
]

S256: Final = "S256"

# RFC 7636 §4.1: code-verifier = 43*128unreserved
#                unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_CODE_VERIFIER: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# 64 random bytes -> 86 base64url characters: 512 bits, well inside 43..128.
_VERIFIER_BYTES: Final = 64


def is_valid_code_verifier(verifier: object) -> bool:
    """Whether ``verifier`` is 43 to 128 characters of the RFC 3986 unreserved set."""
    return isinstance(verifier, str) and _CODE_VERIFIER.fullmatch(verifier) is not None


def generate_code_verifier() -> str:
    """A fresh code verifier (RFC 7636 §4.1): 86 base64url characters, 512 random bits.

    §4.1: "It is RECOMMENDED that the output of a suitable random number generator be used
    to create a 32-octet sequence. The octet sequence is then base64url-encoded to produce
    a 43-octet URL safe string to use as the code verifier." §7.1: "The client SHOULD
    create a "code_verifier" with a minimum of 256 bits of entropy." This uses 64 octets
    from :mod:`secrets` (base64url without padding is inside the unreserved set).
    """
    verifier = secrets.token_urlsafe(_VERIFIER_BYTES)
    if not is_valid_code_verifier(verifier):  # pragma: no cover - token_urlsafe's contract
        raise AssertionError("token_urlsafe produced an invalid code verifier")
    return verifier


def code_challenge_s256(verifier: str) -> str:
    """The ``S256`` code challenge of ``verifier`` (RFC 7636 §4.2).

    "code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))", without padding
    (RFC 7636 Appendix A).

    Raises:
        ConfigurationError: ``verifier`` is not 43-128 unreserved characters (§4.1). The
            message does not quote it.
    """
    if not is_valid_code_verifier(verifier):
        raise ConfigurationError(
            "a PKCE code verifier must be 43 to 128 characters of A-Z, a-z, 0-9, "
            '"-", ".", "_", "~" (RFC 7636 §4.1)'
        )
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
