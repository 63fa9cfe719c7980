"""What ``oauthflow login`` shows during a device login: the code, the URL, a countdown.

Spec: RFC 8628 §3.3 (user interaction): "the client instructs the end user to use a user
agent on another device to visit the URI provided in the "verification_uri" parameter
and enter the user code", and §3.3.1 (``verification_uri_complete``, "designed for
non-textual transmission"): offered as a shortcut, never instead of the code.

On a terminal a live line counts down to the codes' expiry; in a pipe or a log (no
terminal) one plain line says how long the code lasts. Everything goes to stderr.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from oauthflow.cli.jwt_view import human_duration
from oauthflow.clock import Clock, SystemClock
from oauthflow.loopback import open_browser
from oauthflow.protocol.device import DeviceAuthorization

__all__ = ["DevicePrompt", "countdown_text"]


def countdown_text(seconds_left: float) -> str:
    """``Waiting for approval... the code expires in 9:58`` (or ``... has expired``)."""
    if seconds_left <= 0:
        return "Waiting for approval... the code has expired"
    whole = int(seconds_left)
    return f"Waiting for approval... the code expires in {whole // 60}:{whole % 60:02d}"


class DevicePrompt:
    """The ``on_prompt`` callback of :func:`~oauthflow.flows.device.device_login`.

    Use it as ``async with DevicePrompt(console, browser=...) as prompt:`` around the
    login, so the countdown stops however the login ends.

    Args:
        console: where to write (stderr).
        browser: open the verification page in the user's browser as well.
        clock: time source of the countdown.
        opener: what opens a browser (default :func:`webbrowser.open`), for tests.
        tick: seconds between two updates of the countdown.
    """

    def __init__(self, console: Console, *, browser: bool = False, clock: Clock | None = None,
                 opener: Callable[[str], bool] | None = None, tick: float = 1.0) -> None:
        self._console = console
        self._tick_seconds = tick
        self._browser = browser
        self._clock = clock or SystemClock()
        self._opener = opener
        self._countdown: asyncio.Task[None] | None = None
        self._live: Live | None = None

    async def __aenter__(self) -> DevicePrompt:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def __call__(self, authorization: DeviceAuthorization) -> None:
        """Show the code and the URL (and open the browser); start the countdown."""
        console = self._console
        page = authorization.verification_uri
        console.print(f"First copy your one-time code: [bold]{escape(authorization.user_code)}[/]")
        console.print(f"Then open {escape(page)} in a browser and enter it.")
        complete = authorization.verification_uri_complete
        if complete:
            console.print(f"(Or open {escape(complete)}: the code is filled in there.)")
        if self._browser:
            await self._open(complete or page)
        left = authorization.expires_in(self._clock.time())
        if console.is_terminal:
            self._live = Live(Text(countdown_text(left)), console=console, transient=True,
                              auto_refresh=False)
            self._live.start(refresh=True)
            self._countdown = asyncio.get_running_loop().create_task(self._tick(authorization))
        else:
            console.print(f"Waiting for approval (the code expires in {human_duration(left)})...")

    async def _open(self, url: str) -> None:
        opened = (await open_browser(url) if self._opener is None
                  else await open_browser(url, opener=self._opener))
        if not opened:
            self._console.print("No browser could be opened: open the page yourself.")

    async def _tick(self, authorization: DeviceAuthorization) -> None:
        live = self._live
        assert live is not None
        while True:
            await asyncio.sleep(self._tick_seconds)
            left = authorization.expires_in(self._clock.time())
            live.update(Text(countdown_text(left)), refresh=True)

    async def aclose(self) -> None:
        """Stop the countdown and remove its line.

        Cancellation: the countdown task is cancelled and awaited; cancelling the caller
        meanwhile still leaves the terminal line removed.
        """
        task, self._countdown = self._countdown, None
        live, self._live = self._live, None
        try:
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
        finally:
            if live is not None:
                live.stop()
