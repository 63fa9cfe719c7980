"""Unit tests of the pure Device Authorization Grant (RFC 8628 §3.1, §3.2, §3.4, §3.5).

Exact requests; one row per parsing rule; Hypothesis checks that the parser raises only the
documented errors and never leaks the device code.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError, OAuthError
from oauthflow.protocol.client_auth import JWT_BEARER_ASSERTION_TYPE
from oauthflow.protocol.device import (
    DEFAULT_INTERVAL,
    DEVICE_CODE_GRANT,
    DeviceAuthorization,
    PollAgain,
    build_device_authorization_request,
    build_device_token_request,
    interpret_poll_response,
    parse_device_authorization_response,
)
from oauthflow.protocol.http import HttpResponse
from oauthflow.token import Token

NOW = 1_700_000_000.0
SERVER = ServerMetadata(
    issuer="https://as.example.com",
    token_endpoint="https://as.example.com/token",
    device_authorization_endpoint="https://as.example.com/device_authorization",
)
JSON_FORM = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
BASIC = ClientConfig(client_id="tv", client_secret="s3cret")
BASIC_HEADER = "Basic " + base64.b64encode(b"tv:s3cret").decode()
POST = ClientConfig(client_id="tv", client_secret="s3cret", auth_method="client_secret_post")
PUBLIC = ClientConfig(client_id="cli")
DEVICE_CODE = "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
AUTHORIZATION = DeviceAuthorization(
    device_code=DEVICE_CODE, user_code="WDJB-MJHT",
    verification_uri="https://as.example.com/device", expires_at=NOW + 1800,
)
VALID = {
    "device_code": DEVICE_CODE,
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://example.com/device",
    "verification_uri_complete": "https://example.com/device?user_code=WDJB-MJHT",
    "expires_in": 1800,
    "interval": 5,
}


def _response(document: Any, status: int = 200) -> HttpResponse:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return HttpResponse(status=status, headers={"Content-Type": "application/json"}, body=body)


def _parse(document: Any, status: int = 200) -> DeviceAuthorization:
    return parse_device_authorization_response(_response(document, status), received_at=NOW)


# --- §3.1 the device authorization request ------------------------------------------


@pytest.mark.parametrize(
    ("client", "kwargs", "headers", "form"),
    [
        (PUBLIC, {}, JSON_FORM, (("client_id", "cli"),)),
        (
            PUBLIC, {"scope": ["openid", "offline_access"]}, JSON_FORM,
            (("scope", "openid offline_access"), ("client_id", "cli")),
        ),
        (BASIC, {"scope": ["read"]}, {**JSON_FORM, "Authorization": BASIC_HEADER},
         (("scope", "read"),)),
        (
            POST,
            {"extra_params": [("resource", "https://api.example.com/"),
                              ("resource", "urn:ledger")]},
            JSON_FORM,
            (("resource", "https://api.example.com/"), ("resource", "urn:ledger"),
             ("client_id", "tv"), ("client_secret", "s3cret")),
        ),
        (PUBLIC, {"extra_params": {"audience": "tv-api"}}, JSON_FORM,
         (("audience", "tv-api"), ("client_id", "cli"))),
    ],
    ids=["public", "public-scope", "basic", "post-resources", "extra-mapping"],
)
def test_device_authorization_request_is_exact(
    client: ClientConfig, kwargs: dict[str, Any], headers: dict[str, str],
    form: tuple[tuple[str, str], ...],
) -> None:
    request = build_device_authorization_request(SERVER, client, now=NOW, **kwargs)
    assert request.method == "POST"
    assert request.url == "https://as.example.com/device_authorization"
    assert dict(request.headers) == headers
    assert request.form == form


def test_device_authorization_request_with_a_client_assertion_addresses_the_token_endpoint(
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)
    client = ClientConfig(client_id="tv", private_key=key)
    request = build_device_authorization_request(SERVER, client, scope=["read"], now=NOW)
    form = request.form_dict()
    assert form["client_assertion_type"] == [JWT_BEARER_ASSERTION_TYPE]
    assert form["client_id"] == ["tv"]
    claims = jwt.decode(form["client_assertion"][0], key).claims
    assert claims["aud"] == SERVER.token_endpoint
    assert (claims["iss"], claims["sub"], claims["iat"]) == ("tv", "tv", int(NOW))


@pytest.mark.parametrize(
    ("server", "kwargs"),
    [
        (ServerMetadata(token_endpoint="https://as.example.com/token"), {}),
        (SERVER, {"extra_params": [("scope", "read")]}),
        (SERVER, {"extra_params": [("client_id", "other")]}),
        (SERVER, {"extra_params": [("client_secret", "x")]}),
        (SERVER, {"scope": "read write"}),
        (SERVER, {"scope": ["has space"]}),
    ],
    ids=["no-endpoint", "scope-in-extra", "client-id-in-extra", "secret-in-extra",
         "scope-as-string", "bad-scope-token"],
)
def test_device_authorization_request_refuses_misuse(
    server: ServerMetadata, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        build_device_authorization_request(server, PUBLIC, now=NOW, **kwargs)


# --- §3.4 the device access token request -------------------------------------------


@pytest.mark.parametrize(
    ("client", "headers", "tail"),
    [
        (PUBLIC, JSON_FORM, (("client_id", "cli"),)),
        (BASIC, {**JSON_FORM, "Authorization": BASIC_HEADER}, ()),
        (POST, JSON_FORM, (("client_id", "tv"), ("client_secret", "s3cret"))),
    ],
    ids=["public", "basic", "post"],
)
def test_device_token_request_is_exact(
    client: ClientConfig, headers: dict[str, str], tail: tuple[tuple[str, str], ...]
) -> None:
    request = build_device_token_request(SERVER, client, AUTHORIZATION, now=NOW)
    assert (request.method, request.url) == ("POST", "https://as.example.com/token")
    assert dict(request.headers) == headers
    assert request.form == (
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", DEVICE_CODE),
        *tail,
    )
    assert DEVICE_CODE not in repr(request)


# --- §3.2 the device authorization response -----------------------------------------


def test_a_full_response_is_read_with_an_absolute_expiry() -> None:
    assert _parse(VALID) == DeviceAuthorization(
        device_code=DEVICE_CODE, user_code="WDJB-MJHT",
        verification_uri="https://example.com/device",
        verification_uri_complete="https://example.com/device?user_code=WDJB-MJHT",
        expires_at=NOW + 1800, interval=5.0,
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"interval": None}, {"interval": DEFAULT_INTERVAL}),
        ({"interval": 2.5, "expires_in": 0.5}, {"interval": 2.5, "expires_at": NOW + 0.5}),
        ({"verification_uri_complete": None}, {"verification_uri_complete": None}),
        (
            {"verification_uri": None, "verification_url": "https://google.example/device"},
            {"verification_uri": "https://google.example/device"},
        ),
        ({"extension": {"x": 1}}, {}),
    ],
    ids=["interval-null", "fractions", "no-complete-uri", "google-verification_url",
         "unknown-member"],
)
def test_lenient_rules(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    document = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    parsed = _parse(document)
    for name, value in expected.items():
        assert getattr(parsed, name) == value, name


def test_interval_absent_means_five_seconds() -> None:
    """RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."."""
    document = {k: v for k, v in VALID.items() if k != "interval"}
    assert _parse(document).interval == 5.0


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"interval": "five"}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"interval": "5"}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"interval": True}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"interval": [5]}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"interval": 0}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"interval": -5}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"interval": 10**400}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"expires_in": None}, InvalidResponseError.MISSING_FIELD),
        ({"expires_in": "1800"}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"expires_in": 0}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"device_code": None}, InvalidResponseError.MISSING_FIELD),
        ({"device_code": ""}, InvalidResponseError.MISSING_FIELD),
        ({"device_code": 42}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"user_code": None}, InvalidResponseError.MISSING_FIELD),
        ({"user_code": 1234}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"user_code": "WDJB\x1b[2J"}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"verification_uri": None}, InvalidResponseError.MISSING_FIELD),
        ({"verification_uri": "/device"}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"verification_uri": "javascript:alert(1)"}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"verification_uri": "https://x.example/\nfake"},
         InvalidResponseError.INVALID_FIELD_VALUE),
        ({"verification_uri": "https://[::1/x"}, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"verification_uri_complete": 7}, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"verification_uri_complete": "ftp://x.example/"},
         InvalidResponseError.INVALID_FIELD_VALUE),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_strict_rules(changes: dict[str, Any], code: str) -> None:
    document = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    with pytest.raises(InvalidResponseError) as raised:
        _parse(document)
    assert raised.value.code == code
    assert raised.value.status == 200
    assert DEVICE_CODE not in str(raised.value)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"<html>502 Bad Gateway</html>", 502, InvalidResponseError.RESPONSE_NOT_JSON),
        ([VALID], 200, InvalidResponseError.RESPONSE_NOT_OBJECT),
        ({}, 500, InvalidResponseError.UNEXPECTED_STATUS),
    ],
    ids=["html", "array", "500-without-error"],
)
def test_not_a_device_authorization(body: Any, status: int, code: str) -> None:
    with pytest.raises(InvalidResponseError) as raised:
        _parse(body, status)
    assert (raised.value.code, raised.value.status) == (code, status)


def test_an_error_object_is_an_oauth_error() -> None:
    with pytest.raises(OAuthError) as raised:
        _parse({"error": "invalid_client", "error_description": "unknown client"}, 401)
    assert (raised.value.error, raised.value.error_description, raised.value.status) == (
        "invalid_client", "unknown client", 401)


def test_the_device_code_is_not_in_repr_or_str() -> None:
    parsed = _parse(VALID)
    assert DEVICE_CODE not in repr(parsed)
    assert DEVICE_CODE not in str(parsed)
    assert "WDJB-MJHT" in repr(parsed)  # the user code is for display
    assert parsed.expires_in(NOW + 1000) == 800


# --- §3.5 one poll's answer -----------------------------------------------------------


def _poll(document: Any, status: int = 400, interval: float = 5.0) -> Token | PollAgain:
    return interpret_poll_response(_response(document, status), received_at=NOW,
                                   interval=interval)


@pytest.mark.parametrize(
    ("error", "interval", "expected"),
    [
        ("authorization_pending", 5.0, PollAgain(5.0)),
        ("slow_down", 5.0, PollAgain(10.0)),
        ("slow_down", 10.0, PollAgain(15.0)),
        ("authorization_pending", 15.0, PollAgain(15.0)),
    ],
)
def test_pending_and_slow_down_poll_again(
    error: str, interval: float, expected: PollAgain
) -> None:
    assert _poll({"error": error}, interval=interval) == expected


@pytest.mark.parametrize(
    "error", ["access_denied", "expired_token", "invalid_grant", "invalid_client", "weird"]
)
def test_other_errors_stop_polling(error: str) -> None:
    with pytest.raises(OAuthError) as raised:
        _poll({"error": error, "error_description": "no"})
    assert (raised.value.error, raised.value.error_description, raised.value.status) == (
        error, "no", 400)


def test_a_token_ends_polling() -> None:
    outcome = _poll({"access_token": "at", "token_type": "Bearer", "expires_in": 60,
                     "refresh_token": "rt"}, status=200)
    assert outcome == Token(access_token="at", token_type="Bearer", expires_at=NOW + 60,
                            issued_at=NOW, refresh_token="rt")


def test_a_200_carrying_pending_is_still_pending() -> None:
    assert _poll({"error": "authorization_pending"}, status=200) == PollAgain(5.0)


def test_a_broken_token_response_is_invalid() -> None:
    with pytest.raises(InvalidResponseError) as raised:
        _poll({"token_type": "Bearer"}, status=200)
    assert raised.value.code == InvalidResponseError.MISSING_FIELD


def test_the_grant_type_constant() -> None:
    assert DEVICE_CODE_GRANT == "urn:ietf:params:oauth:grant-type:device_code"


# --- Hypothesis -----------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(changes=st.dictionaries(
    st.sampled_from(["device_code", "user_code", "verification_uri",
                     "verification_uri_complete", "expires_in", "interval", "error"]),
    _JSON, max_size=4,
))
def test_parser_raises_only_documented_errors(changes: dict[str, Any]) -> None:
    document = {**VALID, **changes}
    error: Exception | None = None
    try:
        parsed = _parse(document)
    except (InvalidResponseError, OAuthError) as exc:
        error = exc
    if error is not None:
        assert DEVICE_CODE not in str(error)
        return
    assert parsed.interval > 0
    assert parsed.expires_at > NOW
    assert parsed.device_code


@given(body=st.binary(max_size=200), status=st.sampled_from([200, 400, 401, 429, 500, 503]))
def test_poll_interpreter_raises_only_documented_errors(body: bytes, status: int) -> None:
    try:
        outcome = interpret_poll_response(
            HttpResponse(status=status, body=body), received_at=NOW, interval=5.0
        )
    except (InvalidResponseError, OAuthError):
        return
    assert isinstance(outcome, (Token, PollAgain))
