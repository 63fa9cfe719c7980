"""``oauthflow demo``: the fan-out job against the embedded server (integration)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from oauthflow.cli.demo import DemoOptions, run_demo


@pytest.mark.asyncio
async def test_a_revocation_mid_run_costs_one_renewal_and_no_failure() -> None:
    done: list[int] = []
    report = await run_demo(
        DemoOptions(requests=3_000, concurrency=100, token_lifetime=60, revoke_after=0.5),
        done.append,
    )
    assert (report.requests, report.failed, sum(done)) == (3_000, 0, 3_000)
    assert report.revocations == 1
    assert report.manager.invalidations == 1  # ~100 in-flight 401s -> one renewal
    assert report.manager.renewals == 2  # the first token, then one after the revocation
    assert report.token_requests_by_grant == {"client_credentials": 2}
    assert 1 <= report.retried_401s <= 100
    assert report.one_request_per_event


@pytest.mark.asyncio
@pytest.mark.parametrize("flow", ["client-credentials", "device", "authorization-code"])
async def test_each_flow_survives_expiries_without_failures(flow: str) -> None:
    report = await run_demo(DemoOptions(requests=2_000, concurrency=50, token_lifetime=0.4,
                                        revoke_after=None, flow=flow))
    assert (report.requests, report.failed) == (2_000, 0)
    assert report.manager.failures == 0
    assert report.manager.invalidations == 0
    assert report.one_request_per_event
    assert report.token_requests_by_grant.get(report.initial_grant) is not None
    if flow == "authorization-code":
        assert report.identity is not None
        assert "sub=alice" in report.identity
    if flow == "device":
        assert report.user_code


@pytest.mark.asyncio
async def test_unknown_flow_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown flow"):
        await run_demo(DemoOptions(flow="password"))


def test_authorization_code_flow_shows_the_logged_in_identity() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oauthflow", "demo", "--flow", "authorization-code", "-n", "500",
         "-c", "20"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "logged in as" in result.stdout
    assert "Alice Example (sub=alice" in result.stdout


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
