"""`auditor run --fail-on {fail,warn,never}` and `--summary-md FILE`: the exit code a CI job gates
on, and the Markdown summary appended to a CI page ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.render.scope import display_status
from auditor.render.step_summary import markdown_summary, md_text
from auditor.results import AuditResult, Status

from .helpers import flat, invoke

# card_completeness alone, gated by a bound no card meets: a quick audit that ends FAIL
FAILING = [{"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": 2.0, "severity": "fail"}]}]


def cells(line: str) -> list[str]:
    """The cells of a Markdown table row, backslash escapes undone (``\\|`` stays in its cell)."""
    assert line.startswith("|") and line.endswith("|"), line
    found, cell, chars = [], "", iter(line[1:])
    for ch in chars:
        if ch == "\\":
            cell += next(chars)
        elif ch == "|":
            found.append(cell.strip())
            cell = ""
        else:
            cell += ch
    assert cell == "", line
    return found


def table(markdown: str) -> list[list[str]]:
    """The rows (header and separator left out) of the one table in ``markdown``."""
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert cells(rows[0]) == ["check", "status", "key figure"] and cells(rows[1]) == ["---", "---", "---"], rows[:2]
    return [cells(r) for r in rows[2:]]


def stored_result(out: Path, version: str) -> AuditResult:
    (run_dir,) = out.glob(f"*/{version}")
    return AuditResult.model_validate_json((run_dir / "result.json").read_text())


def test_fail_on_warn_exits_1_on_a_warn_and_the_summary_is_appended(history, artefacts, tmp_path):
    """The changed policy's audit ends WARN (exit 0 by default): with --fail-on warn it exits 1 and
    says why on stderr; the summary follows what the step summary file held, one row per check."""
    summary = tmp_path / "step_summary.md"
    summary.write_text("## an earlier step\n", encoding="utf-8")
    out = tmp_path / "out"
    res = invoke("run", "--policy", history.policy_v2, "--card", history.card, "--data", artefacts.csv,
                 "--out", out, "--quiet", "--jobs", "1", "--fail-on", "warn", "--summary-md", summary)
    result = stored_result(out, "v0001")
    assert result.status is Status.WARN, res.output
    assert res.exit_code == 1, res.output
    assert "exit 1: overall WARN and --fail-on warn" in flat(res.stderr)
    assert "overall: WARN (v0001)" in flat(res.stdout) and "--fail-on" not in res.stdout

    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## an earlier step\n\n### Audit of ")  # appended to, after a blank line
    assert f"({result.version})" in text.splitlines()[2]
    assert f"Policy {md_text(result.policy.name)} version {md_text(result.policy.version)}: overall **WARN**" in text
    rows = table(text)
    assert [r[0] for r in rows] == [c.id for c in result.checks]
    assert {r[0]: r[1] for r in rows} == {c.id: display_status(c).upper() for c in result.checks}
    perf = next(r for r in rows if r[0] == "performance")
    assert perf[1] == "WARN" and "not met: roc_auc_ci_low" in perf[2]  # the warning gate, as the terminal shows it


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


def test_summary_md_path_problems_are_refused_before_the_run(history, artefacts, tmp_path):
    """A path the summary cannot be appended to is refused (exit 2) before anything runs, naming
    the path and why; the file named is left as it was."""
    import os

    data = tmp_path / "eval.csv"
    data.write_bytes(Path(artefacts.csv).read_bytes())
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"PK\x03\x04\x00\x00")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cases = [(tmp_path / "nowhere" / "s.md", "does not exist"), (tmp_path, "is a folder"), (fifo, "not a regular file"),
             (data, "is the --data file"), (binary, "is not a text file"),
             (tmp_path / "r.xml", "is the --junit file")]
    if Path("/proc/self").is_dir():
        cases.append((Path("/proc/auditor-summary.md"), "folder /proc is not writable"))
    for target, said in cases:
        res = invoke("run", "--policy", history.policy, "--card", history.card, "--data", data,
                     "--out", tmp_path / "out", "--quiet", "--junit", tmp_path / "r.xml", "--summary-md", target)
        assert res.exit_code == 2, (target, res.output)
        assert f"--summary-md {target}: " in flat(res.output) and said in flat(res.output), (target, res.output)
    assert data.read_bytes() == Path(artefacts.csv).read_bytes() and binary.read_bytes() == b"PK\x03\x04\x00\x00"
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.xml").exists()


def test_neither_report_file_may_be_the_audit_registry(history, artefacts, tmp_path):
    """``--summary-md OUT/audits.sqlite`` appended Markdown to the registry the run had just created,
    and ``--junit`` there replaced it with XML (``history`` then read "file is not a database"): both
    refused before the run, for the default registry (not there yet) and a ``--db`` file, journals too."""
    data = tmp_path / "eval.csv"
    data.write_bytes(Path(artefacts.csv).read_bytes())
    out, db = tmp_path / "out", tmp_path / "records.sqlite"
    for option in ("--summary-md", "--junit"):
        for target, extra in ((out / "audits.sqlite", ()), (Path(f"{db}-journal"), ("--db", db))):
            out.mkdir(exist_ok=True)
            res = invoke("run", "--policy", history.policy, "--card", history.card, "--data", data, "--out", out,
                         "--quiet", *extra, option, target)
            assert res.exit_code == 2, (option, target, res.output)
            assert f"{option} {target}: is the audit registry" in flat(res.output), res.output
            assert not target.exists() and not db.exists() and not any(out.iterdir())


def test_a_policy_name_too_long_for_a_path_is_a_usage_error_with_a_summary(history, tmp_path):
    """``Path(policy).is_file()`` raised ENAMETOOLONG for a 300-character policy name given with
    --summary-md: a traceback and exit 5, where the same command without it exits 2."""
    res = invoke("run", "--policy", "a" * 300, "--card", history.card, "--data", "x.csv", "--out", tmp_path / "out",
                 "--summary-md", tmp_path / "s.md")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and not (tmp_path / "s.md").exists()


def test_summary_cells_escape_markdown(history):
    """A ``|`` in a key figure stays in its cell, and no input text turns into markup or a new line."""
    result = history.runs[2].result
    first = result.checks[0].model_copy(update={"id": "a|b*c_", "key_figure": "AUC 0.87 | [CI](x) <b>\\ `x`\nnext"})
    text = markdown_summary(result.model_copy(update={"checks": [first, *result.checks[1:]]}))
    rows = table(text)
    assert len(rows) == len(result.checks) and all(len(r) == 3 for r in rows)
    assert rows[0][0] == "a|b*c_"
    assert rows[0][2].startswith("AUC 0.87 | [CI](x) <b>\\ `x` next")
    # the report's no-break space (p\u00a0<\u00a00.001) is a space, not an escape printed as "\xa0"
    assert md_text("p\u00a0<\u00a00.001") == "p\u00a0\\<\u00a00.001"
    assert "0.87 | " not in text and "<b>" not in text and "[CI]" not in text and "`x`" not in text
    assert md_text("x\x1by") == "x\\\\x1by"  # a control character as its escape, the backslash escaped


def test_a_check_the_data_cannot_judge_is_said_so_not_named_by_its_error_type(history):
    """A check that ran, whose sample cannot decide a blocking gate (ERROR, SampleTooSmall), showed
    "SampleTooSmall" where it had no key figure; its key figure where it has one. A check that raised keeps its
    error's type."""
    from auditor.results import ErrorInfo

    result = history.runs[2].result
    first = result.checks[0]

    def errored(kind: str, figure: str | None) -> object:
        return first.model_copy(update={"id": f"{kind}-{figure}", "status": Status.ERROR, "key_figure": figure,
                                        "thresholds": [], "error": ErrorInfo(type=kind, message="m")})

    checks = [errored("SampleTooSmall", None), errored("SampleTooSmall", "AUC 0.87"), errored("ValueError", None)]
    rows = table(markdown_summary(result.model_copy(update={"checks": checks})))
    assert rows == [["SampleTooSmall-None", "ERROR", "not judged on this data"],
                    ["SampleTooSmall-AUC 0.87", "ERROR", "AUC 0.87"], ["ValueError-None", "ERROR", "ValueError"]]


def test_a_skipped_check_says_why_in_the_summary_and_the_terminal_table(history):
    """A skipped check's row was empty in the terminal's table and the CI summary (a regressor's
    subgroup_fairness, every explanation check of a constant model): it gives its reason's first clause,
    cut at a word where long; the reports keep the whole reason."""
    result = history.runs[2].result
    first = result.checks[0]

    def skipped(reason: str) -> object:
        return first.model_copy(update={"id": f"c{len(reason)}", "status": Status.SKIPPED, "key_figure": None,
                                        "thresholds": [], "error": None, "skipped_reason": reason})

    constant = ("does not apply: the model gives all 300 evaluation rows the same prediction, 35.8; its output does "
                "not move with its inputs, so every explanation of it is zero")
    shift = ("does not apply: the regressor predicts one value for every evaluation row: no target shift is defined "
             "(its size is a share of the predictions' spread, 0)")
    checks = [skipped("needs probabilities, which a scikit-learn tabular regressor does not offer"), skipped(constant),
              skipped(shift)]
    rows = table(markdown_summary(result.model_copy(update={"checks": checks})))
    assert [r[1:] for r in rows] == [
        ["SKIPPED", "needs probabilities, which a scikit-learn tabular regressor does not offer"],
        ["SKIPPED", "does not apply: the model gives all 300 evaluation rows the same prediction, 35.8"],
        ["SKIPPED", "does not apply: the regressor predicts one value for every evaluation row: no target shift is…"]]


def test_json_puts_one_summary_on_stdout_and_the_table_on_stderr(history, artefacts, tmp_path, monkeypatch):
    """``run --json``: stdout is one JSON document that says what the table says (status, exit code,
    each check's status, key figure and missed gates with values and bounds, the files written, every
    path absolute as the run's is, a --junit typed relative too), and the table, the file list and the
    --fail-on line go to stderr."""
    import json

    monkeypatch.chdir(tmp_path)
    out, junit = tmp_path / "out", tmp_path / "checks.xml"
    res = invoke("run", "--policy", history.policy_v2, "--card", history.card, "--data", artefacts.csv,
                 "--out", out, "--quiet", "--jobs", "1", "--fail-on", "warn", "--junit", "checks.xml", "--json")
    result = stored_result(out, "v0001")
    summary = json.loads(res.stdout)  # the whole of stdout: nothing else was printed there
    assert res.exit_code == 1 and summary["exit_code"] == 1, res.output
    assert "overall: WARN (v0001)" in flat(res.stderr) and "exit 1: overall WARN and --fail-on warn" in flat(res.stderr)
    assert (summary["status"], summary["shown"], summary["version"]) == ("warn", "warn", "v0001")
    assert Path(summary["run"]).parent.parent == out and Path(summary["run"]).name == "v0001"
    assert summary["model"]["name"] == result.model.name and summary["policy"]["version"] == result.policy.version
    assert [c["id"] for c in summary["checks"]] == [c.id for c in result.checks]
    assert {c["id"]: c["shown"] for c in summary["checks"]} == {c.id: display_status(c) for c in result.checks}
    assert {c["id"]: c["gated"] for c in summary["checks"]} == {c.id: c.gated for c in result.checks}
    assert summary["gated_checks"] == result.gated_checks > 0
    assert {c["id"]: c["key_figure"] for c in summary["checks"]} == {c.id: c.key_figure for c in result.checks}
    perf = next(c for c in result.checks if c.id == "performance")
    missed = next(t for t in perf.thresholds if t.measurement == "roc_auc_ci_low")
    (gate,) = next(c for c in summary["checks"] if c["id"] == "performance")["not_met"]
    assert gate == {"measurement": "roc_auc_ci_low", "observed": missed.observed, "min": missed.min, "max": missed.max,
                    "severity": "warn", "n": missed.n, "unreachable": None}
    assert all(not c["not_met"] for c in summary["checks"] if c["status"] == "pass")
    assert summary["files"]["junit"] == str(junit) and junit.is_file()
    assert all(Path(summary["files"][k]).is_file() for k in ("result_json", "report_html", "report_pdf", "manifest_json"))


def test_json_writes_null_for_a_figure_that_is_not_a_number(history):
    """JSON has no NaN: an observed value that is not finite is null, and a NaN left anywhere else
    is refused rather than printed as invalid JSON."""
    import json

    from auditor.render.run_json import run_json, run_summary

    result = history.runs[2].result
    check = next(c for c in result.checks if c.thresholds)
    gate = check.thresholds[0].model_copy(update={"observed": float("nan"), "passed": False, "severity": "fail"})
    changed = result.model_copy(update={"checks": [check.model_copy(update={"thresholds": [gate]})]})
    summary = run_summary(changed, Path("reports/m/v0003"), 1)
    assert json.loads(run_json(summary))["checks"][0]["not_met"][0]["observed"] is None
    with pytest.raises(ValueError):
        run_json({**summary, "exit_code": float("nan")})
