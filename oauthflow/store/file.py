"""A token file shared by the processes of one host: :class:`FileTokenStore`.

The file is the JSON document of :mod:`oauthflow.store._codec` (the token and a random
version, new on every save), mode 0600, replaced atomically on every save (temporary file
in the same directory, ``fsync``, ``rename``, ``fsync`` of the directory), so a reader
sees the old token or the new one and a process killed mid-write leaves a valid file.

Two lock files sit beside it (both 0600, both empty, never deleted):

- ``<path>.lock``: the renewal lock (:meth:`FileTokenStore.renewal_lock`), held by the one
  process renewing while the others wait, then adopt what it saved;
- ``<path>.write.lock``: held for the few milliseconds of a compare-and-swap save, so a
  save made outside a renewal (a CLI login) cannot interleave with one made inside.

Both are ``flock(2)`` locks: the kernel releases them when the holder's process dies, even
by SIGKILL, so there is no TTL to tune and no stale lock to clean up. ``flock`` is local
to one host (on NFS, Linux emulates it with byte-range locks; prefer Redis across hosts).
POSIX only (``fcntl``).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Final

from oauthflow.errors import ConfigurationError, StoreConflictError
from oauthflow.store import private_files
from oauthflow.store._codec import MAX_DOCUMENT_BYTES, decode, encode
from oauthflow.stores import VersionedToken
from oauthflow.token import Token

__all__ = ["FileTokenStore"]

_ANY: Final = object()  # save() writes whatever version is stored
_FIRST_POLL = 0.001


class FileTokenStore:
    """Keeps the token in a private JSON file; a :class:`~oauthflow.stores.SharedTokenStore`.

    Several processes (or managers) on one host that use the same ``path`` renew once per
    expiry: one holds the renewal lock and renews, the others wait for the lock, find the
    fresh token in the file and adopt it. A rotated refresh token is in the file before
    any of them uses the new access token.

    Args:
        path: the token file. Its directory must exist; the file and its lock files are
            created with mode 0600. A file owned by another user is refused
            (:class:`~oauthflow.errors.ConfigurationError`); one readable by others is
            tightened to 0600 (logged as a warning).
        lock_poll_interval: longest pause between two attempts to take the renewal lock
            while another process holds it (the pauses start at 1 ms and double).
        write_lock_timeout: how long a save waits for another process's save to finish
            before raising :class:`TimeoutError` (saves take milliseconds).

    Errors: a file that is not an oauthflow token file makes :meth:`load` raise
    :class:`~oauthflow.errors.TokenUnavailableError` (it is never overwritten silently);
    I/O errors (``OSError``) propagate.
    """

    __slots__ = ("_local", "_lock_path", "_path", "_poll_max", "_write_lock_path",
                 "_write_timeout")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_poll_interval: float = 0.05,
        write_lock_timeout: float = 10.0,
    ) -> None:
        if not (lock_poll_interval > 0 and write_lock_timeout > 0):
            raise ConfigurationError("lock_poll_interval and write_lock_timeout must be > 0")
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._write_lock_path = self._path.with_name(self._path.name + ".write.lock")
        self._poll_max = lock_poll_interval
        self._write_timeout = write_lock_timeout
        self._local = asyncio.Lock()

    @property
    def path(self) -> Path:
        """The token file."""
        return self._path

    async def load(self) -> Token | None:
        """The stored token, or ``None`` when the file does not exist.

        Cancellation: the read runs in a worker thread and finishes on its own.
        """
        stored = await self.load_versioned()
        return None if stored is None else stored.token

    async def load_versioned(self) -> VersionedToken | None:
        """The stored token and its version, or ``None`` when the file does not exist."""
        return await asyncio.to_thread(self._read)

    async def save(self, token: Token) -> None:
        """Replace the stored token (whatever version is stored).

        Cancellation: the write runs in a worker thread and completes or fails on its
        own; the file then holds the old token or the new one, never a mix.
        """
        await asyncio.to_thread(self._write, token, _ANY)

    async def save_if_unchanged(self, token: Token, expected_version: str | None) -> str:
        """Save ``token`` if the file still holds ``expected_version`` (``None``: no file).

        Returns the new version. Cancellation: as for :meth:`save`.

        Raises:
            StoreConflictError: another process saved in between; nothing was written.
        """
        return await asyncio.to_thread(self._write, token, expected_version)

    async def clear(self) -> None:
        """Delete the token file (a logout). The lock files stay."""
        await asyncio.to_thread(self._remove)

    def renewal_lock(self) -> AbstractAsyncContextManager[None]:
        """The host-wide renewal lock (``flock`` on ``<path>.lock``).

        Waiting never blocks the event loop: it retries the non-blocking ``flock`` with
        growing pauses. Cancelling the waiter stops waiting and takes nothing. The lock is
        released on exit, or by the kernel if the process dies while holding it.
        """
        return _RenewalLock(self)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self._path)!r})"

    # -- blocking parts (worker threads) -----------------------------------------------

    def _read(self) -> VersionedToken | None:
        raw = private_files.read_private(self._path, MAX_DOCUMENT_BYTES)
        if raw is None:
            return None
        token, version = decode(raw, f"token file {self._path}")
        return VersionedToken(token, version or "")

    def _write(self, token: Token, expected: object) -> str:
        with private_files.locked(self._write_lock_path, self._write_timeout):
            if expected is not _ANY:
                stored = self._read()
                current = None if stored is None else stored.version
                if current != expected:
                    raise StoreConflictError("the token file changed since it was read")
            private_files.remove_stale_temporaries(self._path)
            version = secrets.token_hex(16)
            private_files.write_atomically(self._path, encode(token, version))
            return version

    def _remove(self) -> None:
        with private_files.locked(self._write_lock_path, self._write_timeout):
            try:
                os.unlink(self._path)
            except FileNotFoundError:
                return


class _RenewalLock:
    """One acquisition of a :class:`FileTokenStore`'s renewal lock."""

    __slots__ = ("_fd", "_store")

    def __init__(self, store: FileTokenStore) -> None:
        self._store = store
        self._fd: int | None = None

    async def __aenter__(self) -> None:
        store = self._store
        await store._local.acquire()  # managers of this process queue here, not polling
        try:
            self._fd = await self._flock(store)
        except BaseException:
            store._local.release()
            raise

    async def _flock(self, store: FileTokenStore) -> int:
        # Opening a small local lock file and a non-blocking flock are fast system
        # calls: they run on the loop, so a cancelled waiter leaks no descriptor.
        fd = private_files.open_private(store._lock_path, os.O_RDWR | os.O_CREAT)
        try:
            pause = _FIRST_POLL
            while not private_files.try_flock(fd):
                # jitter, so waiters do not retry in lockstep (not security-relevant)
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))  # noqa: S311
                pause = min(pause * 2, store._poll_max)
        except BaseException:
            os.close(fd)
            raise
        return fd

    async def __aexit__(self, *exc_info: object) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # releases the flock
        finally:
            self._store._local.release()
