"""The fleet-wide renewal lock of :class:`~oauthflow.store.redis.RedisTokenStore`.

The single-instance Redis lock of the Redis documentation ("Distributed Locks with
Redis", the correct implementation with a single instance)::

    SET resource_name my_random_value NX PX 30000

"The value must be unique across all clients and all lock requests", and release
deletes the key "only if it exists and the value stored at the key is exactly the one I
expect to be", in a Lua script, so a holder whose lock expired never deletes the next
holder's lock.

Waiting is bounded polling: ``SET NX`` retried with pauses doubling up to a maximum, so a
fleet of waiters costs a few commands per second each. While the lock is held a watchdog
extends its TTL every third of it (compare-and-``PEXPIRE``): a live holder never loses
the lock to its TTL however slow the token endpoint is, and a holder that dies (SIGKILL,
a lost pod) stops extending, so another process takes over at most one TTL later. A
holder stalled longer than the TTL (a frozen VM) can lose the lock: the store's
compare-and-swap save then keeps the two holders from overwriting each other silently.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

__all__ = ["RedisRenewalLock"]

logger = logging.getLogger("oauthflow.store.redis")

_FIRST_POLL = 0.002
_RELEASE_TIMEOUT = 2.0

# KEYS[1]: the lock; ARGV[1]: our value. Delete the lock only if it is still ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1]: the lock; ARGV[1]: our value; ARGV[2]: TTL in ms. Extend only if still ours.
EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisRenewalLock:
    """One acquisition of the renewal lock (an async context manager; use it once).

    Args:
        client: the Redis client.
        key: the lock's key.
        ttl: seconds the lock lives without being extended.
        poll_max: longest pause between two attempts while another process holds it.
        local: a per-store :class:`asyncio.Lock`, so managers of one process queue
            locally instead of polling Redis against each other.
        release, extend: the registered :data:`RELEASE` and :data:`EXTEND` scripts.
    """

    __slots__ = ("_client", "_extend", "_key", "_local", "_poll_max", "_release", "_ttl_ms",
                 "_value", "_watchdog")

    def __init__(
        self,
        client: Redis,
        key: str,
        *,
        ttl: float,
        poll_max: float,
        local: asyncio.Lock,
        release: AsyncScript,
        extend: AsyncScript,
    ) -> None:
        self._client = client
        self._key = key
        self._ttl_ms = max(1, round(ttl * 1000))
        self._poll_max = poll_max
        self._local = local
        self._release = release
        self._extend = extend
        self._value = ""
        self._watchdog: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        """Wait for the lock (polling), then start the watchdog.

        Cancellation: stops waiting. If a ``SET`` was in flight it may have taken the
        lock, so a compare-and-delete is sent (bounded) before the cancellation goes on.
        """
        await self._local.acquire()
        try:
            self._value = secrets.token_hex(16)  # the fencing value: ours alone
            await self._acquire()
        except BaseException:
            self._local.release()
            raise
        self._watchdog = asyncio.get_running_loop().create_task(self._keep_alive())

    async def _acquire(self) -> None:
        pause = _FIRST_POLL
        while True:
            try:
                taken = await self._client.set(self._key, self._value, nx=True, px=self._ttl_ms)
            except asyncio.CancelledError:
                await self._release_quietly()
                raise
            if taken:
                return
            # jitter, so waiters do not retry in lockstep (not security-relevant)
            await asyncio.sleep(pause * random.uniform(0.5, 1.0))  # noqa: S311
            pause = min(pause * 2, self._poll_max)

    async def _keep_alive(self) -> None:
        """Extend the TTL every third of it while held; stop if the lock was lost."""
        interval = self._ttl_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                extended = await self._extend(keys=[self._key], args=[self._value, self._ttl_ms])
            except Exception as exc:  # Redis unreachable: the TTL runs on; try again
                logger.warning("could not extend the renewal lock %s: %s", self._key,
                               type(exc).__name__)
                continue
            if not extended:
                logger.warning(
                    "the renewal lock %s expired while held; the compare-and-swap save "
                    "still keeps another holder's token from being overwritten", self._key,
                )
                return

    async def __aexit__(self, *exc_info: Any) -> None:
        """Stop the watchdog and release the lock if it is still ours.

        A failed release is logged, not raised (the token was already saved or not;
        the lock then expires by its TTL).
        """
        try:
            watchdog, self._watchdog = self._watchdog, None
            if watchdog is not None:
                watchdog.cancel()
                await asyncio.wait([watchdog])  # no re-raise of its CancelledError
            await self._release_quietly()
        finally:
            self._local.release()

    async def _release_quietly(self) -> None:
        try:
            await asyncio.wait_for(
                self._release(keys=[self._key], args=[self._value]), _RELEASE_TIMEOUT
            )
        except Exception as exc:
            logger.warning("could not release the renewal lock %s (%s); it expires by its "
                           "TTL", self._key, type(exc).__name__)
