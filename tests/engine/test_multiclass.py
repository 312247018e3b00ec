"""Models with three or more classes (issue 13, part 2): the metrics against scikit-learn on hand-made
cases, SHAP of the predicted class, and the built-in policies end to end on a 4-class tabular model
and a 3-class tiny BERT with no ERROR check."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from trust.helpers import errors_beyond_chance
import yaml

from auditor.checks.performance import (Performance, PerformanceParams, _class_keys, _multiclass_metrics,
                                        _per_class, per_class_intervals)
from auditor.engine.context import AuditContext, explain_part
from auditor.engine.runner import build_plan, run_plan
from auditor.inputs.dataset import load_dataset
from auditor.inputs.model_card import load_model_card
from auditor.models.kinds import kind_for_card
from auditor.policy import load_policy
from auditor.results import Status

CLASSES = ["a", "b", "c", "d"]
FEATURES = ["x1", "x2", "x3", "color"]


def four_class_frame(n: int, seed: int) -> pd.DataFrame:
    """x1 separates a from b, x2 c from d; x3 is noise; color nudges d."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    color = rng.choice(["red", "green", "blue"], size=n)
    logits = np.stack([2 * x1, -2 * x1, 2 * x2, -2 * x2 + (color == "red")], axis=1)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return pd.DataFrame({"x1": x1.round(6), "x2": x2.round(6), "x3": x3.round(6), "color": color,
                         "label": np.array(CLASSES)[y]})


# --- known answers -----------------------------------------------------------------------------------

# A hand-made 3-class confusion (rows: truth, columns: prediction):
#        a  b  c
#   a    3  1  0      precision a = 3/4, recall a = 3/4
#   b    1  2  1      precision b = 2/4, recall b = 2/4
#   c    0  1  1      precision c = 1/2, recall c = 1/2
HAND_TRUTH = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
HAND_PRED = np.array([0, 0, 0, 1, 0, 1, 1, 2, 1, 2])


def test_per_class_and_macro_metrics_by_hand_and_against_sklearn():
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score,
                                 precision_recall_fscore_support)

    pc = _per_class(HAND_TRUTH, HAND_PRED, 3)
    np.testing.assert_allclose(pc["precision"], [3 / 4, 2 / 4, 1 / 2])
    np.testing.assert_allclose(pc["recall"], [3 / 4, 2 / 4, 1 / 2])
    np.testing.assert_allclose(pc["f1"], [3 / 4, 2 / 4, 1 / 2])
    np.testing.assert_array_equal(pc["support"], [4, 4, 2])
    proba = np.eye(3)[HAND_PRED] * 0.7 + 0.1  # rows sum to 1, argmax = HAND_PRED
    m = _multiclass_metrics(HAND_TRUTH, proba, HAND_PRED, pos=None)
    assert m["accuracy"] == pytest.approx(6 / 10, abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 2 / 4 + 1 / 2) / 3, abs=1e-12)
    assert m["f1_macro"] == pytest.approx((3 / 4 + 2 / 4 + 1 / 2) / 3, abs=1e-12)
    assert np.isnan(m["f1"])  # no positive class named
    assert m["accuracy"] == pytest.approx(accuracy_score(HAND_TRUTH, HAND_PRED))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(HAND_TRUTH, HAND_PRED))
    assert m["f1_macro"] == pytest.approx(f1_score(HAND_TRUTH, HAND_PRED, average="macro"))
    p, r, f, s = precision_recall_fscore_support(HAND_TRUTH, HAND_PRED, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose([pc["precision"], pc["recall"], pc["f1"], pc["support"]], [p, r, f, s])
    assert _multiclass_metrics(HAND_TRUTH, proba, HAND_PRED, pos=2)["f1"] == pytest.approx(1 / 2)


def test_per_class_interval_lows_are_cut_to_what_a_perfect_score_on_the_class_supports():
    """Class 0: 3 true rows, all recalled, 4 predicted (precision 0.75); class 1: 200 rows, recall 0.9,
    225 predicted. Resampled intervals as given; recall's ceiling on 3 rows is 0.025^(1/3) = 0.2924,
    precision's on 4 predictions 0.025^(1/4) = 0.3976, F1's 2·0.3976·0.2924/(0.3976+0.2924) = 0.3370;
    class 1's ceilings (0.9817 on 200 rows) are above its lows, which stay."""
    boot = {"recall": [[1.0, 0.85], [1.0, 0.95]], "precision": [[0.75, 0.78], [1.0, 0.82]],
            "f1": [[0.86, 0.82], [1.0, 0.88]]}
    point = {"recall": np.array([1.0, 0.9]), "precision": np.array([0.75, 0.8]), "f1": np.array([0.857, 0.847]),
             "support": np.array([3, 200])}
    ci, notes = per_class_intervals(boot, point, np.array([4, 225]), alpha=0.05)
    lows = {m: ci[m][0] for m in ci}  # ci[m]: (low ends, high ends) per class
    assert lows["recall"] == pytest.approx([0.025 ** (1 / 3), 0.8525]) and lows["recall"][0] == pytest.approx(0.2924, abs=1e-4)
    assert lows["precision"] == pytest.approx([0.025 ** (1 / 4), 0.781]) and lows["precision"][0] == pytest.approx(0.3976, abs=1e-4)
    assert lows["f1"] == pytest.approx([0.3370, 0.8215], abs=1e-4)
    assert ci["recall"][1] == pytest.approx([1.0, 0.9475]) and ci["f1"][1] == pytest.approx([0.9965, 0.8785])
    assert len(notes) == 1 and "1 class claimed" in notes[0]
    # a class never predicted (no precision to bound) and one with no row: nothing cut, no note
    ci, notes = per_class_intervals({m: [[0.0, 0.5], [0.0, 0.6]] for m in ("recall", "precision", "f1")},
                                    {"support": np.array([0, 50])}, np.array([0, 60]), alpha=0.05)
    assert ci["recall"][0].tolist() == pytest.approx([0.0, 0.5025]) and notes == []


def test_per_class_interval_highs_are_raised_to_what_a_score_of_zero_on_the_class_cannot_rule_out():
    """The mirror image of the cut above. Class 0: 6 true rows, none recalled, never predicted (a 4-class
    text model whose fourth class no text reaches showed recall 0.000–0.000 and F1 0.000–0.000 on its 6
    rows): every resample's recall is 0, yet 0 of 6 rules out only recalls above 1 − 0.025^(1/6) =
    0.4593 (Clopper-Pearson's upper end for 0 of 6). F1's high end is at least the F1 of the floors, a
    precision never predicted counting as 1: 2·0.4593/(1 + 0.4593) = 0.6295. Class 1: 40 rows, 46
    predicted, intervals well above their floors (0.0880 and 0.0771): unchanged."""
    boot = {"recall": [[0.0, 0.85], [0.0, 1.0]], "precision": [[0.0, 0.8], [0.0, 0.9]],
            "f1": [[0.0, 0.86], [0.0, 0.93]]}
    point = {"recall": np.array([0.0, 1.0]), "precision": np.array([0.0, 40 / 46]), "f1": np.array([0.0, 0.93]),
             "support": np.array([6, 40])}
    ci, notes = per_class_intervals(boot, point, np.array([0, 46]), alpha=0.05)
    highs = {m: ci[m][1] for m in ci}
    assert highs["recall"][0] == pytest.approx(1 - 0.025 ** (1 / 6)) and highs["recall"][0] == pytest.approx(0.4593, abs=1e-4)
    assert highs["f1"][0] == pytest.approx(0.6295, abs=1e-4)
    assert highs["precision"][0] == 0.0  # never predicted: no rows to bound it (scikit-learn's zero_division=0)
    assert highs["recall"][1] == pytest.approx(0.99625) and highs["precision"][1] == pytest.approx(0.8975)
    assert ci["recall"][0][0] == 0.0  # the low end of a score of 0 stays 0
    assert len(notes) == 1 and "1 class ruled out" in notes[0] and "raised" in notes[0]


def test_the_f1_high_end_of_a_class_the_rows_lack_but_the_model_predicts_is_raised_as_its_precisions():
    """Class 0: no true row, predicted once (wrongly). Every resample's F1 is 0 (no true row, no true
    positive), so F1 read 0.000–0.000 while precision's high end was raised to 1 − 0.025^(1/1) = 0.975:
    one wrong prediction cannot rule out a precision up to 0.975, nor an F1 up to that of the floors,
    the recall of a class with no row counting as 1 (nothing bounds it): 2·0.975/(1 + 0.975) = 0.98734."""
    boot = {"recall": [[np.nan, 0.9], [np.nan, 0.95]], "precision": [[0.0, 0.9], [0.0, 0.95]],
            "f1": [[0.0, 0.9], [0.0, 0.95]]}
    point = {"recall": np.array([0.0, 0.93]), "precision": np.array([0.0, 0.93]), "f1": np.array([0.0, 0.93]),
             "support": np.array([0, 40])}
    ci, notes = per_class_intervals(boot, point, np.array([1, 39]), alpha=0.05)
    assert ci["precision"][1][0] == pytest.approx(0.975)
    assert ci["f1"][1][0] == pytest.approx(2 * 0.975 / 1.975) and ci["f1"][1][0] == pytest.approx(0.98734, abs=1e-5)
    assert np.isnan(ci["recall"][1][0]) and ci["f1"][0][0] == 0.0  # no row: no recall; the low end stays 0
    assert len(notes) == 1 and "1 class ruled out" in notes[0]


def test_a_class_never_predicted_counts_as_zero_and_one_neither_true_nor_predicted_is_left_out_like_sklearn():
    """Macro F1 is scikit-learn's default: over the classes in the truth or the predictions. A class
    the evaluation rows lack and the model never predicts is no F1 of 0: counted so, a perfect model
    of three classes scored 0.667 on rows of two (and a class of one row, absent from 37% of the
    resamples, put its interval's lower end at 0.667)."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    truth, pred = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 1])  # class 3 absent, 2 never predicted
    pc = _per_class(truth, pred, 4)
    np.testing.assert_allclose(pc["precision"], [1, 2 / 4, 0, 0])
    np.testing.assert_allclose(pc["recall"], [1 / 2, 1, 0, 0])
    proba = np.full((5, 4), 0.25)
    m = _multiclass_metrics(truth, proba, pred, pos=None)
    assert m["f1_macro"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))
    assert m["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)  # classes 0, 1 and 2; class 3 left out
    perfect = _multiclass_metrics(np.array([0, 1, 1]), np.full((3, 3), 1 / 3), np.array([0, 1, 1]), pos=None)
    assert perfect["f1_macro"] == 1.0  # class 2 neither true nor predicted
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, pred))  # over present classes
    assert np.isnan(m["roc_auc"])  # class 3 has no row: one-vs-rest AUC is undefined, never a number


def test_multiclass_brier_is_half_the_summed_squared_error_and_the_binary_brier_for_two_classes():
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]])
    truth = np.array([0, 1])
    # row 1: 0.09 + 0.04 + 0.01; row 2: 0.04 + 0.64 + 0.36; halved mean
    assert _multiclass_metrics(truth, proba, proba.argmax(1), None)["brier"] == pytest.approx((0.14 + 1.04) / 4)
    p_yes = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0])
    two = np.column_stack([1 - p_yes, p_yes])
    assert _multiclass_metrics(y, two, two.argmax(1), 1)["brier"] == pytest.approx(np.mean((p_yes - y) ** 2), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ovr_macro_auc_equals_sklearn_with_ties(seed):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    truth = np.concatenate([np.arange(4), rng.integers(0, 4, 96)])
    proba = rng.dirichlet(np.ones(4), 100).round(1)  # rounding makes ties, which the ranks must average
    proba /= proba.sum(axis=1, keepdims=True)
    expected = roc_auc_score(truth, proba, multi_class="ovr", average="macro", labels=[0, 1, 2, 3])
    assert _multiclass_metrics(truth, proba, proba.argmax(1), None)["roc_auc"] == pytest.approx(expected, abs=1e-12)


def test_a_resample_as_counts_gives_scikit_learns_metrics_of_the_resampled_rows():
    """The bootstrap passes each resample as how many times each row was drawn: every metric must be
    what scikit-learn gives on the resampled rows written out, ties in the scores included."""
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score, precision_recall_fscore_support,
                                 roc_auc_score)

    rng = np.random.default_rng(5)
    truth = np.concatenate([np.arange(4), rng.integers(0, 4, 196)])
    proba = rng.dirichlet(np.ones(4), 200).round(1)
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(1)
    keys = _class_keys(truth, proba)
    for _ in range(10):
        idx = rng.integers(0, 200, 200)
        m = _multiclass_metrics(truth, proba, pred, 2, np.bincount(idx, minlength=200), keys)
        t, p, pr = truth[idx], proba[idx], pred[idx]
        assert m["accuracy"] == pytest.approx(accuracy_score(t, pr), abs=1e-12)
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, pr), abs=1e-12)
        assert m["f1_macro"] == pytest.approx(f1_score(t, pr, labels=[0, 1, 2, 3], average="macro", zero_division=0))
        assert m["roc_auc"] == pytest.approx(roc_auc_score(t, p, multi_class="ovr", labels=[0, 1, 2, 3]), abs=1e-12)
        assert m["brier"] == pytest.approx(0.5 * np.mean(np.sum((p - np.eye(4)[t]) ** 2, axis=1)), abs=1e-12)
        prec, rec, f1, support = precision_recall_fscore_support(t, pr, labels=[0, 1, 2, 3], zero_division=0)
        np.testing.assert_allclose([m["per_class"][k] for k in ("precision", "recall", "f1", "support")],
                                   [prec, rec, f1, support], atol=1e-12)
        assert m["f1"] == pytest.approx(f1[2])


# --- a 4-class tabular model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def four_class(tmp_path_factory):
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    root = tmp_path_factory.mktemp("four_class")
    train, evaluation = four_class_frame(400, seed=1), four_class_frame(240, seed=0)
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color"])], remainder="passthrough")
    pipeline = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(train[FEATURES], train["label"])
    linear = LogisticRegression().fit(train[["x1", "x2", "x3"]].to_numpy(), train["label"].to_numpy())
    sio.dump(pipeline, root / "pipeline.skops")
    sio.dump(linear, root / "linear.skops")
    # two features: one antithetic pair of orders is both orders, so permutation SHAP is exact Shapley
    linear2 = LogisticRegression().fit(train[["x1", "x2"]].to_numpy(), train["label"].to_numpy())
    sio.dump(linear2, root / "linear2.skops")
    evaluation.to_csv(root / "eval.csv", index=False)
    # random forests (TreeExplainer's path): 4 classes, and 2 (a, b -> "no"; c, d -> "yes") in their own folder
    from sklearn.ensemble import RandomForestClassifier

    numeric = train[["x1", "x2", "x3"]].to_numpy()
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(numeric, train["label"].to_numpy())
    sio.dump(forest, root / "forest.skops")
    (root / "binary").mkdir()
    binary = {"a": "no", "b": "no", "c": "yes", "d": "yes"}
    forest2 = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(
        numeric, train["label"].map(binary).to_numpy())
    sio.dump(forest2, root / "binary" / "forest.skops")
    linear_binary = LogisticRegression().fit(numeric, train["label"].map(binary).to_numpy())
    sio.dump(linear_binary, root / "binary" / "linear.skops")
    evaluation.assign(label=evaluation["label"].map(binary)).to_csv(root / "binary" / "eval.csv", index=False)
    return root


def four_class_context(root: Path, card_writer, tmp: Path, artefact: str = "pipeline", **overrides) -> AuditContext:
    from auditor.models.tabular import load_tabular_model

    extra = {"features": [{"name": f, "type": "numeric"} for f in ("x1", "x2", "x3")],
             "ignore_columns": ["color"]} if artefact in ("linear", "forest") else {}
    if artefact == "linear2":
        extra = {"features": [{"name": f, "type": "numeric"} for f in ("x1", "x2")], "ignore_columns": ["x3", "color"]}
    card_path = card_writer(tmp, artefact=root / f"{artefact}.skops", **{"positive_class": None, **extra, **overrides})
    card = load_model_card(card_path)
    data = load_dataset(root / "eval.csv", card)
    return AuditContext(card=card, data=data, model=load_tabular_model(card, data.feature_names), seed=13)


def run_policy(name: str, ctx: AuditContext) -> dict:
    loaded = load_policy(name)
    ctx = dataclasses.replace(ctx, explainer_params=loaded.policy.explainers_for(ctx.task))
    return {r.id: r for r in run_plan(build_plan(loaded, kind_for_card(ctx.card)), ctx)}


@pytest.mark.parametrize("policy", ["default", "text-default"])
def test_builtin_policies_run_a_four_class_model_with_no_error(four_class, card_writer, tmp_path, policy):
    from sklearn.metrics import roc_auc_score

    ctx = four_class_context(four_class, card_writer, tmp_path)
    assert ctx.classes == CLASSES and ctx.positive_index is None
    results = run_policy(policy, ctx)
    # 4 features and 10 explained rows, each led by one feature: a resample of noise ranks them as the
    # full set does in 5% of draws, so global rank stability cannot show more and is not judged
    assert not errors_beyond_chance({k: r.error.message for k, r in results.items() if r.status == Status.ERROR},
                                    ("explainer_agreement", "explanation_stability"))
    perf = results["performance"]
    m = perf.measurements
    expected = roc_auc_score(ctx.label_index(), ctx.proba(), multi_class="ovr", average="macro")
    assert m["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert m["roc_auc_ci_low"] < m["roc_auc"] < m["roc_auc_ci_high"]
    for name in ("accuracy", "balanced_accuracy", "f1_macro"):
        assert 0 < m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"] <= 1
    assert m["f1"] is None  # no positive class: declared, never a made-up number
    onehot = np.eye(4)[ctx.label_index()]
    assert m["brier"] == pytest.approx(0.5 * np.mean(np.sum((ctx.proba() - onehot) ** 2, axis=1)), abs=1e-12)
    # every threshold of the policy is on a measurement the 4-class model has
    assert all(o.observed is not None for o in perf.thresholds)
    titles = [e.title for e in perf.evidence]
    per_class = next(e for e in perf.evidence if e.title.startswith("Per-class"))
    assert [row[0] for row in per_class.rows] == CLASSES
    confusion = next(e for e in perf.evidence if e.title.startswith("Confusion matrix"))
    assert len(confusion.rows) == 4 and sum(sum(r[1:]) for r in confusion.rows) == len(ctx.data)
    assert len(titles) == len(set(titles))
    if policy == "default":
        ran = {k for k, r in results.items() if r.status != Status.SKIPPED}
        assert {"global_importance", "local_explanations", "explanation_faithfulness", "explanation_axioms",
                "explanation_stability", "explainer_agreement", "explanation_sanity"} <= ran


def test_the_performance_template_renders_a_four_class_result(four_class, card_writer, tmp_path):
    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.policy.schema import CheckSpec
    from auditor.render.html import make_environment

    ctx = four_class_context(four_class, card_writer, tmp_path)
    params = PerformanceParams(n_bootstrap=50)
    result = run_check(PlannedCheck(spec=CheckSpec(check="performance", params={"n_bootstrap": 50}), params=params), ctx)
    html = make_environment().get_template("checks/performance.html.j2").render(c=result, letter={"measurements": "C"})
    assert "Per-class precision" in html and "one-vs-rest" in html


def test_subgroup_fairness_skips_a_four_class_model_without_a_positive_class(four_class, card_writer, tmp_path):
    ctx = four_class_context(four_class, card_writer, tmp_path, sensitive_features=["color"])
    results = run_policy("default", ctx)
    fairness = results["subgroup_fairness"]
    assert fairness.status == Status.SKIPPED and "positive class" in fairness.skipped_reason


def test_a_named_positive_class_on_four_classes_drives_f1_and_fairness(four_class, card_writer, tmp_path):
    ctx = four_class_context(four_class, card_writer, tmp_path, positive_class="d", sensitive_features=["color"])
    assert ctx.positive_index == 3
    results = run_policy("default", ctx)
    # 4 features and 10 explained rows, each led by one feature: a resample of noise ranks them as the
    # full set does in 5% of draws, so global rank stability cannot show more and is not judged
    assert not errors_beyond_chance({k: r.error.message for k, r in results.items() if r.status == Status.ERROR},
                                    ("explainer_agreement", "explanation_stability"))
    assert results["subgroup_fairness"].status != Status.SKIPPED
    truth, pred = ctx.label_index(), ctx.predicted_index()
    from sklearn.metrics import f1_score
    assert results["performance"].measurements["f1"] == pytest.approx(f1_score(truth == 3, pred == 3), abs=1e-12)
    # a group's accuracy is over all four classes: as "d" against the rest, a row of "a" predicted "b" was
    # counted right, and accuracy_difference was gated on that
    (table,) = [t for t in results["subgroup_fairness"].evidence if getattr(t, "title", "").startswith("Selection rate")]
    colors = ctx.data.frame["color"].astype(str).to_numpy()
    for row in table.rows:
        rows = colors == row[1]
        assert row[7] == pytest.approx(float(np.mean(truth[rows] == pred[rows])), abs=1e-12), row
    assert any(float(np.mean((truth == 3)[colors == row[1]] == (pred == 3)[colors == row[1]])) != row[7]
               for row in table.rows)  # the case tells the two apart
    accuracies = [row[7] for row in table.rows if row[3] == "yes"]
    assert results["subgroup_fairness"].measurements["accuracy_difference"] == pytest.approx(
        max(accuracies) - min(accuracies), abs=1e-12)


def test_a_positive_class_a_four_class_model_lacks_is_a_located_card_error(four_class, card_writer, tmp_path):
    from auditor.engine.audit import check_positive_class
    from auditor.errors import ModelCardError

    card = load_model_card(card_writer(tmp_path, artefact=four_class / "pipeline.skops", positive_class="e"))
    with pytest.raises(ModelCardError) as err:
        check_positive_class(card, CLASSES)
    assert [p.location for p in err.value.problems] == ["auditor.positive_class"]
    assert err.value.exit_code == 3


def test_shap_of_a_four_class_linear_model_explains_the_predicted_class_probability(four_class, card_writer, tmp_path):
    """Re-pinned: this test pinned LinearExplainer's values, which explained the predicted class's softmax
    logit (decision_function), coef_k . (x - mean(background)). A feature of another class's logit moves
    the class's probability but not its logit, so SHAP and LIME (which reads the probability) explained
    different outputs; a linear model of three or more classes now gets permutation SHAP of the
    probability, which adds up to it by construction."""
    from auditor.explain.tabular_shap import explain_shap_tabular

    ctx = four_class_context(four_class, card_writer, tmp_path, artefact="linear")
    rows = np.arange(12)
    attr = explain_shap_tabular(ctx, rows, background_size=30, permutations=1, seed_offset=0)
    assert attr.params["algorithm"] == "permutation" and attr.params["instead_of"] == "linear"
    assert attr.output_space == "probability" and attr.params["permutations"] == 1
    np.testing.assert_array_equal(attr.target, ctx.predicted_index()[rows])
    assert len(set(attr.target.tolist())) > 1  # more than one class is explained
    p_t = ctx.proba()[rows, attr.target]
    np.testing.assert_allclose(attr.outputs, p_t, rtol=0, atol=1e-12)
    sums = np.array([np.sum(v) for v in attr.values])
    np.testing.assert_allclose(sums + attr.base_values, p_t, rtol=0, atol=1e-12)
    # the base is E_b p_t(b) over the background
    background = ctx.background(30)
    np.testing.assert_allclose(attr.base_values, ctx.model.predict_proba(background)[:, attr.target].mean(axis=0),
                               rtol=0, atol=1e-12)
    # seeded: the same call gives the same values
    again = explain_shap_tabular(ctx, rows, background_size=30, permutations=1, seed_offset=0)
    np.testing.assert_array_equal(np.stack(again.values), np.stack(attr.values))


def test_shap_of_a_multiclass_linear_model_is_the_exact_shapley_value_of_the_probability(four_class, card_writer, tmp_path):
    """Known answer. Two features: one antithetic pair of orders is both orders, so permutation SHAP is
    the exact interventional Shapley value of p_t over the background, v(S) = mean_b p_t(x_S, b_rest):
    phi_1 = ((v({1}) - v({})) + (v({1,2}) - v({2}))) / 2, and likewise phi_2. x2 does not enter the
    logits of a and b (x1 separates them), yet it moves their probabilities through c's and d's: a row
    explained as a or b gets a weight on x2 that its own logit gives almost nothing."""
    from auditor.explain.tabular_shap import explain_shap_tabular

    ctx = four_class_context(four_class, card_writer, tmp_path, artefact="linear2")
    rows = np.arange(16)
    attr = explain_shap_tabular(ctx, rows, background_size=20, permutations=1, seed_offset=0)
    assert attr.params["algorithm"] == "permutation" and attr.output_space == "probability"
    estimator = ctx.model.estimator
    X = ctx.data.frame.iloc[rows][["x1", "x2"]].to_numpy(float)
    B = ctx.background(20)[["x1", "x2"]].to_numpy(float)

    def v(x, keep, t):  # mean over the background of p_t with the features in keep taken from x
        Z = B.copy()
        Z[:, keep] = x[keep]
        return estimator.predict_proba(Z)[:, t].mean()

    expected = np.array([[((v(x, [0], t) - v(x, [], t)) + (v(x, [0, 1], t) - v(x, [1], t))) / 2,
                          ((v(x, [1], t) - v(x, [], t)) + (v(x, [0, 1], t) - v(x, [0], t))) / 2]
                         for x, t in zip(X, attr.target)])
    np.testing.assert_allclose(np.stack(attr.values), expected, rtol=0, atol=1e-9)
    p_t = estimator.predict_proba(X)[np.arange(len(rows)), attr.target]
    np.testing.assert_allclose(expected.sum(axis=1) + attr.base_values, p_t, rtol=0, atol=1e-9)
    ab = np.isin(attr.target, [0, 1])
    assert ab.any() and np.all(np.abs(estimator.coef_[:2, 1]) < 0.5 * np.abs(estimator.coef_[:2, 0]))
    assert np.median(np.abs(expected[ab, 1])) > 0.01  # x2 moves p(a), p(b): the logit-based SHAP missed it


def test_shap_of_a_binary_linear_model_is_still_linear_explainers_log_odds(four_class, card_writer, tmp_path):
    """Binary linear models keep LinearExplainer (their log-odds are a monotone function of p): the values
    are shap's own, bit for bit, the negative class's mirrored."""
    import shap

    from auditor.explain.tabular_shap import explain_shap_tabular

    ctx = four_class_context(four_class / "binary", card_writer, tmp_path, artefact="linear", positive_class="yes")
    rows = np.arange(14)
    attr = explain_shap_tabular(ctx, rows, background_size=30, permutations=1, seed_offset=0)
    assert attr.params == {"algorithm": "linear", "background_size": 30, "seed": ctx.offset_seed(0)}
    assert attr.output_space == "log-odds" and set(attr.target.tolist()) == {0, 1}
    background = ctx.background(30).to_numpy(float)
    explainer = shap.LinearExplainer(ctx.model.estimator, shap.maskers.Independent(background, max_samples=30))
    X = ctx.data.frame.iloc[rows][["x1", "x2", "x3"]].to_numpy(float)
    sign = np.where(attr.target == 1, 1.0, -1.0)[:, None]
    np.testing.assert_array_equal(np.stack(attr.values), np.asarray(explainer.shap_values(X)) * sign)


def test_select_class_takes_one_slice_per_row_from_per_class_outputs():
    from auditor.explain.tabular_shap import _select_class

    values = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)  # (n, d, k)
    target = np.array([3, 1])
    phi, base = _select_class(values, np.array([10.0, 11.0, 12.0, 13.0]), target, 4, "probability")
    np.testing.assert_array_equal(phi, [values[0, :, 3], values[1, :, 1]])
    np.testing.assert_array_equal(base, [13.0, 11.0])
    with pytest.raises(ValueError, match="ambiguous"):
        _select_class(values[:, :, 0], np.array(0.0), target, 4, "probability")


# --- a 3-class tiny BERT -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_class_text(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("three_class_text")
    model_dir = tiny_bert.build_tiny_text_model(root / "model", num_labels=3)
    rng = np.random.default_rng(5)
    words = ["good", "bad", None] * 30  # 30 rows a class: 12 could not support a macro ROC AUC CI low of 0.7
    texts = [tiny_bert.make_sentence(rng, w, int(rng.integers(4, 9))) for w in words]
    labels = ["positive" if w == "good" else "negative" if w == "bad" else "neutral" for w in words]
    for i, wrong in zip((0, 4, 8, 9), ("neutral", "positive", "positive", "negative")):
        labels[i] = wrong  # a few mislabelled rows: a perfect model would leave F1's interval zero-width
    data = root / "eval.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)),
                    encoding="utf-8")
    meta = {"license": "apache-2.0", "library_name": "transformers",
            "auditor": {"task": "text-classification", "model": {"path": str(model_dir), "format": "transformers"},
                        "name": "tiny-bert-3", "version": "1.0.0", "target": "label", "text_column": "text"}}
    card = root / "README.md"
    card.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n# tiny-bert-3\n\nThree sentiment classes.\n",
                    encoding="utf-8")
    return root, model_dir, card, data


def test_text_default_runs_a_three_class_text_model_with_no_error(three_class_text):
    from sklearn.metrics import roc_auc_score

    from auditor.models.text import load_text_model

    _, model_dir, card_path, data_path = three_class_text
    card = load_model_card(card_path)
    data = load_dataset(data_path, card)
    model = load_text_model(model_dir, max_length=32, batch_size=32, threads=1)
    ctx = AuditContext(card=card, data=data, model=model, seed=13)
    assert ctx.classes == ["negative", "positive", "neutral"] and ctx.positive_index is None
    results = run_policy("text-default", ctx)
    errors = {k: r.error.message for k, r in results.items() if r.status == Status.ERROR}
    assert not errors_beyond_chance(errors), errors  # explainer agreement at chance (0.50) is not judged
    m = results["performance"].measurements
    assert m["roc_auc"] == pytest.approx(roc_auc_score(ctx.label_index(), ctx.proba(), multi_class="ovr"), abs=1e-12)
    assert m["accuracy"] > 0.8  # the planted words are learnt: the explanations below explain a real model
    ran = {k for k, r in results.items() if r.status != Status.SKIPPED}
    assert {"text_explanations", "explanation_faithfulness", "explanation_axioms", "explanation_stability",
            "explainer_agreement", "explanation_sanity"} <= ran
    # explanations are of the predicted class, which is each of the three on some row
    assert set(ctx.predicted_index().tolist()) == {0, 1, 2}



def test_validate_refuses_a_decision_threshold_of_a_three_class_text_model_as_run_does(three_class_text):
    """validate read the classes from config.json yet said the card was valid; run refused it (exit 3)."""
    from typer.testing import CliRunner

    from auditor.cli import app

    root, _, card_path, data_path = three_class_text
    card = root / "threshold.md"
    card.write_text(card_path.read_text(encoding="utf-8").replace("  text_column: text\n",
                                                                  "  text_column: text\n  decision_threshold: 0.3\n"),
                    encoding="utf-8")
    assert "decision_threshold: 0.3" in card.read_text(encoding="utf-8")
    res = CliRunner().invoke(app, ["validate", "--policy", "text-default", "--card", str(card), "--data", str(data_path)])
    assert res.exit_code == 3, res.output
    assert "a decision threshold needs a binary model; this one has 3 classes" in " ".join(res.output.split())


def test_every_builtin_performance_threshold_is_measured_on_a_four_class_model(four_class, card_writer, tmp_path):
    """No built-in policy gates (or records) a performance measurement a 4-class model lacks."""
    from auditor.engine.runner import PlannedCheck, run_check, thresholds_for
    from auditor.policy import builtin_policies
    from auditor.policy.schema import CheckSpec

    ctx = four_class_context(four_class, card_writer, tmp_path)
    result = run_check(PlannedCheck(spec=CheckSpec(check="performance", params={"n_bootstrap": 50}),
                                    params=PerformanceParams(n_bootstrap=50)), ctx)
    gated = set()
    for name in builtin_policies():
        for planned in build_plan(load_policy(name), kind_for_card(ctx.card)):
            if planned.spec.check == "performance":
                gated |= {t.measurement for t in thresholds_for(planned.spec, ctx.task)}  # those judging this kind
    assert gated >= {"roc_auc_ci_low", "brier"}
    assert {g: result.measurements[g] for g in gated if result.measurements[g] is None} == {}


def test_the_cli_audits_a_four_class_model_and_refuses_a_decision_threshold(four_class, card_writer, tmp_path,
                                                                             policy_writer, monkeypatch):
    """A new user's run: no positive_class, exit 0 and a result with the macro metrics; the same card with a
    decision_threshold is a located card error (exit 3) and writes nothing."""
    from typer.testing import CliRunner

    import auditor.engine.audit
    from auditor.cli import app

    monkeypatch.setattr(auditor.engine.audit, "html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([
        {"check": "performance", "params": {"n_bootstrap": 50},
         "thresholds": [{"measurement": "roc_auc_ci_low", "min": 0.6, "severity": "fail"}]}]))
    card = card_writer(tmp_path / "card", artefact=four_class / "pipeline.skops", positive_class=None)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--policy", str(policy), "--card", str(card), "--data",
                                   str(four_class / "eval.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(next(out.rglob("result.json")).read_text())
    assert result["model"]["classes"] == CLASSES and result["model"]["positive_class"] is None
    perf = next(c for c in result["checks"] if c["id"] == "performance")
    assert perf["status"] == "pass" and perf["measurements"]["f1_macro"] > 0.5

    card = card_writer(tmp_path / "card2", artefact=four_class / "pipeline.skops", positive_class=None,
                       decision_threshold=0.4)
    out = tmp_path / "out2"
    res = CliRunner().invoke(app, ["run", "--policy", str(policy), "--card", str(card), "--data",
                                   str(four_class / "eval.csv"), "--out", str(out)])
    assert res.exit_code == 3, res.output
    assert "auditor.decision_threshold" in res.output and "4 classes" in res.output
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_validate_refuses_a_decision_threshold_of_a_four_class_scikit_learn_model_from_its_datas_labels(
        four_class, card_writer, tmp_path):
    """validate said a scikit-learn 4-class card with a decision_threshold was valid (it loads no model, so
    knew no classes), and run then refused it (exit 3): the data's 4 labels say so before any model loads.
    A binary card's threshold stays valid."""
    from typer.testing import CliRunner

    from auditor.cli import app

    card = card_writer(tmp_path / "card", artefact=four_class / "pipeline.skops", positive_class=None,
                       decision_threshold=0.4)
    res = CliRunner().invoke(app, ["validate", "--policy", "default", "--card", str(card), "--data",
                                   str(four_class / "eval.csv")])
    assert res.exit_code == 3, res.output
    assert ("auditor.decision_threshold: a decision threshold needs a binary model; the evaluation data's target "
            "holds 4 labels ('a', 'b', 'c', 'd')") in " ".join(res.output.split())
    binary = card_writer(tmp_path / "binary", artefact=four_class / "binary" / "linear.skops", positive_class="yes",
                         decision_threshold=0.4, features=[{"name": f, "type": "numeric"} for f in ("x1", "x2", "x3")],
                         ignore_columns=["color"])
    res = CliRunner().invoke(app, ["validate", "--policy", "default", "--card", str(binary), "--data",
                                   str(four_class / "binary" / "eval.csv")])
    assert res.exit_code == 0, res.output


def test_a_positive_class_the_evaluation_rows_lack_says_so_and_how_to_go_on(four_class, card_writer, tmp_path):
    """A 4-class card naming positive_class 'd' with an evaluation set that holds no row of 'd': the refusal
    said only that 'd' is not one of the data's labels and to write the target with the card's class names,
    as if the labels were misspelt; it says the rows of the class are missing and that a model of 3 or more
    classes may leave positive_class out."""
    from typer.testing import CliRunner

    from auditor.cli import app

    frame = pd.read_csv(four_class / "eval.csv")
    data = tmp_path / "without-d.csv"
    frame[frame["label"] != "d"].to_csv(data, index=False)
    card = card_writer(tmp_path / "card", artefact=four_class / "pipeline.skops", positive_class="d")
    res = CliRunner().invoke(app, ["validate", "--policy", "default", "--card", str(card), "--data", str(data)])
    assert res.exit_code == 3, res.output
    assert ("auditor.positive_class: 'd' is not one of the labels in the dataset: 'a', 'b', 'c'; if the model has "
            "this class, the evaluation set holds no row of it, and its F1, recall and group rates rest on such rows: "
            "add rows of it, or, with 3 or more classes, leave positive_class out (the macro metrics need none)"
            ) in " ".join(res.output.split())


@pytest.mark.parametrize("binary", [False, True], ids=["4-class", "binary"])
def test_tree_shap_explains_the_predicted_class_exactly(four_class, card_writer, tmp_path, binary):
    """TreeExplainer returns (n, d, k) and k expected values for a forest, binary included: the predicted
    class's slice adds up to that class's probability (interventional TreeSHAP is exact)."""
    from auditor.explain.tabular_shap import explain_shap_tabular

    ctx = four_class_context(four_class / "binary" if binary else four_class, card_writer, tmp_path, artefact="forest")
    rows = np.arange(15)  # an odd count: per-class expected values must not be reshaped per row
    attr = explain_shap_tabular(ctx, rows, background_size=30, permutations=1, seed_offset=0)
    assert attr.params["algorithm"] == "tree" and attr.output_space == "probability"
    np.testing.assert_array_equal(attr.target, ctx.predicted_index()[rows])
    proba = ctx.proba()[rows]
    np.testing.assert_allclose(attr.outputs, proba[np.arange(len(rows)), attr.target])
    sums = np.array([np.sum(v) for v in attr.values])
    np.testing.assert_allclose(sums + attr.base_values, attr.outputs, atol=1e-6)


def test_a_four_class_model_perfect_on_its_rows_gets_exact_bounds_not_an_error(four_class, card_writer, tmp_path):
    """10 rows of each class the pipeline gives at least 0.8 (so each class's scores separate its rows
    from the rest): every resample is perfect, and the CI lows are the exact Bonferroni bounds
    instead of a zero-width 1–1 that no gate could judge. accuracy: 0.025^(1/40); balanced accuracy
    and macro ROC AUC: each of 4 classes at 0.05/8 on m = 10 rows (or pairs), 0.00625^(1/10)."""
    import shutil

    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.models.tabular import load_tabular_model
    from auditor.policy.schema import CheckSpec

    frame = four_class_frame(4000, seed=7)
    card = load_model_card(card_writer(tmp_path / "probe", artefact=four_class / "pipeline.skops", positive_class=None))
    model = load_tabular_model(card, FEATURES)
    proba = model.predict_proba(frame[FEATURES])
    truth = frame["label"].map(CLASSES.index).to_numpy()
    sure = (proba.argmax(axis=1) == truth) & (proba.max(axis=1) >= 0.8)
    picked = pd.concat([frame[sure & (truth == c)].head(10) for c in range(4)]).sort_index()
    assert picked["label"].value_counts().to_dict() == dict.fromkeys(CLASSES, 10)
    root = tmp_path / "perfect"
    root.mkdir()
    shutil.copy(four_class / "pipeline.skops", root / "pipeline.skops")
    picked.to_csv(root / "eval.csv", index=False)
    ctx = four_class_context(root, card_writer, tmp_path)

    gates = [{"measurement": f"{m}_ci_low", "min": 0.5} for m in ("accuracy", "balanced_accuracy", "roc_auc")]
    spec = CheckSpec(check="performance", params={"n_bootstrap": 200}, thresholds=gates)
    result = run_check(PlannedCheck(spec=spec, params=PerformanceParams(n_bootstrap=200)), ctx)
    m = result.measurements
    assert m["accuracy"] == m["balanced_accuracy"] == m["roc_auc"] == 1.0
    assert m["accuracy_ci_low"] == pytest.approx(0.025 ** (1 / 40)) == pytest.approx(0.9120, abs=1e-4)
    for name in ("balanced_accuracy", "roc_auc"):
        assert m[f"{name}_ci_low"] == pytest.approx(0.00625 ** (1 / 10)) == pytest.approx(0.6020, abs=1e-4)
    assert result.status == Status.PASS, result.thresholds
    # balanced accuracy and ROC AUC: 1–1 percentile intervals replaced by the bound, said in a note;
    # accuracy's interval is the exact binomial one, whose low end for 40 of 40 is that bound itself
    # and macro F1 (each class's precision and recall at 0.05/16 on its 10 rows), so 3 notes
    assert m["f1_macro_ci_low"] == pytest.approx(0.003125 ** (1 / 10)) == pytest.approx(0.5617, abs=1e-4)
    assert sum("exact one-sided bound" in note for note in result.notes) == 3
    # each class: 10 rows, all recalled, 10 predictions, all right: every per-class interval would be
    # 1–1; its low end is a perfect score's on 10 rows, 0.025^(1/10) = 0.692
    per_class = next(e for e in result.evidence if e.title.startswith("Per-class"))
    assert [row[3::2] for row in per_class.rows] == [["0.692–1.000"] * 3] * 4
    assert any("Per-class intervals of 4 classes claimed more" in note for note in result.notes)
    # the same rows cannot reach 0.7 on the macro AUC: unjudgeable, never a PASS
    spec = CheckSpec(check="performance", params={"n_bootstrap": 200},
                     thresholds=[{"measurement": "roc_auc_ci_low", "min": 0.7}])
    result = run_check(PlannedCheck(spec=spec, params=PerformanceParams(n_bootstrap=200)), ctx)
    assert result.status == Status.ERROR and "can be at most 0.602" in result.error.message


def test_the_randomisation_test_of_four_classes_compares_every_instance_for_the_real_class(
        four_class, card_writer, tmp_path):
    """With more than two classes an explanation of one class says nothing about another, so every
    randomised copy explains each instance for the class the real model predicts: all 30 instances
    are compared (before, only those that the real model and every copy predicted as the most
    frequent class, so a copy predicting another class for all of them left nothing: ERROR)."""
    from auditor.checks.explanation_sanity import ExplanationSanity

    ctx = four_class_context(four_class, card_writer, tmp_path, artefact="linear")
    params = ExplanationSanity.Params(explainers=["shap", "lime"], n_instances=30, n_randomised=3)
    out = ExplanationSanity(params).run(ctx)
    real = ctx.attribution("shap", 30)
    assert len(set(real.target.tolist())) > 1  # several classes among the explained rows
    for m in ("shap", "lime"):
        assert out.measurements[f"{m}_instances"] == 30
        assert out.measurements[f"{m}_rank_correlation_median"] is not None
    copy = ctx.with_model(ctx.model.randomised(7, data=ctx.data, n_layers=1, embeddings=False),
                          explain_audited_class=True)
    np.testing.assert_array_equal(copy.attribution("shap", 30).target, real.target)


def test_a_cluster_worker_given_only_its_shards_classes_explains_them_as_the_main_process_would(
        four_class, card_writer, tmp_path, monkeypatch):
    """A shard of a randomisation test on a cluster carries the audited model's class for its own
    rows only (not one per evaluation row): the worker explains each of them for that class, and
    refuses a row it was given no class for."""
    from auditor.engine import cluster
    from auditor.explain import get_explainer
    from auditor.hashing import file_or_dir_sha256

    for name, empty in (("_WORKER_MODELS", {}), ("_WORKER_SEEDED", set()),
                        ("_WORKER_DATA_MEMOS", cluster.OrderedDict())):
        monkeypatch.setattr(cluster, name, empty)
    ctx = four_class_context(four_class, card_writer, tmp_path, artefact="linear")
    source = cluster.ModelSource(card=ctx.card, feature_names=tuple(ctx.data.feature_names), allow_pickle=False,
                                 device="cpu", sha256=file_or_dir_sha256(ctx.card.model_path))
    rows = np.array([5, 2, 9])
    forced = (ctx.predicted_index()[rows] + 1) % 4  # never the class the model predicts
    params = get_explainer(ctx.task, "shap").Params.model_validate({})
    attr, _, _, _ = cluster.explain_on_worker(source, cluster.Shipped(ctx.data, ctx.proba()), ctx.seed,
                                           ctx.explainer_params, "shap", params.model_dump(), rows, forced)
    np.testing.assert_array_equal(attr.target, forced)
    explain_as = np.full(len(ctx.data), -1)
    explain_as[rows] = forced
    local = AuditContext(card=ctx.card, data=ctx.data, model=ctx.model, seed=ctx.seed, _explain_as=explain_as)
    np.testing.assert_allclose(attr.values, explain_part(local, get_explainer(ctx.task, "shap"), rows, params).values)
    with pytest.raises(RuntimeError, match="explained class was not given"):
        local.explained_class(np.array([0]), ctx.proba()[:1])


def test_an_evaluation_set_without_one_of_the_models_classes_is_measured_over_the_classes_present(
        four_class, card_writer, tmp_path):
    """No evaluation row of class "d": its one-vs-rest AUC does not exist, so the macro ROC AUC
    (performance's, and permutation importance's score) is the mean over a, b and c, with a note
    naming "d" (before: undefined on every resample, performance in ERROR and global importance
    unmeasured). The randomisation test's copies are given "d" on 5 rows of their permuted labels."""
    import shutil

    from sklearn.metrics import roc_auc_score

    from auditor.checks.explanation_sanity import ExplanationSanity
    from auditor.checks.global_importance import GlobalImportance, GlobalImportanceParams

    root = tmp_path / "no_d"
    root.mkdir()
    shutil.copy(four_class / "pipeline.skops", root / "pipeline.skops")
    frame = pd.read_csv(four_class / "eval.csv")
    frame[frame["label"] != "d"].to_csv(root / "eval.csv", index=False)
    ctx = four_class_context(root, card_writer, tmp_path)
    assert ctx.classes == CLASSES
    truth, proba = ctx.label_index(), ctx.proba()
    expected = np.mean([roc_auc_score(truth == c, proba[:, c]) for c in range(3)])
    out = Performance(PerformanceParams(n_bootstrap=100)).run(ctx)
    m = out.measurements
    assert m["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert m["roc_auc_ci_low"] < m["roc_auc"] < m["roc_auc_ci_high"]
    # the interval of the mean over the classes present: DeLong's variance of the mean
    from auditor.metrics.statistics import mean_auc_interval
    assert [m["roc_auc_ci_low"], m["roc_auc_ci_high"]] == pytest.approx(
        mean_auc_interval([truth == c for c in range(3)], [proba[:, c] for c in range(3)]))
    assert any("No evaluation row is of class 'd'" in note and "the 3 classes present" in note for note in out.notes)
    importance = GlobalImportance(GlobalImportanceParams(n_repeats=2, n_instances=10)).run(ctx)
    assert importance.measurements["baseline_score"] == pytest.approx(expected, abs=1e-12)
    # the randomisation test's copies know "d" from 5 random rows of permuted labels: every class's
    # column, as the model's (before: ValueError, the check and so the whole audit in ERROR)
    params = ExplanationSanity.Params(explainers=["shap"], n_instances=10, n_randomised=2)
    sanity = ExplanationSanity(params).run(ctx)
    assert sanity.measurements["shap_rank_correlation_median"] is not None
    copy = ctx.model.randomised(7, data=ctx.data)
    assert list(copy.estimator.classes_) == list(ctx.model.estimator.classes_)
    assert copy.predict_proba(ctx.data.frame.iloc[:3]).shape == (3, 4)
    assert "no evaluation row is of class 'd', so 5 random rows were given it" in copy.randomisation
    few = ctx.with_rows(ctx.data.frame.iloc[:8], list(ctx.data.labels[:8]))  # 8 rows cannot spare 5 and keep 5
    with pytest.raises(ValueError, match="no evaluation row is of class 'a', 'd', .*too few rows to spare 5 for each"):
        few.model.randomised(7, data=few.data)


def test_macro_f1s_interval_counts_a_class_only_predicted_in_every_resample(four_class, card_writer, tmp_path):
    """No row is of class "d" and the model predicts "d" on one row: that F1 of 0 is in the point's
    macro F1 (scikit-learn's), so it must be in every resample's; a resample that missed the row had
    averaged a, b and c only (about a third of them), and the interval's top end sat far above the
    point (hpc_data without class L: 0.601 within 0.573-0.823)."""
    import shutil

    from sklearn.metrics import f1_score

    root = tmp_path / "one_d"
    root.mkdir()
    shutil.copy(four_class / "pipeline.skops", root / "pipeline.skops")
    frame = pd.read_csv(four_class / "eval.csv")
    ctx = four_class_context(four_class, card_writer, tmp_path / "all")
    predicted = np.array(CLASSES)[ctx.proba().argmax(1)]
    wrong_d = np.flatnonzero((predicted == "d") & (frame["label"] != "d").to_numpy())[:1]
    keep = (frame["label"] != "d").to_numpy() & ((predicted != "d") | np.isin(np.arange(len(frame)), wrong_d))
    frame[keep].to_csv(root / "eval.csv", index=False)
    ctx = four_class_context(root, card_writer, tmp_path / "one")
    truth, pred = ctx.label_index(), ctx.proba().argmax(1)
    assert (pred == 3).sum() == 1 and (truth == 3).sum() == 0
    m = Performance(PerformanceParams(n_bootstrap=200)).run(ctx).measurements
    assert m["f1_macro"] == pytest.approx(f1_score(truth, pred, average="macro"), abs=1e-12)
    three = f1_score(truth, pred, labels=[0, 1, 2], average="macro")  # the mean without d's 0
    assert m["f1_macro"] == pytest.approx(three * 3 / 4, abs=1e-12)
    assert m["f1_macro_ci_low"] < m["f1_macro"] < m["f1_macro_ci_high"] < three * 3 / 4 + 0.1 < three


def test_a_rare_class_per_class_interval_leaves_out_resamples_without_it(tmp_path):
    """Class c: 3 of 300 rows, all predicted right (and nothing else predicted c). A resample that
    draws none of the 3 (e^-3, 5%) has no precision or recall of c; counted as 0 it had put the
    interval's low end at 0.000. Left out, the low end is what a perfect score on 3 rows supports,
    0.025^(1/3) = 0.292; the point values stay 1."""
    from sklearn.tree import DecisionTreeClassifier
    from trust.conftest import frame_context

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=297).round(6), [10.0, 10.5, 11.0]])
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=300).round(6),
                          "label": np.where(x > 5, "c", np.where(x < 0, "a", "b"))})
    estimator = DecisionTreeClassifier(random_state=0).fit(frame[["x", "z"]], frame["label"])
    ctx = frame_context(tmp_path, frame, estimator, target="label", name="rare-class")
    out = Performance(PerformanceParams(n_bootstrap=400)).run(ctx)
    table = next(e for e in out.evidence if getattr(e, "title", "").startswith("Per-class"))
    row_c = next(r for r in table.rows if r[0] == "c")
    assert row_c[1:3] == [3, 1.0] and row_c[4] == 1.0
    ceiling = f"{0.025 ** (1 / 3):.3f}–1.000"
    assert ceiling == "0.292–1.000" and row_c[3] == ceiling and row_c[5] == ceiling  # before: 0.000–1.000


@pytest.mark.parametrize("claimed, within", [("summed", True), ("half", True), ("wrong", False)])
def test_a_multiclass_brier_claim_in_scikit_learns_summed_convention_holds(four_class, card_writer, tmp_path,
                                                                           claimed, within):
    """scikit-learn's brier_score_loss gives three or more classes the summed score, twice the half
    Brier this check measures: a card claiming it (hpc_data: 0.232, measured 0.116) was reported 0.100
    outside the interval. It is compared with the summed score now, a note says so; the half value
    still holds, and a claim matching neither is still outside."""
    from sklearn.metrics import brier_score_loss

    ctx = four_class_context(four_class, card_writer, tmp_path / "m")
    truth, proba = ctx.label_index(), ctx.proba()
    summed = brier_score_loss(truth, proba, labels=[0, 1, 2, 3])
    half = 0.5 * np.mean(np.sum((proba - np.eye(4)[truth]) ** 2, axis=1))
    assert summed == pytest.approx(2 * half, abs=1e-12)
    value = {"summed": summed, "half": half, "wrong": 3 * half}[claimed]
    index = [{"name": "m", "results": [{"task": {"type": "tabular-classification"}, "dataset": {"name": "d", "type": "d"},
                                        "metrics": [{"type": "brier_score", "value": round(float(value), 4)}]}]}]
    ctx = four_class_context(four_class, card_writer, tmp_path / "c", metadata={"model-index": index})
    out = Performance(PerformanceParams(n_bootstrap=100)).run(ctx)
    assert out.measurements["claims_checked"] == 1
    assert out.measurements["claims_outside_tolerance"] == (0 if within else 1)
    summed_note = [n for n in out.notes if "summed multi-class Brier score" in n]
    assert len(summed_note) == (1 if claimed == "summed" else 0)


def test_a_gate_on_f1_without_a_positive_class_cannot_be_judged_and_an_audit_that_judges_nothing_is_refused(
        four_class, card_writer, tmp_path, policy_writer, monkeypatch):
    """A blocking f1_ci_low gate on a four-class model whose card names no positive_class failed a sound
    model (f1 is not measured; a missing value read as a miss): it is ERROR, nothing measured. A policy of
    subgroup_fairness alone on that card skipped its only check and ended SKIPPED, exit 0: refused
    (exit 3), nothing written."""
    from typer.testing import CliRunner

    import auditor.engine.audit
    from auditor.cli import app

    monkeypatch.setattr(auditor.engine.audit, "html_to_pdf", lambda html, **kw: b"%PDF-1.7 stub\n")
    card = card_writer(tmp_path / "card", artefact=four_class / "pipeline.skops", positive_class=None,
                       sensitive_features=["color"])
    f1 = policy_writer(tmp_path / "f1", policy_writer.tiny([
        {"check": "performance", "params": {"n_bootstrap": 50},
         "thresholds": [{"measurement": "f1_ci_low", "min": 0.05, "severity": "fail"}]}]))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--policy", str(f1), "--card", str(card), "--data",
                                   str(four_class / "eval.csv"), "--out", str(out)])
    perf = next(c for c in json.loads(next(out.rglob("result.json")).read_text())["checks"] if c["id"] == "performance")
    assert perf["status"] == "error" and "nothing was measured (n = 0)" in perf["error"]["message"], perf["error"]
    fairness_only = policy_writer(tmp_path / "fair", policy_writer.tiny([
        {"check": "subgroup_fairness", "thresholds": [{"measurement": "demographic_parity_ratio", "min": 0.8,
                                                        "severity": "fail"}]}]))
    res = CliRunner().invoke(app, ["run", "--policy", str(fairness_only), "--card", str(card), "--data",
                                   str(four_class / "eval.csv"), "--out", str(tmp_path / "out2")])
    assert res.exit_code == 3 and "the audit judged nothing" in " ".join(res.output.split()), res.output
    assert not (tmp_path / "out2").exists()


def test_global_importance_under_a_macro_roc_auc_is_not_judged_where_no_class_term_rests_on_five(
        four_class, card_writer, tmp_path):
    """8 rows of classes of 4, 2, 1 and 1 (hpc_data, 12 rows of 9, 2 and 1, had passed at 0.96): each
    class's one-vs-rest term ranks its rows against the others, none on 5 of its rarer side, so the
    rank correlation is not judged, either way, and the gate says the classes' rows."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.policy.schema import CheckSpec

    frame = pd.read_csv(four_class / "eval.csv")
    few = pd.concat([frame[frame["label"] == c].iloc[:k] for c, k in (("a", 4), ("b", 2), ("c", 1), ("d", 1))])
    (tmp_path / "few").mkdir()
    few.to_csv(tmp_path / "few" / "eval.csv", index=False)
    card = load_model_card(card_writer(tmp_path / "card", artefact=four_class / "pipeline.skops", positive_class=None))
    data = load_dataset(tmp_path / "few" / "eval.csv", card)
    from auditor.models.tabular import load_tabular_model

    ctx = AuditContext(card=card, data=data, model=load_tabular_model(card, data.feature_names), seed=13)
    cls = CHECK_REGISTRY["global_importance"]
    spec = CheckSpec(check="global_importance", thresholds=[{"measurement": "rank_correlation", "min": -1.0,
                                                             "severity": "warn"}])
    gate = run_check(PlannedCheck(spec=spec, params=cls.Params(n_repeats=2, n_instances=8)), ctx).thresholds[0]
    assert gate.n == 8 and not gate.passed
    assert "on rows of a 4, b 2, c 1, d 1" in gate.unreachable and "no class's term rests on 5" in gate.unreachable


def test_an_f1_claim_averaged_over_the_classes_is_compared_with_the_macro_f1_not_the_positive_class(
        four_class, card_writer, tmp_path):
    """A Hugging Face card claims a 4-class model's macro F1 as `type: f1` with `args: {average: macro}` (as
    evaluate writes it): read as `f1`, it was compared with the positive class's F1 (here 'd'), another
    metric. It is compared with f1_macro now; another average (weighted) cannot be checked and says so."""
    from sklearn.metrics import f1_score

    ctx = four_class_context(four_class, card_writer, tmp_path / "m", positive_class="d")
    truth, pred = ctx.label_index(), ctx.proba().argmax(1)
    macro, of_d = f1_score(truth, pred, average="macro"), f1_score(truth == 3, pred == 3)
    metrics = [{"type": "f1", "value": round(float(macro), 4), "args": {"average": "macro"}},
               {"type": "f1", "value": 0.5, "args": {"average": "weighted"}},
               {"type": "f1", "value": round(float(of_d), 4), "args": {"average": "binary"}}]
    index = [{"name": "m", "results": [{"task": {"type": "tabular-classification"}, "dataset": {"name": "d", "type": "d"},
                                        "metrics": metrics}]}]
    ctx = four_class_context(four_class, card_writer, tmp_path / "c", positive_class="d", metadata={"model-index": index})
    assert [c.metric for c in ctx.card.claims] == ["f1_macro", "f1 (average: weighted)", "f1"]
    out = Performance(PerformanceParams(n_bootstrap=100)).run(ctx)
    claims = next(e for e in out.evidence if e.title.startswith("Claims in the model card"))
    compared = {row[0]: row[2] for row in claims.rows}
    assert compared["f1_macro"] == pytest.approx(macro, abs=1e-12)
    assert compared["f1"] == pytest.approx(of_d, abs=1e-12)
    assert out.measurements["claims_checked"] == 2
    assert "Unverifiable card claims: f1 (average: weighted)" in out.notes


def test_a_model_of_one_feature_has_its_two_importance_rankings_agree_not_left_undefined(tmp_path):
    """A 3-class tree that splits on 'a' alone (b and c never used): permutation importance and mean
    |SHAP| both give 'a' all the importance and the others exactly 0. The weighted rank correlation
    had one weighted feature, no variance, and read n/a, so global_importance warned a model whose two
    rankings agree on everything that matters; it reads 1.0 and passes. Two methods that each find a
    different single feature still read -1."""
    from sklearn.tree import DecisionTreeClassifier
    from trust.conftest import frame_context

    from auditor.engine.runner import PlannedCheck
    from auditor.engine.runner import run_check as run_planned
    from auditor.metrics.statistics import importance_weighted_rank_correlation as weighted
    from auditor.policy.schema import CheckSpec
    from auditor.checks.global_importance import GlobalImportanceParams
    from auditor.results import Status

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)).round(6), columns=["a", "b", "c"])
    frame["label"] = np.where(frame["a"] < -0.5, "low", np.where(frame["a"] < 0.5, "mid", "high"))
    estimator = DecisionTreeClassifier(random_state=0).fit(frame[["a", "b", "c"]], frame["label"])
    ctx = frame_context(tmp_path, frame, estimator, target="label", features=["a", "b", "c"], name="one-feature")
    params = {"n_instances": 30, "n_repeats": 3}
    spec = CheckSpec(check="global_importance", params=params,
                     thresholds=[{"measurement": "rank_correlation", "min": 0.5, "severity": "warn"}])
    result = run_planned(PlannedCheck(spec=spec, params=GlobalImportanceParams(**params)), ctx)
    assert result.measurements["rank_correlation"] == 1.0
    assert result.status == Status.PASS, (result.status, result.summary)
    assert weighted([0.5, 0.0, 0.0], [0.0, 0.6, 0.0]) == -1.0
    assert np.isnan(weighted([0.0, 0.0, 0.0], [0.6, 0.0, 0.0]))  # one method finds nothing: no agreement to read
