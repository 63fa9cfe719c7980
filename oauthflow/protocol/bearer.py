"""Bearer tokens on the wire: the ``Authorization`` value and ``WWW-Authenticate`` challenges.

Spec: RFC 6750 §2.1 (``Authorization: Bearer``), §3 and §3.1 (the ``WWW-Authenticate``
response header and its ``error`` codes), RFC 7235 §2.1 and §4.1 (challenge syntax)::

    WWW-Authenticate = 1#challenge
    challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param  = token BWS "=" BWS ( token / quoted-string )
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

Commas separate both challenges and the parameters of one challenge, so a name followed
by ``=`` is a parameter and a name followed by anything else starts a new challenge.
The parser is tolerant: it never raises and returns what it could read from garbage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from oauthflow.errors import ConfigurationError

__all__ = [
    "Challenge",
    "bearer_authorization",
    "find_bearer_challenge",
    "parse_www_authenticate",
]

# RFC 7230 §3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
# "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# token68 followed by optional whitespace and the end of the challenge (a comma or the end).
_TOKEN68: Final = re.compile(r"([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|\Z)")
_OWS: Final = re.compile(r"[ \t]*")
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_VISIBLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header.

    Attributes:
        scheme: the auth-scheme as sent (compare ``scheme.lower()``).
        params: auth-params, names lower-cased, quoted-string values unescaped; a name
            repeated within one challenge keeps its first value.
        token68: the token68 form (``Negotiate abc==``), if the challenge used it.
    """

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    token68: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.params, MappingProxyType):
            object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


class _Scanner:
    """A cursor over one header value; every method consumes zero or more characters."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ows(self) -> None:
        match = _OWS.match(self.text, self.pos)
        if match:
            self.pos = match.end()

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.pos)
        if found:
            self.pos = found.end()
        return found

    def quoted_string(self) -> str:
        """Read a quoted-string at ``pos`` (on the opening quote), unescaping quoted-pairs.

        RFC 7230 §3.2.6: quoted-pair = "\\" ( HTAB / SP / VCHAR / obs-text ). An
        unterminated string runs to the end of the header.
        """
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                break
            if char == "\\" and self.pos < len(self.text):
                char = self.text[self.pos]
                self.pos += 1
            chars.append(char)
        return "".join(chars)

    def skip_to_comma(self) -> None:
        """Skip garbage up to (not past) the next comma outside a quoted string."""
        while not self.at_end() and self.peek() != ",":
            if self.peek() == '"':
                self.quoted_string()
            else:
                self.pos += 1


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse one ``WWW-Authenticate`` header value into its challenges (RFC 7235 §4.1).

    Several challenges in one value are split correctly, including quoted strings that
    contain commas and escaped quotes. Never raises: unreadable parts are skipped.
    """
    scanner = _Scanner(header)
    challenges: list[Challenge] = []
    while not scanner.at_end():
        scanner.skip_ows()
        if scanner.peek() == ",":
            scanner.pos += 1
            continue
        scheme = scanner.match(_TOKEN)
        if scheme is None:
            scanner.skip_to_comma()
            continue
        challenges.append(_challenge_body(scanner, scheme.group()))
    return challenges


def _challenge_body(scanner: _Scanner, scheme: str) -> Challenge:
    """Read what follows an auth-scheme: nothing, a token68, or auth-params."""
    had_space = scanner.peek() in (" ", "\t")
    scanner.skip_ows()
    if not had_space or scanner.at_end() or scanner.peek() == ",":
        return Challenge(scheme=scheme)
    start = scanner.pos
    token68 = scanner.match(_TOKEN68)
    if token68 is not None:
        return Challenge(scheme=scheme, token68=token68.group(1))
    scanner.pos = start
    return Challenge(scheme=scheme, params=_auth_params(scanner))


def _auth_params(scanner: _Scanner) -> dict[str, str]:
    """Read ``#auth-param`` until the end or a name that starts the next challenge."""
    params: dict[str, str] = {}
    while not scanner.at_end():
        scanner.skip_ows()
        if scanner.peek() == ",":
            scanner.pos += 1
            continue
        start = scanner.pos
        name = scanner.match(_TOKEN)
        if name is None:
            scanner.skip_to_comma()
            continue
        scanner.skip_ows()
        if scanner.peek() != "=":
            scanner.pos = start  # a new challenge's scheme
            break
        scanner.pos += 1
        scanner.skip_ows()
        value = _param_value(scanner)
        params.setdefault(name.group().lower(), value)
        scanner.skip_ows()
        if not scanner.at_end() and scanner.peek() != ",":
            scanner.skip_to_comma()
    return params


def _param_value(scanner: _Scanner) -> str:
    if scanner.peek() == '"':
        return scanner.quoted_string()
    token = scanner.match(_TOKEN)
    return token.group() if token else ""


def find_bearer_challenge(headers: Iterable[str] | str) -> Challenge | None:
    """The first ``Bearer`` challenge among one or several ``WWW-Authenticate`` values.

    RFC 6750 §3: "All challenges defined by this specification MUST use the auth-scheme
    value "Bearer"." The scheme is compared case-insensitively (RFC 7235 §2.1). Pass
    every header line (``response.headers.getall("WWW-Authenticate", [])``).
    """
    values = [headers] if isinstance(headers, str) else headers
    for value in values:
        for challenge in parse_www_authenticate(value):
            if challenge.scheme.lower() == "bearer":
                return challenge
    return None


def bearer_authorization(access_token: str, *, strict: bool = True) -> str:
    """The ``Authorization`` header value for ``access_token``: ``"Bearer <token>"``.

    RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token, with
    b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".

    Args:
        access_token: the token, sent as is.
        strict: check the b64token syntax. ``strict=False`` accepts any visible ASCII
            (some providers, e.g. Salesforce, issue tokens with ``!``); spaces, control
            characters (header injection) and non-ASCII are refused either way.

    Raises:
        ConfigurationError: the token is empty or has characters outside the syntax
            (the message never includes the token).
    """
    pattern = _B64TOKEN if strict else _VISIBLE_ASCII
    if not isinstance(access_token, str) or not pattern.fullmatch(access_token):
        raise ConfigurationError(
            "access token cannot be sent as a Bearer credential: it is empty or has "
            "characters outside the RFC 6750 §2.1 b64token syntax"
        )
    return f"Bearer {access_token}"
