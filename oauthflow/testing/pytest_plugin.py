"""pytest plugin (entry point ``pytest11: oauthflow``): fixtures with a live local server.

* ``oauth_server`` -- a fresh :class:`~oauthflow.testing.AuthorizationServer` per test.
* ``oauth_server_session`` -- one server for the whole session, on pytest-asyncio's
  *session* event loop: tests using it must run on that loop too
  (``@pytest.mark.asyncio(loop_scope="session")``). Its knobs and counters are shared, so
  such tests should register their own clients and call ``reset_counters()``.

Requires pytest-asyncio (>= 0.24, for ``loop_scope``) and the ``testing`` extra (authlib).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .server import AuthorizationServer

__all__ = ["oauth_server", "oauth_server_session"]


@pytest_asyncio.fixture
async def oauth_server() -> AsyncIterator[AuthorizationServer]:
    """A started server on 127.0.0.1 (ephemeral port), stopped after the test."""
    async with AuthorizationServer() as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def oauth_server_session() -> AsyncIterator[AuthorizationServer]:
    """One server shared by the session (use with ``loop_scope="session"`` tests)."""
    async with AuthorizationServer() as server:
        yield server
