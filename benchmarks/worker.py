"""A worker process: runs one client's part of a scenario per job, isolated from the rest.

``python -m benchmarks.worker`` reads one JSON job per stdin line::

    {"scenario": "storm", "client": "authlib", "params": {"n": 1000},
     "server": {"token_url": ..., "api_url": ..., "api_origin": ..., "control_url": ...},
     "deadline": 130.0}

and answers each with one stdout line ``ROW {json row}`` (other stdout lines, e.g. a
library printing, are ignored by the reader). Running each client in its own process
keeps peers' global state apart (httpx-auth's token cache, authlib's warning filters)
and lets :class:`benchmarks.harness.Worker` kill a run that overstays its budget: a
10,000-request storm on httpx can take minutes just to cancel.

With ``OAUTHFLOW_BENCH_GC=off`` in its environment (``run.py --gc-off``) the worker
disables CPython's cyclic garbage collector and notes it in every row: a diagnostic that
shows how much of a difference is the collector's, never a published number.

The worker exits when stdin closes, when its parent dies (Linux ``PR_SET_PDEATHSIG``),
or, as a last resort, when a job runs past its ``deadline`` seconds.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
from typing import Any

from benchmarks.clients import Unsupported
from benchmarks.harness import Control, die_with_parent
from benchmarks.runs import RUNS, Context, Row, make_row

__all__ = ["GC_ENV", "RESULT_PREFIX", "main"]

RESULT_PREFIX = "ROW "
GC_ENV = "OAUTHFLOW_BENCH_GC"
_GC_OFF_NOTE = "gc off (diagnostic)"
_EXIT_DEADLINE = 3


async def run_job(job: dict[str, Any]) -> Row:
    """Run one job; a client that cannot, or that crashes, gives a row with a note."""
    scenario, client, params = job["scenario"], job["client"], job["params"]
    server = job["server"]
    n = int(params.get("n", 0))
    async with Control(server["control_url"]) as control:
        ctx = Context(control, server["token_url"], server["api_url"], server["api_origin"])
        try:
            return await RUNS[scenario](ctx, client, params)
        except Unsupported as exc:
            return make_row(scenario, client, n, notes=[str(exc)])
        except Exception as exc:  # a peer crashing is a result, not a benchmark failure
            return make_row(scenario, client, n, notes=[f"failed: {type(exc).__name__}"])


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        job: dict[str, Any] = json.loads(line)
        watchdog = threading.Timer(float(job["deadline"]), os._exit, args=(_EXIT_DEADLINE,))
        watchdog.daemon = True
        watchdog.start()
        try:
            row = await run_job(job)
        finally:
            watchdog.cancel()
        row["worker_pid"] = os.getpid()
        if not gc.isenabled():
            row["note"] = "; ".join(filter(None, [row["note"], _GC_OFF_NOTE]))
        sys.stdout.write(RESULT_PREFIX + json.dumps(row) + "\n")
        sys.stdout.flush()


def main() -> None:
    """Serve jobs from stdin until it closes."""
    die_with_parent()
    if os.environ.get(GC_ENV) == "off":
        gc.disable()
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
