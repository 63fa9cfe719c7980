"""Fixtures for the interop suite: a real oidc-provider (OpenID Certified) on 127.0.0.1.

Without Node.js the suite is skipped locally, with that reason; under CI (``CI=true``) a missing
Node.js fails it instead, because these tests are required there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from .provider_process import (
    OidcProvider,
    ProviderStartError,
    ensure_installed,
    find_node_tools,
    running_provider,
)

__all__ = ["oidc_provider"]

NODE_MISSING = "Node.js not found: interop tests need node and npm"


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The running provider, shared by the whole session; stopped (and killed if need be) after.

    Installs the pinned oidc-provider with ``npm ci`` first if ``node_modules`` lacks it.
    Tests must not rely on state left by other tests: reset the counters (``reset_counters_url``)
    before asserting on them, and do not revoke tokens another test still holds.
    """
    tools = find_node_tools()
    if tools is None:
        if _under_ci():
            pytest.fail(f"{NODE_MISSING} (required because CI=true)")
        pytest.skip(NODE_MISSING)
    stack = contextlib.ExitStack()
    try:
        ensure_installed(tools)
        workdir = tmp_path_factory.mktemp("oidc-provider")
        provider = stack.enter_context(running_provider(tools, workdir))
    except ProviderStartError as exc:
        pytest.fail(f"oidc-provider did not start: {exc}")
    with stack:
        yield provider
