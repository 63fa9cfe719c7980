"""Load generators and what they record: per-call latency and how each call ended.

Every call ends one of four ways: ``ok`` (HTTP 200), ``surfaced_401`` (a 401 reached
the caller), ``invalid_grant`` (an exception saying the refresh token was refused) or
``errors`` (any other status or exception). ``rps`` counts only ``ok`` calls.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Call",
    "Tally",
    "is_invalid_grant",
    "metered",
    "percentile_ms",
    "run_fixed",
    "run_for",
    "run_storm",
]

Call = Callable[[], Awaitable[int]]
"""One API request through a client; returns the HTTP status the caller got."""


def is_invalid_grant(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause chain) says the refresh token was refused.

    Libraries spell it differently: oauthflow and authlib set ``.error``,
    aiohttp-oauth2-client keeps the parsed body in ``.response.error``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "error", None) == "invalid_grant":
            return True
        if getattr(getattr(current, "response", None), "error", None) == "invalid_grant":
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass
class Tally:
    """What a batch of calls did. Error kinds hold exception type names only (no text:
    peers put secrets in messages)."""

    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    surfaced_401: int = 0
    errors: int = 0
    invalid_grant: int = 0
    cancelled: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0
    """CPU time this process spent during the batch (set by :func:`metered`)."""
    gc_seconds: float = 0.0
    """Of that, the time CPython's cyclic garbage collector ran (set by :func:`metered`)."""
    gc_full: int = 0
    """How many full (generation 2) collections ran during the batch."""

    @property
    def completed(self) -> int:
        """Calls that returned or raised (cancelled ones excluded)."""
        return self.ok + self.surfaced_401 + self.errors + self.invalid_grant

    def merge(self, other: Tally) -> None:
        """Add ``other``'s calls to this tally."""
        self.latencies.extend(other.latencies)
        self.ok += other.ok
        self.surfaced_401 += other.surfaced_401
        self.errors += other.errors
        self.invalid_grant += other.invalid_grant
        self.cancelled += other.cancelled
        self.error_kinds.update(other.error_kinds)
        self.cpu_seconds += other.cpu_seconds
        self.gc_seconds += other.gc_seconds
        self.gc_full += other.gc_full

    @property
    def cpu_us_per_call(self) -> float | None:
        """Client CPU microseconds per completed call (less load-sensitive than rps)."""
        return self.cpu_seconds / self.completed * 1e6 if self.completed else None

    async def call(self, call: Call, started: float | None = None) -> None:
        """Make one call and record it; latency runs from ``started`` (default: now).

        Cancellation: counted in ``cancelled`` and re-raised.
        """
        begin = time.perf_counter() if started is None else started
        try:
            status = await call()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        except Exception as exc:  # every failure is data here
            if is_invalid_grant(exc):
                self.invalid_grant += 1
            else:
                self.errors += 1
            self.error_kinds[type(exc).__name__] += 1
        else:
            if status == 200:
                self.ok += 1
            elif status == 401:
                self.surfaced_401 += 1
            else:
                self.errors += 1
                self.error_kinds[f"HTTP {status}"] += 1
        self.latencies.append(time.perf_counter() - begin)


@contextmanager
def metered(tally: Tally) -> Iterator[None]:
    """Add the process CPU time and the garbage collector's time spent inside the block
    to ``tally``.

    The collector is timed with ``gc.callbacks``. It matters here: with thousands of
    requests in flight, CPython's full collections walk every live request object
    (docs/benchmarks.md). The block starts after a full collection, so what the process
    did before (imports, the warm-up) leaves no garbage and no collector debt to the
    block: CPython runs a full collection once the objects that survived since the last
    one reach a quarter of those that survived it, so without this the same requests cost
    a client more or less collector time depending on its history.
    """
    gc.collect()
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        tally.gc_seconds += time.perf_counter() - started[0]
        if info["generation"] == 2:
            tally.gc_full += 1

    cpu = time.process_time()
    gc.callbacks.append(on_gc)
    try:
        yield
    finally:
        gc.callbacks.remove(on_gc)
        tally.cpu_seconds += time.process_time() - cpu


def percentile_ms(latencies: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``latencies`` (seconds), in milliseconds."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1] * 1000.0


async def run_fixed(
    call: Call, n: int, concurrency: int, max_seconds: float = math.inf
) -> tuple[Tally, float]:
    """``n`` calls by ``concurrency`` workers; returns the tally and elapsed seconds.

    No call starts after ``max_seconds`` (so fewer than ``n`` may complete).
    Cancellation: cancelling the caller cancels every call in flight (``gather``).
    """
    tally = Tally()
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            await tally.call(call)

    with metered(tally):
        begin = time.perf_counter()
        deadline = begin + max_seconds
        await asyncio.gather(*(worker() for _ in range(min(n, concurrency))))
    return tally, time.perf_counter() - begin


async def run_for(
    call: Call, seconds: float, concurrency: int, grace: float
) -> tuple[Tally, float]:
    """Calls by ``concurrency`` workers for ``seconds``.

    Calls still running ``grace`` seconds after that are cancelled and counted in
    ``Tally.cancelled`` (read it as "unfinished"); elapsed time stops at the deadline or
    when the last call ended, whichever is later. Cancellation: cancelling the caller
    cancels every call in flight.
    """
    tally = Tally()
    tasks: list[asyncio.Future[None]] = []

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await tally.call(call)

    try:
        with metered(tally):
            begin = time.perf_counter()
            deadline = begin + seconds
            tasks.extend(asyncio.ensure_future(worker()) for _ in range(concurrency))
            await asyncio.wait(tasks, timeout=seconds + grace)
    finally:
        elapsed = time.perf_counter() - begin
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10.0)
    return tally, elapsed


async def run_storm(call: Call, n: int) -> tuple[Tally, float]:
    """``n`` callers at once, one call each; latency counts from the common start.

    Cancellation: cancelling the caller cancels every caller still waiting (``gather``).
    """
    tally = Tally()
    with metered(tally):
        begin = time.perf_counter()
        await asyncio.gather(*(tally.call(call, begin) for _ in range(n)))
    return tally, time.perf_counter() - begin
