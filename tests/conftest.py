"""Shared fixtures: a scriptable fake server on 127.0.0.1, checked for cross-talk."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from pytest_aiohttp import AiohttpServer

from tests.support.fake_server import FakeServer


@pytest_asyncio.fixture
async def fake(aiohttp_server: AiohttpServer) -> AsyncIterator[FakeServer]:
    """A FakeServer on 127.0.0.1 (``fake.base_url``); after the test, checks no cross-talk."""
    server = FakeServer()
    test_server = await aiohttp_server(server.app(), host="127.0.0.1")
    server.base_url = str(test_server.make_url("")).rstrip("/")
    try:
        yield server
    finally:
        if server.gate is not None:
            server.gate.set()
    server.assert_no_cross_talk()
