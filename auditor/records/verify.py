"""`auditor verify RUN`: recompute every hash of a run and its links in the hash chain, and name
what was altered.

What is checked:

- every file listed in manifest.json against its sha256 (altered / missing), and files in the run
  directory that the manifest does not list (added);
- manifest.json against result.json (same run id and version) and against its folder name;
- the chain: the sha256 of the previous version's manifest.json recorded in this manifest, and the
  hash of this manifest recorded by the next version, if there is one (so an edit that rewrote both
  a file and its manifest line is still caught by the neighbours); a run copied alone (no other run
  of the model, no registry beside it) has no neighbour here, and that link is reported unchecked;
- the files embedded in report.pdf (result.json, and the manifest without the PDF's own line)
  against the run's files;
- the run's sign-off log (next to the run): its record chain, and the signed PDFs' hashes;
- each sign-off's Ed25519 signature against the public keys registered in the output folder's
  registry (auditor/records/signatures.py): a signature that does not match, or by a key the
  registry does not know, is a finding; an unsigned sign-off is noted as unsigned. A signature whose
  ``signed_at`` is at or after its key's revocation (`auditor keys revoke`) is a finding; one made
  before it is valid, and said to be by a key revoked later.
"""

from __future__ import annotations

import errno

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import ResultFileError, UsageError
from auditor.records.runs import (DEFAULT_DB_NAME, ENV_DB, RETIRED_TABLE, RUNS_TABLE, VERSION_RE, Run, open_run,
                                  read_signoffs, record_line, record_is_text, signed_dir, signoff_line_sha256,
                                  signoff_log, parse_moment)
from auditor.hashing import sha256_bytes
from auditor.records.store import cleaned_name, manifest_without_file, slugify, version_label, versions
from auditor.records.json_read import loads


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the run directory (or the neighbour's manifest)
    problem: str  # altered | missing | unreadable | added | chain | mismatch | signature | revoked key
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem} — {self.detail}"


@dataclass(frozen=True)
class Verification:
    run: Path
    checked_files: int
    findings: list[Finding]
    signatures: list[str] = field(default_factory=list)  # one line per sign-off: signed by which key, or unsigned
    unchecked: list[str] = field(default_factory=list)  # what could not be checked here, and why (a run copied alone)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_run(run_dir: str | Path, db: str | None = None) -> Verification:
    """``db``: the registry holding the signing keys (default: the output folder's). A ``db`` that
    cannot be read is a :class:`~auditor.records.registry.RegistryError` (exit 2): the caller's
    mistake, not an altered audit (a default registry beside the run that cannot be read is a finding)."""
    folder = Path(run_dir).resolve()
    if db:
        from auditor.records.registry import check_recordable

        check_recordable(folder.parent.parent, db, read_only=True, foreign=CANNOT_CHECK)
    if VERSION_RE.match(folder.name) and (folder / "manifest.json").is_file() and not (folder / "result.json").is_file():
        # a stored run whose result.json was deleted (or replaced by a folder): altered (exit 1), not "not a run
        # directory" (a usage error) nor an unreadable result (invalid input)
        return Verification(folder, 0, [Finding("result.json", "missing", "a stored run (it has its manifest.json) "
                                                                           "without its result.json file")])
    run = open_run(run_dir)
    findings: list[Finding] = []
    if run.manifest_bytes is None:
        return Verification(run.path, 0, [Finding("manifest.json", "missing", "the run has no manifest; nothing can be verified")])
    try:
        body = run.manifest
        listed: dict[str, str] = dict(body["files"])
    except (ResultFileError, KeyError):
        return Verification(run.path, 0, [Finding("manifest.json", "altered", "not a readable manifest: it must be a "
                                                                              "JSON object whose files map each path "
                                                                              "to its sha256")])
    if (run.path / "manifest.json").is_symlink():  # its target can change under it, as any listed file's
        findings.append(Finding("manifest.json", "altered", "a link where the run wrote a file"))

    for rel, expected in sorted(listed.items()):
        path = run.path / rel
        try:
            path.lstat()
        except ValueError:  # a NUL in the name
            findings.append(Finding(rel, "altered", "not a path the run can hold (a NUL character)"))
            continue
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # a name too long for the system, say
                findings.append(Finding(rel, "altered", f"not a path the run can hold ({exc.strerror or type(exc).__name__})"))
                continue
        if path.is_symlink():
            findings.append(Finding(rel, "altered", "a link where the run wrote a file"))
        elif not _inside(run.path, path):
            findings.append(Finding(rel, "altered", "the manifest lists a path outside the run directory"))
        elif not path.is_file():
            findings.append(Finding(rel, "missing", "listed in manifest.json but not in the run directory"))
        else:
            try:
                actual = sha256_bytes(path.read_bytes())
            except OSError as exc:  # another user's file in a shared folder: a finding, not an internal error
                findings.append(Finding(rel, "unreadable", f"cannot be read ({exc.strerror or type(exc).__name__}): "
                                                           "nothing shows it is what the run wrote"))
                continue
            if actual != expected:
                findings.append(Finding(rel, "altered", f"sha256 {actual[:16]}… but the manifest recorded {str(expected)[:16]}…"))
    for rel, kind in _unlisted(run.path, listed):
        findings.append(Finding(rel, "added", f"{kind} in the run directory but not in manifest.json"))

    findings += _identity(run, body)
    chain = _chain(run, body)
    unchecked = []
    if chain and chain[0].problem == "missing" and _copied_alone(run):
        # a reviewer sent one run folder: the previous run is not missing from the store, only not here
        unchecked.append(f"the link to {version_label(run.version_number - 1)}: {chain[0].path} is not beside this "
                         "run, which stands alone (no other run of the model, no registry): a consistently rewritten "
                         "manifest is caught only where the previous run is, in the output folder or its registry (--db)")
        chain = chain[1:]
    findings += chain
    if (foreign := _foreign_folder(run)) is not None:
        name, own = foreign
        if _copied_alone(run):  # sent to a reviewer: it may lie in any folder
            unchecked.append(f"its model's folder: it lies in {run.model_dir.name}/, not in {own}/ where the runs of "
                             f"model {name!r} are kept, alone (a copy of one run)")
        else:
            findings.append(Finding("..", "mismatch", f"this is a run of model {name!r}, whose runs auditor keeps in the "
                                    f"folder {own}/, but it lies in {run.model_dir.name}/: the model's folder was renamed, "
                                    "or the run moved there (its registry rows and the model's next audit look for it in "
                                    "its own folder): rename it back"))
    findings += _pdf_attachments(run, listed)
    for step in (_signoffs, lambda r: _registry(r, unchecked), lambda r: _named_registry(r, db)):
        findings += [f for f in _or_unreadable(run, step) if f not in findings]
    try:
        signature_findings, signatures = _signatures(run, db)
    except OSError as exc:
        signature_findings, signatures = [_unreadable(run, exc)], []
    findings += [f for f in signature_findings if f not in findings]
    return Verification(run.path, len(listed) + 1, findings, signatures, unchecked)


def _or_unreadable(run: Run, step) -> list[Finding]:
    """``step(run)``'s findings; a sign-off log or signed report it cannot read (another user's, in a
    shared folder) is a finding, not an internal error."""
    try:
        return step(run)
    except OSError as exc:
        return [_unreadable(run, exc)]


def _unreadable(run: Run, exc: OSError) -> Finding:
    where = Path(exc.filename) if exc.filename else signoff_log(run)
    return Finding(os.path.relpath(where, run.path), "unreadable", f"cannot be read ({exc.strerror or type(exc).__name__}): "
                                                                   "the run's sign-offs cannot be verified")


def _copied_alone(run: Run) -> bool:
    """The run's folder holds no other run of the model and sits beside no registry and no sign-offs:
    a copy of one run, not an output folder a previous run was taken from."""
    siblings = [p for p in run.model_dir.iterdir() if VERSION_RE.match(p.name) and p.name != run.path.name]
    return not siblings and not (run.model_dir.parent / DEFAULT_DB_NAME).exists() and not (run.model_dir / "signoffs").exists()


def _unlisted(root: Path, listed: dict[str, str]) -> list[tuple[str, str]]:
    """Every entry under ``root`` the manifest does not account for, with what it is: files, and also
    links (followed nowhere), folders that hold no listed file, and special files (a sealed run holds
    nothing else)."""
    needed = {"manifest.json", *listed}
    needed |= {str(parent) for rel in listed for parent in Path(rel).parents if str(parent) != "."}
    out = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs) + sorted(files):
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if rel in needed:  # a listed file that became a link is named by the manifest's loop
                continue
            kind = ("a link" if path.is_symlink() else "a folder" if path.is_dir() else
                    "a file" if path.is_file() else "a special file")
            out.append((rel, kind))
    return sorted(out)


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):  # outside, or not a path at all (a NUL byte, a loop)
        return False


def _identity(run: Run, body: dict) -> list[Finding]:
    out = []
    if body.get("version") != run.version:
        out.append(Finding("manifest.json", "mismatch", f"records version {body.get('version')!r} but the folder is {run.version}"))
    try:
        result = run.result
    except ResultFileError:
        return out  # result.json unreadable: already reported as altered by its hash
    if result.get("run_id") != body.get("run_id"):
        out.append(Finding("result.json", "mismatch", "run id differs from manifest.json"))
    if result.get("version") != run.version:
        out.append(Finding("result.json", "mismatch", f"records version {result.get('version')!r} but the folder is {run.version}"))
    return out


def _foreign_folder(run: Run) -> tuple[str, str] | None:
    """The run's model name and the folder auditor keeps its runs in, where the run lies in another."""
    try:
        model = run.result.get("model") if isinstance(run.result.get("model"), dict) else {}
    except ResultFileError:
        return None
    name = model.get("name")
    if not isinstance(name, str) or not name or run.model_dir.name in _model_folders(name):
        return None
    return name, slugify(name)


def _model_folders(name: str) -> tuple[str, ...]:
    """The folder names a model's runs are kept in: :func:`slugify`'s, and the cleaned name alone, which
    versions before the 8 hex digits of the name's sha256 were appended to an unsafe name gave it."""
    return (slugify(name), cleaned_name(name))


def _chain(run: Run, body: dict) -> list[Finding]:
    out = []
    n = run.version_number
    link = body.get("previous")
    if n > 1:
        prev = run.model_dir / version_label(n - 1) / "manifest.json"
        if not isinstance(link, dict) or "manifest_sha256" not in link:
            out.append(Finding("manifest.json", "chain", f"no link to the previous run {version_label(n - 1)} (written before hash chains, or removed)"))
        elif link.get("version") != version_label(n - 1):
            out.append(Finding("manifest.json", "chain", f"links to {link.get('version')!r}, expected {version_label(n - 1)}"))
        elif not prev.is_file():
            out.append(Finding(f"../{version_label(n - 1)}/manifest.json", "missing", "the previous run's manifest is gone"))
        elif link["manifest_sha256"] is None:
            out.append(Finding("manifest.json", "chain", f"{version_label(n - 1)} had no manifest when this run was written"))
        elif (actual := _sha256_or_none(prev)) is None:
            out.append(Finding(f"../{version_label(n - 1)}/manifest.json", "unreadable",
                               "the previous run's manifest cannot be read: the link to it cannot be checked"))
        elif actual != link["manifest_sha256"]:
            out.append(Finding(f"../{version_label(n - 1)}/manifest.json", "chain",
                               f"altered since {run.version} was written (sha256 {actual[:16]}…, recorded {str(link['manifest_sha256'])[:16]}…)"))
    elif link is not None:
        out.append(Finding("manifest.json", "chain", "the first run of a model links to a previous run"))
    nxt = run.model_dir / version_label(n + 1) / "manifest.json"
    if nxt.is_file():
        try:
            link = loads(nxt.read_bytes()).get("previous") or {}
            recorded, linked = link.get("manifest_sha256"), link.get("version")
        except (ValueError, AttributeError, TypeError, OSError):  # not JSON, not the shape of a manifest, unreadable
            recorded = linked = None
        if recorded is not None and linked != run.version:  # not this run's successor: that folder's finding
            out.append(Finding(f"../{version_label(n + 1)}/manifest.json", "chain",
                               f"links to {linked!r}, not to {run.version}: the next run's folder was renamed, swapped or "
                               "replaced, so it cannot vouch for this run"))
        elif recorded is not None and recorded != run.manifest_sha256:
            out.append(Finding("manifest.json", "chain",
                               f"altered since {version_label(n + 1)} was written (it recorded sha256 {str(recorded)[:16]}…)"))
    return out


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_bytes(path.read_bytes())
    except OSError:
        return None


def _pdf_attachments(run: Run, listed: dict[str, str]) -> list[Finding]:
    pdf = run.path / "report.pdf"
    if not pdf.is_file():
        return []
    try:
        embedded = embedded_files(pdf.read_bytes())
        result = run.path / "result.json"
        result_bytes = result.read_bytes() if result.is_file() else None
    except OSError:  # named unreadable by the manifest's loop
        return []
    out = []
    if "result.json" in embedded and result_bytes is not None and embedded["result.json"] != result_bytes:
        out.append(Finding("report.pdf", "mismatch", "the result.json embedded in the PDF differs from the run's result.json"))
    if "manifest.json" in embedded and run.manifest_bytes is not None:
        if embedded["manifest.json"] != manifest_without_file(run.manifest_bytes, "report.pdf"):
            out.append(Finding("report.pdf", "mismatch", "the manifest embedded in the PDF differs from the run's manifest.json"))
    return out


def _registry(run: Run, unchecked: list[str]) -> list[Finding]:
    """The default registry next to the run's model folder (``<out>/audits.sqlite``), read-only:
    its row for this run must record the run's manifest hash. A registry that is absent says nothing
    (it is an index, rebuilt from the folders); one without a row for the run is named in ``unchecked``:
    its row was the newest version's one anchor (a consistent rewrite of the run, with its row removed,
    had verified OK saying nothing of it).

    Read with the standard library's ``sqlite3`` (the default registry is always SQLite): one
    SELECT does not need SQLAlchemy, whose import is most of `verify`'s start-up."""
    import sqlite3

    from auditor.records.sqlite_reader import connect_read_only, is_busy

    file = run.model_dir.parent / DEFAULT_DB_NAME
    if not file.is_file() or file.stat().st_size == 0:
        return []
    try:
        conn = connect_read_only(file)
        try:
            rows = conn.execute(f"SELECT manifest_sha256, signoff_count, {_signoff_columns(conn)} FROM {RUNS_TABLE} WHERE run_path = ?",
                                (str(run.path),)).fetchall()
            moved_from = None
            if not rows:  # the output folder was moved (or copied) with its registry: rows name the old paths
                rows, moved_from = _rows_before_a_move(conn, run)
            if not rows:
                unchecked.append(f"the registry's row of it: ../../{DEFAULT_DB_NAME} has none (a run stored while its "
                                 "registry write failed, or a row removed), so the manifest hash and sign-off count it "
                                 "would record were not compared; the model's next run indexes a run stored unindexed")
            # later runs of the model the registry remembers: where this is the newest folder, one whose
            # folder is gone was deleted, and no later run's chain names the gap
            later = [] if moved_from or max(versions(run.model_dir), default=0) > run.version_number else \
                _later_runs(conn, run)
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeError) as exc:  # a damaged page can also fail to decode as UTF-8
        if is_busy(exc):  # in use by another process: nothing is known to be altered
            raise UsageError(f"the registry {file} is in use by another process ({exc}); nothing was checked against "
                             "it: try again once it finishes") from None
        return [Finding(f"../../{DEFAULT_DB_NAME}", "altered", f"the registry cannot be read ({(str(exc) or type(exc).__name__).splitlines()[0]}); "
                        "`auditor history --rebuild` rebuilds it from the run folders")]
    out = [Finding(f"../{version}", "missing", f"the registry records a later run of this model, {version}, whose folder "
                                               "is gone (deleted?): this run is not the model's newest audit")
           for version, path in later if not Path(str(path)).exists()]
    log = signoff_log(run)
    held = len([ln for ln in log.read_bytes().splitlines() if ln.strip()]) if log.is_file() and rows else 0
    for recorded, signoffs, *latest in rows:
        out += _latest_signoff_recorded(run, log, signoffs, latest)
        if recorded != run.manifest_sha256:
            where = f" (indexed as {moved_from}, before the output folder was moved or copied)" if moved_from else ""
            out.append(Finding(f"../../{DEFAULT_DB_NAME}", "mismatch",
                               f"the registry records manifest sha256 {str(recorded)[:16]}… for this run{where}, the run has "
                               f"{str(run.manifest_sha256)[:16]}…"))
        # sign-offs are only ever appended: a log with fewer than the registry counted lost records
        if isinstance(signoffs, int) and signoffs > held:
            out.append(Finding(f"../{log.relative_to(run.model_dir)}", "missing",
                               f"the registry counted {signoffs} sign-off record{'s' * (signoffs != 1)} for this run, the "
                               f"log holds {held}: records were removed"))
    return out


SIGNOFF_COLUMNS = ("signoff_decision", "signoff_reviewer", "signoff_at", "signoff_valid_until", "signoff_record_sha256")
SIGNOFF_FIELDS = ("decision", "reviewer", "signed_at", "valid_until")


def _signoff_columns(conn) -> str:
    """:data:`SIGNOFF_COLUMNS` as a SELECT of ``conn``'s registry can read them: a registry written before
    the record hash was kept has no such column (NULL: nothing recorded, nothing compared)."""
    from auditor.records.sqlite_reader import select_list

    return select_list(conn, SIGNOFF_COLUMNS)


def _latest_signoff_recorded(run: Run, log: Path, count: object, latest: list) -> list[Finding]:
    """The registry row records the run's latest sign-off when it was made (decision, reviewer,
    time, expiry, and the sha256 of its whole line): the log's record of that number must say the
    same. Without this anchor the newest record (which no later record chains to) could be rewritten
    with its signed PDF (a rejection turned into an approval, its conditions or comment changed, a
    signed record replaced by an unsigned one) and verify OK."""
    if not isinstance(count, int) or count < 1:
        return []
    try:
        records = read_signoffs(run)
    except ResultFileError:
        return []  # a record that is not JSON: named by the record chain
    if len(records) < count:
        return []  # records were removed: named by the count
    record, (*fields, line_sha256) = records[count - 1], latest
    shown = [record.get(k) if record.get(k) is None or isinstance(record.get(k), (str, int, float)) else str(record.get(k))
             for k in SIGNOFF_FIELDS]
    differ = [f"{k} {v!r} (the registry recorded {w!r})" for k, v, w in zip(SIGNOFF_FIELDS, shown, fields) if v != w]
    if not differ and line_sha256 is not None and signoff_line_sha256(run, count) != line_sha256:
        differ = [f"its line hashes as {str(signoff_line_sha256(run, count))[:16]}…, the registry recorded "
                  f"{str(line_sha256)[:16]}… (its comment, conditions, signature or signed report's hash changed)"]
    if not differ:
        return []
    return [Finding(f"../{log.relative_to(run.model_dir)}", "mismatch",
                    f"record {count} differs from what the registry recorded when it was made: {'; '.join(differ)}")]


def _named_registry(run: Run, db: str | None) -> list[Finding]:
    """The registry ``--db`` or ``$AUDITOR_DB`` names (a shared one, where `auditor run --db` recorded
    the run; not the default file, which :func:`_registry` reads), through SQLAlchemy: its row for
    this run must record the run's manifest hash, as the default registry's must. Without it a
    consistent rewrite of a model's newest version (no later version links to it) verified OK."""
    named = db or os.environ.get(ENV_DB) or None
    if not named:
        return []
    from auditor.records.registry import (DB_ERRORS, Registry, RegistryError, refuse_foreign, registry_url, runs_table,
                                          shown_url, sqlite_file)

    url = registry_url(run.model_dir.parent, named)
    file = sqlite_file(url)
    if file is not None and file.resolve() == (run.model_dir.parent / DEFAULT_DB_NAME).resolve():
        return []  # the default registry, read by _registry
    label = str(file) if file is not None else shown_url(url)
    if file is not None and not file.is_file():  # a mistyped --db: reading it must not create it
        raise _no_registry(file, "is a folder, not a database file" if file.is_dir() else "does not exist")
    if file is not None and file.stat().st_size == 0:
        raise _no_registry(file, "is an empty file, not a registry")
    if file is not None:  # another application's database: given the tables, it read as OK
        refuse_foreign(url, file, run.model_dir.parent, CANNOT_CHECK, unreadable="passes")  # damaged: a finding below
    import sqlalchemy as sa

    try:
        # read as it is, never written: a registry made before a table or column was added gains it from a
        # command that writes (a verifier may hold read-only credentials of a shared database)
        registry = Registry(url, create=False)
        try:
            # another application's database (a server's, a file: URI) had read as one recording nothing
            rows = None
            if registry.has_table(runs_table):
                columns = registry.columns(runs_table, ("manifest_sha256", "signoff_count", *SIGNOFF_COLUMNS))
                with registry.engine.connect() as conn:
                    rows = conn.execute(sa.select(*columns).where(runs_table.c.run_path == str(run.path))).fetchall()
        finally:
            registry.close()
    except (RegistryError, *DB_ERRORS) as exc:
        return [Finding(label, "altered", f"the registry cannot be read ({(str(exc) or type(exc).__name__).splitlines()[0]})")]
    if rows is None:
        raise _no_registry(label)
    out = [Finding(label, "mismatch", f"the registry records manifest sha256 {str(recorded)[:16]}… for this run, the run "
                                      f"has {str(run.manifest_sha256)[:16]}…")
           for recorded, *_ in rows if recorded != run.manifest_sha256]
    for _, count, *latest in rows:
        out += _latest_signoff_recorded(run, signoff_log(run), count, latest)
    return out


CANNOT_CHECK = "the run cannot be checked against it, and this command never creates one"


def _no_registry(registry: object, what: str | None = None) -> UsageError:
    """The ``--db`` registry cannot check the run: ``what`` it is instead (default: another application's database)."""
    what = what or f"is a database without the audit registry's table {RUNS_TABLE}"
    return UsageError(f"the registry {registry} {what} (a mistyped --db or AUDITOR_DB?); {CANNOT_CHECK}")


def _later_runs(conn, run: Run) -> list[tuple[str, str]]:
    """(version, path) of the runs of ``run``'s model after it that the registry records, those a
    rebuild retired (their folders found gone) included."""
    from auditor.records.sqlite_reader import has_table

    tables = [RUNS_TABLE] + [RETIRED_TABLE] * has_table(conn, RETIRED_TABLE)
    query = " UNION ".join(f"SELECT version, run_path, version_number FROM {t} WHERE model_dir = ? AND version_number > ?"
                           for t in tables)
    rows = conn.execute(query + " ORDER BY version_number", (str(run.model_dir), run.version_number) * len(tables))
    return [(version, path) for version, path, _ in rows.fetchall()]


def _rows_before_a_move(conn, run: Run) -> tuple[list, str | None]:
    """The output folder's own registry's row for ``run`` written before the folder was moved or
    copied (its run_path names the old place): the row of the same model folder and version whose
    run id is the run's, or whose path no longer exists (the folder moved away: the run's id may
    have been rewritten with its files). A row of another output folder that still exists (a
    registry shared through --db) and names another run is not this run's."""
    candidates = conn.execute(f"SELECT run_path, run_id, manifest_sha256, signoff_count, {_signoff_columns(conn)} FROM {RUNS_TABLE} "
                              "WHERE version = ?", (run.version,)).fetchall()
    try:
        result = run.result
    except ResultFileError:
        result = None
    run_id = result.get("run_id") if isinstance(result, dict) else None
    for path, row_id, *row in candidates:
        old = Path(str(path))
        if old.parent.name != run.model_dir.name or old == run.path:
            continue
        try:
            gone = not old.exists()
        except (OSError, ValueError):  # not a path this system can hold
            gone = False
        if (run_id is not None and row_id == run_id) or gone:
            return [tuple(row)], str(old)
    return [], None


def _signoffs(run: Run) -> list[Finding]:
    return [Finding(f"../{path}", "altered", detail) for path, detail in verify_signoffs(run)]


REVOKED_KEY = "revoked key"  # a Finding's problem: a signature made by a key revoked (or expired) by then


def _signatures(run: Run, db: str | None) -> tuple[list[Finding], list[str]]:
    log = signoff_log(run)
    if not log.is_file():
        return [], []
    from auditor.records.accounts import account_named, read_users
    from auditor.records.registry import RegistryError  # SQLAlchemy: only where there are signatures to check
    from auditor.records.signatures import read_keyring

    rel = f"../{log.relative_to(run.model_dir)}"

    try:
        keys, revoked = read_keyring(run.model_dir.parent, db)
        users = read_users(run.model_dir.parent, db)
    except RegistryError as exc:  # the other findings still stand; the signatures cannot be checked
        return [Finding(rel, "signature", f"the signatures cannot be checked: {exc}")], []
    findings, lines, earlier = [], [], []
    for i, line in enumerate([ln for ln in log.read_bytes().splitlines() if ln.strip()], start=1):
        try:
            record = loads(line)
        except ValueError:
            continue  # reported by the record chain
        line = _signature_line(record, i, keys, revoked, earlier, rel, findings)
        user = account_named(users, str(record.get("reviewer", ""))) if isinstance(record, dict) else None
        said = _by_disabled_account(record, user, i, rel, findings) if user is not None else None
        lines.append(f"{line}; {said}" if said else line)
    return findings, lines


DISABLED_ACCOUNT = "disabled account"  # a Finding's problem: a sign-off recorded while its account was disabled
# findings about a sign-off record, not the audit's files: the run may be signed off again (a new decision answers them)
UNTRUSTED_SIGNOFF = (REVOKED_KEY, DISABLED_ACCOUNT)


def _by_disabled_account(record: dict, user, i: int, rel: str, findings: list[Finding]) -> str | None:
    """What verify says of a sign-off by an account disabled since (information: the sign-off stands), or,
    for one recorded while the account was disabled (which `sign-off` refuses), a finding."""
    if record.get("signed_at") and user.disabled_when(str(record["signed_at"])):
        findings.append(Finding(rel, DISABLED_ACCOUNT, f"record {i}: signed off by {user.name} at {record['signed_at']}, "
                                f"while the account was disabled (since {user.disabled_at} by {user.disabled_by}: "
                                f"{user.disabled_reason}); auditor refuses such a sign-off, so it was not recorded by it"))
        return "made while the account was disabled"
    if user.disabled and parse_moment(user.disabled_at) is None:
        return f"the reviewer's account is now {user.state}, a time that does not read (the registry was edited?)"
    if user.disabled:
        return f"made before the reviewer's account was disabled ({user.state}): the sign-off stands"
    return None


def _signature_line(record, i: int, keys, revoked, earlier: list, rel: str, findings: list[Finding]) -> str:
    """What verify says of sign-off ``i``'s signature (adding its finding, if any, to ``findings``)."""
    from auditor.records.signatures import check_signature, revocation_problem

    problem = check_signature(record, keys) if isinstance(record, dict) else "not a record"
    who = f"sign-off #{i} ({record.get('decision')} by {record.get('reviewer')})" if isinstance(record, dict) else f"sign-off #{i}"
    if isinstance(record, dict):
        earlier.append(record)
    if problem is None and (revocation := revoked.get(str(record["signature"]["fingerprint"]))):
        said, finding = revocation_problem(record, revocation, earlier[:-1])
        if finding:  # the record is as it was written, by a key that could no longer vouch for it
            findings.append(Finding(rel, REVOKED_KEY, f"record {i}: {said}"))
            return f"{who}: {said}"
        return f"{who}: signature valid (key {record['signature']['key']}); {said}"  # signed before the revocation
    if problem == "unsigned":
        return f"{who}: unsigned"
    if problem is None:
        return f"{who}: signature valid (key {record['signature']['key']})"
    findings.append(Finding(rel, "signature", f"record {i}: {problem}"))
    return f"{who}: {problem}"


# --- reading our own PDFs ------------------------------------------------------------------------

_FILESPEC = re.compile(rb"/Type /Filespec/F \((?P<name>[^()\\]*)\).*?/EF <</F (?P<obj>\d+) 0 R>>", re.S)
_OBJ = re.compile(rb"(?<![0-9])(\d+) 0 obj\s*<<")


def embedded_files(pdf: bytes) -> dict[str, bytes]:
    """Files embedded in a PDF written by auditor (WeasyPrint/pydyf layout: embedded-file streams
    at top level, file specifications possibly inside compressed object streams). Not a general PDF
    parser: enough to read back what we attached, without a PDF library."""
    streams: dict[int, bytes] = {}
    texts = [pdf]
    for m in _OBJ.finditer(pdf):
        start = m.end()
        head_end = pdf.find(b"stream", start)
        if head_end < 0:
            continue
        head = pdf[start:head_end]
        if b"endobj" in head:
            continue  # an object without a stream
        body_start = head_end + len(b"stream")
        body_start += 2 if pdf[body_start:body_start + 2] == b"\r\n" else 1
        length = re.search(rb"/Length (\d+)", head)
        raw = pdf[body_start:body_start + int(length.group(1))] if length else b""
        if b"/FlateDecode" in head:
            try:
                raw = zlib.decompress(raw)
            except zlib.error:
                continue
        if b"/Type /EmbeddedFile" in head:
            streams[int(m.group(1))] = raw
        elif b"/Type /ObjStm" in head:
            texts.append(raw)
    files = {}
    for text in texts:
        for spec in _FILESPEC.finditer(text):
            obj = int(spec.group("obj"))
            if obj in streams:
                files[spec.group("name").decode("latin-1")] = streams[obj]
    return files


def verify_signoffs(run: Run) -> list[tuple[str, str]]:
    """Problems in a run's sign-off log: broken record chain, signed PDFs altered or missing, a
    record that differs from the copy embedded in its signed PDF, or a record about another state
    of the run. Returns (path relative to the model folder, detail)."""
    log = signoff_log(run)
    rel = str(log.relative_to(run.model_dir))
    signed = sorted(signed_dir(run).glob("report-signed-*.pdf")) if signed_dir(run).is_dir() else []
    if not log.is_file():
        return [(rel, f"missing, but {len(signed)} signed report{'s' * (len(signed) != 1)} of this run exist "
                      f"(the sign-off log was deleted)")] if signed else []
    out = []
    records = [ln for ln in log.read_bytes().splitlines() if ln.strip()]
    if len(records) < len(signed):
        out.append((rel, f"{len(records)} record{'s' * (len(records) != 1)} but {len(signed)} signed reports of this run "
                         f"exist (the log was emptied or cut)"))
    for path in signed:  # a signed report beyond the log's records: its record was removed
        number = path.stem.rsplit("-", 1)[-1]
        if not (number.isdigit() and 1 <= int(number) <= len(records)):
            out.append((str(path.relative_to(run.model_dir)), "a signed report that no record of the log names"))
    previous = None
    for i, line in enumerate(records, start=1):
        try:
            record = loads(line)
        except ValueError:
            out.append((rel, f"record {i} is not JSON"))
            previous = line
            continue
        if not isinstance(record, dict):
            out.append((rel, f"record {i} is not a JSON object"))
            previous = line
            continue
        if not record_is_text(record):  # a \ud800 escape: a run never writes one
            out.append((rel, f"record {i} holds a lone surrogate escape, which is no text (the log was edited)"))
            previous = line
            continue
        expected = sha256_bytes(previous + b"\n") if previous is not None else None
        if record.get("previous_record_sha256") != expected or record.get("n") != i:
            out.append((rel, f"record {i} does not follow record {i - 1} (the log was edited)"))
        if record.get("manifest_sha256") != run.manifest_sha256:
            out.append((rel, f"record {i} signed a different manifest.json than the run has now"))
        # every sign-off writes its signed report and names it: a record without it (its name and hash
        # deleted) would escape the comparison with the copy embedded in that report
        own = str((signed_dir(run) / f"report-signed-{i}.pdf").relative_to(run.model_dir))
        pdf = run.model_dir / str(record.get("signed_pdf", ""))
        if record.get("signed_pdf") != own:
            out.append((rel, f"record {i} does not name its signed report {own} (every sign-off writes one; the log "
                             "was edited)"))
        if record.get("signed_pdf"):
            if not pdf.is_file():
                out.append((record["signed_pdf"], "missing"))
            elif sha256_bytes(content := pdf.read_bytes()) != record.get("signed_pdf_sha256"):
                out.append((record["signed_pdf"], "altered since it was signed"))
            else:
                embedded = embedded_files(content).get("signoff.json")
                unsigned = {k: v for k, v in record.items() if k not in ("signed_pdf", "signed_pdf_sha256", "signed_pdf_signature")}
                if embedded is None:  # every signed report carries its record: another PDF stands in for it
                    out.append((record["signed_pdf"], f"carries no sign-off record (signoff.json), as every signed report "
                                                      f"does: it is not the report record {i} signed"))
                elif embedded != record_line(unsigned):
                    out.append((rel, f"record {i} differs from the record embedded in {record['signed_pdf']}"))
        previous = line
    return out
