"""Time, injectable: wall-clock seconds for what is stored, monotonic for scheduling.

Tests pass a :class:`ManualClock` and move it by hand, so expiry is tested without waiting.
"""

from __future__ import annotations

from time import monotonic as _monotonic
from time import time as _wall_time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """A source of time."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (used for ``expires_at`` and JWT claims)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go backwards (used for scheduling)."""
        ...


class SystemClock:
    """The real clock: :func:`time.time` and :func:`time.monotonic`."""

    __slots__ = ()

    # The C functions themselves: no Python frame on the token manager's hot path.
    time = staticmethod(_wall_time)
    monotonic = staticmethod(_monotonic)


class ManualClock:
    """A clock that only moves when :meth:`advance` is called (for tests)."""

    __slots__ = ("_monotonic", "_wall")

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self._wall = wall
        self._monotonic = 1_000.0

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both the wall clock and the monotonic clock forward."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._wall += seconds
        self._monotonic += seconds
