"""Helpers of the store tests: store specs, a real login, and fleets of worker processes.

A *spec* is a JSON-able description of a shared store (``{"kind": "file", "path": ...}``
or ``{"kind": "redis", "url": ..., "namespace": ..., "lock_ttl": ...}``), so the test and
its worker processes open the same store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from oauthflow.store.file import FileTokenStore
from oauthflow.store.redis import RedisTokenStore
from oauthflow.token import Token

if TYPE_CHECKING:
    from oauthflow.testing import AuthorizationServer

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "Fleet",
    "SharedStore",
    "Spec",
    "close_store",
    "expired",
    "fleet",
    "login",
    "open_store",
    "refresh_directly",
    "sha",
]

CLIENT_ID = "fleet"
CLIENT_SECRET = "fleet-s3cret"
REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("worker.py")
CALLBACK = "http://127.0.0.1/callback"
_TIMEOUT = aiohttp.ClientTimeout(total=10)

Spec = Mapping[str, Any]
SharedStore = FileTokenStore | RedisTokenStore


def open_store(spec: Spec) -> SharedStore:
    """The store a spec describes (a Redis store owns its client: :func:`close_store`)."""
    if spec["kind"] == "file":
        return FileTokenStore(spec["path"])
    if spec["kind"] == "redis":
        return RedisTokenStore.from_url(
            spec["url"], spec["namespace"], lock_ttl=float(spec.get("lock_ttl", 10.0))
        )
    raise ValueError(f"unknown store kind {spec['kind']!r}")


async def close_store(store: SharedStore) -> None:
    if isinstance(store, RedisTokenStore):
        await store.aclose()


def sha(value: str | None) -> str | None:
    """A value's SHA-256 (workers report hashes, never tokens)."""
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


async def _post_token(server: AuthorizationServer, form: dict[str, str]) -> tuple[int, Any]:
    headers = {"Authorization": aiohttp.encode_basic_auth(CLIENT_ID, CLIENT_SECRET)}
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session, session.post(
        server.token_endpoint, data=form, headers=headers
    ) as response:
        return response.status, await response.json()


async def login(server: AuthorizationServer) -> Token:
    """A real login (authorization code + PKCE) of ``alice`` for the fleet client.

    Registers the client if needed. The token has a refresh token.
    """
    if CLIENT_ID not in server.core.store.clients:
        server.register_client(CLIENT_ID, CLIENT_SECRET, redirect_uris=(CALLBACK,))
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": CALLBACK,
        "scope": "read offline_access", "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    })
    callback = server.authorize_directly(f"{server.authorization_endpoint}?{query}")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    status, body = await _post_token(server, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    })
    assert status == 200, body
    now = time.time()
    return Token(access_token=body["access_token"], refresh_token=body["refresh_token"],
                 expires_at=now + float(body["expires_in"]), issued_at=now)


async def refresh_directly(server: AuthorizationServer, refresh_token: str) -> tuple[int, Any]:
    """One refresh request with ``refresh_token`` (proves it still works): status, body."""
    return await _post_token(server, {"grant_type": "refresh_token",
                                      "refresh_token": refresh_token})


def expired(token: Token) -> Token:
    """``token`` as if received an hour ago and expired ten seconds ago."""
    now = time.time()
    return token.replace(expires_at=now - 10, issued_at=now - 3610)


class Fleet:
    """Worker processes (``tests/stores/worker.py``), each given one JSON config.

    Each prints ``READY`` once its manager is built, waits for ``go`` on stdin, then prints
    one JSON line: its result. All are killed when the fleet closes.
    """

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []

    async def spawn(self, config: Mapping[str, Any]) -> asyncio.subprocess.Process:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), json.dumps(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )
        self.processes.append(process)
        return process

    async def expect(self, process: asyncio.subprocess.Process, word: str,
                     timeout: float = 30.0) -> None:
        """Wait for the line ``word`` from ``process``."""
        line = await self.line(process, timeout)
        assert line == word, f"expected {word!r} from worker {process.pid}, got {line!r}"

    @staticmethod
    def go(*processes: asyncio.subprocess.Process) -> None:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")

    async def result(self, process: asyncio.subprocess.Process,
                     timeout: float = 60.0) -> dict[str, Any]:
        """The worker's JSON result line."""
        line = await self.line(process, timeout)
        result: dict[str, Any] = json.loads(line)
        return result

    @staticmethod
    async def line(process: asyncio.subprocess.Process, timeout: float = 30.0) -> str:
        """The next stdout line of ``process`` (stripped)."""
        assert process.stdout is not None
        raw = await asyncio.wait_for(process.stdout.readline(), timeout)
        if not raw:
            code = await asyncio.wait_for(process.wait(), timeout)
            raise AssertionError(f"worker {process.pid} exited with {code} before answering")
        return raw.decode().strip()

    @staticmethod
    def kill(process: asyncio.subprocess.Process) -> None:
        """SIGKILL: no cleanup, no ``finally``: the process just stops."""
        os.kill(process.pid, signal.SIGKILL)

    async def close(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def fleet() -> AsyncIterator[Fleet]:
    """A :class:`Fleet` whose processes are all killed and reaped on exit."""
    workers = Fleet()
    try:
        yield workers
    finally:
        await workers.close()
