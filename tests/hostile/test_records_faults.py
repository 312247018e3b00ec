"""Faulty and hostile records (issue 16, items 2, 3, 4, 7, 10, 11; issue 12, item 7): a damaged
registry, colliding model names, mangled result.json / sign-off logs, odd output paths, and
`render` on a sealed run. Every failure is a clear message with a documented exit code, and the
stored runs are byte-identical afterwards."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

import auditor
from auditor.records.store import slugify

from .conftest import CARD_ONLY

MODEL = "tiny-model"


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def records(tmp_path_factory, artefacts, card_writer, policy_writer) -> SimpleNamespace:
    """Two runs of the tiny model (card-only policy, PDF stubbed) in one output folder."""
    import auditor.engine.audit

    root = tmp_path_factory.mktemp("records")
    card = card_writer(root / "card")
    policy = policy_writer(root / "policy", policy_writer.tiny(CARD_ONLY, reaudit_interval_days=30))
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auditor.engine.audit, "html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")
        runs = [auditor.run_audit(policy, card, artefacts.csv, out).path for _ in range(2)]
    return SimpleNamespace(root=root, out=out, card=card, policy=policy, runs=runs, csv=artefacts.csv)


@pytest.fixture
def out(records, tmp_path, monkeypatch) -> Path:
    """A writable copy of the output folder, its registry rebuilt on first use."""
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    target = tmp_path / "out"
    shutil.copytree(records.out, target)
    (target / "audits.sqlite").unlink(missing_ok=True)
    return target


def run_path(out: Path, n: int = 1) -> Path:
    return out / MODEL / f"v{n:04d}"


# --- item 2: a 0-byte or corrupt registry ----------------------------------------------------------

def test_an_empty_registry_file_is_rebuilt_from_the_run_folders(cli, out):
    (out / "audits.sqlite").write_bytes(b"")
    res = cli("history", "--out", out)
    assert res.code == 0 and res.text.count(MODEL) == 2, res.text
    res = cli("due", "--out", out, "--as-of", "2999-01-01")
    assert res.code == 1 and "re-audit overdue" in res.text  # not "nothing due"


def test_verify_of_a_signed_run_leaves_an_empty_registry_file_empty(cli, out):
    """`verify` of a run with sign-offs read the signing keys through SQLAlchemy, which gave an empty
    audits.sqlite the registry's tables: from then on `history` said 'no audits recorded' and `due`
    'nothing due' (exit 0), the file no longer rebuilt from the run folders."""
    assert cli("sign-off", run_path(out, 2), "--reviewer", "R", "--decision", "reject", "--comment", "no").code == 0
    (out / "audits.sqlite").write_bytes(b"")
    assert cli("verify", run_path(out, 2)).code == 0
    assert (out / "audits.sqlite").stat().st_size == 0
    res = cli("history", "--out", out)
    assert res.code == 0 and res.text.count(MODEL) == 2, res.text


@pytest.mark.parametrize("content", [b"this is not a database" * 10, b"SQLite format 3\x00" + b"\xff" * 2000])
def test_a_corrupt_registry_is_an_error_and_rebuild_repairs_it(cli, out, content):
    (out / "audits.sqlite").write_bytes(content)
    before = files_of(out / MODEL)
    for command in (["history"], ["due"], ["due", "--as-of", "2999-01-01"]):
        res = cli(*command, "--out", out)
        assert res.code == 2, (command, res.text)
        assert "registry error: cannot read the registry" in res.text and "history --rebuild" in res.text
        assert "nothing due" not in res.text
    res = cli("history", "--rebuild", "--out", out)
    assert res.code == 0, res.text
    assert "registry rebuilt: 2 runs indexed" in res.text and res.text.count(MODEL) >= 2
    kept = [p.name for p in out.iterdir() if p.name.startswith("audits.sqlite.unreadable-")]
    assert len(kept) == 1 and (out / kept[0]).read_bytes() == content  # moved aside, not destroyed
    assert f"the unreadable registry was kept as {out / kept[0]}" in " ".join(res.text.split()) and "reviewer accounts" in res.text
    assert cli("due", "--out", out, "--as-of", "2999-01-01").code == 1
    assert files_of(out / MODEL) == before


def test_a_registry_damaged_inside_is_an_error_and_rebuild_repairs_it(cli, out):
    assert cli("history", "--out", out).code == 0  # writes the registry
    db = out / "audits.sqlite"
    data = bytearray(db.read_bytes())
    for i in range(100, len(data), 97):  # damage every page after the header
        data[i] ^= 0xFF
    db.write_bytes(bytes(data))
    for command in ("history", "due"):
        res = cli(command, "--out", out)
        assert res.code == 2 and "registry error" in res.text, res.text
    res = cli("history", "--rebuild", "--out", out)
    assert res.code == 0 and "registry rebuilt: 2 runs indexed" in res.text, res.text
    assert cli("due", "--out", out, "--as-of", "2999-01-01").code == 1


def another_applications_database(file: Path) -> bytes:
    """Make ``file`` an SQLite database of another application (no table auditor_runs); its bytes."""
    with sqlite3.connect(file) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    conn.close()
    return file.read_bytes()


@pytest.mark.parametrize("command", [["history"], ["due"], ["keys", "list"], ["users", "list"]], ids=" ".join)
def test_a_default_registry_of_another_application_is_refused_by_a_reader(cli, out, command):
    """An ``<out>/audits.sqlite`` of another application (other tables, no auditor_runs) was taken for a registry
    not built yet: `history` and `due` wrote the registry's tables into it and listed the runs (exit 0)."""
    db = out / "audits.sqlite"
    before = another_applications_database(db)
    res = cli(*command, "--out", out)
    assert res.code == 2 and res.text == (
        f"error: the registry {db} is a database without the audit registry's table auditor_runs (another "
        "application's file in the output folder?); this command only reads a registry and never creates one"), res.text
    assert db.read_bytes() == before


@pytest.mark.parametrize("named", [False, True], ids=["default", "db"])
def test_a_run_never_builds_its_registry_into_another_applications_database(cli, out, records, stub_pdf, named,
                                                                            monkeypatch):
    """`auditor run` audited, then gave an SQLite file of another application (``<out>/audits.sqlite``, or
    ``--db``) the registry's tables and recorded the run in it; it is refused before the audit runs (exit 2),
    nothing written. Emptied (0 bytes), the file is a new registry, which the run builds."""
    db = out.parent / "crm.sqlite" if named else out / "audits.sqlite"
    before, runs = another_applications_database(db), files_of(out / MODEL)
    res = cli.run(records.policy, records.card, records.csv, out, *(["--db", db] if named else []))
    fix = "name another registry" if named else "move the file out of the output folder, or give another --out"
    assert res.code == 2 and res.text == (
        f"error: the registry {db} is a database without the audit registry's table auditor_runs ("
        f"{'a mistyped --db or AUDITOR_DB?' if named else 'another application' + chr(39) + 's file in the output folder?'}"
        f"); an audit is never recorded in another application's database: {fix} (an empty file is a new registry)"), res.text
    assert db.read_bytes() == before and files_of(out / MODEL) == runs
    if named:  # a command that writes the registry refuses it too
        monkeypatch.setenv("AUDITOR_KEYS_DIR", str(out.parent / "keys"))
        res = cli("keys", "new", "k1", "--db", db)
        assert res.code == 2 and res.text.endswith("; the registry's tables are never added to another application's "
                                                   "database: name another registry (an empty file is a new registry)"), res.text
        assert db.read_bytes() == before
    db.write_bytes(b"")
    assert cli.run(records.policy, records.card, records.csv, out, *(["--db", db] if named else [])).code == 0
    with sqlite3.connect(db) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM auditor_runs ORDER BY version")] == \
            ["v0001", "v0002", "v0003"]
    conn.close()


def test_the_check_before_a_run_creates_no_registry_a_sqlite_uri_names(tmp_path):
    """`run --db sqlite:///file:PATH?uri=true` naming a missing file: the check before the audit connected,
    which created an empty file there (the run creates the registry when it records). A missing folder is
    still refused before the audit."""
    from auditor.records.registry import RegistryError, check_recordable

    missing = tmp_path / "new registry.sqlite"
    check_recordable(tmp_path / "out", f"sqlite:///file:{missing.as_uri()[len('file://'):]}?uri=true")
    assert sorted(tmp_path.iterdir()) == []
    folder = tmp_path / "no-such-folder"
    with pytest.raises(RegistryError) as info:
        check_recordable(tmp_path / "out", f"sqlite:///file:{folder}/audits.sqlite?uri=true")
    assert str(info.value) == (f"the registry {folder}/audits.sqlite cannot be created: its folder {folder} "
                               "does not exist")
    assert sorted(tmp_path.iterdir()) == []


def test_a_registry_that_could_not_be_built_is_not_left_half_made(cli, out, monkeypatch):
    """A disk that filled up while a new registry was built from the run folders left audits.sqlite with its
    tables and no rows: from then on, space freed or not, `history` said 'no audits recorded' and `due`
    'nothing due' (exit 0). The half-made file is removed: the next command builds it again."""
    import auditor.records.registry as registry

    real = registry.Registry.rebuild

    def disk_full(self, folder):
        raise registry.RegistryError(f"cannot write the registry {self.url}: database or disk is full")

    monkeypatch.setattr(registry.Registry, "rebuild", disk_full)
    for command in ("due", "history"):
        res = cli(command, "--out", out)
        assert res.code == 2 and "database or disk is full" in res.text, res.text
        assert not (out / "audits.sqlite").exists()
    monkeypatch.setattr(registry.Registry, "rebuild", real)
    res = cli("history", "--out", out)
    assert res.code == 0 and res.text.count(MODEL) == 2, res.text


def test_a_registry_in_use_is_never_moved_aside_nor_called_altered(cli, out):
    """A registry another process holds locked read as damaged: `history --rebuild` moved it aside and
    built an empty one (every reviewer account and signing key lost), and `verify` called an intact run
    altered. Both now say it is in use (exit 2) and change nothing."""
    assert cli("history", "--out", out).code == 0  # writes the registry
    db = out / "audits.sqlite"
    before = db.read_bytes()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        res = cli("history", "--rebuild", "--out", out)
        assert res.code == 2 and "is in use by another process" in " ".join(res.text.split()), res.text
        run = sorted((out / MODEL).glob("v0*"))[0]
        res = cli("verify", run)
        assert res.code == 2 and "is in use by another process" in " ".join(res.text.split()) and "ALTERED" not in res.text, res.text
    finally:
        holder.rollback()
        holder.close()
    assert not list(out.glob("audits.sqlite.unreadable-*")) and db.read_bytes() == before
    assert cli("verify", run).code == 0


# --- item 3: two model names never share a folder -------------------------------------------------

@pytest.mark.parametrize("names", [
    ("credit scoring", "credit-scoring", "credit_scoring ", "credit/scoring", "Credit Scoring"),
    ("..", ".", "", "???", "é", "😀", "\u202e"),  # names that reduce to nothing usable
    ("x" * 100, "x" * 100 + "y"),  # differing only after the length limit
])
def test_distinct_model_names_get_distinct_stable_folders(names):
    slugs = [slugify(n) for n in names]
    assert len(set(slugs)) == len(names), slugs
    assert slugs == [slugify(n) for n in names]  # stable
    assert all(s and len(s) <= 80 and not s.startswith((".", "-")) for s in slugs)


def test_a_folder_holding_another_models_runs_is_refused(cli, out, records, card_writer, tmp_path, artefacts):
    """A folder written before slugs were collision-free (or one differing only in case on a
    case-insensitive disk): the run is refused before the model loads, earlier runs untouched."""
    result = json.loads((run_path(out, 2) / "result.json").read_text())
    result["model"]["name"] = "tiny model"  # the old slug of "tiny model" was "tiny-model"
    (run_path(out, 2) / "result.json").write_text(json.dumps(result))
    before = files_of(out)
    card = card_writer(tmp_path / "card", name=MODEL)
    res = cli.run(records.policy, card, artefacts.csv, out)
    assert res.code == 2, res.text
    assert "holds the runs of model 'tiny model', not 'tiny-model'" in res.text
    assert files_of(out) == before


def test_two_names_with_one_old_slug_get_two_version_series(cli, tmp_path, card_writer, card_only_policy, artefacts,
                                                               stub_pdf):
    out = tmp_path / "out"
    for name in ("credit scoring", "credit-scoring?"):
        card = card_writer(tmp_path / name.replace("?", "q"), name=name)
        assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2 and all((out / f / "v0001").is_dir() and not (out / f / "v0002").exists() for f in folders)


# --- item 4: budgets outside check Params ---------------------------------------------------------

@pytest.mark.parametrize("value", [1e8, 10**9, 36_501, 0, -5])
def test_reaudit_interval_out_of_range_is_a_located_policy_error(cli, tmp_path, policy_writer, value):
    policy = policy_writer(tmp_path, policy_writer.tiny(CARD_ONLY, reaudit_interval_days=value))
    res = cli("validate", "--policy", policy)
    assert res.code == 3 and "reaudit_interval_days" in res.text, res.text


def test_jobs_beyond_its_bound_is_a_usage_error(cli, records, artefacts, tmp_path):
    res = cli.run(records.policy, records.card, artefacts.csv, tmp_path / "out", "--jobs", 10**7)
    assert res.code == 2 and "--jobs" in res.text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("interval", [10**12, "soon", -3])
def test_due_survives_an_edited_interval(cli, out, interval):
    result = json.loads((run_path(out, 2) / "result.json").read_text())
    result["policy"]["reaudit_interval_days"] = interval
    (run_path(out, 2) / "result.json").write_text(json.dumps(result))
    res = cli("due", "--out", out)
    assert res.code == 1, res.text
    assert "record unreadable" in res.text and "reaudit_interval_days" in res.text


@pytest.mark.parametrize("created_at", ["9999-12-31T00:00:00+00:00", "0001-01-01T00:00:00+05:00"])
def test_due_survives_an_edited_date_at_the_ends_of_the_calendar(cli, out, created_at):
    """A result.json dated at the end of the calendar: its next re-audit (date + interval) is past
    9999-12-31, and a date at 0001-01-01 east of UTC is before 0001-01-01 in UTC. Both raised
    OverflowError in `due` (exit 5, an internal error). The first is never overdue, the second is a
    date that cannot be read (named, exit 1)."""
    result = json.loads((run_path(out, 2) / "result.json").read_text())
    result["policy"]["reaudit_interval_days"] = 30
    result["created_at"] = created_at
    (run_path(out, 2) / "result.json").write_text(json.dumps(result))
    res = cli("due", "--out", out)
    assert res.code in (0, 1) and "internal error" not in res.text, res.text
    if created_at.startswith("9999"):
        assert res.code == 0 and "nothing due" in res.text, res.text
    else:
        assert res.code == 1 and "record unreadable" in res.text and "not readable" in res.text, res.text


def test_due_names_the_whole_path_of_a_record_it_cannot_read(cli, out):
    """The detail column of `due` cut a long run path with an ellipsis ('run `auditor verify
    /tmp/…/pytest-49…`') at 80 columns: the run to verify was not named. The path is folded now."""
    import re

    result = json.loads((run_path(out, 2) / "result.json").read_text())
    result["policy"]["reaudit_interval_days"] = "soon"
    (run_path(out, 2) / "result.json").write_text(json.dumps(result))
    res = cli("due", "--out", out)
    assert res.code == 1 and "…" not in res.raw, res.raw
    detail = "".join(line.split("│")[-2].strip() for line in res.raw.splitlines() if line.count("│") >= 5)
    assert str(run_path(out, 2)) in detail, res.raw  # the cell's lines, joined


# --- item 7: exit-5 tracebacks reachable from input -------------------------------------------------

MANGLED = [b"", b"{not json", b"[]", b'"text"', b'{"model": 3}', b'{"checks": [1, 2]}', b"\xff\xfe"]


@pytest.mark.parametrize("content", MANGLED, ids=range(len(MANGLED)))
def test_render_of_an_invalid_result_is_invalid_input(cli, tmp_path, records, content):
    folder = tmp_path / "kept"
    shutil.copytree(records.runs[0], folder)
    (folder / "result.json").write_bytes(content)
    before = files_of(folder)
    res = cli("render", folder)
    assert res.code == 3 and "invalid stored result" in res.text and "result.json" in res.text, res.text
    assert files_of(folder) == before


def test_a_stored_result_with_a_number_for_text_gets_no_yaml_hint(cli, tmp_path, records):
    """result.json is JSON: 'YAML read 5 as a number: write it in quotes' would send its reader astray."""
    folder = tmp_path / "kept"
    shutil.copytree(records.runs[0], folder)
    result = json.loads((folder / "result.json").read_text())
    result["version"] = 5
    (folder / "result.json").write_text(json.dumps(result))
    res = cli("render", folder)
    assert res.code == 3 and "version: Input should be a valid string" in res.text, res.text
    assert "YAML" not in res.text


def test_render_of_a_result_whose_fields_cannot_be_laid_out_together(cli, tmp_path, records):
    """Two edits a run never writes, each valid on its own: no checks left beside a traceability that
    names them (a template's 'first' of nothing), and a card body nested 200 elements deep (WeasyPrint's
    layout recursion). Both ended in exit 5; the first renders, the second is an invalid input, located,
    and nothing is written."""
    folder = tmp_path / "kept"
    shutil.copytree(records.runs[0], folder)
    result = json.loads((folder / "result.json").read_text())
    (folder / "result.json").write_text(json.dumps({**result, "checks": []}))
    res = cli("render", folder, "--to", tmp_path / "no-checks")
    assert res.code == 0 and (tmp_path / "no-checks" / "report.pdf").is_file(), res.text
    result["card"]["body_html"] = "<div><table><tr><td>" * 50
    (folder / "result.json").write_text(json.dumps(result))
    before = files_of(folder)
    res = cli("render", folder, "--to", tmp_path / "deep")
    assert res.code == 3 and "card.body_html: nests too deeply to lay out" in res.text, res.text
    assert files_of(folder) == before and not (tmp_path / "deep").exists()


def test_render_cleans_an_edited_card_body_again(cli, tmp_path, records):
    """render put a stored result's card.body_html into the report as written: an image from the web
    ended in exit 5 (the PDF's fetcher blocked it), and a form or a redirect landed in report.html."""
    folder = tmp_path / "kept"
    shutil.copytree(records.runs[0], folder)
    result = json.loads((folder / "result.json").read_text())
    result["card"]["body_html"] += ('<img src="https://example.com/logo.png"><script>alert(1)</script>'
                                    '<meta http-equiv="refresh" content="5;url=http://127.0.0.1:9/phish">'
                                    '<form action="http://127.0.0.1:9/steal" method="post"><input name="password"></form>'
                                    '<p>kept text</p>')
    (folder / "result.json").write_text(json.dumps(result))
    res = cli("render", folder, "--to", tmp_path / "rendered")
    assert res.code == 0, res.text
    html = (tmp_path / "rendered" / "report.html").read_text()
    for planted in ("example.com/logo.png", "<script>alert", "http-equiv=\"refresh\"", "<form", "name=\"password\""):
        assert planted not in html, planted
    assert "kept text" in html and "form-action &#39;none&#39;" in html


@pytest.mark.parametrize("content", MANGLED, ids=range(len(MANGLED)))
def test_diff_of_an_invalid_result_is_invalid_input(cli, out, content):
    (run_path(out, 2) / "result.json").write_bytes(content)
    res = cli("diff", run_path(out, 2), "--no-pdf")
    assert res.code == 3 and "result.json" in res.text, res.text
    assert not (out / MODEL / "diffs").exists()


# provenance parts the reports read as objects, edited into other shapes: (path into provenance, value, named)
MISSHAPEN = [(("execution",), "one process", "provenance.execution must be an object, not str"),
             (("runtime",), [1], "provenance.runtime must be an object, not list"),
             (("machine",), "a laptop", "provenance.machine must be an object, not str"),
             (("execution", "worker_machines"), [1, 2], "provenance.execution.worker_machines must be an object"),
             (("execution", "worker_machines", "w1"), 7, "provenance.execution.worker_machines.w1 must be an object")]


@pytest.mark.parametrize("where, value, named", MISSHAPEN, ids=[".".join(m[0]) for m in MISSHAPEN])
def test_a_misshapen_provenance_is_invalid_input_naming_the_field(cli, out, where, value, named):
    """These reached exit 5 (AttributeError while rendering the provenance page). `auditor diff` holds
    a run to the same schema: it refuses the altered run the same way, nothing written."""
    path = run_path(out, 2) / "result.json"
    result = json.loads(path.read_text())
    part = result["provenance"]
    for key in where[:-1]:
        part = part.setdefault(key, {"backend": "dask", "cluster": "local:2", "workers": 1} if key == "execution" else {})
    part[where[-1]] = value
    path.write_text(json.dumps(result))
    res = cli("render", run_path(out, 2), "--to", out / "rendered")
    assert res.code == 3 and "result.json" in res.text and named in res.text, res.text
    assert not (out / "rendered").exists()
    res = cli("diff", run_path(out, 2), "--no-pdf")
    assert res.code == 3 and named in res.text, res.text
    assert not (out / MODEL / "diffs").exists()


def test_history_rebuild_skips_an_invalid_result_and_says_so(cli, out):
    (run_path(out, 1) / "result.json").write_bytes(b"{broken")
    res = cli("history", "--rebuild", "--out", out)
    assert res.code == 0, res.text
    assert "registry rebuilt: 1 run indexed" in res.text
    assert f"skipped {run_path(out, 1).resolve()}" in res.text and "not readable as JSON" in res.text


@pytest.mark.parametrize("field, value", [("status", "excellent"), ("status", None), ("created_at", "[/]2026-01-01"),
                                          ("status", "[blink]pass")])
def test_history_shows_an_edited_status_or_date_as_written(cli, out, field, value):
    """A status `history` has no colour for (an edited result.json's 'excellent', or none) was laid out as
    '[]EXCELLENT[/]', and a date or status holding a closing tag as markup: rich's MarkupError, an internal
    error (exit 5)."""
    result = json.loads((run_path(out, 1) / "result.json").read_text())
    result[field] = value
    (run_path(out, 1) / "result.json").write_text(json.dumps(result))
    res = cli("history", "--out", out)
    assert res.code == 0 and "internal error" not in res.text, res.text
    if value:
        assert (value.upper() if field == "status" else value[:10]) in res.text, res.text


@pytest.mark.parametrize("field, value", [("name", None), ("version", float("nan")), ("reaudit_interval_days", 10**30),
                                          ("reaudit_interval_days", -2**70)])
def test_a_value_the_database_cannot_hold_never_fails_the_rebuild(cli, out, field, value):
    """An edited result.json with a null where the registry needs a value (NaN, which SQLite stores as
    NULL, too) made the whole rebuild fail ('NOT NULL constraint failed', exit 2), and one with an
    integer beyond 64 bits was an internal error (OverflowError, exit 5): no run was indexed, and a
    registry made anew (history, due, the next run's record) failed the same way."""
    result = json.loads((run_path(out, 1) / "result.json").read_text())
    result["policy" if field != "version" else "model"][field] = value
    (run_path(out, 1) / "result.json").write_text(json.dumps(result))
    res = cli("history", "--rebuild", "--out", out)
    assert res.code == 0 and "registry rebuilt: 2 runs indexed" in res.text, res.text
    res = cli("due", "--out", out)
    assert res.code in (0, 1) and "internal error" not in res.text, res.text


@pytest.mark.parametrize("where", ["default registry, corrupt", "--db unknown dialect", "--db a text file",
                                   "--db a folder", "--db in no folder"])
def test_a_registry_the_run_cannot_be_recorded_in_stops_it_before_it_runs(cli, records, out, tmp_path, stub_pdf,
                                                                           where):
    """Each of these ran the whole audit, stored it and then printed a raw Python warning (exit 0);
    the README says a registry that cannot be opened or read is exit 2. Nothing is written."""
    target = out if where.startswith("default") else tmp_path / "fresh"
    (out / "audits.sqlite").write_bytes(b"this is not a database" * 10)
    (tmp_path / "notes.txt").write_text("not a database")
    db = {"--db unknown dialect": "foo://x", "--db a text file": f"sqlite:///{tmp_path / 'notes.txt'}",
          "--db a folder": f"sqlite:///{tmp_path}", "--db in no folder": f"sqlite:///{tmp_path / 'no' / 'x.sqlite'}"}
    before = files_of(out / MODEL)
    res = cli.run(records.policy, records.card, records.csv, target, *(["--db", db[where]] if where in db else []))
    assert res.code == 2 and "registry error" in res.text and "Warning" not in res.text, res.text
    assert files_of(out / MODEL) == before and not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("db", ["foo://bar", "a text file"])
def test_a_db_that_cannot_be_read_is_a_registry_error_for_sign_off_and_verify_not_an_altered_audit(cli, out, tmp_path,
                                                                                                  db):
    if db == "a text file":
        db = str(tmp_path / "notes.txt")
        Path(db).write_text("not a database")
    res = cli("sign-off", run_path(out, 2), "--reviewer", "R", "--decision", "approve", "--comment", "ok", "--db", db)
    assert res.code == 2 and "registry error" in res.text and "altered" not in res.text, res.text
    assert not (out / MODEL / "signoffs").exists()
    res = cli("verify", run_path(out, 2), "--db", db)
    assert res.code == 2 and "registry error" in res.text and "altered" not in res.text, res.text


def test_a_registry_that_fails_after_the_run_is_said_in_a_notice(cli, records, out, stub_pdf, monkeypatch):
    import auditor.records.registry

    def broken(*args, **kwargs):
        raise auditor.records.registry.RegistryError("the disk went away")

    monkeypatch.setattr(auditor.records.registry, "open_registry", broken)
    res = cli.run(records.policy, records.card, records.csv, out)
    assert res.code == 0 and run_path(out, 3).is_dir(), res.text
    assert "notice: the run is stored, but the registry was not updated" in res.text and "the disk went away" in res.text
    assert "history --rebuild" in res.text and "Warning" not in res.text


def test_a_run_waits_for_a_registry_another_process_writes_to_record_itself(cli, records, out, stub_pdf, monkeypatch):
    """A registry locked when the run was recorded: after SQLite's 5 s the run exited 0 with a notice,
    stored but unlisted, so its number could be given again. Now it waits (up to REGISTRY_WAIT_S)."""
    import sqlalchemy as sa

    import auditor.records.registry

    real, tries = auditor.records.registry.Registry.add_run, []

    def busy_twice(self, run_dir):
        tries.append(run_dir)
        if len(tries) <= 2:
            raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return real(self, run_dir)

    monkeypatch.setattr(auditor.records.registry.Registry, "add_run", busy_twice)
    res = cli.run(records.policy, records.card, records.csv, out)
    assert res.code == 0 and "notice" not in res.text, res.text
    assert len(tries) == 3
    with auditor.records.registry.open_registry(out) as registry:
        assert [r["version"] for r in registry.history()] == ["v0001", "v0002", "v0003"]


def test_a_registry_locked_longer_than_the_wait_is_said_in_a_notice(cli, records, out, stub_pdf, monkeypatch):
    import sqlalchemy as sa

    import auditor.engine.audit
    import auditor.records.registry

    def always_busy(self, run_dir):
        raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(auditor.engine.audit, "REGISTRY_WAIT_S", 0.6)
    monkeypatch.setattr(auditor.records.registry.Registry, "add_run", always_busy)
    res = cli.run(records.policy, records.card, records.csv, out)
    assert res.code == 0 and run_path(out, 3).is_dir(), res.text
    assert "notice: the run is stored, but the registry was not updated" in res.text and "database is locked" in res.text


@pytest.mark.parametrize("how", ["moved", "copied"])
def test_a_moved_or_copied_output_folder_never_gives_a_deleted_version_s_number_again(cli, records, out, tmp_path,
                                                                                      stub_pdf, how):
    """The folder's own registry names the old place after a move or a copy: its rows were not counted,
    so the number of a deleted newest version was given again (and `verify` called the new run altered)."""
    assert cli("history", "--out", out).code == 0  # the registry, its rows naming `out`
    elsewhere = tmp_path / "elsewhere"
    (shutil.move if how == "moved" else shutil.copytree)(str(out), str(elsewhere))
    shutil.rmtree(elsewhere / MODEL / "v0002")
    res = cli.run(records.policy, records.card, records.csv, elsewhere)
    assert res.code == 0, res.text
    assert sorted(p.name for p in (elsewhere / MODEL).iterdir() if p.name.startswith("v")) == ["v0001", "v0003"]
    assert json.loads((elsewhere / MODEL / "v0003" / "result.json").read_text())["version"] == "v0003"


def test_json_nested_deeper_than_the_parser_goes_is_an_unreadable_file_not_an_internal_error(cli, out):
    """These reached exit 5 (RecursionError): a result.json with 100,000 nested lists, and a sign-off
    record of them, read by verify, diff and history --rebuild."""
    deep = "[" * 100_000 + "]" * 100_000
    result = run_path(out, 1) / "result.json"
    result.write_text(result.read_text().rstrip()[:-1] + f', "extra": {deep}}}')
    res = cli("diff", run_path(out, 1), run_path(out, 2), "--no-pdf")
    assert res.code == 3 and "nested too deeply to read" in res.text, res.text
    assert cli("verify", run_path(out, 1)).code == 1
    (out / MODEL / "signoffs").mkdir(exist_ok=True)
    (out / MODEL / "signoffs" / "v0002.jsonl").write_text(deep + "\n")
    res = cli("verify", run_path(out, 2))
    assert res.code == 1 and "record 1 is not JSON" in res.text, res.text
    res = cli("history", "--rebuild", "--out", out)
    assert res.code == 0 and "nested too deeply to read" in res.text, res.text


@pytest.mark.parametrize("valid_until", ["next year", "2026-02-30", 2027, ["2027-01-01"]])
def test_due_with_an_edited_signoff_date_names_the_record(cli, out, valid_until):
    assert cli("sign-off", run_path(out, 2), "--reviewer", "R", "--decision", "approve", "--comment", "ok",
               "--valid-until", (date.today() + timedelta(days=10)).isoformat()).code == 0
    log = out / MODEL / "signoffs" / "v0002.jsonl"
    record = json.loads(log.read_text())
    record["valid_until"] = valid_until
    log.write_text(json.dumps(record) + "\n")
    (out / "audits.sqlite").unlink()  # a rebuild keeps the sign-off recorded when it was made: a registry made anew
    assert cli("history", "--rebuild", "--out", out).code == 0
    res = cli("due", "--out", out)
    assert res.code == 1 and "record unreadable" in res.text and "valid-until" in res.text, res.text


@pytest.mark.parametrize("device, said", [
    ("tpu", "is not a device"), ("cuda:x", "is not a device"), ("", "is not a device"),
    ("cuda:7", "no such CUDA device"),
])
def test_a_device_that_is_not_there_is_a_usage_error(cli, tmp_path, text_inputs, device, said):
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["good", "bad"], ["positive", "negative"])
    res = cli.run(text_inputs.policy, text_inputs.card, data, tmp_path / "out", "--device", device)
    assert res.code == 2 and said in res.text, res.text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("url, said", [
    ("mysql+mysqldb://u@localhost/audits", "database driver is not installed"),
    ("nosuchdialect://x", "database driver is not installed"),
    ("not a url://", "registry error"),
])
def test_a_registry_url_whose_driver_is_missing_is_a_usage_error(cli, out, url, said):
    for command in (["history", "--out", out], ["due", "--out", out]):
        res = cli(*command, "--db", url)
        assert res.code == 2 and said in res.text, res.text


def test_text_model_whose_labels_are_not_0_to_n_is_refused(cli, tmp_path, text_inputs, card_writer):
    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    config = json.loads((model / "config.json").read_text())
    config["id2label"] = {"1": "negative", "2": "positive"}
    config["label2id"] = {"negative": 1, "positive": 2}
    (model / "config.json").write_text(json.dumps(config))
    card = card_writer(tmp_path / "card", model={"path": str(model), "format": "transformers"},
                       task="text-classification", name="tiny-bert", target="label", text_column="text",
                       positive_class="positive", features=None, ignore_columns=None)
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["good", "bad"], ["positive", "negative"])
    res = cli.run(text_inputs.policy, card, data, tmp_path / "out")
    assert res.code == 4 and "id2label must map 0..1" in res.text, res.text
    assert not (tmp_path / "out" / "tiny-bert").exists()


# --- item 10: paths and URLs ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a%20b", "what?", "x#y", "50% off"])
def test_odd_output_paths_keep_the_registry_inside_the_output_folder(cli, tmp_path, card_only_policy, records, artefacts,
                                                                    stub_pdf, monkeypatch, name):
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    out = tmp_path / name
    assert cli.run(card_only_policy, records.card, artefacts.csv, out).code == 0
    assert (out / "audits.sqlite").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing beside the output folder
    res = cli("history", "--out", out, "--json")
    assert res.code == 0 and json.loads(res.raw)[0]["run_path"].startswith(str(out.resolve()))
    with sqlite3.connect(out / "audits.sqlite") as db:  # verify reads this registry (read-only, by a URI)
        db.execute("UPDATE auditor_runs SET manifest_sha256 = ?", ("f" * 64,))
    res = cli("verify", out / MODEL / "v0001")
    assert res.code == 1 and "registry records manifest sha256 ffffffffffffffff" in res.text, res.text


def test_a_sqlite_url_into_a_missing_folder_creates_nothing(cli, out, tmp_path):
    missing = tmp_path / "nonexistent" / "deeper"
    res = cli("history", "--out", out, "--db", f"sqlite:///{missing}/audits.sqlite")
    assert res.code == 2 and "does not exist" in res.text, res.text
    assert not (tmp_path / "nonexistent").exists()


# --- item 11: records -------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["run", "inside", "version-like"])
def test_diff_never_writes_into_a_run_or_a_version_like_folder(cli, out, where):
    target = {"run": run_path(out, 2), "inside": run_path(out, 2) / "evidence" / "d",
              "version-like": out / MODEL / "v0009"}[where]
    before = files_of(out)
    res = cli("diff", run_path(out, 2), "--no-pdf", "--out", target)
    assert res.code == 2, res.text
    assert "sealed" in res.text or "named like a version" in res.text
    assert files_of(out) == before and not (out / MODEL / "v0009").exists()


@pytest.mark.parametrize("where", ["output root", "model folder", "a file", "the registry"])
def test_diff_into_a_folder_or_file_that_exists_is_refused_not_renamed(cli, out, where):
    """--out naming an existing folder or file wrote the diff to '<out>-2' without a word (a sibling
    of the registry or of the model's folder inside the output root)."""
    target = {"output root": out, "model folder": out / MODEL, "a file": out / "notes.txt",
              "the registry": out / "audits.sqlite"}[where]
    if where == "a file":
        target.write_text("x")
    if where == "the registry":
        assert cli("history", "--out", out).code == 0 and target.is_file()  # writes it
    before = sorted(p.name for p in out.iterdir())
    res = cli("diff", run_path(out, 2), "--no-pdf", "--out", target)
    assert res.code == 2 and "exists and is not an empty folder" in " ".join(res.text.split()), res.text
    assert sorted(p.name for p in out.iterdir()) == before
    empty = out.parent / "empty-diff"
    empty.mkdir()
    assert cli("diff", run_path(out, 2), "--no-pdf", "--out", empty).code == 0 and (empty / "diff.json").is_file()


@pytest.mark.parametrize("how", ["emptied", "deleted", "cut"])
def test_verify_notices_an_emptied_signoff_log(cli, out, how):
    for _ in range(2):
        assert cli("sign-off", run_path(out, 1), "--reviewer", "R", "--decision", "approve", "--comment", "ok").code == 0
    assert cli("verify", run_path(out, 1)).code == 0
    log = out / MODEL / "signoffs" / "v0001.jsonl"
    if how == "emptied":
        log.write_bytes(b"")
    elif how == "deleted":
        log.unlink()
    else:
        log.write_bytes(log.read_bytes().splitlines(keepends=True)[0])
    res = cli("verify", run_path(out, 1))
    assert res.code == 1 and "ALTERED" in res.text
    assert ("emptied or cut" in res.text) if how != "deleted" else ("the sign-off log was deleted" in res.text)


def test_verify_notices_a_registry_whose_manifest_hash_differs(cli, out):
    assert cli("history", "--out", out).code == 0  # builds the registry
    assert cli("verify", run_path(out, 2)).code == 0
    with sqlite3.connect(out / "audits.sqlite") as db:
        db.execute("UPDATE auditor_runs SET manifest_sha256 = ? WHERE version = 'v0002'", ("0" * 64,))
    res = cli("verify", run_path(out, 2))
    assert res.code == 1 and "registry records manifest sha256 0000000000000000" in res.text, res.text
    assert cli("verify", run_path(out, 1)).code == 0


def test_verify_reports_a_damaged_registry_and_reads_it_without_sqlalchemy(cli, out):
    """`verify` reads the default registry with the standard library (SQLAlchemy's import was
    most of its start-up): an untouched run verifies without importing SQLAlchemy, and a registry
    SQLite cannot read is a finding, not a crash."""
    import subprocess
    import sys

    assert cli("history", "--out", out).code == 0  # builds the registry
    probe = ("import sys\nfrom auditor.records.verify import verify_run\n"
             f"v = verify_run({str(run_path(out, 2))!r})\n"
             "print(len(v.findings), 'sqlalchemy' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["0", "False"], res.stdout + res.stderr
    registry = out / "audits.sqlite"
    data = bytearray(registry.read_bytes())
    data[100:4096] = bytes(len(data[100:4096]))  # the first page's schema zeroed: SQLite reads it as malformed
    registry.write_bytes(bytes(data))
    res = cli("verify", run_path(out, 2))
    assert res.code == 1 and "the registry cannot be read" in res.text, res.text


# --- issue 12, item 7: render never modifies a sealed run -----------------------------------------

def test_render_leaves_a_sealed_run_byte_identical_and_verified(cli, out, stub_pdf):
    run = run_path(out, 1)
    before = files_of(run)
    for n in (1, 2):
        res = cli("render", run)
        assert res.code == 0, res.text
        target = out / MODEL / "renders" / f"v0001-{n}"
        assert sorted(p.name for p in target.iterdir()) == ["report.html", "report.pdf"]
        assert str(target / "report.html") in res.text
    assert files_of(run) == before
    assert cli("verify", run).code == 0 and cli("verify", run_path(out, 2)).code == 0
    assert sorted(p.name for p in (out / MODEL).iterdir()) == ["renders", "v0001", "v0002"]
    assert cli("history", "--rebuild", "--out", out).text.count("registry rebuilt: 2 runs") == 1


def test_render_of_an_altered_run_warns_what_verify_reports(cli, out, tmp_path, stub_pdf):
    """`render` rebuilt clean-looking reports from a run whose files were altered after it was written,
    without a word: the rebuilt PDF reads as the audit's. It now warns with verify's findings (the
    reports are still written: a damaged run can be inspected); a sound run renders silently."""
    run = run_path(out, 2)
    (run / "report.html").write_bytes((run / "report.html").read_bytes() + b"<!-- edited -->")
    res = cli("render", run, "--to", tmp_path / "rendered")
    assert res.code == 0 and (tmp_path / "rendered" / "report.html").is_file(), res.text
    assert f"warning: {run} fails verification" in res.text and "report.html: altered" in res.text, res.text
    res = cli("render", run_path(out, 1), "--to", tmp_path / "sound")
    assert res.code == 0 and "warning" not in res.text, res.text


def test_render_to_a_chosen_folder_and_refusals(cli, out, tmp_path, stub_pdf):
    run = run_path(out, 2)
    before = files_of(out)
    res = cli("render", run, "--to", tmp_path / "copy")
    assert res.code == 0 and (tmp_path / "copy" / "report.html").read_bytes() == (run / "report.html").read_bytes()
    for target, said in [(run, "sealed"), (run / "evidence", "sealed"), (tmp_path / "v0003", "named like a version"),
                         (tmp_path / "copy", "not an empty folder"),
                         (out / MODEL / "signoffs" / "x", "holds the sign-off log"),
                         (out / MODEL / "v0007" / "x", "named like a version of the model")]:
        res = cli("render", run, "--to", target)
        assert res.code == 2 and said in res.text, (target, res.text)
    assert files_of(out) == before


@pytest.mark.parametrize("command", ["render", "diff"])
def test_render_and_diff_never_write_through_a_link_into_a_run(cli, out, stub_pdf, command):
    """A model's renders/ or diffs/ that is a link into a stored run: `render` and `diff` without --to or
    --out wrote their reports into the sealed run (v0001 then failed verification, 'added')."""
    folder = out / MODEL / {"render": "renders", "diff": "diffs"}[command]
    folder.symlink_to(run_path(out, 1) / "evidence", target_is_directory=True)
    before = files_of(out)
    res = cli(command, run_path(out, 2), *(["--no-pdf"] if command == "diff" else []))
    assert res.code == 2 and f"leads into the stored run {run_path(out, 1).resolve()}" in res.text, res.text
    assert files_of(out) == before and cli("verify", run_path(out, 1)).code == 0


@pytest.mark.parametrize("where", ["v0004", "signoffs", "renders/r", ".tmp-x"])
def test_run_never_writes_into_a_folder_the_records_own(cli, records, out, stub_pdf, where):
    """`run --out` took folders `render --to` and `diff --out` refuse (a version-like folder of a model,
    its signoffs/): it wrote a registry and a version series there, and the model's next run then
    stopped (exit 2) at a version folder holding no run."""
    target = out / MODEL / where
    before = files_of(out)
    res = cli.run(records.policy, records.card, records.csv, target)
    assert res.code == 2, res.text
    said = {"v0004": "is named like a version of the model", "signoffs": "holds the sign-off log",
            "renders/r": "holds `auditor render`'s reports", ".tmp-x": "is a folder auditor manages"}[where]
    assert f"--out {target}" in res.text and said in res.text, res.text
    assert files_of(out) == before and not target.exists()
    assert cli.run(records.policy, records.card, records.csv, out).code == 0 and run_path(out, 3).is_dir()


def test_the_reading_commands_never_write_a_registry_into_a_run_a_model_folder_or_an_empty_folder(cli, out, tmp_path):
    """`history`, `due` and `users list` build a missing default registry from the run folders; they
    wrote it into whatever --out named: inside a stored run (which `verify` then called altered), a
    model's folder, or a mistyped empty folder (then "nothing due", exit 0). Each is exit 2 now, and
    nothing is written."""
    sealed = files_of(run_path(out))
    empty = tmp_path / "typo"
    empty.mkdir()
    for command in (["history"], ["due"], ["users", "list"]):
        for where, said in ((run_path(out), "inside the stored run"), (out / MODEL, "is a model's folder"),
                            (empty, "no audits under")):
            res = cli(*command, "--out", where)
            assert res.code == 2 and said in res.text, (command, where, res.text)
    assert files_of(run_path(out)) == sealed and not list(empty.iterdir())
    assert not (out / MODEL / "audits.sqlite").exists()
    assert cli("verify", run_path(out)).code == 0
    res = cli("history", "--out", out)  # the output folder itself: its registry built from the run folders
    assert res.code == 0 and res.text.count(MODEL) == 2 and (out / "audits.sqlite").is_file()


def test_rebuild_skips_linked_and_copied_runs_naming_each(cli, out, tmp_path):
    """A run folder linked in from elsewhere was indexed twice (a raw UNIQUE constraint error, exit
    2); a run copied in as another version was indexed as that version, though `verify` calls it
    altered. Rebuild indexes each run where it was written, once, and names what it skipped."""
    (out / "linked").mkdir()
    (out / "linked" / "v0001").symlink_to(run_path(out), target_is_directory=True)
    shutil.copytree(run_path(out), out / MODEL / "v0003")
    res = cli("history", "--rebuild", "--out", out)
    assert res.code == 0 and "registry rebuilt: 2 runs indexed" in res.text, res.text
    assert "a link to a folder outside" in res.text or "(a link)" in res.text
    assert "written as 'v0001', not 'v0003' (a copied or renamed run)" in res.text
    assert cli("verify", out / MODEL / "v0003").code == 1


def test_verify_calls_a_deleted_result_or_a_misshapen_manifest_altered_in_plain_words(cli, out):
    """A stored run whose result.json was deleted was "not a run directory" (exit 2), and a manifest
    whose files are a list was reported in Python's words ("list indices must be integers")."""
    (run_path(out, 1) / "result.json").unlink()
    res = cli("verify", run_path(out, 1))
    assert res.code == 1 and "ALTERED" in res.text and "result.json: missing" in res.text, res.text
    manifest = run_path(out, 2) / "manifest.json"
    manifest.write_text(json.dumps([["files", {"result.json": "0" * 64}]]))  # a list, not an object
    res = cli("verify", run_path(out, 2))
    assert res.code == 1 and "not a readable manifest: it must be a JSON object" in res.text, res.text
    assert "list indices" not in res.text
    # files as a list of pairs (dict() took it, and the PDF check crashed: exit 5), or null
    for files in ([["result.json", "0" * 64]], None):
        manifest.write_text(json.dumps({"files": files}))
        res = cli("verify", run_path(out, 2))
        assert res.code == 1 and "not a readable manifest: it must be a JSON object" in res.text, res.text


def test_verify_calls_a_result_replaced_by_a_folder_altered_not_invalid_input(cli, out):
    """A stored run whose result.json was replaced by a folder was "invalid stored result" (exit 3), not
    altered as a deleted one is."""
    (run_path(out, 1) / "result.json").unlink()
    (run_path(out, 1) / "result.json").mkdir()
    res = cli("verify", run_path(out, 1))
    assert res.code == 1 and "ALTERED" in res.text and "result.json: missing" in res.text, res.text


def test_verify_calls_a_manifest_replaced_by_a_link_altered(cli, out, tmp_path):
    """manifest.json moved out of the run and linked back verified OK (a link in place of any file the
    manifest lists is named), though what the link names can change under the run."""
    manifest = run_path(out, 2) / "manifest.json"
    elsewhere = tmp_path / "manifest.json"
    manifest.rename(elsewhere)
    manifest.symlink_to(elsewhere)
    res = cli("verify", run_path(out, 2))
    assert res.code == 1 and "manifest.json: altered — a link where the run wrote a file" in res.text, res.text


def test_diff_holds_each_result_to_the_schema_and_names_the_altered_run(cli, out):
    """diff read plain JSON: a status 'excellent' and a measurement 'high' were compared (exit 0,
    'pass -> excellent'); checks that were not a list gave both runs' paths and a Python TypeError."""
    path = run_path(out, 2) / "result.json"
    result = json.loads(path.read_text())
    result["status"] = "excellent"
    path.write_text(json.dumps(result))
    res = cli("diff", run_path(out, 1), run_path(out, 2), "--no-pdf")
    assert res.code == 3, res.text
    assert f"invalid stored result {path}" in res.text and "status: Input should be 'pass'" in res.text
    assert "TypeError" not in res.text and not (out / MODEL / "diffs").exists()


@pytest.mark.parametrize("manifest", ["{not json", "[1, 2]", '{"files": {}, "inputs": [1]}'])
def test_diff_names_a_damaged_manifest_not_the_result(cli, out, manifest):
    """diff blamed result.json ("a stored result lacks or mangles what a diff compares") for a damaged
    manifest.json."""
    path = run_path(out, 1) / "manifest.json"
    path.write_text(manifest)
    res = cli("diff", run_path(out, 1), run_path(out, 2), "--no-pdf")
    assert res.code == 3 and f"invalid stored result {path}" in " ".join(res.text.split()), res.text
    assert "lacks or mangles" not in res.text and not (out / MODEL / "diffs").exists()


@pytest.mark.parametrize("argv", [
    ["verify", "{loop}"], ["history", "--out", "{loop}"], ["render", "{run}", "--to", "{loop}"],
    ["sign-off", "{loop}", "--reviewer", "R", "--decision", "reject", "--comment", "c"],
])
def test_a_symbolic_link_loop_is_a_usage_error_naming_it(out, tmp_path, argv):
    """A path that is a link leading back to itself made pathlib raise RuntimeError ("Symlink loop
    from ...") out of resolve(): an internal error (exit 5) with a traceback, for every command."""
    import subprocess
    import sys

    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    args = [a.format(loop=loop, run=run_path(out)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, timeout=120)
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"error: {loop} is a symbolic link that leads back to itself (a link loop)" in said


@pytest.mark.parametrize("argv", [
    ["verify", "{long}/v0001"], ["history", "--out", "{long}"], ["due", "--out", "{long}"], ["diff", "{long}/v0002"],
    ["sign-off", "{long}/v0001", "--reviewer", "R", "--decision", "reject", "--comment", "c"],
])
def test_a_path_with_a_name_too_long_for_the_file_system_is_a_usage_error_naming_it(out, tmp_path, argv):
    """A path with a name longer than the file system holds (255 bytes) raised ENAMETOOLONG out of
    pathlib: an internal error (exit 5) with a traceback, for every records command."""
    import subprocess
    import sys

    long = tmp_path / ("a" * 300)
    args = [a.format(long=long) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, timeout=120)
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "a name too long for the file system" in said, proc.stderr
