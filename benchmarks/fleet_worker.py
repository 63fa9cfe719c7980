"""One process of the fleet benchmark: ``python -m benchmarks.fleet_worker '<json config>'``.

It builds a TokenManager (client credentials, or a refresh token) on the configured store
(``none``: a private memory store; ``file``; ``redis``), prints ``READY``, waits for
``go <start wall time> <seconds>`` on stdin, then, from the start time on, calls
``get()`` every ``interval`` seconds like a busy service, and finally prints one JSON
line: how many distinct access tokens it used (the expiries it went through), its own
token requests, and failures. A worker whose refresh token is refused stops there (a
real one would have to log in again). It dies with its parent (stdin closes, Linux
``PR_SET_PDEATHSIG``) and after ``deadline`` seconds in any case.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections import Counter
from typing import Any

from benchmarks.harness import die_with_parent
from benchmarks.server import CLIENT_ID, CLIENT_SECRET
from oauthflow import (
    ClientConfig,
    OAuthFlowError,
    ReauthenticationRequiredError,
    RenewalPolicy,
    TokenManager,
    TokenStore,
)
from oauthflow.store.file import FileTokenStore

__all__ = ["main", "open_store"]


def open_store(config: dict[str, Any]) -> TokenStore | None:
    kind = config["store"]
    if kind == "file":
        return FileTokenStore(config["path"])
    if kind == "redis":
        from oauthflow.store.redis import RedisTokenStore  # the "redis" extra

        return RedisTokenStore.from_url(config["redis_url"], config["namespace"])
    return None


def _manager(config: dict[str, Any], store: TokenStore | None) -> TokenManager:
    client = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    # Renew close to expiry, so one token lives almost its whole lifetime.
    policy = RenewalPolicy(leeway=0.3, expiry_margin=0.1, renewal_timeout=10.0)
    if config["grant"] == "refresh_token":
        return TokenManager.for_refresh_token(
            client=client, token_endpoint=config["token_url"], store=store, policy=policy,
            refresh_token=None if store is not None else config["refresh_token"],
        )
    return TokenManager.for_client_credentials(
        client=client, token_endpoint=config["token_url"], store=store, policy=policy,
    )


async def _busy(manager: TokenManager, seconds: float, interval: float) -> dict[str, Any]:
    seen: set[str] = set()
    failures: Counter[str] = Counter()
    gets = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        gets += 1
        try:
            token = await manager.get()
        except ReauthenticationRequiredError:
            failures["reauthentication_required"] += 1
            break
        except OAuthFlowError as exc:
            failures[type(exc).__name__] += 1
        else:
            seen.add(hashlib.sha256(token.access_token.encode()).hexdigest())
        await asyncio.sleep(interval)
    return {"generations": len(seen), "renewals": manager.stats.renewals, "gets": gets,
            "failures": dict(failures)}


async def _run(config: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    store = open_store(config)
    try:
        async with _manager(config, store) as manager:
            print("READY", flush=True)
            words = (await reader.readline()).decode().split()
            if len(words) != 3 or words[0] != "go":
                raise SystemExit("fleet worker: expected 'go <start> <seconds>'")
            await asyncio.sleep(max(0.0, float(words[1]) - time.time()))
            return await _busy(manager, float(words[2]), float(config.get("interval", 0.02)))
    finally:
        aclose = getattr(store, "aclose", None)
        if aclose is not None:
            await aclose()


def main() -> None:
    die_with_parent()
    config: dict[str, Any] = json.loads(sys.argv[1])
    deadline = float(config.get("deadline", 120.0))
    try:
        result = asyncio.run(asyncio.wait_for(_run(config), deadline))
    except asyncio.TimeoutError:
        sys.exit(f"fleet worker: deadline of {deadline:g} s reached")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
