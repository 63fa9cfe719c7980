"""Unit tests of parse_token_response / raise_for_error_response (RFC 6749 §5.1, §5.2).

One row per parsing rule; Hypothesis checks that nothing but the documented errors escapes.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthflow.errors import InvalidResponseError, OAuthError
from oauthflow.protocol import responses, token_endpoint
from oauthflow.protocol.http import HttpResponse
from oauthflow.protocol.responses import raise_for_error_response
from oauthflow.protocol.token_endpoint import parse_token_response
from oauthflow.token import Token

AT = 1_700_000_000.0
JSON = {"Content-Type": "application/json"}


def _response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return HttpResponse(status=status, headers=JSON if headers is None else headers, body=body)


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


JWT_WITH_EXP = _jwt({"sub": "svc", "exp": 1_700_000_900})

OK_CASES: list[tuple[HttpResponse, Token]] = [
    (
        _response({"access_token": "at", "token_type": "Bearer", "expires_in": 3600}),
        Token(access_token="at", token_type="Bearer", expires_at=AT + 3600, issued_at=AT),
    ),
    (
        _response({
            "access_token": "at", "token_type": "bearer", "expires_in": 60,
            "refresh_token": "rt", "scope": "read  write", "id_token": "idt",
            "ext_expires_in": 3599, "not-before-policy": 0,
        }),
        Token(access_token="at", token_type="bearer", expires_at=AT + 60, issued_at=AT,
              refresh_token="rt", scope=("read", "write"), id_token="idt",
              extra={"ext_expires_in": 3599, "not-before-policy": 0}),
    ),
    (
        _response({"access_token": "at", "token_type": "BEARER"}),
        Token(access_token="at", token_type="BEARER", expires_at=None, issued_at=AT),
    ),
    (
        _response({"access_token": "at", "token_type": "Bearer", "expires_in": "3600"}),
        Token(access_token="at", token_type="Bearer", expires_at=AT + 3600, issued_at=AT),
    ),
    (
        _response({"access_token": "at", "token_type": "Bearer", "expires_in": " 59.5 "}),
        Token(access_token="at", token_type="Bearer", expires_at=AT + 59.5, issued_at=AT),
    ),
    (
        _response({"access_token": "at", "token_type": "Bearer", "expires_in": 0.25}),
        Token(access_token="at", token_type="Bearer", expires_at=AT + 0.25, issued_at=AT),
    ),
    (
        _response({"access_token": "at", "token_type": "Bearer", "expires_in": 0}),
        Token(access_token="at", token_type="Bearer", expires_at=AT, issued_at=AT),
    ),
    (
        _response({"access_token": JWT_WITH_EXP, "token_type": "Bearer"}),
        Token(access_token=JWT_WITH_EXP, token_type="Bearer", expires_at=1_700_000_900.0,
              issued_at=AT),
    ),
    (
        _response({"access_token": JWT_WITH_EXP, "token_type": "Bearer", "expires_in": 30}),
        Token(access_token=JWT_WITH_EXP, token_type="Bearer", expires_at=AT + 30, issued_at=AT),
    ),
    (
        _response({"access_token": JWT_WITH_EXP, "token_type": "Bearer", "expires_in": None}),
        Token(access_token=JWT_WITH_EXP, token_type="Bearer", expires_at=1_700_000_900.0,
              issued_at=AT),
    ),
    (
        _response({"access_token": "at", "token_type": "Bearer", "refresh_token": "",
                   "id_token": None, "scope": None, "error": None}),
        Token(access_token="at", token_type="Bearer", issued_at=AT),
    ),
    (
        _response({"access_token": "at", "token_type": "Bearer", "scope": ""}),
        Token(access_token="at", token_type="Bearer", issued_at=AT, scope=()),
    ),
    (
        _response({"access_token": "at", "token_type": "Bearer"}, status=201,
                  headers={"Content-Type": "text/html"}),
        Token(access_token="at", token_type="Bearer", issued_at=AT),
    ),
    (
        _response(b'\xef\xbb\xbf{"access_token": "at", "token_type": "Bearer"}', headers={}),
        Token(access_token="at", token_type="Bearer", issued_at=AT),
    ),
]
OK_IDS = [
    "minimal", "every-member-and-extras", "upper-case-bearer-kept-as-sent",
    "string-expires-in", "string-decimal-expires-in", "float-expires-in", "zero-expires-in",
    "no-expires-in-jwt-exp", "expires-in-beats-jwt-exp", "null-expires-in-jwt-exp",
    "null-and-empty-optionals-absent", "empty-scope", "201-text-html-content-type",
    "utf8-bom-no-content-type",
]


@pytest.mark.parametrize(("response", "token"), OK_CASES, ids=OK_IDS)
def test_parses(response: HttpResponse, token: Token) -> None:
    assert parse_token_response(response, received_at=AT) == token


def test_accepted_token_types_are_case_insensitive() -> None:
    response = _response({"access_token": "at", "token_type": "DPoP", "expires_in": 1})
    token = parse_token_response(response, received_at=AT, accepted_token_types=("dpop",))
    assert token.token_type == "DPoP"
    token = parse_token_response(response, received_at=AT, accepted_token_types=["DPOP"])
    assert token.token_type == "DPoP"
    token = parse_token_response(response, received_at=AT, accepted_token_types="DPoP")
    assert token.token_type == "DPoP"


def test_extra_is_read_only_copy() -> None:
    token = parse_token_response(
        _response({"access_token": "at", "token_type": "Bearer", "x": [1]}), received_at=AT
    )
    assert dict(token.extra) == {"x": [1]}
    with pytest.raises(TypeError):
        token.extra["y"] = 2  # type: ignore[index]


OAUTH_ERRORS: list[tuple[HttpResponse, tuple[str, str | None, str | None, int]]] = [
    (
        _response({"error": "invalid_grant"}, status=200),
        ("invalid_grant", None, None, 200),
    ),
    (
        _response({"error": "invalid_grant", "error_description": "Refresh token expired",
                   "error_uri": "https://as.example.com/errors/1"}, status=400),
        ("invalid_grant", "Refresh token expired", "https://as.example.com/errors/1", 400),
    ),
    (
        _response({"error": "invalid_client", "error_description": 42, "error_uri": ["x"]},
                  status=401),
        ("invalid_client", None, None, 401),
    ),
    (
        _response({"error": "temporarily_unavailable"}, status=503,
                  headers={"Content-Type": "text/plain"}),
        ("temporarily_unavailable", None, None, 503),
    ),
    (
        _response({"error": "invalid_request", "access_token": "at", "token_type": "Bearer"}),
        ("invalid_request", None, None, 200),
    ),
    (
        _response({"error": "invalid_grant\r\n", "error_description": "bad\nINFO forged\x1b[0m",
                   "error_uri": "https://x/\u0085y"}, status=400),
        ("invalid_grant", "bad INFO forged[0m", "https://x/y", 400),
    ),
]


@pytest.mark.parametrize(
    ("response", "expected"),
    OAUTH_ERRORS,
    ids=["200-with-error", "400-full-error-object", "non-string-description-and-uri-ignored",
         "503-text-plain-json", "error-beats-access-token", "control-characters-removed"],
)
def test_oauth_error(
    response: HttpResponse, expected: tuple[str, str | None, str | None, int]
) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_token_response(response, received_at=AT)
    error = caught.value
    assert (error.error, error.error_description, error.error_uri, error.status) == expected
    assert type(error) is OAuthError


_R = InvalidResponseError
INVALID_CASES: list[tuple[HttpResponse, str, int, str | None, str | None]] = [
    # (response, code, status, snippet, field named in the message)
    (
        HttpResponse(status=502, headers={"Content-Type": "text/html"},
                     body=b"<html>\r\n<head><title>502 Bad Gateway</title></head>\n</html>"),
        _R.RESPONSE_NOT_JSON, 502,
        "<html> <head><title>502 Bad Gateway</title></head> </html>", None,
    ),
    (HttpResponse(status=200, body=b""), _R.RESPONSE_NOT_JSON, 200, None, None),
    (HttpResponse(status=200, body=b"\xff\xfe\xfa not utf"), _R.RESPONSE_NOT_JSON, 200,
     "\ufffd\ufffd\ufffd not utf", None),
    (HttpResponse(status=200, body=b"[" * 100_000), _R.RESPONSE_NOT_JSON, 200, "[" * 200, None),
    (_response(["access_token", "at"]), _R.RESPONSE_NOT_OBJECT, 200, None, None),
    (_response("at", status=400), _R.RESPONSE_NOT_OBJECT, 400, None, None),
    (_response({"message": "Internal Server Error"}, status=500), _R.UNEXPECTED_STATUS, 500,
     None, None),
    (_response({"access_token": "at", "token_type": "Bearer"}, status=302),
     _R.UNEXPECTED_STATUS, 302, None, None),
    (_response({"error": 400}, status=400), _R.INVALID_FIELD_TYPE, 400, None, "'error'"),
    (_response({"token_type": "Bearer"}), _R.MISSING_FIELD, 200, None, "'access_token'"),
    (_response({"access_token": "", "token_type": "Bearer"}), _R.MISSING_FIELD, 200, None,
     "'access_token'"),
    (_response({"access_token": None, "token_type": "Bearer"}), _R.MISSING_FIELD, 200, None,
     "'access_token'"),
    (_response({"access_token": 12345, "token_type": "Bearer"}), _R.INVALID_FIELD_TYPE, 200,
     None, "'access_token'"),
    (_response({"access_token": "at"}), _R.MISSING_FIELD, 200, None, "'token_type'"),
    (_response({"access_token": "at", "token_type": ["Bearer"]}), _R.INVALID_FIELD_TYPE, 200,
     None, "'token_type'"),
    (_response({"access_token": "at", "token_type": "mac"}), _R.UNSUPPORTED_TOKEN_TYPE, 200,
     None, "'token_type'"),
    (_response({"access_token": "at", "token_type": "DPoP"}), _R.UNSUPPORTED_TOKEN_TYPE, 200,
     None, "'token_type'"),
    (_response({"access_token": "at", "token_type": "Bearer", "expires_in": True}),
     _R.INVALID_FIELD_TYPE, 200, None, "'expires_in'"),
    (_response({"access_token": "at", "token_type": "Bearer", "expires_in": [60]}),
     _R.INVALID_FIELD_TYPE, 200, None, "'expires_in'"),
    (_response({"access_token": "at", "token_type": "Bearer", "expires_in": -1}),
     _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response({"access_token": "at", "token_type": "Bearer", "expires_in": "soon"}),
     _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response({"access_token": "at", "token_type": "Bearer", "expires_in": "-60"}),
     _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response({"access_token": "at", "token_type": "Bearer", "expires_in": "NaN"}),
     _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response(b'{"access_token": "at", "token_type": "Bearer", "expires_in": NaN}'),
     _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response(b'{"access_token": "at", "token_type": "Bearer", "expires_in": Infinity}'),
     _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response(b'{"access_token": "at", "token_type": "Bearer", "expires_in": 1e999}'),
     _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response(b'{"access_token": "at", "token_type": "Bearer", "expires_in": 1' + b"0" * 400
               + b"}"), _R.INVALID_FIELD_VALUE, 200, None, "'expires_in'"),
    (_response({"access_token": "at", "token_type": "Bearer", "refresh_token": 7}),
     _R.INVALID_FIELD_TYPE, 200, None, "'refresh_token'"),
    (_response({"access_token": "at", "token_type": "Bearer", "id_token": {"sub": "x"}}),
     _R.INVALID_FIELD_TYPE, 200, None, "'id_token'"),
    (_response({"access_token": "at", "token_type": "Bearer", "scope": ["a", "b"]}),
     _R.INVALID_FIELD_TYPE, 200, None, "'scope'"),
]
INVALID_IDS = [
    "html-502", "empty-body", "invalid-utf8", "deeply-nested-json", "json-array",
    "json-string-400", "5xx-json-without-error", "302-json-without-error", "error-not-string",
    "missing-access-token", "empty-access-token", "null-access-token", "numeric-access-token",
    "missing-token-type", "token-type-not-string", "mac-token-type", "dpop-not-accepted",
    "bool-expires-in", "list-expires-in", "negative-expires-in", "non-numeric-string-expires-in",
    "negative-string-expires-in", "nan-string-expires-in", "nan-expires-in",
    "infinite-expires-in", "overflowing-float-expires-in", "huge-int-expires-in",
    "numeric-refresh-token", "object-id-token", "list-scope",
]


@pytest.mark.parametrize(("response", "code", "status", "snippet", "field"), INVALID_CASES,
                         ids=INVALID_IDS)
def test_invalid_response(
    response: HttpResponse, code: str, status: int, snippet: str | None, field: str | None
) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_token_response(response, received_at=AT)
    error = caught.value
    assert (error.code, error.status, error.body_snippet) == (code, status, snippet)
    if field is not None:
        assert field in str(error)


def test_raise_for_error_response_returns_the_object() -> None:
    document = {"active": True, "scope": "a", "nested": {"x": [1, 2]}}
    assert raise_for_error_response(_response(document)) == document
    assert raise_for_error_response(_response({}, status=204)) == {}
    assert token_endpoint.raise_for_error_response is responses.raise_for_error_response


SECRET_BODIES = [
    (200, {"access_token": "AT-SECRET-1", "token_type": "mac", "refresh_token": "RT-SECRET-2"}),
    (400, {"error": "invalid_grant", "refresh_token": "RT-SECRET-2"}),
    (500, {"refresh_token": "RT-SECRET-2", "access_token": "AT-SECRET-1"}),
    (200, {"access_token": "AT-SECRET-1", "token_type": "Bearer", "refresh_token": 5,
           "id_token": "RT-SECRET-2"}),
    (200, {"access_token": "AT-SECRET-1", "token_type": "Bearer", "expires_in": "RT-SECRET-2"}),
    (200, {"access_token": {"value": "AT-SECRET-1"}, "token_type": "Bearer",
           "refresh_token": "RT-SECRET-2"}),
    (200, ["AT-SECRET-1", "RT-SECRET-2"]),
]


@pytest.mark.parametrize(
    ("status", "document"),
    SECRET_BODIES,
    ids=["unsupported-type", "oauth-error", "unexpected-status", "bad-refresh-type",
         "bad-expires-in", "access-token-object", "not-object"],
)
def test_errors_never_carry_token_values(status: int, document: Any) -> None:
    with pytest.raises((OAuthError, InvalidResponseError)) as caught:
        parse_token_response(_response(document, status=status), received_at=AT)
    _assert_clean(caught.value)


NON_JSON_SECRET_BODIES = [
    (b"access_token=AT-SECRET-1&scope=repo&token_type=bearer&refresh_token=RT-SECRET-2",
     "access_token=<redacted>&scope=repo&token_type=bearer&refresh_token=<redacted>"),
    (b'{"access_token": "AT-SECRET-1", "token_type": "Bearer", "refresh_token": "RT-SECRET-2',
     '{"access_token": <redacted>, "token_type": "Bearer", "refresh_token": <redacted>'),
    (b'{"token_type":"Bearer","id_token":\'AT-SECRET-1\',"code": "RT-SECRET-2" oops',
     '{"token_type":"Bearer","id_token":<redacted>,"code": <redacted> oops'),
    (b"<pre>\x1b[31m oops\x00\xc2\x9b\r\nclient_secret = RT-SECRET-2</pre>\tpassword=AT-SECRET-1",
     "<pre>[31m oops client_secret = <redacted></pre> password=<redacted>"),
    (b"Error: {accessToken: 'AT-SECRET-1', refreshToken: RT-SECRET-2}",
     "Error: {accessToken: <redacted>, refreshToken: <redacted>}"),
]


@pytest.mark.parametrize(
    ("body", "snippet"),
    NON_JSON_SECRET_BODIES,
    ids=["form-encoded-github-style", "truncated-json", "json-ish-single-quotes",
         "control-characters", "camel-case-names"],
)
def test_non_json_snippets_redact_secret_members(body: bytes, snippet: str) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_token_response(HttpResponse(status=200, body=body), received_at=AT)
    assert caught.value.code == InvalidResponseError.RESPONSE_NOT_JSON
    assert caught.value.body_snippet == snippet
    _assert_clean(caught.value)


def test_snippet_has_no_control_characters() -> None:
    body = b"<pre>\x1b[31mfailed\x07\x00\r\nat line 3\x7f\xc2\x85</pre>"
    with pytest.raises(InvalidResponseError) as caught:
        parse_token_response(HttpResponse(status=500, body=body), received_at=AT)
    assert caught.value.body_snippet == "<pre>[31mfailed at line 3</pre>"
    assert "\x1b" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_snippet_is_cut_to_200_characters() -> None:
    body = ("é" * 150 + "x" * 300).encode()
    with pytest.raises(InvalidResponseError) as caught:
        parse_token_response(HttpResponse(status=502, body=body), received_at=AT)
    assert caught.value.body_snippet == "é" * 150 + "x" * 50


def _assert_clean(error: Exception) -> None:
    text = f"{error} {error!r} {error.args!r} {vars(error)!r}"
    assert "AT-SECRET-1" not in text
    assert "RT-SECRET-2" not in text


_STATUSES = st.integers(min_value=100, max_value=599)


def _check_outcome(response: HttpResponse) -> None:
    try:
        token = parse_token_response(response, received_at=AT)
    except (OAuthError, InvalidResponseError):
        return
    assert token.access_token
    assert token.issued_at == AT
    assert token.expires_at is None or math.isfinite(token.expires_at)
    assert 200 <= response.status < 300


@given(body=st.binary(max_size=300), status=_STATUSES)
def test_arbitrary_bytes_raise_only_documented_errors(body: bytes, status: int) -> None:
    _check_outcome(HttpResponse(status=status, body=body))


_json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)
_MEMBERS = ["access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token",
            "error", "error_description", "error_uri"]
_member_values = st.one_of(
    _json_values,
    st.sampled_from(["Bearer", "bearer", "mac", "3600", "-1", "1e3", "", "invalid_grant"]),
    st.just(JWT_WITH_EXP),
)


@given(
    document=st.dictionaries(st.sampled_from(_MEMBERS) | st.text(max_size=8), _member_values,
                             max_size=8),
    status=st.sampled_from([200, 200, 200, 201, 400, 401, 500, 503]),
)
def test_arbitrary_json_objects_raise_only_documented_errors(
    document: dict[str, Any], status: int
) -> None:
    _check_outcome(HttpResponse(status=status, body=json.dumps(document).encode()))


@given(
    expires_in=_json_values | st.text(alphabet="0123456789.-e+ ", max_size=8),
    extra=st.dictionaries(st.text(max_size=8), _json_values, max_size=3),
)
def test_nearly_valid_responses(expires_in: Any, extra: dict[str, Any]) -> None:
    """A valid core with arbitrary ``expires_in`` and extras: a Token or a typed error."""
    document = {**extra, "access_token": "at", "token_type": "Bearer", "expires_in": expires_in}
    document.pop("error", None)
    _check_outcome(HttpResponse(status=200, body=json.dumps(document).encode()))


def test_jwt_exp_at_or_before_receipt_counts_as_unknown() -> None:
    """A just-issued token whose ``exp`` has passed means skewed clocks: expiry unknown."""
    for exp in (AT - 30, AT):
        token_value = _jwt({"sub": "svc", "exp": exp})
        response = _response({"access_token": token_value, "token_type": "Bearer"})
        assert parse_token_response(response, received_at=AT).expires_at is None
    later = _jwt({"sub": "svc", "exp": AT + 1})
    response = _response({"access_token": later, "token_type": "Bearer"})
    assert parse_token_response(response, received_at=AT).expires_at == AT + 1
