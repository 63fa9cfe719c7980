"""Running the ``oauthflow`` command line from tests: as a child process, or in-process.

- :class:`CliProcess`: ``python -m oauthflow ...`` as a real child process, whose stderr can
  be read line by line while it runs (a device login prints its user code, then polls);
  every wait has a timeout, and a process still running at the end is killed.
- :func:`invoke`: click's ``CliRunner`` in a worker thread, so the command's own
  ``asyncio.run`` does not collide with the test's event loop (where the authorization
  server runs).

Both run with a clean environment: no ``OAUTHFLOW_*`` variable of the developer's shell
leaks in; ``OAUTHFLOW_HOME`` is the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from click.testing import CliRunner, Result

from oauthflow.cli.commands import cli

__all__ = ["TIMEOUT", "CliProcess", "Finished", "child_env", "invoke", "run_cli", "runner_env"]

TIMEOUT = 20.0
_VARIABLES = ("OAUTHFLOW_ISSUER", "OAUTHFLOW_CLIENT_ID", "OAUTHFLOW_CLIENT_SECRET",
              "OAUTHFLOW_SCOPE", "OAUTHFLOW_PROFILE", "OAUTHFLOW_HOME", "OAUTHFLOW_LOG")


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: ours without OAUTHFLOW_*, plus ``home`` and ``extra``."""
    env = {key: value for key, value in os.environ.items() if key not in _VARIABLES}
    return {**env, "OAUTHFLOW_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def runner_env(home: Path, **extra: str) -> dict[str, str | None]:
    """``CliRunner``'s ``env``: every OAUTHFLOW_* variable unset, except ``home`` and ``extra``."""
    env: dict[str, str | None] = dict.fromkeys(_VARIABLES)
    return {**env, "OAUTHFLOW_HOME": str(home), **extra}


async def invoke(args: list[str], home: Path, *, stdin: str | None = None,
                 **extra: str) -> Result:
    """Run the command line in-process (in a worker thread); its result.

    Cancellation: the test stops waiting; the thread finishes the command on its own.
    """
    runner = CliRunner()
    return await asyncio.wait_for(asyncio.to_thread(
        runner.invoke, cli, args, input=stdin, env=runner_env(home, **extra),
        catch_exceptions=False,
    ), TIMEOUT)


@dataclass(frozen=True)
class Finished:
    """A child process that exited: its status and everything it wrote."""

    returncode: int
    stdout: str
    stderr: str


class CliProcess:
    """``python -m oauthflow *args`` as a child process (use ``async with``)."""

    def __init__(self, args: list[str], env: Mapping[str, str]) -> None:
        self._args = args
        self._env = dict(env)
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: list[str] = []
        self._stdout: list[str] = []

    async def __aenter__(self) -> CliProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "oauthflow", *self._args, env=self._env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    @property
    def process(self) -> asyncio.subprocess.Process:
        assert self._proc is not None, "use `async with CliProcess(...)`"
        return self._proc

    async def wait_for_line(self, pattern: str, timeout: float = TIMEOUT, *,
                            stdout: bool = False) -> re.Match[str]:
        """Read stderr (or stdout) until a line matches ``pattern``; the match
        (AssertionError at the end of the stream)."""
        regex = re.compile(pattern)
        stream = self.process.stdout if stdout else self.process.stderr
        seen = self._stdout if stdout else self._stderr
        assert stream is not None

        async def scan() -> re.Match[str]:
            while True:
                raw = await stream.readline()
                if not raw:
                    raise AssertionError(
                        f"no line matched {pattern!r}; the output was:\n{''.join(seen)}"
                        f"\nstderr:\n{''.join(self._stderr)}")
                line = raw.decode("utf-8", "replace")
                seen.append(line)
                found = regex.search(line)
                if found is not None:
                    return found

        return await asyncio.wait_for(scan(), timeout)

    async def finish(self, timeout: float = TIMEOUT) -> Finished:
        """Wait for the exit; the status, stdout and all of stderr."""
        stdout, stderr = await asyncio.wait_for(self.process.communicate(), timeout)
        self._stdout.append(stdout.decode("utf-8", "replace"))
        self._stderr.append(stderr.decode("utf-8", "replace"))
        assert self.process.returncode is not None
        return Finished(self.process.returncode, "".join(self._stdout), "".join(self._stderr))


async def run_cli(args: list[str], env: Mapping[str, str],
                  timeout: float = TIMEOUT) -> Finished:
    """Run ``python -m oauthflow *args`` to the end."""
    async with CliProcess(args, env) as process:
        return await process.finish(timeout)

