"""`auditor run --junit FILE`: one testcase per check, valid against the JUnit schema (Jenkins'
junit-10.xsd, shipped in tests/data), every check's status recoverable from the file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from auditor.render.junit import junit_xml, read_statuses
from auditor.results import AuditResult, ErrorInfo, Status, WaiverRecord

from .helpers import flat, invoke

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SCHEMA))


def every_status(result: AuditResult) -> AuditResult:
    """The tiny audit with its checks given every status (one each, cycling), as a reader would see them."""
    base = result.checks[0]
    checks = []
    for i, status in enumerate(Status):
        update = {"id": f"{base.id}_{status.value}", "status": status, "summary": f"summary of {status.value}"}
        if status is Status.ERROR:
            update["error"] = ErrorInfo(type="ValueError", message="boom", traceback="Traceback ...")
        if status is Status.SKIPPED:
            update["skipped_reason"] = "needs gradients"
        if status is Status.WAIVED:
            update["waiver"] = WaiverRecord(check=base.id, justification="known drift, fix scheduled", approver="Head of MRM",
                                            expires="2099-01-01", source="waivers.yaml", state="applied",
                                            status_before=Status.FAIL)
        checks.append(base.model_copy(update=update))
    return result.model_copy(update={"checks": checks})


def test_every_status_round_trips_and_validates(history, schema):
    result = every_status(history.runs[2].result)
    xml = junit_xml(result)
    schema.validate(xml.decode())
    assert read_statuses(xml) == {c.id: c.status for c in result.checks}
    root = ET.fromstring(xml)
    suite = root.find("testsuite")
    assert suite.get("name") == result.policy.name
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (str(len(Status)), "1", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert {c.get("classname") for c in cases.values()} == {result.policy.name}
    base = history.runs[2].result.checks[0].id
    assert cases[f"{base}_fail"].find("failure").get("message") == "summary of fail"
    assert "failing thresholds" in cases[f"{base}_fail"].find("failure").text
    assert cases[f"{base}_error"].find("error").get("type") == "ValueError"
    assert cases[f"{base}_skipped"].find("skipped").get("message") == "needs gradients"
    waived = cases[f"{base}_waived"]
    assert waived.find("failure") is None and waived.find("error") is None and waived.find("skipped") is None
    assert "known drift, fix scheduled" in waived.findtext("system-out") and "Head of MRM" in waived.findtext("system-out")
    for status in (Status.PASS, Status.WARN):
        assert [e.tag for e in cases[f"{base}_{status.value}"]] == ["system-out"]


def test_characters_xml_forbids_are_written_as_code_points_and_the_file_parses(history, schema):
    """A vertical tab (Word's manual line break) in a waiver's justification, or an escape in the
    policy's name, made a file no JUnit reader could parse."""
    result = every_status(history.runs[2].result)
    waived = next(c for c in result.checks if c.status is Status.WAIVED)
    waiver = waived.waiver.model_copy(update={"justification": "Accepted per memo 12\vsee appendix"})
    checks = [c.model_copy(update={"waiver": waiver}) if c is waived else c for c in result.checks]
    policy = result.policy.model_copy(update={"name": "team\x1bpolicy"})
    xml = junit_xml(result.model_copy(update={"checks": checks, "policy": policy}))
    schema.validate(xml.decode())
    root = ET.fromstring(xml)
    assert root.find("testsuite").get("name") == "teamU+001Bpolicy"
    assert "Accepted per memo 12U+000Bsee appendix" in "".join(root.itertext())
    assert read_statuses(xml) == {c.id: c.status for c in result.checks}


def test_run_writes_junit_with_the_failing_thresholds(history, artefacts, tmp_path, schema):
    target = tmp_path / "results.xml"
    res = invoke("run", "--policy", history.policy_v2, "--card", history.card, "--data", artefacts.csv,
                 "--out", tmp_path / "out", "--quiet", "--junit", target)
    assert res.exit_code in (0, 1), res.output
    xml = target.read_bytes()
    schema.validate(xml.decode())
    run_dir = sorted((tmp_path / "out").glob("*/v0001"))[0]
    result = AuditResult.model_validate_json((run_dir / "result.json").read_text())
    assert read_statuses(xml) == {c.id: c.status for c in result.checks}
    perf = [c for c in ET.fromstring(xml).iter("testcase") if c.get("name") == "performance"][0]
    assert "roc_auc_ci_low" in perf.findtext("system-out")  # the warning threshold (min 0.95) is named
    assert not list(tmp_path.glob(".results.xml.tmp-*"))
    # an earlier report is replaced on the next run (a CI job rerun), the same path
    again = invoke("run", "--policy", history.policy_v2, "--card", history.card, "--data", artefacts.csv,
                   "--out", tmp_path / "out", "--quiet", "--junit", target)
    assert again.exit_code in (0, 1), again.output
    assert read_statuses(target.read_bytes()) == {c.id: c.status for c in result.checks}


def test_junit_never_replaces_an_input_a_device_or_a_stored_run(history, artefacts, tmp_path):
    """--junit replaces its file whole: an existing file that is not a JUnit report (the audited
    data here), a FIFO, and any path inside a stored run are refused before anything runs (exit 2),
    and each is left as it was."""
    import os

    data = tmp_path / "eval.csv"
    data.write_bytes(Path(artefacts.csv).read_bytes())
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    first = invoke("run", "--policy", history.policy, "--card", history.card, "--data", data, "--out", tmp_path / "out",
                   "--quiet")
    assert first.exit_code in (0, 1), first.output
    run_dir = sorted((tmp_path / "out").glob("*/v0001"))[0]
    sealed = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for target, said in ((data, "is not a JUnit report"), (fifo, "not a regular file"),
                         (run_dir / "result.json", "inside the stored run"), (run_dir / "new.xml", "inside the stored run")):
        res = invoke("run", "--policy", history.policy, "--card", history.card, "--data", data,
                     "--out", tmp_path / "out", "--quiet", "--junit", target)
        assert res.exit_code == 2 and said in flat(res.output), (target, res.output)
    assert data.read_bytes() == Path(artefacts.csv).read_bytes() and fifo.is_fifo()
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == sealed
    assert not (tmp_path / "out").joinpath(run_dir.parent.name, "v0002").exists()


def test_junit_into_a_missing_folder_is_a_usage_error(history, tmp_path):
    res = invoke("run", "--policy", history.policy, "--card", history.card, "--data", "x.csv",
                 "--out", tmp_path / "out", "--junit", tmp_path / "nowhere" / "r.xml")
    assert res.exit_code == 2 and "does not exist" in flat(res.output)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, a folder no one can create files in")
def test_junit_into_a_folder_that_refuses_files_is_refused_before_the_run(history, artefacts, tmp_path):
    """The audit ran, stored its version, and then the JUnit write raised an OSError: exit 5 with a
    traceback. The folder is now tried before anything runs (exit 2, nothing written)."""
    res = invoke("run", "--policy", history.policy, "--card", history.card, "--data", artefacts.csv,
                 "--out", tmp_path / "out", "--quiet", "--junit", "/proc/auditor-junit.xml")
    assert res.exit_code == 2, res.output
    assert "--junit /proc/auditor-junit.xml: folder /proc is not writable" in flat(res.output)
    assert not (tmp_path / "out").exists()


def test_junit_folder_removed_during_the_run_is_an_error_naming_the_stored_run(history, artefacts, tmp_path, monkeypatch):
    import shutil

    import auditor.engine.audit

    real = auditor.engine.audit.run_audit
    folder = tmp_path / "ci"
    folder.mkdir()

    def run_then_remove(*args, **kwargs):
        record = real(*args, **kwargs)
        shutil.rmtree(folder)
        return record

    monkeypatch.setattr(auditor.engine.audit, "run_audit", run_then_remove)
    res = invoke("run", "--policy", history.policy, "--card", history.card, "--data", artefacts.csv,
                 "--out", tmp_path / "out", "--quiet", "--junit", folder / "r.xml")
    assert res.exit_code == 2, res.output
    run_dir = sorted((tmp_path / "out").glob("*/v0001"))[0]
    said = flat(res.output)
    assert f"--junit {folder / 'r.xml'}: cannot be written (No such file or directory)" in said
    assert f"the audit itself was stored as {run_dir}" in said and "no JUnit report was written" in said
    assert not folder.exists()
