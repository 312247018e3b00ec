"""Checks and explainers against values computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.checks.card_completeness import CardCompleteness, CardCompletenessParams
from auditor.checks.performance import Performance, PerformanceParams
from auditor.engine.context import AuditContext
from auditor.inputs.dataset import EvalDataset
from auditor.explain.permutation_importance import CLASSIFICATION_SCORINGS as SCORINGS, permutation_importance
from auditor.inputs.model_card import load_model_card
from auditor.models.tabular import TabularModel


class ColumnIsProbability:
    """P(yes) is the value of x1: metrics are computable by hand."""

    classes_ = np.array(["no", "yes"])

    def predict_proba(self, X):
        p = np.asarray(X["x1"], dtype=float)
        return np.column_stack([1 - p, p])


P_YES = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1]
TRUTH = ["yes", "yes", "yes", "no", "no", "no"]


def stub_context(card_path: Path) -> AuditContext:
    card = load_model_card(card_path)
    frame = pd.DataFrame({"x1": P_YES})
    data = EvalDataset(path=Path("hand-made.csv"), sha256="0" * 64, frame=frame, labels=np.array(TRUTH),
                       feature_names=["x1"], categorical=[])
    return AuditContext(card=card, data=data, model=TabularModel(ColumnIsProbability(), ["x1"]), seed=0)


def test_a_claim_from_another_sample_is_compared_with_the_widened_interval(tmp_path, card_writer):
    """Accuracy 4/6 has the exact interval 0.223-0.957: a claimed 0.99 lies 0.033 above it, outside a
    tolerance of 0.02, if the claim is exact; measured on another 6 rows, the interval widens ×√2
    about 0.667 to 1.08, and the claim is inside. The claims table's caption says which."""
    index = [{"name": "m", "results": [{"dataset": {"name": "dev"}, "metrics": [{"type": "accuracy", "value": 0.99}]}]}]
    runs = {}
    for rows in (None, 6):
        card = card_writer(tmp_path / str(rows), features=[{"name": "x1", "type": "numeric"}],
                           metadata={"model-index": index}, claims_rows=rows)
        runs[rows] = Performance(PerformanceParams(n_bootstrap=50, claim_tolerance=0.02)).run(stub_context(card))
    exact, sized = (runs[r].measurements for r in (None, 6))
    high = exact["accuracy_ci_high"]
    assert exact["max_claim_gap"] == pytest.approx(0.99 - high) and exact["claims_outside_tolerance"] == 1.0
    assert 4 / 6 + (high - 4 / 6) * 2 ** 0.5 > 0.99
    assert sized["max_claim_gap"] == 0.0 and sized["claims_outside_tolerance"] == 0.0
    claims = {r: next(e for e in runs[r].evidence if e.title.startswith("Claims")) for r in runs}
    # the table says the rows its measured values rest on
    assert claims[None].title == ("Claims in the model card against the measured intervals (measured on n = 6 "
                                  "evaluation rows; gap: how far outside)")
    caption = {r: claims[r].caption for r in runs}
    assert "taken as exact" in caption[None]
    assert "widened about the measured value by √(1 + n_eval/n_claim) to carry that sample's noise too (×1.41 for 6 rows; n_eval = 6)" in caption[6]
    assert runs[None].summary.endswith("The largest gap between a card claim and the measured interval is 0.033.")
    assert runs[6].summary.endswith("The largest gap between a card claim and the measured interval, widened ×1.41 for "
                                    "claims from another 6 rows, is 0.000.")


def test_claims_that_cannot_be_read_or_are_written_in_percent_are_said_in_the_checks_notes(tmp_path, card_writer):
    """A claim whose value is a word was left out with a note only in card_completeness, and an accuracy
    of 81.9 (a percentage) was reported 80.995 outside the interval without a hint."""
    index = [{"name": "m", "results": [{"dataset": {"name": "dev"}, "metrics": [
        {"type": "accuracy", "value": 81.9}, {"type": "roc_auc", "value": "high"}]}]}]
    card = card_writer(tmp_path, features=[{"name": "x1", "type": "numeric"}], metadata={"model-index": index})
    out = Performance(PerformanceParams(n_bootstrap=50)).run(stub_context(card))
    assert out.measurements["claims_checked"] == 1.0
    assert ("Card claims that could not be read, so not checked: model-index[0].results[0].metrics[1]: needs a metric "
            "type and a finite numeric value.") in out.notes
    assert ("The card's accuracy claim (81.9) is above 1, the most such a metric can be: written in percent? As a "
            "fraction it would read 0.819.") in out.notes


@pytest.mark.parametrize("threshold, accuracy, f1, balanced", [
    # argmax: predicted yes = [1, 1, 0, 1, 0, 0] -> TP 2, FP 1, FN 1, TN 2
    (None, 4 / 6, 2 * 2 / (2 * 2 + 1 + 1), (2 / 3 + 2 / 3) / 2),
    # P(yes) >= 0.7: predicted yes = [1, 1, 0, 0, 0, 0] -> TP 2, FP 0, FN 1, TN 3
    (0.7, 5 / 6, 2 * 2 / (2 * 2 + 0 + 1), (2 / 3 + 1) / 2),
], ids=["argmax", "decision-threshold-0.7"])
def test_performance_by_hand(tmp_path, card_writer, threshold, accuracy, f1, balanced):
    card = card_writer(tmp_path, features=[{"name": "x1", "type": "numeric"}], decision_threshold=threshold)
    out = Performance(PerformanceParams(n_bootstrap=50, claim_tolerance=0.02)).run(stub_context(card))
    m = out.measurements
    assert m["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert m["f1"] == pytest.approx(f1, abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(balanced, abs=1e-12)
    # Brier: mean of (p - y)^2 = (0.01 + 0.04 + 0.49 + 0.36 + 0.04 + 0.01) / 6
    assert m["brier"] == pytest.approx(0.95 / 6, abs=1e-12)
    # AUC: 8 of the 9 (positive, negative) pairs are ordered correctly (0.3 < 0.6 is the exception)
    assert m["roc_auc"] == pytest.approx(8 / 9, abs=1e-12)
    # the card claims accuracy 0.85 and roc_auc 0.9; precision cannot be checked
    assert m["claims_checked"] == 2.0
    # a claim is judged against the measured interval: on 6 rows accuracy 4/6 (or 5/6) has the exact
    # interval 0.22-0.96 (0.36-1.00) and ROC AUC 8/9 DeLong's 0.26-0.99, so both claims lie inside
    # (against the point, accuracy 0.85 was 0.18 off and outside the tolerance)
    assert m["max_claim_gap"] == 0.0 and m["claims_outside_tolerance"] == 0.0
    assert out.notes[0] == "Unverifiable card claims: precision"
    # 6 rows: a resample may hold one class only, where AUC is undefined; its interval is DeLong's,
    # which resamples nothing, so no note counts undefined resamples
    assert not any(n.startswith("Resamples on which a metric is undefined") for n in out.notes)
    # ROC AUC's interval is DeLong's on the logit scale. Per positive the share of negatives it
    # outranks, V10 = (1, 1, 2/3); per negative the share of positives above it, V01 = (2/3, 1, 1);
    # var = var(V10)/3 + var(V01)/3 = 2/81; se on the logit scale sqrt(2)/9 / (8/81) = 1.591, so
    # expit(ln 8 ∓ 1.96 · 1.591) = 0.2614 and 0.9945. 3 positive-negative pairs support no CI low
    # above 0.025^(1/3) = 0.29 (the percentile bootstrap's was above it and was cut): no cut here
    assert m["roc_auc_ci_low"] == pytest.approx(0.2614, abs=1e-4) and m["roc_auc_ci_high"] == pytest.approx(0.9945, abs=1e-4)
    assert m["roc_auc_ci_low"] < 0.025 ** (1 / 3)
    assert not any(n.startswith("roc_auc: the interval's CI low") for n in out.notes)
    assert {s.measurement: s.n for s in out.sample_sizes}["roc_auc_ci_low"] == 6
    for name in ("accuracy", "f1", "brier", "roc_auc"):
        assert 0.0 <= m[f"{name}_ci_low"] <= m[f"{name}_ci_high"] <= 1.0
    confusion = next(e for e in out.evidence if e.title.startswith("Confusion matrix"))
    tn, fp, fn, tp = (2, 1, 1, 2) if threshold is None else (3, 0, 1, 2)
    assert confusion.title == "Confusion matrix (rows: true class, columns: predicted class; n = 6 rows)"
    assert confusion.columns == ["true \\ predicted", "no", "yes"] and confusion.caption == ""
    assert confusion.rows == [["no", tn, fp], ["yes", fn, tp]]
    assert out.key_figure == "AUC 0.889 (n = 6)"  # a console's figure says what it rests on, as the tables do


def test_binary_macro_f1_by_hand(tmp_path, card_writer):
    """The binary path adds f1_macro beside its unchanged numbers: TP 2, FP 1, FN 1, TN 2 gives F1 2/3 for
    both classes (test_performance_by_hand's argmax case)."""
    card = card_writer(tmp_path, features=[{"name": "x1", "type": "numeric"}])
    m = Performance(PerformanceParams(n_bootstrap=50)).run(stub_context(card)).measurements
    assert m["f1_macro"] == pytest.approx(2 / 3, abs=1e-12)
    assert m["f1_macro_ci_low"] <= m["f1_macro"] <= m["f1_macro_ci_high"]
    # and it is charted as the table lists it: the Metrics chart had left it out
    out = Performance(PerformanceParams(n_bootstrap=50)).run(stub_context(card))
    table = next(e for e in out.evidence if e.title == "Metrics with confidence intervals")
    chart = next(e for e in out.evidence if e.kind == "bar_chart" and e.title == "Metrics")
    assert chart.labels == [row[0] for row in table.rows] == ["accuracy", "balanced_accuracy", "roc_auc", "f1", "brier",
                                                             "f1_macro"]
    at = chart.labels.index("f1_macro")
    assert (chart.values[at], chart.low[at], chart.high[at]) == (m["f1_macro"], m["f1_macro_ci_low"], m["f1_macro_ci_high"])


def test_performance_bootstrap_is_seeded(tmp_path, card_writer):
    card = card_writer(tmp_path, features=[{"name": "x1", "type": "numeric"}])
    a = Performance(PerformanceParams(n_bootstrap=30)).run(stub_context(card)).measurements
    b = Performance(PerformanceParams(n_bootstrap=30)).run(stub_context(card)).measurements
    assert a == b


def test_resampled_metrics_equal_the_metrics_of_the_resample_written_out():
    """The bootstrap's count form (every metric a weighted count, ROC AUC by ranks over distinct
    scores) gives what ``_metrics`` (scikit-learn's roc_auc_score) gives on the resampled rows, ties
    in the scores included, and NaN AUC on a resample holding one class."""
    from auditor.checks.performance import _BinaryResamples, _metrics

    rng = np.random.default_rng(8)
    y = rng.random(300) < 0.3
    p = np.round(rng.random(300), 1)  # 11 distinct scores: many ties
    pred = p >= 0.5
    resampled = _BinaryResamples(y, p, pred)
    for _ in range(20):
        idx = rng.integers(0, 300, 300)
        got = resampled(np.bincount(idx, minlength=300))
        assert got == pytest.approx(_metrics(y[idx], p[idx], pred[idx]), rel=1e-12, abs=1e-12)
    only_negatives = np.bincount(np.flatnonzero(~y)[:5].repeat(60), minlength=300)
    assert np.isnan(resampled(only_negatives)["roc_auc"])
    # without the per-score counts (DeLong's interval replaces the bootstrap's): the same other metrics
    cells_only = _BinaryResamples(y, p, pred, with_auc=False)
    drawn = np.bincount(rng.integers(0, 300, 300), minlength=300)
    full, light = resampled(drawn), cells_only(drawn)
    assert np.isnan(light.pop("roc_auc")) and light == pytest.approx({k: v for k, v in full.items() if k != "roc_auc"})


def test_few_distinct_scores_draw_the_resample_over_kinds_the_same_bootstrap():
    """4,000 rows of 11 distinct scores are at most 44 (score, truth, prediction) kinds: a resample is
    drawn as each kind's count (multinomial), and a count vector over the kinds gives the metrics that
    the same counts placed on rows of those kinds give; drawn so, bootstrap accuracy's spread is the
    binomial one, √(acc (1 - acc) / n). Continuous scores draw rows."""
    from auditor.checks.performance import _BinaryResamples, _binary_bootstrap

    rng = np.random.default_rng(3)
    y = rng.random(4000) < 0.3
    p = np.round(np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1), 1)
    pred = p >= 0.5
    resampled, draw = _binary_bootstrap(y, p, pred, with_auc=True, rng=np.random.default_rng(0))
    counts = draw()
    assert len(counts) <= 44 and counts.sum() == 4000
    rows = _BinaryResamples(y, p, pred)
    # one row of each kind (kinds sorted by score, truth, prediction) carries that kind's count
    key = np.unique(p, return_inverse=True)[1] * 4 + 2 * y + pred
    first = {int(k): int(np.flatnonzero(key == k)[0]) for k in np.unique(key)}
    weights = np.zeros(4000)
    for i, k in enumerate(sorted(first)):
        weights[first[k]] = counts[i]
    assert resampled(counts) == pytest.approx(rows(weights), rel=1e-12, abs=1e-12)
    acc = np.mean(y == pred)
    spread = np.std([resampled(draw())["accuracy"] for _ in range(400)])
    assert spread == pytest.approx(np.sqrt(acc * (1 - acc) / 4000), rel=0.15)
    continuous = rng.random(4000)
    _, draw_rows = _binary_bootstrap(y, continuous, continuous >= 0.5, with_auc=False, rng=np.random.default_rng(0))
    assert len(draw_rows()) == 4000  # one weight per row


def test_a_multiclass_bootstrap_without_auc_draws_over_kinds_the_same_bootstrap():
    """Without ROC AUC in the resamples, a 3-class row counts through its (truth, prediction, Brier
    term): 3,000 rows of 6 distinct probability rows hold at most 54 kinds, one row stands for each,
    and the metrics of a count vector over them equal those of the same counts spread over every row
    of each kind; drawn so, accuracy's spread is binomial. With AUC (no DeLong interval) every row is
    drawn."""
    from auditor.checks.performance import _multiclass_draws, _multiclass_metrics

    rng = np.random.default_rng(4)
    truth = rng.integers(0, 3, 3000)
    table = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6], [0.4, 0.4, 0.2], [0.3, 0.2, 0.5], [0.5, 0.1, 0.4]])
    proba = table[(truth + rng.integers(0, 4, 3000)) % 6]
    pred = proba.argmax(axis=1)
    no_auc = np.zeros((0, 3000), dtype=np.int64)
    rows, draw = _multiclass_draws(truth, proba, pred, with_auc=False, rng=np.random.default_rng(0))
    counts = draw()
    assert len(rows) <= 54 and counts.sum() == 3000
    kind = np.unique(np.sum((proba - np.eye(3)[truth]) ** 2, axis=1), return_inverse=True)[1] * 9 + truth * 3 + pred
    spread_out = np.zeros(3000)
    for r, c in zip(rows, counts):  # the kind's count shared evenly over its rows
        members = np.flatnonzero(kind == kind[r])
        spread_out[members] = c / len(members)
    got = _multiclass_metrics(truth[rows], proba[rows], pred[rows], None, counts, no_auc[:, :len(rows)])
    want = _multiclass_metrics(truth, proba, pred, None, spread_out, no_auc)
    for m in ("accuracy", "balanced_accuracy", "f1_macro", "brier"):
        assert got[m] == pytest.approx(want[m], rel=1e-12)
    acc = np.mean(truth == pred)
    spread = np.std([_multiclass_metrics(truth[rows], proba[rows], pred[rows], None, draw(), no_auc[:, :len(rows)])["accuracy"]
                     for _ in range(400)])
    assert spread == pytest.approx(np.sqrt(acc * (1 - acc) / 3000), rel=0.15)
    # with ROC AUC in the resamples a row counts through its probabilities too: one row per distinct
    # (probabilities, truth, prediction), 6 probability rows x 3 classes at most, drawn over as kinds
    with_auc = _multiclass_draws(truth, proba, pred, with_auc=True, rng=np.random.default_rng(0))[0]
    assert len(with_auc) == len(np.unique(np.column_stack([proba, truth, pred]), axis=0)) <= 18


def _completeness(card_path):
    ctx = AuditContext(card=load_model_card(card_path), data=None, model=None, seed=0)
    return CardCompleteness(CardCompletenessParams()).run(ctx)


@pytest.mark.parametrize("old, new, missing", [
    (None, None, []),
    ("## Limitations\n\nSynthetic data only.", "## Limitations\n\n[More Information Needed]", ["limitations"]),
    ("## Intended use\n\nExercising", "## Intended use\n\n[More Information Needed] Exercising", ["intended use"]),
    ("license: apache-2.0", "license: '[More Information Needed]'", ["license"]),
    ("## Evaluation data\n\n300 synthetic rows from the same generator.\n", "", ["evaluation data"]),
], ids=["complete", "limitations-placeholder", "intended-use-placeholder", "license-placeholder",
        "evaluation-data-absent"])
def test_card_completeness(tmp_path, card_writer, old, new, missing):
    path = card_writer(tmp_path)
    if old is not None:
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
    out = _completeness(path)
    n = 12
    assert out.measurements == {"completeness": (n - len(missing)) / n, "missing_fields": float(len(missing))}
    table = out.evidence[0]
    assert [row[0] for row in table.rows if row[1] == "missing"] == missing
    assert len(table.rows) == n
    assert out.key_figure == f"{n - len(missing)}/{n} fields"
    if missing:
        assert out.summary.endswith(f"Missing: {', '.join(missing)}.")


def test_card_completeness_names_where_each_field_is_found(tmp_path, card_writer):
    rows = {row[0]: row[2] for row in _completeness(card_writer(tmp_path)).evidence[0].rows}
    assert rows["license"] == "front matter: license"
    assert rows["name"] == "front matter: model-index"
    assert rows["limitations"] == "section: limitations"
    assert rows["owner or contact"] == "section: developed by"


# --- SHAP, permutation importance, explained rows -------------------------------------------------


def test_shap_on_a_bare_logistic_regression_is_exact(linear_ctx, artefacts):
    ctx = linear_ctx
    attr = ctx.attribution("shap", 12, {"background_size": 50})
    assert attr.params["algorithm"] == "linear"
    assert attr.output_space == "log-odds"
    est = artefacts.linear_estimator
    coef, intercept = est.coef_[0], est.intercept_[0]
    background = ctx.background(50).to_numpy(float)
    X = ctx.data.frame.iloc[attr.row_ids].to_numpy(float)
    toward_yes = coef * (X - background.mean(axis=0))
    sign = np.where(attr.target == 1, 1.0, -1.0)
    assert set(attr.target) == {0, 1}, "both predicted classes should be explained"
    np.testing.assert_allclose(attr.matrix(), toward_yes * sign[:, None], rtol=0, atol=1e-8)
    # explaining class 0 flips the sign of every attribution
    class0 = attr.target == 0
    np.testing.assert_allclose(attr.matrix()[class0], -toward_yes[class0], rtol=0, atol=1e-8)
    # efficiency in log-odds: base + sum(phi) = the explained class's log-odds
    logit_yes = X @ coef + intercept
    np.testing.assert_allclose(attr.outputs, logit_yes * sign, rtol=0, atol=1e-8)
    np.testing.assert_allclose(attr.base_values + attr.matrix().sum(axis=1), attr.outputs, rtol=0, atol=1e-8)


def test_shap_efficiency_holds_for_the_pipeline(pipeline_ctx):
    attr = pipeline_ctx.attribution("shap", 8, {"background_size": 20, "permutations": 2})
    assert attr.params["algorithm"] == "permutation"
    assert attr.output_space == "probability"
    proba = pipeline_ctx.predict_proba_rows(attr.row_ids)
    np.testing.assert_allclose(attr.outputs, proba[np.arange(len(attr)), attr.target], rtol=0, atol=1e-12)
    np.testing.assert_allclose(attr.base_values + attr.matrix().sum(axis=1), attr.outputs, rtol=0, atol=1e-6)
    assert attr.cost["instances"] == 8 and attr.cost["requests"] > 0


def test_attributions_are_computed_once_and_shared(pipeline_ctx):
    big = pipeline_ctx.attribution("shap", 6, {"background_size": 20, "permutations": 2})
    requests = pipeline_ctx.model.stats.requests
    small = pipeline_ctx.attribution("shap", 3, {"background_size": 20, "permutations": 2})
    assert pipeline_ctx.model.stats.requests == requests  # no model call: a prefix of the cached run
    np.testing.assert_array_equal(small.row_ids, big.row_ids[:3])
    np.testing.assert_array_equal(small.matrix(), big.matrix()[:3])
    assert pipeline_ctx.attribution("shap", 6, {"background_size": 20, "permutations": 2}) is big


@pytest.mark.parametrize("scoring", SCORINGS)
def test_permutation_importance_of_an_ignored_feature_is_zero(linear_ctx, artefacts, scoring):
    from sklearn.base import clone

    frame = artefacts.frame
    est = clone(artefacts.linear_estimator).fit(frame[["x1", "x2", "x3"]].to_numpy(), frame["label"])
    est.coef_[0, 2] = 0.0  # the model ignores x3
    ctx = AuditContext(card=linear_ctx.card, data=linear_ctx.data, model=TabularModel(est, ["x1", "x2", "x3"]), seed=5)
    perm = permutation_importance(ctx, n_repeats=3, scoring=scoring)
    assert perm.features == ["x1", "x2", "x3"]
    assert perm.drops.shape == (3, 3)
    assert (perm.drops[2] == 0.0).all()
    low, high = perm.ci()
    assert low[2] == high[2] == 0.0
    if scoring != "accuracy":
        assert (perm.drops[0] > 0).all()  # x1 drives the label


def test_permutation_importance_in_chunks_gives_the_same_drops(linear_ctx, monkeypatch):
    """The shuffled copies were all built before one prediction: memory grew with features² × rows
    (8.1 GB for 124 features of 5,000 rows). In chunks of at most MAX_CHUNK_CELLS cells, the same
    shuffles in the same order give the same drops, and the steps are reported."""
    from auditor.explain import permutation_importance as module

    whole = module._permutation_importance(linear_ctx, 3, "roc_auc", 60)
    monkeypatch.setattr(module, "MAX_CHUNK_CELLS", 2 * 60 * 3)  # two copies of 60 rows x 3 features per chunk
    steps = []
    monkeypatch.setattr(linear_ctx, "on_step", lambda label, done, total: steps.append((done, total)))
    chunked = module._permutation_importance(linear_ctx, 3, "roc_auc", 60)
    np.testing.assert_array_equal(chunked.drops, whole.drops)
    assert steps == [(0, 9), (2, 9), (4, 9), (6, 9), (8, 9), (9, 9)]


def test_permutation_importance_samples_large_sets_and_is_computed_once(linear_ctx):
    from auditor.checks.global_importance import GlobalImportanceParams
    from auditor.checks.partial_dependence import PartialDependenceParams
    from auditor.explain.permutation_importance import DEFAULT_MAX_ROWS

    assert GlobalImportanceParams().max_rows == PartialDependenceParams().max_rows == DEFAULT_MAX_ROWS
    ctx = linear_ctx
    n = len(ctx.data)
    before = ctx.model.stats.requests
    small = permutation_importance(ctx, n_repeats=2, scoring="roc_auc", max_rows=50)
    # 50 sampled rows: their predictions, then 3 features x 2 shuffles of them
    assert ctx.model.stats.requests - before == 50 + 3 * 2 * 50
    again = ctx.model.stats.requests
    assert permutation_importance(ctx, n_repeats=2, scoring="roc_auc", max_rows=50) is small
    assert ctx.model.stats.requests == again  # the second check reads it: no model input asked again
    whole = permutation_importance(ctx, n_repeats=2, scoring="roc_auc", max_rows=None)
    assert ctx.model.stats.requests - again == n + 3 * 2 * n and whole is not small


def test_explained_rows_are_prefixes_and_start_with_misclassified_rows(pipeline_ctx):
    ctx = pipeline_ctx
    order = ctx.explained_rows(len(ctx.data))
    assert sorted(order) == list(range(len(ctx.data)))  # a permutation of all rows
    for n, m in [(1, 5), (5, 40), (40, 300)]:
        np.testing.assert_array_equal(ctx.explained_rows(n), ctx.explained_rows(m)[:n])
    proba = ctx.proba()
    wrong = set(np.flatnonzero(ctx.predicted_index(proba) != ctx.label_index()))
    assert 3 <= len(wrong) < 100
    # misclassified, borderline and confident rows interleave: every third row is misclassified until
    # they run out, so the first 3 * len(wrong) explained rows cover every misclassified row
    first = ctx.explained_rows(3 * len(wrong))
    assert set(first[::3]) == wrong
    assert first[0] in wrong
    confidence = proba.max(axis=1)
    assert confidence[first[1]] < confidence[first[2]]  # borderline before confident


@pytest.mark.parametrize("check", ["global_importance", "partial_dependence"])
def test_a_scoring_is_validated_where_the_policy_names_it(check):
    from pydantic import ValidationError

    from auditor.checks import CHECK_REGISTRY

    params = CHECK_REGISTRY[check].Params
    assert params(scoring="neg_mae").scoring == "neg_mae" and params().scoring is None
    with pytest.raises(ValidationError, match="unknown scoring 'f2'; known: roc_auc, accuracy"):
        params(scoring="f2")


def test_global_importance_says_what_unrelated_rankings_of_its_features_reach(linear_ctx):
    """Three features: two random rankings agree exactly 1 time in 6, so even ρ = 1 is reached by
    chance in more than 5% of draws (the 95% level is 1.00); four: 0.80 (4 of the 24 orders reach it,
    1 reaches more). Shown for the reader, not a gate's floor."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.metrics.chance import rank_correlation_chance

    cls = CHECK_REGISTRY["global_importance"]
    out = cls(cls.Params(n_repeats=2, n_instances=20)).run(linear_ctx)
    chart = next(e for e in out.evidence if e.title.startswith("Mean |SHAP|"))
    assert "two unrelated rankings of these 3 features reach a Spearman correlation of 1.00 or more" in chart.caption
    assert rank_correlation_chance([4]) == pytest.approx(0.8)
    assert all(s.chance_p95 is None for s in out.sample_sizes)  # informational: the gate catches disagreement


def _logistic_context(tmp_path, card_writer, csv_writer, rng, weights, n_train: int, n_eval: int) -> AuditContext:
    """An audit context of a logistic regression fitted on ``n_train`` rows whose true logit is
    ``weights · x`` (independent standard normal features f0, f1, ...), on ``n_eval`` fresh rows."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from auditor.inputs.dataset import load_dataset
    from auditor.models.tabular import load_tabular_model

    cols = [f"f{i}" for i in range(len(weights))]

    def draw(n):
        X = rng.normal(size=(n, len(weights)))
        y = np.where(rng.random(n) < 1 / (1 + np.exp(-X @ weights)), "yes", "no")
        return pd.DataFrame(X.round(5), columns=cols).assign(label=y)

    train, evaluation = draw(n_train), draw(n_eval)
    sio.dump(LogisticRegression().fit(train[cols].to_numpy(), train["label"]), tmp_path / "lr.skops")
    card = card_writer(tmp_path / "card", artefact=tmp_path / "lr.skops", ignore_columns=[],
                       features=[{"name": c, "type": "numeric"} for c in cols])
    loaded = load_model_card(card)
    data = load_dataset(csv_writer(tmp_path, evaluation), loaded)
    return AuditContext(card=loaded, data=data, model=load_tabular_model(loaded, data.feature_names), seed=0)


def test_global_importance_passes_a_sound_model_whose_other_features_do_nothing(tmp_path, card_writer, csv_writer):
    """A logistic regression on 2 informative features of 13 (the others independent noise): both
    methods agree on what drives it, x0 then x1. Over all 13 features the plain Spearman ρ is 0.08
    here, below the default's 0.5 (and below it in 65% of 60 such draws): the order of 11 features
    without effect is noise in a permutation importance. Weighted by the features' shares of the
    importance it is 0.65 (0% of those draws below 0.5); with pairs the two order oppositely tied in a
    method whose 95% intervals of them overlap (noise features whose order neither establishes), 0.87."""
    from scipy.stats import spearmanr

    from auditor.checks import CHECK_REGISTRY
    from auditor.metrics.statistics import importance_weighted_rank_correlation

    weights = np.array([1.5, 0.5] + [0.0] * 11)
    ctx = _logistic_context(tmp_path, card_writer, csv_writer, np.random.default_rng(0), weights, 2000, 300)
    ctx.explainer_params.update({"shap": {"background_size": 50, "permutations": 1}})
    cls = CHECK_REGISTRY["global_importance"]
    out = cls(cls.Params(n_repeats=5, n_instances=100, top_k=10)).run(ctx)
    perm = permutation_importance(ctx, n_repeats=5, scoring="roc_auc", max_rows=10_000)
    shap = np.abs(ctx.attribution("shap", 100).matrix()).mean(axis=0)
    assert list(np.argsort(-perm.mean)[:2]) == list(np.argsort(-shap)[:2]) == [0, 1]  # they agree on the drivers
    assert spearmanr(perm.mean, shap).statistic == pytest.approx(0.077, abs=0.001)  # the plain ρ, noise-led
    # 0.646 before the intervals: the opposite orders it counted were of features within an interval
    assert out.measurements["rank_correlation"] == pytest.approx(0.873, abs=0.001)
    assert importance_weighted_rank_correlation(perm.mean, shap) == pytest.approx(0.646, abs=0.001)
    assert "Unweighted, the two rankings' Spearman correlation is 0.08" in next(
        e.caption for e in out.evidence if e.title.startswith("Mean |SHAP|"))


def test_global_importance_passes_a_sound_model_whose_two_drivers_matter_equally(tmp_path, card_writer, csv_writer):
    """A logistic regression with true logit 1.5·x0 + 1.5·x1 (four features without effect, 600
    rows): which of the two drivers comes first is a coin toss for each method. Here the two order
    them oppositely, each within its own 95% interval, and the weighted ρ read -0.72 and warned (47% of
    30 such draws below the default's 0.5); the pair is a tie in a method that cannot establish its
    order, and ρ is 1.00 (none of the 30 below 0.5)."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.checks.global_importance import _mean_interval
    from auditor.metrics.statistics import importance_weighted_rank_correlation

    weights = np.array([1.5, 1.5, 0.0, 0.0, 0.0, 0.0])
    ctx = _logistic_context(tmp_path, card_writer, csv_writer, np.random.default_rng(1004), weights, 1500, 600)
    cls = CHECK_REGISTRY["global_importance"]
    out = cls(cls.Params(n_repeats=5, n_instances=100, top_k=10)).run(ctx)
    perm = permutation_importance(ctx, n_repeats=5, scoring="roc_auc", max_rows=10_000)
    magnitudes = np.abs(ctx.attribution("shap", 100).matrix())
    shap = magnitudes.mean(axis=0)
    (p_low, p_high), (s_low, s_high) = perm.ci(), _mean_interval(magnitudes)
    assert {*np.argsort(-perm.mean)[:2]} == {*np.argsort(-shap)[:2]} == {0, 1}  # the same two drivers
    assert np.argmax(perm.mean) != np.argmax(shap)  # in opposite orders
    assert p_low[:2].max() <= p_high[:2].min() and s_low[:2].max() <= s_high[:2].min()  # each within its intervals
    assert importance_weighted_rank_correlation(perm.mean, shap) == pytest.approx(-0.716, abs=0.001)
    assert out.measurements["rank_correlation"] == pytest.approx(0.996, abs=0.001)
    assert "ordered oppositely within one method's 95% intervals counted as tied" in out.summary


def test_global_importance_s_correlation_rests_on_the_explained_rows_too(linear_ctx):
    """n_instances: 2 — mean |SHAP| of two rows beside a permutation importance of 300: the rank
    correlation rests on 2 instances, fewer than the 5 a gate judges from, so the gate is not met
    (it had been judged as resting on the 300 rows)."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.policy.schema import CheckSpec

    cls = CHECK_REGISTRY["global_importance"]
    spec = CheckSpec(check="global_importance", thresholds=[{"measurement": "rank_correlation", "min": -1.0,
                                                             "severity": "warn"}])
    result = run_check(PlannedCheck(spec=spec, params=cls.Params(n_repeats=2, n_instances=2)), linear_ctx)
    sizes = {s.measurement: s.n for s in result.sample_sizes}
    assert sizes == {"rank_correlation": 2, "top_feature_importance": 300, "baseline_score": 300}
    gate = result.thresholds[0]
    assert gate.n == 2 and not gate.passed and "needs at least 5" in gate.unreachable
    assert result.status.value == "warn"


def test_global_importance_under_roc_auc_is_not_judged_on_two_positives(artefacts, linear_card, csv_writer, tmp_path):
    """40 evaluation rows holding 2 'yes': every shuffle's drop in ROC AUC is where those 2 rows rank
    among the 38 others, so the permutation importance ranks the features by 2 rows. The rank
    correlation had passed as resting on 40 rows (HMDA, 20 rows with 1 denial: rho 0.80, PASS); it is
    not judged, either way, below 5 rows of the smaller class, and the gate says why."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck, run_check
    from auditor.inputs.dataset import load_dataset
    from auditor.models.tabular import load_tabular_model
    from auditor.policy.schema import CheckSpec

    frame = artefacts.frame
    few = pd.concat([frame[frame["label"] == "yes"].iloc[:2], frame[frame["label"] == "no"].iloc[:38]])
    card = load_model_card(linear_card)
    data = load_dataset(csv_writer(tmp_path / "few", few), card)
    ctx = AuditContext(card=card, data=data, model=load_tabular_model(card, data.feature_names), seed=3)
    cls = CHECK_REGISTRY["global_importance"]
    spec = CheckSpec(check="global_importance", thresholds=[{"measurement": "rank_correlation", "min": -1.0,
                                                             "severity": "warn"}])
    result = run_check(PlannedCheck(spec=spec, params=cls.Params(n_repeats=2, n_instances=40)), ctx)
    gate = result.thresholds[0]
    assert gate.n == 40 and not gate.passed
    assert "on 2 positives and 38 negatives" in gate.unreachable and "fewer than the 5" in gate.unreachable
    assert result.status.value == "warn"


def test_a_chart_of_many_bars_draws_the_largest_and_says_so():
    """124 features' attribution shares (and a categorical's 60 levels) were drawn as one chart of
    124 bars, shrunk to a strip of 1-pixel bars with overlapping labels. A chart draws the MAX_BARS
    largest, in their order, plus a sensitive feature below them, and its caption says what it left out."""
    from auditor.checks.base import MAX_BARS, most_bars

    labels = [f"f{i:03d}" for i in range(124)]
    values = [float(i % 50) for i in range(124)]  # f049, f099 largest (49), then f048, f098 ...
    shown, drawn, said = most_bars(labels, values, values, what="features", largest="largest shares", keep=("f000",))
    assert len(shown) == MAX_BARS + 1 and shown[0] == "f000" and shown == sorted(shown)
    assert {"f049", "f099", "f038", "f088", "f037"} <= set(shown) and "f087" not in shown  # a tie: the first
    assert drawn == [values[labels.index(s)] for s in shown]
    assert said == " Drawn: the 25 features with the largest shares of 124, and 1 more that the caption names."
    assert most_bars(labels[:MAX_BARS], values[:MAX_BARS], values[:MAX_BARS], what="levels", largest="x") == (
        labels[:MAX_BARS], values[:MAX_BARS], "")


def test_a_confusion_matrix_of_many_long_class_names_numbers_its_columns_and_splits_beyond_twelve():
    """12 classes named by 90-character labels headed 13 columns with the names: the A4 page held 8 of
    them, the diagonal counts of classes 08-11 never shown. Beyond 4 classes the columns carry each
    class's index, the rows its index and name; beyond 12, one table per 12 predicted classes."""
    from auditor.checks.performance import _confusion_tables

    names = [f"Product family {i:02d}: a long descriptive class label for reviewers" for i in range(12)]
    cm = np.diag(np.arange(1, 13)) + np.eye(12, k=1, dtype=int)
    (table,) = _confusion_tables(names, cm)
    assert table.title == "Confusion matrix (rows: true class, columns: predicted class; n = 89 rows)"
    assert table.columns == ["true \\ predicted", *[str(i) for i in range(12)]]
    assert table.rows[0] == ["0 · Product family 00: a long descriptive class label for reviewers", 1, 1, *[0] * 10]
    assert table.rows[11][0].startswith("11 · Product family 11") and table.rows[11][12] == 12
    assert table.caption == ("Each column is the predicted class of the row with its number (the class's index); "
                             "the diagonal counts the rows predicted correctly.")
    # three or four classes, or names of a few characters, keep the names atop the columns
    assert _confusion_tables(names[:4], cm[:4, :4])[0].columns == ["true \\ predicted", *names[:4]]
    digits = [str(i) for i in range(30)]
    panels = _confusion_tables(digits, np.eye(30, dtype=int))
    assert [t.columns[1:] for t in panels] == [digits[:12], digits[12:24], digits[24:]]
    assert [t.title for t in panels][2] == ("Confusion matrix (rows: true class, columns: predicted class; n = 30 rows; "
                                            "predicted classes 24–29 of 0–29)")
    assert all(len(r) == len(t.columns) for t in panels for r in t.rows) and panels[2].rows[29] == ["29", *[0] * 5, 1]
