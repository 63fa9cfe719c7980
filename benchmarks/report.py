"""Rows to a Markdown table and to JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "markdown_table", "write_json"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("scenario", "scenario"),
    ("client", "client"),
    ("n", "n"),
    ("rps", "rps"),
    ("ratio_vs_raw", "vs raw"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("p99_vs_raw", "p99 vs raw"),
    ("cpu_us_per_req", "cpu us/req"),
    ("gc_ms", "gc ms"),
    ("token_requests", "token req"),
    ("surfaced_401", "401s"),
    ("invalid_grant", "invalid_grant"),
    ("errors", "errors"),
    ("sent_expired", "sent expired"),
    ("note", "note"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "/")


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table, columns padded so it also reads as plain text."""
    header = [title for _, title in COLUMNS]
    body = [[_cell(row.get(key)) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = {i for i, (key, _) in enumerate(COLUMNS) if key not in ("scenario", "client", "note")}

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        "-" * (widths[i] - 1) + ":" if i in numeric else "-" * widths[i]
        for i in range(len(header))
    ]
    return "\n".join([line(header), line(rule), *(line(cells) for cells in body)])


def write_json(path: Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> None:
    """Write the rows (a JSON list); ``meta`` goes to ``<path>.meta.json`` beside it."""
    path.write_text(json.dumps(list(rows), indent=2) + "\n", encoding="utf-8")
    meta_path = path.with_name(path.name + ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
