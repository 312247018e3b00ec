"""Versioned run directories: ``<out>/<model-slug>/v0001/``, written atomically, never overwritten.

A run is written into a hidden temporary directory next to its versions and renamed into place.
``rename`` onto an existing version fails (a non-empty directory is never replaced), and the
writer then takes the next number, so concurrent runs of one model get distinct versions. A run
killed half-way leaves only its temporary directory, which the next run removes once its writer
process is gone (that of another machine or container sharing the folder: once a day old).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable

from auditor.records.atomic import publish_folder, staged_folder, write_tree
from auditor.errors import UsageError
from auditor.hashing import file_or_dir_sha256, sha256_bytes
from auditor.records.json_read import loads

_VERSION = re.compile(r"^v(\d{4,})\Z")  # runs.VERSION_RE
MAX_VERSION_ATTEMPTS = 1000  # concurrent writers racing for the next version label
_TMP = re.compile(r"^\.tmp-(\d+)-(?:([0-9a-f]{8})-)?[0-9a-f]+$")  # pid, the writer's process space (atomic.temp_name)
STALE_ELSEWHERE_S = 86_400  # a temporary folder of another machine or container is removed once this old


SLUG_MAX = 80


REGISTRY_FILE = "audits.sqlite"  # records.runs.DEFAULT_DB_NAME, beside the model folders in OUT (and its -journal, .unreadable-…)


def slugify(name: str) -> str:
    """A folder name that cannot leave the output folder: letters, digits, '.', '_', '-' only,
    no leading dots, at most 80 characters. A name that is already such a folder name is its own
    slug; any other name gets the first 8 hex digits of its sha256 appended (``credit-scoring-1a2b3c4d``),
    so two different names never share a folder (a version series, a hash chain), and a name that
    reduces to nothing gets ``model-<hash>``, stable and distinct. A name that begins like the
    registry's file (``audits.sqlite``) is hashed too: its folder would take the registry's place."""
    slug = cleaned_name(name, SLUG_MAX)
    if slug and slug == name and not slug.lower().startswith(REGISTRY_FILE):  # the registry's own name is not a model's
        return slug
    digest = sha256_bytes(name.encode("utf-8", "surrogatepass"))[:8]
    return f"{slug[:SLUG_MAX - 9].strip('-.') or 'model'}-{digest}"


def cleaned_name(name: str, most: int | None = None) -> str:
    """``name`` with every run of other characters than letters, digits, '.', '_', '-' made one '-', runs of
    dots one dot, and no '-' or '.' at either end (cut to ``most`` characters first)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return re.sub(r"\.{2,}", ".", cleaned)[:most].strip("-.")


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


class OutputNotWritable(UsageError, OSError):
    """The output folder cannot be written (read-only, no permission, disk full)."""


MIN_FREE_BYTES = 20_000_000  # a run with its PDF and evidence needs a few MB; refuse before the work


def check_output_writable(folder: Path) -> None:
    """Before any work: the nearest existing folder on the way to ``folder`` accepts a new file
    (created and removed again; nothing else is created) and its disk has room for a run."""
    import tempfile

    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputNotWritable(f"cannot write the run under {folder}: {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write the run under {folder}: {existing} is not writable ({exc.strerror})") from None
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:
        raise OutputNotWritable(f"disk full: {free:,} bytes free under {existing}; a run needs at least {MIN_FREE_BYTES:,}")


def output_error(exc: OSError, where: Path, unwritten: str = "nothing") -> OutputNotWritable:
    """An OSError met while writing output, said as what it is (disk full, read-only, permission);
    ``unwritten``: what was not written (a run's result.json may still be kept beside its versions)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputNotWritable(f"disk full while writing {where}; {unwritten} was written (free some space and run again)")
    return OutputNotWritable(f"cannot write {where}: {exc.strerror or exc}; {unwritten} was written")


WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def is_stored_run(folder: Path) -> bool:
    """A folder named like a version that holds a run (its manifest or result)."""
    return bool(_VERSION.match(folder.name)) and ((folder / "manifest.json").is_file() or (folder / "result.json").is_file())


def enclosing_run(path: Path) -> Path | None:
    """The stored run ``path`` is, or lies inside (a run is sealed: nothing is written there), or None."""
    resolved = Path(path).resolve()
    return next((folder for folder in (resolved, *resolved.parents) if is_stored_run(folder)), None)


def _holds_runs(folder: Path) -> bool:
    try:
        return folder.is_dir() and any(is_stored_run(p) for p in folder.iterdir())
    except OSError:  # an unreadable folder on the way: not a model's folder that this process can know
        return False


OWNED_FOLDERS = {"signoffs": "the sign-off log and signed reports", "renders": "`auditor render`'s reports",
                 "diffs": "`auditor diff`'s outputs"}


def owned_folder_problem(target: Path, flag: str, own: str) -> str | None:
    """Why ``target`` (``--out`` of a diff, ``--to`` of a render) lies in a folder the records own,
    or None: a model's ``signoffs/`` (and ``renders/`` or ``diffs/``, whichever is not the command's
    ``own``), a folder named like a version (stored or not: a new ``vNNNN/`` holding no run stops
    the model's next run), a staged or salvaged folder (``.tmp-*``, ``.unrendered-*``), or the
    registry's file names in the output folder."""
    resolved = Path(target).resolve()
    for folder in (resolved, *resolved.parents):
        parent = folder.parent
        if parent == folder:
            break
        name = folder.name
        if name.lower().startswith(REGISTRY_FILE) and (parent / REGISTRY_FILE).exists():
            return f"{flag} {target}: {folder} takes a name of the registry {parent / REGISTRY_FILE}; choose another folder"
        if not _holds_runs(parent):
            continue
        if _VERSION.match(name):
            return (f"{flag} {target}: {folder} is named like a version of the model in {parent} and would be taken "
                    "for a run; choose a folder outside the model's versions")
        if name in OWNED_FOLDERS and name != own:
            return (f"{flag} {target}: {folder} holds {OWNED_FOLDERS[name]} of the model in {parent}; nothing else is "
                    f"written there: choose another folder")
        if name.startswith((".tmp-", ".unrendered-")):
            return f"{flag} {target}: {folder} is a folder auditor manages in {parent}; choose another folder"
    return None


def prediction_cache_problem(folder: Path, model_path: Path) -> str | None:
    """Why ``run --prediction-cache FOLDER`` may not hold kept predictions, or None: never a file (nor under one),
    never inside the model's own folder (a file added there changes the model's sha256, which the
    card pins), inside a stored run (sealed) or a folder the records own (:func:`owned_folder_problem`)."""
    resolved, model = Path(folder).resolve(), Path(model_path).resolve()
    if resolved.exists() and not resolved.is_dir():
        return f"--prediction-cache {folder}: is not a folder"
    above = None if resolved.exists() else next((p for p in resolved.parents if p.exists()), None)  # made in it
    if above is not None and not above.is_dir():
        return f"--prediction-cache {folder}: {above} is a file, not a folder: no folder can be made in it"
    if resolved == model or model in resolved.parents or (model.is_file() and resolved == model.parent):
        return (f"--prediction-cache {folder}: is the model's own folder {model.parent if model.is_file() else model}; "
                "a file added there changes the model's sha256: choose a folder outside it")
    if (run := enclosing_run(resolved)) is not None:
        return f"--prediction-cache {folder}: is inside the stored run {run}; a run is sealed and is never modified"
    return owned_folder_problem(resolved, "--prediction-cache", own="")


def check_out_folder(out: Path) -> None:
    """An output folder is neither inside a stored run (a run is sealed) nor a model's own folder
    (its runs would be nested one level too deep, in a second version series), nor a folder the
    records own (:func:`owned_folder_problem`: a new ``vNNNN/`` there stops the model's next run)."""
    resolved = Path(out).resolve()
    if (folder := enclosing_run(resolved)) is not None:
        raise OutputPathError(f"--out {out} is inside the stored run {folder}; a run is sealed and is never "
                              f"modified: pass the output folder that holds the models ({folder.parent.parent})")
    runs = [p.name for p in resolved.iterdir() if is_stored_run(p)] if resolved.is_dir() else []
    if runs:
        held = min(runs) if len(runs) == 1 else f"{min(runs)}…{max(runs)}"
        raise OutputPathError(f"--out {out} is a model's folder (it holds {held}); pass the output "
                              f"folder above it ({resolved.parent}), which holds one folder per model")
    if (problem := owned_folder_problem(resolved, "--out", own="")) is not None:
        raise OutputPathError(problem)


def _output_file_problem(path: Path, registry: Path | None = None) -> str | None:
    """Why a file ``run`` writes once the audit is stored (``--junit``, ``--summary-md``) may not be
    written, or None (what is checked before the run, so that a path no file can be written at ends
    the command before the audit, not after it): never inside a stored run (a run is sealed: `auditor
    verify` would report an added or altered file), never a folder, in a folder that exists and
    takes new files, and an existing path a regular file that can be read (not a device, a FIFO or
    a socket), and never the audit registry (``registry``: its SQLite file, which the run itself may
    create, or a journal of it)."""
    if (folder := enclosing_run(path)) is not None:
        return f"is inside the stored run {folder}; a run is sealed and is never modified"
    if registry is not None and path.resolve() in {registry.resolve().with_name(registry.name + suffix)
                                                   for suffix in ("", "-journal", "-wal", "-shm")}:
        return f"is the audit registry ({registry}), which records every run; choose another path"
    if path.is_dir():
        return "is a folder"
    if not path.parent.is_dir():
        return f"folder {path.parent} does not exist"
    try:  # written after the audit: a folder that refuses files was an internal error once the run was stored
        import tempfile

        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.write-test-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"folder {path.parent} is not writable ({exc.strerror or exc})"
    if not path.exists():
        return None
    if not path.is_file():
        return "exists and is not a regular file (a device, a FIFO or a socket); choose a file path"
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(4096)


def junit_path_problem(path: Path, registry: Path | None = None) -> str | None:
    """Why ``--junit PATH`` may not be written, or None. The file is replaced whole, so it must be
    a new file or an earlier JUnit report: never a folder, a device, a FIFO or a link's target of
    another kind, never a file that is not a JUnit report (the audited dataset, the model, a
    policy), and never inside a stored run (:func:`_output_file_problem`)."""
    if (problem := _output_file_problem(path, registry)) is not None or not path.exists():
        return problem
    head = _head(path)
    if not (head.lstrip().startswith(b"<?xml") and b"<testsuites" in head):
        return "exists and is not a JUnit report this command wrote; it would be replaced: remove it or choose another path"
    return None


def summary_path_problem(path: Path, others: dict[str, Path | None], registry: Path | None = None) -> str | None:
    """Why ``--summary-md PATH`` may not be appended to, or None. Appended to, as GitHub Actions
    appends each step's summary to ``$GITHUB_STEP_SUMMARY``, so an existing file is kept and added
    to: it must be a text file this process may write, and none of the command's other files
    (``others``: option -> path, the audited data, the card, the policy, the waivers, the JUnit
    report); the checks of :func:`_output_file_problem` apply too."""
    if (problem := _output_file_problem(path, registry)) is not None:
        return problem
    for flag, other in others.items():
        if other is not None and _same_file(path, Path(other)):
            return f"is the {flag} file, and the summary would be appended to it: choose another path"
    if not path.exists():
        return None
    try:
        with path.open("ab"):  # opened to append, nothing written
            pass
    except OSError as exc:
        return f"cannot be appended to ({exc.strerror or exc})"
    if b"\0" in _head(path):
        return "exists and is not a text file (a model, a dataset?); the summary would be appended to it: choose another path"
    return None


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)  # a hard link
    except OSError:
        return False


def claim_model_dir(out: Path, model_name: str) -> Path:
    """:func:`model_dir`, refusing a folder whose runs belong to another model name (a folder
    written before slugs were collision-free, or one that differs only in case on a
    case-insensitive file system): two models never share a version series or a hash chain.
    Also refused: a newest entry named like a version that is not a run with a readable manifest
    (a folder made by hand, a stray file, a run whose manifest.json was removed: a new run would be
    chained to it without its hash, and `auditor verify` would report the chain broken)."""
    check_out_folder(out)
    folder = model_dir(out, model_name)
    top = taken_versions(folder)
    if not top:
        return folder
    newest = folder / version_label(top)
    if problem := _not_a_run(newest):
        raise OutputPathError(
            f"{newest} is named like a version but {problem}, so it is not a run auditor wrote; the next run would be "
            "chained to it. Move or rename it, then run again")
    try:
        owner = loads((newest / "result.json").read_text(encoding="utf-8"))["model"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        owner = None
    if isinstance(owner, str) and owner != model_name:
        raise OutputPathError(
            f"the folder {folder} holds the runs of model {owner!r}, not {model_name!r}; two models never share "
            f"a version series: rename the model in its card or choose another --out")
    return folder


def _not_a_run(entry: Path) -> str | None:
    """Why the entry ``entry`` cannot be the previous run a new run is chained to, or None."""
    if not entry.is_dir():
        return "is not a folder (a file or a link)"
    if not (entry / "manifest.json").exists():
        return "holds no manifest.json"
    try:
        with open(entry / "manifest.json", "rb"):
            return None
    except OSError as exc:
        return f"its manifest.json cannot be read ({exc.strerror or exc})"


def versions(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _VERSION.match(p.name)) and p.is_dir())


def taken_versions(folder: Path) -> int:
    """The highest version number an entry of ``folder`` is named for, 0 when none: a run's folder,
    or a file or link (broken or not) in the way of one; a new run is never given such a name."""
    try:
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    except OSError:
        return 0
    return max((int(m.group(1)) for name in names if (m := _VERSION.match(name))), default=0)


_SIGNED = re.compile(r"^v(\d{4,})(\.jsonl)?$")


def signed_versions(folder: Path) -> int:
    """The highest version a sign-off was recorded for in the model's ``signoffs/`` (its log
    ``vNNNN.jsonl`` or its signed reports ``vNNNN/``), 0 when none. Such a number stays taken even
    when its run folder was deleted and the registry rebuilt without it: a new run given it would
    inherit the old run's sign-offs (and fail verification against them)."""
    signoffs = folder / "signoffs"
    try:
        names = [p.name for p in signoffs.iterdir()] if signoffs.is_dir() else []
    except OSError:
        return 0
    return max((int(m.group(1)) for name in names if (m := _SIGNED.match(name))), default=0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp(folder: Path) -> None:
    """Remove the temporary folders of writers that are gone: of this machine and PID namespace, whose
    process is not running; of another (a shared output folder: a process id here says nothing of a
    writer there, which may be writing its run now), once a day old."""
    import time

    from auditor.records.atomic import process_space

    if not folder.is_dir():
        return
    for p in folder.iterdir():
        m = _TMP.match(p.name)
        if not m:
            continue
        if m.group(2) is not None and m.group(2) != process_space():
            try:
                stale = time.time() - p.lstat().st_mtime > STALE_ELSEWHERE_S
            except OSError:
                continue
        else:
            stale = int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))
        if stale:
            shutil.rmtree(p, ignore_errors=True)


def write_run(out: Path, model_name: str, build: Callable[[str], dict[str, bytes]], *, after: int = 0) -> Path:
    """Write a new version. ``build(version_label)`` returns the run's files (relative path -> bytes);
    it is called again with the next label if another writer took this one first. ``after``: the
    highest version the registry has recorded for the model; a number is never given twice, so a
    deleted version folder leaves a gap its successor's hash chain names, not a replacement (a
    number with sign-offs stays taken without the registry too: :func:`signed_versions`)."""
    folder = claim_model_dir(out, model_name)
    # the folders this run makes: removed again (if still empty) when it stores nothing, so that an
    # interrupted or refused first run leaves no empty --out/<model>/ behind
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, folder, "no version") from None
    stored = False
    try:
        remove_stale_temp(folder)
        after = max(after, signed_versions(folder))
        stored_at = _write_version(folder, build, after)
        stored = True
        return stored_at
    except KeyboardInterrupt as exc:
        stored = getattr(exc, "stored_run", None) is not None
        raise
    finally:
        if not stored:
            for empty in made:  # deepest first; a folder someone else wrote into meanwhile stays
                try:
                    empty.rmdir()
                except OSError:
                    break


def _write_version(folder: Path, build: Callable[[str], dict[str, bytes]], after: int) -> Path:
    try:
        for _ in range(MAX_VERSION_ATTEMPTS):
            label = version_label(max(taken_versions(folder), after) + 1)
            files = None
            try:
                with staged_folder(folder) as tmp:
                    files = build(label)
                    write_tree(tmp, files)
                    try:
                        published = publish_folder(tmp, folder / label)
                    except OSError as exc:  # whatever the cause (EBUSY, EMLINK, ...): the run cannot be stored there
                        raise output_error(exc, folder, "no version") from None
                    if published:
                        return folder / label
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: was it before or after the rename?
                if files is not None and _holds(folder / label, files):
                    exc.stored_run, exc.registered = folder / label, False  # the registry is written after
                raise
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise output_error(exc, folder, "no version") from None
        raise
    raise RuntimeError(f"could not allocate a version under {folder}")


def _holds(version: Path, files: dict[str, bytes]) -> bool:
    """Whether the version folder holds exactly the manifest this writer staged (the manifest names
    the run's id: another writer's run never matches)."""
    try:
        return "manifest.json" in files and (version / "manifest.json").read_bytes() == files["manifest.json"]
    except OSError:
        return False


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
    data = loads(body)
    data["files"] = dict(sorted({**data["files"], rel: sha256_bytes(content)}.items()))
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def manifest_without_file(body: bytes, rel: str) -> bytes:
    """The manifest ``body`` without the hash of ``rel``: what a file can carry about its own run
    (a file cannot contain its own hash)."""
    data = loads(body)
    data["files"].pop(rel, None)
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
