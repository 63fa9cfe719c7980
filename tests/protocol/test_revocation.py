"""Unit tests of the revocation request builder and response check (RFC 7009 §2).

Every build case asserts the exact request: method, URL, headers and the ordered form.
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

from oauthflow.config import ClientConfig
from oauthflow.errors import ConfigurationError, InvalidResponseError, OAuthError
from oauthflow.protocol.client_auth import JWT_BEARER_ASSERTION_TYPE
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.revocation import build_revocation_request, parse_revocation_response

URL = "https://as.example.com/revoke"
NOW = 1_700_000_000.0
JSON_FORM = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
BASIC = ClientConfig(client_id="svc", client_secret="s3cret")
BASIC_HEADER = "Basic " + base64.b64encode(b"svc:s3cret").decode()
POST = ClientConfig(client_id="svc", client_secret="s3cret", auth_method="client_secret_post")
PUBLIC = ClientConfig(client_id="cli")


def _exact(request: HttpRequest) -> tuple[str, str, dict[str, str], tuple[tuple[str, str], ...]]:
    return request.method, request.url, dict(request.headers), request.form


@pytest.mark.parametrize(
    ("client", "hint", "headers", "form"),
    [
        (BASIC, None, {**JSON_FORM, "Authorization": BASIC_HEADER}, (("token", "RT-1"),)),
        (
            BASIC, "refresh_token", {**JSON_FORM, "Authorization": BASIC_HEADER},
            (("token", "RT-1"), ("token_type_hint", "refresh_token")),
        ),
        (
            POST, "access_token", JSON_FORM,
            (("token", "RT-1"), ("token_type_hint", "access_token"), ("client_id", "svc"),
             ("client_secret", "s3cret")),
        ),
        (PUBLIC, None, JSON_FORM, (("token", "RT-1"), ("client_id", "cli"))),
    ],
    ids=["basic", "basic-hint", "post-hint", "public"],
)
def test_exact_request(
    client: ClientConfig, hint: Any, headers: dict[str, str], form: tuple[tuple[str, str], ...]
) -> None:
    request = build_revocation_request(URL, client, "RT-1", token_type_hint=hint, now=NOW)
    assert _exact(request) == ("POST", URL, headers, form)


@pytest.mark.parametrize(
    ("audience", "expected"),
    [(None, URL), ("https://as.example.com/token", "https://as.example.com/token")],
    ids=["default-endpoint", "token-endpoint"],
)
def test_private_key_jwt_assertion_audience(audience: str | None, expected: str) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)
    client = ClientConfig(client_id="pk", private_key=key)
    request = build_revocation_request(
        URL, client, "AT-1", now=NOW, assertion_audience=audience
    )
    form = request.form_dict()
    assert [name for name, _ in request.form] == [
        "token", "client_assertion_type", "client_assertion", "client_id"
    ]
    assert form["client_assertion_type"] == [JWT_BEARER_ASSERTION_TYPE]
    claims = jwt.decode(form["client_assertion"][0], key).claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("pk", "pk", expected)
    assert claims["iat"] == int(NOW)


@pytest.mark.parametrize(
    ("token", "hint"),
    [("", None), (None, None), ("t", "id_token"), ("t", "ACCESS_TOKEN"), ("t", "")],
    ids=["empty-token", "none-token", "unknown-hint", "case", "empty-hint"],
)
def test_invalid_arguments(token: Any, hint: Any) -> None:
    with pytest.raises(ConfigurationError):
        build_revocation_request(URL, BASIC, token, token_type_hint=hint, now=NOW)


def test_repr_hides_the_token_and_the_secret() -> None:
    request = build_revocation_request(URL, POST, "RT-SECRET-VALUE", now=NOW)
    text = f"{request!r} {request!s}"
    assert "RT-SECRET-VALUE" not in text
    assert "s3cret" not in text


# --- responses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b""), (200, b"{}"), (200, b"OK"), (200, b'{"error": "ignored per 2.2"}'),
     (204, b"")],
    ids=["empty", "json", "text", "body-ignored", "204"],
)
def test_success_ignores_the_body(status: int, body: bytes) -> None:
    parse_revocation_response(HttpResponse(status=status, body=body))  # does not raise


@pytest.mark.parametrize(
    ("status", "document"),
    [
        (400, {"error": "unsupported_token_type", "error_description": "no AT revocation"}),
        (401, {"error": "invalid_client"}),
        (400, {"error": "invalid_request", "error_uri": "https://as.example.com/e"}),
        (503, {"error": "temporarily_unavailable"}),
    ],
)
def test_error_objects_are_oauth_errors(status: int, document: dict[str, str]) -> None:
    response = HttpResponse(status=status, body=json.dumps(document).encode())
    with pytest.raises(OAuthError) as caught:
        parse_revocation_response(response)
    error = caught.value
    assert (error.error, error.error_description, error.error_uri, error.status) == (
        document["error"], document.get("error_description"), document.get("error_uri"),
        status,
    )


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (503, b"", InvalidResponseError.UNEXPECTED_STATUS),
        (500, b"  \r\n", InvalidResponseError.UNEXPECTED_STATUS),
        (400, b'{"message": "bad"}', InvalidResponseError.UNEXPECTED_STATUS),
        (502, b"<html>Bad Gateway</html>", InvalidResponseError.RESPONSE_NOT_JSON),
        (400, b"[1, 2]", InvalidResponseError.RESPONSE_NOT_OBJECT),
        (400, b'{"error": 7}', InvalidResponseError.INVALID_FIELD_TYPE),
    ],
    ids=["503-empty", "500-blank", "400-no-error", "502-html", "400-array", "error-not-str"],
)
def test_other_failures_are_invalid_responses(status: int, body: bytes, code: str) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_revocation_response(HttpResponse(status=status, body=body))
    assert (caught.value.code, caught.value.status) == (code, status)


def test_html_error_keeps_a_snippet() -> None:
    response = HttpResponse(status=502, body=b"<html><title>502 Bad Gateway</title></html>")
    with pytest.raises(InvalidResponseError) as caught:
        parse_revocation_response(response)
    assert caught.value.body_snippet == "<html><title>502 Bad Gateway</title></html>"


@given(body=st.binary(max_size=200), status=st.integers(min_value=100, max_value=599))
def test_arbitrary_responses_raise_only_documented_errors(body: bytes, status: int) -> None:
    response = HttpResponse(status=status, body=body)
    if 200 <= status < 300:
        parse_revocation_response(response)
        return
    with pytest.raises((OAuthError, InvalidResponseError)) as caught:
        parse_revocation_response(response)
    error = caught.value
    assert isinstance(error, (OAuthError, InvalidResponseError))
    assert error.status == status
