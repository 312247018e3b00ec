"""Atomic writes: a file or a folder appears whole or not at all, and what exists is never overwritten.

Everything is written under a temporary name in the destination's own folder (same file system) and
then moved into place with one system call: ``rename`` for a folder (it fails onto a non-empty
folder, so a version is never replaced), ``link`` for a file that must not exist yet, ``replace``
for a file that may be replaced whole. Temporary names are ``.tmp-<pid>-<process space>-<random>``, so a leftover
of a killed process can be recognised and removed (see ``store.remove_stale_temp``).
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_name(parent: Path, stem: str = "") -> Path:
    return parent / f"{stem}.tmp-{os.getpid()}-{process_space()}-{uuid.uuid4().hex[:12]}"


@functools.lru_cache(maxsize=1)
def process_space() -> str:
    """8 hex digits naming where this process's id means something: the host, its boot and its PID
    namespace (a container has its own). A temporary folder's process id is checked only where the
    tag is this process's own: on a shared output folder, another machine's or container's live
    writer has an id this one cannot see."""
    import socket

    from auditor.hashing import sha256_bytes

    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(os.readlink(source) if source.endswith("/pid") else Path(source).read_text().strip())
        except OSError:
            parts.append("")
    return sha256_bytes("\0".join(parts).encode())[:8]


def _write_synced(path: Path, content: bytes) -> None:
    """Write a new file and flush it to the disk: a rename that publishes it can reach the disk
    before its data does (a crash or power loss then leaves a published file empty or cut short)."""
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)  # fsync flushes the file, whichever descriptor names it
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a file created or renamed into it) to the disk, where the file
    system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system that cannot sync a folder (EINVAL): nothing more can be done
        pass
    finally:
        os.close(fd)


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) under ``folder``, each flushed to the disk with the
    folders that hold it, so that the folder can be published by a rename."""
    folders = {folder}
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_synced(path, content)
        folders.update(p for p in path.parents if p == folder or folder in p.parents)
    for sub in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        sync_folder(sub)


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
    """Move a staged folder to ``final``; False when ``final`` already exists (it is left alone): a
    folder that is not empty, or a file or link in the way. Any other error is raised, also where
    ``final`` exists (an empty folder that is a mount point: EBUSY; a read-only file system)."""
    try:
        os.rename(staged, final)
        sync_folder(final.parent)
        return True
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or (exc.errno == errno.ENOTDIR and os.path.lexists(final)
                                                             and not final.is_dir()):
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
    try:
        _write_synced(tmp, content)  # a full disk fails half-way: the part written is removed too
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    sync_folder(path.parent)


def replace_file(path: Path, content: bytes) -> None:
    """Replace a file whole (a reader sees the old or the new content, never a part)."""
    replace_files(path.parent, {path.name: content})


def replace_files(folder: Path, files: dict[str, bytes]) -> None:
    """Replace files of ``folder`` whole, all or none: every new content is written in full first (a
    full disk or a read-only folder fails there, with nothing replaced), then each is renamed over
    its file, which needs no space."""
    staged: dict[Path, Path] = {}
    try:
        for name, content in files.items():
            tmp = staged[folder / name] = temp_name(folder, f".{Path(name).name}")
            _write_synced(tmp, content)
        for path, tmp in staged.items():
            os.replace(tmp, path)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    sync_folder(folder)
