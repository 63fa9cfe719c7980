"""A token shared by a fleet through Redis: :class:`RedisTokenStore` (extra ``redis``).

Keys (``{namespace}`` in braces is a Redis Cluster hash tag: both keys of a namespace live
on one shard)::

    oauthflow:{<namespace>}:token   a hash: token (the JSON document), version, serial
    oauthflow:{<namespace>}:lock    the renewal lock: a random value with a TTL

``version`` is ``<serial>:<random>``: ``serial`` is bumped atomically (``HINCRBY``) on
every save, and the random part keeps a version from ever coming back, even after the key
was deleted and the serial started again. Saves are one Lua script each, so the
compare-and-swap is atomic on the server. The key has no expiry (a refresh token may live
for months); :meth:`RedisTokenStore.clear` removes the token.

Values are the token's secrets in clear: protect the Redis (ACLs, TLS with ``rediss://``,
no shared database with untrusted clients). See docs/fleets.md for persistence settings
(a Redis that loses a rotated refresh token loses the session).
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

from redis.asyncio import Redis

from oauthflow.errors import ConfigurationError, StoreConflictError
from oauthflow.store._codec import decode, encode
from oauthflow.store._redis_lock import EXTEND, RELEASE, RedisRenewalLock
from oauthflow.stores import VersionedToken
from oauthflow.token import Token

__all__ = ["RedisTokenStore"]

# KEYS[1]: the token hash. ARGV: the document, the random part of the new version, the
# mode ("any": no comparison; "empty": only if no token is stored; "match": only if the
# stored version is ARGV[4]). Returns the new version, or nil (Lua false) when the
# comparison failed and nothing was written.
_SAVE: Final = """
local mode = ARGV[3]
if mode ~= 'any' then
  local stored = redis.call('HEXISTS', KEYS[1], 'token') == 1
  if mode == 'empty' then
    if stored then return false end
  elseif (not stored) or redis.call('HGET', KEYS[1], 'version') ~= ARGV[4] then
    return false
  end
end
local version = redis.call('HINCRBY', KEYS[1], 'serial', 1) .. ':' .. ARGV[2]
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'version', version)
return version
"""


class RedisTokenStore:
    """Keeps the token in Redis; a :class:`~oauthflow.stores.SharedTokenStore` for a fleet.

    Every process (pod, worker) whose manager uses the same ``namespace`` renews once per
    expiry: the one holding the renewal lock renews and saves, the others wait for the
    lock (bounded polling), find the fresh token and adopt it.

    Args:
        client: a ``redis.asyncio.Redis`` (``decode_responses`` either way). Not closed by
            this store; :meth:`from_url` makes a store that owns its client.
        namespace: what the token is for; one namespace per (client, user, scopes), e.g.
            ``"billing-api:svc-client"``. Part of the key names.
        lock_ttl: seconds the renewal lock survives a holder that died (SIGKILL, lost
            node): another process takes over at most this long after. A live holder
            keeps extending it. Keep it well below the manager's
            ``RenewalPolicy.renewal_timeout`` (default 30 s), which bounds how long a
            manager waits for the lock: a waiter then outlasts a dead holder.
        lock_poll_interval: longest pause between two attempts to take the lock.
        key_prefix: first part of the key names.

    Errors: Redis errors (``redis.exceptions.RedisError``, e.g. ``ConnectionError``)
    propagate; a value that is not an oauthflow token makes :meth:`load` raise
    :class:`~oauthflow.errors.TokenUnavailableError`.

    Cancellation: cancelling a call abandons its reply (redis-py then drops the
    connection). A save that reached Redis is one Lua script, applied whole or not at all.
    """

    __slots__ = ("_client", "_extend", "_local", "_lock_key", "_lock_ttl", "_namespace",
                 "_owns_client", "_poll_max", "_release", "_save", "_token_key")

    def __init__(
        self,
        client: Redis,
        namespace: str,
        *,
        lock_ttl: float = 10.0,
        lock_poll_interval: float = 0.05,
        key_prefix: str = "oauthflow",
    ) -> None:
        if not namespace or not isinstance(namespace, str):
            raise ConfigurationError("namespace must be a non-empty string")
        if not (lock_ttl > 0 and lock_poll_interval > 0):
            raise ConfigurationError("lock_ttl and lock_poll_interval must be > 0")
        self._client = client
        self._namespace = namespace
        self._token_key = f"{key_prefix}:{{{namespace}}}:token"
        self._lock_key = f"{key_prefix}:{{{namespace}}}:lock"
        self._lock_ttl = lock_ttl
        self._poll_max = lock_poll_interval
        self._owns_client = False
        self._save = client.register_script(_SAVE)
        self._release = client.register_script(RELEASE)
        self._extend = client.register_script(EXTEND)
        self._local = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, namespace: str, **options: Any) -> RedisTokenStore:
        """A store with its own client for ``url`` (``redis://``, ``rediss://``,
        ``unix://``); close it with :meth:`aclose`. ``options`` as for the constructor."""
        store = cls(Redis.from_url(url), namespace, **options)
        store._owns_client = True
        return store

    @property
    def token_key(self) -> str:
        """The Redis key of the token hash."""
        return self._token_key

    @property
    def lock_key(self) -> str:
        """The Redis key of the renewal lock."""
        return self._lock_key

    async def load(self) -> Token | None:
        """The stored token, or ``None``."""
        stored = await self.load_versioned()
        return None if stored is None else stored.token

    async def load_versioned(self) -> VersionedToken | None:
        """The stored token and its version, or ``None`` (one ``HMGET``)."""
        document, version = await self._client.hmget(self._token_key, ["token", "version"])
        if document is None:
            return None
        token, _ = decode(document, f"Redis key {self._token_key}")
        return VersionedToken(token, _text(version))

    async def save(self, token: Token) -> None:
        """Replace the stored token, whatever version is stored."""
        await self._run_save(token, "any")

    async def save_if_unchanged(self, token: Token, expected_version: str | None) -> str:
        """Save ``token`` only if the stored version is ``expected_version`` (``None``: no
        token stored), atomically on the server. Returns the new version.

        Raises:
            StoreConflictError: another process saved in between; nothing was written.
        """
        if expected_version is None:
            version = await self._run_save(token, "empty")
        else:
            version = await self._run_save(token, "match", expected_version)
        if version is None:
            raise StoreConflictError("the token in Redis changed since it was read")
        return version

    async def clear(self) -> None:
        """Remove the token (a logout); the serial stays, so versions never repeat."""
        await self._client.hdel(self._token_key, "token", "version")

    def renewal_lock(self) -> AbstractAsyncContextManager[None]:
        """The fleet-wide renewal lock (``SET NX PX`` with a random value, a watchdog,
        compare-and-delete release): see :mod:`oauthflow.store._redis_lock`."""
        return RedisRenewalLock(
            self._client, self._lock_key, ttl=self._lock_ttl, poll_max=self._poll_max,
            local=self._local, release=self._release, extend=self._extend,
        )

    async def aclose(self) -> None:
        """Close the client if this store created it (:meth:`from_url`)."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"RedisTokenStore(namespace={self._namespace!r}, lock_ttl={self._lock_ttl!r})"

    async def _run_save(self, token: Token, mode: str, expected: str = "") -> str | None:
        result = await self._save(
            keys=[self._token_key], args=[encode(token), secrets.token_hex(8), mode, expected],
        )
        return None if result is None else _text(result)


def _text(value: object) -> str:
    """A reply as ``str`` (the client may or may not decode responses)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)
