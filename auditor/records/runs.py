"""Reading stored runs: the run directories are the record of truth for history, diff, sign-off,
verify and the registry (which is only an index of them).

Layout, under an output folder::

    <out>/<model-slug>/v0001/                 an immutable run (result.json, manifest.json, ...)
    <out>/<model-slug>/signoffs/v0001.jsonl   append-only sign-off records of v0001
    <out>/<model-slug>/signoffs/v0001/        report-signed-<n>.pdf, one per sign-off
    <out>/<model-slug>/diffs/v0001-vs-v0002/  diff.json, diff.html, diff.pdf
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from auditor.errors import Problem, ResultFileError, UsageError
from auditor.hashing import sha256_bytes
from auditor.records.store import REGISTRY_FILE, versions
from auditor.records.json_read import loads

if TYPE_CHECKING:  # the schema imports pydantic: history and due read runs without it
    from auditor.results import AuditResult

VERSION_RE = re.compile(r"^v(\d{4,})\Z")  # \Z: a folder "v0002<LF>" is no version ($ matches before a final LF)
# The default registry inside an output folder, the variable naming another, and its table of runs
# (auditor/records/registry.py); here so that `verify`, `history` and `due` can read it without
# importing SQLAlchemy.
DEFAULT_DB_NAME = REGISTRY_FILE
ENV_DB = "AUDITOR_DB"
RUNS_TABLE = "auditor_runs"
# runs a rebuild found gone (their folders deleted): numbers never given again, gaps `auditor verify` names
RETIRED_TABLE = "auditor_retired_versions"


@dataclass(frozen=True)
class Run:
    """One stored run, read from its directory (plain JSON: no schema validation, so old runs and
    altered runs can still be read, compared and verified)."""

    path: Path

    @cached_property
    def result(self) -> dict[str, Any]:
        """result.json as a mapping; one that is not JSON, or not an object, is a ResultFileError."""
        source = self.path / "result.json"
        try:
            data = loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ResultFileError(str(source), [Problem("", f"not readable as JSON ({str(exc).splitlines()[0]})")]) from None
        if not isinstance(data, dict):
            raise ResultFileError(str(source), [Problem("", f"expected a JSON object, got {type(data).__name__}")])
        return data

    def audit_result(self) -> "AuditResult":
        """:attr:`result` held to the result schema: a field an edit mangled (a status 'excellent',
        checks that are not a list) is a ResultFileError naming it, as ``auditor render`` says."""
        from pydantic import ValidationError

        from auditor.inputs.validation import pydantic_problems
        from auditor.results import AuditResult

        try:
            return AuditResult.model_validate(self.result)
        except ValidationError as exc:
            raise ResultFileError(str(self.path / "result.json"), pydantic_problems(exc, from_yaml=False)) from None

    @cached_property
    def manifest_bytes(self) -> bytes | None:
        p = self.path / "manifest.json"
        try:
            return p.read_bytes() if p.is_file() else None
        except OSError as exc:  # another user's file in a shared folder
            raise ResultFileError(str(p), [Problem("", f"cannot be read ({exc.strerror or type(exc).__name__})")]) from None

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """manifest.json as written: a JSON object whose ``files`` maps each path to its sha256 ({}
        when there is none); anything else is a :class:`ResultFileError` naming manifest.json."""
        if not self.manifest_bytes:
            return {}
        try:
            body = loads(self.manifest_bytes)
        except ValueError as exc:  # a UnicodeDecodeError too
            raise ResultFileError(str(self.path / "manifest.json"), [Problem("", f"not JSON ({exc})")]) from None
        files = body.get("files") if isinstance(body, dict) else None
        if not (isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
            raise ResultFileError(str(self.path / "manifest.json"), [Problem(
                "files", "not a manifest: it must be a JSON object whose files map each path to its sha256")])
        inputs = body.get("inputs", {})
        if not (isinstance(inputs, dict) and all(isinstance(v, dict) for v in inputs.values())):
            raise ResultFileError(str(self.path / "manifest.json"), [Problem(
                "inputs", "not a manifest's inputs: each input must be an object with its path and sha256")])
        return body

    @property
    def manifest_sha256(self) -> str | None:
        return sha256_bytes(self.manifest_bytes) if self.manifest_bytes is not None else None

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def version_number(self) -> int:
        m = VERSION_RE.match(self.path.name)
        return int(m.group(1)) if m else 0

    @property
    def model_dir(self) -> Path:
        return self.path.parent

    @property
    def model(self) -> str:
        return self.result.get("model", {}).get("name", self.model_dir.name)

    @property
    def created_at(self) -> str:
        return self.result.get("created_at", "")

    @property
    def label(self) -> str:
        return f"{self.model} {self.version}"


def open_run(path: str | Path) -> Run:
    path = Path(path).resolve()
    if not (path / "result.json").is_file():
        if VERSION_RE.match(path.name) and (path / "manifest.json").is_file():  # stored, then altered
            raise ResultFileError(str(path), [Problem("result.json", "missing: a stored run (it has its manifest.json) "
                                                                     "without its result.json; `auditor verify` names "
                                                                     "what was altered")])
        raise UsageError(f"{path} is not a run directory (no result.json){_versions_hint(path)}")
    if not VERSION_RE.match(path.name):
        raise UsageError(f"{path} is not a stored run: its folder name is not a version (v0001, v0002, ...)")
    return Run(path)


def _versions_hint(path: Path) -> str:
    """"; it is a model folder: ..." naming its newest version, where ``path`` holds stored versions (a
    reviewer gave the model's folder, not a run's), else ""."""
    try:  # a folder named like a version that is no run (signoffs/v0001 holds a run's signed reports) is not offered
        versions = [v for v in run_dirs(path) if (v / "result.json").is_file() or (v / "manifest.json").is_file()] \
            if path.is_dir() else []
        if not versions and path.name == "signoffs" and path.parent.is_dir():  # the sign-offs of a model's runs
            runs = [v for v in run_dirs(path.parent) if (v / "result.json").is_file()]
            return (f"; it holds the sign-offs of the runs of {path.parent}: give a run, e.g. the newest, {runs[-1]}"
                    if runs else "")
    except OSError:
        return ""
    if not versions:
        return ""
    if len(versions) == 1:
        return f"; it is a model's folder of 1 version: give it, {versions[0]}"
    return f"; it is a model's folder of {len(versions)} versions: give one of them, e.g. the newest, {versions[-1]}"


def run_dirs(model_dir: Path) -> list[Path]:
    """The versions of one model, oldest first."""
    return [model_dir / f"v{n:04d}" for n in versions(model_dir)]


def previous_run(run: Run) -> Run | None:
    """The newest stored run of the same model older than ``run``."""
    older = [p for p in run_dirs(run.model_dir) if VERSION_RE.match(p.name) and int(p.name[1:]) < run.version_number]
    return open_run(older[-1]) if older else None  # one whose result.json is gone is named, not passed over


def iter_runs(out: str | Path) -> Iterator[Run]:
    """Every stored run under an output folder, by model folder then version."""
    out = Path(out)
    if not out.is_dir():
        return
    for model_dir in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in run_dirs(model_dir):
            if (path / "result.json").is_file():
                yield Run(path.resolve())


# --- sign-off records (written by auditor.records.signoff, read here so the registry needs no renderer) ---

def signoff_log(run: Run) -> Path:
    return run.model_dir / "signoffs" / f"{run.version}.jsonl"


def signed_dir(run: Run) -> Path:
    return run.model_dir / "signoffs" / run.version


def utf8_text(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: a command-line argument of another encoding, or a
    record's ``\\ud800`` escape, reads as a lone surrogate, which UTF-8 cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def record_is_text(record: dict[str, Any]) -> bool:
    """Whether a sign-off record read from its log can be written again: a ``\\ud800`` escape edited
    into it reads as a lone surrogate, which no hash, signature or page can take."""
    return utf8_text(json.dumps(record, ensure_ascii=False))


def record_line(record: dict[str, Any]) -> bytes:
    """One sign-off record as a line of the append-only log (and as embedded in its signed PDF)."""
    return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def read_signoffs(run: Run) -> list[dict[str, Any]]:
    """The sign-off records of a run; a log with a line that is not a JSON object is a
    ResultFileError (`auditor verify` says which record)."""
    path = signoff_log(run)
    if not path.is_file():
        return []
    records, i = [], 0
    try:
        # one record a line, split at LF bytes as the log is written and verified: a comment's U+2028 or NEL,
        # written as itself, ends a line for str.splitlines but not for the log
        for i, line in enumerate((ln for ln in path.read_bytes().splitlines() if ln.strip()), start=1):
            record = loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if not record_is_text(record):
                raise ValueError("holds a lone surrogate escape, which is no text")
            records.append(record)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError too
        where = f"record {i}" if i else "the file"
        raise ResultFileError(str(path), [Problem(where, f"not a readable sign-off log ({str(exc).splitlines()[0]})")]) from None
    return records


def latest_signoff(run: Run) -> dict[str, Any] | None:
    records = read_signoffs(run)
    return records[-1] if records else None


def signoff_line_sha256(run: Run, n: int | None = None) -> str | None:
    """sha256 of record ``n``'s line of the sign-off log (as ``previous_record_sha256`` hashes it;
    default the latest); None when the log holds no such record."""
    path = signoff_log(run)
    lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()] if path.is_file() else []
    n = len(lines) if n is None else n
    return sha256_bytes(lines[n - 1] + b"\n") if 1 <= n <= len(lines) else None


# --- dates ----------------------------------------------------------------------------------------

def parse_date(text: str, what: str = "date") -> date:
    try:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", text):  # inputs.validation.ISO_DAY (not imported: it imports pydantic)
            raise ValueError(text)
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a date as YYYY-MM-DD, got {text!r}") from None


def parse_moment(text: str) -> datetime | None:
    """An ISO timestamp from a result or record, as an aware UTC datetime (None if unreadable)."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01 east of UTC is before the first day a datetime holds
        return None


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
