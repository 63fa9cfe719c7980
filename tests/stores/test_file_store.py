"""FileTokenStore: permissions, the file format, atomic writes, refusals, and locks that a
killed process releases."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oauthflow.errors import ConfigurationError, TokenUnavailableError
from oauthflow.store.file import FileTokenStore
from oauthflow.token import Token
from tests.stores.support import fleet

pytestmark = pytest.mark.asyncio

TOKEN = Token(access_token="at-file-secret", refresh_token="rt-file-secret", expires_at=2e9,
              issued_at=1.9e9)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@contextlib.contextmanager
def flocked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path``, as another process would."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: a file created without an explicit mode would be world-readable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
async def test_the_token_file_and_its_lock_files_are_0600(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    await store.save(TOKEN)
    async with store.renewal_lock():
        pass
    assert names_in(tmp_path) == ["token.json", "token.json.lock", "token.json.write.lock"]
    for name in names_in(tmp_path):
        assert mode_of(tmp_path / name) == 0o600, name
    stored = await store.load_versioned()
    assert stored is not None
    await store.save_if_unchanged(TOKEN, stored.version)
    assert mode_of(tmp_path / "token.json") == 0o600


async def test_the_file_is_the_documented_json_document(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    version = await store.save_if_unchanged(TOKEN, None)
    document = json.loads((tmp_path / "token.json").read_bytes())
    assert document == {"oauthflow_token": 1, "version": version, "token": TOKEN.to_dict()}


async def test_a_file_others_can_read_is_tightened_and_the_warning_names_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    await store.save(TOKEN)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="oauthflow.store.file"):
        assert await store.load() == TOKEN
    assert mode_of(path) == 0o600
    assert [r.getMessage() for r in caplog.records] == [
        f"token file {path} had mode 0o644 (other users could access it); changed to 0600"]
    assert "secret" not in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
async def test_a_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    await store.save(TOKEN)
    os.chown(path, 4242, -1)
    with pytest.raises(ConfigurationError, match="belongs to uid 4242"):
        await store.load()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"oauthflow_token": 2, "token": {}}', "not format 1"),
        (b'{"oauthflow_token": 1, "token": {"refresh_token": "rt-file-secret"}}',
         "no access_token"),
        (b'{"oauthflow_token": 1, "version": 7, "token": {"access_token": "at-file-secret"}}',
         "version is not a string"),
    ],
)
async def test_a_file_that_is_not_a_token_is_refused_without_showing_it(
    tmp_path: Path, content: bytes, reason: str,
) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(TokenUnavailableError) as raised:
        await FileTokenStore(path).load()
    assert reason in str(raised.value)
    assert str(path) in str(raised.value)
    assert "secret" not in str(raised.value)
    assert path.read_bytes() == content  # never overwritten by a read


async def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(b" " * (1024 * 1024 + 1))
    path.chmod(0o600)
    with pytest.raises(TokenUnavailableError, match="larger than"):
        await FileTokenStore(path).load()


async def test_a_save_leaves_no_temporary_file_and_removes_a_killed_writers_leftovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "token.json"
    stray = tmp_path / ".token.json.0123456789abcdef.tmp"
    stray.write_bytes(b'{"half": ')
    unrelated = tmp_path / ".other.json.0123456789abcdef.tmp"
    unrelated.write_bytes(b"")
    await FileTokenStore(path).save(TOKEN)
    assert not stray.exists()
    assert unrelated.exists()
    assert names_in(tmp_path) == [
        ".other.json.0123456789abcdef.tmp", "token.json", "token.json.write.lock"]


async def test_a_missing_directory_fails_the_save_with_os_error(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "missing" / "token.json")
    with pytest.raises(FileNotFoundError):
        await store.save(TOKEN)
    assert await store.load() is None


async def test_bad_options_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        FileTokenStore(tmp_path / "t.json", lock_poll_interval=0)
    with pytest.raises(ConfigurationError):
        FileTokenStore(tmp_path / "t.json", write_lock_timeout=-1)


async def test_the_write_lock_times_out_when_another_process_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    with flocked(tmp_path / "token.json.write.lock"):  # another process saving
        store = FileTokenStore(path, write_lock_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="could not lock"):
            await store.save(TOKEN)
        assert time.monotonic() - started >= 0.2
    assert not path.exists()


async def test_a_killed_lock_holder_releases_the_lock_at_once(tmp_path: Path) -> None:
    spec = {"kind": "file", "path": str(tmp_path / "token.json")}
    store = FileTokenStore(spec["path"])
    async with fleet() as workers:
        holder = await workers.spawn({"mode": "hold-lock", "store": spec})
        await workers.expect(holder, "LOCKED")
        waiter = asyncio.create_task(_enter_and_leave(store))
        await asyncio.sleep(0.2)
        assert not waiter.done()  # the live holder keeps it
        workers.kill(holder)
        killed = time.monotonic()
        await asyncio.wait_for(waiter, 5)
        assert time.monotonic() - killed < 1.0  # the kernel released it; no TTL involved


async def _enter_and_leave(store: FileTokenStore) -> None:
    async with store.renewal_lock():
        pass
