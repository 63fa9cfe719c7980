"""Opening the user's browser at the authorization URL (optional, never required)."""

from __future__ import annotations

import asyncio
import webbrowser
from collections.abc import Callable
from urllib.parse import urlsplit

from oauthflow.errors import ConfigurationError

__all__ = ["open_browser"]


def _system_browser(url: str) -> bool:
    return webbrowser.open(url, new=2)


async def open_browser(url: str, *, opener: Callable[[str], bool] = _system_browser) -> bool:
    """Ask the user's web browser to open ``url`` (in a new tab if it can).

    :func:`webbrowser.open` may block (it can start a process), so it runs in a thread.
    Opening a browser is a convenience, never a requirement: also show the URL to the user,
    for machines without a browser (SSH sessions, containers).

    Args:
        url: an ``http`` or ``https`` URL (normally the authorization URL).
        opener: what opens it (default: :func:`webbrowser.open` with ``new=2``); for tests
            or other launchers.

    Returns:
        Whether a browser reported success (``False``: none was found).

    Raises:
        ConfigurationError: ``url`` is not an absolute http(s) URL.

    Cancellation: the caller stops waiting; the thread cannot be interrupted, so the
    browser may still open.
    """
    try:
        parts = urlsplit(url)
    except (TypeError, ValueError):
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError("open_browser opens absolute http(s) URLs only")
    return await asyncio.to_thread(opener, url)
