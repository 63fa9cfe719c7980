"""Tests of the benchmark machinery itself: the numbers are only as good as these.

Run with ``python -m pytest benchmarks/test_harness.py -q`` (not under ``tests/``: the
suite's ``testpaths`` does not include it). Everything is real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from benchmarks.harness import Control, ServerProcess, WorkerFailed, WorkerPool
from benchmarks.measure import (
    Tally,
    is_invalid_grant,
    metered,
    percentile_ms,
    run_fixed,
    run_for,
)
from benchmarks.report import markdown_table
from benchmarks.run import main as run_main
from benchmarks.scenarios import _best_run, fill_ratios
from benchmarks.server import CLIENT_ID, CLIENT_SECRET, BenchServer, build_apps
from benchmarks.worker import GC_ENV, run_job

_BASIC = "Basic " + base64.b64encode(
    f"{quote(CLIENT_ID, safe='')}:{quote(CLIENT_SECRET, safe='')}".encode()
).decode()


class Running:
    """A BenchServer on two loopback test servers, with a client session."""

    def __init__(self, state: BenchServer, token: TestServer, api: TestServer,
                 session: aiohttp.ClientSession) -> None:
        self.state = state
        self.token_url = str(token.make_url("/token"))
        self.control_url = str(token.make_url("/control"))
        self.api_url = str(api.make_url("/api"))
        self.session = session

    async def token(self, data: dict[str, str], headers: dict[str, str] | None = None
                    ) -> tuple[int, dict[str, Any]]:
        async with self.session.post(self.token_url, data=data, headers=headers) as resp:
            return resp.status, await resp.json()

    async def api(self, token: str | None) -> aiohttp.ClientResponse:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self.session.get(self.api_url, headers=headers) as resp:
            await resp.read()
            return resp


@pytest_asyncio.fixture
async def bench() -> AsyncIterator[Running]:
    state = BenchServer()
    token_app, api_app = build_apps(state)
    token_server = TestServer(token_app, host="127.0.0.1")
    api_server = TestServer(api_app, host="127.0.0.1")
    await token_server.start_server()
    await api_server.start_server()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        yield Running(state, token_server, api_server, session)
    finally:
        await session.close()
        await token_server.close()
        await api_server.close()


# -- the server ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_client_credentials_basic_and_post_issue_a_usable_token(bench: Running) -> None:
    basic = {"Authorization": _BASIC}
    status, body = await bench.token({"grant_type": "client_credentials"}, basic)
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body
    status, posted = await bench.token(
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    )
    assert status == 200
    assert (await bench.api(body["access_token"])).status == 200
    assert (await bench.api(posted["access_token"])).status == 200
    stats = bench.state.counters
    assert (stats.token_requests, stats.by_grant, stats.api_ok) == (2, {"client_credentials": 2}, 2)


@pytest.mark.asyncio
async def test_wrong_or_missing_client_credentials_are_invalid_client(bench: Running) -> None:
    wrong = "Basic " + base64.b64encode(b"bench:nope").decode()
    assert await bench.token({"grant_type": "client_credentials"}, {"Authorization": wrong}) == (
        401, {"error": "invalid_client"})
    assert await bench.token({"grant_type": "client_credentials"}) == (
        401, {"error": "invalid_client"})
    assert bench.state.counters.invalid_client == 2


@pytest.mark.asyncio
async def test_rotated_out_refresh_token_gets_invalid_grant(bench: Running) -> None:
    first = bench.state.mint_refresh()
    status, body = await bench.token({"grant_type": "refresh_token", "refresh_token": first})
    assert status == 200
    assert body["refresh_token"] not in (None, first)
    status, error = await bench.token({"grant_type": "refresh_token", "refresh_token": first})
    assert (status, error["error"]) == (400, "invalid_grant")
    status, _ = await bench.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert status == 200
    assert bench.state.counters.invalid_grant == 1


@pytest.mark.asyncio
async def test_without_rotation_the_refresh_token_stays_valid(bench: Running) -> None:
    bench.state.settings.rotation = False
    refresh = bench.state.mint_refresh()
    for _ in range(2):
        status, body = await bench.token({"grant_type": "refresh_token", "refresh_token": refresh})
        assert status == 200
        assert "refresh_token" not in body


@pytest.mark.asyncio
async def test_api_rejects_unknown_and_expired_tokens_with_invalid_token(bench: Running) -> None:
    expired = bench.state.mint_access(-1.0)
    unknown = await bench.api("not-issued")
    late = await bench.api(expired)
    missing = await bench.api(None)
    for resp in (unknown, late):
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert missing.status == 401
    counters = bench.state.counters
    assert (counters.sent_expired, counters.sent_unknown, counters.api_401) == (1, 1, 3)


@pytest.mark.asyncio
async def test_revocation_spares_static_tokens_and_fires_at_the_nth_request(bench: Running) -> None:
    revocable = bench.state.mint_access(60.0)
    static = bench.state.mint_access(60.0, revocable=False)
    bench.state.settings.revoke_after = frozenset({2})
    assert (await bench.api(revocable)).status == 200
    assert (await bench.api(revocable)).status == 401  # the 2nd request revokes first
    assert (await bench.api(static)).status == 200
    assert bench.state.counters.revocations == 1


@pytest.mark.asyncio
async def test_refresh_tokens_and_the_client_secret_at_the_api_are_leaks(bench: Running) -> None:
    refresh = bench.state.mint_refresh()
    await bench.api(refresh)
    async with bench.session.get(bench.api_url, headers={"X-Debug": CLIENT_SECRET}) as resp:
        await resp.read()
    await bench.api(bench.state.mint_access(60.0))
    assert bench.state.counters.leaks == 2


@pytest.mark.asyncio
async def test_latency_keeps_a_token_request_visibly_in_flight(bench: Running) -> None:
    async with Control(bench.control_url) as control:
        await control.configure(latency=0.3)
        started = time.perf_counter()
        request = asyncio.ensure_future(
            bench.token({"grant_type": "client_credentials"}, {"Authorization": _BASIC})
        )
        assert await control.wait_for_token_request_in_flight(2.0)
        status, _ = await asyncio.wait_for(request, 5.0)
        assert status == 200
        assert time.perf_counter() - started >= 0.3
        assert (await control.stats())["token_inflight"] == 0


@pytest.mark.asyncio
async def test_control_reset_mint_and_unknown_action(bench: Running) -> None:
    async with Control(bench.control_url) as control:
        static = await control.mint()
        assert (await bench.api(static)).status == 200
        await control.reset(expires_in=5)
        assert bench.state.settings.expires_in == 5
        assert (await bench.api(static)).status == 401  # reset forgets every token
        with pytest.raises(RuntimeError, match="unknown action"):
            await control.call("explode")


# -- measurement ---------------------------------------------------------------------------


class _InvalidGrant(Exception):
    error = "invalid_grant"


@pytest.mark.asyncio
async def test_tally_classifies_every_way_a_call_ends() -> None:
    outcomes: list[Any] = [200, 401, 503, _InvalidGrant(), ValueError("boom")]

    async def call() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return int(outcome)

    tally = Tally()
    for _ in range(5):
        await tally.call(call)
    assert (tally.ok, tally.surfaced_401, tally.errors, tally.invalid_grant) == (1, 1, 2, 1)
    assert tally.error_kinds == {"HTTP 503": 1, "ValueError": 1, "_InvalidGrant": 1}
    assert len(tally.latencies) == 5


def test_invalid_grant_is_found_through_causes_and_response_bodies() -> None:
    class Body:
        error = "invalid_grant"

    class PeerError(Exception):
        response = Body()

    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = _InvalidGrant()
    assert is_invalid_grant(wrapped)
    assert is_invalid_grant(PeerError())
    assert not is_invalid_grant(RuntimeError("invalid_client"))


def test_metered_adds_cpu_and_collector_time_and_counts_full_collections() -> None:
    tally = Tally()
    with metered(tally):
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle only the collector can free
        del garbage
        gc.collect()
        gc.collect(0)
    assert tally.gc_full == 1
    assert 0.0 < tally.gc_seconds <= tally.cpu_seconds + 0.01
    with metered(tally):
        gc.collect()
    assert tally.gc_full == 2


def test_percentile_is_nearest_rank() -> None:
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentile_ms(samples, 0.5) == pytest.approx(50.0)
    assert percentile_ms(samples, 0.99) == pytest.approx(99.0)
    assert percentile_ms([], 0.5) is None


@pytest.mark.asyncio
async def test_run_fixed_makes_exactly_n_calls_at_bounded_concurrency() -> None:
    active = peak = 0

    async def call() -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0)
        active -= 1
        return 200

    tally, _ = await run_fixed(call, 1_003, 10)
    assert (tally.ok, peak) == (1_003, 10)


@pytest.mark.asyncio
async def test_run_for_cancels_calls_that_outlive_the_grace() -> None:
    async def stuck() -> int:
        await asyncio.sleep(60)
        return 200

    tally, elapsed = await asyncio.wait_for(run_for(stuck, 0.05, 3, grace=0.05), 5.0)
    assert (tally.ok, tally.cancelled) == (0, 3)
    assert elapsed < 1.0


# -- reporting -----------------------------------------------------------------------------


def test_ratios_compare_with_raw_of_the_same_scenario_and_n() -> None:
    rows: list[dict[str, Any]] = [
        {"scenario": "storm", "client": "raw", "n": 10, "rps": 100.0, "p99_ms": 10.0},
        {"scenario": "storm", "client": "x", "n": 10, "rps": 50.0, "p99_ms": 11.0},
        {"scenario": "storm", "client": "x", "n": 20, "rps": 50.0, "p99_ms": 11.0},
        {"scenario": "steady", "client": "x", "n": 5, "rps": None, "p99_ms": None},
    ]
    for row in rows:
        row["ratio_vs_raw"] = None
    fill_ratios(rows)
    assert (rows[1]["ratio_vs_raw"], rows[1]["p99_vs_raw"]) == (0.5, 1.1)
    assert rows[2]["ratio_vs_raw"] is None
    assert rows[3]["ratio_vs_raw"] is None


def test_repeated_runs_keep_the_best_and_list_them_all() -> None:
    runs: list[dict[str, Any]] = [{"rps": 10.0, "p99_ms": 5.0, "id": 1},
                                  {"rps": 30.0, "p99_ms": 9.0, "id": 2},
                                  {"rps": 20.0, "p99_ms": 2.0, "id": 3}]
    assert _best_run(runs, "rps")["id"] == 2
    assert _best_run(runs, "rps")["rps_runs"] == [10.0, 30.0, 20.0]
    assert _best_run(runs, "p99_ms")["id"] == 3
    unmeasured = [{"rps": None, "note": "timed out"}]
    assert _best_run(unmeasured, "rps") == unmeasured[0]


def test_markdown_table_has_one_line_per_row_and_escapes_pipes() -> None:
    table = markdown_table([{"scenario": "steady", "client": "raw", "n": 5_000, "rps": 123.456,
                             "note": "a | b"}])
    lines = table.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("| scenario")
    assert "5,000" in lines[2]
    assert "123.5" in lines[2]
    assert "a / b" in lines[2]


# -- end to end: child processes -------------------------------------------------------------


@pytest.mark.asyncio
async def test_server_process_serves_and_exits_when_its_stdin_closes() -> None:
    server = ServerProcess()
    async with server:
        async with Control(server.control_url) as control:
            assert (await control.stats())["token_requests"] == 0
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.asyncio
async def test_revoke_run_tells_a_retrying_client_from_one_that_does_not() -> None:
    """oauthflow renews once per revocation and hides the 401s; aiohttp-oauth2-client shows
    them. If this fails, the revoke scenario cannot tell the two apart."""
    params = {"n": 600, "revocations": 2, "max_seconds": 20.0}
    async with ServerProcess() as server:
        rows = {}
        for client in ("oauthflow", "aiohttp-oauth2-client"):
            job = {"scenario": "revoke", "client": client, "params": params,
                   "server": server.urls(), "deadline": 60.0}
            rows[client] = await asyncio.wait_for(run_job(job), 60.0)
    ours, peer = rows["oauthflow"], rows["aiohttp-oauth2-client"]
    assert (ours["revocations"], ours["token_requests"], ours["surfaced_401"]) == (2, 2, 0)
    assert (ours["ok"], ours["errors"], ours["leaks"]) == (600, 0, 0)
    assert peer["revocations"] == 2
    assert peer["surfaced_401"] > 0
    assert peer["ok"] + peer["surfaced_401"] == 600


@pytest.mark.asyncio
async def test_worker_pool_kills_a_run_over_budget_and_recovers() -> None:
    pool = WorkerPool()
    async with ServerProcess() as server:
        try:
            slow = {"scenario": "slow", "client": "raw", "params": {"seconds": 30.0},
                    "server": server.urls(), "deadline": 60.0}
            with pytest.raises(WorkerFailed, match="timed out"):
                await pool.run(slow, timeout=1.0)
            unsupported = {"scenario": "cancel", "client": "raw",
                           "params": {"n": 2, "round_timeout": 1.0},
                           "server": server.urls(), "deadline": 60.0}
            row = await pool.run(unsupported, timeout=30.0)
            assert row["note"] == "n/a: a static token has no lifecycle"
            assert row["rps"] is None
            again = await pool.run(unsupported, timeout=30.0)
            assert again["worker_pid"] != row["worker_pid"]  # a new process for every run
        finally:
            await pool.aclose()


def test_command_line_writes_rows_for_each_scenario_and_client(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    status = run_main(["--quick", "--scenarios", "cancel,revoke", "--clients", "raw",
                       "--no-pin", "--json", str(out), "--max-minutes", "2"])
    assert status == 0
    rows = json.loads(out.read_text())
    assert [(row["scenario"], row["client"]) for row in rows] == [
        ("cancel", "raw"), ("revoke", "raw")]
    cancel, revoke = rows
    assert cancel["note"] == "n/a: a static token has no lifecycle"
    assert (revoke["ok"], revoke["surfaced_401"], revoke["revocations"]) == (4_000, 0, 3)
    assert revoke["ratio_vs_raw"] == 1.0
    assert json.loads((tmp_path / "rows.json.meta.json").read_text())["quick"] is True


def test_gc_off_is_a_diagnostic_the_rows_and_meta_admit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(GC_ENV, "on")  # restored after the test: run_main sets it to "off"
    out = tmp_path / "rows.json"
    status = run_main(["--quick", "--scenarios", "cancel", "--clients", "raw", "--no-pin",
                       "--gc-off", "--json", str(out), "--max-minutes", "1"])
    assert status == 0
    [row] = json.loads(out.read_text())
    assert row["note"] == "n/a: a static token has no lifecycle; gc off (diagnostic)"
    assert json.loads((tmp_path / "rows.json.meta.json").read_text())["gc"] == "off"


def test_command_line_rejects_unknown_names() -> None:
    with pytest.raises(SystemExit, match="unknown clients: nope"):
        run_main(["--clients", "raw,nope"])


def test_middleware_cost_times_both_middlewares(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.middleware_cost import VARIANTS
    from benchmarks.middleware_cost import main as middleware_cost

    middleware_cost(["--calls", "300"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ns per call (best of 5 rounds of 300)"
    assert [line.split()[0] for line in lines[1:]] == list(VARIANTS)
    assert all(float(line.split()[1].replace(",", "")) > 0 for line in lines[1:])
