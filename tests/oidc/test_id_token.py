"""ID token validation (OIDC Core §3.1.3.7) against the local server's real and forged tokens.

Integration tests: the keys come from the server's ``jwks_uri`` over HTTP on 127.0.0.1, and
every forged token is made with the server's own keys (``oauthflow.testing.bad_tokens``),
so only the broken part is wrong.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OctKey

from oauthflow import (
    ClientConfig,
    ConfigurationError,
    InvalidResponseError,
    ManualClock,
    ServerMetadata,
    Transport,
)
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.oidc import (
    IdTokenClaims,
    IdTokenError,
    JwksCache,
    validate_id_token,
    validate_login,
)
from oauthflow.testing import AuthorizationServer
from oauthflow.testing.bad_tokens import MISSING, IdTokenForge

from ._support import CALLBACK, WEB_CLIENT, WEB_SECRET, login

pytestmark = pytest.mark.asyncio

NONCE = "n-" + "x" * 30
ACCESS_TOKEN = "an-access-token-from-the-same-response"


@pytest.fixture
def forge(oauth_server: AuthorizationServer) -> IdTokenForge:
    return IdTokenForge(oauth_server, WEB_CLIENT, nonce=NONCE)


async def validate(
    token: str, jwks: JwksCache, server: AuthorizationServer, **options: Any
) -> IdTokenClaims:
    arguments: dict[str, Any] = {
        "jwks": jwks, "issuer": server.issuer, "client_id": WEB_CLIENT, "nonce": NONCE,
    }
    arguments.update(options)
    return await validate_id_token(token, **arguments)


async def rejected(
    token: str, jwks: JwksCache, server: AuthorizationServer, **options: Any
) -> IdTokenError:
    with pytest.raises(IdTokenError) as caught:
        await validate(token, jwks, server, **options)
    error = caught.value
    assert isinstance(error, InvalidResponseError)
    assert token not in str(error)
    assert NONCE not in str(error)
    return error


# -- the happy path -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_real_id_token_from_a_login_validates(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig,
    jwks: JwksCache, alg: str,
) -> None:
    if alg == "ES256":
        oauth_server.rotate_keys(alg="ES256")
    nonce = secrets.token_urlsafe(24)
    token = await login(oauth_server, transport, web_client, nonce=nonce, max_age=600)
    assert token.id_token is not None
    claims = await validate_id_token(
        token.id_token, jwks=jwks, issuer=oauth_server.issuer, client_id=WEB_CLIENT,
        nonce=nonce, access_token=token.access_token, max_age=600,
    )
    assert (claims.sub, claims.iss, claims.aud, claims.nonce) == (
        "alice", oauth_server.issuer, (WEB_CLIENT,), nonce)
    assert claims.get("email") == "alice@example.test"
    assert claims.auth_time is not None
    assert claims.claims["at_hash"]  # checked against the access token above
    assert repr(claims) == f"IdTokenClaims(sub='alice', iss={oauth_server.issuer!r})"
    assert "alice@example.test" not in repr(claims)
    assert oauth_server.counters.requests["jwks"] == 1


async def test_the_access_token_of_another_response_fails_at_hash(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig,
    jwks: JwksCache,
) -> None:
    first = await login(oauth_server, transport, web_client, nonce=NONCE)
    second = await login(oauth_server, transport, web_client, nonce=NONCE)
    assert first.id_token is not None
    error = await rejected(first.id_token, jwks, oauth_server, access_token=second.access_token)
    assert error.code == IdTokenError.AT_HASH_MISMATCH


async def test_many_tokens_share_one_jwks_fetch(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    for _ in range(20):
        await validate(forge.sign(), jwks, oauth_server)
    assert oauth_server.counters.requests["jwks"] == 1
    assert jwks.fetch_count == 1


# -- the signature and the key ----------------------------------------------------------


async def test_tampered_payload_is_a_bad_signature(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    error = await rejected(forge.tampered(), jwks, oauth_server)
    assert error.code == IdTokenError.BAD_SIGNATURE


async def test_key_not_in_the_jwks_is_unknown_key(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    error = await rejected(forge.signed_by_stranger(alg="ES256"), jwks, oauth_server)
    assert error.code == IdTokenError.UNKNOWN_KEY
    # the first fetch only: a refetch was not allowed yet (rate limit, see test_jwks.py)
    assert oauth_server.counters.requests["jwks"] == 1


async def test_stranger_key_using_a_known_kid_is_a_bad_signature(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    kid = oauth_server.core.keys.current_kid
    token = forge.signed_by_stranger(kid=kid, alg="RS256")
    error = await rejected(token, jwks, oauth_server)
    assert error.code == IdTokenError.BAD_SIGNATURE


async def test_no_kid_is_fine_with_a_single_key_for_the_alg(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    # the JWKS has one RSA and one EC key: only one can verify RS256
    claims = await validate(forge.sign(kid=None), jwks, oauth_server)
    assert claims.sub == "alice"


async def test_no_kid_with_several_candidate_keys_is_kid_ambiguous(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    oauth_server.rotate_keys(alg="RS256")  # now two RSA keys are published
    error = await rejected(forge.sign(kid=None), jwks, oauth_server)
    assert error.code == IdTokenError.KID_AMBIGUOUS


async def test_alg_none_is_refused_before_any_key_lookup(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    error = await rejected(forge.unsigned(), jwks, oauth_server)
    assert error.code == IdTokenError.ALG_NOT_ALLOWED
    assert oauth_server.counters.requests["jwks"] == 0


async def test_none_cannot_be_allowed_by_configuration(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    with pytest.raises(ConfigurationError):
        await validate(forge.unsigned(), jwks, oauth_server, allowed_algs=["RS256", "none"])


async def test_hs256_keyed_with_the_public_key_is_refused(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    token = forge.hmac_with_public_key()
    error = await rejected(token, jwks, oauth_server, allowed_algs=["RS256", "HS256"])
    assert error.code == IdTokenError.ALG_NOT_ALLOWED
    assert oauth_server.counters.requests["jwks"] == 0
    # even where HS256 is legitimately used (keyed with the client secret), it fails
    error = await rejected(
        token, jwks, oauth_server, allowed_algs=["RS256", "HS256"], client_secret=WEB_SECRET
    )
    assert error.code == IdTokenError.BAD_SIGNATURE


async def test_an_algorithm_the_provider_does_not_advertise_is_refused(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    oauth_server.rotate_keys(alg="ES256")
    error = await rejected(forge.sign(), jwks, oauth_server, allowed_algs=["RS256"])
    assert error.code == IdTokenError.ALG_NOT_ALLOWED


async def test_an_access_token_is_not_an_id_token(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig,
    jwks: JwksCache,
) -> None:
    token = await login(oauth_server, transport, web_client, nonce=NONCE)
    # an RFC 9068 JWT access token of the same server: signed by the same key
    error = await rejected(token.access_token, jwks, oauth_server)
    assert error.code == IdTokenError.MALFORMED


# -- the claims ---------------------------------------------------------------------------

Case = Callable[[IdTokenForge], dict[str, Any]]

CLAIM_CASES: list[tuple[str, Case, dict[str, Any], str]] = [
    ("wrong iss", lambda f: f.claims(iss="https://evil.example"), {}, IdTokenError.ISS_MISMATCH),
    ("iss with trailing slash", lambda f: f.claims(iss=f.server.issuer + "/"), {},
     IdTokenError.ISS_MISMATCH),
    ("wrong aud", lambda f: f.claims(aud=["someone-else"]), {}, IdTokenError.AUD_MISMATCH),
    ("wrong aud string", lambda f: f.claims(aud="someone-else"), {}, IdTokenError.AUD_MISMATCH),
    ("several audiences, no azp", lambda f: f.claims(aud=[WEB_CLIENT, "api"]), {},
     IdTokenError.AZP_MISSING),
    ("azp not us", lambda f: f.claims(aud=[WEB_CLIENT, "api"], azp="api"), {},
     IdTokenError.AZP_MISMATCH),
    ("expired", lambda f: f.claims(exp=f.now - 3600), {}, IdTokenError.EXPIRED),
    ("expired beyond a zero leeway", lambda f: f.claims(exp=f.now - 5), {"leeway": 0},
     IdTokenError.EXPIRED),
    ("iat far in the future", lambda f: f.claims(iat=f.now + 3600), {},
     IdTokenError.IAT_IN_FUTURE),
    ("nonce missing", lambda f: f.claims(nonce=MISSING), {}, IdTokenError.NONCE_MISSING),
    ("nonce wrong", lambda f: f.claims(nonce="n-" + "y" * 30), {}, IdTokenError.NONCE_MISMATCH),
    ("at_hash wrong", lambda f: f.claims(at_hash=f.at_hash("another-access-token")),
     {"access_token": ACCESS_TOKEN}, IdTokenError.AT_HASH_MISMATCH),
    ("auth_time older than max_age", lambda f: f.claims(auth_time=f.now - 3600),
     {"max_age": 300}, IdTokenError.AUTH_TIME_TOO_OLD),
    ("auth_time missing with max_age", lambda f: f.claims(auth_time=MISSING), {"max_age": 300},
     IdTokenError.AUTH_TIME_MISSING),
    ("acr not required", lambda f: f.claims(acr="urn:example:loa:1"),
     {"acr_values": ["urn:example:loa:2"]}, IdTokenError.ACR_MISMATCH),
    ("acr missing", lambda f: f.claims(), {"acr_values": ["urn:example:loa:2"]},
     IdTokenError.ACR_MISMATCH),
    ("sub missing", lambda f: f.claims(sub=MISSING), {}, IdTokenError.MALFORMED),
    ("exp a string", lambda f: f.claims(exp=str(f.now + 60)), {}, IdTokenError.MALFORMED),
    ("iat a boolean", lambda f: f.claims(iat=True), {}, IdTokenError.MALFORMED),
    ("aud empty", lambda f: f.claims(aud=[]), {}, IdTokenError.MALFORMED),
]


@pytest.mark.parametrize(
    ("claims", "options", "code"),
    [case[1:] for case in CLAIM_CASES], ids=[case[0] for case in CLAIM_CASES],
)
async def test_genuinely_signed_token_with_a_bad_claim_is_rejected(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache,
    claims: Case, options: dict[str, Any], code: str,
) -> None:
    error = await rejected(forge.sign(claims(forge)), jwks, oauth_server, **options)
    assert error.code == code


ACCEPTED_CASES: list[tuple[str, Case, dict[str, Any]]] = [
    ("aud as a string", lambda f: f.claims(aud=WEB_CLIENT), {}),
    ("several audiences with azp", lambda f: f.claims(aud=[WEB_CLIENT, "api"], azp=WEB_CLIENT), {}),
    ("expired within the leeway", lambda f: f.claims(exp=f.now - 30), {}),
    ("iat ahead within the leeway", lambda f: f.claims(iat=f.now + 30), {}),
    ("right at_hash", lambda f: f.claims(at_hash=f.at_hash(ACCESS_TOKEN)),
     {"access_token": ACCESS_TOKEN}),
    ("no at_hash", lambda f: f.claims(), {"access_token": ACCESS_TOKEN}),
    ("recent auth_time", lambda f: f.claims(auth_time=f.now - 100), {"max_age": 300}),
    ("acr required and present", lambda f: f.claims(acr="urn:example:loa:2"),
     {"acr_values": ["urn:example:loa:1", "urn:example:loa:2"]}),
    ("no nonce sent, none expected", lambda f: f.claims(nonce=MISSING), {"nonce": None}),
]


@pytest.mark.parametrize(
    ("claims", "options"), [case[1:] for case in ACCEPTED_CASES],
    ids=[case[0] for case in ACCEPTED_CASES],
)
async def test_valid_variants_are_accepted(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache,
    claims: Case, options: dict[str, Any],
) -> None:
    result = await validate(forge.sign(claims(forge)), jwks, oauth_server, **options)
    assert result.sub == "alice"


async def test_claim_checks_run_only_after_the_signature(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    # expired, wrong issuer and wrong nonce, but forged: the signature error wins
    claims = forge.claims(exp=forge.now - 3600, iss="https://evil.example", nonce="other")
    error = await rejected(forge.signed_by_stranger(claims, alg="ES256"), jwks, oauth_server)
    assert error.code == IdTokenError.UNKNOWN_KEY
    error = await rejected(forge.tampered(claims), jwks, oauth_server)
    assert error.code == IdTokenError.BAD_SIGNATURE


async def test_hs256_with_the_client_secret_is_accepted_when_allowed(
    oauth_server: AuthorizationServer, forge: IdTokenForge, jwks: JwksCache
) -> None:
    payload = json.dumps(forge.claims()).encode()
    key = OctKey.import_key(WEB_SECRET.encode())
    token = jws.serialize_compact({"alg": "HS256"}, payload, key, algorithms=["HS256"])
    claims = await validate(
        token, jwks, oauth_server, allowed_algs=["RS256", "HS256"], client_secret=WEB_SECRET
    )
    assert claims.sub == "alice"
    assert oauth_server.counters.requests["jwks"] == 0
    error = await rejected(token, jwks, oauth_server, client_secret=WEB_SECRET)
    assert error.code == IdTokenError.ALG_NOT_ALLOWED  # the server does not advertise HS256


# -- validate_login: the authorization-code flow's result --------------------------------------


async def test_validate_login_after_exchange_code(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig,
    jwks: JwksCache,
) -> None:
    server = ServerMetadata.from_dict(oauth_server.metadata)
    pending = await start_authorization(
        transport, server, web_client, redirect_uri=CALLBACK, scope=["openid", "email"],
        max_age=120,
    )
    assert pending.nonce is not None
    callback = await oauth_server.authorize(pending.url)
    token = await exchange_code(transport, server, web_client, pending, callback)
    claims = await validate_login(pending, token, jwks=jwks, client_id=WEB_CLIENT)
    assert (claims.sub, claims.nonce) == ("alice", pending.nonce)
    assert claims.get("email") == "alice@example.test"
    # the max_age of the request is enforced: ten minutes later (the ID token lives an hour)
    # the same login is too old
    later = ManualClock(wall=time.time() + 600)
    with pytest.raises(IdTokenError) as caught:
        await validate_login(pending, token, jwks=jwks, client_id=WEB_CLIENT, clock=later)
    assert caught.value.code == IdTokenError.AUTH_TIME_TOO_OLD
    # another login's token does not pass for this one (nonce)
    other = await start_authorization(transport, server, web_client, redirect_uri=CALLBACK,
                                      scope=["openid"])
    with pytest.raises(IdTokenError) as mixed:
        await validate_login(other, token, jwks=jwks, client_id=WEB_CLIENT)
    assert mixed.value.code == IdTokenError.NONCE_MISMATCH


async def test_validate_login_without_an_id_token(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig,
    jwks: JwksCache,
) -> None:
    server = ServerMetadata.from_dict(oauth_server.metadata)
    pending = await start_authorization(transport, server, web_client, redirect_uri=CALLBACK,
                                        scope=["read"])
    token = await exchange_code(
        transport, server, web_client, pending, await oauth_server.authorize(pending.url)
    )
    assert token.id_token is None
    with pytest.raises(InvalidResponseError) as caught:
        await validate_login(pending, token, jwks=jwks, client_id=WEB_CLIENT)
    assert caught.value.code == InvalidResponseError.MISSING_FIELD
