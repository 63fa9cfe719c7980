"""Fixtures of the OpenID Connect tests: a transport, a registered web client, a JWKS cache."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from oauthflow import ClientConfig, ManualClock, RetryPolicy, Transport
from oauthflow.oidc import JwksCache
from oauthflow.testing import AuthorizationServer

from ._support import WEB_CLIENT, WEB_SECRET, register_web_client


async def _no_sleep(_: float) -> None:
    return None


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    """A transport that does not retry (each request the server sees is one we sent)."""
    async with Transport(timeout=5.0, retry=RetryPolicy(attempts=1), sleep=_no_sleep) as sender:
        yield sender


@pytest.fixture
def web_client(oauth_server: AuthorizationServer) -> ClientConfig:
    """A confidential client ``web`` registered on the server."""
    register_web_client(oauth_server)
    return ClientConfig(client_id=WEB_CLIENT, client_secret=WEB_SECRET)


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock for the caches (monotonic scheduling only)."""
    return ManualClock()


@pytest.fixture
def jwks(
    oauth_server: AuthorizationServer, transport: Transport, clock: ManualClock
) -> JwksCache:
    """The server's JWKS, with the server's advertised algorithms, on a manual clock."""
    return JwksCache(
        transport, oauth_server.jwks_uri,
        algorithms=oauth_server.metadata["id_token_signing_alg_values_supported"], clock=clock,
    )
