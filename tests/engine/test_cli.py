"""The command line: exit codes gate CI, every problem is printed, validate never loads the model."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from auditor.cli import app

SMALL_CHECKS = [
    {"check": "performance", "params": {"n_bootstrap": 20},
     "thresholds": [{"measurement": "roc_auc", "min": 0.6, "severity": "fail"}]},
    {"check": "card_completeness",
     "thresholds": [{"measurement": "completeness", "min": 0.8, "severity": "fail"}]},
]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, artefacts, card_writer, policy_writer):
    root = tmp_path_factory.mktemp("cli")
    return SimpleNamespace(
        root=root,
        card=card_writer(root / "card"),
        data=artefacts.csv,
        policy=policy_writer(root / "policy", policy_writer.tiny(SMALL_CHECKS)),
    )


@pytest.fixture(scope="module")
def passing_run(inputs):
    out = inputs.root / "out"
    result = invoke("run", "-q", "--policy", inputs.policy, "--card", inputs.card, "--data", inputs.data, "--out", out)
    return SimpleNamespace(result=result, run_dir=out / "tiny-model" / "v0001")


def test_passing_audit_exits_0(passing_run):
    result = passing_run.result
    assert result.exit_code == 0, result.output
    assert "overall: PASS (v0001)" in flat(result.stdout)
    assert (passing_run.run_dir / "report.pdf").is_file()


@pytest.mark.parametrize("severity, exit_code, overall", [("fail", 1, "FAIL"), ("warn", 0, "WARN")])
def test_failed_threshold_exit_code_follows_severity(inputs, policy_writer, tmp_path, severity, exit_code, overall):
    checks = [{"check": "card_completeness",
               "thresholds": [{"measurement": "completeness", "min": 2.0, "severity": severity}]}]
    policy = policy_writer(tmp_path, policy_writer.tiny(checks))
    result = invoke("run", "-q", "-p", policy, "-c", inputs.card, "-d", inputs.data, "-o", tmp_path / "out")
    assert result.exit_code == exit_code, result.output
    assert f"overall: {overall}" in flat(result.stdout)


# overall status -> exit code under --fail-on fail (the default), warn, never
EXIT_CODES = {"pass": (0, 0, 0), "waived": (0, 0, 0), "skipped": (0, 0, 0), "warn": (0, 1, 0), "fail": (1, 1, 0),
              "error": (1, 1, 0)}


@pytest.mark.parametrize("status", list(EXIT_CODES))
@pytest.mark.parametrize("fail_on", ["fail", "warn", "never"])
def test_exit_code_for_every_status_and_fail_on(status, fail_on):
    from auditor.cli import FailOn, exit_code_for
    from auditor.results import Status

    expected = EXIT_CODES[status][["fail", "warn", "never"].index(fail_on)]
    assert exit_code_for(Status(status), FailOn(fail_on)) == expected
    assert exit_code_for(Status(status), fail_on) == expected  # the plain value, as a caller may pass it
    if fail_on == "fail":
        assert exit_code_for(Status(status)) == expected  # the default is today's behaviour


def test_exit_codes_cover_every_status():
    from auditor.results import Status

    assert set(EXIT_CODES) == {s.value for s in Status}


def test_missing_policy_is_a_usage_error(inputs, tmp_path):
    result = invoke("run", "--card", inputs.card, "--data", inputs.data, "--out", tmp_path)
    assert result.exit_code == 2
    assert "Missing option '--policy'" in result.stderr


def test_unknown_policy_name_is_a_usage_error(inputs, tmp_path):
    result = invoke("run", "-q", "-p", "no-such-policy", "-c", inputs.card, "-d", inputs.data, "-o", tmp_path)
    assert result.exit_code == 2
    assert "unknown policy 'no-such-policy'" in result.stderr


def test_invalid_policy_exits_3_listing_every_problem(inputs, policy_writer, tmp_path):
    text = """\
schema_version: 1
name: bad
version: "1"
checks:
  - check: performance
    params: {n_bootstrap: ten}
  - check: nope
  - check: card_completeness
    thresholds: [{measurement: accuracy, min: 0.5}]
"""
    policy = policy_writer(tmp_path, text)
    result = invoke("run", "-q", "-p", policy, "-c", inputs.card, "-d", inputs.data, "-o", tmp_path / "out")
    assert result.exit_code == 3
    err = result.stderr
    assert f"invalid input: invalid policy {policy} (3 problems):" in err
    assert ('checks[0].params.n_bootstrap: Value error, "ten" is not a whole number (give e.g. 1000; '
            'write the digits alone: no exponent, sign, decimals or unit)') in err
    assert "checks[1].check: unknown check 'nope'; known checks: " in err
    assert "checks[2].thresholds[0].measurement: check 'card_completeness' has no measurement 'accuracy'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["[red]x[/red]", "a[/b]"])
def test_problem_text_is_printed_verbatim(policy_writer, tmp_path, name):
    # problem text is data, never console markup (an unmatched closing tag used to crash the error path)
    text = f"schema_version: 1\nname: p\nversion: '1'\nchecks:\n  - check: '{name}'\n"
    result = invoke("validate", "-p", policy_writer(tmp_path, text))
    assert result.exit_code == 3
    assert f"unknown check '{name}'" in result.stderr


def test_invalid_dataset_exits_3(inputs, artefacts, csv_writer, tmp_path):
    df = artefacts.frame.drop(columns=["x3"]).assign(extra=0)
    data = csv_writer(tmp_path, df)
    result = invoke("run", "-q", "-p", inputs.policy, "-c", inputs.card, "-d", data, "-o", tmp_path / "out")
    assert result.exit_code == 3
    assert "column 'x3': missing (the card names it)" in result.stderr


def test_pickle_without_allow_pickle_exits_4(inputs, artefacts, card_writer, tmp_path):
    import joblib

    joblib.dump(artefacts.pipeline_estimator, tmp_path / "model.pkl")
    card = card_writer(tmp_path, model={"path": "model.pkl", "format": "pickle"})
    result = invoke("run", "-q", "-p", inputs.policy, "-c", card, "-d", inputs.data, "-o", tmp_path / "out")
    assert result.exit_code == 4
    assert "pass --allow-pickle if you trust it" in result.stderr
    assert not (tmp_path / "out").exists()


def test_sha256_mismatch_exits_4(inputs, artefacts, card_writer, tmp_path):
    card = card_writer(tmp_path, model={"path": str(artefacts.pipeline), "format": "skops", "sha256": "ab" * 32})
    result = invoke("run", "-q", "-p", inputs.policy, "-c", card, "-d", inputs.data, "-o", tmp_path / "out")
    assert result.exit_code == 4
    assert "does not match the sha256 pinned in the card" in result.stderr


def test_validate_never_loads_the_model(inputs, card_writer, tmp_path):
    (tmp_path / "model.skops").write_bytes(b"garbage, not a model")
    card = card_writer(tmp_path, model={"path": "model.skops", "format": "skops"})
    result = invoke("validate", "-p", inputs.policy, "-c", card, "-d", inputs.data)
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "policy tiny 1: valid (2 checks)" in out
    assert "valid (tabular-classification, model tiny-model)" in out
    assert "valid (300 rows, 4 features)" in out


def test_validate_does_not_call_a_card_valid_that_the_data_contradict(inputs, card_writer, tmp_path):
    """A favourable class that is not a label was found only with the data, after "card ...: valid"."""
    card = card_writer(tmp_path, favourable_class="great")
    result = invoke("validate", "-p", inputs.policy, "-c", card, "-d", inputs.data)
    assert result.exit_code == 3 and "favourable_class" in flat(result.output), result.output
    assert "valid (tabular-classification" not in result.output


def test_validate_reports_an_invalid_card(inputs, card_writer, tmp_path):
    card = card_writer(tmp_path, task="image-classification", target=None)
    result = invoke("validate", "-p", inputs.policy, "-c", card)
    assert result.exit_code == 3
    assert "auditor.task: Input should be" in result.stderr
    assert "auditor.target: required key is missing" in result.stderr


def test_validate_data_needs_a_card(inputs):
    result = invoke("validate", "-p", inputs.policy, "-d", inputs.data)
    assert result.exit_code == 2
    assert "--data needs --card" in result.stderr


def test_policies_lists_default():
    result = invoke("policies")
    assert result.exit_code == 0
    assert "default" in result.stdout
    shown = invoke("policies", "show", "default")
    assert shown.exit_code == 0
    assert "name: default" in shown.stdout


def test_policies_lists_each_description_to_the_end_of_its_first_sentence():
    """On a wide terminal the listing shows each description's first sentence: it was cut at every
    ". ", so eu-ai-act-high-risk's read "... Regulation (EU) 2024/1689 (e.g" and stopped."""
    import os

    from auditor.policy.catalog import first_sentence

    assert first_sentence("Evidence (e.g. an Annex III score; Art. 15(3)) for audits. More here.") == \
        "Evidence (e.g. an Annex III score; Art. 15(3)) for audits"
    listed = subprocess.run([sys.executable, "-m", "auditor", "policies"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "2000"}, check=True).stdout
    row = next(line for line in listed.splitlines() if "eu-ai-act-high-risk" in line)
    assert "(e.g │" not in row and "(e.g. an Annex III creditworthiness score)" in row
    assert "thresholds fixed before the run (Art. 9(8))" in row


def test_render_rebuilds_a_run(passing_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(passing_run.run_dir, copy)
    (copy / "report.html").unlink()
    result = invoke("render", copy)
    assert result.exit_code == 0, result.output
    assert (copy / "report.html").read_bytes() == (passing_run.run_dir / "report.html").read_bytes()


def test_render_of_a_folder_without_result_is_a_usage_error(tmp_path):
    result = invoke("render", tmp_path)
    assert result.exit_code == 2
    assert "has no result.json" in result.stderr
    (tmp_path / "result.json").mkdir()  # it said 'has no result.json' of a folder that has one, as a folder
    result = invoke("render", tmp_path)
    assert result.exit_code == 2 and "result.json is not a file; is " in " ".join(result.stderr.split())


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "auditor", "validate", "--policy", str(tmp_path / "absent.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "policy file not found" in proc.stderr


@pytest.mark.parametrize("argv", [["history", "--out", ""], ["history", "--out="], ["render", "x", "--to", ""],
                                  ["validate", "-p", "default", "-d", ""], ["serve", "--host", ""], ["due", "--out", ".", "--as-of", ""]])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(tmp_path, argv):
    proc = subprocess.run([sys.executable, "-m", "auditor", *argv], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    name = argv[-1].rstrip("=") if argv[-1] else argv[-2]
    assert f"{name} was given an empty value" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written into the working folder


def test_empty_option_reads_only_options_that_name_paths():
    from auditor.cli import empty_option

    assert empty_option(["run", "--comment", "", "--out", "r"]) is None
    assert empty_option(["sign-off", "--", "--out", ""]) is None
    assert empty_option(["run", "-o", ""]) == "-o"
    assert empty_option(["run", "--junit="]) == "--junit"
    assert empty_option(["run", "--summary-md", ""]) == "--summary-md"
    assert empty_option(["run", "--out"]) is None  # click says the value is missing
    assert empty_option(["serve", "--host="]) == "--host"  # "" would bind every interface
