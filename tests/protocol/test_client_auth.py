"""Unit tests of oauthflow.protocol.client_auth (RFC 6749 §2.3, RFC 7523 §2.2 / §3).

Keys are generated at test time (module-scoped fixtures); no key is committed.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote, unquote_plus

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from oauthflow.config import ClientConfig, PrivateKey
from oauthflow.errors import ConfigurationError
from oauthflow.protocol.client_auth import (
    JWT_BEARER_ASSERTION_TYPE,
    ClientAuthParts,
    build_client_auth,
)

TOKEN_ENDPOINT = "https://as.example.com/oauth2/token"
NOW = 1_700_000_000.75
HMAC_SECRET = "0123456789abcdef0123456789abcdef-client-secret"


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    key: RSAKey = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    return key


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    key: ECKey = ECKey.generate_key("P-256")
    return key


def _public(key: PrivateKey) -> Any:
    return type(key).import_key(key.as_dict(private=False))


def _decode_basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    user, sep, password = base64.b64decode(encoded, validate=True).decode("ascii").partition(":")
    assert sep == ":"
    return user, password


CREDENTIALS = [
    ("client", "secret"),
    ("my:client", "pa:ss"),
    ("my client", "pass word"),
    ("a+b", "c+d"),
    ("a/b", "c/d"),
    ("100%", "%41%"),
    ("clïent é", "p€ss ü"),
    ("svc:client é", "s3cret+/ é€:"),
]


@pytest.mark.parametrize(
    ("client_id", "secret"),
    CREDENTIALS,
    ids=["plain", "colon", "space", "plus", "slash", "percent", "non-ascii", "everything"],
)
def test_client_secret_basic_form_encodes_before_base64(client_id: str, secret: str) -> None:
    client = ClientConfig(client_id=client_id, client_secret=secret)
    parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW)
    assert parts.form == ()
    assert list(parts.headers) == ["Authorization"]
    user, password = _decode_basic(parts.headers["Authorization"])
    # Only one ":" survives encoding: the separator (RFC 7617 §2 forbids it in user-id).
    assert ":" not in user
    assert ":" not in password
    # A server decoding with unquote (Authlib) or unquote_plus gets the originals back.
    assert (unquote(user), unquote(password)) == (client_id, secret)
    assert (unquote_plus(user), unquote_plus(password)) == (client_id, secret)


def test_client_secret_basic_exact_header() -> None:
    client = ClientConfig(client_id="my:client é", client_secret="p@ss word+/ü€")
    parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW)
    expected = "my%3Aclient%20%C3%A9:p%40ss%20word%2B%2F%C3%BC%E2%82%AC"
    assert dict(parts.headers) == {
        "Authorization": "Basic " + base64.b64encode(expected.encode()).decode()
    }


def test_client_secret_post() -> None:
    client = ClientConfig(client_id="c", client_secret="s 1", auth_method="client_secret_post")
    parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW)
    assert dict(parts.headers) == {}
    assert parts.form == (("client_id", "c"), ("client_secret", "s 1"))


def test_none_sends_client_id_only() -> None:
    parts = build_client_auth(ClientConfig(client_id="public"), audience=TOKEN_ENDPOINT, now=NOW)
    assert dict(parts.headers) == {}
    assert parts.form == (("client_id", "public"),)


def _assertion(parts: ClientAuthParts, client_id: str) -> str:
    assert dict(parts.headers) == {}
    names = [name for name, _ in parts.form]
    assert names == ["client_assertion_type", "client_assertion", "client_id"]
    form = dict(parts.form)
    assert form["client_assertion_type"] == JWT_BEARER_ASSERTION_TYPE
    assert form["client_id"] == client_id
    return form["client_assertion"]


def _expected_claims(client_id: str, jti: str, lifetime: int = 60) -> dict[str, Any]:
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "jti": jti,
        "iat": 1_700_000_000,
        "exp": 1_700_000_000 + lifetime,
    }


def test_private_key_jwt_rs256_with_kid(rsa_key: RSAKey) -> None:
    client = ClientConfig(client_id="svc", private_key=rsa_key)
    parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW, jti="jti-1")
    token = jwt.decode(_assertion(parts, "svc"), _public(rsa_key), algorithms=["RS256"])
    assert token.header == {"alg": "RS256", "kid": "rsa-1"}
    assert token.claims == _expected_claims("svc", "jti-1")


def test_private_key_jwt_es256_without_kid(ec_key: ECKey) -> None:
    client = ClientConfig(client_id="svc", private_key=ec_key)
    parts = build_client_auth(
        client, audience=TOKEN_ENDPOINT, now=NOW, jti="jti-2", assertion_lifetime=300
    )
    token = jwt.decode(_assertion(parts, "svc"), _public(ec_key), algorithms=["ES256"])
    assert token.header == {"alg": "ES256"}
    assert token.claims == _expected_claims("svc", "jti-2", lifetime=300)


@pytest.mark.parametrize(
    ("curve", "alg"),
    [("P-384", "ES384"), ("P-521", "ES512"), ("secp256k1", "ES256K")],
    ids=["p384", "p521", "secp256k1"],
)
def test_private_key_jwt_ec_alg_follows_curve(curve: str, alg: str) -> None:
    key = ECKey.generate_key(curve)
    parts = build_client_auth(
        ClientConfig(client_id="svc", private_key=key), audience=TOKEN_ENDPOINT, now=NOW
    )
    token = jwt.decode(_assertion(parts, "svc"), _public(key), algorithms=[alg])
    assert token.header == {"alg": alg}


def test_private_key_jwt_ed25519_uses_rfc9864_name() -> None:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "ed"})
    parts = build_client_auth(
        ClientConfig(client_id="svc", private_key=key), audience=TOKEN_ENDPOINT, now=NOW,
        jti="j",
    )
    token = jwt.decode(_assertion(parts, "svc"), _public(key), algorithms=["Ed25519"])
    assert token.header == {"alg": "Ed25519", "kid": "ed"}
    assert token.claims == _expected_claims("svc", "j")


def test_private_key_jwt_explicit_eddsa_still_signs_with_joserfc_warning() -> None:
    key = OKPKey.generate_key("Ed25519")
    client = ClientConfig(client_id="svc", private_key=key, signing_alg="EdDSA")
    with pytest.warns(SecurityWarning, match="EdDSA is deprecated"):
        parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW)
    with pytest.warns(SecurityWarning, match="EdDSA is deprecated"):
        token = jwt.decode(_assertion(parts, "svc"), _public(key), algorithms=["EdDSA"])
    assert token.header == {"alg": "EdDSA"}


def test_private_key_jwt_key_alg_member_is_the_default(rsa_key: RSAKey) -> None:
    key = RSAKey.import_key(rsa_key.as_dict(private=True), parameters={"alg": "PS256"})
    parts = build_client_auth(
        ClientConfig(client_id="svc", private_key=key), audience=TOKEN_ENDPOINT, now=NOW
    )
    token = jwt.decode(_assertion(parts, "svc"), _public(rsa_key), algorithms=["PS256"])
    assert token.header["alg"] == "PS256"


def test_private_key_jwt_signature_is_checked_against_the_right_key(rsa_key: RSAKey) -> None:
    parts = build_client_auth(
        ClientConfig(client_id="svc", private_key=rsa_key), audience=TOKEN_ENDPOINT, now=NOW
    )
    other = RSAKey.generate_key(2048)
    with pytest.raises(BadSignatureError):
        jwt.decode(_assertion(parts, "svc"), _public(other), algorithms=["RS256"])


def test_private_key_jwt_jti_is_random_per_assertion(rsa_key: RSAKey) -> None:
    client = ClientConfig(client_id="svc", private_key=rsa_key)
    jtis = set()
    for _ in range(3):
        parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW)
        claims = jwt.decode(_assertion(parts, "svc"), _public(rsa_key), algorithms=["RS256"])
        jtis.add(claims.claims["jti"])
    assert len(jtis) == 3
    assert all(len(jti) == 32 for jti in jtis)  # secrets.token_urlsafe(24)


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_client_secret_jwt(alg: str, size: int) -> None:
    secret = "s" * size
    client = ClientConfig(
        client_id="svc", client_secret=secret, auth_method="client_secret_jwt", signing_alg=alg
    )
    parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW, jti="hs")
    token = jwt.decode(_assertion(parts, "svc"), OctKey.import_key(secret.encode()),
                       algorithms=[alg])
    assert token.header == {"alg": alg}
    assert token.claims == _expected_claims("svc", "hs")


def test_client_secret_jwt_defaults_to_hs256() -> None:
    client = ClientConfig(
        client_id="svc", client_secret=HMAC_SECRET, auth_method="client_secret_jwt"
    )
    parts = build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW, jti="hs")
    token = jwt.decode(
        _assertion(parts, "svc"), OctKey.import_key(HMAC_SECRET.encode()), algorithms=["HS256"]
    )
    assert token.header == {"alg": "HS256"}
    with pytest.raises(BadSignatureError):
        jwt.decode(_assertion(parts, "svc"), OctKey.import_key(b"x" * 32), algorithms=["HS256"])


def test_client_secret_jwt_refuses_a_secret_shorter_than_the_hash() -> None:
    # RFC 7518 §3.2: at least 256 bits for HS256; joserfc alone would only warn below 112.
    client = ClientConfig(
        client_id="svc", client_secret="short-secret-31-bytes-long-xxxx",
        auth_method="client_secret_jwt",
    )
    with pytest.raises(ConfigurationError, match="at least 32 bytes") as caught:
        build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW)
    assert "short-secret" not in str(caught.value)


def _ec_client_with(alg: str, ec_key: ECKey) -> ClientConfig:
    return ClientConfig(client_id="svc", private_key=ec_key, signing_alg=alg)


@pytest.mark.parametrize(
    ("make_client", "message"),
    [
        (lambda ec: _ec_client_with("RS256", ec), "cannot sign the client assertion with 'RS256'"),
        (lambda ec: _ec_client_with("HS256", ec), "cannot sign the client assertion with 'HS256'"),
        (lambda ec: _ec_client_with("none", ec), "must be signed; 'none' is refused"),
        (
            lambda ec: ClientConfig(client_id="svc", private_key=OKPKey.generate_key("X25519")),
            "cannot sign with a OKPKey on curve 'X25519'",
        ),
        (
            lambda ec: ClientConfig(
                client_id="svc", client_secret=HMAC_SECRET, auth_method="client_secret_jwt",
                signing_alg="RS256",
            ),
            "HS256, HS384 or HS512",
        ),
    ],
    ids=["rsa-alg-ec-key", "hmac-alg-ec-key", "alg-none", "x25519-not-a-signing-key",
         "client-secret-jwt-rsa-alg"],
)
def test_unusable_key_or_alg_is_a_configuration_error(
    make_client: Any, message: str, ec_key: ECKey
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_client_auth(make_client(ec_key), audience=TOKEN_ENDPOINT, now=NOW)


def test_assertion_needs_positive_lifetime_and_an_audience(ec_key: ECKey) -> None:
    client = ClientConfig(client_id="svc", private_key=ec_key)
    with pytest.raises(ConfigurationError, match="assertion_lifetime"):
        build_client_auth(client, audience=TOKEN_ENDPOINT, now=NOW, assertion_lifetime=0)
    with pytest.raises(ConfigurationError, match="audience"):
        build_client_auth(client, audience="", now=NOW)


def test_parts_repr_hides_credentials() -> None:
    basic = build_client_auth(
        ClientConfig(client_id="c", client_secret="TOP-SECRET"), audience=TOKEN_ENDPOINT, now=NOW
    )
    post = build_client_auth(
        ClientConfig(client_id="c", client_secret="TOP-SECRET", auth_method="client_secret_post"),
        audience=TOKEN_ENDPOINT, now=NOW,
    )
    encoded = basic.headers["Authorization"]
    for parts in (basic, post):
        for text in (repr(parts), str(parts)):
            assert "TOP-SECRET" not in text
            assert encoded.split()[1] not in text
    assert repr(basic) == "ClientAuthParts(headers=['Authorization'], form_names=[])"
    assert repr(post) == "ClientAuthParts(headers=[], form_names=['client_id', 'client_secret'])"


def test_parts_headers_are_read_only() -> None:
    parts = build_client_auth(ClientConfig(client_id="c"), audience=TOKEN_ENDPOINT, now=NOW)
    with pytest.raises(TypeError):
        parts.headers["X"] = "y"  # type: ignore[index]
