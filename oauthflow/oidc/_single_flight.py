"""One fetch at a time, shared by every caller: the TokenManager's pattern, for caches.

The first caller starts a task; every caller (the first included) awaits it through
:func:`asyncio.shield`, so cancelling one caller never cancels the fetch the others wait
for. The task forgets itself when it ends, so the next call after a failure starts anew.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

_T = TypeVar("_T")


def _retrieve_exception(task: asyncio.Task[object]) -> None:
    """Mark the task's exception as seen when every waiter was cancelled (no warning)."""
    if not task.cancelled():
        task.exception()


class SingleFlight(Generic[_T]):
    """At most one run of a coroutine function in flight; late callers join it."""

    __slots__ = ("_task",)

    def __init__(self) -> None:
        self._task: asyncio.Task[_T] | None = None

    @property
    def running(self) -> bool:
        """Whether a run is in flight (a caller now would join it)."""
        return self._task is not None

    async def run(self, fetch: Callable[[], Awaitable[_T]]) -> _T:
        """Start ``fetch()`` unless a run is in flight, and return the shared result.

        Cancellation: cancelling the caller stops its wait only; the run goes on for the
        other callers (and its result is not lost).
        """
        task = self._task
        if task is None:
            task = asyncio.get_running_loop().create_task(self._run(fetch))
            task.add_done_callback(_retrieve_exception)
            self._task = task
        return await asyncio.shield(task)

    async def _run(self, fetch: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await fetch()
        finally:
            self._task = None
