"""A third pass of hostile inputs (a probe of every CLI command with bad inputs, 2026-12-02): each
was a crash, a silent acceptance or a sealed run written into; each is now refused up front with a
located message and its documented exit code, and nothing is written for a refused run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


def nothing_written(out: Path) -> bool:
    return not Path(out).exists() or not any(Path(out).iterdir())


# --- the card's columns ----------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, location, message", [
    ({"features": ["x1", "x2", "x1"]}, "auditor.features[2]", "'x1' is listed twice"),
    ({"features": ["x1", "x2", "x3", "color", "label"]}, "auditor.features[4]", "'label' is the target"),
    ({"sensitive_features": ["color", "color"]}, "auditor.sensitive_features[1]", "'color' is listed twice"),
    ({"ignore_columns": ["label"]}, "auditor.ignore_columns[0]", "'label' is the target"),
    ({"ignore_columns": ["x3"]}, "auditor.ignore_columns[0]", "'x3' is a feature of the card; it cannot also be ignored"),
    ({"features": []}, "auditor.features", "empty: list the model's features"),
])
def test_card_columns_are_each_named_once_and_the_target_is_no_feature(cli, tmp_path, card_writer, card_only_policy,
                                                                      artefacts, overrides, location, message):
    card = card_writer(tmp_path / "card", **overrides)
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 3, res.text
    assert f"{location}: {message}" in res.text


@pytest.mark.parametrize("overrides, location, message", [
    ({"text_column": "label"}, "auditor.text_column", "'label' is the target: a model fed its own label is label leakage"),
    ({"ignore_columns": ["text"]}, "auditor.ignore_columns[0]",
     "'text' is the text column of the card; it cannot also be ignored"),
])
def test_a_text_card_s_text_column_is_neither_the_target_nor_ignored(overrides, location, message):
    """A text card reading its target as the text was audited (label leakage with a model that knows
    the label words); an ignored text column was still audited."""
    from auditor.inputs.model_card import AuditorBlock, column_problems

    block = AuditorBlock.model_validate({"task": "text-classification", "target": "label", "text_column": "text",
                                         "model": {"path": "model", "format": "transformers"}, **overrides})
    assert [f"{p.location}: {p.message}" for p in column_problems(block)] == [f"{location}: {message}"]


def test_an_impossible_date_in_a_card_is_located(cli, tmp_path, card_writer, card_only_policy):
    card = card_writer(tmp_path / "card")
    text = card.read_text().replace("---\n", "---\ndate: 2026-02-30\n", 1)
    card.write_text(text)
    res = cli("validate", "--policy", card_only_policy, "--card", card)
    assert res.code == 3 and "line 2, column 7" in res.text and "'2026-02-30' is not a valid date" in res.text, res.text


def test_a_number_where_a_string_belongs_says_to_quote_it(cli, tmp_path, card_writer, card_only_policy):
    card = card_writer(tmp_path / "card", version=1.0)
    res = cli("validate", "--policy", card_only_policy, "--card", card)
    assert res.code == 3, res.text
    assert "auditor.version: Input should be a valid string (YAML read 1.0 as a number: write it in quotes)" in res.text


def test_a_card_with_a_byte_order_mark_reads_like_one_without(cli, tmp_path, card_writer, card_only_policy, artefacts):
    card = card_writer(tmp_path / "card")
    card.write_bytes(b"\xef\xbb\xbf" + card.read_bytes())
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 0, res.text


# --- the model against the card ---------------------------------------------------------------------

def test_columns_the_model_was_not_fitted_on_are_a_card_error_before_any_run(cli, tmp_path, card_writer,
                                                                           card_only_policy, artefacts):
    frame = artefacts.frame.rename(columns={"x3": "x9"})
    csv = tmp_path / "renamed.csv"
    frame.to_csv(csv, index=False)
    card = card_writer(tmp_path / "card", features=["x1", "x2", "x9", {"name": "color", "type": "categorical"}])
    out = tmp_path / "out"
    res = cli.run(card_only_policy, card, csv, out)
    assert res.code == 3, res.text
    assert "auditor.features: the model was fitted on the columns x1, x2, x3, color" in res.text
    assert "the model needs 'x3', which the audit's features lack" in res.text and "'x9' is not among the model's" in res.text
    assert nothing_written(out)


# --- gates a task can never meet ------------------------------------------------------------------

def test_a_gate_on_a_measurement_the_task_never_reports_is_refused(cli, tmp_path, card_writer, policy_writer, artefacts):
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "performance", "params": {"n_bootstrap": 20},
                                                                      "thresholds": [{"measurement": "r2_ci_low", "min": 0.5}]}]))
    card = card_writer(tmp_path / "card")
    out = tmp_path / "out"
    res = cli.run(policy, card, artefacts.csv, out)
    assert res.code == 3, res.text
    assert ("checks[0].thresholds[0]: check 'performance', threshold on r2_ci_low: performance does not measure r2_ci_low on "
            "tabular-classification models") in res.text and "tasks: [tabular-regression]" in res.text
    assert nothing_written(out)
    res = cli("validate", "--policy", policy, "--card", card)
    assert res.code == 3 and "could never be met" in res.text, res.text
    assert ": valid (" not in res.text  # it printed "policy tiny 1: valid (1 checks)" before saying it was not
    # scoped to the task that has it, the same gate is valid (it judges regressors only)
    scoped = policy_writer(tmp_path / "scoped", policy_writer.tiny([{"check": "performance", "params": {"n_bootstrap": 20},
                                                                      "thresholds": [{"measurement": "r2_ci_low", "min": 0.5,
                                                                                      "tasks": ["tabular-regression"]}]}]))
    assert cli("validate", "--policy", scoped, "--card", card).code == 0


def test_every_builtin_policy_gates_only_what_each_task_measures():
    from auditor.engine.runner import build_plan, check_gates
    from auditor.models.kinds import KINDS
    from auditor.policy.load import builtin_policies, load_policy

    for name in builtin_policies():
        loaded = load_policy(name)
        for task in KINDS:
            check_gates(loaded, build_plan(loaded, task), task)  # raises on a gate the task cannot meet


# --- datasets ---------------------------------------------------------------------------------------

def test_a_truncated_csv_row_is_located(cli, tmp_path, card_writer, card_only_policy, artefacts):
    lines = artefacts.csv.read_text().splitlines()
    lines[5] = "0.1,0.2"
    csv = tmp_path / "truncated.csv"
    csv.write_text("\n".join(lines) + "\n")
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", csv)
    assert res.code == 3, res.text
    assert "line 6: 2 fields; the header has 5 (a truncated row? write a missing value as an empty field)" in res.text


def test_validate_warns_of_a_claim_the_run_cannot_read(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """A claim of 'high' is left out of the run's comparison: validate said the card was valid and
    nothing more, and the run's PASS counted the claims it could read."""
    index = [{"name": "m", "results": [{"dataset": {"name": "eval"},
                                        "metrics": [{"type": "accuracy", "value": "high"}]}]}]
    card = card_writer(tmp_path / "card", metadata={"model-index": index})
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 0, res.text
    assert ("warning: claim not read, so not checked: model-index[0].results[0].metrics[0]: needs a metric type "
            "and a finite numeric value") in " ".join(res.text.split())


def test_an_unclosed_quote_is_located_where_its_record_starts(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """A quote opened on line 3 and never closed runs the record to the end of the file: it was
    reported at the file's last line, as a truncated row."""
    lines = artefacts.csv.read_text().splitlines()
    lines[2] = '"' + lines[2]
    csv = tmp_path / "unclosed.csv"
    csv.write_text("\n".join(lines) + "\n")
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", csv)
    assert res.code == 3, res.text
    assert (f"line 3: 1 fields; the header has 5 (a quoted field runs from line 3 to line {len(lines)}: an unclosed "
            "quote?)") in " ".join(res.text.split())


def test_validate_checks_the_fairness_groups_the_run_would_need(cli, tmp_path, card_writer, policy_writer, artefacts):
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([
        {"check": "subgroup_fairness", "params": {"fairness_groups": ["no_such_column"]}}]))
    res = cli("validate", "--policy", policy, "--card", card_writer(tmp_path / "card"), "--data", artefacts.csv)
    assert res.code == 3 and "column 'no_such_column'" in res.text, res.text


# --- output folders -----------------------------------------------------------------------------------

def test_out_inside_a_stored_run_or_at_a_models_folder_is_refused(cli, tmp_path, card_writer, card_only_policy, artefacts,
                                                                 stub_pdf):
    card = card_writer(tmp_path / "card")
    out = tmp_path / "out"
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    run = out / "tiny-model" / "v0001"
    sealed = sorted(p.name for p in run.rglob("*"))
    for inside in (run, run / "evidence", out / "tiny-model"):
        res = cli.run(card_only_policy, card, artefacts.csv, inside)
        assert res.code == 2, res.text
        assert ("is inside the stored run" in res.text) or ("is a model's folder (it holds v0001)" in res.text)
    assert sorted(p.name for p in run.rglob("*")) == sealed
    assert cli("verify", run).code == 0


def test_a_stray_folder_named_like_the_next_version_is_refused_before_the_work(cli, tmp_path, card_writer,
                                                                              card_only_policy, artefacts, stub_pdf):
    card = card_writer(tmp_path / "card")
    out = tmp_path / "out"
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    stray = out / "tiny-model" / "v0002"
    stray.mkdir()
    (stray / "mine.txt").write_text("keep")
    res = cli.run(card_only_policy, card, artefacts.csv, out)
    assert res.code == 2 and "holds no manifest.json" in res.text and "Move or rename it" in res.text, res.text
    assert sorted(p.name for p in (out / "tiny-model").iterdir() if p.name.startswith("v")) == ["v0001", "v0002"]
    assert (stray / "mine.txt").read_text() == "keep"
    stray.rename(out / "tiny-model" / "kept-aside")
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    assert cli("verify", out / "tiny-model" / "v0002").code == 0


@pytest.mark.parametrize("stray", ["a file", "a link", "no manifest", "a manifest folder", "an unreadable manifest"])
def test_a_newest_version_that_is_not_a_run_with_a_manifest_is_refused_before_the_work(cli, tmp_path, card_writer,
                                                                                      card_only_policy, artefacts,
                                                                                      stub_pdf, monkeypatch, stray):
    """A stray file named like a version, or a newest run whose manifest.json is not a readable file:
    the next run exited 0 chained to a previous version it could not hash (its manifest's previous
    sha256 null), so it never verified and could never be signed off."""
    import builtins

    card = card_writer(tmp_path / "card")
    out = tmp_path / "out"
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    models = out / "tiny-model"
    entry, said = models / "v0001", None
    if stray == "a file":
        entry = models / "v0002"
        entry.write_text("x")
        said = "is not a folder (a file or a link)"
    elif stray == "a link":
        entry = models / "v0002"
        entry.symlink_to(tmp_path / "nowhere")
        said = "is not a folder (a file or a link)"
    elif stray == "no manifest":
        (entry / "manifest.json").unlink()
        said = "holds no manifest.json"
    elif stray == "a manifest folder":
        (entry / "manifest.json").unlink()
        (entry / "manifest.json").mkdir()
        said = "its manifest.json cannot be read (Is a directory)"
    else:
        real_open = builtins.open

        def denied(file, *args, **kwargs):
            if str(file) == str(entry / "manifest.json"):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", denied)
        said = "its manifest.json cannot be read (Permission denied)"
    res = cli.run(card_only_policy, card, artefacts.csv, out)
    assert res.code == 2, res.text
    text = " ".join(res.text.split())
    assert f"{entry} is named like a version but {said}" in text and "Move or rename it, then run again" in text, text
    assert sorted(p.name for p in models.iterdir() if p.name.startswith("v")) == (
        ["v0001", "v0002"] if entry.name == "v0002" else ["v0001"])


# --- registry and device ---------------------------------------------------------------------------

def test_read_only_registry_commands_never_create_a_mistyped_registry(cli, tmp_path):
    typo = tmp_path / "typo.sqlite"
    for command in (["due"], ["history"]):
        res = cli(*command, "--db", typo)
        assert res.code == 2 and "does not exist (a mistyped --db or AUDITOR_DB?)" in res.text, res.text
        assert not typo.exists()
    empty = tmp_path / "real.sqlite"
    sqlite3.connect(empty).close()  # an empty file, as sqlite leaves it
    assert cli("due", "--db", empty).code == 2


def test_read_only_registry_commands_never_write_into_another_database(cli, tmp_path):
    """--db naming an existing SQLite file of another application: history, due and users list gave it
    the registry's tables (written into it) and read it as no audits ('nothing due', exit 0)."""
    other = tmp_path / "crm.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    before = other.read_bytes()
    for command in (["due"], ["history"], ["users", "list"]):
        res = cli(*command, "--db", other)
        assert res.code == 2 and "without the audit registry's table auditor_runs (a mistyped --db" in res.text, res.text
        assert other.read_bytes() == before


def test_serve_never_writes_into_another_database_or_an_empty_file(tmp_path):
    """`serve --db` naming another application's SQLite file gave it the registry's tables (and an empty
    file became an empty registry) before serving no audits; it is refused, the file untouched."""
    from auditor.errors import UsageError
    from auditor.web.app import create_app

    out = tmp_path / "out"
    out.mkdir()
    other, empty = tmp_path / "crm.sqlite", tmp_path / "empty.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    empty.touch()
    for db, said in ((other, "is a database without the audit registry's table auditor_runs"),
                     (empty, "is an empty file, not a registry")):
        before = db.read_bytes()
        with pytest.raises(UsageError, match="serve reads a registry and never creates one") as info:
            create_app(out, db=f"sqlite:///{db}")
        assert f"the registry {db} {said} (a mistyped --db" in str(info.value)
        assert db.read_bytes() == before


def test_serve_never_writes_into_another_applications_database_in_the_output_folder(tmp_path):
    """An ``<out>/audits.sqlite`` of another application was given the registry's tables by `serve` (it is no
    empty file, so not refused as a missing registry); it is refused, the file untouched."""
    from auditor.errors import UsageError
    from auditor.web.app import create_app

    out = tmp_path / "out"
    out.mkdir()
    other = out / "audits.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    conn.close()
    before = other.read_bytes()
    with pytest.raises(UsageError) as info:
        create_app(out)
    assert str(info.value) == (f"the registry {other} is a database without the audit registry's table auditor_runs "
                               "(another application's file in the output folder?); serve reads a registry and never "
                               "creates one")
    assert other.read_bytes() == before


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_read_only_registry_commands_refuse_an_in_memory_registry(cli, url):
    """`due --db sqlite://` said "nothing due" (exit 0): an in-memory database is empty, as a mistyped path."""
    for command in (["due"], ["history"]):
        res = cli(*command, "--db", url)
        assert res.code == 2 and "is an in-memory database, which holds no audits" in " ".join(res.text.split()), res.text


def test_a_gpu_device_for_a_tabular_model_is_a_usage_error(cli, tmp_path, card_writer, card_only_policy, artefacts):
    out = tmp_path / "out"
    res = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out, "--device", "cuda:7")
    assert res.code == 2 and "always runs on the CPU" in res.text, res.text
    assert nothing_written(out)



def test_a_result_from_a_newer_schema_is_not_rendered(cli, tmp_path, card_writer, card_only_policy, artefacts, stub_pdf):
    import json
    import shutil

    out = tmp_path / "out"
    assert cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out).code == 0
    copy = tmp_path / "copy"
    shutil.copytree(out / "tiny-model" / "v0001", copy)
    result = json.loads((copy / "result.json").read_text())
    result["schema_version"] = 99
    (copy / "result.json").write_text(json.dumps(result))
    res = cli("render", copy)
    assert res.code == 3 and "schema_version: Input should be less than or equal to 1" in res.text, res.text


def test_a_policy_not_yet_in_effect_is_said_by_validate_and_in_the_report(cli, tmp_path, card_writer, policy_writer,
                                                                        artefacts, stub_pdf):
    import datetime as dt

    from .conftest import CARD_ONLY

    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CARD_ONLY, effective_from=dt.date(2099, 1, 1)))
    res = cli("validate", "--policy", policy)
    assert res.code == 0 and "warning: effective_from 2099-01-01 is in the future" in res.text, res.text
    out = tmp_path / "out"
    assert cli.run(policy, card_writer(tmp_path / "card"), artefacts.csv, out).code == 0
    html = (out / "tiny-model" / "v0001" / "report.html").read_text()
    assert "2099-01-01 <strong>— not yet in effect on the audit date" in html
    current = policy_writer(tmp_path / "current", policy_writer.tiny(CARD_ONLY, effective_from=dt.date(2026, 1, 1)))
    assert "not yet in effect" not in cli("validate", "--policy", current).text


@pytest.mark.parametrize("change, location", [
    ({"seed": True}, "seed"),
    ({"checks": [{"check": "performance", "params": {"n_bootstrap": True}}]}, "checks[0].params.n_bootstrap"),
    ({"checks": [{"check": "card_completeness", "thresholds": [{"measurement": "completeness", "min": True}]}]},
     "checks[0].thresholds[0].min"),
    ({"explainers": {"shap": {"background_size": True}}}, "explainers.shap.background_size"),
    ({"checks": [{"check": "explanation_axioms", "params": {"tolerances": {"efficiency_atol": True}}}]},
     "checks[0].params.tolerances.efficiency_atol"),
])
def test_true_where_a_number_belongs_is_refused_not_read_as_one(cli, tmp_path, policy_writer, change, location):
    """YAML reads yes/true as a boolean and pydantic's lax mode would make it 1 (a bound of 1.0)."""
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(**{"checks": [{"check": "card_completeness"}], **change}))
    res = cli("validate", "--policy", policy)
    assert res.code == 3, res.text
    assert f"{location}: Value error, true where a number belongs" in res.text


def test_true_in_a_waivers_file_or_a_card_is_refused_not_read_as_one(cli, tmp_path, policy_writer, card_writer):
    """A waivers file's schema_version, and a card's class name (`positive_class: yes` became '1')."""
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(checks=[{"check": "card_completeness"}]))
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("schema_version: yes\nwaivers: []\n")
    res = cli("validate", "--policy", policy, "--waivers", waivers)
    assert res.code == 3 and "schema_version: Value error, true where a number belongs" in res.text, res.text
    card = card_writer(tmp_path / "card", positive_class=True)
    res = cli("validate", "--policy", policy, "--card", card)
    assert res.code == 3, res.text
    assert "auditor.positive_class: Value error, true: YAML reads yes/no/on/off/true/false as a boolean" in res.text


@pytest.mark.parametrize("day", ["20270102", "2027-W01-1", "2027-1-2"])
def test_a_date_is_written_yyyy_mm_dd_as_the_message_says(cli, tmp_path, policy_writer, day):
    """date.fromisoformat also reads 20270102 and ISO week dates; the messages ask for YYYY-MM-DD."""
    from auditor.errors import UsageError
    from auditor.records.runs import parse_date

    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(checks=[{"check": "card_completeness"}]))
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(f"waivers:\n  - {{check: card_completeness, justification: j, approver: a, expires: '{day}'}}\n")
    res = cli("validate", "--policy", policy, "--waivers", waivers)
    assert res.code == 3 and f"expected a date, YYYY-MM-DD; got '{day}'" in res.text, res.text
    with pytest.raises(UsageError, match="must be a date as YYYY-MM-DD"):
        parse_date(day, "--valid-until")


def test_a_jsonl_key_given_twice_or_a_csv_column_without_a_name_is_refused(cli, tmp_path, artefacts, card_writer,
                                                                         fast_policy):
    """json keeps the last of two values silently (the YAML readers refuse duplicates for this
    reason); pandas calls a nameless CSV column 'Unnamed: 0'."""
    import json

    lines = [json.dumps(r) for r in artefacts.frame.to_dict(orient="records")]
    lines[2] = lines[2][:-1] + ', "label": "yes"}'
    data = tmp_path / "eval.jsonl"
    data.write_text("\n".join(lines) + "\n")
    card = card_writer(tmp_path / "card")
    res = cli("validate", "--policy", fast_policy, "--card", card, "--data", data)
    assert res.code == 3 and "line 3: 'label' given twice in the object" in res.text, res.text
    csv_lines = artefacts.csv.read_text().splitlines()
    csv_lines = [",".join([""] + csv_lines[0].split(",")[1:])] + csv_lines[1:]
    data = tmp_path / "eval.csv"
    data.write_text("\n".join(csv_lines) + "\n")
    res = cli("validate", "--policy", fast_policy, "--card", card, "--data", data)
    assert res.code == 3 and "header, column 1: the column has no name" in res.text, res.text


def test_policies_that_could_never_judge_anything_are_refused(cli, tmp_path, policy_writer):
    """max_rows below min_rows (every gated check would end in ERROR), and a child removing every
    check (it was '(resolved policy).checks: List should have at least 1 item')."""
    policy = policy_writer(tmp_path / "a", policy_writer.tiny(dataset={"max_rows": 10, "min_rows": 100}))
    res = cli("validate", "--policy", policy)
    assert res.code == 3 and "dataset: Value error, max_rows (10) is below min_rows (100)" in res.text, res.text
    parent = policy_writer(tmp_path / "b", policy_writer.tiny(checks=[{"check": "card_completeness"}]))
    child = tmp_path / "child.yaml"
    child.write_text(f"schema_version: 1\nname: c\nversion: '1'\nextends: {parent}\nremove: [card_completeness]\n")
    res = cli("validate", "--policy", child)
    assert res.code == 3 and "remove: removes every check the policy would run (and adds none)" in res.text, res.text


def test_a_decision_threshold_that_is_not_a_number_says_so(cli, tmp_path, card_writer, fast_policy):
    card = card_writer(tmp_path / "card", decision_threshold=float("nan"))
    res = cli("validate", "--policy", fast_policy, "--card", card)
    assert res.code == 3 and "auditor.decision_threshold: Input should be a finite number" in res.text, res.text


def test_a_parquet_file_with_a_column_name_twice_is_named_without_pyarrow_internals(cli, tmp_path, card_writer,
                                                                                   fast_policy):
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "eval.parquet"
    pq.write_table(pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0]), pa.array(["no", "yes"])],
                            names=["x1", "x1", "label"]), data)
    res = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert res.code == 3 and "column 'x1': 2 columns have this name" in res.text, res.text
    assert "__fragment_index" not in res.text


def test_parquet_columns_pandas_cannot_take_are_an_invalid_input(cli, tmp_path, card_writer, fast_policy, artefacts):
    """A map column under pandas metadata calling it text, and pandas metadata that is not what pandas
    writes ({"columns": 5}): both ended in an internal error (pyarrow's cast, a KeyError)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = artefacts.frame
    table = pa.Table.from_pandas(frame, preserve_index=False)
    mapped = table.set_column(table.column_names.index("color"), "color",
                              pa.array([[("k", 1)]] * len(frame), pa.map_(pa.string(), pa.int64())))
    odd = table.replace_schema_metadata({b"pandas": b'{"columns": 5}'})
    for name, t in (("map.parquet", mapped), ("meta.parquet", odd)):
        pq.write_table(t, tmp_path / name)
        res = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", tmp_path / name)
        assert res.code == 3 and "cannot read the file's columns" in " ".join(res.text.split()), (name, res.text)


def test_a_feature_that_is_a_number_says_what_a_feature_is(cli, tmp_path, card_writer, fast_policy):
    res = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card", features=["x1", 1]))
    assert res.code == 3, res.text
    assert "auditor.features: Value error, each feature is a column name or {name: ..., type: ...}; got 1" in res.text


def test_a_policy_none_of_whose_checks_applies_to_the_model_is_refused(cli, tmp_path, policy_writer, card_writer,
                                                                      artefacts):
    """Every check skipped for the card's task: the audit ended SKIPPED with exit 0, a CI pass on nothing."""
    policy = policy_writer(tmp_path / "p", policy_writer.tiny(checks=[
        {"check": "attention"}, {"check": "performance", "tasks": ["text-classification"]}]))
    card = card_writer(tmp_path / "card")
    for command in (("validate", "--policy", policy, "--card", card),
                    ("run", "--policy", policy, "--card", card, "--data", artefacts.csv, "--out", tmp_path / "out")):
        res = cli(*command)
        assert res.code == 3, res.text
        assert "none of the policy's 2 checks applies to a tabular-classification model" in res.text
    assert not (tmp_path / "out").exists()


def test_a_registry_that_is_empty_or_a_folder_is_called_what_it_is(cli, tmp_path):
    """An empty file given as --db, and a folder given to verify's --db, were both said to "not
    exist"; the message now says what is there."""
    empty = tmp_path / "real.sqlite"
    empty.write_bytes(b"")
    res = cli("history", "--db", empty)
    assert res.code == 2 and f"the registry {empty} is an empty file, not a registry" in res.text, res.text
    from auditor.errors import UsageError
    from auditor.records.signatures import read_registered_keys

    folder = tmp_path / "db-folder"
    folder.mkdir()
    with pytest.raises(UsageError, match="is a folder, not a database file"):
        read_registered_keys(tmp_path, db=str(folder))  # what `verify --db FOLDER` reads the keys with
