"""Benchmarks for oauthflow against raw aiohttp and peer OAuth client libraries.

Run ``python benchmarks/run.py --quick --json results.json`` from the repository root.
The token server and the API run in a separate process on 127.0.0.1
(:mod:`benchmarks.server`); :mod:`benchmarks.clients` adapts each library to one
interface; :mod:`benchmarks.scenarios` drives them; :mod:`benchmarks.report` prints rows.
"""

from __future__ import annotations

__all__: list[str] = []
