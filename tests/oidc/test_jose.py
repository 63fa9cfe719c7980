"""The pure JWS layer: parsing, the algorithm policy, signature checks, token hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from oauthflow import ConfigurationError
from oauthflow.oidc import IdTokenError
from oauthflow.oidc.jose import (
    ASYMMETRIC_ALGS,
    MAX_JWT_LENGTH,
    allowed_algorithms,
    check_alg,
    parse_compact_jwt,
    token_hash,
    verify_signature,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


GOOD_HEADER = segment({"alg": "RS256", "kid": "k1"})
GOOD_PAYLOAD = segment({"sub": "alice"})
NOT_UTF8 = b64(b"\xff\xfe")
DUPLICATE_ALG = b64(b'{"alg":"none","alg":"RS256"}')
NAN_EXP = b64(b'{"exp": NaN}')
NOT_JSON = b64(b"not json")

MALFORMED: list[tuple[str, str]] = [
    ("empty", ""),
    ("two parts", f"{GOOD_HEADER}.{GOOD_PAYLOAD}"),
    ("four parts", f"{GOOD_HEADER}.{GOOD_PAYLOAD}.sig.x"),
    ("encrypted (JWE)", "a.b.c.d.e"),
    ("empty payload", f"{GOOD_HEADER}..sig"),
    ("padding", f"{GOOD_HEADER}=.{GOOD_PAYLOAD}.sig"),
    ("not base64url", f"{GOOD_HEADER}.{GOOD_PAYLOAD}+/.sig"),
    ("impossible length", f"{GOOD_HEADER}.{GOOD_PAYLOAD}.a"),
    ("header not JSON", f"{NOT_JSON}.{GOOD_PAYLOAD}.sig"),
    ("header an array", f"{segment(['RS256'])}.{GOOD_PAYLOAD}.sig"),
    ("payload an array", f"{GOOD_HEADER}.{segment([1])}.sig"),
    ("payload not UTF-8", f"{GOOD_HEADER}.{NOT_UTF8}.sig"),
    ("duplicate header member", f"{DUPLICATE_ALG}.{GOOD_PAYLOAD}.sig"),
    ("NaN in payload", f"{GOOD_HEADER}.{NAN_EXP}.sig"),
    ("no alg", f"{segment({'kid': 'k1'})}.{GOOD_PAYLOAD}.sig"),
    ("alg not a string", f"{segment({'alg': 256})}.{GOOD_PAYLOAD}.sig"),
    ("kid not a string", f"{segment({'alg': 'RS256', 'kid': 1})}.{GOOD_PAYLOAD}.sig"),
    ("crit", f"{segment({'alg': 'RS256', 'crit': ['exp'], 'exp': 1})}.{GOOD_PAYLOAD}.sig"),
    ("unencoded payload", f"{segment({'alg': 'RS256', 'b64': False})}.{GOOD_PAYLOAD}.sig"),
    ("typed access token", f"{segment({'alg': 'RS256', 'typ': 'at+jwt'})}.{GOOD_PAYLOAD}.sig"),
    ("typed logout token",
     f"{segment({'alg': 'RS256', 'typ': 'application/logout+jwt'})}.{GOOD_PAYLOAD}.sig"),
    ("too long", f"{GOOD_HEADER}.{'A' * MAX_JWT_LENGTH}.sig"),
]


@pytest.mark.parametrize("token", [case[1] for case in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(IdTokenError) as caught:
        parse_compact_jwt(token)
    assert caught.value.code == IdTokenError.MALFORMED


def test_a_well_formed_token_is_split() -> None:
    jwt = parse_compact_jwt(f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{b64(b'sig')}")
    assert (jwt.alg, jwt.kid, dict(jwt.claims), jwt.signature) == (
        "RS256", "k1", {"sub": "alice"}, b"sig")
    assert jwt.signing_input == f"{GOOD_HEADER}.{GOOD_PAYLOAD}".encode()
    assert repr(jwt) == "CompactJwt(alg='RS256', kid='k1')"


@given(st.text(max_size=300))
def test_parsing_arbitrary_text_never_raises_anything_else(text: str) -> None:
    codes = set()
    try:
        parse_compact_jwt(text)
    except IdTokenError as exc:
        codes.add(exc.code)
    assert codes <= {IdTokenError.MALFORMED}


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_parsing_arbitrary_headers_never_raises_anything_else(header: dict[str, Any]) -> None:
    codes = set()
    try:
        parse_compact_jwt(f"{segment(header)}.{GOOD_PAYLOAD}.{b64(b'sig')}")
    except IdTokenError as exc:
        codes.add(exc.code)
    assert codes <= {IdTokenError.MALFORMED}


# -- the algorithm policy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "allowed", "have_secret"),
    [("none", {"none", "RS256"}, True), ("HS256", {"HS256"}, False),
     ("RS256", {"ES256"}, False), ("XS999", {"XS999"}, False), ("ES256K", {"ES256K"}, False)],
)
def test_refused_algorithms(alg: str, allowed: set[str], have_secret: bool) -> None:
    with pytest.raises(IdTokenError) as caught:
        check_alg(alg, allowed, have_secret=have_secret)
    assert caught.value.code == IdTokenError.ALG_NOT_ALLOWED


@pytest.mark.parametrize(
    ("alg", "allowed", "have_secret"),
    [("RS256", {"RS256"}, False), ("HS256", {"HS256"}, True), ("EdDSA", ASYMMETRIC_ALGS, False)],
)
def test_accepted_algorithms(alg: str, allowed: set[str], have_secret: bool) -> None:
    check_alg(alg, allowed, have_secret=have_secret)


def test_allowed_algorithms_precedence() -> None:
    assert allowed_algorithms(["ES256"], ["RS256"]) == {"ES256"}
    assert allowed_algorithms(None, ["RS256", "none", "HS256"]) == {"RS256", "HS256"}
    assert allowed_algorithms(None, ["none"]) == ASYMMETRIC_ALGS
    assert allowed_algorithms(None, None) == ASYMMETRIC_ALGS
    for bad in (["none"], ["RS256", "none"], ["RS257"], []):
        with pytest.raises(ConfigurationError):
            allowed_algorithms(bad, None)


# -- signatures --------------------------------------------------------------------------------

KEYS: list[tuple[str, RSAKey | ECKey | OKPKey]] = [
    ("RS256", RSAKey.generate_key(2048)),
    ("PS384", RSAKey.generate_key(2048)),
    ("ES256", ECKey.generate_key("P-256")),
    ("ES512", ECKey.generate_key("P-521")),
    ("Ed25519", OKPKey.generate_key("Ed25519")),
]


@pytest.mark.parametrize(("alg", "key"), KEYS, ids=[alg for alg, _ in KEYS])
def test_signatures_verify_with_their_key_only(alg: str, key: RSAKey | ECKey | OKPKey) -> None:
    token = jws.serialize_compact({"alg": alg}, b'{"sub":"a"}', key, algorithms=[alg])
    jwt = parse_compact_jwt(token)
    assert verify_signature(jwt, key)
    for other_alg, other in KEYS:
        if other is not key:
            assert not verify_signature(jwt, other), other_alg
    head, payload, signature = token.split(".")
    assert not verify_signature(parse_compact_jwt(f"{head}.{payload}.{signature[:-4]}"), key)


def test_an_hmac_cannot_be_checked_with_a_public_key() -> None:
    rsa_key = KEYS[0][1]
    pem = rsa_key.as_pem(private=False)
    signing_input = f"{segment({'alg': 'HS256'})}.{GOOD_PAYLOAD}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    jwt = parse_compact_jwt(f"{signing_input}.{b64(mac)}")
    assert not verify_signature(jwt, rsa_key)
    assert verify_signature(jwt, OctKey.import_key(b"x" * 32)) is False


# -- at_hash (OIDC Core §3.1.3.6) ----------------------------------------------------------------


def test_at_hash_matches_the_oidc_core_example() -> None:
    # OpenID Connect Core 1.0, Appendix A.3 / A.4
    assert token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == (
        "77QmUPtjPfzWtF2AnpK9RQ")


@pytest.mark.parametrize(
    ("alg", "curve", "length"),
    [("RS256", None, 22), ("ES384", None, 32), ("PS512", None, 43), ("HS256", None, 22),
     ("EdDSA", "Ed25519", 43), ("Ed25519", None, 43), ("EdDSA", "Ed448", 76)],
)
def test_at_hash_uses_the_left_half_of_the_alg_hash(
    alg: str, curve: str | None, length: int
) -> None:
    assert len(token_hash("token", alg, curve)) == length


def test_no_at_hash_for_an_unknown_alg() -> None:
    with pytest.raises(IdTokenError):
        token_hash("token", "XS256")
