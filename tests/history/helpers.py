"""Small helpers shared by the history tests (imported, not fixtures)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from auditor.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def run_files(path: Path) -> dict[Path, bytes]:
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
