"""One client's part of one scenario; runs inside a worker process (:mod:`benchmarks.worker`).

Every run resets the server first, so runs do not see each other's tokens or counters,
and returns one row. Rows carry at least ``scenario, client, n, token_requests,
surfaced_401, errors, invalid_grant, rps, ratio_vs_raw, p50_ms, p99_ms, sent_expired,
note``; ``rps`` counts only calls that got a 200; ``ratio_vs_raw`` is filled in later
by :func:`benchmarks.scenarios.fill_ratios`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks.clients import (
    BenchClient,
    ClientSpec,
    OAuthflowClient,
    RawClient,
    RawHttpxClient,
    RawMiddlewareClient,
)
from benchmarks.harness import Control
from benchmarks.measure import Tally, metered, percentile_ms, run_fixed, run_for, run_storm
from benchmarks.peers import AiohttpOAuth2Client, AuthlibClient, HttpxAuthClient

__all__ = ["CLIENTS", "CONCURRENCY", "DEFAULT_CLIENTS", "RUNS", "Context", "Row", "make_row"]

Row = dict[str, Any]

CLIENTS: dict[str, type[BenchClient]] = {
    cls.name: cls
    for cls in (RawClient, OAuthflowClient, AuthlibClient, AiohttpOAuth2Client, HttpxAuthClient,
                RawMiddlewareClient, RawHttpxClient)
}
DEFAULT_CLIENTS: tuple[str, ...] = (
    "raw", "raw-middleware", "oauthflow", "authlib", "aiohttp-oauth2-client", "httpx-auth"
)
"""Run unless ``--clients`` says otherwise. ``raw-middleware`` (aiohttp with a middleware that
sets the same static header) is the floor of any aiohttp client middleware. Opt-in floor:
``raw-httpx`` (httpx with a static header)."""

CONCURRENCY = 100
WARMUP = 200
WARMUP_SECONDS = 1.0  # a client that renews on every call (token shorter than its leeway)

SLOW_LATENCY = 0.2
SLOW_LIFETIME = 3
SLOW_LEEWAY = 1.0
SLOW_GRACE = 2.0

CANCEL_LATENCY = 0.2
CANCEL_LIFETIME = 4
CANCEL_LEEWAY = 1.0


@dataclass
class Context:
    """Where the server is, and its control client."""

    control: Control
    token_url: str
    api_url: str
    api_origin: str

    async def spec(self, **options: Any) -> ClientSpec:
        """A spec for this server, with a fresh static token for the raw baselines."""
        return ClientSpec(
            token_url=self.token_url,
            api_url=self.api_url,
            api_origin=self.api_origin,
            static_token=await self.control.mint(),
            pool=CONCURRENCY,
            **options,
        )


@asynccontextmanager
async def _open(name: str, spec: ClientSpec) -> AsyncIterator[BenchClient]:
    client = CLIENTS[name](spec)
    try:
        await client.start()
        yield client
    finally:
        await asyncio.wait_for(client.aclose(), 10.0)


def make_row(
    scenario: str,
    client: str,
    n: int,
    *,
    tally: Tally | None = None,
    elapsed: float | None = None,
    stats: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    **extra: Any,
) -> Row:
    """One result row (numbers ``None`` where nothing was measured)."""
    notes = list(notes or [])
    if tally is not None and tally.error_kinds:
        kinds = ", ".join(f"{kind} x{count}" for kind, count in tally.error_kinds.most_common(3))
        notes.append(f"failures: {kinds}")
    stats = stats or {}
    p50 = None if tally is None else percentile_ms(tally.latencies, 0.50)
    p99 = None if tally is None else percentile_ms(tally.latencies, 0.99)
    cpu = None if tally is None else tally.cpu_us_per_call
    return {
        "scenario": scenario,
        "client": client,
        "n": n,
        "token_requests": stats.get("token_requests"),
        "surfaced_401": None if tally is None else tally.surfaced_401,
        "errors": None if tally is None else tally.errors,
        "invalid_grant": None if tally is None else tally.invalid_grant,
        "rps": None if tally is None or not elapsed else round(tally.ok / elapsed, 1),
        "ratio_vs_raw": None,
        "p50_ms": None if p50 is None else round(p50, 2),
        "p99_ms": None if p99 is None else round(p99, 2),
        "cpu_us_per_req": None if cpu is None else round(cpu, 1),
        "client_cpu_util": (None if tally is None or not elapsed
                            else round(tally.cpu_seconds / elapsed, 2)),
        "gc_ms": None if tally is None else round(tally.gc_seconds * 1000.0, 1),
        "gc_full": None if tally is None else tally.gc_full,
        "sent_expired": stats.get("sent_expired"),
        "note": "; ".join(notes),
        "ok": None if tally is None else tally.ok,
        "leaks": stats.get("leaks"),
        "elapsed_s": None if elapsed is None else round(elapsed, 3),
        **extra,
    }


async def steady(ctx: Context, name: str, params: dict[str, Any]) -> Row:
    """``n`` requests at concurrency 100 on a long-lived token (stops at ``max_seconds``)."""
    n, max_seconds = int(params["n"]), float(params["max_seconds"])
    await ctx.control.reset()
    async with _open(name, await ctx.spec()) as client:
        await run_fixed(client.request, WARMUP, CONCURRENCY, WARMUP_SECONDS)
        tally, elapsed = await run_fixed(client.request, n, CONCURRENCY, max_seconds)
        notes = list(client.notes)
    if tally.completed < n:
        notes.append(f"stopped after {max_seconds:g} s ({tally.completed:,} of {n:,})")
    stats = await ctx.control.stats()
    return make_row("steady", name, tally.completed, tally=tally, elapsed=elapsed, stats=stats,
                    notes=notes, concurrency=CONCURRENCY)


async def storm(ctx: Context, name: str, params: dict[str, Any]) -> Row:
    """``n`` callers at once on an expired token (raw: a valid static token, the floor).

    The client first warms its pool with requests on a 1-second token, then the server
    switches to long-lived tokens and the run waits until the 1-second token has expired
    on both sides. Only the storm itself is counted.
    """
    n = int(params["n"])
    control = ctx.control
    await control.reset(expires_in=1)
    async with _open(name, await ctx.spec()) as client:
        warm, _ = await run_fixed(client.request, CONCURRENCY, CONCURRENCY, WARMUP_SECONDS)
        await control.configure(expires_in=3600)
        await asyncio.sleep(1.2)
        await control.reset_counters()
        tally, elapsed = await run_storm(client.request, n)
        notes = list(client.notes)
    if warm.ok == 0:
        notes.append("warm-up failed")
    if name.startswith("raw"):
        notes.append("valid static token (floor)")
    stats = await control.stats()
    return make_row("storm", name, n, tally=tally, elapsed=elapsed, stats=stats, notes=notes,
                    concurrency=n)


async def revoke(ctx: Context, name: str, params: dict[str, Any]) -> Row:
    """``n`` requests at concurrency 100; the server revokes every token ``revocations`` times."""
    n, count = int(params["n"]), int(params["revocations"])
    max_seconds = float(params["max_seconds"])
    control = ctx.control
    await control.reset()
    async with _open(name, await ctx.spec()) as client:
        await run_fixed(client.request, WARMUP, CONCURRENCY, WARMUP_SECONDS)
        await control.reset_counters()
        await control.configure(revoke_after=[n * (i + 1) // (count + 1) for i in range(count)])
        tally, elapsed = await run_fixed(client.request, n, CONCURRENCY, max_seconds)
        notes = list(client.notes)
        if name.startswith("raw"):
            notes.append("static token, never revoked (floor)")
        elif not client.retries_401:
            notes.append("no 401 retry")
    if tally.completed < n:
        notes.append(f"stopped after {max_seconds:g} s ({tally.completed:,} of {n:,})")
    stats = await control.stats()
    revocations = int(stats["revocations"])
    per_revocation = round(stats["token_requests"] / revocations, 2) if revocations else None
    return make_row("revoke", name, tally.completed, tally=tally, elapsed=elapsed, stats=stats,
                    notes=notes,
                    concurrency=CONCURRENCY, revocations=revocations,
                    token_requests_per_revocation=per_revocation)


async def slow(ctx: Context, name: str, params: dict[str, Any]) -> Row:
    """Concurrency 100 for ``seconds``: 200 ms token endpoint, 3 s tokens, 1 s leeway.

    Calls still waiting ``SLOW_GRACE`` seconds after the end are cancelled and reported
    as ``unfinished``; the rate counts 200s over the measured time.
    """
    seconds = float(params["seconds"])
    control = ctx.control
    await control.reset(latency=SLOW_LATENCY, expires_in=SLOW_LIFETIME)
    async with _open(name, await ctx.spec(leeway=SLOW_LEEWAY)) as client:
        warm = Tally()
        await warm.call(client.request)
        await control.reset_counters()
        tally, elapsed = await run_for(client.request, seconds, CONCURRENCY, SLOW_GRACE)
        notes = list(client.notes)
    if name.startswith("raw"):
        notes.append("static token (floor)")
    if tally.cancelled:
        notes.append(f"{tally.cancelled} calls unfinished {SLOW_GRACE:g} s after the end")
    stats = await control.stats()
    return make_row("slow", name, tally.completed, tally=tally, elapsed=elapsed, stats=stats,
                    notes=notes, concurrency=CONCURRENCY, seconds=seconds,
                    unfinished=tally.cancelled)


async def cancel(ctx: Context, name: str, params: dict[str, Any]) -> Row:
    """Rotating refresh tokens; half the callers cancelled mid-renewal; then a second expiry.

    The client starts from an expired access token and a refresh token the server accepts
    once. ``n`` callers make one request each; once the token request is in flight at the
    server, every other caller (the first included) is cancelled. When the renewed token
    (4 s, renewed 1 s early where the library lets us say so) has expired, ``n`` more
    callers need a second renewal, which only works if the first one's rotated refresh
    token was kept. Callers still waiting after ``round_timeout`` seconds are counted as
    ``unfinished`` (and then cancelled), so a client that serialises failing renewals
    still ends in bounded time.
    """
    n, round_timeout = int(params["n"]), float(params["round_timeout"])
    control = ctx.control
    await control.reset(latency=CANCEL_LATENCY, expires_in=CANCEL_LIFETIME, rotation=True)
    refresh_token = await control.mint_refresh()
    spec = await ctx.spec(grant="refresh_token", refresh_token=refresh_token,
                          leeway=CANCEL_LEEWAY)
    async with _open(name, spec) as client:
        first = await _round(client, n, control, round_timeout, cancel_half=True)
        await asyncio.sleep(CANCEL_LIFETIME + 0.5)
        second = await _round(client, n, control, round_timeout, cancel_half=False)
        notes = list(client.notes)
    stats = await control.stats()
    if not first.in_flight:
        notes.append("no token request seen in flight before cancelling")
    for label, result in (("round 1", first), ("round 2", second)):
        notes.append(f"{label}: {result.summary(round_timeout)}")
    both = Tally()
    both.merge(first.tally)
    both.merge(second.tally)
    both.cancelled = first.cancelled
    return make_row("cancel", name, n, tally=both, stats=stats, notes=notes,
                    cancelled=first.cancelled, unfinished=first.unfinished + second.unfinished,
                    invalid_grant_server=stats["invalid_grant"])


@dataclass
class _Round:
    tally: Tally
    cancelled: int
    unfinished: int
    in_flight: bool

    def summary(self, timeout: float) -> str:
        tally = self.tally
        parts = [f"{tally.ok} ok"]
        for label, count in (("cancelled", self.cancelled), ("invalid_grant", tally.invalid_grant),
                             ("errors", tally.errors), ("401", tally.surfaced_401),
                             (f"unfinished after {timeout:g} s", self.unfinished)):
            if count:
                parts.append(f"{count} {label}")
        return ", ".join(parts)


async def _round(
    client: BenchClient, n: int, control: Control, timeout: float, *, cancel_half: bool
) -> _Round:
    """``n`` callers at once; optionally cancel every other one once renewal is in flight.

    Cancellation: cancelling the caller cancels every caller still waiting.
    """
    tally = Tally()
    tasks = [asyncio.ensure_future(tally.call(client.request)) for _ in range(n)]
    try:
        with metered(tally):
            in_flight = True
            if cancel_half:
                in_flight = await control.wait_for_token_request_in_flight(5.0)
                for task in tasks[::2]:  # the first caller, which started the renewal, included
                    task.cancel()
            await asyncio.wait(tasks, timeout=timeout)
    finally:
        cancelled = tally.cancelled  # before the unfinished ones are cancelled too
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished, timeout=10.0)
    return _Round(tally, cancelled, len(unfinished), in_flight)


RUNS: dict[str, Callable[[Context, str, dict[str, Any]], Awaitable[Row]]] = {
    "steady": steady,
    "storm": storm,
    "revoke": revoke,
    "slow": slow,
    "cancel": cancel,
}
