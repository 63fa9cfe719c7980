"""A short, safe excerpt of a response body that is not JSON, for error messages.

A person reading ``response_not_json ... body starts with '<html><title>502 Bad
Gateway'`` knows at once that a proxy, not the authorization server, answered. The excerpt
is made safe before it reaches an exception message (and so a log):

- decoded leniently (``errors="replace"``) and cut to ``limit`` characters;
- control characters removed (no forged log lines, no terminal escapes);
- values of secret-looking members redacted, in both ``name=value`` (a form-encoded token
  response, as GitHub sends without ``Accept: application/json``) and ``"name": "value"``
  (a truncated or malformed JSON token response) spellings.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SNIPPET_LENGTH", "body_snippet", "strip_controls"]

SNIPPET_LENGTH: Final = 200

# Names whose values are credentials (RFC 6749 §4-6, RFC 7523, RFC 7636, RFC 8628).
# Matched case-insensitively, with or without the underscore ("accessToken").
_SECRET_NAMES: Final = (
    r"access_?token|refresh_?token|id_?token|token|client_?secret|client_?assertion"
    r"|assertion|code_?verifier|device_?code|code|password|secret|subject_?token"
    r"|actor_?token"
)
# name, optional closing quote, ":" or "=", then a quoted value (possibly cut off) or a
# run of characters up to the next delimiter.
_SECRET_MEMBER: Final = re.compile(
    rf"""(?ix)
    (?<![A-Za-z0-9_])(?P<name>{_SECRET_NAMES})(?![A-Za-z0-9_])
    (?P<sep>["']?\s*[:=]\s*)
    (?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s&,;"'<>}}\]]+)
    """
)
# C0 and C1 controls and DEL; whitespace controls become a space first.
_WHITESPACE_CONTROLS: Final = re.compile(r"[\t\n\r\v\f]+")
_CONTROLS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """``text`` without control characters: CR, LF and tabs become one space, others go.

    For any server-supplied text that reaches a message or a log line.
    """
    return _CONTROLS.sub("", _WHITESPACE_CONTROLS.sub(" ", text))


def _redact(match: re.Match[str]) -> str:
    return f"{match['name']}{match['sep']}<redacted>"


def body_snippet(body: bytes, *, limit: int = SNIPPET_LENGTH) -> str | None:
    """The first ``limit`` characters of ``body``, cleaned and redacted; ``None`` if empty.

    Only for bodies that could not be parsed as JSON: a parsed JSON body is never quoted,
    since its members may be tokens under any name.
    """
    # 4 bytes per character covers any UTF-8 text; decoding more would only be thrown away
    # (a little more is kept so that redaction sees a whole value at the cut).
    text = body[: limit * 4 + 256].decode("utf-8", errors="replace")
    text = _SECRET_MEMBER.sub(_redact, strip_controls(text))
    text = text[:limit].strip()
    return text or None
