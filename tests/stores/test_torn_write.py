"""A process killed (SIGKILL) while saving never leaves a torn token file.

A writer process saves large tokens in a loop; the test kills it at a random moment, then
reads the file: it always parses, and holds one whole token that was saved. Most kills
land mid-write (a temporary file is left behind, counted), which is the point: the
rename is the only step that changes what readers see.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from oauthflow.store.file import FileTokenStore
from oauthflow.token import Token
from tests.stores.support import fleet

KILLS = 10


def leftovers(directory: Path) -> list[Path]:
    return sorted(directory.glob(".token.json.*.tmp"))


def raw_document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_bytes())
    return document


@pytest.mark.asyncio
async def test_kill_during_save_leaves_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    spec = {"kind": "file", "path": str(path)}
    store = FileTokenStore(path)
    mid_write = 0
    last_seen = 0
    async with fleet() as workers:
        for _ in range(KILLS):
            writer = await workers.spawn({"mode": "save-loop", "store": spec,
                                          "extra_bytes": 512 * 1024})
            saves = random.randint(1, 4)
            for _ in range(saves):
                line = await workers.line(writer)
                assert line.startswith("SAVED ")
            await asyncio.sleep(random.uniform(0, 0.02))
            workers.kill(writer)
            await asyncio.wait_for(writer.wait(), 10)
            mid_write += bool(leftovers(tmp_path))
            token = await store.load()  # parses, or raises
            assert token is not None
            number = token.extra["n"]
            assert token.access_token == f"at-{number}"
            assert token.refresh_token == f"rt-{number}"
            assert len(token.extra["filler"]) == 512 * 1024
            assert raw_document(path)["token"]["n"] == number
            # each writer starts again at 1, so the file holds this writer's save
            assert number >= saves
            last_seen = number
    assert last_seen >= 1
    print(f"{mid_write} of {KILLS} kills landed mid-write")
    # The next save removes what the killed writers left behind.
    await store.save(Token(access_token="at-final"))
    assert leftovers(tmp_path) == []
