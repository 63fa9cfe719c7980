"""``oauthflow demo``: a concurrent API fan-out job against the embedded authorization server.

It shows the TokenManager's promise under load: thousands of requests in flight while
short-lived tokens expire and every token is revoked once, and still one token request per
expiry or revocation, and no failed request.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from oauthflow.cli.demo_flows import FLOWS, FlowSession, start_flow
from oauthflow.middleware import BearerAuthMiddleware
from oauthflow.renewal import RenewalStats
from oauthflow.testing import AuthorizationServer
from oauthflow.transport import Transport

__all__ = ["DemoOptions", "DemoReport", "run_demo"]

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """What the demo does.

    Attributes:
        requests: API requests in total.
        concurrency: requests in flight at once.
        token_lifetime: seconds each access token lives (short, so several expire).
        revoke_after: revoke every token once this fraction of requests is done (``None``:
            never).
        flow: how the first token is obtained: ``client-credentials``, ``device`` or
            ``authorization-code`` (see :mod:`oauthflow.cli.demo_flows`).
    """

    requests: int = 10_000
    concurrency: int = 200
    token_lifetime: float = 2.0
    revoke_after: float | None = 0.5
    flow: str = "client-credentials"


@dataclass(slots=True, kw_only=True)
class DemoReport:
    """What happened, measured on both sides."""

    requests: int = 0
    failed: int = 0
    elapsed: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    token_requests_by_grant: dict[str, int] = field(default_factory=dict)
    api_requests_seen: int = 0
    revocations: int = 0
    manager: RenewalStats = field(default_factory=RenewalStats)
    flow: str = "client-credentials"
    initial_grant: str = "client_credentials"
    identity: str | None = None
    user_code: str | None = None

    @property
    def token_requests(self) -> int:
        return sum(self.token_requests_by_grant.values())

    @property
    def retried_401s(self) -> int:
        return self.api_requests_seen - self.requests

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def first_token_by_manager(self) -> bool:
        """Client credentials: the manager fetched the first token itself."""
        return self.initial_grant == "client_credentials"

    @property
    def one_request_per_event(self) -> bool:
        """Every token request is the first one, one per expiry, or one per revocation."""
        stats = self.manager
        login_requests = 0 if self.first_token_by_manager else 1
        return (
            self.token_requests == stats.renewals + login_requests
            and self.token_requests_by_grant.get(self.initial_grant, 0) >= 1
            # a revocation that lands while a renewal is replacing the token anyway
            # causes no 401 and so no renewal of its own: at most one per revocation
            and stats.invalidations <= self.revocations
            and stats.failures == 0
        )

    @property
    def scheduled_renewals(self) -> int:
        """Renewals because a token neared its expiry (not the first, not after a 401)."""
        first = 1 if self.first_token_by_manager else 0
        return max(0, self.manager.renewals - first - self.manager.invalidations)


async def run_demo(options: DemoOptions, progress: Progress | None = None) -> DemoReport:
    """Start the embedded server, run the fan-out job, stop everything; return the report.

    Cancellation: cancelling stops the workers, closes the manager and stops the server.
    """
    if options.flow not in FLOWS:
        raise ValueError(f"unknown flow {options.flow!r}; one of {', '.join(FLOWS)}")
    if options.requests < 1 or options.concurrency < 1 or options.token_lifetime <= 0:
        raise ValueError("requests, concurrency and token_lifetime must be positive")
    report = DemoReport(flow=options.flow)
    async with AuthorizationServer() as server, Transport() as transport:
        server.settings.access_token_lifetime = options.token_lifetime
        session = await start_flow(options.flow, server, transport)
        report.initial_grant = session.initial_grant
        report.identity, report.user_code = session.identity, session.user_code
        bearer = BearerAuthMiddleware(session.tokens, origins=[server.api_url])
        async with session.tokens, aiohttp.ClientSession(
            middlewares=(bearer,), connector=aiohttp.TCPConnector(limit=options.concurrency)
        ) as http:
            started = time.perf_counter()
            await _fan_out(http, server, transport, session, options, report, progress)
            report.elapsed = time.perf_counter() - started
            report.manager = session.tokens.stats
        report.token_requests_by_grant = {
            grant: count for grant, count in server.counters.grants.items() if count
        }
        report.api_requests_seen = server.counters.requests.get("api", 0)
    return report


async def _fan_out(
    http: aiohttp.ClientSession,
    server: AuthorizationServer,
    transport: Transport,
    session: FlowSession,
    options: DemoOptions,
    report: DemoReport,
    progress: Progress | None,
) -> None:
    next_index = 0
    revoke_at = (
        None if options.revoke_after is None else int(options.requests * options.revoke_after)
    )

    async def worker() -> None:
        nonlocal next_index
        while next_index < options.requests:
            index = next_index
            next_index += 1
            if index == revoke_at:
                await session.revoke(server, transport)
                report.revocations += 1
            began = time.perf_counter()
            try:
                async with http.get(f"{server.api_url}items/{index}") as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            report.latencies_ms.append((time.perf_counter() - began) * 1000)
            report.requests += 1
            report.failed += not ok
            if progress is not None:
                progress(1)

    await asyncio.gather(*(worker() for _ in range(options.concurrency)))
