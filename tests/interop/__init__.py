"""Interop tests against panva's oidc-provider (npm), started on 127.0.0.1 by conftest.py."""

from __future__ import annotations

__all__: list[str] = []
