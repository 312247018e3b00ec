"""Versions and the hash chain across runs; `auditor verify` names what was altered; concurrent
runs of one model get distinct versions and still chain."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditor.records.verify import verify_run

from .helpers import flat, forge_newest_signoff, invoke, stub_pdf


def manifest(path):
    return json.loads((path / "manifest.json").read_text())


def test_three_runs_three_versions_chained(history):
    assert [p.name for p in history.paths] == ["v0001", "v0002", "v0003"]
    assert manifest(history.paths[0])["previous"] is None
    for older, newer in zip(history.paths, history.paths[1:]):
        link = manifest(newer)["previous"]
        assert link == {"version": older.name,
                        "manifest_sha256": hashlib.sha256((older / "manifest.json").read_bytes()).hexdigest()}
    for path in history.paths:
        check = verify_run(path)
        assert check.ok, check.findings
        assert json.loads((path / "result.json").read_text())["version"] == path.name


def test_verify_cli_passes_on_untouched_runs(history):
    res = invoke("verify", *history.paths)
    assert res.exit_code == 0, res.output
    assert flat(res.output).count("OK") == 3


def test_one_byte_changed_in_result_json_is_named(history, out_copy):
    run = out_copy / "tiny-model" / "v0002"
    data = bytearray((run / "result.json").read_bytes())
    i = data.index(b'"status": "pass"') + len('"status": "')
    data[i:i + 1] = b"f"  # "pass" -> "fass": one byte
    (run / "result.json").write_bytes(bytes(data))
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    text = flat(res.output)
    assert "ALTERED" in text and "result.json: altered" in text
    assert "report.pdf: mismatch" in text  # the copy embedded in the PDF no longer matches either
    # the neighbours are intact
    assert invoke("verify", out_copy / "tiny-model" / "v0001").exit_code == 0
    assert invoke("verify", out_copy / "tiny-model" / "v0003").exit_code == 0


def test_rewriting_a_file_and_its_manifest_line_breaks_the_chain(out_copy):
    """A careful forger updates manifest.json too: the next run's link still names the edit."""
    run = out_copy / "tiny-model" / "v0001"
    html = (run / "report.html").read_bytes().replace(b"Executive summary", b"Executive summarY")
    (run / "report.html").write_bytes(html)
    body = json.loads((run / "manifest.json").read_text())
    body["files"]["report.html"] = hashlib.sha256(html).hexdigest()
    (run / "manifest.json").write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    own = verify_run(run)
    # the next run's link, and the manifest embedded in report.pdf, both disagree
    assert {(f.path, f.problem) for f in own.findings} == {("manifest.json", "chain"), ("report.pdf", "mismatch")}
    assert "v0002" in next(f.detail for f in own.findings if f.problem == "chain")
    nxt = verify_run(out_copy / "tiny-model" / "v0002")
    assert [(f.path, f.problem) for f in nxt.findings] == [("../v0001/manifest.json", "chain")]


def test_added_and_missing_files_are_named(out_copy):
    run = out_copy / "tiny-model" / "v0003"
    (run / "evidence" / "attributions-lime.csv").unlink()
    (run / "notes.txt").write_text("added later")
    findings = {(f.path, f.problem) for f in verify_run(run).findings}
    assert findings == {("evidence/attributions-lime.csv", "missing"), ("notes.txt", "added")}


def test_links_folders_and_special_files_added_to_a_run_are_named(out_copy, tmp_path):
    """verify listed only regular files: a link to /etc, an empty folder, a broken link and a FIFO
    added to a sealed run all read OK; and a listed file replaced by a link to a copy of itself."""
    import os

    run = out_copy / "tiny-model" / "v0003"
    (run / "evidence" / "etc").symlink_to("/etc")
    (run / "extra").mkdir()
    (run / "notes.txt").symlink_to("/nonexistent")
    os.mkfifo(run / "fifo")
    copy = tmp_path / "result.json"
    shutil.copy(run / "result.json", copy)
    (run / "result.json").unlink()
    (run / "result.json").symlink_to(copy)
    findings = {(f.path, f.problem, f.detail.split(" in the run")[0]) for f in verify_run(run).findings}
    assert findings == {("evidence/etc", "added", "a link"), ("extra", "added", "a folder"),
                        ("notes.txt", "added", "a link"), ("fifo", "added", "a special file"),
                        ("result.json", "altered", "a link where the run wrote a file")}


def test_two_swapped_versions_are_named_not_the_untouched_run_before_them(out_copy):
    """v0002 and v0003 swapped: the untouched v0001 read "altered since v0002 was written", since the
    folder named v0002 (v0003's run) recorded v0002's manifest hash as its previous run's. The finding
    now names the folder that links elsewhere."""
    model = out_copy / "tiny-model"
    (model / "v0002").rename(model / "swap")
    (model / "v0003").rename(model / "v0002")
    (model / "swap").rename(model / "v0003")
    findings = [(f.path, f.problem, f.detail) for f in verify_run(model / "v0001").findings]
    assert findings and all(path == "../v0002/manifest.json" for path, _, _ in findings), findings
    assert "links to 'v0002', not to v0001" in findings[0][2]
    assert not verify_run(model / "v0002").ok and not verify_run(model / "v0003").ok


def test_verify_refuses_a_folder_that_is_not_a_run(tmp_path):
    res = invoke("verify", tmp_path)
    assert res.exit_code == 2
    assert "is not a run directory (no result.json)" in flat(res.output) and "model's folder" not in res.output


def test_verify_of_a_model_folder_names_its_newest_version(history):
    """A reviewer who gives the model's folder, not a run's, was told only that it "is not a run directory"."""
    res = invoke("verify", history.model_dir)
    assert res.exit_code == 2
    assert (f"is not a run directory (no result.json); it is a model's folder of 3 versions: give one of them, e.g. "
            f"the newest, {history.model_dir.resolve() / 'v0003'}") in flat(res.output), res.output


def test_verify_of_a_model_folder_of_one_version_names_it(history, tmp_path):
    model = tmp_path / "out" / history.model_dir.name
    shutil.copytree(history.paths[0], model / "v0001")
    res = invoke("verify", model)
    assert res.exit_code == 2
    assert f"it is a model's folder of 1 version: give it, {model.resolve() / 'v0001'}" in flat(res.output), res.output



def test_verify_of_a_sign_off_folder_names_a_run_not_its_signed_reports(history, tmp_path):
    """verify given a model's signoffs/ folder said it was "a model's folder of 1 version: give it,
    .../signoffs/v0001", the folder of a run's signed reports, which verify then refused too."""
    model = tmp_path / "out" / history.model_dir.name
    shutil.copytree(history.paths[0], model / "v0001")
    (model / "signoffs" / "v0001").mkdir(parents=True)
    (model / "signoffs" / "v0001" / "report-signed-1.pdf").write_bytes(b"%PDF-1.7 stub\n")
    res = invoke("verify", model / "signoffs")
    assert res.exit_code == 2
    said = flat(res.output)
    assert "model's folder" not in said and "signoffs/v0001" not in said, said
    assert f"it holds the sign-offs of the runs of {model.resolve()}: give a run, e.g. the newest, " \
           f"{model.resolve() / 'v0001'}" in said, said
    res = invoke("verify", model / "signoffs" / "v0001")
    assert res.exit_code == 2 and "model's folder" not in flat(res.output)


CONCURRENT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import auditor
    policy, card, data, out, go = sys.argv[1:6]
    while not Path(go).exists():
        time.sleep(0.01)
    print(auditor.run_audit(policy, card, data, out).path)
""")


def test_concurrent_runs_get_distinct_versions_and_chain(artefacts, card_writer, policy_writer, tmp_path):
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(
        [{"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 0.8}]}]))
    out, go = tmp_path / "out", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, policy, card, artefacts.csv, out, go],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()  # both processes are importing; they start auditing at (nearly) the same moment
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outputs]
    paths = sorted(o.strip().splitlines()[-1] for o, _ in outputs)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["v0001", "v0002"]
    model = out / "tiny-model"
    assert sorted(p.name for p in model.iterdir() if not p.name.startswith(".")) == ["v0001", "v0002"]
    assert not [p for p in model.iterdir() if p.name.startswith(".tmp-")]
    assert invoke("verify", model / "v0001", model / "v0002").exit_code == 0
    rows = invoke("history", "--out", out, "--json")
    assert [r["version"] for r in json.loads(rows.output)] == ["v0001", "v0002"]


def test_a_deleted_version_is_never_given_again_and_its_successor_names_the_gap(artefacts, card_writer, policy_writer,
                                                                                 tmp_path):
    """Deleting the newest run folder before the next audit let that audit take the same version and
    overwrite its registry row: a failing audit could be erased without a trace. The number stays
    taken (the registry remembers it) and the next run's hash chain names the missing version."""

    import auditor

    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(
        [{"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 0.8}]}]))
    out = tmp_path / "out"
    first, second = (auditor.run_audit(policy, card, artefacts.csv, out) for _ in range(2))
    assert second.path.name == "v0002"
    shutil.rmtree(second.path)
    third = auditor.run_audit(policy, card, artefacts.csv, out)
    assert third.path.name == "v0003" and first.path.is_dir()
    findings = {(f.path, f.problem) for f in verify_run(third.path).findings}
    assert ("../v0002/manifest.json", "missing") in findings
    rows = json.loads(invoke("history", "--out", out, "--json").output)
    assert [r["run_id"] for r in rows if r["version"] == "v0002"] == [second.result.run_id]  # not overwritten


@pytest.mark.parametrize("hide", ["delete", "rename"])
def test_the_newest_run_deleted_is_named_by_the_run_before_it(artefacts, card_writer, policy_writer, tmp_path, hide):
    """A failing newest audit deleted, before any next run: every remaining version verified OK, and the
    one before it read as the model's newest audit. The registry remembers the later run, and verify
    of the now-newest folder names it. Renamed 'v0003<LF>' it was still taken for a version (the
    pattern's $ matches before a final line end), so the run before it was not the newest and verified OK."""

    import auditor

    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(
        [{"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 0.8}]}]))
    out = tmp_path / "out"
    first, second, third = (auditor.run_audit(policy, card, artefacts.csv, out) for _ in range(3))
    assert verify_run(second.path).ok
    if hide == "delete":
        shutil.rmtree(third.path)
    else:
        third.path.rename(third.path.with_name("v0003\n"))
    findings = [(f.path, f.problem, f.detail) for f in verify_run(second.path).findings]
    assert [(p, k) for p, k, _ in findings] == [("../v0003", "missing")], findings
    assert "a later run of this model, v0003, whose folder is gone" in findings[0][2]
    assert verify_run(first.path).ok  # its successor is there: its chain is whole


def _rewrite_newest_consistently(run, *, new_run_id=None):
    """A forger's rewrite of the newest version: result.json says PASS everywhere, manifest.json
    lists its new hash, and report.pdf (whose embedded copies would disagree) is removed with its
    manifest line. No later version links to it, and no sign-off exists."""
    result = json.loads((run / "result.json").read_text())
    result["status"] = "pass"
    for check in result["checks"]:
        check["status"] = "pass"
    if new_run_id:
        result["run_id"] = new_run_id
    content = json.dumps(result, indent=2).encode()
    (run / "result.json").write_bytes(content)
    body = json.loads((run / "manifest.json").read_text())
    body["files"]["result.json"] = hashlib.sha256(content).hexdigest()
    body["files"].pop("report.pdf")
    if new_run_id:
        body["run_id"] = new_run_id
    (run / "report.pdf").unlink()
    (run / "manifest.json").write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")


def test_a_rewritten_newest_version_is_caught_by_its_registry_row_after_the_folder_moved(history, tmp_path):
    """The registry's row of a run records its manifest hash: the only anchor of the newest version.
    verify looked the row up by the run's absolute path, so once the output folder had been moved or
    copied with its registry (a CI artefact restored elsewhere) no row matched and a consistent
    rewrite of the newest version verified OK (and could be signed). The row written before the move
    (same model folder and version; same run id, or an old path that is gone) is compared now."""

    copied = tmp_path / "copied"  # rows name history.out's paths, which still exist: matched by run id
    shutil.copytree(history.out, copied)
    assert verify_run(copied / "tiny-model" / "v0002").ok  # a sound run of a copied folder verifies
    _rewrite_newest_consistently(copied / "tiny-model" / "v0003")
    found = verify_run(copied / "tiny-model" / "v0003").findings
    assert [(f.path, f.problem) for f in found] == [("../../audits.sqlite", "mismatch")], found
    assert str(history.out / "tiny-model" / "v0003") in found[0].detail and "moved" in found[0].detail

    before = tmp_path / "before"  # its own registry, then moved: the old paths are gone
    shutil.copytree(history.out, before)
    (before / "audits.sqlite").unlink()
    assert invoke("history", "--out", before).exit_code == 0
    _rewrite_newest_consistently(before / "tiny-model" / "v0003", new_run_id="f" * 32)
    moved = tmp_path / "moved"
    before.rename(moved)
    assert verify_run(moved / "tiny-model" / "v0002").ok
    res = invoke("verify", moved / "tiny-model" / "v0003")
    assert res.exit_code == 1 and "the registry records manifest sha256" in flat(res.output), res.output
    res = invoke("sign-off", moved / "tiny-model" / "v0003", "--reviewer", "A. Reviewer", "--decision", "reject",
                 "--comment", "c")
    assert res.exit_code == 1 and "failed verification" in flat(res.output), res.output


def test_a_rewritten_newest_version_is_caught_by_the_row_of_the_registry_db_names(artefacts, card_writer, policy_writer,
                                                                                   tmp_path, monkeypatch):
    """Runs recorded in a registry named by --db (a shared one): verify read only the default
    audits.sqlite, which such runs never touch, so a consistent rewrite of the newest version
    verified OK with `verify --db` and with AUDITOR_DB. The named registry's row is compared now."""
    import auditor

    monkeypatch.setattr("auditor.engine.audit.html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "card_completeness"}]))
    out, shared = tmp_path / "out", tmp_path / "shared.sqlite"
    run = auditor.run_audit(policy, card, artefacts.csv, out, db=str(shared)).path
    assert not (out / "audits.sqlite").exists() and shared.is_file()
    assert invoke("verify", run, "--db", shared).exit_code == 0  # sound
    _rewrite_newest_consistently(run)
    assert verify_run(run).ok  # no registry is named: nothing anchors the newest version
    res = invoke("verify", run, "--db", shared)
    assert res.exit_code == 1, res.output
    assert f"{shared}: mismatch — the registry records manifest sha256" in flat(res.output), res.output
    monkeypatch.setenv("AUDITOR_DB", f"sqlite:///{shared}")
    assert [(f.path, f.problem) for f in verify_run(run).findings] == [(str(shared), "mismatch")]


def test_the_newest_sign_off_record_is_anchored_by_the_registry_db_names(artefacts, card_writer, policy_writer,
                                                                        tmp_path, monkeypatch):
    """As the default registry's row does, the row of the registry --db names anchors the newest
    sign-off record: a rejection rewritten into an approval is named."""
    import auditor

    monkeypatch.setattr("auditor.engine.audit.html_to_pdf", stub_pdf)
    monkeypatch.setattr("auditor.render.pdf.html_to_pdf", stub_pdf)
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "card_completeness"}]))
    shared = tmp_path / "shared.sqlite"
    run = auditor.run_audit(policy, card, artefacts.csv, tmp_path / "out", db=str(shared)).path
    res = invoke("sign-off", run, "--reviewer", "A. Reviewer", "--decision", "reject", "--comment", "no", "--db", shared)
    assert res.exit_code == 0, res.output
    assert invoke("verify", run, "--db", shared).exit_code == 0
    log = run.parent / "signoffs" / "v0001.jsonl"
    record = json.loads(log.read_text())
    record["decision"] = "approve"
    log.write_text(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
    res = invoke("verify", run, "--db", shared)
    assert res.exit_code == 1 and "record 1 differs from what the registry recorded" in flat(res.output), res.output


def _quick_audits(artefacts, card_writer, policy_writer, tmp_path, monkeypatch):
    """``(out, audit)``: ``audit()`` stores one more run of a one-check policy (card_completeness, the
    PDF stubbed) under ``out`` and returns its folder."""
    import auditor

    monkeypatch.setattr("auditor.engine.audit.html_to_pdf", stub_pdf)
    monkeypatch.setattr("auditor.render.pdf.html_to_pdf", stub_pdf)
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "card_completeness"}]))
    out = tmp_path / "out"
    return out, lambda: auditor.run_audit(policy, card, artefacts.csv, out).path


def test_a_deleted_signed_version_is_not_given_again_after_the_registry_is_rebuilt(artefacts, card_writer, policy_writer,
                                                                                   tmp_path, monkeypatch):
    """The newest version was signed off, then its folder deleted and the registry rebuilt (which
    drops rows of runs that are gone): the next audit took the same number, so the old sign-off log
    named the new run, which `verify` then called ALTERED ("record 1 signed a different manifest.json")
    for ever, and a sign-off of it was appended to the old run's log. The number stays taken now: the
    next run is v0003, and its chain names the missing v0002."""

    out, audit = _quick_audits(artefacts, card_writer, policy_writer, tmp_path, monkeypatch)
    first, second = audit(), audit()
    res = invoke("sign-off", second, "--reviewer", "A. Reviewer", "--decision", "reject", "--comment", "no")
    assert res.exit_code == 0, res.output
    shutil.rmtree(second)
    assert invoke("history", "--rebuild", "--out", out).exit_code == 0
    third = audit()
    assert third.name == "v0003"
    findings = [(f.path, f.problem) for f in verify_run(third).findings]
    assert findings == [("../v0002/manifest.json", "missing")], findings
    assert verify_run(first).ok


def test_a_deleted_unsigned_newest_run_keeps_its_number_through_a_rebuild(artefacts, card_writer, policy_writer,
                                                                         tmp_path, monkeypatch):
    """The README promises a version number is never given twice, yet after `history --rebuild` the
    number of a deleted newest run without sign-offs was given again: the new v0002 chained to v0001,
    verified OK, and the deletion left no trace (diffs made against the old v0002 sat beside the new
    one). A rebuild retires the numbers of runs whose folders are gone: the next run is v0003, its
    chain names the gap, and `verify` of v0001 still says a later run was deleted."""

    out, audit = _quick_audits(artefacts, card_writer, policy_writer, tmp_path, monkeypatch)
    first, second = audit(), audit()
    shutil.rmtree(second)
    res = invoke("history", "--rebuild", "--out", out)
    assert res.exit_code == 0, res.output
    assert f"unindexed {second}: the registry recorded this run, and its folder is gone (its number stays taken" \
        in flat(res.output)
    assert [(f.path, f.problem) for f in verify_run(first).findings] == [("../v0002", "missing")]
    assert invoke("history", "--rebuild", "--out", out).exit_code == 0  # a second rebuild keeps it retired
    third = audit()
    assert third.name == "v0003"
    assert [(f.path, f.problem) for f in verify_run(third).findings] == [("../v0002/manifest.json", "missing")]
    rows = json.loads(invoke("history", "--out", out, "--json").output)
    assert [r["version"] for r in rows] == ["v0001", "v0003"]  # history lists runs, not retired numbers


def test_a_rebuild_keeps_the_recorded_row_of_an_altered_run_and_names_what_it_forgets(history, out_copy):
    """`history --rebuild` re-indexed every run from its files: a consistent rewrite of the newest
    version (which only the registry's manifest hash anchors) was laundered, `verify` said OK from
    then on, and a deleted version's row vanished without a word. The recorded row of an altered run
    is kept (verify still names it; history still shows what was audited) and both are said."""

    assert invoke("history", "--out", out_copy).exit_code == 0  # the registry, built from the sound runs
    model = out_copy / "tiny-model"
    _rewrite_newest_consistently(model / "v0003")
    shutil.rmtree(model / "v0001")
    res = invoke("history", "--rebuild", "--out", out_copy, "--json")
    assert res.exit_code == 0, res.output
    text = flat(res.output)
    assert f"warning: {model / 'v0003'} was recorded with manifest sha256" in text and "its recorded row is kept" in text
    assert f"unindexed {model / 'v0001'}: the registry recorded this run, and its folder is gone" in text
    found = verify_run(model / "v0003").findings
    assert ("../../audits.sqlite", "mismatch") in [(f.path, f.problem) for f in found], found
    rows = json.loads(invoke("history", "--out", out_copy, "--json").output)
    assert [(r["version"], r["status"]) for r in rows] == [("v0002", "pass"), ("v0003", "warn")]
    assert [(f.path, f.problem) for f in verify_run(model / "v0002").findings] == [("../v0001/manifest.json", "missing")]


def test_a_run_a_rebuild_cannot_read_keeps_its_recorded_row(history, out_copy):
    """A rebuild deleted the row of every run it skipped (a garbage line in its sign-off log, a file
    another user owns): the next rebuild, once the run read again, indexed a consistent rewrite of it
    as if audited so, and verify said OK. A skipped run keeps the row recorded for it."""
    assert invoke("history", "--out", out_copy).exit_code == 0  # the registry, built from the sound runs
    newest = out_copy / "tiny-model" / "v0003"
    _rewrite_newest_consistently(newest)
    log = out_copy / "tiny-model" / "signoffs" / "v0003.jsonl"
    log.parent.mkdir()
    log.write_text("garbage\n")
    res = invoke("history", "--rebuild", "--out", out_copy)
    assert res.exit_code == 0 and "a row recorded for it is kept" in flat(res.output), res.output
    log.unlink()
    assert invoke("history", "--rebuild", "--out", out_copy).exit_code == 0
    found = [(f.path, f.problem) for f in verify_run(newest).findings]
    assert ("../../audits.sqlite", "mismatch") in found, found


def test_the_newest_sign_off_record_is_anchored_by_the_registry(artefacts, card_writer, policy_writer, tmp_path,
                                                               monkeypatch):
    """The newest sign-off record has no later record chaining to it: a rejection rewritten into an
    approval (its signed PDF re-rendered to match, here a stub) verified OK. The registry row records
    the latest decision, reviewer, time and expiry when the sign-off is made; verify compares them."""
    import auditor

    monkeypatch.setattr("auditor.engine.audit.html_to_pdf", stub_pdf)  # the forger's re-rendered PDF, below
    monkeypatch.setattr("auditor.render.pdf.html_to_pdf", stub_pdf)
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "card_completeness"}]))
    run = auditor.run_audit(policy, card, artefacts.csv, tmp_path / "out").path
    for decision in ("reject", "reject"):
        res = invoke("sign-off", run, "--reviewer", "A. Reviewer", "--decision", decision, "--comment", "no")
        assert res.exit_code == 0, res.output
        assert verify_run(run).ok  # sound after each sign-off
    forge_newest_signoff(run, decision="approve", valid_until="2999-01-01")
    found = [(f.path, f.problem, f.detail) for f in verify_run(run).findings]
    assert [(p, k) for p, k, _ in found] == [("../signoffs/v0001.jsonl", "mismatch")], found
    assert "record 2 differs from what the registry recorded" in found[0][2] and "decision 'approve'" in found[0][2]


def test_the_newest_sign_off_record_is_anchored_whole_by_the_registry(artefacts, card_writer, policy_writer, tmp_path,
                                                                     monkeypatch):
    """The registry anchored four fields of the newest record: its comment rewritten (its PDF
    re-rendered to match) verified OK. The record's whole line is anchored now; a rebuild of the
    registry keeps the recorded sign-off and says so, so that it cannot launder the forgery."""
    import auditor

    monkeypatch.setattr("auditor.engine.audit.html_to_pdf", stub_pdf)
    monkeypatch.setattr("auditor.render.pdf.html_to_pdf", stub_pdf)
    card = card_writer(tmp_path / "card")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "card_completeness"}]))
    out = tmp_path / "out"
    run = auditor.run_audit(policy, card, artefacts.csv, out).path
    res = invoke("sign-off", run, "--reviewer", "A. Reviewer", "--decision", "approve-with-conditions",
                 "--conditions", "monthly drift report", "--comment", "sound")
    assert res.exit_code == 0 and verify_run(run).ok, res.output
    forge_newest_signoff(run, conditions="none", comment="all good")
    found = [(f.path, f.problem, f.detail) for f in verify_run(run).findings]
    assert [(p, k) for p, k, _ in found] == [("../signoffs/v0001.jsonl", "mismatch")], found
    assert "its comment, conditions, signature or signed report's hash changed" in found[0][2], found
    res = invoke("history", "--rebuild", "--out", out)
    assert res.exit_code == 0 and "its latest sign-off record is not the one recorded" in flat(res.output), res.output
    assert [(f.path, f.problem) for f in verify_run(run).findings] == [("../signoffs/v0001.jsonl", "mismatch")]


def test_a_manifest_that_cannot_be_read_is_named_not_an_internal_error(out_copy, monkeypatch):
    """A manifest.json this user may not read (another user's, in a shared folder): the previous
    run's is a finding of the chain, the next run's says nothing about this one, and the run's own
    is an unreadable stored result (exit 3) naming it; each escaped as a PermissionError (exit 5)."""
    model = out_copy / "tiny-model"
    real = Path.read_bytes
    unreadable = set()

    def read_bytes(self):
        if self.resolve() in unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    unreadable.add((model / "v0002" / "manifest.json").resolve())
    found = [(f.path, f.problem) for f in verify_run(model / "v0003").findings]
    assert found == [("../v0002/manifest.json", "unreadable")]
    assert verify_run(model / "v0001").ok
    res = invoke("verify", model / "v0002")
    assert res.exit_code == 3, repr(res.exception)
    assert f"{model.resolve() / 'v0002' / 'manifest.json'}" in flat(res.output) and "cannot be read" in flat(res.output)


def test_a_run_copied_alone_verifies_its_files_and_says_its_chain_was_not_checked(history, tmp_path):
    """A reviewer sent one run folder read ALTERED ("the previous run's manifest is gone", exit 1)
    though nothing in it was touched: its files verify, and the link to the previous run, which is
    not there, is named as not checked. Alone means no other run and no registry beside it."""

    copy = tmp_path / "sent" / "v0002"
    shutil.copytree(history.paths[1], copy)
    checked = verify_run(copy)
    assert checked.ok and checked.findings == []
    assert checked.unchecked and checked.unchecked[0].startswith("the link to v0001: ../v0001/manifest.json is not beside")
    res = invoke("verify", copy)
    assert res.exit_code == 0 and "files verified; not checked:" in flat(res.output), res.output
    # an altered file in the copy is still named
    (copy / "result.json").write_bytes((copy / "result.json").read_bytes() + b" ")
    assert ("result.json", "altered") in [(f.path, f.problem) for f in verify_run(copy).findings]
    # beside another run of the model (or a registry) the previous run is missing, not merely elsewhere
    (copy / "result.json").write_bytes(history.snapshot["v0002"][Path("result.json")])
    shutil.copytree(history.paths[2], copy.parent / "v0003")
    assert [(f.path, f.problem) for f in verify_run(copy).findings] == [("../v0001/manifest.json", "missing"),
                                                                         ("..", "mismatch")]  # sent/: not tiny-model/


def test_a_run_the_registry_has_no_row_of_verifies_saying_its_row_was_not_checked(history, tmp_path):
    """The registry's row is the newest version's one anchor: with it removed, a consistent rewrite of
    the run verified OK and said nothing of the registry. It still verifies (the row may have been lost
    with a failed write), now saying the row was not there to compare with."""
    import sqlite3

    copied = tmp_path / "out"
    shutil.copytree(history.out, copied)
    run = copied / "tiny-model" / "v0003"
    assert verify_run(run).unchecked == []
    with sqlite3.connect(copied / "audits.sqlite") as conn:
        assert conn.execute("DELETE FROM auditor_runs WHERE run_path LIKE ?", ("%/v0003",)).rowcount == 1
    checked = verify_run(run)
    assert checked.ok and checked.unchecked == [
        "the registry's row of it: ../../audits.sqlite has none (a run stored while its registry write failed, or a "
        "row removed), so the manifest hash and sign-off count it would record were not compared; the model's next "
        "run indexes a run stored unindexed"]
    res = invoke("verify", run)
    assert res.exit_code == 0 and "files verified; not checked:" in flat(res.output), res.output
