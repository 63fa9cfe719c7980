"""The ``oauthflow`` command line (needs the ``cli`` extra: click and rich)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed, 2 usage)."""
    try:
        from oauthflow.cli.commands import cli
    except ModuleNotFoundError as exc:  # an extra is missing
        print(
            f"oauthflow: the command line needs the 'cli' extra ({exc.name} is missing):\n"
            "    pip install 'oauthflow[cli]'",
            file=sys.stderr,
        )
        return 2
    try:
        cli.main(args=argv, prog_name="oauthflow")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
