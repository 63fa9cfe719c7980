"""Fixtures of the store tests: a real ``redis-server`` and shared-store specs.

The Redis tests need the ``redis-server`` binary (Debian: ``apt-get install -y
redis-server``; ``.ci/run`` installs it). Without it they are skipped locally, with the
reason, and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from oauthflow.testing.redis_server import LocalRedis, find_redis_server
from tests.stores.support import Spec

#: The lock TTL of the Redis stores the fleet tests use: short, so a takeover after a
#: killed holder is quick, and long against the few milliseconds a renewal takes here.
REDIS_LOCK_TTL = 2.0


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedis]:
    """One ``redis-server`` on 127.0.0.1 for the session (tests use their own namespace)."""
    if find_redis_server() is None:
        reason = "redis-server is not installed (Debian: apt-get install -y redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; it is required under CI=true")
        pytest.skip(reason)
    with LocalRedis() as server:
        yield server


@pytest.fixture
def redis_spec(redis_server: LocalRedis) -> Spec:
    """A Redis store spec with a namespace of its own."""
    return {"kind": "redis", "url": redis_server.url, "namespace": f"test-{uuid.uuid4().hex}",
            "lock_ttl": REDIS_LOCK_TTL}


@pytest.fixture
def file_spec(tmp_path: Path) -> Spec:
    """A file store spec in the test's temporary directory."""
    return {"kind": "file", "path": str(tmp_path / "token.json")}


@pytest.fixture(params=["file", "redis"])
def shared_spec(request: pytest.FixtureRequest) -> Spec:
    """Each shared store in turn (Redis only where ``redis-server`` runs)."""
    spec: Spec = request.getfixturevalue(f"{request.param}_spec")
    return spec
