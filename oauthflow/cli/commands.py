"""Commands of the ``oauthflow`` command line."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from oauthflow.cli.demo import DemoOptions, DemoReport, run_demo
from oauthflow.cli.demo_flows import FLOWS
from oauthflow.cli.http_call import call_command
from oauthflow.cli.inspect_token import inspect_command
from oauthflow.cli.login import login_command
from oauthflow.cli.logout import logout_command
from oauthflow.cli.serve import serve_command
from oauthflow.cli.tokens import token_command

__all__ = ["cli"]


@click.group()
def cli() -> None:
    """oauthflow: OAuth 2.0 tokens for asyncio services."""


for _command in (login_command, token_command, call_command, inspect_command, logout_command,
                 serve_command):
    cli.add_command(_command)


@cli.command()
@click.option("--requests", "-n", default=10_000, show_default=True, help="API requests.")
@click.option("--concurrency", "-c", default=200, show_default=True, help="Requests in flight.")
@click.option("--token-lifetime", default=2.0, show_default=True,
              help="Seconds each access token lives.")
@click.option("--revoke/--no-revoke", default=True, show_default=True,
              help="Revoke every token once, half-way through.")
@click.option("--flow", type=click.Choice(list(FLOWS)), default="client-credentials",
              show_default=True,
              help="How the first token is obtained (device and authorization-code log in "
                   "the embedded server's test user headlessly).")
def demo(requests: int, concurrency: int, token_lifetime: float, revoke: bool, flow: str) -> None:
    """Run a concurrent API fan-out job against the embedded authorization server."""
    console = Console()
    options = DemoOptions(requests=requests, concurrency=concurrency,
                          token_lifetime=token_lifetime, revoke_after=0.5 if revoke else None,
                          flow=flow)
    console.print(
        f"[bold]oauthflow demo[/]: {requests:,} requests, {concurrency} at a time, "
        f"tokens living {token_lifetime:g} s{', one mass revocation' if revoke else ''}"
    )
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("requests", total=requests)
        report = asyncio.run(run_demo(options, lambda n: bar.advance(task, n)))
    console.print(summary(report))
    ok = report.failed == 0 and report.one_request_per_event
    console.print("[green]OK[/]: 0 failed requests, one token request per expiry or revocation"
                  if ok else "[red]FAILED[/]: see the summary above")
    raise SystemExit(0 if ok else 1)


def summary(report: DemoReport) -> Table:
    """The end-of-run table."""
    stats = report.manager
    table = Table(title="summary", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rate = report.requests / report.elapsed if report.elapsed else 0.0
    table.add_row("flow", report.flow)
    if report.user_code:
        table.add_row("device login", f"user code {report.user_code} approved by the test user")
    if report.identity:
        table.add_row("logged in as", f"{report.identity} (ID token validated)")
    table.add_row("requests", f"{report.requests:,} ({report.failed} failed)")
    table.add_row("elapsed", f"{report.elapsed:.2f} s ({rate:,.0f} requests/s)")
    table.add_row("latency", f"p50 {report.p50_ms:.1f} ms, p99 {report.percentile(0.99):.1f} ms")
    grants = ", ".join(f"{grant}: {count}" for grant, count in
                       sorted(report.token_requests_by_grant.items())) or "none"
    table.add_row("token requests", f"{report.token_requests} ({grants})")
    first = "1 first + " if report.first_token_by_manager else "login + "
    table.add_row("renewals", f"{first}{report.scheduled_renewals} before expiry + "
                  f"{stats.invalidations} after {report.revocations} revocation(s)")
    table.add_row("shared", f"{stats.waits:,} callers waited (for the first token and after "
                  f"revocations), sharing {1 + stats.invalidations} renewal(s); "
                  f"{stats.background_renewals} renewal(s) ran in the background while "
                  "callers kept the valid token")
    table.add_row("401s retried", f"{report.retried_401s:,} (each once, after one renewal)")
    return table
