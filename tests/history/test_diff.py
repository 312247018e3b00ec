"""`auditor diff`: verdict changes, measurement deltas with CIs, explanation drift, policy and input
changes, as JSON, HTML and PDF in a new folder next to the runs."""

from __future__ import annotations

import json

import pytest

from auditor.records.diff import write_diff
from auditor.records.verify import embedded_files

from .helpers import flat, invoke, run_files


@pytest.fixture(scope="module")
def changed(history, tmp_path_factory):
    """v0002 (tiny policy) against v0003 (changed policy): JSON and HTML only, into a scratch folder."""
    return write_diff(history.paths[1], history.paths[2], tmp_path_factory.mktemp("diff") / "d", pdf=False).data


def test_a_policy_change_is_reported(changed):
    perf = next(c for c in changed["checks"] if c["id"] == "performance")
    assert (perf["a"], perf["b"], perf["change"]) == ("pass", "warn", "worsened")
    assert perf["params"] == {"n_bootstrap": {"a": 100, "b": 50}}
    assert perf["thresholds"] == [{"threshold": "roc_auc_ci_low (fail)", "a": {"min": 0.6, "max": None}, "b": None},
                                  {"threshold": "roc_auc_ci_low (warn)", "a": None, "b": {"min": 0.95, "max": None}}]
    others = [c for c in changed["checks"] if c["id"] != "performance"]
    assert {c["change"] for c in others} == {"unchanged"} and not any(c["params"] or c["thresholds"] for c in others)
    assert changed["status"] == {"a": "pass", "b": "warn", "change": "worsened", "unwaived": {"a": "pass", "b": "warn"}}
    assert changed["policy"]["changed"] == ["version", "sha256", "reaudit_interval_days"]
    assert changed["summary"]["inputs_changed"] == ["policy"]
    assert changed["summary"]["verdict_changes"] == 1


def test_measurement_deltas_carry_confidence_intervals(changed):
    rows = {(m["check"], m["measurement"]): m for m in changed["measurements"]}
    auc = rows[("performance", "roc_auc")]
    assert auc["delta"] == pytest.approx(0.0)  # same model and data: the point estimate is the same
    assert len(auc["a_ci"]) == 2 and len(auc["b_ci"]) == 2 and auc["ci_overlap"] is True
    assert auc["a_ci"] == auc["b_ci"]  # DeLong's interval: no resampling
    assert rows[("performance", "accuracy")]["a_ci"] == rows[("performance", "accuracy")]["b_ci"]  # exact binomial
    brier = rows[("performance", "brier")]
    assert brier["a_ci"] != brier["b_ci"]  # 100 vs 50 bootstrap resamples
    assert ("performance", "roc_auc_ci_low") not in rows  # folded into the interval
    assert rows[("global_importance", "rank_correlation")]["delta"] == pytest.approx(0.0)


def test_explanation_drift_between_identical_models_is_nil(changed):
    drift = changed["explanation_drift"]
    sources = {s["source"]: s for s in drift["sources"]}
    shap = next(s for name, s in sources.items() if "attributions-shap.csv" in name)
    assert shap["entered"] == [] and shap["left"] == [] and shap["a_top"] == shap["b_top"]
    assert shap["rank_correlation"] == pytest.approx(1.0)
    assert any(name.startswith("permutation importance") for name in sources)
    assert [m["measurement"] for m in drift["trust_measurements"]] == ["rank_correlation"]


def test_explanation_drift_when_the_model_changes(history, artefacts, card_writer, policy_writer, tmp_path):
    """A different model (the bare linear one, without `color`): the drift names what left."""
    import auditor

    card = card_writer(tmp_path / "card", artefact="linear")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(
        [c for c in policy_writer.tiny()["checks"] if c["check"] == "global_importance"]))
    other = auditor.run_audit(policy, card, artefacts.csv, tmp_path / "out")
    data = write_diff(history.paths[0], other.path, tmp_path / "d", pdf=False).data
    shap = next(s for s in data["explanation_drift"]["sources"] if "attributions-shap.csv" in s["source"])
    assert "color" in shap["left"] and shap["common_features"] == 3
    assert shap["rank_correlation"] is not None
    assert "model" in data["summary"]["inputs_changed"] and "card" in data["summary"]["inputs_changed"]


def test_cli_default_compares_with_the_previous_run_and_writes_three_files(history, out_copy):
    v3 = out_copy / "tiny-model" / "v0003"
    before = run_files(out_copy / "tiny-model" / "v0002"), run_files(v3)
    res = invoke("diff", v3)
    assert res.exit_code == 0, res.output
    text = flat(res.output)
    assert "v0002 -> tiny-model v0003" in text and "performance: pass -> warn (worsened)" in text
    assert "n_bootstrap 100 -> 50" in text
    folder = out_copy / "tiny-model" / "diffs" / "v0002-vs-v0003"
    assert sorted(p.name for p in folder.iterdir()) == ["diff.html", "diff.json", "diff.pdf"]
    body = (folder / "diff.json").read_bytes()
    assert json.loads(body)["checks"][0]["change"] == "worsened"
    assert embedded_files((folder / "diff.pdf").read_bytes()) == {"diff.json": body}
    html = (folder / "diff.html").read_text()
    assert "Explanation drift" in html and "worsened" in html
    # runs untouched; the same diff again reuses the folder (never overwrites, never duplicates)
    assert (run_files(out_copy / "tiny-model" / "v0002"), run_files(v3)) == before
    assert invoke("diff", out_copy / "tiny-model" / "v0002", v3).exit_code == 0
    assert sorted(p.name for p in folder.parent.iterdir()) == ["v0002-vs-v0003"]


def test_diff_of_a_first_run_needs_a_second_argument(history):
    res = invoke("diff", history.paths[0])
    assert res.exit_code == 2 and "first run" in flat(res.output)


def test_a_run_on_another_kind_of_machine_is_named_in_the_diff(history, out_copy, tmp_path):
    """The same audit on another CPU: the diff says which machine facts changed (a neural model's
    last bits follow the CPU's kernels); between two runs on this machine it says nothing."""
    assert write_diff(history.paths[0], history.paths[1], tmp_path / "same", pdf=False).data.get("machine", {}) == {}
    runs = sorted(p for p in (out_copy / history.model_dir.name).iterdir() if p.name.startswith("v"))
    path = runs[1] / "result.json"
    result = json.loads(path.read_text())
    here = result["provenance"]["machine"]
    result["provenance"]["machine"] = {**here, "cpu": "Intel(R) Xeon(R) Gold 6338", "logical_cpus": 64}
    result["provenance"]["runtime"] = {"used": "torch", "device": "cuda:0", "accelerator": "NVIDIA H200", "cuda": "13.0"}
    path.write_text(json.dumps(result))
    out = write_diff(runs[0], runs[1], tmp_path / "other", pdf=False)
    assert out.data["machine"] == {"cpu": {"a": here["cpu"], "b": "Intel(R) Xeon(R) Gold 6338"},
                                   "logical_cpus": {"a": here["logical_cpus"], "b": 64},
                                   "device": {"a": None, "b": "cuda:0"}, "accelerator": {"a": None, "b": "NVIDIA H200"},
                                   "cuda": {"a": None, "b": "13.0"}}
    html = (out.path / "diff.html").read_text()
    assert "Machine facts that changed" in html and "Intel(R) Xeon(R) Gold 6338" in html


def test_the_diff_prints_counts_as_counts_and_leaves_out_measurements_neither_run_has(changed):
    """The credit demo's diff printed claims_checked 3.000, n_explained 10.000 and rows 'mae — [—, —]'
    for a classifier, and its 'B − A' header stacked letter by letter in a narrow column."""
    import re

    from auditor.records.diff import render_diff_html

    html = render_diff_html(changed)
    table = html[html.index("<h2>Measurements</h2>"):]
    table = table[:table.index("</section>")]
    text = " ".join(re.sub(r"<[^>]+>", " ", table).split())
    names = {m["measurement"] for m in changed["measurements"]}
    empty = [m for m in changed["measurements"] if m["a"] is None and m["b"] is None]
    assert empty and "mae" in {m["measurement"] for m in empty}  # a classifier records mae as null
    assert "performance mae" not in text and "[—, —]" not in text
    assert f"{len(empty)} measurements have no value in either run" in text
    assert "claims_checked" in names and re.search(r"claims_ checked \d+ — \d+ — 0", text), text[:2000]
    assert '<th class="num">B − A</th>' in html and "th.num { white-space: nowrap; }" in html
    one_end = [m for m in changed["measurements"] if m["a_ci"] and m["a_ci"][1] is None and m["a_ci"][0] is not None]
    assert ", —]" not in text and (not one_end or "≥ " in text)  # a lower bound alone reads as one


def test_diff_out_never_writes_into_a_folder_the_records_own(history, out_copy):
    """`diff --out` wrote a diff into the model's signoffs/ folder (where the sign-off log and signed
    reports live, and which the workspace serves as sign-offs), into a new vNNNN/ folder's subfolder
    (a version folder holding no run: the model's next `auditor run` was refused), or into the
    registry's journal name. Each is a usage error (exit 2) naming the folder; nothing is written."""
    model = out_copy / "tiny-model"
    v3 = model / "v0003"
    (model / "signoffs").mkdir(exist_ok=True)
    assert invoke("history", "--out", out_copy).exit_code == 0  # builds the registry
    before = run_files(out_copy)
    for target, said in [(model / "signoffs" / "mine", "holds the sign-off log and signed reports"),
                         (model / "signoffs", "holds the sign-off log and signed reports"),
                         (model / "renders" / "x", "`auditor render`'s reports"),
                         (model / "v0009" / "diff", "named like a version of the model"),
                         (out_copy / "audits.sqlite-journal", "takes a name of the registry")]:
        res = invoke("diff", model / "v0002", v3, "--out", target, "--no-pdf")
        assert res.exit_code == 2, (target, res.output)
        assert said in flat(res.output) and str(target.name) in flat(res.output), (target, res.output)
    assert run_files(out_copy) == before
    assert not (model / "v0009").exists() and not (model / "renders").exists()
    assert sorted(p.name for p in (model / "signoffs").iterdir()) == []
    # a folder of one's own, and the model's diffs/ folder, still take a diff
    res = invoke("diff", model / "v0002", v3, "--out", model / "diffs" / "mine", "--no-pdf")
    assert res.exit_code == 0, res.output


def test_the_trust_table_leaves_out_measurements_neither_run_has_too(changed):
    """The credit demo's diff listed 'explanation_clustering mae — — —' (and two error ratios) in
    'Can the explanations be trusted', a classifier's nulls for a regressor's measurements, while
    the Measurements table below left them out and said so."""
    import copy
    import re

    from auditor.records.diff import render_diff_html

    data = copy.deepcopy(changed)
    trust = data["explanation_drift"]["trust_measurements"]
    trust.append({**trust[0], "check": "explanation_clustering", "check_type": "explanation_clustering",
                  "measurement": "attributions_worst_error_ratio", "a": None, "b": None, "delta": None,
                  "changed": False})
    trust.append({**trust[0], "check": "explanation_clustering", "check_type": "explanation_clustering",
                  "measurement": "attributions_k", "a": 4.0, "b": None, "delta": None, "changed": True})
    html = render_diff_html(data)
    section = html[html.index("Can the explanations be trusted"):html.index("<h2>Measurements</h2>")]
    text = " ".join(re.sub(r"<[^>]+>", " ", section).split())
    assert "worst_ error_ ratio" not in text and "— — —" not in text
    assert "rank_ correlation" in text and "attributions_ k 4 —" in text  # in one run: still listed
    # only nulls: the table is replaced by its sentence, not left as a header
    data["explanation_drift"]["trust_measurements"] = [trust[-2]]
    html = render_diff_html(data)
    section = html[html.index("Can the explanations be trusted"):html.index("<h2>Measurements</h2>")]
    assert "<table>" not in section and "No faithfulness, stability or agreement measurements in both runs." in section


def test_a_diff_whose_b_run_is_the_earlier_says_it_reads_backwards(changed):
    """`auditor diff v0002 v0001` (the newer run first, as the one-argument form names it) wrote a diff
    headed 'v0002 (15:45) → v0001 (15:28)' whose verdicts and B − A ran from the later run back to the
    earlier, with nothing to say so: a regression in the newer run read 'improved'."""
    import copy

    from auditor.records.diff import render_diff_html

    assert changed["a"]["created_at"] < changed["b"]["created_at"]
    assert "was audited before A" not in render_diff_html(changed)  # forward: no warning
    backwards = copy.deepcopy(changed)
    backwards["a"], backwards["b"] = changed["b"], changed["a"]
    html = render_diff_html(backwards)
    assert (f'<p class="warning">B ({changed["a"]["version"]}) was audited before A ({changed["b"]["version"]}): '
            "every change below reads from the later run back to the earlier one") in html


def test_a_diff_names_a_run_that_does_not_verify_and_exits_1(history, out_copy):
    """`diff` compared whatever the result files said: a v0003 whose result.json was edited (its
    status turned to pass) read as an improvement with nothing to say the figures were not what the
    audit wrote. Both runs are now verified as `auditor verify` does; the edited one is named on the
    cover and in the output, and the diff exits 1. Two untouched runs verify."""
    model = out_copy / "tiny-model"
    res = invoke("diff", model / "v0003", "--no-pdf")
    assert res.exit_code == 0, res.output
    clean = json.loads((model / "diffs" / "v0002-vs-v0003" / "diff.json").read_text())
    assert clean["integrity"]["a"]["verified"] and clean["integrity"]["b"]["verified"]
    assert clean["summary"]["unverified"] == []

    path = model / "v0003" / "result.json"
    result = json.loads(path.read_text())
    result["status"] = "pass"
    path.write_text(json.dumps(result))
    res = invoke("diff", model / "v0002", model / "v0003", "--no-pdf", "--out", out_copy / "edited")
    assert res.exit_code == 1, res.output
    text = flat(res.output)
    assert "NOT VERIFIED B v0003" in text and "result.json: altered" in text
    data = json.loads((out_copy / "edited" / "diff.json").read_text())
    assert data["summary"]["unverified"] == ["b"] and data["integrity"]["a"]["verified"]
    assert data["status"]["b"] == "pass"  # what the edited file says, under the warning
    html = flat((out_copy / "edited" / "diff.html").read_text())
    assert "B (v0003) does not verify: its figures below may not be what its audit wrote." in html
    assert "result.json: altered" in html
    # more findings than the diff names: the count of the rest, in the output as on the cover
    for i in range(6):
        (model / "v0003" / f"stray-{i}.txt").write_text("x")
    res = invoke("diff", model / "v0002", model / "v0003", "--no-pdf", "--out", out_copy / "more")
    data = json.loads((out_copy / "more" / "diff.json").read_text())
    more = data["integrity"]["b"]["more"]
    assert res.exit_code == 1 and more >= 3 and f"and {more} more" in flat(res.output)
    assert f"; and {more} more." in flat((out_copy / "more" / "diff.html").read_text())


def test_a_change_in_a_policy_the_policy_extends_is_named(history, out_copy, tmp_path):
    """The credit demo's policy extends the built-in eu-ai-act-high-risk (which extends
    combined-default, which extends default): when default's thresholds changed, the named policy
    kept its name, version and hash, and the diff said "policy changed: none" beside a changed
    threshold. The chain's files whose content changed are named."""
    model = out_copy / "tiny-model"
    runs = [json.loads((model / v / "result.json").read_text()) for v in ("v0002", "v0003")]
    assert [len(r["policy"]["chain"]) for r in runs] == [1, 1]  # the tiny policies extend nothing
    for run, parent in zip(runs, ("a" * 64, "b" * 64)):  # both extend /x/default.yaml, at two contents
        run["policy"]["chain"] = [{"source": run["policy"]["source"], "sha256": run["policy"]["sha256"]},
                                  {"source": "/x/default.yaml", "sha256": parent}]
    runs[1]["policy"]["chain"][0]["sha256"] = runs[1]["policy"]["sha256"] = runs[0]["policy"]["sha256"]
    for v, run in zip(("v0002", "v0003"), runs):
        (model / v / "result.json").write_text(json.dumps(run))
    data = write_diff(model / "v0002", model / "v0003", tmp_path / "d", pdf=False).data
    assert data["policy"]["chain"] == [{"file": "default.yaml", "a": "a" * 64, "b": "b" * 64}]
    assert data["summary"]["policy_changed"] == ["version", "reaudit_interval_days", "chain"]
    html = flat((tmp_path / "d" / "diff.html").read_text())
    assert "Policy fields changed: version, reaudit_interval_days, chain (default.yaml)." in html
    assert "Policy files of the chain whose content changed" in html
    res = invoke("diff", model / "v0002", model / "v0003", "--no-pdf", "--out", tmp_path / "cli")
    assert "policy changed: version, reaudit_interval_days, chain (default.yaml)" in flat(res.output)
    # the same chain in both: nothing named
    assert changed["policy"]["chain"] == [] if (changed := write_diff(history.paths[0], history.paths[1], tmp_path / "same",
                                                                    pdf=False).data) else False


def test_a_run_file_that_cannot_be_read_is_not_verified_rather_than_an_internal_error(history, out_copy, monkeypatch):
    """A run's report.pdf that this user may not read (a shared reports folder, mode 600 of another
    user): `diff` never read report.pdf until it verified both runs, and then the verification's
    PermissionError escaped as an internal error (exit 5). The file is named as unreadable, the
    run does not verify (exit 1), and `auditor verify` says the same."""
    from pathlib import Path

    model = out_copy / "tiny-model"
    pdf = (model / "v0002" / "report.pdf").resolve()
    real = Path.read_bytes

    def read_bytes(self):
        if self.resolve() == pdf:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    res = invoke("diff", model / "v0002", model / "v0003", "--no-pdf", "--out", out_copy / "unreadable")
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), repr(res.exception)
    text = flat(res.output)
    assert "NOT VERIFIED A v0002" in text and "report.pdf: unreadable" in text and "Permission denied" in text
    res = invoke("verify", model / "v0002")
    assert isinstance(res.exception, SystemExit) and res.exit_code == 1, repr(res.exception)
    assert "report.pdf: unreadable" in flat(res.output)


def test_a_change_in_one_of_two_extended_policy_files_of_the_same_name_is_named(history, out_copy, tmp_path):
    """team/policy.yaml extends dept/policy.yaml, which extends org/policy.yaml: the chain's files
    were told apart by file name alone, so org's hash stood for dept's, and a change of dept's
    thresholds read "policy changed: none". Files of one name are named by as much of their path as
    tells them apart."""
    model = out_copy / "tiny-model"
    runs = [json.loads((model / v / "result.json").read_text()) for v in ("v0002", "v0003")]
    for run, dept in zip(runs, ("a" * 64, "b" * 64)):  # dept's content changed, org's did not
        own = {"source": "/p/team/policy.yaml", "sha256": "0" * 64}
        run["policy"].update(source=own["source"], sha256=own["sha256"], version="1", reaudit_interval_days=30)
        run["policy"]["chain"] = [own, {"source": "/p/dept/policy.yaml", "sha256": dept},
                                  {"source": "/p/org/policy.yaml", "sha256": "c" * 64}]
    for v, run in zip(("v0002", "v0003"), runs):
        (model / v / "result.json").write_text(json.dumps(run))
    data = write_diff(model / "v0002", model / "v0003", tmp_path / "d", pdf=False).data
    assert data["policy"]["chain"] == [{"file": "dept/policy.yaml", "a": "a" * 64, "b": "b" * 64}]
    assert data["summary"]["policy_changed"] == ["chain"]


def test_a_stored_run_without_its_result_is_named_not_a_first_run_or_a_usage_error(history, out_copy):
    """A stored run (its manifest.json is there) whose result.json was deleted: `auditor verify` calls
    it altered, but `diff v0003` said v0003 'is the first run' (its previous run was passed over) and
    `diff v0002 v0003` that v0002 'is not a run directory' (a usage error, exit 2). Both now name the
    missing result.json of the stored run (exit 3, a stored result that cannot be read)."""
    model = out_copy / "tiny-model"
    (model / "v0002" / "result.json").unlink()
    for args in ((model / "v0003",), (model / "v0002", model / "v0003")):
        res = invoke("diff", *args, "--no-pdf")
        text = flat(res.output)
        assert res.exit_code == 3, res.output
        assert "result.json" in text and "missing: a stored run (it has its manifest.json) without its result.json" in text
        assert "first run" not in text and "not a run directory" not in text
    assert not (model / "diffs").exists()
    assert invoke("verify", model / "v0002").exit_code == 1


def test_a_changed_interval_bound_is_a_changed_measurement():
    """A bound moved while its point stayed (recourse 1.0 and 1.0, its CI low 0.78 then 0.69): the diff
    folded the bound into its measurement's row and counted the row unchanged, though policies gate on
    bounds (roc_auc_ci_low)."""
    from types import SimpleNamespace

    from auditor.records.diff import compare_measurements

    def run(low):
        return SimpleNamespace(result={"checks": [{"id": "c", "check": "c", "measurements": {
            "share": 1.0, "share_ci_low": low, "share_ci_high": 1.0, "other": 2.0}}]})

    rows = {r["measurement"]: r for r in compare_measurements(run(0.782), run(0.692))}
    assert set(rows) == {"share", "other"}
    assert rows["share"]["changed"] and rows["share"]["delta"] == 0 and not rows["other"]["changed"]
    assert not compare_measurements(run(0.7), run(0.7))[0]["changed"]


def test_the_same_name_over_a_retrained_artefact_is_said(history, tmp_path):
    """Two runs of one model name whose artefacts differ (retrained): the diff called it the same model,
    and its command-line text left out the model version change and a backwards comparison. The cover
    and the command line say the same sentences (one list, `diff_warnings`)."""
    import shutil

    from auditor.records.diff import diff_runs, diff_warnings, render_diff_html
    from auditor.records.runs import open_run

    a, b = history.paths[0], tmp_path / "v0002"
    shutil.copytree(history.paths[1], b)
    result = json.loads((b / "result.json").read_text())
    result["model"] |= {"sha256": "0" * 64, "version": "9.9"}
    (b / "result.json").write_text(json.dumps(result))
    d = diff_runs(open_run(a), open_run(b))
    assert d["same_model"] and d["same_artefact"] is False
    said = diff_warnings(d)
    assert any("sha256 differs" in w for w in said) and any(w.endswith("→ 9.9.") for w in said)
    html = render_diff_html(d)
    assert all(f'<p class="warning">{w}</p>' in html.replace("&#39;", "'") for w in said)
    assert any("audited before" in w for w in diff_warnings(diff_runs(open_run(history.paths[1]), open_run(a))))


def test_a_feature_that_entered_the_top_names_the_rankings_that_moved_it():
    from auditor.records.diff import _moved_by

    sources = [{"source": "mean |lime| (evidence/attributions-lime.csv)", "entered": ["Income"], "left": ["Job"]},
               {"source": "mean |shap| (evidence/attributions-shap.csv)", "entered": [], "left": []},
               {"source": "permutation importance (global_importance check)", "entered": ["Income"], "left": []}]
    assert _moved_by(sources, "entered") == {"Income": ["mean |lime|", "permutation importance"]}
    assert _moved_by(sources, "left") == {"Job": ["mean |lime|"]}


def test_a_status_changed_by_a_waiver_says_so_and_is_no_improvement(history, artefacts, out_copy, tmp_path):
    """v0004 -> v0005 of a model printed "subgroup_fairness: waived -> warn (worsened)" beside "0
    measurements changed" and named nowhere the waiver that expired on 2026-05-31; a waiver added read
    "warn -> waived (improved)". Each check carries its waiver in both runs; a status that a waiver
    added or expired alone changed is a "waiver" change, said with its approver and expiry."""
    import auditor

    import datetime as dt

    model = out_copy / "tiny-model"
    until = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=60)).isoformat()  # within a waiver's lifetime
    for name, expires in (("valid", until), ("expired", "2000-01-31")):
        (tmp_path / f"{name}.yaml").write_text(
            "waivers:\n  - check: performance\n    justification: accepted pending more data (MRM-7)\n"
            f"    approver: Head of MRM\n    expires: {expires}\n")
        auditor.run_audit(history.policy_v2, history.card, artefacts.csv, out_copy, waivers=tmp_path / f"{name}.yaml")
    added = write_diff(model / "v0003", model / "v0004", tmp_path / "added", pdf=False).data
    perf = next(c for c in added["checks"] if c["id"] == "performance")
    assert (perf["a"], perf["b"], perf["change"], perf["waiver_change"]) == ("warn", "waived", "waiver", "added")
    assert perf["waiver"] == {"a": None, "b": {"state": "applied", "status_before": "warn", "expires": until,
                                               "approver": "Head of MRM", "approved": None}}
    assert perf["unwaived"] == {"a": "warn", "b": "warn"}
    assert perf["waiver_note"] == (f"waiver added: WARN waived by Head of MRM until {until}; "
                                   "status without waivers WARN in both runs")
    assert added["status"] == {"a": "warn", "b": "waived", "change": "waiver", "unwaived": {"a": "warn", "b": "warn"}}
    assert added["summary"]["verdict_changes"] == 1 and added["summary"]["verdict_changes_by_waiver"] == 1
    html = flat((tmp_path / "added" / "diff.html").read_text())
    assert (f'<span class="badge change-waiver">waiver</span> waiver added: WARN waived by Head of MRM until {until}; '
            "status without waivers WARN in both runs") in html
    assert "1 verdict change (1 by a waiver added or expired alone: nothing measured changed it);" in html

    res = invoke("diff", model / "v0005", "--no-pdf")
    assert res.exit_code == 0, res.output
    assert ("performance: waived -> warn (waiver expired: the waiver by Head of MRM expired on 2000-01-31; "
            "status without waivers WARN in both runs)") in flat(res.output)
    expired = json.loads((model / "diffs" / "v0004-vs-v0005" / "diff.json").read_text())
    perf = next(c for c in expired["checks"] if c["id"] == "performance")
    assert (perf["change"], perf["waiver_change"], perf["waiver"]["b"]["state"]) == ("waiver", "expired", "expired")
    assert expired["status"]["change"] == "waiver"
    # no waiver in either run: nothing said, and the change reads as before
    assert {(c["waiver_change"], c["waiver_note"]) for c in write_diff(
        model / "v0002", model / "v0003", tmp_path / "none", pdf=False).data["checks"]} == {(None, None)}


def test_a_waiver_over_a_changed_status_reads_by_what_was_measured():
    """PASS in A, FAIL waived in B: the displayed pass -> waived read "improved"; what the check
    found worsened, and the waiver is named beside it."""
    from types import SimpleNamespace

    from auditor.records.diff import check_line, compare_checks

    waiver = {"check": "c", "justification": "j", "approver": "Head of MRM", "expires": "2027-12-31", "reference": "",
              "source": "/w.yaml", "state": "applied", "status_before": "fail"}

    def run(status, waiver=None):
        return SimpleNamespace(result={"checks": [{"id": "c", "check": "c", "status": status, "waiver": waiver}]})

    row = compare_checks(run("pass"), run("waived", waiver))[0]
    assert (row["change"], row["waiver_change"]) == ("worsened", "added")
    assert check_line(row) == ("c: pass -> waived (worsened; waiver added: FAIL waived by Head of MRM until 2027-12-31; "
                               "status without waivers PASS → FAIL)")
    row = compare_checks(run("waived", {**waiver, "status_before": "warn"}), run("waived", waiver))[0]
    assert row["change"] == "worsened" and row["waiver_note"] == (
        "waived in both runs (by Head of MRM until 2027-12-31); status without waivers WARN → FAIL")
    row = compare_checks(run("waived", waiver), run("fail"))[0]
    assert (row["change"], row["waiver_change"]) == ("waiver", "removed")
    assert row["waiver_note"] == ("waiver removed: B has no waiver for this check (A's, by Head of MRM, ran until "
                                  "2027-12-31); status without waivers FAIL in both runs")
    assert compare_checks(run("waived", waiver), run("waived", waiver))[0]["change"] == "unchanged"


def test_a_renewed_or_changed_waiver_is_said():
    """A waiver renewed to a later expiry (or signed by another approver) between two runs over the
    same status printed nothing: the check read "unchanged" and its line was left out, so a reviewer
    comparing runs never saw that the acceptance of a finding had been extended."""
    from types import SimpleNamespace

    from auditor.records.diff import check_line, compare_checks

    waiver = {"approver": "Head of MRM", "expires": "2027-06-30", "state": "applied", "status_before": "warn"}

    def run(w):
        return SimpleNamespace(result={"checks": [{"id": "c", "check": "c", "status": "waived", "waiver": w}]})

    row = compare_checks(run(waiver), run({**waiver, "expires": "2027-12-31"}))[0]
    assert (row["change"], row["waiver_change"]) == ("unchanged", "renewed")
    assert check_line(row) == ("c: waived -> waived (unchanged; waiver renewed: by Head of MRM until 2027-12-31 "
                               "(A's: by Head of MRM until 2027-06-30); status without waivers WARN in both runs)")
    row = compare_checks(run(waiver), run({**waiver, "approver": "CRO"}))[0]
    assert row["waiver_change"] == "changed"
    assert row["waiver_note"].startswith("waiver changed: by CRO until 2027-06-30 (A's: by Head of MRM until 2027-06-30)")
    assert compare_checks(run({**waiver, "expires": "2028-01-31"}), run(waiver))[0]["waiver_change"] == "changed"
    same = compare_checks(run(waiver), run(dict(waiver)))[0]
    assert (same["waiver_change"], same["waiver_note"], check_line(same)) == (None, None, None)
    # approved again on another day to the same expiry is another waiver; the approval dates are said
    row = compare_checks(run({**waiver, "approved": "2026-07-01"}), run({**waiver, "approved": "2027-01-04"}))[0]
    assert row["waiver_change"] == "changed"
    assert row["waiver_note"].startswith("waiver changed: by Head of MRM (approved 2027-01-04) until 2027-06-30 (A's: "
                                         "by Head of MRM (approved 2026-07-01) until 2027-06-30)")
    row = compare_checks(run(waiver), run({**waiver, "approved": "2027-01-04", "expires": "2027-12-31"}))[0]
    assert row["waiver_change"] == "renewed" and "(A's: by Head of MRM until 2027-06-30)" in row["waiver_note"]


def test_a_changed_dataset_and_another_policy_are_said_on_the_cover(history, artefacts, policy_writer, out_copy, tmp_path):
    """v0005 -> v0006 (other rows) read "18 measurements changed" with "inputs changed: dataset" as
    the only sign, and v0008 -> v0009 under another policy "fail -> pass (improved)": the diff warned
    only of another model, artefact, model version or a reversed order. A changed dataset (its rows
    in both runs) and another policy (name, version, or content under the same ones) are said, on
    the cover and in the output, as a changed model is."""
    import copy

    import auditor
    from auditor.records.diff import diff_warnings, render_diff_html

    model = out_copy / "tiny-model"
    fewer = tmp_path / "fewer.csv"
    artefacts.frame.head(250).to_csv(fewer, index=False)
    other = policy_writer(tmp_path / "other", policy_writer.tiny(name="quick", version="7"))
    auditor.run_audit(other, history.card, fewer, out_copy)
    res = invoke("diff", model / "v0002", model / "v0004", "--no-pdf", "--out", tmp_path / "d")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "d" / "diff.json").read_text())
    assert (data["a"]["dataset_rows"], data["b"]["dataset_rows"]) == (len(artefacts.frame), 250)
    data_said = (f"The two runs audit different data ({len(artefacts.frame)} rows in A, 250 in B; the dataset's sha256 "
                 "differs): every figure below rests on different data, so a change may be the data's rather than "
                 "the model's.")
    policy_said = ("The two runs were audited under different policies, tiny 1 and quick 7: their checks, parameters "
                   "and gates may differ, so a status change below may be the policy's rather than the model's.")
    assert diff_warnings(data) == [data_said, policy_said]
    assert f"warning: {data_said}" in flat(res.output) and f"warning: {policy_said}" in flat(res.output)
    html = (tmp_path / "d" / "diff.html").read_text().replace("&#39;", "'")
    assert f'<p class="warning">{data_said}</p>' in html and f'<p class="warning">{policy_said}</p>' in html

    # v0002 -> v0003: the same data, the policy's version 1 -> 2; then the same name and version, edited
    changed = write_diff(history.paths[1], history.paths[2], tmp_path / "v", pdf=False).data
    assert diff_warnings(changed) == [
        "The policy's version changed: tiny 1 → 2; its checks, parameters and gates may differ, so a status change "
        "below may be the policy's rather than the model's."]
    edited = copy.deepcopy(changed)
    edited["policy"]["b"]["version"] = "1"
    edited["policy"]["changed"] = ["sha256", "reaudit_interval_days"]
    assert diff_warnings(edited) == [
        "The policy changed under the same name and version (tiny 1; changed: sha256, reaudit_interval_days): its "
        "checks, parameters and gates may differ, so a status change below may be the policy's rather than the "
        "model's."]
    assert "The policy changed under the same name" in render_diff_html(edited)
    # the same policy and data: nothing said
    assert diff_warnings(write_diff(history.paths[0], history.paths[1], tmp_path / "same", pdf=False).data) == []


def test_the_output_gives_a_changed_thresholds_bounds(changed, out_copy):
    """The command line printed "thresholds roc_auc_ci_low (fail)" without the bound's values, which
    diff.json and the HTML hold: old -> new, as parameters are printed."""
    from auditor.records.diff import check_line

    perf = next(c for c in changed["checks"] if c["id"] == "performance")
    line = ("performance: pass -> warn (worsened); params n_bootstrap 100 -> 50; thresholds "
            "roc_auc_ci_low (fail) min 0.6 -> none, roc_auc_ci_low (warn) none -> min 0.95")
    assert check_line(perf) == line
    assert check_line({**perf, "thresholds": [{"threshold": "gap (warn)", "a": {"min": None, "max": 0.2},
                                               "b": {"min": 0.01, "max": 0.25}}]}).endswith(
        "thresholds gap (warn) max 0.2 -> min 0.01 max 0.25")
    res = invoke("diff", out_copy / "tiny-model" / "v0003", "--no-pdf")
    assert res.exit_code == 0 and line in flat(res.output), res.output


def test_the_same_artefact_under_another_name_is_said_to_be_the_same(history, tmp_path):
    """A run whose card renamed the model (Credit Scoring GBM, then credit-scoring-gbm) over the same
    artefact: the diff said only "different models". The artefact's sha256 is the same: it says so."""
    import shutil

    from auditor.records.diff import diff_runs, diff_warnings
    from auditor.records.runs import open_run

    b = tmp_path / "renamed" / "v0001"
    shutil.copytree(history.paths[1], b)
    result = json.loads((b / "result.json").read_text())
    result["model"]["name"] = "Tiny Model"
    (b / "result.json").write_text(json.dumps(result))
    d = diff_runs(open_run(history.paths[0]), open_run(b))
    assert not d["same_model"] and d["same_artefact"]
    assert diff_warnings(d) == ["The two runs audit the same artefact under two names, tiny-model and Tiny Model (the "
                                "model's sha256 is the same): the name changed, the model did not."]
    result["model"]["sha256"] = "0" * 64  # another artefact too: different models, as before
    (b / "result.json").write_text(json.dumps(result))
    assert diff_warnings(diff_runs(open_run(history.paths[0]), open_run(b)))[0] == (
        "The two runs audit different models: tiny-model and Tiny Model.")


def test_long_runs_in_the_policys_text_get_break_opportunities_in_the_diff(changed):
    """The diff's PDF lays out the policy's name, version and check titles as the report does: a run of
    thousands of characters without a space took WeasyPrint minutes unless it has break opportunities."""
    import copy
    from html.parser import HTMLParser

    from auditor.records.diff import render_diff_html

    data = copy.deepcopy(changed)
    long = {"name": "NA" * 40, "version": "VE" * 40}
    for side in ("a", "b"):
        data["policy"][side].update(long)
    data["checks"][0]["title"] = long["title"] = "TI" * 40
    data["checks"][0]["params"] = data["checks"][0]["params"] or {"n_bootstrap": {"a": 100, "b": 200}}

    parts: list[str] = []
    parser = HTMLParser()
    parser.handle_data = parts.append
    parser.feed(render_diff_html(data))
    for field, text in long.items():
        assert text in "".join(parts), field  # shown, and as written
        assert not [part for part in parts if text[:40] in part], field  # each run broken every 16 characters
