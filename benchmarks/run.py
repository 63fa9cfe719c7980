"""Run the benchmarks: ``python benchmarks/run.py [--quick] [--json FILE]``.

Starts the token server + API in a child process on 127.0.0.1, runs the selected
scenarios for the selected clients (each client in its own worker process) and prints
a Markdown table (``--json FILE`` also writes the rows as a JSON list). Everything is
bounded: each client run by a budget (quick: 25 s, storm 15 s; full: 90 s, storm 45 s;
or ``--budget``; a worker over budget is killed and its row says so), the whole run by
``--max-minutes``. ``--json FILE`` also writes ``FILE.meta.json`` (command, machine, load
average, duration).

On a machine with at least two CPUs the server is pinned to CPU 0 and the clients to
CPU 1 (``--no-pin`` to turn it off), so the two sides do not steal each other's core.

``--gc-off`` runs the clients with CPython's cyclic garbage collector disabled: a
diagnostic (rows say so), used to show how much of a difference the collector makes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ServerProcess, WorkerPool
from benchmarks.report import markdown_table, write_json
from benchmarks.runs import CLIENTS, DEFAULT_CLIENTS, Row
from benchmarks.scenarios import FULL, QUICK, SCENARIOS, Bench, fill_ratios
from benchmarks.worker import GC_ENV

__all__ = ["main"]


def _names(value: str | None, known: list[str], default: list[str], what: str) -> list[str]:
    if not value:
        return default
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< ~3 min)")
    parser.add_argument("--json", type=Path, help="write the rows to this file")
    parser.add_argument("--scenarios", help=f"comma-separated: {','.join(SCENARIOS)}")
    parser.add_argument(
        "--clients",
        help=f"comma-separated: {','.join(CLIENTS)} (default: {','.join(DEFAULT_CLIENTS)})",
    )
    parser.add_argument("--budget", type=float, help="seconds per client run")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="whole-run limit")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--gc-off", action="store_true",
                        help="diagnostic: disable the garbage collector in the clients")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _run(
    args: argparse.Namespace, scenarios: list[str], clients: list[str], rows: list[Row]
) -> None:
    """Run the selected scenarios, appending rows as each scenario finishes."""
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    sizes = QUICK if args.quick else FULL
    server = ServerProcess(cpu=0 if pin else None, max_seconds=args.max_minutes * 60.0 + 60.0)
    workers = WorkerPool(cpu=1 if pin else None)
    try:
        async with server:
            bench = Bench(server, workers, clients, sizes, args.budget, _log)
            for name in scenarios:
                started = time.perf_counter()
                rows.extend(await SCENARIOS[name](bench))
                _log(f"{name} done in {time.perf_counter() - started:.1f} s")
    finally:
        await workers.aclose()


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _meta(args: argparse.Namespace, started: str, seconds: float,
          load_before: list[float] | None) -> dict[str, Any]:
    return {
        "load_average_before": load_before,
        "load_average_after": _load(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": bool(args.quick),
        "gc": "off" if args.gc_off else "on",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "seconds": round(seconds, 1),
        "started": started,
    }


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; exit status 2 if ``--max-minutes`` ran out."""
    args = _parse(argv)
    scenarios = _names(args.scenarios, list(SCENARIOS), list(SCENARIOS), "scenarios")
    clients = _names(args.clients, list(CLIENTS), list(DEFAULT_CLIENTS), "clients")
    if "raw" not in clients:
        _log("note: without the raw client, ratio_vs_raw stays empty")
    if args.gc_off:
        os.environ[GC_ENV] = "off"  # inherited by the worker processes
    load_before = _load()
    if load_before is not None and load_before[0] > 0.5 * (os.cpu_count() or 1):
        _log(f"warning: load average {load_before} before starting: numbers may be noisy")
    started, started_at = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows: list[Row] = []
    status = 0
    try:
        run = _run(args, scenarios, clients, rows)
        asyncio.run(asyncio.wait_for(run, args.max_minutes * 60.0))
    except asyncio.TimeoutError:
        _log(f"the whole run exceeded --max-minutes={args.max_minutes:g}: partial results")
        status = 2
    elapsed = time.perf_counter() - started
    fill_ratios(rows)
    print(markdown_table(rows))
    if args.json is not None:
        write_json(args.json, rows, _meta(args, started_at, elapsed, load_before))
        _log(f"wrote {len(rows)} rows to {args.json}")
    _log(f"total {elapsed:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
