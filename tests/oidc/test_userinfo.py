"""UserInfo (OIDC Core §5.3): bearer GET, JSON and signed JWT answers, the ``sub`` rule,
and errors from the ``WWW-Authenticate`` challenge. Integration tests on the local server."""

from __future__ import annotations

import json
import secrets

import pytest

from oauthflow import (
    ClientConfig,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
    ServerMetadata,
    Token,
    Transport,
    fetch_client_credentials_token,
)
from oauthflow.oidc import SUB_MISMATCH, IdTokenError, JwksCache, fetch_userinfo
from oauthflow.testing import AuthorizationServer
from oauthflow.testing.bad_tokens import IdTokenForge

from ._support import WEB_CLIENT, login

pytestmark = pytest.mark.asyncio


async def logged_in(
    server: AuthorizationServer, transport: Transport, client: ClientConfig
) -> Token:
    return await login(server, transport, client, nonce=secrets.token_urlsafe(24))


def metadata(server: AuthorizationServer) -> ServerMetadata:
    return ServerMetadata.from_dict(server.metadata)


async def test_claims_of_the_logged_in_user(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig
) -> None:
    token = await logged_in(oauth_server, transport, web_client)
    claims = await fetch_userinfo(
        transport, metadata(oauth_server), token.access_token, expected_sub="alice"
    )
    assert dict(claims) == {
        "sub": "alice", "name": "Alice Example", "preferred_username": "alice",
        "email": "alice@example.test", "email_verified": True,
    }
    with pytest.raises(TypeError):
        claims["sub"] = "mallory"  # type: ignore[index]
    (seen,) = oauth_server.requests_seen("userinfo")
    assert (seen.method, seen.body) == ("GET", b"")
    assert seen.headers["Authorization"] == f"Bearer {token.access_token}"


async def test_a_different_sub_is_refused(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig
) -> None:
    token = await logged_in(oauth_server, transport, web_client)
    oauth_server.fail_next("userinfo", status=200, content_type="application/json",
                           body=json.dumps({"sub": "mallory", "email": "m@evil"}).encode())
    with pytest.raises(InvalidResponseError) as caught:
        await fetch_userinfo(
            transport, metadata(oauth_server), token.access_token, expected_sub="alice"
        )
    assert caught.value.code == SUB_MISMATCH == "sub_mismatch"
    assert "m@evil" not in str(caught.value)


async def test_a_response_without_sub_is_refused(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig
) -> None:
    token = await logged_in(oauth_server, transport, web_client)
    oauth_server.fail_next("userinfo", status=200, content_type="application/json",
                           body=b'{"email": "a@example.test"}')
    with pytest.raises(InvalidResponseError) as caught:
        await fetch_userinfo(
            transport, metadata(oauth_server), token.access_token, expected_sub="alice"
        )
    assert caught.value.code == InvalidResponseError.MISSING_FIELD


async def test_a_revoked_token_gives_the_challenge_error(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig
) -> None:
    token = await logged_in(oauth_server, transport, web_client)
    oauth_server.revoke_all()
    with pytest.raises(OAuthError) as caught:
        await fetch_userinfo(
            transport, metadata(oauth_server), token.access_token, expected_sub="alice"
        )
    assert (caught.value.error, caught.value.status) == ("invalid_token", 401)
    assert caught.value.error_description == "The access token was revoked"
    assert token.access_token not in str(caught.value)


async def test_a_token_without_openid_scope_is_insufficient_scope(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig
) -> None:
    token = await fetch_client_credentials_token(
        transport, oauth_server.token_endpoint, web_client, scope=["read"]
    )
    with pytest.raises(OAuthError) as caught:
        await fetch_userinfo(transport, metadata(oauth_server), token.access_token,
                             expected_sub="web")
    assert (caught.value.error, caught.value.status) == ("insufficient_scope", 403)


async def test_a_refusal_without_a_challenge_is_an_unexpected_status(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.fail_next("userinfo", status=502, body=b"<html>bad gateway</html>",
                           content_type="text/html")
    with pytest.raises(InvalidResponseError) as caught:
        await fetch_userinfo(transport, metadata(oauth_server), "tok", expected_sub="alice")
    assert (caught.value.code, caught.value.status) == (InvalidResponseError.UNEXPECTED_STATUS, 502)


async def test_no_userinfo_endpoint_is_a_configuration_error(transport: Transport) -> None:
    server = ServerMetadata(token_endpoint="https://op.example/token")
    with pytest.raises(ConfigurationError):
        await fetch_userinfo(transport, server, "tok", expected_sub="alice")


# -- signed responses (application/jwt) -------------------------------------------------------


def signed_answer(server: AuthorizationServer, body: str) -> None:
    server.fail_next("userinfo", status=200, body=body.encode(), content_type="application/jwt")


async def test_a_signed_response_is_verified_and_read(
    oauth_server: AuthorizationServer, transport: Transport, jwks: JwksCache
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT)
    signed_answer(oauth_server, forge.sign({
        "sub": "alice", "iss": oauth_server.issuer, "aud": WEB_CLIENT, "email": "a@x.test"}))
    claims = await fetch_userinfo(transport, metadata(oauth_server), "tok",
                                  expected_sub="alice", jwks=jwks, client_id=WEB_CLIENT)
    assert claims["email"] == "a@x.test"
    assert oauth_server.counters.requests["jwks"] == 1


@pytest.mark.parametrize(
    ("kind", "code"),
    [("tampered", IdTokenError.BAD_SIGNATURE), ("unsigned", IdTokenError.ALG_NOT_ALLOWED),
     ("wrong iss", IdTokenError.ISS_MISMATCH), ("wrong aud", IdTokenError.AUD_MISMATCH),
     ("other sub", SUB_MISMATCH), ("not a jwt", IdTokenError.MALFORMED)],
)
async def test_a_bad_signed_response_is_refused(
    oauth_server: AuthorizationServer, transport: Transport, jwks: JwksCache,
    kind: str, code: str,
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT)
    claims = {"sub": "alice", "iss": oauth_server.issuer, "aud": [WEB_CLIENT]}
    bodies = {
        "tampered": forge.tampered(claims),
        "unsigned": forge.unsigned(claims),
        "wrong iss": forge.sign(dict(claims, iss="https://evil.example")),
        "wrong aud": forge.sign(dict(claims, aud=["other"])),
        "other sub": forge.sign(dict(claims, sub="mallory")),
        "not a jwt": '{"sub": "alice"}',
    }
    signed_answer(oauth_server, bodies[kind])
    with pytest.raises(InvalidResponseError) as caught:
        await fetch_userinfo(transport, metadata(oauth_server), "tok", expected_sub="alice",
                             jwks=jwks, client_id=WEB_CLIENT)
    assert type(caught.value) is InvalidResponseError  # not an IdTokenError: not an ID token
    assert caught.value.code == code


async def test_a_signed_response_needs_the_jwks(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT)
    signed_answer(oauth_server, forge.sign({"sub": "alice"}))
    with pytest.raises(ConfigurationError):
        await fetch_userinfo(transport, metadata(oauth_server), "tok", expected_sub="alice")
