"""The client library against oauthflow.testing's AuthorizationServer (integration).

Uses the ``oauth_server`` fixture of the project's own pytest plugin, as a user would.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from joserfc.jwk import ECKey, RSAKey

from oauthflow import (
    BearerAuthMiddleware,
    ClientConfig,
    InvalidResponseError,
    OAuthError,
    RenewalPolicy,
    RetryPolicy,
    TokenManager,
    Transport,
    fetch_client_credentials_token,
)
from oauthflow.config import PrivateKey
from oauthflow.testing import AuthorizationServer

pytestmark = pytest.mark.asyncio


async def _no_sleep(_: float) -> None:
    return None


def register(server: AuthorizationServer, method: str) -> ClientConfig:
    """Register a client of ``method`` on the server; the matching ClientConfig."""
    secret = "s3cret: +/é and long enough for HS256 keys" if method != "private_key_jwt" else None
    key: PrivateKey | None = None
    jwks = None
    if method == "private_key_jwt":
        key = RSAKey.generate_key(2048, parameters={"kid": "client-key-1"}, private=True)
        jwks = {"keys": [key.as_dict(private=False)]}
    server.register_client(f"client-{method}", secret, auth_method=method, jwks=jwks,
                           scope="read write")
    return ClientConfig(client_id=f"client-{method}", client_secret=secret,
                        auth_method=method, private_key=key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "method",
    ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
)
async def test_client_credentials_with_every_auth_method(
    oauth_server: AuthorizationServer, method: str
) -> None:
    client = register(oauth_server, method)
    async with TokenManager.for_client_credentials(
        token_endpoint=oauth_server.token_endpoint, client=client, scope=["read"],
        extra_params={"audience": "https://api.example"},
    ) as tokens:
        token = await tokens.get()
    assert token.scope == ("read",)
    seen = oauth_server.requests_seen("token")
    assert len(seen) == 1
    assert seen[0].form["grant_type"] == "client_credentials"
    assert seen[0].form["audience"] == "https://api.example"
    assert ("Authorization" in seen[0].headers) == (method == "client_secret_basic")
    assert oauth_server.counters.grants["client_credentials"] == 1


async def test_private_key_jwt_with_an_ec_key(oauth_server: AuthorizationServer) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
    oauth_server.register_client("ec-client", auth_method="private_key_jwt",
                                 jwks={"keys": [key.as_dict(private=False)]}, scope="read")
    client = ClientConfig(client_id="ec-client", private_key=key)
    async with Transport() as transport:
        token = await fetch_client_credentials_token(
            transport, oauth_server.token_endpoint, client, scope=["read"])
    assert token.access_token


async def test_transient_failures_are_retried_and_oauth_errors_are_not(
    oauth_server: AuthorizationServer,
) -> None:
    client = register(oauth_server, "client_secret_basic")
    oauth_server.fail_next("token", 1, status=503, retry_after=1)
    oauth_server.fail_next("token", 1, drop_connection=True)
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    async with Transport(sleep=record, retry=RetryPolicy(attempts=3)) as transport:
        token = await fetch_client_credentials_token(
            transport, oauth_server.token_endpoint, client)
        assert token.access_token
        assert slept[0] == 1.0
        assert len(slept) == 2
        oauth_server.fail_next("token", 1, error="invalid_scope")
        with pytest.raises(OAuthError) as raised:
            await fetch_client_credentials_token(transport, oauth_server.token_endpoint, client)
    assert (raised.value.error, raised.value.status) == ("invalid_scope", 400)
    assert oauth_server.counters.requests["token"] == 4


async def test_oversized_and_html_answers_are_typed(oauth_server: AuthorizationServer) -> None:
    client = register(oauth_server, "client_secret_basic")
    oauth_server.fail_next("token", 1, oversized=10_000_000)
    oauth_server.fail_next("token", 1, status=502, body=b"<html>Bad Gateway</html>",
                           content_type="text/html")
    async with Transport(retry=RetryPolicy(attempts=1), sleep=_no_sleep) as transport:
        with pytest.raises(InvalidResponseError) as too_big:
            await fetch_client_credentials_token(transport, oauth_server.token_endpoint, client)
        with pytest.raises(InvalidResponseError) as html:
            await fetch_client_credentials_token(transport, oauth_server.token_endpoint, client)
    assert too_big.value.code == InvalidResponseError.BODY_TOO_LARGE
    assert (html.value.code, html.value.status) == (InvalidResponseError.RESPONSE_NOT_JSON, 502)
    assert html.value.body_snippet == "<html>Bad Gateway</html>"


async def test_middleware_fan_out_across_expiry_and_revocation(
    oauth_server: AuthorizationServer,
) -> None:
    client = register(oauth_server, "client_secret_basic")
    oauth_server.settings.access_token_lifetime = 0.6
    no_early_renewal = RenewalPolicy(leeway=0, expiry_margin=0.05)
    async with TokenManager.for_client_credentials(
        token_endpoint=oauth_server.token_endpoint, client=client, scope=["read"],
        policy=no_early_renewal,
    ) as tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=[oauth_server.api_url]),)
    ) as session:
        async def call(i: int) -> int:
            async with session.get(f"{oauth_server.api_url}items/{i}") as response:
                await response.read()
                return response.status

        statuses = list(await asyncio.gather(*(call(i) for i in range(200))))
        await asyncio.sleep(0.7)  # the token expires: the next calls renew once
        statuses += await asyncio.gather(*(call(i) for i in range(200)))
        oauth_server.revoke_all()
        statuses += await asyncio.gather(*(call(i) for i in range(200)))
        stats = tokens.stats
    assert statuses == [200] * 600
    assert stats.invalidations == 1
    assert oauth_server.counters.grants["client_credentials"] == stats.renewals == 3
    api = oauth_server.requests_seen("api")
    assert len(api) == 600 + 200  # every request once, the revoked ones twice
    assert all("refresh" not in str(r.headers).lower() for r in api)
