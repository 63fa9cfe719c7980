"""Child processes of a benchmark run, and the ``/control`` client of the server.

- :class:`ServerProcess`: ``python -m benchmarks.server --port 0``; it prints its two
  ports on its first stdout line and exits when its stdin closes.
- :class:`WorkerPool`: a new ``python -m benchmarks.worker`` for every client run, killed
  when the run overstays its budget.

Both kinds of child also die with this process (Linux ``PR_SET_PDEATHSIG``; elsewhere
the closed stdin pipe tells them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

__all__ = ["Control", "ServerProcess", "WorkerFailed", "WorkerPool", "die_with_parent"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0


_PARENT_ENV = "OAUTHFLOW_BENCH_PARENT_PID"


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    expected = os.environ.get(_PARENT_ENV)
    if expected and os.getppid() != int(expected):  # the parent died before prctl took effect
        os._exit(1)


async def _spawn(module: str, *args: str) -> asyncio.subprocess.Process:
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, **{_PARENT_ENV: str(os.getpid())})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        cwd=str(REPO_ROOT), env=env,
    )


async def _stop(process: asyncio.subprocess.Process | None) -> None:
    """Close the child's stdin (it exits by itself); kill it if it does not."""
    if process is None or process.returncode is not None:
        return
    if process.stdin is not None:
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), _STOP_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()


def _pin(process: asyncio.subprocess.Process, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(process.pid, {cpu})


class ServerProcess:
    """The token server + API child process; an async context manager.

    Attributes (after entering): ``token_url``, ``api_url``, ``control_url``, ``pid``.
    """

    def __init__(self, *, cpu: int | None = None, max_seconds: float = 3600.0) -> None:
        self._cpu = cpu
        self._max_seconds = max_seconds
        self._process: asyncio.subprocess.Process | None = None
        self.token_url = ""
        self.api_url = ""
        self.api_origin = ""
        self.control_url = ""

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._process is not None
        return self._process.pid

    async def __aenter__(self) -> ServerProcess:
        self._process = await _spawn(
            "benchmarks.server", "--port", "0", "--max-seconds", str(self._max_seconds)
        )
        try:
            assert self._process.stdout is not None
            line = await asyncio.wait_for(self._process.stdout.readline(), _START_TIMEOUT)
            ports: dict[str, int] = json.loads(line)
        except BaseException:
            await _stop(self._process)
            raise
        _pin(self._process, self._cpu)
        token_origin = f"http://127.0.0.1:{ports['token_port']}"
        self.api_origin = f"http://127.0.0.1:{ports['api_port']}"
        self.token_url = f"{token_origin}/token"
        self.control_url = f"{token_origin}/control"
        self.api_url = f"{self.api_origin}/api"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await _stop(self._process)

    def urls(self) -> dict[str, str]:
        """The endpoints, as workers need them."""
        return {
            "token_url": self.token_url,
            "api_url": self.api_url,
            "api_origin": self.api_origin,
            "control_url": self.control_url,
        }


class Control:
    """Client of the server's ``/control`` endpoint (its own session, no middlewares)."""

    def __init__(self, control_url: str) -> None:
        self._url = control_url
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Control:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, action: str, **params: Any) -> dict[str, Any]:
        """Run one control action; return the whole answer (``stats`` and any extra)."""
        assert self._session is not None, "use Control as an async context manager"
        async with self._session.post(self._url, json={"action": action, **params}) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"control {action} failed: {answer}")
            return answer

    async def stats(self) -> dict[str, Any]:
        """The server's counters since the last reset."""
        stats: dict[str, Any] = (await self.call("stats"))["stats"]
        return stats

    async def reset(self, **settings: Any) -> None:
        """Default settings, no tokens, zero counters; then apply ``settings``."""
        await self.call("reset")
        if settings:
            await self.call("configure", **settings)

    async def configure(self, **settings: Any) -> None:
        """Change ``latency``, ``expires_in``, ``rotation`` or ``revoke_after``."""
        await self.call("configure", **settings)

    async def reset_counters(self) -> None:
        """Zero the counters, keep tokens and settings."""
        await self.call("reset_counters")

    async def mint(self, *, expires_in: float = 86400.0, revocable: bool = False) -> str:
        """A static access token for the raw baseline (not revoked by default)."""
        answer = await self.call("mint", expires_in=expires_in, revocable=revocable)
        return str(answer["access_token"])

    async def mint_refresh(self) -> str:
        """A refresh token the token endpoint accepts (once, when rotating)."""
        return str((await self.call("mint_refresh"))["refresh_token"])

    async def wait_for_token_request_in_flight(self, timeout: float) -> bool:
        """Poll until a token request is being served; ``False`` if none within ``timeout``."""

        async def poll() -> None:
            # Polling another process: no asyncio.Event can cross it.
            while (await self.stats())["token_inflight"] < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.005)

        try:
            await asyncio.wait_for(poll(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


class WorkerFailed(Exception):
    """A worker did not return a row; ``str(exc)`` is the row's note."""


class _Worker:
    """One ``python -m benchmarks.worker`` process (jobs in on stdin, rows out on stdout)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(job).encode() + b"\n")
        await stdin.drain()
        while True:
            line = await stdout.readline()
            if not line:
                raise WorkerFailed(f"worker exited (status {await self.process.wait()})")
            if line.startswith(b"ROW "):
                row: dict[str, Any] = json.loads(line[4:])
                return row


class WorkerPool:
    """Runs each job in a new worker process, killed if it overstays its budget.

    A new process per run (as pyperf does) carries no heap, cache or connection state from
    one run to the next: with 10,000 requests in flight, how long CPython's garbage
    collector takes depends on what the process allocated before.
    """

    def __init__(self, *, cpu: int | None = None) -> None:
        self._cpu = cpu
        self._running: set[asyncio.subprocess.Process] = set()

    async def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run ``job`` in a new worker; raise :class:`WorkerFailed` after ``timeout``."""
        process = await _spawn("benchmarks.worker")
        self._running.add(process)
        try:
            _pin(process, self._cpu)
            return await asyncio.wait_for(_Worker(process).run(job), timeout)
        except asyncio.TimeoutError:
            process.kill()
            raise WorkerFailed(f"timed out after {timeout:g} s (killed)") from None
        finally:
            await _stop(process)
            self._running.discard(process)

    async def aclose(self) -> None:
        """Stop every worker still running (a run cancelled midway)."""
        running, self._running = list(self._running), set()
        for process in running:
            await _stop(process)
