"""``oauthflow demo``: a concurrent API fan-out job against the embedded authorization server.

It shows the TokenManager's promise under load: thousands of requests in flight while
short-lived tokens expire and every token is revoked once, and still one token request per
expiry or revocation, and no failed request.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from oauthflow.config import ClientConfig
from oauthflow.middleware import BearerAuthMiddleware
from oauthflow.renewal import RenewalStats
from oauthflow.testing import AuthorizationServer
from oauthflow.token_manager import TokenManager

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
        flow: the grant that feeds the TokenManager (``client-credentials``).
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
    def one_request_per_event(self) -> bool:
        """Every token request is the first one, one per expiry, or one per revocation."""
        stats = self.manager
        return (
            self.token_requests == stats.renewals
            and stats.invalidations == self.revocations
            and stats.failures == 0
        )

    @property
    def scheduled_renewals(self) -> int:
        """Renewals because a token neared its expiry (not the first, not after a 401)."""
        return max(0, self.manager.renewals - 1 - self.manager.invalidations)


async def run_demo(options: DemoOptions, progress: Progress | None = None) -> DemoReport:
    """Start the embedded server, run the fan-out job, stop everything; return the report.

    Cancellation: cancelling stops the workers, closes the manager and stops the server.
    """
    if options.flow != "client-credentials":
        raise ValueError(f"unknown flow {options.flow!r}; this release has: client-credentials")
    if options.requests < 1 or options.concurrency < 1 or options.token_lifetime <= 0:
        raise ValueError("requests, concurrency and token_lifetime must be positive")
    report = DemoReport()
    async with AuthorizationServer() as server:
        server.settings.access_token_lifetime = options.token_lifetime
        secret = secrets.token_urlsafe(24)
        server.register_client("demo-service", secret, scope="read write")
        client = ClientConfig(client_id="demo-service", client_secret=secret)
        tokens = TokenManager.for_client_credentials(
            token_endpoint=server.token_endpoint, client=client, scope=["read"]
        )
        bearer = BearerAuthMiddleware(tokens, origins=[server.api_url])
        async with tokens, aiohttp.ClientSession(
            middlewares=(bearer,), connector=aiohttp.TCPConnector(limit=options.concurrency)
        ) as session:
            started = time.perf_counter()
            await _fan_out(session, server, options, report, progress)
            report.elapsed = time.perf_counter() - started
            report.manager = tokens.stats
        report.token_requests_by_grant = {
            grant: count for grant, count in server.counters.grants.items() if count
        }
        report.api_requests_seen = server.counters.requests.get("api", 0)
    return report


async def _fan_out(
    session: aiohttp.ClientSession,
    server: AuthorizationServer,
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
                server.revoke_all()
                report.revocations += 1
            began = time.perf_counter()
            try:
                async with session.get(f"{server.api_url}items/{index}") as response:
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
