"""Atomic writes: a file or a folder appears whole or not at all, and what exists is never overwritten.

Everything is written under a temporary name in the destination's own folder (same file system) and
then moved into place with one system call: ``rename`` for a folder (it fails onto a non-empty
folder, so a version is never replaced), ``link`` for a file that must not exist yet, ``replace``
for a file that may be replaced whole. Temporary names are ``.tmp-<pid>-<random>``, so a leftover
of a killed process can be recognised and removed (see ``store.remove_stale_temp``).
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_name(parent: Path, stem: str = "") -> Path:
    return parent / f"{stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) under ``folder``."""
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@contextmanager
def staged_folder(parent: Path) -> Iterator[Path]:
    """A new empty temporary folder in ``parent``, removed on exit unless it was moved into place."""
    tmp = temp_name(parent)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def publish_folder(staged: Path, final: Path) -> bool:
    """Move a staged folder to ``final``; False when ``final`` already exists (it is left alone)."""
    try:
        os.rename(staged, final)
        return True
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or final.exists():
            return False
        raise


def write_folder(final: Path, files: dict[str, bytes]) -> bool:
    """Create ``final`` holding ``files``, whole or not at all; False when it already exists."""
    with staged_folder(final.parent) as tmp:
        write_tree(tmp, files)
        return publish_folder(tmp, final)


def create_file(path: Path, content: bytes) -> None:
    """Write a file that must not exist yet (FileExistsError if it does): never overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path.parent)
    tmp.write_bytes(content)
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink()


def replace_file(path: Path, content: bytes) -> None:
    """Replace a file whole (a reader sees the old or the new content, never a part)."""
    tmp = temp_name(path.parent, f".{path.name}")
    try:
        tmp.write_bytes(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
