"""Fleet benchmark: token requests per expiry for K processes, with and without a shared store.

``python benchmarks/fleet.py [--workers 1,4,8] [--stores none,file,redis]
[--grants client_credentials,refresh_token] [--lifetime 2] [--expiries 2] [--quick]
[--check] [--json FILE]``

For each grant, store and K it starts K worker processes (:mod:`benchmarks.fleet_worker`)
that call ``get()`` every 20 ms, like busy services, while their tokens expire
``--expiries`` times. The token server (:mod:`benchmarks.server`, a child process on
127.0.0.1) issues tokens of ``--lifetime`` seconds and counts the requests.

``tokens`` = the token generations a worker went through (the first token, then one per
expiry); ``per expiry`` = token requests / ``tokens``. With a shared
store (``file``, ``redis``) the fleet renews once per expiry: 1. With private stores
(``none``) every process renews for itself: K. With a rotating refresh token and no
shared store the first refresh rotates the token away from the other K - 1 processes:
they fail (``re-auth``), which is what a shared store prevents.

Redis rows need ``redis-server`` on the PATH and the ``redis`` extra; without them they
are skipped with a note. Everything stops by itself: each run is bounded, the whole
benchmark by ``--max-seconds``; the children die with this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fleet_worker import open_store
from benchmarks.harness import REPO_ROOT, Control, ServerProcess
from oauthflow.testing.redis_server import LocalRedis, find_redis_server
from oauthflow.token import Token

__all__ = ["main"]

STORES = ("none", "file", "redis")
GRANTS = ("client_credentials", "refresh_token")
_START_DELAY = 0.5
_COLUMNS = (("grant", "grant"), ("store", "store"), ("workers", "K"),
            ("token_requests", "token req"), ("generations", "tokens"),
            ("per_expiry", "per expiry"), ("reauth", "re-auth"),
            ("invalid_grant", "invalid_grant"), ("note", "note"))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", default="1,4,8", help="comma-separated values of K")
    parser.add_argument("--stores", default=",".join(STORES), help=",".join(STORES))
    parser.add_argument("--grants", default=",".join(GRANTS), help=",".join(GRANTS))
    parser.add_argument("--lifetime", type=int, default=2, help="token lifetime (s, >= 2)")
    parser.add_argument("--expiries", type=int, default=2, help="expiries per run")
    parser.add_argument("--quick", action="store_true", help="K = 1, 4 and one expiry")
    parser.add_argument("--json", type=Path, help="write {meta, rows} to this file")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every shared-store row made 1 request per expiry")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="whole-run limit")
    args = parser.parse_args(argv)
    if args.quick:
        args.workers, args.expiries = "1,4", 1
    args.workers = [int(k) for k in args.workers.split(",")]
    args.stores = _choose(args.stores, STORES, "store")
    args.grants = _choose(args.grants, GRANTS, "grant")
    if args.lifetime < 2 or args.expiries < 1 or min(args.workers) < 1:
        parser.error("--lifetime >= 2, --expiries >= 1, workers >= 1")
    return args


def _choose(value: str, known: Sequence[str], what: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Fleet:
    """Runs one (grant, store, K) case against the server."""

    def __init__(self, server: ServerProcess, control: Control, args: argparse.Namespace,
                 directory: Path, redis_url: str | None) -> None:
        self.server, self.control, self.args = server, control, args
        self.directory, self.redis_url = directory, redis_url

    async def run(self, grant: str, store: str, k: int) -> dict[str, Any]:
        row: dict[str, Any] = {"grant": grant, "store": store, "workers": k}
        if store == "redis" and self.redis_url is None:
            return {**row, "note": "skipped: redis-server or the redis extra is missing"}
        await self.control.reset(expires_in=self.args.lifetime, rotation=True)
        config = await self._config(grant, store)
        await self.control.reset_counters()
        seconds = self.args.lifetime * (self.args.expiries + 0.5)
        results = await self._workers(config, k, seconds)
        stats = await self.control.stats()
        generations = [r["generations"] for r in results]
        reauth = sum(r["failures"].get("reauthentication_required", 0) for r in results)
        usable = max(generations) if generations else 0
        return {**row, "token_requests": stats["token_requests"], "generations": usable,
                "per_expiry": stats["token_requests"] / usable if usable else None,
                "reauth": reauth, "invalid_grant": stats["invalid_grant"],
                "note": _note(results)}

    async def _config(self, grant: str, store: str) -> dict[str, Any]:
        config: dict[str, Any] = {"grant": grant, "store": store,
                                  "token_url": self.server.token_url}
        if store == "file":
            config["path"] = str(self.directory / f"{uuid.uuid4().hex}.json")
        elif store == "redis":
            config["redis_url"] = self.redis_url
            config["namespace"] = f"bench-{uuid.uuid4().hex}"
        if grant == "refresh_token":
            refresh_token = await self.control.mint_refresh()
            if store == "none":  # every process starts from the same login
                config["refresh_token"] = refresh_token
            else:  # the login, saved in the shared store, already expired
                await _seed(config, refresh_token)
        return config

    async def _workers(self, config: dict[str, Any], k: int,
                       seconds: float) -> list[dict[str, Any]]:
        deadline = seconds + 60.0
        processes = [await _spawn({**config, "deadline": deadline}) for _ in range(k)]
        try:
            for process in processes:
                line = await asyncio.wait_for(_readline(process), 60.0)
                if line != "READY":
                    raise RuntimeError(f"fleet worker did not start: {line!r}")
            start = time.time() + _START_DELAY
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(f"go {start} {seconds}\n".encode())
            return [json.loads(await asyncio.wait_for(_readline(p), deadline))
                    for p in processes]
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                await process.wait()


async def _seed(config: dict[str, Any], refresh_token: str) -> None:
    store = open_store(config)
    assert store is not None
    now = time.time()
    await store.save(Token(access_token="expired-seed", refresh_token=refresh_token,
                           expires_at=now - 1, issued_at=now - 100))
    aclose = getattr(store, "aclose", None)
    if aclose is not None:
        await aclose()


async def _spawn(config: dict[str, Any]) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.fleet_worker", json.dumps(config),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(REPO_ROOT),
        env=env,
    )


async def _readline(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise RuntimeError(f"fleet worker exited with {await process.wait()}")
    return line.decode().strip()


def _note(results: list[dict[str, Any]]) -> str:
    failures: dict[str, int] = {}
    for result in results:
        for name, count in result["failures"].items():
            if name != "reauthentication_required":
                failures[name] = failures.get(name, 0) + count
    return ", ".join(f"{name}: {count}" for name, count in sorted(failures.items()))


def _redis_available() -> bool:
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    return find_redis_server() is not None


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table (also readable as plain text)."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    header = [title for _, title in _COLUMNS]
    body = [[cell(row.get(key)) for key, _ in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *body]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
                     for line in lines)


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    use_redis = "redis" in args.stores and _redis_available()
    with tempfile.TemporaryDirectory(prefix="oauthflow-fleet-") as directory, \
            (LocalRedis() if use_redis else _NoRedis()) as redis_server:
        async with ServerProcess(max_seconds=args.max_seconds + 60) as server, \
                Control(server.control_url) as control:
            redis_url = redis_server.url if use_redis else None
            fleet = Fleet(server, control, args, Path(directory), redis_url)
            for grant in args.grants:
                for store in args.stores:
                    for k in args.workers:
                        rows.append(await fleet.run(grant, store, k))
                        _log(f"{grant} / {store} / K={k}: {rows[-1].get('per_expiry')}")
    return rows


class _NoRedis:
    url = ""

    def __enter__(self) -> _NoRedis:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case, print the table, write the JSON (``--json``)."""
    args = _parse(argv)
    started = time.monotonic()
    try:
        rows = asyncio.run(asyncio.wait_for(_run(args), args.max_seconds))
    except asyncio.TimeoutError:
        _log(f"the whole run exceeded --max-seconds={args.max_seconds:g}")
        return 2
    print(table(rows))
    missed = [row for row in rows if not _on_target(row)]
    if args.json is not None:
        meta = {"lifetime": args.lifetime, "expiries": args.expiries, "cpus": os.cpu_count(),
                "seconds": round(time.monotonic() - started, 1),
                "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n",
                             encoding="utf-8")
    if args.check and missed:
        _log(f"--check: {len(missed)} shared-store row(s) missed 1 request per expiry")
        return 1
    return 0


def _on_target(row: dict[str, Any]) -> bool:
    """A shared-store row that ran made exactly one request per expiry, and none failed."""
    if row["store"] == "none" or "token_requests" not in row:
        return True
    return bool(row["per_expiry"] == 1.0 and row["reauth"] == 0 and not row["note"])


if __name__ == "__main__":
    sys.exit(main())
