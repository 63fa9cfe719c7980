"""Blocking POSIX primitives of the file store: private files, atomic replace, ``flock``.

Everything here blocks (disk I/O, ``fsync``), so the file store calls it through
:func:`asyncio.to_thread`; only :func:`try_flock` (a non-blocking system call) runs on the
event loop.

Atomic replace, the usual recipe: write a temporary file in the same directory, ``fsync``
it, ``os.replace`` it over the target (POSIX ``rename(2)``: "If newpath already exists, it
will be atomically replaced, so that there is no point at which another process
attempting to access newpath will find it missing"), then ``fsync`` the directory so the
rename itself survives a power cut. A process killed at any point leaves the old file or
the new one, never a mix, and at worst a stray temporary file, removed by the next write.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import logging
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from oauthflow.errors import ConfigurationError

__all__ = [
    "PRIVATE_MODE",
    "locked",
    "open_private",
    "read_private",
    "remove_stale_temporaries",
    "try_flock",
    "write_atomically",
]

logger = logging.getLogger("oauthflow.store.file")

PRIVATE_MODE = 0o600
_TEMP_SUFFIX = ".tmp"
_LOCK_POLL = 0.005


def open_private(path: Path, flags: int) -> int:
    """``os.open`` with mode 0600 for a new file (the umask can only remove bits)."""
    return os.open(path, flags | os.O_CLOEXEC, PRIVATE_MODE)


def read_private(path: Path, limit: int) -> bytes | None:
    """The file's bytes (at most ``limit + 1``), or ``None`` if it does not exist.

    A file owned by another user is refused (it could hold someone else's tokens, or
    tokens planted to be used in our name). A file other users may read or write is
    tightened to 0600 and a warning is logged.

    Raises:
        ConfigurationError: the file belongs to another user.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        _check_private(path, fd, info)
        return file.read(limit + 1)


def _check_private(path: Path, fd: int, info: os.stat_result) -> None:
    if info.st_uid != os.geteuid():
        raise ConfigurationError(
            f"token file {path} belongs to uid {info.st_uid}, not to this process's user "
            f"(uid {os.geteuid()}); refusing to use it"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        os.fchmod(fd, PRIVATE_MODE)
        logger.warning(
            "token file %s had mode %s (other users could access it); changed to 0600",
            path, oct(mode),
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, durably and atomically (see the module docstring).

    The new file has mode 0600. Call it holding the store's write lock (:func:`locked`):
    the temporary file's name is random, but stale ones are removed under that lock.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_TEMP_SUFFIX}")
    fd = open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def remove_stale_temporaries(path: Path) -> int:
    """Remove temporary files a killed writer left beside ``path``; how many.

    Only safe under the write lock: no other writer is active then.
    """
    removed = 0
    for stray in path.parent.glob(f".{glob.escape(path.name)}.*{_TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stray.unlink()
            removed += 1
    return removed


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def try_flock(fd: int) -> bool:
    """Take an exclusive ``flock`` on ``fd`` without waiting; whether it was taken.

    ``flock`` locks belong to the open file description: closing ``fd`` releases the
    lock, and so does the kernel when the process dies (even by SIGKILL), so a dead
    holder never blocks the others.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def locked(lock_path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (in a worker thread: it sleeps).

    Raises:
        TimeoutError: another process held it for ``timeout`` seconds.
    """
    fd = open_private(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        deadline = time.monotonic() + timeout
        while not try_flock(fd):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"could not lock {lock_path} within {timeout:g} s")
            time.sleep(_LOCK_POLL)
        yield
    finally:
        os.close(fd)
