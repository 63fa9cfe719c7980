"""Unit tests of oauthflow.protocol.par (RFC 9126 §2.1 request, §2.2 response, §2.3 errors)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError, OAuthError
from oauthflow.protocol.client_auth import JWT_BEARER_ASSERTION_TYPE
from oauthflow.protocol.http import HttpResponse
from oauthflow.protocol.par import build_par_request, parse_par_response

ISSUER = "https://as.example.com"
PAR = f"{ISSUER}/par"
SERVER = ServerMetadata(
    issuer=ISSUER, token_endpoint=f"{ISSUER}/token",
    authorization_endpoint=f"{ISSUER}/authorize", pushed_authorization_request_endpoint=PAR,
)
NOW = 1_700_000_000.0
FORM = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
PARAMS = (
    ("response_type", "code"), ("client_id", "web"), ("redirect_uri", "https://app/cb"),
    ("state", "state-0123456789abcdefghij"), ("code_challenge", "E9Mel"),
    ("code_challenge_method", "S256"),
)


def test_basic_client_authenticates_in_the_header_and_keeps_client_id_in_the_body() -> None:
    client = ClientConfig(client_id="web", client_secret="s3cret")
    request = build_par_request(SERVER, client, PARAMS, now=NOW)
    assert (request.method, request.url) == ("POST", PAR)
    basic = "Basic " + base64.b64encode(b"web:s3cret").decode()
    assert dict(request.headers) == {**FORM, "Authorization": basic}
    assert request.form == PARAMS


def test_post_client_sends_client_id_once() -> None:
    client = ClientConfig(client_id="web", client_secret="s3cret", auth_method="client_secret_post")
    request = build_par_request(SERVER, client, PARAMS, now=NOW)
    assert dict(request.headers) == FORM
    assert request.form == (*PARAMS, ("client_secret", "s3cret"))


def test_public_client_without_client_id_in_the_members_gets_it_first() -> None:
    members = [(name, value) for name, value in PARAMS if name != "client_id"]
    request = build_par_request(SERVER, ClientConfig(client_id="web"), members, now=NOW)
    assert dict(request.headers) == FORM
    assert request.form == (("client_id", "web"), *members)


def test_private_key_jwt_assertion_names_the_issuer_as_audience() -> None:
    key = ECKey.generate_key("P-256", private=True)
    client = ClientConfig(client_id="web", private_key=key)
    request = build_par_request(SERVER, client, PARAMS, now=NOW)
    form = request.form_dict()
    assert request.form[: len(PARAMS)] == PARAMS
    assert form["client_id"] == ["web"]
    assert form["client_assertion_type"] == [JWT_BEARER_ASSERTION_TYPE]
    claims = jwt.decode(form["client_assertion"][0], key).claims
    assert (claims["aud"], claims["iss"], claims["sub"]) == (ISSUER, "web", "web")
    no_issuer = ServerMetadata(token_endpoint=f"{ISSUER}/token",
                               pushed_authorization_request_endpoint=PAR)
    again = build_par_request(no_issuer, client, PARAMS, now=NOW).form_dict()
    assert jwt.decode(again["client_assertion"][0], key).claims["aud"] == PAR


@pytest.mark.parametrize(
    ("server", "members", "message"),
    [
        (ServerMetadata(token_endpoint=f"{ISSUER}/token"), PARAMS, "pushed_authorization_request"),
        (SERVER, (*PARAMS, ("request_uri", "urn:x")), "'request_uri'"),
        (SERVER, (*PARAMS, ("client_secret", "x")), "'client_secret'"),
        (SERVER, (("client_id", "other"),), "not the client's"),
    ],
    ids=["no-endpoint", "request-uri", "credential", "other-client-id"],
)
def test_par_request_errors(
    server: ServerMetadata, members: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_par_request(server, ClientConfig(client_id="web"), members, now=NOW)
    assert message in str(raised.value)


def _response(document: Any, status: int = 201) -> HttpResponse:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return HttpResponse(status=status, headers={"Content-Type": "application/json"}, body=body)


URN = "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c"


@pytest.mark.parametrize(
    ("document", "status", "expected"),
    [
        ({"request_uri": URN, "expires_in": 60}, 201, (URN, 60.0)),
        ({"request_uri": URN, "expires_in": 90.5, "other": 1}, 200, (URN, 90.5)),
    ],
    ids=["201-integer", "200-float-extra-member"],
)
def test_par_response(document: Any, status: int, expected: tuple[str, float]) -> None:
    assert parse_par_response(_response(document, status)) == expected


@pytest.mark.parametrize(
    ("document", "status", "code"),
    [
        ({"expires_in": 60}, 201, InvalidResponseError.MISSING_FIELD),
        ({"request_uri": "", "expires_in": 60}, 201, InvalidResponseError.MISSING_FIELD),
        ({"request_uri": 5, "expires_in": 60}, 201, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"request_uri": URN}, 201, InvalidResponseError.MISSING_FIELD),
        ({"request_uri": URN, "expires_in": "60"}, 201, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"request_uri": URN, "expires_in": True}, 201, InvalidResponseError.INVALID_FIELD_TYPE),
        ({"request_uri": URN, "expires_in": 0}, 201, InvalidResponseError.INVALID_FIELD_VALUE),
        ({"request_uri": URN, "expires_in": -5}, 201, InvalidResponseError.INVALID_FIELD_VALUE),
        (b'{"request_uri": "u", "expires_in": NaN}', 201,
         InvalidResponseError.INVALID_FIELD_VALUE),
        (b"<html>Created</html>", 201, InvalidResponseError.RESPONSE_NOT_JSON),
        ([URN], 201, InvalidResponseError.RESPONSE_NOT_OBJECT),
        ({"request_uri": URN, "expires_in": 60}, 302, InvalidResponseError.UNEXPECTED_STATUS),
    ],
    ids=["no-request-uri", "empty-request-uri", "request-uri-number", "no-expires-in",
         "expires-in-string", "expires-in-bool", "expires-in-zero", "expires-in-negative",
         "expires-in-nan", "html", "array", "not-2xx"],
)
def test_bad_par_responses(document: Any, status: int, code: str) -> None:
    with pytest.raises(InvalidResponseError) as raised:
        parse_par_response(_response(document, status))
    assert raised.value.code == code
    assert URN not in str(raised.value)


def test_par_error_object_is_an_oauth_error() -> None:
    response = _response({"error": "invalid_request", "error_description": "bad scope"}, 400)
    with pytest.raises(OAuthError) as raised:
        parse_par_response(response)
    assert (raised.value.error, raised.value.error_description, raised.value.status) == (
        "invalid_request", "bad scope", 400)
