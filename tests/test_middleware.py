"""BearerAuthMiddleware on real aiohttp sessions against servers on 127.0.0.1 (integration)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, web
from pytest_aiohttp import AiohttpServer

from oauthflow import (
    BearerAuthMiddleware,
    ClientConfig,
    ConfigurationError,
    Token,
    TokenManager,
)
from tests.support.fake_server import API_MARKER_HEADER, CLIENT_ID, CLIENT_SECRET, FakeServer

pytestmark = pytest.mark.asyncio

CLIENT = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
MARK = {API_MARKER_HEADER: "1"}


def manager(fake: FakeServer) -> TokenManager:
    return TokenManager.for_client_credentials(token_endpoint=fake.token_endpoint, client=CLIENT)


async def test_500_concurrent_401s_cause_one_renewal_and_bodies_arrive_intact(
    fake: FakeServer,
) -> None:
    async with manager(fake) as tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=[fake.base_url]),), headers=MARK
    ) as session:
        async with session.get(fake.api) as warmup:
            assert warmup.status == 200
        fake.revoke_all_access_tokens()
        fake.gate = asyncio.Event()
        fake.token_request_arrived.clear()

        async def call(i: int) -> tuple[int, str, str]:
            kind = ("bytes", "form", "json")[i % 3]
            if kind == "bytes":
                payload = f"raw body {i}".encode()
                request = session.post(fake.api + kind, data=payload)
            elif kind == "form":
                payload = f"n={i}&text=a+b%26c".encode()
                request = session.post(fake.api + kind, data={"n": str(i), "text": "a b&c"})
            else:
                payload = json.dumps({"n": i}).encode()
                request = session.post(fake.api + kind, json={"n": i})
            async with request as response:
                body = await response.json()
                return response.status, body["body_sha256"], hashlib.sha256(payload).hexdigest()

        calls = [asyncio.ensure_future(call(i)) for i in range(500)]
        await asyncio.wait_for(fake.token_request_arrived.wait(), 10)
        fake.gate.set()
        results = await asyncio.gather(*calls)

    assert fake.token_calls == 2  # the first token, then exactly one renewal
    assert all(status == 200 for status, _, _ in results)
    assert all(seen == sent for _, seen, sent in results)
    assert len(fake.api_requests) == 1 + 500 * 2  # warm-up, then each request twice
    sent = [r.headers["Authorization"] for r in fake.api_requests]
    assert (sent.count("Bearer at-1"), sent.count("Bearer at-2")) == (501, 500)


async def test_streamed_body_is_not_resent_and_the_401_is_returned(fake: FakeServer) -> None:
    async def stream() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    async with manager(fake) as tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=[fake.base_url]),), headers=MARK
    ) as session:
        await tokens.get()
        fake.revoke_all_access_tokens()
        async with session.post(fake.api + "stream", data=stream()) as response:
            assert response.status == 401
            assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        # the refused token was invalidated: the next request is sent with a renewed one
        async with session.post(fake.api + "stream", data=stream()) as response:
            assert response.status == 200
    assert len(fake.api_requests) == 2
    assert [r.body for r in fake.api_requests] == [b"abcdef", b"abcdef"]
    assert fake.token_calls == 2


async def test_the_token_never_follows_a_cross_origin_redirect(
    fake: FakeServer, aiohttp_server: AiohttpServer
) -> None:
    seen_by_other: list[str | None] = []

    async def other_handler(request: web.Request) -> web.Response:
        seen_by_other.append(request.headers.get("Authorization"))
        return web.Response(text="other")

    other_app = web.Application()
    other_app.router.add_get("/landing", other_handler)
    other = await aiohttp_server(other_app, host="127.0.0.1")
    fake.redirect_target = str(other.make_url("/landing"))

    async with manager(fake) as tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=[fake.base_url]),), headers=MARK
    ) as session:
        async with session.get(fake.base_url + "/redirect") as response:
            assert response.status == 200
            assert await response.text() == "other"
        assert seen_by_other == [None]
        async with session.get(str(other.make_url("/landing"))) as response:
            assert response.status == 200
    assert seen_by_other == [None, None]
    assert fake.token_calls == 1  # only the configured origin asked for a token


async def test_unconfigured_origins_pass_through_untouched(fake: FakeServer) -> None:
    async with manager(fake) as tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=["https://api.example.com"]),),
        headers=MARK,
    ) as session, session.get(fake.api, headers={"Authorization": "Basic keep-me"}) as response:
        assert response.status == 401
    assert fake.token_calls == 0
    assert fake.api_requests[0].headers["Authorization"] == "Basic keep-me"


@pytest.mark.parametrize(
    ("error", "retried"),
    [("invalid_token", True), ("insufficient_scope", False), ("invalid_request", False)],
)
async def test_only_a_renewable_401_is_retried(
    fake: FakeServer, error: str, retried: bool
) -> None:
    fake.api_error = error
    async with manager(fake) as tokens, aiohttp.ClientSession(
        middlewares=(BearerAuthMiddleware(tokens, origins=[fake.base_url]),), headers=MARK
    ) as session:
        await tokens.get()
        fake.revoke_all_access_tokens()
        async with session.get(fake.api) as response:
            assert response.status == (200 if retried else 401)
    assert fake.token_calls == (2 if retried else 1)
    assert len(fake.api_requests) == (2 if retried else 1)


async def test_a_custom_policy_is_asked_about_every_response(
    fake: FakeServer, aiohttp_server: AiohttpServer
) -> None:
    seen: list[str | None] = []

    async def api(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(status=403 if len(seen) == 1 else 200)

    app = web.Application()
    app.router.add_get("/x", api)
    server = await aiohttp_server(app, host="127.0.0.1")
    asked: list[int] = []

    def retry_a_403(response: ClientResponse) -> bool:
        asked.append(response.status)
        return response.status == 403

    async with manager(fake) as tokens:
        bearer = BearerAuthMiddleware(
            tokens, origins=[str(server.make_url("/"))], should_retry=retry_a_403
        )
        async with aiohttp.ClientSession(middlewares=(bearer,)) as session:
            for _ in range(2):
                async with session.get(server.make_url("/x")) as response:
                    assert response.status == 200
    assert asked == [403, 200]  # the retry's answer is final: one retry per request
    assert seen == ["Bearer at-1", "Bearer at-2", "Bearer at-2"]
    assert fake.token_calls == 2


async def test_discarded_401_is_released_so_a_one_connection_pool_does_not_deadlock(
    fake: FakeServer,
) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with manager(fake) as tokens, aiohttp.ClientSession(
        connector=connector, headers=MARK,
        middlewares=(BearerAuthMiddleware(tokens, origins=[fake.base_url]),),
    ) as session:
        await tokens.get()

        async def call() -> int:
            async with session.get(fake.api) as response:
                return response.status

        for _ in range(3):
            fake.revoke_all_access_tokens()
            assert await asyncio.wait_for(call(), 5) == 200
    assert fake.token_calls == 4


async def test_composes_with_other_middlewares_and_is_hashable(fake: FakeServer) -> None:
    order: list[str] = []

    def tracer(name: str) -> Callable[[ClientRequest, ClientHandlerType],
                                      Awaitable[ClientResponse]]:
        async def middleware(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
            order.append(f"{name}:{'Authorization' in request.headers}")
            return await handler(request)
        return middleware

    async with manager(fake) as tokens:
        bearer = BearerAuthMiddleware(tokens, origins=[fake.base_url])
        assert hash(bearer) == hash(bearer)
        assert {bearer: 1}[bearer] == 1
        async with aiohttp.ClientSession(
            middlewares=(tracer("outer"), bearer, tracer("inner")), headers=MARK
        ) as session, session.get(fake.api) as response:
            assert response.status == 200
    assert order == ["outer:False", "inner:True"]


async def test_origin_configuration_is_checked() -> None:
    tokens = TokenManager.for_client_credentials(
        token_endpoint="https://as.example/token", client=CLIENT
    )
    with pytest.raises(ConfigurationError):
        BearerAuthMiddleware(tokens, origins=[])
    with pytest.raises(ConfigurationError):
        BearerAuthMiddleware(tokens, origins=["not a url"])
    bearer = BearerAuthMiddleware(tokens, origins=["https://API.example.com"])
    assert bearer.covers("https://api.example.com:443/v1/x")
    assert not bearer.covers("http://api.example.com/v1/x")
    assert not bearer.covers("https://api.example.com.evil.test/")
    await tokens.aclose()


class _GetOnly:
    """A token source with only the two required methods (no fresh, no get_future)."""

    def __init__(self, tokens: TokenManager) -> None:
        self.tokens = tokens
        self.gets = 0

    async def get(self) -> Token:
        self.gets += 1
        return await self.tokens.get()

    def invalidate(self, seen: Token) -> bool:
        return self.tokens.invalidate(seen)


async def test_a_source_with_only_get_and_invalidate_is_awaited_and_retried(
    fake: FakeServer,
) -> None:
    async with manager(fake) as tokens, aiohttp.ClientSession(headers=MARK) as session:
        source = _GetOnly(tokens)
        bearer = BearerAuthMiddleware(source, origins=[fake.base_url])
        async with session.get(fake.api, middlewares=(bearer,)) as response:
            assert response.status == 200
        fake.revoke_all_access_tokens()
        async with session.get(fake.api, middlewares=(bearer,)) as response:
            assert response.status == 200
    assert source.gets == 3  # first request, second request, its retry after the 401
    assert fake.token_calls == 2
    assert [seen.headers["Authorization"] for seen in fake.api_requests] == [
        "Bearer at-1", "Bearer at-1", "Bearer at-2"]
