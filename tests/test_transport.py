"""Token-endpoint misbehaviour over real HTTP on 127.0.0.1: typed errors, no hangs (integration)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from oauthflow import (
    ClientConfig,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
    RetryPolicy,
    TokenManager,
    Transport,
    TransportError,
    fetch_client_credentials_token,
)
from oauthflow.protocol.http import HttpRequest
from oauthflow.transport import parse_retry_after

pytestmark = pytest.mark.asyncio

CLIENT = ClientConfig(client_id="svc", client_secret="do-not-leak-this-secret")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answer(status: int, body: bytes, content_type: str = "application/json",
           headers: dict[str, str] | None = None) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type,
                            headers=headers or {})
    return handler


async def slow(_: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.json_response({"access_token": "late", "token_type": "Bearer"})


async def huge(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    chunk = b" " * 65536
    for _ in range(160):  # 10 MiB, chunked: no Content-Length to refuse up front
        await response.write(chunk)
    await response.write_eof()
    return response


async def redirect(_: web.Request) -> web.Response:
    raise web.HTTPTemporaryRedirect("http://127.0.0.1:9/steal")


@dataclass(frozen=True)
class Case:
    handler: Handler
    error: type[Exception]
    code: str
    status: int | None


CASES = {
    "timeout": Case(slow, TransportError, TransportError.TIMEOUT, None),
    "html-502": Case(answer(502, b"<html><body>Bad Gateway</body></html>", "text/html"),
                     InvalidResponseError, InvalidResponseError.RESPONSE_NOT_JSON, 502),
    "invalid-json": Case(answer(200, b'{"access_token": "x", '), InvalidResponseError,
                         InvalidResponseError.RESPONSE_NOT_JSON, 200),
    "200-with-error": Case(answer(200, b'{"error": "invalid_scope"}'), OAuthError,
                           "invalid_scope", 200),
    "missing-access-token": Case(answer(200, b'{"token_type": "Bearer"}'), InvalidResponseError,
                                 InvalidResponseError.MISSING_FIELD, None),
    "json-array": Case(answer(200, b"[1, 2]"), InvalidResponseError,
                       InvalidResponseError.RESPONSE_NOT_OBJECT, 200),
    "10-MB-body": Case(huge, InvalidResponseError, InvalidResponseError.BODY_TOO_LARGE, 200),
    "redirect": Case(redirect, InvalidResponseError,
                     InvalidResponseError.REDIRECT_NOT_FOLLOWED, 307),
    "400-invalid-client": Case(answer(401, b'{"error": "invalid_client"}'), OAuthError,
                               "invalid_client", 401),
}


async def serve(aiohttp_server: AiohttpServer, handler: Handler) -> str:
    app = web.Application()
    app.router.add_post("/token", handler)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("/token"))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_misbehaving_token_endpoint_gives_a_typed_error(
    aiohttp_server: AiohttpServer, case: Case
) -> None:
    endpoint = await serve(aiohttp_server, case.handler)
    transport = Transport(timeout=0.3, retry=RetryPolicy(attempts=1))
    async with transport, TokenManager.for_client_credentials(
        token_endpoint=endpoint, client=CLIENT, transport=transport
    ) as tokens:
        with pytest.raises(case.error) as raised:
            await asyncio.wait_for(tokens.get(), 5)
    error = raised.value
    code = error.error if isinstance(error, OAuthError) else getattr(error, "code", None)
    assert code == case.code
    if case.status is not None:
        assert getattr(error, "status", None) == case.status
    assert "do-not-leak-this-secret" not in f"{error}{error!r}"


async def test_html_502_is_reported_with_a_truncated_snippet(aiohttp_server: AiohttpServer) -> None:
    page = b"<html><body>" + b"Bad Gateway " * 200 + b"</body></html>"
    endpoint = await serve(aiohttp_server, answer(502, page, "text/html"))
    async with Transport(retry=RetryPolicy(attempts=1)) as transport:
        with pytest.raises(InvalidResponseError) as raised:
            await fetch_client_credentials_token(transport, endpoint, CLIENT)
    snippet = raised.value.body_snippet
    assert snippet is not None
    assert snippet.startswith("<html><body>Bad Gateway")
    assert len(snippet) <= 210


async def test_connection_refused_is_retried_then_reported(aiohttp_server: AiohttpServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with Transport(retry=RetryPolicy(attempts=3, base_delay=0.1), sleep=record_sleep) as t:
        with pytest.raises(TransportError) as raised:
            await fetch_client_credentials_token(t, f"http://127.0.0.1:{port}/token", CLIENT)
    assert raised.value.code == TransportError.CONNECTION_FAILED
    assert isinstance(raised.value.__cause__, aiohttp.ClientConnectionError)
    assert len(slept) == 2
    assert 0.05 <= slept[0] <= 0.1
    assert 0.1 <= slept[1] <= 0.2


async def test_429_and_503_honour_retry_after_then_succeed(aiohttp_server: AiohttpServer) -> None:
    calls: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        calls.append(str(form.get("audience")))
        if len(calls) == 1:
            return web.json_response({"error": "slow_down"}, status=429,
                                     headers={"Retry-After": "2"})
        if len(calls) == 2:
            return web.Response(status=503, text="busy", headers={"Retry-After": "1"})
        return web.json_response({"access_token": "ok", "token_type": "bearer",
                                  "expires_in": "3600"})

    endpoint = await serve(aiohttp_server, handler)
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with Transport(sleep=record_sleep) as transport:
        token = await fetch_client_credentials_token(
            transport, endpoint, CLIENT, extra_params={"audience": "https://api.example"}
        )
    assert slept == [2.0, 1.0]
    assert calls == ["https://api.example"] * 3  # extra params kept on every try
    assert token.access_token == "ok"
    assert token.token_type == "bearer"
    assert token.expires_at is not None
    assert token.expires_at - token.issued_at == 3600


async def test_retry_after_beyond_the_cap_is_not_waited_for(aiohttp_server: AiohttpServer) -> None:
    endpoint = await serve(aiohttp_server, answer(
        429, b'{"error": "rate_limited"}', headers={"Retry-After": "3600"}))
    async with Transport(retry=RetryPolicy(max_retry_after=10)) as transport:
        with pytest.raises(OAuthError) as raised:
            await fetch_client_credentials_token(transport, endpoint, CLIENT)
    assert (raised.value.error, raised.value.status) == ("rate_limited", 429)


async def test_an_oauth_4xx_is_never_retried(aiohttp_server: AiohttpServer) -> None:
    calls: list[int] = []

    async def handler(_: web.Request) -> web.Response:
        calls.append(1)
        return web.json_response({"error": "invalid_client"}, status=401)

    endpoint = await serve(aiohttp_server, handler)
    async with Transport() as transport:
        with pytest.raises(OAuthError):
            await fetch_client_credentials_token(transport, endpoint, CLIENT)
    assert calls == [1]


async def test_plain_http_is_refused_except_on_loopback() -> None:
    async with Transport() as transport:
        with pytest.raises(ConfigurationError, match="endpoint"):
            await transport.send(HttpRequest(method="POST", url="http://as.example/token"))


async def test_injected_session_is_used_without_its_middlewares_and_never_closed(
    aiohttp_server: AiohttpServer,
) -> None:
    seen_headers: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen_headers.append(request.headers.get("X-Api-Only"))
        return web.json_response({"access_token": "a", "token_type": "Bearer"})

    endpoint = await serve(aiohttp_server, handler)
    ran: list[str] = []

    async def api_middleware(request: aiohttp.ClientRequest,
                             handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        ran.append(str(request.url))
        request.headers["X-Api-Only"] = "1"
        return await handler(request)

    async with aiohttp.ClientSession(middlewares=(api_middleware,),
                                     raise_for_status=True) as session:
        async with Transport(session=session) as transport:
            await fetch_client_credentials_token(transport, endpoint, CLIENT)
        assert not session.closed
    assert ran == []
    assert seen_headers == [None]


async def test_parse_retry_after_reads_seconds_and_dates() -> None:
    assert parse_retry_after("120", now=0) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after(None, now=0) is None


async def test_response_body_json_is_what_the_parser_sees(aiohttp_server: AiohttpServer) -> None:
    body = {"access_token": "x", "token_type": "Bearer", "expires_in": 60, "custom": [1, 2]}
    endpoint = await serve(aiohttp_server, answer(200, json.dumps(body).encode(), "text/plain"))
    async with Transport() as transport:
        token = await fetch_client_credentials_token(transport, endpoint, CLIENT)
    assert dict(token.extra) == {"custom": [1, 2]}
