"""A throwaway ``redis-server`` on 127.0.0.1, for tests and benchmarks of Redis token stores.

::

    with LocalRedis() as redis_server:
        store = RedisTokenStore.from_url(redis_server.url, "my-namespace")

It runs the ``redis-server`` binary found on the PATH (Debian: ``apt-get install
redis-server``) in the foreground, bound to 127.0.0.1 on a free port, without persistence
(``--save "" --appendonly no``) and in a temporary directory, and stops it on exit.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

__all__ = ["LocalRedis", "RedisUnavailableError", "find_redis_server"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_ATTEMPTS = 3


class RedisUnavailableError(RuntimeError):
    """``redis-server`` is not installed, or did not start."""


def find_redis_server() -> str | None:
    """The path of ``redis-server``, or ``None`` if it is not installed."""
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/sbin")


class LocalRedis:
    """A ``redis-server`` child process on 127.0.0.1 (a context manager).

    Attributes (once started): ``host``, ``port``, ``url`` (``redis://127.0.0.1:<port>/0``).
    """

    def __init__(self, binary: str | None = None) -> None:
        self._binary = binary or find_redis_server()
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://{self.host}:{self.port}/0"

    def __enter__(self) -> LocalRedis:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it answers ``PING`` (a few tries on a port race).

        Raises:
            RedisUnavailableError: no binary, or it did not answer within 10 s.
        """
        if self._binary is None:
            raise RedisUnavailableError("redis-server is not installed (Debian: redis-server)")
        self._directory = tempfile.TemporaryDirectory(prefix="oauthflow-redis-")
        for _ in range(_ATTEMPTS):
            self.port = _free_port(self.host)
            self._process = subprocess.Popen(  # noqa: S603 (a fixed binary, our arguments)
                [self._binary, "--bind", self.host, "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", self._directory.name, "--daemonize", "no",
                 "--loglevel", "warning"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            if self._wait_ready():
                return
            self._terminate()
        self.stop()
        raise RedisUnavailableError(f"redis-server did not start in {_ATTEMPTS} attempts")

    def stop(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        self._terminate()
        directory, self._directory = self._directory, None
        if directory is not None:
            directory.cleanup()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False  # e.g. the port was taken meanwhile
            with contextlib.suppress(OSError), socket.create_connection(
                (self.host, self.port), timeout=1.0
            ) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return True
            time.sleep(0.02)
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def __repr__(self) -> str:
        return f"LocalRedis(url={self.url!r}, running={self._process is not None})"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
