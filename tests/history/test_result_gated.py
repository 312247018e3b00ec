"""result.json says which checks a gate judged: each check's ``gated`` and the audit's
``gated_checks``. A ``pass`` of a check no warning or blocking threshold gates was written as
``pass`` with nothing to tell it from a judged one, while the HTML and PDF showed INFO. The statuses
and the exit code are unchanged; a result.json written before the fields existed still loads,
verifies and renders."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

import auditor
from auditor.render.scope import display_overall, display_status, gated
from auditor.results import AuditResult, CheckResult, Status, ThresholdOutcome

from .helpers import flat, invoke

UNGATED = {"check": "card_completeness",  # its completeness recorded, no gate
           "thresholds": [{"measurement": "completeness", "min": 0.8, "severity": "info"}]}
GATED = {"check": "performance", "params": {"n_bootstrap": 20},
         "thresholds": [{"measurement": "roc_auc", "min": 0.5, "severity": "warn"}]}


def _check(severities, status=Status.PASS) -> CheckResult:
    return CheckResult(id="c", check="x", title="X", description="", status=status,
                       thresholds=[ThresholdOutcome(measurement=f"m{i}", observed=1.0, min=0.5, severity=s, passed=True)
                                   for i, s in enumerate(severities)])


@pytest.mark.parametrize("severities, expected", [((), False), (("info",), False), (("info", "warn"), True),
                                                  (("fail",), True)])
def test_a_check_is_gated_when_a_warning_or_blocking_threshold_can_change_its_status(severities, expected):
    check = _check(severities)
    assert check.gated is expected and gated(check) is expected
    assert display_status(check) == ("pass" if expected else "info")
    assert json.loads(check.model_dump_json())["gated"] is expected
    # a copy with other thresholds says what they give
    assert check.model_copy(update={"thresholds": []}).gated is False


def test_a_recorded_gated_is_read_back_and_one_its_thresholds_contradict_is_refused():
    check = _check(("warn",))
    data = check.model_dump(mode="json")
    assert CheckResult.model_validate(data) == check  # the field, which extra="forbid" would refuse, is read
    assert CheckResult.model_validate({k: v for k, v in data.items() if k != "gated"}) == check  # and may lack
    for wrong in (False, 1, "true"):
        with pytest.raises(ValidationError, match=r"gated is recorded as .*, but the check's thresholds give True"):
            CheckResult.model_validate({**data, "gated": wrong})


def _run(tmp_path, artefacts, card_writer, policy_writer, checks, name: str):
    policy = policy_writer(tmp_path / name, policy_writer.tiny(checks))
    result = invoke("run", "-q", "-p", policy, "-c", card_writer(tmp_path / "card"), "-d", artefacts.csv,
                    "-o", tmp_path / name / "out")
    run = tmp_path / name / "out" / "tiny-model" / "v0001"
    return result, run, json.loads((run / "result.json").read_text())


def test_result_json_tells_a_judged_pass_from_an_ungated_one(tmp_path, artefacts, card_writer, policy_writer):
    res, run, data = _run(tmp_path, artefacts, card_writer, policy_writer, [UNGATED, GATED], "mixed")
    assert res.exit_code == 0, res.output
    checks = {c["id"]: c for c in data["checks"]}
    assert (checks["card_completeness"]["status"], checks["card_completeness"]["gated"]) == ("pass", False)
    assert (checks["performance"]["status"], checks["performance"]["gated"]) == ("pass", True)
    assert (data["status"], data["gated_checks"]) == ("pass", 1)
    result = AuditResult.model_validate(data)
    assert display_overall(result) == "pass" and display_status(result.checks[0]) == "info"

    res, run, data = _run(tmp_path, artefacts, card_writer, policy_writer, [UNGATED], "ungated")
    assert res.exit_code == 0, res.output  # the exit code is unchanged: nothing failed
    assert "this audit judges nothing" in flat(res.output)
    assert (data["status"], data["gated_checks"], data["checks"][0]["gated"]) == ("pass", 0, False)
    assert display_overall(AuditResult.model_validate(data)) == "info"
    for wrong in (1, True):
        with pytest.raises(ValidationError, match=r"gated_checks is recorded as .*, but its checks give 0"):
            AuditResult.model_validate({**data, "gated_checks": wrong})


def test_a_run_written_before_the_fields_existed_loads_verifies_and_renders(tmp_path, artefacts, card_writer,
                                                                            policy_writer, monkeypatch):
    """A run stored by an auditor that wrote neither field (its result.json, the copy in its PDF and
    its manifest all without them): verify passes, render rebuilds its reports, and the loaded result
    computes both from the thresholds it records."""
    import auditor.engine.audit as audit

    written = audit.result_bytes

    def as_before(result: AuditResult) -> bytes:
        data = json.loads(written(result))
        del data["gated_checks"]
        for c in data["checks"]:
            del c["gated"]
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    monkeypatch.setattr(audit, "result_bytes", as_before)
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([UNGATED, GATED]))
    record = auditor.run_audit(policy, card_writer(tmp_path / "card"), artefacts.csv, tmp_path / "out")
    monkeypatch.undo()
    text = (record.path / "result.json").read_text()
    assert '"gated' not in text
    res = invoke("verify", record.path)
    assert res.exit_code == 0 and "OK" in res.output, res.output
    res = invoke("render", record.path, "--to", tmp_path / "rendered")
    assert res.exit_code == 0, res.output
    assert 'status-info">INFO</span>' in (tmp_path / "rendered" / "report.html").read_text()
    old = AuditResult.model_validate_json(text)
    assert [c.gated for c in old.checks] == [False, True] and old.gated_checks == 1
    assert invoke("verify", record.path).exit_code == 0  # render left the stored run as it was
    # one that records a value its thresholds contradict (an edit) is an invalid input naming it, not rendered
    edited = json.loads(written(old))
    edited["checks"][0]["gated"] = True
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "result.json").write_text(json.dumps(edited))
    res = invoke("render", tmp_path / "edited", "--to", tmp_path / "edited-reports")
    assert res.exit_code == 3, res.output
    assert "checks[0]" in flat(res.output) and "gated is recorded as True, but the check's thresholds give False" in flat(
        res.output)
    assert not (tmp_path / "edited-reports").exists()
