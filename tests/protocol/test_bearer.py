"""Unit tests of oauthflow.protocol.bearer: WWW-Authenticate parsing, Authorization values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthflow.errors import ConfigurationError
from oauthflow.protocol.bearer import (
    Challenge,
    bearer_authorization,
    find_bearer_challenge,
    parse_www_authenticate,
)

PARSE_CASES: list[tuple[str, list[Challenge]]] = [
    (
        # RFC 6750 §3.1 example.
        'Bearer realm="example", error="invalid_token", '
        'error_description="The access token expired"',
        [Challenge("Bearer", {"realm": "example", "error": "invalid_token",
                              "error_description": "The access token expired"})],
    ),
    (
        'Basic realm="x", Bearer realm="api", error="invalid_token", '
        'error_description="The access token expired"',
        [
            Challenge("Basic", {"realm": "x"}),
            Challenge("Bearer", {"realm": "api", "error": "invalid_token",
                                 "error_description": "The access token expired"}),
        ],
    ),
    (
        r'Bearer realm="a \"quoted\", realm", error="invalid_token"',
        [Challenge("Bearer", {"realm": 'a "quoted", realm', "error": "invalid_token"})],
    ),
    (
        r'Bearer error_description="back\\slash and \, escaped comma"',
        [Challenge("Bearer", {"error_description": "back\\slash and , escaped comma"})],
    ),
    ("Negotiate abc==", [Challenge("Negotiate", token68="abc==")]),
    (
        'Negotiate a+b/c=, Bearer realm="x"',
        [Challenge("Negotiate", token68="a+b/c="), Challenge("Bearer", {"realm": "x"})],
    ),
    (
        'BEARER Error="invalid_token", SCOPE="read write"',
        [Challenge("BEARER", {"error": "invalid_token", "scope": "read write"})],
    ),
    ("Bearer", [Challenge("Bearer")]),
    ("Bearer, Basic realm=\"x\"", [Challenge("Bearer"), Challenge("Basic", {"realm": "x"})]),
    (
        "Bearer error=invalid_token,scope=read",
        [Challenge("Bearer", {"error": "invalid_token", "scope": "read"})],
    ),
    ('Bearer realm = "x" ,\terror=  "y"', [Challenge("Bearer", {"realm": "x", "error": "y"})]),
    ('Bearer error="first", error="second"', [Challenge("Bearer", {"error": "first"})]),
    (
        'Bearer realm="unterminated, error=',
        [Challenge("Bearer", {"realm": "unterminated, error="})],
    ),
    ("", []),
    (" , ,, ", []),
    ('"junk", Bearer error="invalid_token"', [Challenge("Bearer", {"error": "invalid_token"})]),
    ('Bearer realm="x" trailing junk, Basic', [Challenge("Bearer", {"realm": "x"}),
                                               Challenge("Basic")]),
    ("=== ,,, @@@", []),
]
PARSE_IDS = [
    "rfc6750-example", "several-challenges", "escaped-quotes-and-comma", "escaped-backslash",
    "token68", "token68-then-bearer", "case-insensitive-names", "bare-bearer",
    "bare-bearer-then-basic", "unquoted-token-values", "whitespace-around-equals",
    "duplicate-param-first-wins", "unterminated-quote", "empty", "only-commas",
    "leading-garbage", "trailing-garbage", "pure-garbage",
]


@pytest.mark.parametrize(("header", "expected"), PARSE_CASES, ids=PARSE_IDS)
def test_parse_www_authenticate(header: str, expected: list[Challenge]) -> None:
    assert parse_www_authenticate(header) == expected


def test_challenge_params_are_read_only() -> None:
    (challenge,) = parse_www_authenticate('Bearer realm="x"')
    with pytest.raises(TypeError):
        challenge.params["realm"] = "y"  # type: ignore[index]


FIND_CASES: list[tuple[list[str] | str, Challenge | None]] = [
    ('Bearer error="invalid_token"', Challenge("Bearer", {"error": "invalid_token"})),
    (['Basic realm="x"', 'bearer error="insufficient_scope", scope="admin"'],
     Challenge("bearer", {"error": "insufficient_scope", "scope": "admin"})),
    (['Bearer realm="first"', 'Bearer realm="second"'], Challenge("Bearer", {"realm": "first"})),
    (['Basic realm="x"', "Negotiate abc=="], None),
    ([], None),
    ("", None),
]


@pytest.mark.parametrize(
    ("headers", "expected"),
    FIND_CASES,
    ids=["single-string", "second-header-line", "first-bearer-wins", "no-bearer", "no-headers",
         "empty-string"],
)
def test_find_bearer_challenge(headers: list[str] | str, expected: Challenge | None) -> None:
    assert find_bearer_challenge(headers) == expected


@given(st.text())
def test_parse_www_authenticate_never_raises(header: str) -> None:
    challenges = parse_www_authenticate(header)
    assert all(challenge.scheme for challenge in challenges)


_TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_tokens = st.text(alphabet=_TCHARS, min_size=1, max_size=12)
_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(
    st.lists(
        st.tuples(_tokens, st.dictionaries(_tokens, _values, min_size=1, max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_serialized_challenges_parse_back(challenges: list[tuple[str, dict[str, str]]]) -> None:
    """Any well-formed header (quoted-string params) parses back to what was written."""
    header = ", ".join(
        scheme + " " + ", ".join(f"{name}={_quote(value)}" for name, value in params.items())
        for scheme, params in challenges
    )
    expected = []
    for scheme, params in challenges:
        lowered: dict[str, str] = {}
        for name, value in params.items():
            lowered.setdefault(name.lower(), value)
        expected.append(Challenge(scheme, lowered))
    assert parse_www_authenticate(header) == expected


AUTHORIZATION_OK = [
    ("abc", "Bearer abc"),
    ("mF_9.B5f-4.1JqM", "Bearer mF_9.B5f-4.1JqM"),
    ("a+b/c~d==", "Bearer a+b/c~d=="),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"),
]


@pytest.mark.parametrize(
    ("token", "header"), AUTHORIZATION_OK, ids=["plain", "rfc6750-example", "all-symbols", "jwt"]
)
def test_bearer_authorization(token: str, header: str) -> None:
    assert bearer_authorization(token) == header


AUTHORIZATION_BAD = ["", "a b", "abc\r\nX-Injected: 1", "t\u00e9", "a=b", "a!b", "a,b", "a\tb"]


@pytest.mark.parametrize(
    "token",
    AUTHORIZATION_BAD,
    ids=["empty", "space", "crlf-injection", "non-ascii", "equals-inside", "bang", "comma", "tab"],
)
def test_bearer_authorization_refuses_outside_b64token(token: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        bearer_authorization(token)
    if token:
        assert token not in str(caught.value)


def test_bearer_authorization_lenient_mode_allows_visible_ascii_only() -> None:
    # Salesforce-style token with "!".
    assert bearer_authorization("00Dxx!AQ.abc", strict=False) == "Bearer 00Dxx!AQ.abc"
    for token in ("", "a b", "abc\r\nX: 1", "t\u00e9"):
        with pytest.raises(ConfigurationError):
            bearer_authorization(token, strict=False)
