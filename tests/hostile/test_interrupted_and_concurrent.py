"""Interrupted and concurrent runs: no partial version directory is ever visible, the next run
works, two runs of one model at once get distinct versions.

SIGINT is a real signal sent to this process (while a check runs, and while the run is being
written); SIGKILL and concurrency need real ``auditor run`` processes. Those three start together
(each spends seconds importing), and WeasyPrint is replaced in them by a stub that takes 1.5 s of
wall time and no CPU: what is under test is the store, and the machine has two busy cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from .conftest import CARD_ONLY, only_version, read_result

TIMEOUT_S = 300
# `auditor run` with the PDF renderer stubbed out (sleeps, so a run spends a while writing).
AUDITOR_WITH_STUB_PDF = """
import sys, time
import auditor.engine.audit

def html_to_pdf(html, **kw):
    time.sleep(1.5)
    return b"%PDF-1.7 stub\\n"

auditor.engine.audit.html_to_pdf = html_to_pdf
from auditor.cli import main
main()
"""
INTERRUPTED = "interrupted: the audit stopped; nothing partial was written (a version is written whole or not at all)"


def _entries(out: Path, model: str = "tiny-model") -> list[str]:
    folder = out / model
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- SIGINT, in this process ----------------------------------------------------------------------

@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler, as an `auditor run` started from a terminal has it. A test process
    started in the background by a non-interactive shell (`cmd &`) inherits SIGINT ignored, and
    Python then keeps it ignored: a fresh-clone CI run started that way saw the signal swallowed.
    The store's behaviour under a real KeyboardInterrupt is what is under test."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    if previous is not signal.default_int_handler:
        import warnings

        warnings.warn(f"SIGINT handler was {previous!r} before this test (inherited from the shell that started "
                      "pytest?); Python's default installed for the test", stacklevel=1)
    yield
    signal.signal(signal.SIGINT, previous)


def test_sigint_while_a_check_runs(cli, tmp_path, artefacts, card_writer, policy_writer, bad_model, default_sigint):
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "performance", "params": {"n_bootstrap": 20}}]))
    card = card_writer(tmp_path / "card", model={"path": str(bad_model("SigintClassifier")), "format": "joblib"})
    out = tmp_path / "out"
    result = cli.run(policy, card, artefacts.csv, out, "--allow-pickle")
    assert result.code == 130, result.raw
    assert INTERRUPTED in result.text
    assert _entries(out) == []


def test_sigterm_while_a_check_runs_unwinds_like_ctrl_c(cli, tmp_path, artefacts, card_writer, policy_writer, bad_model):
    """SIGTERM (a cancelled CI job) stops the audit as Ctrl-C does: exit 143, a message, nothing
    partial left (the staged folder removed), and the previous SIGTERM handler restored."""
    before = signal.getsignal(signal.SIGTERM)
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "performance", "params": {"n_bootstrap": 20}}]))
    card = card_writer(tmp_path / "card", model={"path": str(bad_model("SigtermClassifier")), "format": "joblib"})
    out = tmp_path / "out"
    result = cli.run(policy, card, artefacts.csv, out, "--allow-pickle")
    assert result.code == 143, result.raw
    assert INTERRUPTED.replace("interrupted", "terminated (SIGTERM)") in result.text
    assert _entries(out) == []
    assert signal.getsignal(signal.SIGTERM) == before


def test_sigint_while_the_run_is_written(cli, tmp_path, artefacts, card_writer, card_only_policy, monkeypatch,
                                        default_sigint):
    import auditor.engine.audit

    out = tmp_path / "out"
    seen = []

    def interrupted_render(html, **kw):
        seen.extend(_entries(out))  # the run is being written: only its hidden temporary directory exists
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the KeyboardInterrupt arrives here
        raise AssertionError("SIGINT was not delivered")

    monkeypatch.setattr(auditor.engine.audit, "html_to_pdf", interrupted_render)
    result = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert result.code == 130, result.raw
    assert INTERRUPTED in result.text
    assert len(seen) == 1 and seen[0].startswith(".tmp-"), seen
    assert _entries(out) == []  # the temporary directory is gone too
    monkeypatch.undo()
    monkeypatch.setattr(auditor.engine.audit, "html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")
    again = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert again.code == 0 and "overall: INFO (v0001)" in again.text
    only_version(out)


def test_sigterm_after_the_version_was_stored_says_where_it_is(cli, tmp_path, artefacts, card_writer, card_only_policy,
                                                              stub_pdf, monkeypatch):
    """SIGTERM while the registry row is written: the version is already in place, whole. The
    message said "nothing partial was written" (as if no audit existed); it names the stored version
    and how to index it, and the version verifies."""
    import auditor.engine.audit

    def terminated_register(run_dir, out, db):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # Terminated arrives here
        raise AssertionError("SIGTERM was not delivered")

    monkeypatch.setattr(auditor.engine.audit, "register_run", terminated_register)
    out = tmp_path / "out"
    result = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert result.code == 143, result.raw
    stored = only_version(out)
    assert "nothing partial was written" not in result.text
    assert f"terminated (SIGTERM): the audit had finished and was stored as {stored}" in " ".join(result.text.split())
    assert "auditor history --rebuild" in result.text
    monkeypatch.undo()
    assert cli("verify", str(stored)).code == 0


def _publish_then_interrupted():
    """The store's rename, then a Ctrl-C: between the version stored and the return from the store."""
    import auditor.records.atomic as atomic

    real = atomic.publish_folder

    def publish_then_interrupted(staged, final):
        real(staged, final)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        raise AssertionError("SIGINT was not delivered")

    return publish_then_interrupted


def test_sigint_just_after_the_rename_names_the_version(cli, tmp_path, artefacts, card_writer, card_only_policy, stub_pdf,
                                                       monkeypatch, default_sigint):
    """Ctrl-C arriving between the rename that stores the version and the return from the store."""
    import auditor.records.store as store

    monkeypatch.setattr(store, "publish_folder", _publish_then_interrupted())
    out = tmp_path / "out"
    result = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert result.code == 130, result.raw
    stored = only_version(out)
    assert f"interrupted: the audit had finished and was stored as {stored}" in " ".join(result.text.split())
    assert "nothing partial" not in result.text
    assert "the registry may not list it yet" in result.text and "auditor history --rebuild" in result.text  # it does not



def test_sigint_while_the_junit_report_is_written_names_the_stored_version(cli, tmp_path, artefacts, card_writer,
                                                                         card_only_policy, stub_pdf, monkeypatch,
                                                                         default_sigint):
    """Ctrl-C once the version is stored and registered, while `run` writes its --junit file: it said
    "stopped before it finished (... written whole or not at all)", as if there were no audit; it names
    the stored version and the file it may not have written, and exits 130."""
    import auditor.render.junit as junit

    def interrupted_junit(result):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        raise AssertionError("SIGINT was not delivered")

    monkeypatch.setattr(junit, "junit_xml", interrupted_junit)
    out, report = tmp_path / "out", tmp_path / "results.xml"
    result = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out, "--junit", str(report))
    assert result.code == 130, result.raw
    stored = only_version(out)
    said = " ".join(result.text.split())
    assert f"interrupted: the audit had finished and was stored as {stored}" in said
    assert f"--junit {report} may not have been written" in said
    assert "stopped before it finished" not in said and "registry may not list it" not in said
    assert not report.exists()
    monkeypatch.undo()
    assert cli("verify", str(stored)).code == 0


def test_the_next_run_indexes_a_version_stored_but_never_registered(cli, tmp_path, artefacts, card_writer,
                                                                     card_only_policy, stub_pdf, monkeypatch,
                                                                     default_sigint):
    """Ctrl-C (or SIGKILL, which says nothing) between the rename that stores v0002 and its registry row:
    `history` and `due` did not know v0002 until someone ran `history --rebuild`, however many runs came
    after. The model's next run indexes it with itself; `history` lists all three, and each verifies."""
    import auditor.records.atomic as atomic
    import auditor.records.store as store
    from auditor.records.sqlite_reader import read_runs

    real = atomic.publish_folder

    out, card = tmp_path / "out", card_writer(tmp_path / "card")
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0  # the registry exists from here
    monkeypatch.setattr(store, "publish_folder", _publish_then_interrupted())
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 130
    monkeypatch.setattr(store, "publish_folder", real)
    assert [Path(r["run_path"]).name for r in read_runs(out, None, None)] == ["v0001"]
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    assert [Path(r["run_path"]).name for r in read_runs(out, None, None)] == ["v0001", "v0002", "v0003"]
    for version in ("v0001", "v0002", "v0003"):
        assert cli("verify", str(out / "tiny-model" / version)).code == 0

# --- SIGKILL and concurrency, in real processes ----------------------------------------------------

@pytest.fixture(scope="module")
def procs(tmp_path_factory, artefacts, card_writer, policy_writer):
    root = tmp_path_factory.mktemp("processes")
    policy = policy_writer(root / "policy", policy_writer.tiny(CARD_ONLY))
    card = card_writer(root / "card")

    def spawn(out):
        cmd = [sys.executable, "-c", AUDITOR_WITH_STUB_PDF, "run", "-q", "--policy", str(policy), "--card", str(card),
               "--data", str(artefacts.csv), "--out", str(out)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    jobs = {
        "sigkill-in-write": SimpleNamespace(out=root / "killed"),
        "concurrent-1": SimpleNamespace(out=root / "shared"),
        "concurrent-2": SimpleNamespace(out=root / "shared"),
    }
    for job in jobs.values():
        job.proc = spawn(job.out)
    victim = jobs["sigkill-in-write"]
    victim.killed_while_writing = False
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and victim.proc.poll() is None:
        if any((victim.out / "tiny-model").glob(".tmp-*")):
            victim.proc.send_signal(signal.SIGKILL)
            victim.killed_while_writing = True
            break
        time.sleep(0.01)
    for job in jobs.values():
        try:
            job.stdout, job.stderr = job.proc.communicate(timeout=max(deadline - time.monotonic(), 5))
        except subprocess.TimeoutExpired:
            job.proc.kill()
            job.stdout, job.stderr = job.proc.communicate()
        job.rc = job.proc.returncode
    return jobs


def test_sigkill_leaves_no_version_and_the_next_run_cleans_up(procs, cli, artefacts, card_writer, card_only_policy,
                                                              tmp_path, stub_pdf):
    job = procs["sigkill-in-write"]
    assert job.killed_while_writing, (job.rc, job.stderr[-2000:])
    assert job.rc == -signal.SIGKILL
    left = _entries(job.out)
    assert len(left) == 1 and left[0].startswith(".tmp-"), left  # hidden, never a version
    result = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, job.out)
    assert result.code == 0, result.raw
    assert "overall: INFO (v0001)" in result.text  # the card-only policy gates nothing
    only_version(job.out)  # and the dead run's temporary directory is gone


def test_two_runs_at_once_get_distinct_versions(procs):
    first, second = procs["concurrent-1"], procs["concurrent-2"]
    for job in (first, second):
        assert job.rc == 0, job.stderr[-2000:]
    out = first.out
    assert _entries(out) == ["v0001", "v0002"]
    said = sorted(" ".join(job.stdout.split()).split("overall: INFO (")[1][:5] for job in (first, second))
    assert said == ["v0001", "v0002"]
    results = [read_result(out / "tiny-model" / v) for v in ("v0001", "v0002")]
    assert [r["version"] for r in results] == ["v0001", "v0002"]
    assert results[0]["run_id"] != results[1]["run_id"]
    for version in ("v0001", "v0002"):
        run_dir = out / "tiny-model" / version
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["version"] == version
        for rel, digest in manifest["files"].items():
            assert hashlib.sha256((run_dir / rel).read_bytes()).hexdigest() == digest, (version, rel)


def test_many_writers_racing_for_versions_never_collide(tmp_path):
    """The store alone, 8 threads writing runs of one model at once: 8 distinct, complete versions."""
    from concurrent.futures import ThreadPoolExecutor

    from auditor.records.store import write_run

    def build(label):
        time.sleep(0.05)  # long enough that the writers overlap
        return {"result.json": json.dumps({"version": label}).encode(), "evidence/x.csv": b"a\n"}

    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda _: write_run(tmp_path, "m", build), range(8)))
    names = sorted(p.name for p in paths)
    assert names == [f"v{i:04d}" for i in range(1, 9)]
    for p in paths:
        assert json.loads((p / "result.json").read_text()) == {"version": p.name}
    assert sorted(q.name for q in (tmp_path / "m").iterdir()) == names


def test_history_lists_a_card_only_audit_as_info(cli, artefacts, card_writer, card_only_policy, tmp_path, stub_pdf):
    out = tmp_path / "out"
    assert cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out).code == 0
    res = cli("history", "--out", out)
    assert res.code == 0 and "INFO" in res.text and "PASS" not in res.text, res.text


def test_a_version_is_flushed_to_the_disk_before_it_is_published(tmp_path, monkeypatch):
    """A version was written with write_bytes and renamed into place without fsync: on a crash or
    power loss soon after, the rename can reach the disk before the files' data, leaving a published
    version whose files are empty or cut short (`verify` then calls a sound audit altered). Every file
    and its folders are flushed before the rename, and the model's folder after it."""
    import auditor.records.atomic as atomic
    from auditor.records.store import write_run

    events = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def rename(src, dst):
        events.append(("rename", str(src), str(dst)))
        return real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "rename", rename)
    files = {"result.json": b"{}", "manifest.json": b"{}", "evidence/a.csv": b"x\n"}
    version = write_run(tmp_path / "out", "m", lambda label: files)
    (i, rename_event), = [(i, e) for i, e in enumerate(events) if e[0] == "rename"]
    staged = rename_event[1]
    synced_before = {e[1] for e in events[:i]}
    assert {f"{staged}/{rel}" for rel in files} <= synced_before, events
    assert {staged, f"{staged}/evidence"} <= synced_before, events
    assert ("fsync", str(version.parent)) in events[i + 1:], events


def test_ctrl_c_in_a_command_without_its_own_handler_says_so(monkeypatch, capsys):
    """typer turned a Ctrl-C outside `run`'s handler (while starting up, in `sign-off`, `policies`)
    into exit 130 with nothing said."""
    import auditor.cli
    import auditor.policy.catalog

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(auditor.policy.catalog, "builtin_policies", interrupted)
    monkeypatch.setattr(sys, "argv", ["auditor", "policies"])
    with pytest.raises(SystemExit) as exit_:
        auditor.cli.main()
    assert exit_.value.code == 130
    assert "interrupted: stopped before it finished" in capsys.readouterr().err
