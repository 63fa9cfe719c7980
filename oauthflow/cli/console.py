"""Where the command line writes, and how a command's coroutine is run and its failure reported.

stdout carries what a script consumes (a token, a response body, a decoded JWT); every
message for the person (prompts, progress, errors) goes to stderr, so
``curl -H "Authorization: Bearer $(oauthflow token)" ...`` works.

Library log records are silent unless ``OAUTHFLOW_LOG`` names a level (``debug``,
``info``, ...): then they go to stderr. oauthflow never logs a secret, at any level.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from rich.console import Console

from oauthflow.cli.exit_codes import ExitCode, Hints, explain

__all__ = ["run", "stderr_console", "stdout_console"]

_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def stderr_console() -> Console:
    """Messages for the person at the terminal (never parsed by scripts)."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    """Output for scripts and pipes."""
    return Console(highlight=False, soft_wrap=True)


def _configure_logging() -> None:
    level = os.environ.get("OAUTHFLOW_LOG", "").strip().upper()
    logger = logging.getLogger("oauthflow")
    if level:
        numeric = logging.getLevelName(level)
        logging.basicConfig(level=numeric if isinstance(numeric, int) else logging.DEBUG,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    elif not logger.handlers:
        logger.addHandler(logging.NullHandler())


def run(command: Callable[[], Awaitable[ExitCode | None]], hints: Hints) -> None:
    """Run ``command()`` on a new event loop; turn a failure into a message and an exit code.

    Raises:
        SystemExit: with the exit code of :mod:`oauthflow.cli.exit_codes` when the command
            failed or returned a non-zero code (130 on Ctrl-C).
    """
    _configure_logging()

    async def main() -> ExitCode | None:
        return await command()

    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        stderr_console().print("oauthflow: interrupted", markup=False)
        raise SystemExit(_INTERRUPTED) from None
    except Exception as exc:
        error = explain(exc, hints)
        stderr_console().print(f"oauthflow: {error.message}", markup=False)
        raise SystemExit(int(error.exit_code)) from None
    if code:
        raise SystemExit(int(code))
