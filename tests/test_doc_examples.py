"""Every ```python block in README.md and docs/ type-checks under mypy --strict.

Each block must be self-contained (its own imports). A block that is deliberately a fragment
is fenced as ```text instead. Signatures in prose go in ```text blocks too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in documents():
        for number, match in enumerate(BLOCK.finditer(path.read_text()), start=1):
            found.append((f"{path.relative_to(ROOT)}#{number}", match.group(1)))
    return found


def test_there_are_examples() -> None:
    assert len(blocks()) >= 10


def test_every_python_block_type_checks(tmp_path: Path) -> None:
    files: dict[str, str] = {}
    for index, (name, code) in enumerate(blocks()):
        module = tmp_path / f"example_{index:03d}.py"
        module.write_text(code)
        files[str(module)] = name
    stdout, stderr, status = mypy_api.run([
        "--strict", "--python-version", "3.10", "--no-incremental", "--follow-imports=silent",
        "--cache-dir", str(tmp_path / ".mypy_cache"), "--config-file", "",
        *files,
    ])
    if status != 0:
        report = stdout
        for path, name in files.items():
            report = report.replace(path, name)
        pytest.fail(f"documentation examples do not type-check:\n{report}{stderr}")
