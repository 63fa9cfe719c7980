"""What a bearer middleware adds to one request: ``python benchmarks/middleware_cost.py``.

Calls each middleware on real ``aiohttp.ClientRequest`` objects with a handler that answers
at once (no network, no event loop turn), so only the middleware's own work is measured:

- ``set-header``: sets a fixed ``Authorization`` header, the least a bearer middleware can
  do (:class:`benchmarks.clients.SetHeaderMiddleware`, as the ``raw-middleware`` client);
- ``oauthflow``: :class:`~oauthflow.BearerAuthMiddleware` over a
  :class:`~oauthflow.TokenManager` holding a fresh token (the steady scenario's path).

By default each is timed in this process (best of 5 rounds, nanoseconds per call). With
``--valgrind`` each runs in a child process under ``valgrind --tool=cachegrind`` twice, with
N and 6 N calls; the difference divided by 5 N is the instructions per call, start-up left
out. Instruction counts do not depend on what else the machine is doing, so they show a
change of a few hundred instructions that timings on a shared machine cannot.
``PYTHONHASHSEED=0`` is set in the children for repeatable dictionary layouts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import ClientRequest, ClientResponse
from yarl import URL

from benchmarks.clients import SetHeaderMiddleware
from oauthflow import BearerAuthMiddleware, Token, TokenManager

__all__ = ["VARIANTS", "main"]

Middleware = Callable[[ClientRequest, Callable[[ClientRequest], Awaitable[ClientResponse]]],
                      Awaitable[ClientResponse]]

_ORIGIN = "http://127.0.0.1:8080"
_ACCESS_TOKEN = "x" * 43
VARIANTS = ("set-header", "oauthflow")
_ROUNDS = 5


class _Answered:
    """What the handler returns: a response with a status, as the middleware reads it."""

    status = 200


_ANSWER = cast("ClientResponse", _Answered())


async def _answer(request: ClientRequest) -> ClientResponse:
    return _ANSWER


async def _never_renew(current: Token | None) -> Token:
    raise AssertionError("the token is fresh for an hour: no renewal expected")


def _middleware(variant: str, tokens: TokenManager) -> Middleware:
    if variant == "set-header":
        return SetHeaderMiddleware(f"Bearer {_ACCESS_TOKEN}")
    return BearerAuthMiddleware(tokens, origins=[_ORIGIN])


def _drive(middleware: Middleware, requests: list[ClientRequest]) -> None:
    """Run each call to completion without a loop turn (the handler never suspends)."""
    for request in requests:
        call = middleware(request, _answer).__await__()
        try:
            next(call)
        except StopIteration:
            continue
        raise AssertionError("the middleware suspended on a fresh token")


async def _measure(variant: str, calls: int, rounds: int) -> float:
    """Best nanoseconds per call over ``rounds`` rounds of ``calls`` calls."""
    loop = asyncio.get_running_loop()
    token = Token(access_token=_ACCESS_TOKEN, expires_at=time.time() + 3600.0)
    best = float("inf")
    async with aiohttp.ClientSession() as session, TokenManager(
        _never_renew, token=token
    ) as tokens:
        middleware = _middleware(variant, tokens)
        for _ in range(rounds):
            requests = [ClientRequest("GET", URL(f"{_ORIGIN}/api"), loop=loop, session=session)
                        for _ in range(calls)]
            gc.disable()
            try:
                started = time.perf_counter()
                _drive(middleware, requests)
                elapsed = time.perf_counter() - started
            finally:
                gc.enable()
            best = min(best, elapsed / calls * 1e9)
    return best


def _instructions(variant: str, calls: int) -> int:
    """Instructions the child executed, all of it (start-up included), under cachegrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, str(Path(__file__).resolve()), "--child", variant, "--calls", str(calls),
    ]
    done = subprocess.run(  # noqa: S603 - valgrind and this script, no outside input
        command, capture_output=True, text=True, env=env, timeout=600,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    """Print the cost per call of each middleware (``--valgrind``: instructions)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--valgrind", action="store_true", help="count instructions")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round (N)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # under valgrind: one round, no timing worth reading
        asyncio.run(_measure(args.child, args.calls, rounds=1))
        return
    if args.valgrind:
        print(f"instructions per call, building the request included (valgrind, "
              f"{args.calls:,} vs {6 * args.calls:,} calls)")
        counts = {}
        for variant in VARIANTS:
            small = _instructions(variant, args.calls)
            large = _instructions(variant, 6 * args.calls)
            counts[variant] = (large - small) / (5 * args.calls)
        for variant, count in counts.items():
            extra = count - counts[VARIANTS[0]]
            print(f"{variant:<12} {count:>10,.0f}  ({extra:+,.0f} over {VARIANTS[0]})")
        return
    print(f"ns per call (best of {_ROUNDS} rounds of {args.calls:,})")
    for variant in VARIANTS:
        print(f"{variant:<12} {asyncio.run(_measure(variant, args.calls, _ROUNDS)):>10,.1f}")


if __name__ == "__main__":
    main()
