"""Unit tests of the token request builders (RFC 6749 §4.4, §6; RFC 8707; RFC 8693).

Every row asserts the exact request: method, URL, headers and the ordered form.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from oauthflow.config import ClientConfig
from oauthflow.errors import ConfigurationError
from oauthflow.protocol.client_auth import JWT_BEARER_ASSERTION_TYPE
from oauthflow.protocol.http import HttpRequest
from oauthflow.protocol.token_endpoint import (
    TOKEN_EXCHANGE,
    build_client_credentials_request,
    build_refresh_request,
    build_token_request,
)

URL = "https://as.example.com/token"
NOW = 1_700_000_000.0
JSON_FORM = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
BASIC = ClientConfig(client_id="svc", client_secret="s3cret")
BASIC_HEADER = "Basic " + base64.b64encode(b"svc:s3cret").decode()
POST = ClientConfig(client_id="svc", client_secret="s3cret", auth_method="client_secret_post")
PUBLIC = ClientConfig(client_id="app")


def _exact(request: HttpRequest) -> tuple[str, str, dict[str, str], tuple[tuple[str, str], ...]]:
    return request.method, request.url, dict(request.headers), request.form


BUILD_CASES: list[tuple[Callable[[], HttpRequest], dict[str, str], tuple[tuple[str, str], ...]]] = [
    (
        lambda: build_client_credentials_request(URL, BASIC, now=NOW),
        {**JSON_FORM, "Authorization": BASIC_HEADER},
        (("grant_type", "client_credentials"),),
    ),
    (
        lambda: build_client_credentials_request(
            URL, BASIC, scope=["read", "write:all"],
            resource=["https://api.example.com/", "urn:example:ledger"],
            extra_params=[("audience", "https://api.example.com"), ("x", "1")], now=NOW,
        ),
        {**JSON_FORM, "Authorization": BASIC_HEADER},
        (
            ("grant_type", "client_credentials"),
            ("scope", "read write:all"),
            ("resource", "https://api.example.com/"),
            ("resource", "urn:example:ledger"),
            ("audience", "https://api.example.com"),
            ("x", "1"),
        ),
    ),
    (
        lambda: build_client_credentials_request(URL, POST, scope=[], now=NOW),
        JSON_FORM,
        (("grant_type", "client_credentials"), ("client_id", "svc"), ("client_secret", "s3cret")),
    ),
    (
        lambda: build_client_credentials_request(
            URL, POST, extra_params={"audience": "api"}, now=NOW
        ),
        JSON_FORM,
        (
            ("grant_type", "client_credentials"),
            ("audience", "api"),
            ("client_id", "svc"),
            ("client_secret", "s3cret"),
        ),
    ),
    (
        lambda: build_refresh_request(URL, BASIC, "rt-1", now=NOW),
        {**JSON_FORM, "Authorization": BASIC_HEADER},
        (("grant_type", "refresh_token"), ("refresh_token", "rt-1")),
    ),
    (
        lambda: build_refresh_request(
            URL, PUBLIC, "rt 2+/", scope=["openid", "offline_access"],
            resource=["https://api.example.com"], extra_params=[("prompt", "none")], now=NOW,
        ),
        JSON_FORM,
        (
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt 2+/"),
            ("scope", "openid offline_access"),
            ("resource", "https://api.example.com"),
            ("prompt", "none"),
            ("client_id", "app"),
        ),
    ),
    (
        lambda: build_token_request(
            URL, BASIC, TOKEN_EXCHANGE,
            {
                "subject_token": "st",
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            },
            now=NOW,
        ),
        {**JSON_FORM, "Authorization": BASIC_HEADER},
        (
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", "st"),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ),
    ),
    (
        lambda: build_token_request(
            URL, PUBLIC, "urn:ietf:params:oauth:grant-type:device_code",
            [("device_code", "dc")], now=NOW,
        ),
        JSON_FORM,
        (
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", "dc"),
            ("client_id", "app"),
        ),
    ),
    (
        lambda: build_token_request(URL, BASIC, "client_credentials", [("client_id", "svc")],
                                    now=NOW),
        {**JSON_FORM, "Authorization": BASIC_HEADER},
        (("grant_type", "client_credentials"), ("client_id", "svc")),
    ),
]
BUILD_IDS = [
    "cc-basic-minimal", "cc-basic-scope-resources-extras", "cc-post-empty-scope",
    "cc-post-mapping-extras", "refresh-basic", "refresh-public-scope-resource-extra",
    "token-exchange-mapping", "device-code-public", "basic-with-client-id-in-body",
]


@pytest.mark.parametrize(("build", "headers", "form"), BUILD_CASES, ids=BUILD_IDS)
def test_exact_request(
    build: Callable[[], HttpRequest], headers: dict[str, str], form: tuple[tuple[str, str], ...]
) -> None:
    assert _exact(build()) == ("POST", URL, headers, form)


def test_body_is_form_encoded_utf8() -> None:
    request = build_refresh_request(URL, PUBLIC, "rt é&=+", scope=["a"], now=NOW)
    assert request.body == (
        b"grant_type=refresh_token&refresh_token=rt+%C3%A9%26%3D%2B&scope=a&client_id=app"
    )


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    key: ECKey = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    return key


@pytest.mark.parametrize(
    ("audience", "expected_aud"),
    [(None, URL), ("https://as.example.com", "https://as.example.com")],
    ids=["default-token-endpoint", "issuer-override"],
)
def test_private_key_jwt_request(ec_key: ECKey, audience: str | None, expected_aud: str) -> None:
    client = ClientConfig(client_id="svc", private_key=ec_key)
    request = build_token_request(
        URL, client, "client_credentials", [("scope", "read")], now=NOW,
        assertion_audience=audience,
    )
    assert dict(request.headers) == JSON_FORM
    assert [name for name, _ in request.form] == [
        "grant_type", "scope", "client_assertion_type", "client_assertion", "client_id"
    ]
    form = dict(request.form)
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == JWT_BEARER_ASSERTION_TYPE
    assert form["client_id"] == "svc"
    public = ECKey.import_key(ec_key.as_dict(private=False))
    token = jwt.decode(form["client_assertion"], public, algorithms=["ES256"])
    assert token.header == {"alg": "ES256", "kid": "ec-1"}
    claims = dict(token.claims)
    assert isinstance(claims.pop("jti"), str)
    assert claims == {"iss": "svc", "sub": "svc", "aud": expected_aud,
                      "iat": 1_700_000_000, "exp": 1_700_000_060}


# Wrong at runtime on purpose (what an untyped caller could pass).
BAD_VALUE: Any = [("a", 1)]
NOT_A_PAIR: Any = [("a",)]

REFUSED: list[tuple[Callable[[], Any], str]] = [
    (lambda: build_token_request(URL, BASIC, "x", [("grant_type", "y")], now=NOW), "grant_type"),
    (lambda: build_token_request(URL, BASIC, "x", {"client_secret": "y"}, now=NOW),
     "client_secret"),
    (lambda: build_token_request(URL, BASIC, "x", [("client_assertion", "y")], now=NOW),
     "client_assertion"),
    (lambda: build_token_request(URL, BASIC, "x", [("client_assertion_type", "y")], now=NOW),
     "client_assertion_type"),
    (lambda: build_token_request(URL, POST, "x", [("client_id", "other")], now=NOW), "client_id"),
    (lambda: build_token_request(URL, BASIC, "", now=NOW), "grant_type must not be empty"),
    (lambda: build_token_request(URL, BASIC, "x", BAD_VALUE, now=NOW), "pairs of strings"),
    (lambda: build_token_request(URL, BASIC, "x", NOT_A_PAIR, now=NOW), "pairs of strings"),
    (lambda: build_token_request(URL, BASIC, "x", {"": "v"}, now=NOW), "name must not be empty"),
    (lambda: build_client_credentials_request(URL, BASIC, extra_params=[("scope", "a")], now=NOW),
     "'scope'"),
    (lambda: build_client_credentials_request(URL, BASIC, scope="read write", now=NOW),
     "sequence of scope tokens"),
    (lambda: build_client_credentials_request(URL, BASIC, scope=["a b"], now=NOW), "§3.3"),
    (lambda: build_client_credentials_request(URL, BASIC, scope=['a"b'], now=NOW), "§3.3"),
    (lambda: build_client_credentials_request(URL, BASIC, scope=["a\\b"], now=NOW), "§3.3"),
    (lambda: build_client_credentials_request(URL, BASIC, scope=[""], now=NOW), "§3.3"),
    (lambda: build_client_credentials_request(URL, BASIC, scope=["caf\u00e9"], now=NOW), "§3.3"),
    (lambda: build_client_credentials_request(URL, BASIC, scope=["a\x7f"], now=NOW), "§3.3"),
    (lambda: build_client_credentials_request(URL, BASIC, resource=["/api"], now=NOW),
     "absolute URI"),
    (lambda: build_client_credentials_request(
        URL, BASIC, resource=["https://api.example.com/#frag"], now=NOW), "fragment"),
    (lambda: build_client_credentials_request(URL, BASIC, resource="https://api", now=NOW),
     "not a string"),
    (lambda: build_refresh_request(URL, BASIC, "", now=NOW), "refresh_token must be"),
    (lambda: build_refresh_request(URL, BASIC, "rt", extra_params=[("refresh_token", "x")],
                                   now=NOW), "'refresh_token'"),
    (lambda: build_refresh_request(URL, BASIC, "rt", extra_params=[("grant_type", "x")],
                                   now=NOW), "'grant_type'"),
]
REFUSED_IDS = [
    "grant-type-in-params", "client-secret-in-params", "client-assertion-in-params",
    "client-assertion-type-in-params", "duplicate-client-id-with-post", "empty-grant-type",
    "non-string-value", "not-a-pair", "empty-name", "scope-in-extra-params", "scope-as-string",
    "scope-with-space", "scope-with-quote", "scope-with-backslash", "empty-scope-token",
    "non-ascii-scope", "scope-with-del", "relative-resource", "resource-with-fragment",
    "resource-as-string", "empty-refresh-token", "refresh-token-in-extra-params",
    "grant-type-in-refresh-extras",
]


@pytest.mark.parametrize(("build", "message"), REFUSED, ids=REFUSED_IDS)
def test_refused(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert message in str(caught.value)


def test_refusals_never_echo_secret_values() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_token_request(URL, BASIC, "x", [("client_secret", "LEAKED-VALUE")], now=NOW)
    assert "LEAKED-VALUE" not in f"{caught.value} {caught.value!r}"


def test_request_repr_hides_secrets() -> None:
    request = build_refresh_request(URL, POST, "RT-SECRET", now=NOW)
    assert "RT-SECRET" not in repr(request)
    assert "s3cret" not in repr(request)
