"""sha256 of bytes, files and folders: how every input and output is identified."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_or_dir_sha256(path: Path) -> str:
    """sha256 of a file; for a directory, of its files' relative paths and hashes, in order."""
    path = Path(path)
    if path.is_file():
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode() + b"\0" + file_or_dir_sha256(p).encode() + b"\n")
    return h.hexdigest()
