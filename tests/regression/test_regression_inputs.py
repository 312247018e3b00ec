"""Regression inputs: located errors (exit 3) for a model of the wrong kind or a non-numeric target,
and the built-in default policy end to end on a regressor with no ERROR check."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auditor.engine.audit import prepare_audit
from auditor.errors import EXIT_INVALID_INPUT, DatasetError, ModelCardError

from .conftest import FEATURES, regression_frame, write_card


def _artefacts(root, *, task: str, model: str, target_text_row: int | None = None, **extra):
    """A card of ``task`` over a skops ``model`` ("regressor" or "classifier") and an eval CSV."""
    import skops.io as sio
    from sklearn.linear_model import LinearRegression, LogisticRegression

    train = regression_frame(200, seed=1)
    estimator = (LinearRegression().fit(train[FEATURES], train["y"]) if model == "regressor"
                 else LogisticRegression().fit(train[FEATURES], np.where(train["y"] > 0, "hi", "lo")))
    folder = root / "card"
    folder.mkdir(parents=True, exist_ok=True)
    sio.dump(estimator, folder / "model.skops")
    frame = regression_frame(120, seed=2)
    if task == "tabular-classification":
        frame["y"] = np.where(frame["y"] > 0, "hi", "lo")
    if target_text_row is not None:
        frame["y"] = frame["y"].astype(object)
        frame.loc[target_text_row, "y"] = "twelve"
    csv = root / "eval.csv"
    frame.to_csv(csv, index=False)
    card = write_card(folder, {"task": task, "model": {"path": "model.skops", "format": "skops"},
                               "name": "regression-input-test", "target": "y",
                               "features": [{"name": f, "type": "numeric"} for f in FEATURES], **extra})
    return card, csv


def test_a_regressor_under_a_classification_card_is_a_located_card_error(tmp_path):
    card, csv = _artefacts(tmp_path, task="tabular-classification", model="regressor")
    with pytest.raises(ModelCardError) as info:
        prepare_audit("default", card, csv)
    assert info.value.exit_code == EXIT_INVALID_INPUT
    [problem] = info.value.problems
    assert problem.location == "auditor.task" and "LinearRegression" in problem.message and "tabular-regression" in problem.message


def test_a_classifier_under_a_regression_card_is_a_located_card_error(tmp_path):
    card, csv = _artefacts(tmp_path, task="tabular-regression", model="classifier")
    with pytest.raises(ModelCardError) as info:
        prepare_audit("default", card, csv)
    [problem] = info.value.problems
    assert problem.location == "auditor.task" and "LogisticRegression" in problem.message
    assert "tabular-classification" in problem.message


@pytest.mark.parametrize("kind", ["clusterer", "outlier detector"])
def test_a_clusterer_or_outlier_detector_under_a_regression_card_is_refused(tmp_path, kind):
    """A KMeans or an IsolationForest has predict and no classes: its cluster ids or ±1 labels were
    audited as predicted values of the target."""
    import skops.io as sio
    from sklearn.cluster import KMeans
    from sklearn.ensemble import IsolationForest

    from auditor.errors import EXIT_MODEL_REFUSED, ModelLoadError

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor")
    train = regression_frame(200, seed=1)[FEATURES]
    estimator = KMeans(3, n_init=1, random_state=0) if kind == "clusterer" else IsolationForest(n_estimators=5, random_state=0)
    sio.dump(estimator.fit(train), card.parent / "model.skops")
    with pytest.raises(ModelLoadError) as info:
        prepare_audit("default", card, csv)
    assert info.value.exit_code == EXIT_MODEL_REFUSED
    assert f"{type(estimator).__name__} is a{'n' if kind[0] == 'o' else ''} {kind}" in str(info.value)


def test_a_multi_output_regressor_is_refused_at_load_not_in_every_check(tmp_path):
    """A LinearRegression fitted on two targets loaded, and every check that called it ended in ERROR
    ("predict returned shape (120, 2)"): a version of errors, exit 1, for a model auditor does not audit."""
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    from auditor.errors import EXIT_MODEL_REFUSED, ModelLoadError

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor")
    train = regression_frame(200, seed=1)
    sio.dump(LinearRegression().fit(train[FEATURES], np.c_[train["y"], -train["y"]]), card.parent / "model.skops")
    with pytest.raises(ModelLoadError, match=r"predict returned shape \(1, 2\).*single-output regressors") as info:
        prepare_audit("default", card, csv)
    assert info.value.exit_code == EXIT_MODEL_REFUSED


def test_a_non_numeric_regression_target_names_its_row(tmp_path):
    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor", target_text_row=7)
    with pytest.raises(DatasetError) as info:
        prepare_audit("default", card, csv)
    assert info.value.exit_code == EXIT_INVALID_INPUT
    assert any(p.location == "column 'y'" and "row 7" in p.message and "numeric" in p.message for p in info.value.problems)


def test_a_regression_target_written_with_thousands_separators_shows_its_text_and_the_fix(tmp_path):
    """Sale prices exported as '220,000' (or '$220000') were refused as 'text in rows 0, 1, 2, 3, 4 and
    N more', never what the text was: the first is shown, and where it is a number once separators and
    currency signs are taken out, the fix is said. A word stays a word."""
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor")
    frame = pd.read_csv(csv)
    n = len(frame)
    said = {}
    for name, values in {"commas": [f"{1000 * (i + 200):,}" for i in range(n)],
                         "word": ["expensive" if i == 3 else str(1000.0 * i) for i in range(n)]}.items():
        frame.assign(y=values).to_csv(tmp_path / f"{name}.csv", index=False)
        with pytest.raises(DatasetError) as info:
            load_dataset(tmp_path / f"{name}.csv", load_model_card(card))
        said[name] = [p.message for p in info.value.problems if p.location == "column 'y'"]
    assert said["commas"] == [f"a regression target must be numeric; text in rows 0, 1, 2, 3, 4 and {n - 5} more "
                              "(the first, row 0: '200,000'; write plain numbers, without thousands separators or "
                              "currency signs)"]
    assert said["word"] == ["a regression target must be numeric; text in row 3: 'expensive'"]


@pytest.mark.parametrize("kind, values", [
    ("dates", lambda n: pd.date_range("2020-01-01", periods=n, freq="D")),
    ("true/false values", lambda n: np.arange(n) % 2 == 0),
])
def test_a_regression_target_of_dates_or_booleans_is_refused(tmp_path, kind, values):
    """Dates were audited as nanoseconds since 1970 (MAE 3e15) and true/false as 1 and 0: pandas calls
    both numbers. A parquet file keeps their types."""
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor")
    frame = pd.read_csv(csv)
    frame["y"] = values(len(frame))
    frame.to_parquet(tmp_path / "eval.parquet")
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path / "eval.parquet", load_model_card(card))
    assert [(p.location, p.message) for p in info.value.problems] == [
        ("column 'y'", f"a regression target must be numeric; it holds {kind}")]


def test_a_target_whose_square_overflows_is_refused_with_its_row(tmp_path):
    """Targets in the 1e200s: every squared error, variance and correlation overflowed, and the trust
    checks' verdicts changed with the units (counterfactuals, faithfulness, partial dependence);
    1e150 and below are read."""
    import pandas as pd

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor")
    frame = pd.read_csv(csv)
    frame.loc[4, "y"] = -3e200
    frame.to_csv(csv, index=False)
    with pytest.raises(DatasetError) as info:
        prepare_audit("default", card, csv)
    assert any(p.location == "column 'y'" and "beyond ±1e+150 in row 4" in p.message and "rescale the target" in p.message
               for p in info.value.problems), info.value.problems
    frame.loc[4, "y"] = 1e150
    frame.to_csv(csv, index=False)
    prepare_audit("default", card, csv)


def test_a_positive_class_on_a_regression_card_is_a_card_error(tmp_path):
    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor", positive_class="hi",
                           favourable_class="lo")
    with pytest.raises(ModelCardError) as info:
        prepare_audit("default", card, csv)
    assert [p.location for p in info.value.problems] == ["auditor.positive_class", "auditor.favourable_class"]


def test_the_cli_exits_3_for_a_model_of_the_wrong_kind(tmp_path):
    from typer.testing import CliRunner

    from auditor.cli import app

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="classifier")
    result = CliRunner().invoke(app, ["run", "--policy", "default", "--card", str(card), "--data", str(csv),
                                      "--out", str(tmp_path / "reports")])
    assert result.exit_code == EXIT_INVALID_INPUT, result.output
    assert "auditor.task" in result.output


def test_policies_show_says_which_checks_apply_to_regressors():
    import yaml
    from typer.testing import CliRunner

    from auditor.cli import app

    result = CliRunner().invoke(app, ["policies", "show", "default"], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["id"] == "default"  # the table is YAML comments: the output still parses
    lines = result.output[result.output.index("# Which checks apply to which task"):].splitlines()
    at = lines.index("#   performance:")
    assert lines[at + 1: at + 4] == [f"#     {t}: runs" for t in ("tabular-classification", "tabular-regression",
                                                                   "text-classification")]
    fairness = lines.index("#   subgroup_fairness:")
    assert lines[fairness + 2].startswith("#     tabular-regression: skipped, needs probabilities")


def test_the_default_policy_runs_end_to_end_on_a_regressor_without_error(tmp_path):
    from auditor.engine.audit import run_audit

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor")
    record = run_audit("default", card, csv, tmp_path / "reports", jobs=1)
    result = json.loads((record.path / "result.json").read_text())
    statuses = {c["id"]: c["status"] for c in result["checks"]}
    assert "error" not in statuses.values(), {c["id"]: c["error"] for c in result["checks"] if c["error"]}
    assert statuses["performance"] == "pass" and statuses["explanation_faithfulness"] == "pass"
    skipped = {c["id"]: c["skipped_reason"] for c in result["checks"] if c["status"] == "skipped"}
    # group rates need class probabilities (the skip says why); the attack moves the prediction instead
    assert sorted(skipped) == ["subgroup_fairness"], skipped
    assert skipped["subgroup_fairness"].startswith("needs probabilities")
    assert statuses["adversarial_robustness"] == "pass"
    gates = {t["measurement"] for c in result["checks"] if c["id"] == "performance" for t in c["thresholds"]}
    assert gates == {"r2_ci_low", "claims_outside_tolerance"}  # roc_auc_ci_low is scoped to classifiers
    assert (record.path / "report.pdf").stat().st_size > 0


def _with_claims(card, metrics: list[dict]):
    """``card`` with a model-index entry claiming ``metrics`` for the audited model."""
    import yaml

    text = card.read_text(encoding="utf-8")
    index = yaml.safe_dump({"model-index": [{"name": "regression-input-test", "results": [
        {"dataset": {"name": "held-out"}, "metrics": metrics}]}]}, sort_keys=False)
    card.write_text(text.replace("---\n", "---\n" + index, 1), encoding="utf-8")
    return card


def test_a_classifier_metric_claimed_for_a_regressor_is_a_located_card_error(tmp_path):
    """A regression card claiming accuracy and ROC AUC: the run named them "Unverifiable card claims"
    in a note and went on. No regressor has classes to be accurate about, as none has a positive_class:
    a card error at each claim's type (exit 3, the file named), every problem of the card at once. A
    metric no check measures (mape) is still only a claim that cannot be checked."""
    from typer.testing import CliRunner

    from auditor.cli import app

    card, csv = _artefacts(tmp_path, task="tabular-regression", model="regressor", positive_class="hi")
    _with_claims(card, [{"type": "r2", "value": 0.9}, {"type": "accuracy", "value": 0.91},
                        {"type": "ROC_AUC", "value": 0.8}, {"type": "mape", "value": 0.1}])
    with pytest.raises(ModelCardError) as info:
        prepare_audit("default", card, csv)
    assert info.value.exit_code == EXIT_INVALID_INPUT and info.value.source == str(card)
    assert [(p.location, p.message) for p in info.value.problems] == [
        ("auditor.positive_class", "a regressor has no classes: remove it"),
        *((f"model-index[0].results[0].metrics[{k}].type", f"{name!r} is a classifier's metric; a regressor has no "
           "classes to measure it on (its claims: mae, rmse or r2): remove the claim or fix the card's task")
          for k, name in ((1, "accuracy"), (2, "ROC_AUC")))]
    result = CliRunner().invoke(app, ["validate", "--policy", "default", "--card", str(card)], env={"COLUMNS": "300"})
    assert result.exit_code == EXIT_INVALID_INPUT, result.output
    assert str(card) in result.output and "model-index[0].results[0].metrics[1].type: 'accuracy'" in result.output


def test_a_regressors_claim_no_check_measures_is_only_unverifiable(tmp_path):
    from auditor.inputs.model_card import load_model_card

    card, _ = _artefacts(tmp_path, task="tabular-regression", model="regressor")
    claims = load_model_card(_with_claims(card, [{"type": "mape", "value": 0.1}, {"type": "rmse", "value": 2.0}])).claims
    assert [(c.metric, c.location) for c in claims] == [("mape", "model-index[0].results[0].metrics[0]"),
                                                       ("rmse", "model-index[0].results[0].metrics[1]")]
