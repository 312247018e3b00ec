"""Versioned run directories: ``<out>/<model-slug>/v0001/``, written atomically, never overwritten.

A run is written into a hidden temporary directory next to its versions and renamed into place.
``rename`` onto an existing version fails (a non-empty directory is never replaced), and the
writer then takes the next number, so concurrent runs of one model get distinct versions. A run
killed half-way leaves only its temporary directory, which the next run removes once its writer
process is gone.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Callable

from auditor.errors import UsageError
from auditor.hashing import file_or_dir_sha256, sha256_bytes

_VERSION = re.compile(r"^v(\d{4,})$")
_TMP = re.compile(r"^\.tmp-(\d+)-[0-9a-f]+$")


def slugify(name: str) -> str:
    """A folder name that cannot leave the output folder: letters, digits, '.', '_', '-' only,
    no leading dots, at most 80 characters."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    slug = re.sub(r"\.{2,}", ".", slug)[:80].strip("-.")
    return slug or "model"


class OutputPathError(UsageError, ValueError):
    """The model's folder would not be inside the output folder (e.g. it is a link elsewhere)."""


def model_dir(out: Path, model_name: str) -> Path:
    out = out.resolve()
    target = (out / slugify(model_name)).resolve()
    if target.parent != out:
        raise OutputPathError(
            f"the folder for model {model_name!r} would be {target}, outside the output folder {out} "
            f"({out / slugify(model_name)} is a link?); remove it or choose another --out"
        )
    return target


def versions(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _VERSION.match(p.name)) and p.is_dir())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp(folder: Path) -> None:
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        m = _TMP.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)


def write_run(out: Path, model_name: str, build: Callable[[str], dict[str, bytes]]) -> Path:
    """Write a new version. ``build(version_label)`` returns the run's files (relative path -> bytes);
    it is called again with the next label if another writer took this one first."""
    folder = model_dir(out, model_name)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temp(folder)
    tmp = folder / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        for _ in range(1000):
            label = f"v{(max(versions(folder), default=0) + 1):04d}"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            for rel, content in build(label).items():
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            final = folder / label
            try:
                os.rename(tmp, final)
                return final
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) and not final.exists():
                    raise
        raise RuntimeError(f"could not allocate a version under {folder}")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def manifest(files: dict[str, bytes], inputs: dict[str, Path | None], libraries: dict[str, str], extra: dict) -> bytes:
    """sha256 of every file of the run and of every input."""
    body = {
        **extra,
        "files": {rel: sha256_bytes(content) for rel, content in sorted(files.items())},
        "inputs": {
            name: {"path": str(path), "sha256": file_or_dir_sha256(path)} for name, path in inputs.items() if path
        },
        "libraries": libraries,
    }
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")


def version_label(number: int) -> str:
    return f"v{number:04d}"


def chain_link(folder: Path, version: str) -> dict | None:
    """The hash-chain entry of run ``version``: the sha256 of the manifest of the previous version
    (``version - 1``) of the same model, or None for the first run. Called from the manifest
    builder, i.e. after ``write_run`` has picked the label: the previous version always exists
    then (labels are max + 1 and a version appears only complete, by rename), so concurrent runs
    chain correctly. A previous version without a readable manifest is recorded as such."""
    m = _VERSION.match(version)
    if not m or int(m.group(1)) <= 1:
        return None
    previous = version_label(int(m.group(1)) - 1)
    path = Path(folder) / previous / "manifest.json"
    return {"version": previous, "manifest_sha256": sha256_bytes(path.read_bytes()) if path.is_file() else None}


def manifest_with_file(body: bytes, rel: str, content: bytes) -> bytes:
    """The manifest ``body`` with one more file hash (same serialisation as :func:`manifest`)."""
    data = json.loads(body)
    data["files"] = dict(sorted({**data["files"], rel: sha256_bytes(content)}.items()))
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def manifest_without_file(body: bytes, rel: str) -> bytes:
    """The manifest ``body`` without the hash of ``rel``: what a file can carry about its own run
    (a file cannot contain its own hash)."""
    data = json.loads(body)
    data["files"].pop(rel, None)
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
