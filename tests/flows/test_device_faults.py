"""The device flow against a narrow scripted server on 127.0.0.1: what oauth_server can't do.

A token endpoint that never answers (timeouts, cancellation in flight), an HTTP-date
``Retry-After``, and device authorization responses that break RFC 8628 §3.2.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import InvalidResponseError, OAuthError
from oauthflow.flows.device import poll_device_token, start_device_authorization
from oauthflow.protocol.device import DeviceAuthorization
from oauthflow.token import Token
from oauthflow.transport import RetryPolicy, Transport

from .device_support import VirtualTime

pytestmark = pytest.mark.asyncio

CLIENT = ClientConfig(client_id="tv")
DEVICE_CODE = "dc-0123456789-secret"
WALL = 1_700_000_000.0
PENDING: dict[str, Any] = {"error": "authorization_pending"}
TOKEN: dict[str, Any] = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 60}


@dataclass
class Answer:
    status: int = 400
    body: Any = field(default_factory=lambda: dict(PENDING))
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class ScriptedDeviceServer:
    """``/device`` answers ``device_document``; ``/token`` pops ``answers`` (else pending)."""

    def __init__(self) -> None:
        self.device_document: dict[str, Any] = {
            "device_code": DEVICE_CODE, "user_code": "ABCD-EFGH",
            "verification_uri": "http://127.0.0.1/device", "expires_in": 600,
        }
        self.answers: deque[Answer] = deque()
        self.token_forms: list[dict[str, str]] = []
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.metadata: ServerMetadata | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/device", self._device)
        app.router.add_post("/token", self._token)
        return app

    async def _device(self, request: web.Request) -> web.Response:
        return web.json_response(self.device_document)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_forms.append({k: str(v) for k, v in (await request.post()).items()})
        self.arrived.set()
        answer = self.answers.popleft() if self.answers else Answer()
        if answer.hang:
            await self.release.wait()
        body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        return web.Response(status=answer.status, body=body, headers=answer.headers,
                            content_type="application/json")


@pytest_asyncio.fixture
async def scripted(aiohttp_server: AiohttpServer) -> AsyncIterator[ScriptedDeviceServer]:
    server = ScriptedDeviceServer()
    test_server = await aiohttp_server(server.app(), host="127.0.0.1")
    base = str(test_server.make_url("")).rstrip("/")
    server.metadata = ServerMetadata(token_endpoint=f"{base}/token",
                                     device_authorization_endpoint=f"{base}/device")
    try:
        yield server
    finally:
        server.release.set()  # let hung handlers finish before the server stops


def metadata_of(server: ScriptedDeviceServer) -> ServerMetadata:
    assert server.metadata is not None
    return server.metadata


async def start_and_poll(
    server: ScriptedDeviceServer, transport: Transport, vt: VirtualTime
) -> Token:
    metadata = metadata_of(server)
    authorization = await start_device_authorization(transport, metadata, CLIENT,
                                                     clock=vt.clock)
    return await asyncio.wait_for(
        poll_device_token(transport, metadata, CLIENT, authorization, clock=vt.clock,
                          sleep=vt.sleep),
        10.0,
    )


async def test_timeouts_back_off_like_connection_failures(
    scripted: ScriptedDeviceServer,
) -> None:
    scripted.answers.extend([Answer(hang=True), Answer(hang=True), Answer(),
                             Answer(status=200, body=TOKEN)])
    vt = VirtualTime(wall=WALL)
    async with Transport(timeout=0.2, retry=RetryPolicy(attempts=1)) as transport:
        token = await start_and_poll(scripted, transport, vt)
    assert vt.sleeps == [5.0, 10.0, 20.0, 5.0]
    assert token.expires_at == vt.clock.time() + 60
    assert len(scripted.token_forms) == 4


async def test_retry_after_as_an_http_date(scripted: ScriptedDeviceServer) -> None:
    later = formatdate(WALL + 5 + 20, usegmt=True)  # sent at +5 s: "come back in 20 s"
    scripted.answers.extend([
        Answer(status=503, body={"error": "temporarily_unavailable"},
               headers={"Retry-After": later}),
        Answer(status=200, body=TOKEN),
    ])
    vt = VirtualTime(wall=WALL)
    async with Transport(retry=RetryPolicy(attempts=1)) as transport:
        await start_and_poll(scripted, transport, vt)
    assert vt.sleeps == [5.0, 20.0]


async def test_a_gateway_error_is_waited_out(scripted: ScriptedDeviceServer) -> None:
    scripted.answers.extend([Answer(status=502, body=b"<html>Bad Gateway</html>"),
                             Answer(status=200, body=TOKEN)])
    vt = VirtualTime(wall=WALL)
    async with Transport(retry=RetryPolicy(attempts=1)) as transport:
        await start_and_poll(scripted, transport, vt)
    assert vt.sleeps == [5.0, 10.0]


async def test_an_unexpected_answer_stops_polling_without_echoing_the_device_code(
    scripted: ScriptedDeviceServer,
) -> None:
    page = f"<html>proxy error while sending {DEVICE_CODE}</html>".encode()
    scripted.answers.append(Answer(status=500, body=page))
    vt = VirtualTime(wall=WALL)
    async with Transport(retry=RetryPolicy(attempts=1)) as transport:
        with pytest.raises(InvalidResponseError) as raised:
            await start_and_poll(scripted, transport, vt)
    assert (raised.value.code, raised.value.status) == (
        InvalidResponseError.RESPONSE_NOT_JSON, 500)
    assert raised.value.body_snippet == "<html>proxy error while sending <redacted></html>"
    assert DEVICE_CODE not in str(raised.value)
    assert len(scripted.token_forms) == 1


@pytest.mark.parametrize("interval", ["five", "5", True, None], ids=repr)
async def test_a_non_numeric_interval_is_refused_before_any_poll(
    scripted: ScriptedDeviceServer, interval: Any
) -> None:
    scripted.device_document["interval"] = interval
    async with Transport() as transport:
        if interval is None:  # JSON null counts as absent: the default applies
            started = await start_device_authorization(transport, metadata_of(scripted),
                                                       CLIENT)
            assert started.interval == 5.0
            return
        with pytest.raises(InvalidResponseError) as raised:
            await start_device_authorization(transport, metadata_of(scripted), CLIENT)
    assert raised.value.code == InvalidResponseError.INVALID_FIELD_TYPE
    assert "interval" in str(raised.value)
    assert scripted.token_forms == []


async def test_cancelling_during_a_poll_in_flight_sends_nothing_more(
    scripted: ScriptedDeviceServer,
) -> None:
    scripted.answers.append(Answer(hang=True))
    vt = VirtualTime(wall=WALL)
    async with Transport(retry=RetryPolicy(attempts=1)) as transport:
        task = asyncio.create_task(start_and_poll(scripted, transport, vt))
        await asyncio.wait_for(scripted.arrived.wait(), 10.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        scripted.release.set()
        for _ in range(20):
            await asyncio.sleep(0.005)
    assert len(scripted.token_forms) == 1
    assert vt.sleeps == [5.0]


async def test_start_refuses_a_server_error_object(scripted: ScriptedDeviceServer) -> None:
    scripted.device_document = {"error": "unauthorized_client"}
    async with Transport() as transport:
        with pytest.raises(OAuthError) as raised:
            await start_device_authorization(transport, metadata_of(scripted), CLIENT)
    assert raised.value.error == "unauthorized_client"


async def test_a_late_start_keeps_the_absolute_deadline(scripted: ScriptedDeviceServer) -> None:
    """Polling begun long after the codes were issued still stops at their expiry."""
    vt = VirtualTime(wall=WALL)
    authorization = DeviceAuthorization(
        device_code=DEVICE_CODE, user_code="ABCD-EFGH",
        verification_uri="http://127.0.0.1/device", expires_at=WALL + 12,
    )
    vt.clock.advance(5)  # e.g. the prompt callback took 5 s
    async with Transport() as transport:
        with pytest.raises(OAuthError) as raised:
            await asyncio.wait_for(poll_device_token(
                transport, metadata_of(scripted), CLIENT, authorization, clock=vt.clock,
                sleep=vt.sleep,
            ), 10.0)
    assert raised.value.error == "expired_token"
    assert vt.sleeps == [5.0]  # one poll at +10; the next (+15) is past +12
    assert len(scripted.token_forms) == 1
