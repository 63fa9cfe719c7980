"""Virtual time for device-flow tests: sleeps that do not wait, and record what was asked.

The device's clock is a :class:`~oauthflow.clock.ManualClock`; each ``sleep(seconds)``
records ``seconds``, advances that clock, and (when a server is attached) moves the
server's clock by the same amount through ``settings.clock_offset``, so the server sees
polls spaced as the device meant them. A hook registered for poll ``n`` runs at the end of
the ``n``-th sleep, just before that poll is sent (the user approving, say).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from oauthflow.clock import ManualClock
from oauthflow.testing import AuthorizationServer

__all__ = ["VirtualTime"]

Hook = Callable[[], Awaitable[None]]


class VirtualTime:
    """Sleep without waiting; see the module docstring."""

    def __init__(
        self, server: AuthorizationServer | None = None, *, wall: float | None = None
    ) -> None:
        self.clock = ManualClock(wall=time.time() if wall is None else wall)
        self.server = server
        self.sleeps: list[float] = []
        self._hooks: dict[int, Hook] = {}
        self._server_lag: dict[int, float] = {}

    def before_poll(self, number: int, hook: Hook) -> None:
        """Run ``hook`` right before poll ``number`` (1-based) is sent."""
        self._hooks[number] = hook

    def server_sees_early(self, number: int, seconds: float) -> None:
        """Poll ``number`` reaches the server ``seconds`` sooner than the device waited.

        What network jitter, or a device clock running fast, looks like to the server.
        """
        self._server_lag[number] = seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        number = len(self.sleeps)
        self.clock.advance(seconds)
        if self.server is not None:
            self.server.settings.clock_offset += seconds - self._server_lag.pop(number, 0.0)
        hook = self._hooks.pop(number, None)
        if hook is not None:
            await hook()
        await asyncio.sleep(0)  # a real suspension point, as a real sleep has
