"""Progress where there is no terminal: plain timestamped lines in CI logs, none with --quiet;
and a CLI that starts without the heavy libraries."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.progress import PlainProgress, duration

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
CHECKS = [{"check": "performance", "params": {"n_bootstrap": 20}}, {"check": "card_completeness"}]


@pytest.fixture(scope="module")
def audit_args(tmp_path_factory, artefacts, card_writer, policy_writer):
    root = tmp_path_factory.mktemp("progress")
    policy = policy_writer(root / "policy", policy_writer.tiny(CHECKS))
    card = card_writer(root / "card")
    return ["run", "--policy", str(policy), "--card", str(card), "--data", str(artefacts.csv)]


def test_without_a_terminal_each_check_gets_a_timestamped_line(audit_args, tmp_path):
    result = CliRunner().invoke(app, [*audit_args, "--out", str(tmp_path), "--progress-every", "0.1"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(re.fullmatch(rf"{STAMP} check 1/2 performance: started", line) for line in lines), lines
    assert any(re.fullmatch(rf"{STAMP} check 2/2 card_completeness: started", line) for line in lines), lines
    # after the last check the log says the reports are being written (not that the check still works)
    stage = [i for i, line in enumerate(lines)
             if re.fullmatch(rf"{STAMP} writing result.json, report.html and report.pdf: started", line)]
    last_check = max(i for i, line in enumerate(lines) if "card_completeness" in line)
    assert len(stage) == 1 and stage[0] > last_check, lines
    assert re.fullmatch(rf"{STAMP} audit: finished after \d+s", lines[-1]), lines
    assert "overall:" in result.stdout
    # and verifying that run (sign-offs included) imports no rendering or data library; the
    # registry's database library only, to compare the manifest hash the registry recorded
    run_dir = next(tmp_path.glob("*/v0001"))
    code = f"from auditor.records.verify import verify_run\nassert verify_run({str(run_dir)!r}).ok"
    assert set(_imported_after(code)) <= {"sqlalchemy"}


def test_quiet_prints_no_progress(audit_args, tmp_path):
    result = CliRunner().invoke(app, [*audit_args, "--out", str(tmp_path), "--quiet", "--progress-every", "0.1"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "overall:" in result.stdout


def test_lines_come_at_a_steady_interval_with_step_done_total_and_remaining():
    stream = io.StringIO()
    now = [100.0]
    with PlainProgress(stream, interval_s=0.05, clock=lambda: now[0]) as progress:
        progress.on_progress("explanation_stability", 2, 5)
        progress.on_step("shap seed re-runs", 0, 40)
        now[0] += 30.0
        progress.on_step("shap seed re-runs", 10, 40)  # 10 parts in 30 s: 90 s for the other 30
        time.sleep(0.4)
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(rf"{STAMP} check 3/5 explanation_stability: started", lines[0])
    beats = [line for line in lines[1:] if "10/40" in line]
    assert len(beats) >= 3, lines  # ~8 intervals of 0.05 s in 0.4 s; a loaded machine gets fewer
    assert all(re.fullmatch(rf"{STAMP} check 3/5 explanation_stability \(30s\): shap seed re-runs 10/40, "
                            r"about 1m30s remaining", line) for line in beats), beats
    assert re.fullmatch(rf"{STAMP} audit: finished after 30s", lines[-1])



def test_stopped_progress_writes_no_line_after_the_callers_last_message():
    """`run` stops the background lines before it says it was interrupted or refused: a CI log read
    "interrupted: ..." and then one more "working" line, as if the audit went on."""
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with PlainProgress(stream, interval_s=0.01) as progress:
            progress.on_progress("performance", 0, 1)
            time.sleep(0.05)
            progress.stop()
            stream.write("interrupted: the audit stopped\n")
            time.sleep(0.1)  # ten intervals
            raise KeyboardInterrupt
    assert stream.getvalue().splitlines()[-1] == "interrupted: the audit stopped"

def test_the_report_stage_has_its_own_line_and_clock():
    stream = io.StringIO()
    now = [0.0]
    progress = PlainProgress(stream, clock=lambda: now[0])
    progress.on_progress("adversarial_robustness", 13, 14)
    progress.on_step("greedy searches", 3, 40)
    now[0] = 40.0
    progress.on_stage("writing result.json, report.html and report.pdf")
    now[0] = 50.0
    progress._tick_line()
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(rf"{STAMP} writing result.json, report.html and report.pdf: started", lines[1]), lines
    assert re.fullmatch(rf"{STAMP} writing result.json, report.html and report.pdf \(10s\): working", lines[2]), lines


def test_a_new_step_restarts_the_estimate():
    now = [0.0]
    progress = PlainProgress(io.StringIO(), clock=lambda: now[0])
    progress.on_step("a", 0, 10)
    assert progress.status() == "a 0/10, time remaining not yet known"
    now[0] = 50.0
    progress.on_step("a", 5, 10)
    assert progress.status() == "a 5/10, about 50s remaining"
    progress.on_step("b", 0, 4)  # a new label: its own clock
    now[0] = 60.0
    progress.on_step("b", 2, 4)
    assert progress.status() == "b 2/4, about 10s remaining"


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59.4, "59s"), (65, "1m05s"), (3725, "1h02m")])
def test_duration(seconds, text):
    assert duration(seconds) == text


HEAVY = ("torch", "transformers", "shap", "lime", "captum", "weasyprint", "matplotlib", "sklearn", "scipy",
         "pandas", "sqlalchemy")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_importing_the_cli_imports_no_heavy_library():
    assert _imported_after("import auditor.cli") == []


def test_loading_every_builtin_policy_imports_no_heavy_library():
    """Loading a policy imports every check for its parameters: the registry must stay cheap."""
    code = ("from auditor.policy.load import builtin_policies, load_policy\n"
            "for name in builtin_policies(): load_policy(name)")
    assert _imported_after(code) == []


def test_the_public_names_of_the_package_still_import():
    assert _imported_after("import auditor") == []
    code = ("import auditor\nassert callable(auditor.run_audit) and callable(auditor.load_policy)\n"
            "assert auditor.run_audit.__module__ == 'auditor.engine.audit'")
    assert "pandas" in _imported_after(code)  # the engine, imported on first use


def test_the_policy_listing_says_what_the_full_load_resolves_without_importing_the_checks():
    """`auditor policies` lists each built-in from its merged files alone (validating the checks'
    parameters imports every check, and building the schema's pydantic models takes longer than the
    rest of the command); what it shows must be what load_policy resolves."""
    from auditor.policy.catalog import builtin_policies, policy_summary
    from auditor.policy.load import load_policy

    for key in builtin_policies():
        p, summary = load_policy(key).policy, policy_summary(key)
        assert summary == {"id": p.policy_id, "version": p.version, "owner": p.owner, "extends": p.extends or "",
                           "description": " ".join(p.description.split()), "checks": len(p.checks)}, key
    code = ("from auditor.policy.catalog import builtin_policies, policy_summary\n"
            "for name in builtin_policies(): policy_summary(name)\n"
            "import sys\nassert not {'auditor.checks', 'auditor.policy.schema', 'pydantic', 'numpy'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loading_a_skops_model_imports_neither_pytorch_nor_dask_array(artefacts):
    """skops.io lists its trusted scikit-learn types through all_estimators(), which imported
    scikit-learn's array-API shims and with them PyTorch and dask.array into every tabular audit
    (auditor.models.tabular.import_skops_io). The trusted list must be the one all_estimators()
    gives when the shims do import, and no stand-in may stay behind."""
    code = (f"from pathlib import Path\nfrom auditor.models.tabular import ARRAY_API_SHIMS, load_sklearn_estimator\n"
            f"m = load_sklearn_estimator(Path({str(artefacts.pipeline)!r}), 'skops', allow_pickle=False, pinned_sha256=None)\n"
            "assert hasattr(m, 'predict_proba')\n"
            "import sys\nloaded = [n for n in ('torch', 'dask.array') if n in sys.modules]\n"
            "assert not [n for n in ARRAY_API_SHIMS if n in sys.modules], 'a stand-in stayed'\n"
            "from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES\n"
            "from skops.io._utils import get_type_name\nfrom sklearn.utils import all_estimators\n"
            "full = [get_type_name(c) for _, c in all_estimators() if get_type_name(c).startswith('sklearn.')]\n"
            "assert 'torch' in sys.modules, 'the shims import PyTorch when they are not stood in for'\n"
            "assert SKLEARN_ESTIMATOR_TYPE_NAMES == full and len(full) > 100\n"
            "print(' '.join(loaded))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []


def test_a_progress_interval_that_is_not_a_number_of_seconds_is_refused(audit_args, tmp_path):
    """inf and 1e300 passed the lower bound and then broke the progress thread (a traceback in the
    log, OverflowError); NaN passed every comparison. Each is a usage error, nothing written."""
    for value in ("inf", "1e300", "nan", "0.01"):
        result = CliRunner().invoke(app, [*audit_args, "--out", str(tmp_path / value), "--progress-every", value])
        assert result.exit_code == 2, (value, result.output)
        assert "progress-every" in result.output and not (tmp_path / value).exists()
