"""Unit tests of oauthflow.protocol.authorization: the login URL, the callback check (RFC 9207
``iss``, then ``state``, then ``error``) and the code exchange request.

Every URL row asserts the exact query members in order; Hypothesis checks that the callback
check raises nothing but the typed errors, and never lets an error or a code through a bad
``state``.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import (
    AuthorizationResponseError,
    ConfigurationError,
    InvalidResponseError,
)
from oauthflow.protocol.authorization import (
    AuthorizationRequest,
    build_authorization_request,
    build_code_exchange_request,
    pushed_authorization_url,
    validate_callback,
)
from oauthflow.protocol.pkce import code_challenge_s256

ISSUER = "https://as.example.com"
SERVER = ServerMetadata(
    issuer=ISSUER,
    token_endpoint=f"{ISSUER}/token",
    authorization_endpoint=f"{ISSUER}/authorize",
    pushed_authorization_request_endpoint=f"{ISSUER}/par",
    extra={"authorization_response_iss_parameter_supported": True},
)
PLAIN_SERVER = ServerMetadata(  # no RFC 9207 support advertised
    issuer=ISSUER, token_endpoint=f"{ISSUER}/token", authorization_endpoint=f"{ISSUER}/authorize"
)
REDIRECT = "https://app.example.com/callback"
PUBLIC = ClientConfig(client_id="app", redirect_uri=REDIRECT)
BASIC = ClientConfig(client_id="web", client_secret="s3cret", redirect_uri=REDIRECT)
NOW = 1_700_000_000.0
STATE = "state-0123456789abcdefghij"
NONCE = "nonce-0123456789abcdefghij"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CODE = "the-authorization-code"
TOKEN_URL = f"{ISSUER}/token"
FORM = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _build(**kwargs: Any) -> AuthorizationRequest:
    server = kwargs.pop("server", SERVER)
    client = kwargs.pop("client", PUBLIC)
    values: dict[str, Any] = {"state": STATE, "code_verifier": VERIFIER, "now": NOW}
    values.update(kwargs)
    return build_authorization_request(server, client, **values)


def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


PKCE = [("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]

URL_CASES: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    (
        {},
        [("response_type", "code"), ("client_id", "app"), ("redirect_uri", REDIRECT),
         ("state", STATE), *PKCE],
    ),
    (
        {"scope": ["openid", "profile"], "nonce": NONCE},
        [("response_type", "code"), ("client_id", "app"), ("redirect_uri", REDIRECT),
         ("scope", "openid profile"), ("state", STATE), ("nonce", NONCE), *PKCE],
    ),
    (
        {"client": BASIC, "redirect_uri": "http://127.0.0.1:8400/cb", "scope": ["read"],
         "resource": ["https://api.example.com/", "urn:example:ledger"], "prompt": "consent",
         "login_hint": "alice@example.com", "max_age": 0,
         "extra_params": [("acr_values", "urn:example:loa:2"), ("audience", "a b&c")]},
        [("response_type", "code"), ("client_id", "web"),
         ("redirect_uri", "http://127.0.0.1:8400/cb"), ("scope", "read"), ("state", STATE),
         *PKCE, ("resource", "https://api.example.com/"), ("resource", "urn:example:ledger"),
         ("prompt", "consent"), ("login_hint", "alice@example.com"), ("max_age", "0"),
         ("acr_values", "urn:example:loa:2"), ("audience", "a b&c")],
    ),
    (
        {"nonce": NONCE, "redirect_uri": "com.example.app:/oauth2redirect"},
        [("response_type", "code"), ("client_id", "app"),
         ("redirect_uri", "com.example.app:/oauth2redirect"), ("state", STATE),
         ("nonce", NONCE), *PKCE],
    ),
]
URL_IDS = ["public-minimal", "openid-nonce", "every-member", "nonce-without-openid-custom-scheme"]


@pytest.mark.parametrize(("kwargs", "expected"), URL_CASES, ids=URL_IDS)
def test_authorization_url_has_exactly_these_members(
    kwargs: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    pending = _build(**kwargs)
    assert pending.url.startswith(f"{ISSUER}/authorize?")
    assert _query(pending.url) == expected
    assert list(pending.parameters) == expected
    assert urlsplit(pending.url).fragment == ""


def test_pending_request_holds_what_the_exchange_needs() -> None:
    pending = _build(scope=["openid", "read"], nonce=NONCE, resource=["https://api.example.com"])
    assert pending.state == STATE
    assert pending.code_verifier == VERIFIER
    assert pending.nonce == NONCE
    assert pending.redirect_uri == REDIRECT
    assert pending.scope == ("openid", "read")
    assert pending.resource == ("https://api.example.com",)
    assert (pending.issuer, pending.require_iss, pending.created_at) == (ISSUER, True, NOW)
    assert _build(server=PLAIN_SERVER).require_iss is False


def test_space_in_scope_is_form_encoded_in_the_url() -> None:
    pending = _build(scope=["openid", "profile"], nonce=NONCE)
    assert "&scope=openid+profile&" in pending.url


def test_existing_endpoint_query_is_kept_first() -> None:
    server = dataclasses.replace(SERVER, authorization_endpoint=f"{ISSUER}/authorize?tenant=a%20b")
    pending = _build(server=server)
    assert urlsplit(pending.url).query.startswith("tenant=a%20b&response_type=code&")
    assert _query(pending.url)[0] == ("tenant", "a b")


def test_fresh_values_are_random_and_long_enough() -> None:
    first = build_authorization_request(SERVER, PUBLIC, scope=["openid"], now=NOW)
    second = build_authorization_request(SERVER, PUBLIC, scope=["openid"], now=NOW)
    for value in (first.state, first.nonce, first.code_verifier):
        assert value is not None
        assert len(value) >= 43  # >= 256 bits
        assert BASE64URL.fullmatch(value)
    assert first.state != second.state
    assert first.nonce != second.nonce
    assert first.code_verifier != second.code_verifier
    assert dict(_query(first.url))["code_challenge"] == code_challenge_s256(first.code_verifier)
    assert dict(_query(first.url))["state"] == first.state


def test_no_nonce_without_openid() -> None:
    pending = build_authorization_request(SERVER, PUBLIC, scope=["read"], now=NOW)
    assert pending.nonce is None
    assert "nonce" not in dict(_query(pending.url))


def test_repr_shows_no_state_verifier_nonce_or_query() -> None:
    pending = build_authorization_request(SERVER, PUBLIC, scope=["openid"], now=NOW)
    assert pending.nonce is not None
    challenge = code_challenge_s256(pending.code_verifier)
    for text in (repr(pending), str(pending)):
        for secret in (pending.state, pending.code_verifier, pending.nonce, challenge):
            assert secret not in text
        assert text.startswith(f"AuthorizationRequest(url='{ISSUER}/authorize?...'")


def test_loopback_http_endpoint_is_allowed_and_others_need_the_opt_out() -> None:
    local = dataclasses.replace(SERVER, authorization_endpoint="http://127.0.0.1:9000/authorize")
    assert _build(server=local).url.startswith("http://127.0.0.1:9000/authorize?")
    remote = dataclasses.replace(SERVER, authorization_endpoint="http://as.example.com/authorize")
    with pytest.raises(ConfigurationError):
        _build(server=remote)
    assert _build(server=remote, allow_insecure_http=True).url.startswith("http://as.example")


CONFIG_ERRORS: list[tuple[Callable[[], object], str]] = [
    (lambda: _build(server=ServerMetadata(token_endpoint=TOKEN_URL)), "authorization_endpoint"),
    (lambda: _build(server=ServerMetadata(
        token_endpoint=TOKEN_URL, authorization_endpoint=f"{ISSUER}/authorize",
        extra={"authorization_response_iss_parameter_supported": True})), "no issuer"),
    (lambda: _build(client=ClientConfig(client_id="x")), "redirect_uri is needed"),
    (lambda: _build(redirect_uri="https://app.example.com/cb#frag"), "fragment"),
    (lambda: _build(redirect_uri="/callback"), "absolute URI"),
    (lambda: _build(scope="openid profile"), "sequence of scope tokens"),
    (lambda: _build(scope=["a b"]), "RFC 6749 §3.3"),
    (lambda: _build(resource=["https://api.example.com/#x"]), "fragment"),
    (lambda: _build(extra_params={"state": "x"}), "'state' is set by oauthflow"),
    (lambda: _build(extra_params=[("response_type", "token")]), "'response_type'"),
    (lambda: _build(extra_params=[("client_secret", "x")]), "'client_secret'"),
    (lambda: _build(extra_params=[("request_uri", "urn:x")]), "'request_uri'"),
    (lambda: _build(state="too-short"), "state must be at least 22"),
    (lambda: _build(state="é" * 30), "state must be at least 22"),
    (lambda: _build(state="a\nb" * 10), "state must be at least 22"),
    (lambda: _build(nonce="short", scope=["openid"]), "nonce must be at least 22"),
    (lambda: _build(code_verifier="a" * 42), "RFC 7636"),
    (lambda: _build(code_verifier="a" * 42 + "+"), "RFC 7636"),
    (lambda: _build(max_age=-1), "max_age"),
    (lambda: _build(max_age=True), "max_age"),
    (lambda: _build(max_age="10"), "max_age"),
    (lambda: _build(prompt=""), "prompt"),
    (lambda: _build(login_hint=" "), "login_hint"),
    (lambda: _build(server=dataclasses.replace(
        SERVER, authorization_endpoint=f"{ISSUER}/authorize?client_id=x")), "repeats"),
]


@pytest.mark.parametrize(("build", "message"), CONFIG_ERRORS,
                         ids=[f"{i}-{m[:20]}" for i, (_, m) in enumerate(CONFIG_ERRORS)])
def test_configuration_errors(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build()
    assert message in str(raised.value)


def test_pushed_authorization_url_carries_only_client_id_and_request_uri() -> None:
    url = pushed_authorization_url(SERVER, PUBLIC, "urn:ietf:params:oauth:request_uri:abc")
    assert url == (f"{ISSUER}/authorize?client_id=app"
                   "&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc")
    with pytest.raises(ConfigurationError):
        pushed_authorization_url(ServerMetadata(token_endpoint=TOKEN_URL), PUBLIC, "urn:x")


# --- the callback ---------------------------------------------------------------------

PENDING = _build(scope=["openid"], nonce=NONCE)
PENDING_NO_ISS = _build(server=PLAIN_SERVER)
PENDING_NO_ISSUER = _build(server=ServerMetadata(
    token_endpoint=TOKEN_URL, authorization_endpoint=f"{ISSUER}/authorize"))
GOOD = {"code": CODE, "state": STATE, "iss": ISSUER}

OK_CALLBACKS: list[tuple[AuthorizationRequest, str | Mapping[str, str]]] = [
    (PENDING, f"{REDIRECT}?code={CODE}&state={STATE}&iss=https%3A%2F%2Fas.example.com"),
    (PENDING, f"{REDIRECT}?code={CODE}&state={STATE}&iss={ISSUER}&session_state=x#state=evil"),
    (PENDING, f"code={CODE}&state={STATE}&iss={ISSUER}"),
    (PENDING, GOOD),
    (PENDING, MultiDict(GOOD)),
    (PENDING_NO_ISS, {"code": CODE, "state": STATE}),
    (PENDING_NO_ISS, GOOD),
    (PENDING_NO_ISSUER, {"code": CODE, "state": STATE, "iss": "https://anyone.example"}),
]
OK_IDS = ["url", "url-extra-member-and-fragment", "bare-query", "mapping", "multidict",
          "iss-not-advertised-absent", "iss-not-advertised-present", "issuer-unknown"]


@pytest.mark.parametrize(("pending", "callback"), OK_CALLBACKS, ids=OK_IDS)
def test_valid_callbacks_give_the_code(
    pending: AuthorizationRequest, callback: str | Mapping[str, str]
) -> None:
    assert validate_callback(pending, callback) == CODE


ERR = {"error": "access_denied", "error_description": "The user said no"}
BAD_CALLBACKS: list[tuple[AuthorizationRequest, Mapping[str, str] | str, str]] = [
    (PENDING, {"code": CODE, "state": STATE}, InvalidResponseError.ISS_MISSING),
    (PENDING, {**GOOD, "iss": "https://evil.example"}, InvalidResponseError.ISS_MISMATCH),
    (PENDING, {**GOOD, "iss": ISSUER + "/"}, InvalidResponseError.ISS_MISMATCH),
    (PENDING, {**GOOD, "iss": ""}, InvalidResponseError.ISS_MISMATCH),
    (PENDING_NO_ISS, {**GOOD, "iss": "https://evil.example"}, InvalidResponseError.ISS_MISMATCH),
    (PENDING, {"state": "wrong", "iss": "https://evil.example", **ERR},
     InvalidResponseError.ISS_MISMATCH),
    (PENDING, {"state": STATE, **ERR}, InvalidResponseError.ISS_MISSING),
    (PENDING, {"code": CODE, "iss": ISSUER}, InvalidResponseError.STATE_MISSING),
    (PENDING, {**GOOD, "state": ""}, InvalidResponseError.STATE_MISSING),
    (PENDING, {**GOOD, "state": STATE + "x"}, InvalidResponseError.STATE_MISMATCH),
    (PENDING, {**GOOD, "state": STATE[:-1]}, InvalidResponseError.STATE_MISMATCH),
    (PENDING, {**GOOD, "state": "é" + STATE[1:]}, InvalidResponseError.STATE_MISMATCH),
    (PENDING, {"state": "forged-0123456789abcdefg", "iss": ISSUER, **ERR},
     InvalidResponseError.STATE_MISMATCH),
    (PENDING, {"iss": ISSUER, **ERR}, InvalidResponseError.STATE_MISSING),
    (PENDING, {"state": STATE, "iss": ISSUER}, InvalidResponseError.CODE_MISSING),
    (PENDING, {**GOOD, "code": ""}, InvalidResponseError.CODE_MISSING),
    (PENDING, f"{REDIRECT}?code=a&state={STATE}&state=x&iss={ISSUER}",
     InvalidResponseError.INVALID_FIELD_VALUE),
    (PENDING, MultiDict([*GOOD.items(), ("code", "other")]),
     InvalidResponseError.INVALID_FIELD_VALUE),
    (PENDING, f"{REDIRECT}#code={CODE}&state={STATE}&iss={ISSUER}",
     InvalidResponseError.ISS_MISSING),
    (PENDING, "", InvalidResponseError.ISS_MISSING),
]
BAD_IDS = ["iss-missing", "iss-other", "iss-trailing-slash", "iss-empty", "iss-other-unadvertised",
           "iss-before-state-and-error", "iss-missing-with-error", "state-missing", "state-empty",
           "state-longer", "state-shorter", "state-non-ascii", "error-with-wrong-state",
           "error-without-state", "code-missing", "code-empty", "state-repeated",
           "code-repeated", "fragment-is-not-read", "empty"]


@pytest.mark.parametrize(("pending", "callback", "code"), BAD_CALLBACKS, ids=BAD_IDS)
def test_bad_callbacks_fail_in_the_documented_order(
    pending: AuthorizationRequest, callback: Mapping[str, str] | str, code: str
) -> None:
    with pytest.raises(InvalidResponseError) as raised:
        validate_callback(pending, callback)
    assert raised.value.code == code
    assert raised.value.status is None
    message = str(raised.value)
    for secret in (CODE, STATE, "forged-0123456789abcdefg"):
        assert secret not in message


def test_error_redirect_with_good_state_and_iss_is_an_authorization_response_error() -> None:
    callback = {**ERR, "state": STATE, "iss": ISSUER,
                "error_description": "The user\r\nsaid no\x1b[31m",
                "error_uri": "https://as.example.com/errors#denied"}
    with pytest.raises(AuthorizationResponseError) as raised:
        validate_callback(PENDING, callback)
    error = raised.value
    assert (error.error, error.error_description, error.error_uri, error.status) == (
        "access_denied", "The user said no[31m", "https://as.example.com/errors#denied", None)


def test_error_wins_over_a_code_once_state_is_good() -> None:
    with pytest.raises(AuthorizationResponseError) as raised:
        validate_callback(PENDING, {**GOOD, "error": "server_error"})
    assert raised.value.error == "server_error"
    assert raised.value.error_description is None


def test_non_string_parameters_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        validate_callback(PENDING, {"code": CODE, "state": 1})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError):
        validate_callback(PENDING, [("code", CODE)])  # type: ignore[arg-type]


NAMES = st.sampled_from(["code", "state", "iss", "error", "error_description", "error_uri", "x"])
VALUES = st.one_of(st.sampled_from([CODE, STATE, ISSUER, "", "access_denied"]), st.text())


def _check_outcome(pending: AuthorizationRequest, members: list[tuple[str, str]],
                   callback: str | Mapping[str, str]) -> None:
    try:
        code = validate_callback(pending, callback)
    except AuthorizationResponseError:
        outcome = "error"
    except InvalidResponseError:
        return
    else:
        outcome = "code"
        assert code
    # Whatever got through passed the checks: exactly one state, equal to ours, and our iss.
    assert [v for n, v in members if n == "state"] == [pending.state]
    assert [v for n, v in members if n == "iss"] in ([pending.issuer], [])
    if pending.require_iss:
        assert [v for n, v in members if n == "iss"] == [pending.issuer]
    assert outcome == "error" or [v for n, v in members if n == "code"] == [code]


@given(st.lists(st.tuples(st.one_of(NAMES, st.text()), VALUES), max_size=8),
       st.sampled_from([PENDING, PENDING_NO_ISS]))
def test_any_parameters_give_only_typed_errors(
    members: list[tuple[str, str]], pending: AuthorizationRequest
) -> None:
    _check_outcome(pending, members, MultiDict(members))


# Fresh random states: Hypothesis also tries constants found in this file, such as STATE.
RANDOM_PENDING = [build_authorization_request(server, PUBLIC, now=NOW)
                  for server in (SERVER, PLAIN_SERVER)]


@given(st.text(), st.sampled_from(RANDOM_PENDING))
def test_any_callback_text_gives_only_typed_errors(
    text: str, pending: AuthorizationRequest
) -> None:
    with pytest.raises((InvalidResponseError, AuthorizationResponseError)):
        validate_callback(pending, text)


@given(st.dictionaries(st.one_of(NAMES, st.text()), st.text(), max_size=6),
       st.sampled_from(RANDOM_PENDING))
def test_any_mapping_gives_only_typed_errors(
    members: dict[str, str], pending: AuthorizationRequest
) -> None:
    with pytest.raises((InvalidResponseError, AuthorizationResponseError)):
        validate_callback(pending, members)


# --- the code exchange ----------------------------------------------------------------

BASIC_HEADER = "Basic " + base64.b64encode(b"web:s3cret").decode()


def test_code_exchange_request_for_a_confidential_client() -> None:
    request = build_code_exchange_request(TOKEN_URL, BASIC, PENDING, CODE, now=NOW)
    assert (request.method, request.url) == ("POST", TOKEN_URL)
    assert dict(request.headers) == {**FORM, "Authorization": BASIC_HEADER}
    assert request.form == (
        ("grant_type", "authorization_code"), ("code", CODE), ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    )


def test_code_exchange_request_for_a_public_client_with_resources() -> None:
    pending = _build(redirect_uri="http://127.0.0.1:5000/cb", resource=["urn:a", "urn:b"])
    request = build_code_exchange_request(TOKEN_URL, PUBLIC, pending, CODE, now=NOW)
    assert dict(request.headers) == FORM
    assert request.form == (
        ("grant_type", "authorization_code"), ("code", CODE),
        ("redirect_uri", "http://127.0.0.1:5000/cb"), ("code_verifier", VERIFIER),
        ("resource", "urn:a"), ("resource", "urn:b"), ("client_id", "app"),
    )
    chosen = build_code_exchange_request(TOKEN_URL, PUBLIC, pending, CODE, now=NOW,
                                         resource=["urn:b"])
    assert [v for n, v in chosen.form if n == "resource"] == ["urn:b"]
    none = build_code_exchange_request(TOKEN_URL, PUBLIC, pending, CODE, now=NOW, resource=())
    assert "resource" not in none.form_dict()


def test_code_exchange_refuses_an_empty_code_and_hides_secrets_in_repr() -> None:
    with pytest.raises(ConfigurationError):
        build_code_exchange_request(TOKEN_URL, PUBLIC, PENDING, "", now=NOW)
    request = build_code_exchange_request(TOKEN_URL, BASIC, PENDING, CODE, now=NOW)
    assert CODE not in repr(request)
    assert VERIFIER not in repr(request)
