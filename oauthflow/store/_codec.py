"""How a token is written into a persistent store: JSON in a small, versioned envelope.

Every store of this package writes the same document::

    {"oauthflow_token": 1, "version": "<opaque>", "token": {...Token.to_dict()...}}

``oauthflow_token`` is the format number (a later oauthflow that changes the layout bumps
it, and an older one refuses the file instead of misreading it); ``version`` is the
compare-and-swap version of a shared store (absent where the store keeps it elsewhere).
The document holds secrets: stores protect it (file mode 0600, keyring, Redis ACLs).
"""

from __future__ import annotations

import json
from typing import Any

from oauthflow.errors import TokenUnavailableError
from oauthflow.token import Token

__all__ = ["FORMAT", "MAX_DOCUMENT_BYTES", "decode", "encode"]

FORMAT = 1
#: A stored token is a few kilobytes; anything far larger is not ours (read no more).
MAX_DOCUMENT_BYTES = 1024 * 1024


def encode(token: Token, version: str | None = None) -> bytes:
    """The stored document for ``token`` (UTF-8 JSON, compact, keys sorted)."""
    document: dict[str, Any] = {"oauthflow_token": FORMAT, "token": token.to_dict()}
    if version is not None:
        document["version"] = version
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode(raw: bytes | str, where: str) -> tuple[Token, str | None]:
    """The token and version held by a stored document.

    Raises:
        TokenUnavailableError: the document is not an oauthflow token (not JSON, another
            format, a field of the wrong type). The message names ``where`` and the
            reason, never the content (it may hold secrets).
    """
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _unreadable(where, f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise _unreadable(where, "not JSON") from None
    if not isinstance(document, dict):
        raise _unreadable(where, "not a JSON object")
    if document.get("oauthflow_token") != FORMAT:
        raise _unreadable(where, f"not format {FORMAT} (oauthflow_token)")
    data, version = document.get("token"), document.get("version")
    if not isinstance(data, dict):
        raise _unreadable(where, "no token object")
    if version is not None and not isinstance(version, str):
        raise _unreadable(where, "version is not a string")
    try:
        return Token.from_dict(data), version
    except (TypeError, ValueError) as exc:  # from_dict's messages name fields, not values
        raise _unreadable(where, str(exc)) from None


def _unreadable(where: str, reason: str) -> TokenUnavailableError:
    return TokenUnavailableError(
        f"{where} does not hold a readable oauthflow token ({reason}); "
        "remove it to start over (log in again)"
    )
