"""Shared helpers for the example builders (not part of the ``auditor`` package).

The builders import this module after putting ``examples/`` on ``sys.path``.
It writes Hugging Face style model cards (YAML front matter between ``---``
lines, then a Markdown body), hashes files and records timings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


class _CardDumper(yaml.SafeDumper):
    """SafeDumper that indents block sequences under their key (HF style)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):  # noqa: D401
        return super().increase_indent(flow, False)


_VERSION_LIKE = re.compile(r"^[0-9][0-9.]*$")


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Multi-line text as a block scalar; version-like strings ("1.0.0") quoted so no
    # YAML reader can mistake them for numbers.
    style = "|" if "\n" in data else ('"' if _VERSION_LIKE.match(data) else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_CardDumper.add_representer(str, _str_representer)


def front_matter(metadata: dict[str, Any]) -> str:
    """YAML front matter (keys kept in insertion order), without the fences."""
    return yaml.dump(
        metadata,
        Dumper=_CardDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def model_index(
    name: str,
    *,
    task_type: str,
    task_name: str,
    dataset_name: str,
    dataset_type: str,
    split: str,
    metrics: dict[str, float],
) -> list[dict[str, Any]]:
    """A one-entry ``model-index`` block (Papers-with-Code / HF format)."""
    return [
        {
            "name": name,
            "results": [
                {
                    "task": {"type": task_type, "name": task_name},
                    "dataset": {"name": dataset_name, "type": dataset_type, "split": split},
                    "metrics": [
                        {"type": key, "value": round(float(value), 3)}
                        for key, value in metrics.items()
                    ],
                }
            ],
        }
    ]


def write_card(path: str | os.PathLike[str], metadata: dict[str, Any], body: str) -> Path:
    """Write ``---\\n<yaml>---\\n\\n<body>`` to ``path`` and check it parses back."""
    path = Path(path)
    text = "---\n" + front_matter(metadata) + "---\n\n" + body.strip() + "\n"
    # Round-trip check: the front matter must load back to the same mapping.
    loaded = yaml.safe_load(text.split("---\n", 2)[1])
    if json.dumps(loaded, sort_keys=True, default=str) != json.dumps(
        metadata, sort_keys=True, default=str
    ):
        raise RuntimeError("model card front matter does not round-trip")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A small GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


@contextmanager
def timed(label: str) -> Iterator[dict[str, float]]:
    """Context manager that prints and records the elapsed wall time."""
    record: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield record
    finally:
        record["seconds"] = time.perf_counter() - start
        print(f"[{label}] {record['seconds']:.1f} s", flush=True)


def build_date() -> str:
    """ISO date for the card: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).date().isoformat()
    return dt.date.today().isoformat()


def relpath(path: str | os.PathLike[str], start: str | os.PathLike[str]) -> str:
    """POSIX relative path from ``start`` (a directory) to ``path``."""
    return Path(os.path.relpath(path, start)).as_posix()


STAMP_NAME = ".built-by"  # beside build.py: the sha256 of the builder that wrote the artefacts (gitignored)


def built_by(builder: str | os.PathLike[str]) -> str:
    """sha256 of an example's builder and of this module: what its artefacts were built by."""
    digest = hashlib.sha256()
    for path in (Path(builder), Path(__file__)):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def up_to_date(builder: str | os.PathLike[str], *outputs: str | os.PathLike[str]) -> bool:
    """Every output exists and was written by this very builder: a card written by an older
    build.py (before a field was added, say) is rebuilt instead of audited stale."""
    stamp = Path(builder).resolve().parent / STAMP_NAME
    current = stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == built_by(builder)
    if all(Path(p).exists() for p in outputs) and not current:
        print(f"{Path(builder).resolve().parent.name}: built by another version of build.py; rebuilding", flush=True)
    return current and all(Path(p).exists() for p in outputs)


def mark_built(builder: str | os.PathLike[str]) -> None:
    """Record that ``builder`` wrote the example's artefacts (see :func:`up_to_date`)."""
    (Path(builder).resolve().parent / STAMP_NAME).write_text(built_by(builder) + "\n", encoding="utf-8")
