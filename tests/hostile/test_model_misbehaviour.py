"""A model that raises, returns NaN, negative probabilities or the wrong shape, or takes too long:
each check that calls it is ERROR with the reason, the other checks still run, the report renders,
and the run exits 1 (an ERROR is blocking)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from .conftest import only_version, read_result

CHECKS = [
    {"check": "performance", "params": {"n_bootstrap": 20}},
    {"check": "card_completeness"},
    {"check": "global_importance", "params": {"n_repeats": 2, "n_instances": 10, "top_k": 4}},
    {"check": "local_explanations", "params": {"n_instances": 3, "top_k": 3}},
]
MODEL_CHECKS = ["performance", "global_importance", "local_explanations"]

CASES = {
    "RaisingClassifier": ("RuntimeError", "the model crashed on purpose"),
    "NaNClassifier": ("ModelOutputError", "model returned 200 NaN or infinite probabilities"),
    "NegativeClassifier": ("ModelOutputError", "model returned probabilities outside [0, 1] (smallest -0."),
    "WrongShapeClassifier": ("ModelOutputError", "model returned probabilities of shape (300, 3); expected (300, 2)"),
    "OneDimensionalClassifier": ("ModelOutputError", "model returned probabilities of shape (300,); expected (300, 2)"),
}
FULL_PDF = "RaisingClassifier"  # one case renders the real PDF; the others stub WeasyPrint out (it costs ~3 s a run)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cli, artefacts, card_writer, policy_writer, bad_model):
    import auditor.engine.audit

    root = tmp_path_factory.mktemp("misbehaving")
    policy = policy_writer(root / "policy", policy_writer.tiny(CHECKS))
    done = {}
    for name in CASES:
        path = bad_model(name)
        card = card_writer(root / name / "card", model={"path": str(path), "format": "joblib"})
        out = root / name / "out"
        with pytest.MonkeyPatch.context() as mp:
            if name != FULL_PDF:
                mp.setattr(auditor.engine.audit, "html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")
            result = cli.run(policy, card, artefacts.csv, out, "--allow-pickle")
        done[name] = SimpleNamespace(result=result, out=out)
    return done


@pytest.mark.parametrize("name", list(CASES))
def test_each_check_calling_the_model_is_an_error_and_the_audit_goes_on(runs, name):
    run = runs[name]
    assert run.result.code == 1, run.result.raw
    assert "overall: ERROR (v0001)" in run.result.text
    run_dir = only_version(run.out)
    result = read_result(run_dir)
    error_type, message = CASES[name]
    by_id = {c["id"]: c for c in result["checks"]}
    assert result["status"] == "error"
    assert by_id["card_completeness"]["status"] == "pass"
    for check in MODEL_CHECKS:
        assert by_id[check]["status"] == "error", (check, by_id[check])
        assert by_id[check]["error"]["type"] == error_type
        assert by_id[check]["error"]["message"].startswith(message), by_id[check]["error"]["message"]
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f"{error_type}: {message}" in html
    assert (run_dir / "report.pdf").read_bytes().startswith(b"%PDF")


def test_the_real_pdf_renders_with_errors_in_it(runs):
    pdf = (only_version(runs[FULL_PDF].out) / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000


def test_a_check_past_its_time_budget_is_stopped_and_an_error(cli, tmp_path, artefacts, card_writer, policy_writer,
                                                              bad_model, monkeypatch):
    import time

    import auditor.engine.audit

    monkeypatch.setattr(auditor.engine.audit, "html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")
    checks = [{"check": "performance", "params": {"n_bootstrap": 20, "time_budget_s": 0.5}}, {"check": "card_completeness"}]
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(checks))
    card = card_writer(tmp_path / "card", model={"path": str(bad_model("SlowClassifier")), "format": "joblib"})
    out = tmp_path / "out"
    started = time.monotonic()
    result = cli.run(policy, card, artefacts.csv, out, "--allow-pickle")
    assert time.monotonic() - started < 3.0 + 2.5  # the 3 s model call was cut short
    assert result.code == 1, result.raw
    checks = {c["id"]: c for c in read_result(only_version(out))["checks"]}
    assert checks["performance"]["status"] == "error"
    assert checks["performance"]["error"]["type"] == "CheckTimeout"
    assert checks["performance"]["error"]["message"] == "the check ran past its time budget of 0.5 s and was stopped"
    assert checks["card_completeness"]["status"] == "pass"
    assert "time budget of 0.5 s" in (only_version(out) / "report.html").read_text(encoding="utf-8")


def test_a_row_the_model_cannot_predict_is_named(tmp_path, cli, artefacts, card_writer, policy_writer):
    """A category the fitted encoder never saw (handle_unknown='error'): the dataset is refused for
    this model (exit 3) naming the file row, not an audit whose every model check is an ERROR saying
    only the encoder's "unknown categories ['purple'] in column 0"; nothing is written. A check's
    error names the row's values too."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = artefacts.frame
    features = ["x1", "x2", "x3", "color"]
    pre = ColumnTransformer([("color", OneHotEncoder(handle_unknown="error"), ["color"])], remainder="passthrough")
    model = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame[features], frame["label"])
    sio.dump(model, tmp_path / "strict.skops")
    data = frame.copy()
    data.loc[7, "color"] = "purple"
    data.to_csv(tmp_path / "eval.csv", index=False)
    card = card_writer(tmp_path / "card", artefact=tmp_path / "strict.skops")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CHECKS))
    result = cli.run(policy, card, tmp_path / "eval.csv", tmp_path / "out")
    assert result.code == 3, result.raw
    said = " ".join(result.raw.split())
    assert "row 7: the model cannot score it (ValueError: Found unknown categories ['purple']" in said, said
    assert not any(p.is_dir() and p.name.startswith("v") for p in (tmp_path / "out").rglob("v0*"))

    # a model's own failure on every row is still each check's ERROR, as before
    data.loc[:, "color"] = "purple"
    data.to_csv(tmp_path / "eval.csv", index=False)
    result = cli.run(policy, card, tmp_path / "eval.csv", tmp_path / "out")
    assert result.code == 1, result.raw
    by_id = {c["id"]: c for c in read_result(only_version(tmp_path / "out"))["checks"]}
    assert all(by_id[check]["status"] == "error" for check in MODEL_CHECKS)

    from auditor.models.tabular import first_unpredictable  # the first row that fails alone, by halving

    data["color"] = frame["color"]
    data.loc[[3, 7], "color"] = "purple"
    assert first_unpredictable(model.predict_proba, data[features], list(range(len(data)))) == 3
    data.loc[:, "color"] = "purple"
    assert first_unpredictable(model.predict_proba, data[features], list(range(len(data)))) is None


def test_a_derived_value_of_a_column_of_codes_says_how_to_declare_it():
    """An integer code left numeric in the card (day 1..7) before an encoder that refuses unknown
    categories: the audit's derived rows (a mean, 4.333) fail, and the error said only "Found unknown
    categories [4.333]"; it now says where such a value comes from and to declare the column
    categorical. A plain row error has no such hint."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from auditor.models.tabular import TabularModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"day": rng.integers(1, 8, 80), "x": rng.normal(size=80)})
    label = (frame["x"] + (frame["day"] > 4) > 0.5).astype(int)
    pre = ColumnTransformer([("day", OneHotEncoder(), ["day"])], remainder="passthrough")
    model = TabularModel(Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame, label), ["day", "x"])
    derived = frame.iloc[:3].astype({"day": float})
    derived.loc[1, "day"] = 4.333
    with pytest.raises(ValueError) as raised:
        model.predict_proba(derived)
    said = str(raised.value)
    assert "fails on the row day=4.333" in said and "unknown categories" in said
    assert "declared `type: categorical` in the card's features" in said
    with pytest.raises(ValueError) as raised:
        model.predict_proba(frame.iloc[:2].assign(x=["a", "b"]))  # not a category problem: no hint
    assert "type: categorical" not in str(raised.value)
