"""The registry: an index of every audit, rebuilt from the run directories; SQLite always, and a
real PostgreSQL server when one can be reached or started here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest

from auditor.records.registry import Registry, database_url, open_registry
from auditor.records.schedule import due

from .helpers import flat, invoke

FIELDS = ("model", "version", "created_at", "policy_name", "policy_version", "status", "model_sha256", "run_path",
          "signoff_decision")


def check_registry(registry: Registry, history) -> None:
    """The same assertions for every database: rows per run, rebuild, sign-off state, due."""
    assert registry.rebuild(history.out) == 3
    rows = registry.history()
    assert [(r["model"], r["version"], r["policy_name"], r["policy_version"], r["status"]) for r in rows] == [
        ("tiny-model", "v0001", "tiny", "1", "pass"), ("tiny-model", "v0002", "tiny", "1", "pass"),
        ("tiny-model", "v0003", "tiny", "2", "warn")]
    results = [json.loads((p / "result.json").read_text()) for p in history.paths]
    assert [r["created_at"] for r in rows] == [r["created_at"] for r in results]
    assert {r["model_sha256"] for r in rows} == {results[0]["model"]["sha256"]}
    assert [r["run_path"] for r in rows] == [str(p) for p in history.paths]
    assert all(r["signoff_decision"] is None and r["signoff_count"] == 0 for r in rows)
    assert rows[2]["reaudit_interval_days"] == 30
    assert registry.history("tiny-model") == rows and registry.history("other") == []
    # rebuild is idempotent, and add_run refreshes a row in place
    assert registry.rebuild(history.out) == 3 and len(registry) == 3
    registry.add_run(history.paths[1])
    assert len(registry) == 3
    assert [i.reason for i in due(rows, now=None)] == []


def test_sqlite_registry_is_written_by_each_run_and_rebuilt_from_the_folders(history, tmp_path):
    db = history.out / "audits.sqlite"
    assert db.is_file()  # run_audit registered each run
    with open_registry(history.out) as registry:
        rows = registry.history()
    assert [r["version"] for r in rows] == ["v0001", "v0002", "v0003"]
    with open_registry(None, str(tmp_path / "other.sqlite")) as registry:
        check_registry(registry, history)


def test_history_cli_lists_and_rebuilds(out_copy):
    res = invoke("history", "--out", out_copy)
    assert res.exit_code == 0, res.output
    text = flat(res.output)
    assert text.count("tiny-model") == 3 and "WARN" in text and "tiny 2" in text
    (out_copy / "tiny-model" / "v0001").rename(out_copy / "tiny-model" / ".gone")  # a run deleted behind our back
    res = invoke("history", "tiny-model", "--out", out_copy, "--rebuild", "--json")
    assert res.exit_code == 0, res.output
    assert [r["version"] for r in json.loads(res.output[res.output.index("["):])] == ["v0002", "v0003"]
    assert set(FIELDS) <= set(json.loads(res.output[res.output.index("["):])[0])


def test_a_moved_output_folder_s_own_registry_is_rebuilt_without_the_old_paths(out_copy, tmp_path, monkeypatch):
    """An output folder moved (a CI artefact restored elsewhere) kept rows pointing at its old place,
    and `history --rebuild` kept them too: every run listed twice, in `due` as well."""
    import shutil

    monkeypatch.delenv("AUDITOR_DB", raising=False)
    assert invoke("history", "--out", out_copy).exit_code == 0  # its own registry, with the old paths
    moved = tmp_path / "moved"
    shutil.move(str(out_copy), moved)
    res = invoke("history", "--out", moved, "--rebuild", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output[res.output.index("["):])
    assert [r["version"] for r in rows] == ["v0001", "v0002", "v0003"]
    assert all(r["run_path"].startswith(str(moved.resolve())) for r in rows)


def test_a_run_recorded_while_history_rebuild_scans_keeps_its_row(out_copy, monkeypatch):
    """An audit that publishes and records its run after `history --rebuild` scanned the folders: the
    rebuild deleted every row it had found and said the run's folder was gone, though it was there."""
    import auditor.records.registry as registry_module

    monkeypatch.delenv("AUDITOR_DB", raising=False)
    model_dir = out_copy / "tiny-model"
    (model_dir / "v0003").rename(out_copy / ".pending")
    assert invoke("history", "--out", out_copy).exit_code == 0  # the registry, built from v0001 and v0002
    scan = registry_module.iter_runs

    def scan_then_an_audit_records_v0003(out):
        yield from scan(out)
        (out_copy / ".pending").rename(model_dir / "v0003")  # the audit beside the rebuild publishes its run
        with open_registry(out_copy) as registry:
            registry.add_run(model_dir / "v0003")  # and records it, after the scan, before the rebuild writes

    monkeypatch.setattr(registry_module, "iter_runs", scan_then_an_audit_records_v0003)
    res = invoke("history", "--out", out_copy, "--rebuild", "--json")
    assert res.exit_code == 0, res.output
    assert "registry rebuilt: 2 runs indexed" in flat(res.output) and "unindexed" not in res.output
    monkeypatch.setattr(registry_module, "iter_runs", scan)
    with open_registry(out_copy) as registry:
        rows = registry.history()
    assert [(r["version"], r["run_path"]) for r in rows] == [
        (v, str((model_dir / v).resolve())) for v in ("v0001", "v0002", "v0003")]


def test_a_bad_registry_url_or_missing_folder_is_a_usage_error(history, tmp_path, monkeypatch):
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    res = invoke("history", "--out", history.out, "--db", "nosuchdialect://x")
    assert res.exit_code == 2 and "registry error" in flat(res.output)
    res = invoke("due", "--out", tmp_path / "typo")
    assert res.exit_code == 2 and "does not exist" in flat(res.output)
    assert not (tmp_path / "typo").exists()  # nothing created by a read


def test_database_url_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    assert database_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/audits.sqlite"
    assert database_url(tmp_path, "postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("AUDITOR_DB", str(tmp_path / "x.sqlite"))
    assert database_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/x.sqlite"


# --- PostgreSQL ------------------------------------------------------------------------------------

def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).is_file():
            return str(root / name)
    return None


@pytest.fixture(scope="module")
def postgres_url():
    """AUDITOR_TEST_POSTGRES_URL if set; else a throwaway server started with initdb/pg_ctl
    (Debian's postgresql package), on a Unix socket only, removed afterwards; else skip."""
    url = os.environ.get("AUDITOR_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL test skipped: no driver (pip install 'auditor[postgres]') and AUDITOR_TEST_POSTGRES_URL unset")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL test skipped: initdb/pg_ctl not found (apt install postgresql) and AUDITOR_TEST_POSTGRES_URL unset")
    root = Path(tempfile.mkdtemp(prefix="auditor-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres account if there is one
        if not shutil.which("runuser") or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("PostgreSQL test skipped: running as root without a postgres account to start a server")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "auditor", "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "30",
                        "-o", f"-k {root} -h '' -F", "start"], check=True, capture_output=True, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL test skipped: could not start a throwaway server ({exc})")
    try:
        yield f"postgresql+psycopg://auditor@/postgres?host={root}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_registry(history, postgres_url):
    import sqlalchemy as sa

    registry = Registry(postgres_url)
    try:
        with registry.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM auditor_runs"))
        check_registry(registry, history)
        assert registry.engine.dialect.name == "postgresql"
    finally:
        registry.close()
    res = invoke("history", "--out", history.out, "--db", postgres_url, "--json")
    assert res.exit_code == 0 and len(json.loads(res.output)) == 3


def test_history_and_due_warn_when_the_registry_indexes_runs_of_the_folder_before_it_moved(history, tmp_path):
    """An output folder copied or moved with its audits.sqlite: every row names the old place, a run
    written since forms a second series beside them, and `due` lists the old series' re-audit as
    overdue. `history` and `due` said nothing about it; both warn now, with the remedy, and the
    rebuild ends the warning."""
    import shutil

    from .helpers import flat, invoke

    copied = tmp_path / "copied"
    shutil.copytree(history.out, copied)
    for command in (["history", "--out", copied], ["due", "--out", copied, "--as-of", "2999-01-01"]):
        text = flat(invoke(*command).output)
        assert f"warning: the registry {copied / 'audits.sqlite'} indexes runs under {history.out}, not under {copied}" in text
        assert f"auditor history --rebuild --out {copied}" in text
    assert invoke("history", "--rebuild", "--out", copied).exit_code == 0
    assert "warning" not in flat(invoke("history", "--out", copied).output)
    assert "warning" not in flat(invoke("history", "--out", history.out).output)


def test_due_counts_a_day_whole_and_an_approval_expired_from_the_day_after_its_last():
    """A re-audit due today was listed by `due --as-of today` but not by a plain `due` before the hour of
    the last audit; an approval valid until D was listed as due "since D", its last valid day."""
    from datetime import datetime, timezone

    row = {"model": "m", "model_dir": "/o/m", "version": "v0001", "version_number": 1, "run_path": "/o/m/v0001",
           "created_at": "2026-01-01T15:00:00+00:00", "reaudit_interval_days": 30, "policy_name": "p",
           "policy_version": "1", "signoff_decision": "approve", "signoff_at": "2026-01-02T00:00:00+00:00",
           "signoff_reviewer": "A", "signoff_valid_until": "2026-01-20"}
    morning = datetime(2026, 1, 31, 9, 0, tzinfo=timezone.utc)  # the re-audit's due day, before 15:00
    items = {i.reason: i for i in due([row], now=morning)}
    assert items["re-audit due today"].since == "2026-01-31"
    assert items["approval expired"].since == "2026-01-21"
    assert [i.reason for i in due([row], now=datetime(2026, 1, 20, 23, 0, tzinfo=timezone.utc))] == []


def test_a_re_audit_is_due_on_its_day_and_overdue_only_after_it():
    """On the very day a re-audit fell due, `due` listed it as "re-audit overdue". It is due that day
    (all of it, whatever the hour) and overdue from the next day; the day it became due is the same."""
    from datetime import datetime, timezone

    rows = [due_row(1, reaudit_interval_days=30)]  # audited 2026-01-01: due 2026-01-31
    expected = {datetime(2026, 1, 30, 23, 59, tzinfo=timezone.utc): [],
                datetime(2026, 1, 31, 0, 0, tzinfo=timezone.utc): [("re-audit due today", "2026-01-31")],
                datetime(2026, 1, 31, 23, 59, tzinfo=timezone.utc): [("re-audit due today", "2026-01-31")],
                datetime(2026, 2, 1, 0, 0, tzinfo=timezone.utc): [("re-audit overdue", "2026-01-31")]}
    for now, items in expected.items():
        assert [(i.reason, i.since) for i in due(rows, now=now)] == items, now


def test_due_says_due_today_on_the_day_and_exits_1(history):
    """The command line says the same as :func:`due`: "re-audit due today" on the due day (exit 1, as
    any listed item), "re-audit overdue" the day after."""
    from datetime import timedelta

    from auditor.records.runs import parse_moment
    from auditor.records.sqlite_reader import read_runs

    from .helpers import flat, invoke

    newest = max(read_runs(history.out), key=lambda r: r["version_number"])
    due_day = (parse_moment(newest["created_at"]) + timedelta(days=newest["reaudit_interval_days"])).date()
    res = invoke("due", "--out", history.out, "--as-of", due_day.isoformat())
    assert res.exit_code == 1 and "re-audit due today" in flat(res.output) and "overdue" not in flat(res.output)
    res = invoke("due", "--out", history.out, "--as-of", (due_day + timedelta(days=1)).isoformat())
    assert res.exit_code == 1 and "re-audit overdue" in flat(res.output) and "due today" not in flat(res.output)


def due_row(n: int, **values) -> dict:
    """A registry row of run vNNNN of model m (created on 2026-01-0N, sha256 "a", no interval, unsigned)."""
    row = {"model": "m", "model_dir": "/o/m", "version": f"v{n:04d}", "version_number": n, "run_path": f"/o/m/v{n:04d}",
           "created_at": f"2026-01-{n:02d}T10:00:00+00:00", "reaudit_interval_days": None, "policy_name": "p",
           "policy_version": "1", "model_sha256": "a", "signoff_decision": None, "signoff_at": None,
           "signoff_reviewer": None, "signoff_valid_until": None, "signoff_count": 0}
    return {**row, **values}


def signed(decision: str, at: str, until: str | None = None, reviewer: str = "A") -> dict:
    return {"signoff_decision": decision, "signoff_at": at, "signoff_valid_until": until, "signoff_reviewer": reviewer,
            "signoff_count": 1}


def test_due_judges_the_approval_of_the_newest_run_not_the_last_signed_at():
    """`due` took the sign-off made last, of any run: a late rejection (or approval without expiry)
    of a retired version hid the expired approval of the version in use ("nothing due", exit 0)."""
    from datetime import datetime, timezone

    later = datetime(2026, 3, 16, 12, 0, tzinfo=timezone.utc)
    current = due_row(2, **signed("approve", "2026-02-02T10:00:00+00:00", "2026-03-15", reviewer="B"))
    for old_signoff in (signed("reject", "2026-02-10T10:00:00+00:00"), signed("approve", "2026-02-10T10:00:00+00:00")):
        items = due([due_row(1, **old_signoff), current], now=later)
        assert [(i.reason, i.run_path, i.since) for i in items] == [("approval expired", "/o/m/v0002", "2026-03-16")]
        assert "approve of v0002 by B was valid until 2026-03-15" in items[0].detail
    # an approval of the newest run is not replaced by an older run's expired one signed later
    items = due([due_row(1, **signed("approve", "2026-02-10T10:00:00+00:00", "2026-02-11")),
                 due_row(2, **signed("approve", "2026-02-02T10:00:00+00:00", "2026-12-31"))], now=later)
    assert items == []


def test_an_approval_given_without_a_valid_until_date_expires_after_the_longest_an_approval_lasts():
    """`sign-off` refuses a --valid-until more than 3 years ahead, yet an approval given without one never
    expired (`due`: nothing due, however old). It is listed as expired from the day after 3 years from its
    signing day (a 29 February's: 28 February), saying it had no date."""
    from datetime import datetime, timezone

    row = due_row(1, **signed("approve", "2024-02-29T10:00:00+00:00"))
    assert due([row], now=datetime(2027, 2, 28, 23, 0, tzinfo=timezone.utc)) == []  # its last day
    items = due([row], now=datetime(2027, 3, 1, 0, 0, tzinfo=timezone.utc))
    assert [(i.reason, i.since) for i in items] == [("approval expired", "2027-03-01")]
    assert items[0].detail == ("approve of v0001 by A was given without a valid-until date on 2024-02-29, and an "
                               "approval lasts at most 3 years: to 2027-02-28")
    rejected = due_row(1, **signed("reject", "2020-01-01T10:00:00+00:00"))
    assert due([rejected], now=datetime(2027, 3, 1, tzinfo=timezone.utc)) == []  # a rejection has nothing to expire


def test_an_approval_does_not_carry_over_to_a_new_model_artefact():
    """After a run of a new model sha256 that nobody signed off, `due` said "nothing due" on the
    strength of the previous artefact's approval. A model never approved is still not listed, and a
    re-audit of the approved artefact keeps its approval."""
    from datetime import datetime, timezone

    now = datetime(2026, 2, 1, 12, 0, tzinfo=timezone.utc)
    approved = due_row(1, model_version="1.0", model_sha256="a" * 64, **signed("approve", "2026-01-02T10:00:00+00:00"))
    new = due_row(3, model_version="2.0", model_sha256="b" * 64)
    items = due([approved, due_row(2, model_sha256="b" * 64, model_version="2.0"), new], now=now)
    assert [(i.reason, i.since, i.run_path) for i in items] == [("new model not signed off", "2026-01-02", "/o/m/v0003")]
    assert items[0].detail == ("v0003 audits model 2.0 (sha256 bbbbbbbbbbbb), which no sign-off covers; "
                               "the last approval (v0001) was of model 1.0 (sha256 aaaaaaaaaaaa)")
    assert due([approved, due_row(2, model_sha256="a" * 64)], now=now) == []  # the same artefact re-audited
    assert due([due_row(1), due_row(2, model_sha256="b")], now=now) == []  # never approved: nothing to renew
    assert due([due_row(1, **signed("reject", "2026-01-02T10:00:00+00:00")), due_row(2, model_sha256="b")], now=now) == []
    # once the new artefact is signed off, its own sign-off is judged (an expired approval is listed)
    signed_new = {**new, **signed("approve-with-conditions", "2026-01-04T10:00:00+00:00", "2026-01-31")}
    assert [i.reason for i in due([approved, signed_new], now=now)] == ["approval expired"]


def test_an_ad_hoc_run_without_an_interval_does_not_end_the_schedule():
    """The interval was read from the newest run's policy only: one run under `default` (no
    interval) ended the re-audit schedule for good. The last interval declared holds, counted from
    the newest run, and `due` names the policy and the run that set it."""
    from datetime import datetime, timezone

    rows = [due_row(1, reaudit_interval_days=30, policy_name="p2", policy_version="3"),
            due_row(2, policy_name="default", policy_version="1")]
    items = due(rows, now=datetime(2026, 2, 1, 12, 0, tzinfo=timezone.utc))
    assert [(i.reason, i.since, i.run_path) for i in items] == [("re-audit due today", "2026-02-01", "/o/m/v0002")]
    assert items[0].detail == ("last audit v0002 on 2026-01-02; policy p2 3 (of v0001) asks for one every 30 days "
                               "(due 2026-02-01)")
    assert due(rows, now=datetime(2026, 1, 31, 23, 0, tzinfo=timezone.utc)) == []  # counted from v0002, not v0001
    # a later interval replaces an earlier one; an edited one is named where it is
    assert due([*rows, due_row(3, reaudit_interval_days=90)], now=datetime(2026, 2, 9, tzinfo=timezone.utc)) == []
    for edited in ("soon", True):  # true is no number of days (Python counts it as 1)
        items = due([*rows, due_row(3, reaudit_interval_days=edited)], now=datetime(2026, 2, 9, tzinfo=timezone.utc))
        assert [(i.reason, i.run_path) for i in items] == [("record unreadable", "/o/m/v0003")]


def test_due_as_of_a_date_leaves_out_runs_and_sign_offs_made_after_it(tmp_path):
    """`due --as-of DATE` counted runs and sign-offs recorded after DATE: a run made later hid the
    re-audit then overdue, and a later sign-off counted as if made by then. The registry keeps each
    run's latest sign-off only: an earlier one is read from the run's sign-off log."""
    from auditor.records.schedule import as_datetime, as_of

    then = as_datetime(date(2026, 2, 5))
    rows = [due_row(1, reaudit_interval_days=30), due_row(2, created_at="2026-03-01T10:00:00+00:00")]
    assert [r["version"] for r in as_of(rows, then)] == ["v0001"]
    assert [i.reason for i in due(as_of(rows, then), then)] == ["re-audit overdue"]
    # a first sign-off made after the date: unsigned then
    late = due_row(1, **signed("approve", "2026-02-06T09:00:00+00:00", "2026-12-31"))
    assert as_of([late], then)[0]["signoff_decision"] is None and late["signoff_decision"] == "approve"
    # a later sign-off of a run signed before: the one made by then, from the run's log
    run = tmp_path / "m" / "v0001"
    (run.parent / "signoffs").mkdir(parents=True)
    log = [{"decision": "approve", "reviewer": "A", "signed_at": "2026-01-02T10:00:00+00:00", "valid_until": "2026-02-01"},
           {"decision": "approve", "reviewer": "B", "signed_at": "2026-02-06T09:00:00+00:00", "valid_until": "2026-12-31"}]
    (run.parent / "signoffs" / "v0001.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    again = due_row(1, run_path=str(run), model_dir=str(run.parent),
                    **{**signed("approve", "2026-02-06T09:00:00+00:00", "2026-12-31", "B"), "signoff_count": 2})
    items = due(as_of([again], then), then)
    assert [(i.reason, i.since) for i in items] == [("approval expired", "2026-02-02")]
    assert items[0].detail == "approve of v0001 by A was valid until 2026-02-01"
    assert due([again], then) == []  # the latest, made after the date, said valid until 2026-12-31
    (run.parent / "signoffs" / "v0001.jsonl").unlink()  # the log cannot be read: the latest is kept
    assert as_of([again], then) == [again]


def test_a_registry_written_before_the_record_hash_column_is_read_and_upgraded(out_copy):
    """A registry made before ``signoff_record_sha256`` existed: verify reads it (the column is NULL:
    nothing recorded, nothing compared), and the next write adds the column."""
    import sqlite3

    from auditor.records.verify import verify_run

    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "Ada", "--decision", "reject", "--comment", "no").exit_code == 0
    db = out_copy / "audits.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE auditor_runs DROP COLUMN signoff_record_sha256")
    assert verify_run(run).ok
    assert invoke("history", "--out", out_copy).exit_code == 0
    with open_registry(out_copy) as registry:
        registry.add_run(run)
    with sqlite3.connect(db) as conn:
        (recorded,) = conn.execute("SELECT signoff_record_sha256 FROM auditor_runs WHERE run_path = ?", (str(run),)).fetchone()
    assert recorded is not None and len(recorded) == 64 and verify_run(run).ok
