"""Revocation (RFC 7009) and introspection (RFC 7662) against oauthflow.testing (integration).

Tokens come from a real authorization-code login (PKCE) on the local server; the
assertions are on what the server saw and on what the tokens can still do afterwards.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from joserfc.jwk import ECKey
from joserfc.jws import extract_compact

from oauthflow import (
    ClientConfig,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
    ReauthenticationRequiredError,
    RetryPolicy,
    ServerMetadata,
    Token,
    Transport,
    fetch_client_credentials_token,
    refresh_access_token,
    request_token,
)
from oauthflow.flows.introspection import introspect_token
from oauthflow.flows.revocation import revoke_token
from oauthflow.protocol.client_auth import JWT_BEARER_ASSERTION_TYPE
from oauthflow.protocol.introspection import Introspection
from oauthflow.testing import AuthorizationServer
from tests.testing._util import CALLBACK, auth_url, pkce_pair, query_of

SECRET = "web-secret: long enough for HS256 assertions!"
WEB = ClientConfig(client_id="web", client_secret=SECRET, redirect_uri=CALLBACK)


async def _no_sleep(_: float) -> None:
    return None


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport(retry=RetryPolicy(attempts=3), sleep=_no_sleep) as shared:
        yield shared


def metadata(server: AuthorizationServer) -> ServerMetadata:
    return ServerMetadata.from_dict(server.metadata)


async def login(server: AuthorizationServer, client: ClientConfig, transport: Transport) -> Token:
    """An access and refresh token from a code login (PKCE S256), exchanged by oauthflow."""
    verifier, challenge = pkce_pair()
    callback = server.authorize_directly(auth_url(server, client.client_id, challenge),
                                         user="alice")
    code = query_of(callback)["code"]
    token = await request_token(transport, server.token_endpoint, client, "authorization_code",
                                {"code": code, "redirect_uri": CALLBACK,
                                 "code_verifier": verifier})
    assert token.refresh_token
    return token


async def api_status(server: AuthorizationServer, access_token: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {access_token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
            session.get(server.api_url + "things/1", headers=headers) as resp:
        return resp.status, resp.headers.get("WWW-Authenticate", "")


@pytest.mark.asyncio
async def test_revoking_a_refresh_token_ends_the_session(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("web", SECRET)
    token = await login(oauth_server, WEB, transport)
    assert (await api_status(oauth_server, token.access_token))[0] == 200

    await revoke_token(transport, metadata(oauth_server), WEB, token)

    seen = oauth_server.requests_seen("revoke")
    assert len(seen) == 1
    assert seen[0].form == {"token": token.refresh_token, "token_type_hint": "refresh_token"}
    basic = base64.b64encode(f"web:{quote(SECRET, safe='')}".encode()).decode()
    assert seen[0].headers["Authorization"] == f"Basic {basic}"
    assert token.refresh_token is not None
    with pytest.raises(ReauthenticationRequiredError) as caught:
        await refresh_access_token(transport, oauth_server.token_endpoint, WEB,
                                   token.refresh_token)
    assert caught.value.error == "invalid_grant"
    # revoking the refresh token revoked the grant: the access token is dead too (§2.1)
    status, challenge = await api_status(oauth_server, token.access_token)
    assert status == 401
    assert 'error="invalid_token"' in challenge


@pytest.mark.asyncio
async def test_revoking_an_access_token_leaves_the_refresh_token(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("web", SECRET)
    token = await login(oauth_server, WEB, transport)
    server = metadata(oauth_server)
    assert (await introspect_token(transport, server, WEB, token.access_token)).active

    await revoke_token(transport, server, WEB, token, token_type_hint="access_token")

    assert oauth_server.requests_seen("revoke")[0].form == {
        "token": token.access_token, "token_type_hint": "access_token"}
    inactive = await introspect_token(transport, server, WEB, token.access_token,
                                      token_type_hint="access_token")
    assert inactive == Introspection(active=False)
    status, challenge = await api_status(oauth_server, token.access_token)
    assert (status, 'error="invalid_token"' in challenge) == (401, True)
    assert token.refresh_token is not None
    assert (await introspect_token(transport, server, WEB, token.refresh_token)).active
    renewed = await refresh_access_token(transport, oauth_server.token_endpoint, WEB,
                                         token.refresh_token)
    assert (await api_status(oauth_server, renewed.access_token))[0] == 200


@pytest.mark.asyncio
async def test_introspection_of_an_active_token(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("web", SECRET)
    oauth_server.register_client("resource-server", "rs-secret")
    token = await login(oauth_server, WEB, transport)
    rs = ClientConfig(client_id="resource-server", client_secret="rs-secret")

    result = await introspect_token(transport, metadata(oauth_server), rs, token.access_token,
                                    token_type_hint="access_token")

    assert result.active is True
    assert (result.client_id, result.sub, result.username) == ("web", "alice", "alice")
    assert (result.iss, result.token_type) == (oauth_server.issuer, "Bearer")
    assert result.scope == ("openid", "profile", "read")
    assert token.expires_at is not None
    assert result.exp is not None
    assert result.iat is not None
    assert abs(result.exp - token.expires_at) <= 1
    assert result.iat <= result.exp
    assert result.jti
    assert oauth_server.requests_seen("introspect")[0].form == {
        "token": token.access_token, "token_type_hint": "access_token"}


@pytest.mark.asyncio
async def test_unknown_token_is_inactive_and_revocable(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("web", SECRET)
    server = metadata(oauth_server)
    assert await introspect_token(transport, server, WEB, "no-such-token") == Introspection(
        active=False)
    await revoke_token(transport, server, WEB, "no-such-token")  # §2.2: 200, not an error
    assert len(oauth_server.requests_seen("revoke")) == 1


@pytest.mark.parametrize(
    "method", ["client_secret_post", "client_secret_jwt", "private_key_jwt", "none"]
)
@pytest.mark.asyncio
async def test_every_client_auth_method(
    oauth_server: AuthorizationServer, transport: Transport, method: str
) -> None:
    """JWT assertions carry the token endpoint as ``aud``, which authlib requires."""
    key = ECKey.generate_key("P-256", parameters={"kid": "k"}, private=True)
    secret = None if method in ("private_key_jwt", "none") else SECRET
    jwks = {"keys": [key.as_dict(private=False)]} if method == "private_key_jwt" else None
    oauth_server.register_client("c", secret, auth_method=method, jwks=jwks)
    client = ClientConfig(client_id="c", client_secret=secret, auth_method=method,  # type: ignore[arg-type]
                          private_key=key if jwks else None)
    token = await login(oauth_server, client, transport)
    server = metadata(oauth_server)

    assert (await introspect_token(transport, server, client, token.access_token)).active
    await revoke_token(transport, server, client, token)
    assert not (await introspect_token(transport, server, client, token.access_token)).active

    form = oauth_server.requests_seen("revoke")[0].form
    assert form["token"] == token.refresh_token
    if method.endswith("_jwt"):
        assert form["client_assertion_type"] == JWT_BEARER_ASSERTION_TYPE
        claims = json.loads(extract_compact(form["client_assertion"].encode()).payload)
        assert (claims["iss"], claims["aud"]) == ("c", oauth_server.token_endpoint)


@pytest.mark.asyncio
async def test_a_token_without_refresh_token_revokes_its_access_token(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("svc", SECRET, scope="read")
    client = ClientConfig(client_id="svc", client_secret=SECRET)
    token = await fetch_client_credentials_token(transport, oauth_server.token_endpoint, client)
    assert token.refresh_token is None
    server = metadata(oauth_server)
    with pytest.raises(ConfigurationError):
        await revoke_token(transport, server, client, token, token_type_hint="refresh_token")
    assert oauth_server.requests_seen("revoke") == []

    await revoke_token(transport, server, client, token)

    assert oauth_server.requests_seen("revoke")[0].form["token_type_hint"] == "access_token"
    assert (await api_status(oauth_server, token.access_token))[0] == 401


@pytest.mark.asyncio
async def test_wrong_client_secret_is_invalid_client(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("web", SECRET)
    wrong = ClientConfig(client_id="web", client_secret="WRONG-SECRET-123")
    server = metadata(oauth_server)
    for call in (revoke_token(transport, server, wrong, "any-token"),
                 introspect_token(transport, server, wrong, "any-token")):
        with pytest.raises(OAuthError) as caught:
            await call
        assert (caught.value.error, caught.value.status) == ("invalid_client", 401)
        assert "WRONG-SECRET-123" not in f"{caught.value} {caught.value!r}"


@pytest.mark.asyncio
async def test_503_is_retried_then_succeeds(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("web", SECRET)
    oauth_server.fail_next("revoke", status=503, retry_after=0)
    oauth_server.fail_next("introspect", count=2, status=503)
    server = metadata(oauth_server)
    await revoke_token(transport, server, WEB, "some-token")
    assert len(oauth_server.requests_seen("revoke")) == 2
    assert not (await introspect_token(transport, server, WEB, "some-token")).active
    assert len(oauth_server.requests_seen("introspect")) == 3


@pytest.mark.asyncio
async def test_html_error_page_is_an_invalid_response_without_the_token(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    oauth_server.register_client("web", SECRET)
    page = b"<html>502 Bad Gateway while handling token=LEAKY-TOKEN-42</html>"
    oauth_server.fail_next("introspect", count=3, status=502, body=page,
                           content_type="text/html")
    with pytest.raises(InvalidResponseError) as caught:
        await introspect_token(transport, metadata(oauth_server), WEB, "LEAKY-TOKEN-42")
    assert (caught.value.code, caught.value.status) == ("response_not_json", 502)
    assert "LEAKY-TOKEN-42" not in str(caught.value)
    assert caught.value.body_snippet is not None
    assert "502 Bad Gateway" in caught.value.body_snippet


@pytest.mark.asyncio
async def test_missing_endpoints_are_configuration_errors(transport: Transport) -> None:
    server = ServerMetadata(token_endpoint="http://127.0.0.1:9/token")
    with pytest.raises(ConfigurationError, match="revocation_endpoint"):
        await revoke_token(transport, server, WEB, "t")
    with pytest.raises(ConfigurationError, match="introspection_endpoint"):
        await introspect_token(transport, server, WEB, "t")
