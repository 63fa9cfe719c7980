"""``oauthflow demo``: the fan-out job against the embedded server (integration)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from oauthflow.cli.demo import DemoOptions, run_demo


@pytest.mark.asyncio
async def test_fan_out_with_expiries_and_a_revocation_fails_nothing() -> None:
    done: list[int] = []
    report = await run_demo(
        DemoOptions(requests=3_000, concurrency=100, token_lifetime=0.5, revoke_after=0.5),
        done.append,
    )
    assert (report.requests, report.failed, sum(done)) == (3_000, 0, 3_000)
    assert report.revocations == 1
    assert report.manager.invalidations == 1  # 100 in-flight 401s -> one renewal
    assert report.manager.failures == 0
    assert report.token_requests == report.manager.renewals
    assert report.token_requests_by_grant == {"client_credentials": report.token_requests}
    assert report.one_request_per_event
    assert report.retried_401s == report.api_requests_seen - 3_000 >= 1


@pytest.mark.asyncio
async def test_unknown_flow_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown flow"):
        await run_demo(DemoOptions(flow="password"))


def test_console_script_prints_the_summary_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oauthflow", "demo", "-n", "1500", "-c", "50",
         "--token-lifetime", "0.5"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    assert "1,500 (0 failed)" in result.stdout
    assert "one token request per expiry or revocation" in result.stdout


def test_usage_errors_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "oauthflow", "demo", "--flow", "password"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "Invalid value for '--flow'" in result.stderr
