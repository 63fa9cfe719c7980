"""Unit tests of the introspection request builder and response parser (RFC 7662 §2)."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthflow.config import ClientConfig
from oauthflow.errors import ConfigurationError, InvalidResponseError, OAuthError
from oauthflow.protocol.http import HttpResponse
from oauthflow.protocol.introspection import (
    Introspection,
    build_introspection_request,
    parse_introspection_response,
)

URL = "https://as.example.com/introspect"
NOW = 1_700_000_000.0
RS = ClientConfig(client_id="api", client_secret="rs-secret")
RS_HEADER = "Basic " + base64.b64encode(b"api:rs-secret").decode()

# RFC 7662 §2.2's example response, with an audience list and one extension member.
FULL = {
    "active": True,
    "client_id": "l238j323ds-23ij4",
    "username": "jdoe",
    "scope": "read write dolphin",
    "sub": "Z5O3upPC88QrAjx00dis",
    "aud": ["https://protected.example.net/resource", "urn:example:ledger"],
    "iss": "https://server.example.com/",
    "exp": 1419356238,
    "iat": 1419350238,
    "nbf": 1419350000.5,
    "token_type": "Bearer",
    "jti": "abc-123",
    "extension_field": "twenty-seven",
    "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
}


def _response(document: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(document).encode())


# --- requests --------------------------------------------------------------------------


def test_exact_request() -> None:
    request = build_introspection_request(
        URL, RS, "AT-1", token_type_hint="access_token", now=NOW
    )
    assert (request.method, request.url, dict(request.headers), request.form) == (
        "POST",
        URL,
        {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded",
         "Authorization": RS_HEADER},
        (("token", "AT-1"), ("token_type_hint", "access_token")),
    )


def test_exact_request_of_a_post_client_without_hint() -> None:
    client = ClientConfig(client_id="api", client_secret="rs", auth_method="client_secret_post")
    request = build_introspection_request(URL, client, "RT-9", now=NOW)
    assert request.form == (("token", "RT-9"), ("client_id", "api"), ("client_secret", "rs"))
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(("token", "hint"), [("", None), ("t", "jwt")])
def test_invalid_arguments(token: str, hint: Any) -> None:
    with pytest.raises(ConfigurationError):
        build_introspection_request(URL, RS, token, token_type_hint=hint, now=NOW)


# --- responses -------------------------------------------------------------------------


def test_full_active_response() -> None:
    result = parse_introspection_response(_response(FULL))
    assert result == Introspection(
        active=True,
        scope=("read", "write", "dolphin"),
        client_id="l238j323ds-23ij4",
        username="jdoe",
        token_type="Bearer",
        exp=1419356238.0,
        iat=1419350238.0,
        nbf=1419350000.5,
        sub="Z5O3upPC88QrAjx00dis",
        aud=("https://protected.example.net/resource", "urn:example:ledger"),
        iss="https://server.example.com/",
        jti="abc-123",
        extra={"extension_field": "twenty-seven",
               "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}},
    )


def test_minimal_active_response() -> None:
    result = parse_introspection_response(_response({"active": True}))
    assert result == Introspection(active=True)
    assert dict(result.extra) == {}


@pytest.mark.parametrize(
    ("aud", "expected"),
    [("https://api.example", ("https://api.example",)), ([], ()), (None, None)],
)
def test_audience_is_always_a_tuple(aud: Any, expected: Any) -> None:
    result = parse_introspection_response(_response({"active": True, "aud": aud}))
    assert result.aud == expected


def test_null_members_count_as_absent_and_empty_scope_is_empty() -> None:
    document = {"active": True, "scope": "", "exp": None, "username": None, "aud": None,
                "error": None}
    result = parse_introspection_response(_response(document))
    assert (result.scope, result.exp, result.username, result.aud) == ((), None, None, None)
    assert dict(result.extra) == {}


@pytest.mark.parametrize(
    "document",
    [
        {"active": False},
        # §2.2: the server "SHOULD NOT include any additional information about an inactive
        # token": whatever it sends anyway is not read, even when malformed.
        {"active": False, "exp": "soon", "scope": 7, "sub": "alice", "x": 1},
    ],
    ids=["bare", "with-members"],
)
def test_inactive_response_carries_nothing_else(document: dict[str, Any]) -> None:
    assert parse_introspection_response(_response(document)) == Introspection(active=False)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({}, InvalidResponseError.MISSING_FIELD),
        ({"active": None}, InvalidResponseError.MISSING_FIELD),
        ({"active": "true"}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": 1}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": True, "exp": "1419356238"}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": True, "iat": True}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": True, "nbf": -1}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"active": True, "exp": 10**400}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"active": True, "scope": ["read"]}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": True, "aud": ["a", 1]}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": True, "aud": {"a": 1}}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": True, "sub": 42}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"active": True, "client_id": False}, InvalidResponseError.INVALID_FIELD_TYPE),
    ],
    ids=["no-active", "null-active", "string-active", "int-active", "string-exp", "bool-iat",
         "negative-nbf", "huge-exp", "list-scope", "mixed-aud", "object-aud", "int-sub",
         "bool-client-id"],
)
def test_malformed_responses(document: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_introspection_response(_response(document))
    assert (caught.value.code, caught.value.status) == (code, 200)


def test_non_finite_timestamp_is_refused() -> None:
    body = b'{"active": true, "exp": NaN}'  # Python's json reads NaN; some servers write it
    with pytest.raises(InvalidResponseError) as caught:
        parse_introspection_response(HttpResponse(status=200, body=body))
    assert caught.value.code == InvalidResponseError.INVALID_FIELD_VALUE


@pytest.mark.parametrize(
    ("status", "document", "error"),
    [(401, {"error": "invalid_client"}, "invalid_client"),
     (200, {"active": True, "error": "invalid_token"}, "invalid_token")],
    ids=["401", "200-with-error"],
)
def test_error_objects_are_oauth_errors(status: int, document: Any, error: str) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_introspection_response(_response(document, status))
    assert (caught.value.error, caught.value.status) == (error, status)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [(200, b"", InvalidResponseError.RESPONSE_NOT_JSON),
     (200, b"eyJhbGciOiJSUzI1NiJ9.e30.sig", InvalidResponseError.RESPONSE_NOT_JSON),
     (200, b"true", InvalidResponseError.RESPONSE_NOT_OBJECT),
     (500, b"{}", InvalidResponseError.UNEXPECTED_STATUS)],
    ids=["empty", "jwt-response", "json-true", "500"],
)
def test_not_an_introspection_response(status: int, body: bytes, code: str) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_introspection_response(HttpResponse(status=status, body=body))
    assert caught.value.code == code


def test_repr_shows_no_extra_values() -> None:
    result = parse_introspection_response(_response({**FULL, "secret_claim": "SHH-123"}))
    assert "SHH-123" not in repr(result)
    assert "jdoe" in repr(result)


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6,
)
_MEMBERS = ["active", "scope", "client_id", "username", "token_type", "exp", "iat", "nbf",
            "sub", "aud", "iss", "jti", "error"]


@given(
    document=st.dictionaries(st.sampled_from(_MEMBERS) | st.text(max_size=6), _json_values,
                             max_size=8),
    status=st.sampled_from([200, 200, 200, 400, 401, 500]),
)
def test_arbitrary_documents_give_a_result_or_a_documented_error(
    document: dict[str, Any], status: int
) -> None:
    try:
        result = parse_introspection_response(_response(document, status))
    except (OAuthError, InvalidResponseError):
        return
    assert status == 200
    assert result.active is document["active"]
    if not result.active:
        assert result == Introspection(active=False)
        return
    for value in (result.exp, result.iat, result.nbf):
        assert value is None or (math.isfinite(value) and value >= 0)
    assert result.aud is None or all(isinstance(item, str) for item in result.aud)
    assert set(result.extra).isdisjoint(_MEMBERS)
