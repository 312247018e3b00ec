"""`auditor run --fail-on {fail,warn,never}`: the exit code a CI job gates on."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.results import AuditResult, Status

from .helpers import flat, invoke

# card_completeness alone, gated by a bound no card meets: a quick audit that ends FAIL
FAILING = [{"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 2.0, "severity": "fail"}]}]


def stored_result(out: Path, version: str) -> AuditResult:
    (run_dir,) = out.glob(f"*/{version}")
    return AuditResult.model_validate_json((run_dir / "result.json").read_text())


def test_fail_on_never_exits_0_on_a_fail_and_warn_keeps_it_1(history, artefacts, policy_writer, tmp_path):
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(FAILING))
    out = tmp_path / "out"
    codes = {}
    for fail_on in ("fail", "warn", "never"):
        res = invoke("run", "--policy", policy, "--card", history.card, "--data", artefacts.csv, "--out", out,
                     "--quiet", "--jobs", "1", "--fail-on", fail_on)
        codes[fail_on] = res.exit_code
        said = flat(res.stderr)
        if fail_on == "never":  # the code differs from the default's: said
            assert "exit 0: overall FAIL and --fail-on never" in said, res.output
        else:  # the default's code: nothing new said
            assert "--fail-on" not in said, (fail_on, res.output)
    assert codes == {"fail": 1, "warn": 1, "never": 0}
    assert [stored_result(out, v).status for v in ("v0001", "v0002", "v0003")] == [Status.FAIL] * 3  # each stored


@pytest.mark.parametrize("value", ["error", "", "WARNING"])
def test_fail_on_refuses_an_unknown_value(history, tmp_path, value):
    res = invoke("run", "--policy", history.policy, "--card", history.card, "--data", "x.csv",
                 "--out", tmp_path / "out", "--fail-on", value)
    assert res.exit_code == 2 and "--fail-on" in flat(res.output), res.output
    assert not (tmp_path / "out").exists()
