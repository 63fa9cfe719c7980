"""Where a TokenManager keeps its token between renewals, across restarts and processes.

Two protocols:

- :class:`TokenStore`: ``load`` once, on the manager's first use, and ``save`` after every
  renewal **before** any caller receives the new token (persist before publish), so a
  rotated refresh token is never only in memory.
- :class:`SharedTokenStore`: a store several managers share (processes on one host, pods on
  a cluster). It adds a versioned read, a compare-and-swap save, and a renewal lock, so that
  a fleet renews **once** per expiry: the manager holding the lock re-reads the store, adopts
  a token another process already renewed, or renews and saves only if nobody saved in
  between.

:class:`MemoryTokenStore` implements both, for managers in one process.
"""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from oauthflow.errors import StoreConflictError
from oauthflow.token import Token

__all__ = ["MemoryTokenStore", "SharedTokenStore", "TokenStore", "VersionedToken"]


@runtime_checkable
class TokenStore(Protocol):
    """Persistence for one token (one client, one user, one set of scopes)."""

    async def load(self) -> Token | None:
        """Return the saved token, or ``None`` when there is none."""
        ...

    async def save(self, token: Token) -> None:
        """Persist ``token``, replacing the previous one.

        If this raises, the manager does not publish the token: its callers get the
        error, and the previous token stays current.
        """
        ...


@dataclass(frozen=True, slots=True)
class VersionedToken:
    """A stored token and the version it was saved under (opaque; new on every save)."""

    token: Token
    version: str


@runtime_checkable
class SharedTokenStore(TokenStore, Protocol):
    """A store shared by several TokenManagers, with compare-and-swap and a renewal lock."""

    async def load_versioned(self) -> VersionedToken | None:
        """The stored token and its version, or ``None``."""
        ...

    async def save_if_unchanged(self, token: Token, expected_version: str | None) -> str:
        """Save ``token`` only if the stored version is still ``expected_version``.

        ``None`` expects an empty store. Returns the new version.

        Raises:
            StoreConflictError: someone else saved in between; nothing was written.
        """
        ...

    def renewal_lock(self) -> AbstractAsyncContextManager[None]:
        """An exclusive lock across every manager sharing the store, held while renewing.

        Implementations bound it (a TTL), so a holder that dies cannot block the fleet
        forever.
        """
        ...


class MemoryTokenStore:
    """Keeps the token in this process only (the default). Shareable by managers in-process."""

    __slots__ = ("_lock", "_token", "_versions")

    def __init__(self, token: Token | None = None) -> None:
        self._versions = itertools.count(1)
        self._token: VersionedToken | None = None
        if token is not None:
            self._token = VersionedToken(token, str(next(self._versions)))
        self._lock = asyncio.Lock()

    async def load(self) -> Token | None:
        return None if self._token is None else self._token.token

    async def save(self, token: Token) -> None:
        self._token = VersionedToken(token, str(next(self._versions)))

    async def load_versioned(self) -> VersionedToken | None:
        return self._token

    async def save_if_unchanged(self, token: Token, expected_version: str | None) -> str:
        current = None if self._token is None else self._token.version
        if current != expected_version:
            raise StoreConflictError("the stored token changed since it was read")
        await self.save(token)
        assert self._token is not None
        return self._token.version

    def renewal_lock(self) -> AbstractAsyncContextManager[None]:
        return _LockContext(self._lock)

    def __repr__(self) -> str:
        return f"MemoryTokenStore(has_token={self._token is not None})"


class _LockContext:
    __slots__ = ("_lock",)

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def __aenter__(self) -> None:
        await self._lock.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()
