"""A worker process of the store tests: ``python tests/stores/worker.py '<json config>'``.

Modes (``config["mode"]``):

- ``renew`` (default): build ``TokenManager.for_refresh_token`` on the shared store
  (``config["store"]``, a spec of ``tests.stores.support``) against
  ``config["token_endpoint"]``, print ``READY``, wait for ``go`` on stdin, call ``get()``
  once and print one JSON line: the outcome, and SHA-256 hashes of the tokens (never the
  tokens). With ``pause_before_save`` it prints ``SAVING`` and sleeps that long before
  its compare-and-swap save (so a test can kill it after the server answered).
- ``save-loop``: save tokens to the store forever, printing ``SAVED <n>`` after each.
- ``hold-lock``: take the store's renewal lock, print ``LOCKED``, sleep until killed.

It exits when stdin closes (the test died) and after ``deadline`` seconds in any case.
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AbstractAsyncContextManager
from typing import Any

from oauthflow import ClientConfig, RenewalEvent, RenewalPolicy, TokenEventListener, TokenManager
from oauthflow.stores import VersionedToken
from oauthflow.token import Token
from tests.stores.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    SharedStore,
    close_store,
    open_store,
    sha,
)

__all__: list[str] = []


class _Recorder(TokenEventListener):
    def __init__(self) -> None:
        self.events: list[RenewalEvent] = []
        self.conflicts = 0

    def on_renewal(self, event: RenewalEvent) -> None:
        self.events.append(event)

    def on_store_conflict(self) -> None:
        self.conflicts += 1


class _PausingStore:
    """Delegates to a shared store, pausing (after saying ``SAVING``) before CAS saves."""

    def __init__(self, inner: SharedStore, pause: float) -> None:
        self._inner = inner
        self._pause = pause

    async def load(self) -> Token | None:
        return await self._inner.load()

    async def save(self, token: Token) -> None:
        await self._inner.save(token)

    async def load_versioned(self) -> VersionedToken | None:
        return await self._inner.load_versioned()

    async def save_if_unchanged(self, token: Token, expected_version: str | None) -> str:
        _say("SAVING")
        await asyncio.sleep(self._pause)
        return await self._inner.save_if_unchanged(token, expected_version)

    def renewal_lock(self) -> AbstractAsyncContextManager[None]:
        return self._inner.renewal_lock()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


_stdin: asyncio.StreamReader | None = None


async def _stdin_line() -> str:
    """The next stdin line, read without a thread (a blocked thread would hold exit)."""
    global _stdin
    if _stdin is None:
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
        _stdin = reader
    return (await _stdin.readline()).decode().strip()


async def _renew(config: dict[str, Any], store: SharedStore) -> dict[str, Any]:
    pause = float(config.get("pause_before_save", 0))
    recorder = _Recorder()
    manager = TokenManager.for_refresh_token(
        client=ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
        token_endpoint=config["token_endpoint"],
        store=_PausingStore(store, pause) if pause else store,
        policy=RenewalPolicy(renewal_timeout=float(config.get("renewal_timeout", 30))),
        listeners=[recorder],
    )
    async with manager:
        _say("READY")
        if await _stdin_line() != "go":
            return {"ok": False, "error_type": "NoGo"}
        try:
            token = await manager.get()
        except Exception as exc:
            return {"ok": False, "error_type": type(exc).__name__,
                    "error": getattr(exc, "error", None), "conflicts": recorder.conflicts}
    event = recorder.events[-1]
    return {
        "ok": True, "outcome": event.outcome, "reason": event.reason,
        "renewals": manager.stats.renewals, "conflicts": recorder.conflicts,
        "access_token_sha256": sha(token.access_token),
        "refresh_token_sha256": sha(token.refresh_token),
    }


async def _save_loop(config: dict[str, Any], store: SharedStore) -> None:
    # A large token, so a write takes long enough for a kill to land inside it.
    filler = "x" * int(config.get("extra_bytes", 256 * 1024))
    count = 0
    while True:
        count += 1
        await store.save(Token(access_token=f"at-{count}", refresh_token=f"rt-{count}",
                               expires_at=2e9, extra={"filler": filler, "n": count}))
        _say(f"SAVED {count}")


async def _hold_lock(store: SharedStore) -> None:
    async with store.renewal_lock():
        _say("LOCKED")
        await _stdin_line()  # until killed (or the test's stdin closes)


async def _main(config: dict[str, Any]) -> None:
    store = open_store(config["store"])
    try:
        mode = config.get("mode", "renew")
        if mode == "renew":
            _say(json.dumps(await _renew(config, store)))
        elif mode == "save-loop":
            await _save_loop(config, store)
        elif mode == "hold-lock":
            await _hold_lock(store)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    finally:
        await close_store(store)


def main() -> None:
    config: dict[str, Any] = json.loads(sys.argv[1])
    deadline = float(config.get("deadline", 120))
    try:
        asyncio.run(asyncio.wait_for(_main(config), deadline))
    except asyncio.TimeoutError:
        sys.exit(f"worker: deadline of {deadline:g} s reached")


if __name__ == "__main__":
    main()
