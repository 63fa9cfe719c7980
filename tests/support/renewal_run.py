"""One run through every renewal path, for the tests that check what it leaves in logs.

A first token, a 401 replay after a revocation, an ``invalid_grant`` whose description
echoes the refresh token that was sent, then three 502 pages echoing it too.
"""

from __future__ import annotations

import aiohttp
import pytest

from oauthflow import BearerAuthMiddleware, ManualClock, OAuthFlowError, TokenManager
from tests.support.fake_server import API_MARKER_HEADER, FakeServer, Scripted

__all__ = ["ECHOED_REFRESH_TOKEN", "run_every_renewal_path"]

ECHOED_REFRESH_TOKEN = "rt-999"  # a refresh token in a refusal body: must never be shown


async def run_every_renewal_path(
    fake: FakeServer, tokens: TokenManager, clock: ManualClock
) -> OAuthFlowError:
    """Drive ``tokens`` (started from refresh token ``rt-0``) through the paths; 6 token
    requests in all. Returns the ``invalid_grant`` error the caller saw."""
    async with tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=[fake.base_url]),),
        headers={API_MARKER_HEADER: "1"},
    ) as session:
        async with session.get(fake.api) as response:
            assert response.status == 200
        fake.revoke_all_access_tokens()
        async with session.post(fake.api, data=b"payload") as response:
            assert response.status == 200  # renewed after the 401
        clock.advance(7200)
        fake.script(Scripted(status=400, json_body={
            "error": "invalid_grant", "error_description": "refresh token rt-2 is expired",
            "refresh_token": ECHOED_REFRESH_TOKEN}))
        with pytest.raises(OAuthFlowError) as refused:
            await tokens.get()
        fake.script(*[Scripted(status=502, body=b"<html>proxy echoed rt-2 from the request</html>",
                               content_type="text/html")] * 3)  # every retry fails
        with pytest.raises(OAuthFlowError):
            await tokens.get()
    return refused.value
