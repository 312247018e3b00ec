"""explanation_clustering on planted cohorts: two populations of rows, the model relying on features
a1–a2 in one and b1–b2 in the other (the other pair is at its mean there). The attribution cohorts
recover the populations; label noise planted in one population, or unfaithful explanations planted
in it, is flagged by the built-in policy's gates, and the same model on clean labels passes them."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score

from auditor.checks import CHECK_REGISTRY
from auditor.engine.runner import PlannedCheck, run_check as run_planned
from auditor.policy import builtin_policies
from auditor.policy.schema import CheckSpec
from auditor.results import Status, number_text

from .conftest import frame_context
from .helpers import not_judged, run_check

FEATURES = ["a1", "a2", "b1", "b2", "n1", "n2"]
N = 200


class TwoPopulations:
    """A fixed logistic model over all four signal features (n1, n2 unused)."""

    classes_ = np.array(["no", "yes"])

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        p = 1 / (1 + np.exp(-2.0 * X[:, :4].sum(axis=1)))
        return np.column_stack([1 - p, p])


def planted_context(root, *, flip: float, model=None):
    """(context, population B mask by row): odd rows are population B (a1 = a2 = 0), even rows A
    (b1 = b2 = 0); the two signal features of a population are correlated, labels drawn from the
    model's probabilities, then a share ``flip`` of B's labels flipped."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, len(FEATURES)))
    X[:, 1] = X[:, 0] + 0.3 * X[:, 1]
    X[:, 3] = X[:, 2] + 0.3 * X[:, 3]
    in_b = np.arange(N) % 2 == 1
    X[in_b, 0:2] = 0.0
    X[~in_b, 2:4] = 0.0
    y = rng.random(N) < TwoPopulations().predict_proba(X)[:, 1]
    y = np.where(in_b & (rng.random(N) < flip), ~y, y)
    frame = pd.DataFrame(X.round(6), columns=FEATURES)
    frame["label"] = np.where(y, "yes", "no")
    ctx = frame_context(root, frame, model or TwoPopulations(), target="label",
                        explainers={"shap": {"background_size": 50}}, name="two-populations", positive_class="yes")
    return ctx, in_b


def default_spec() -> dict:
    raw = yaml.safe_load(builtin_policies()["default"].read_text(encoding="utf-8"))
    return next(c for c in raw["checks"] if c.get("check") == "explanation_clustering")


def judged(ctx, **params):
    """The check run through the runner with the default policy's thresholds and ``params`` over its own."""
    spec = default_spec()
    raw = {**spec.get("params", {}), "n_instances": N, "views": ["attributions", "predictions"], **params}
    planned = PlannedCheck(spec=CheckSpec(check="explanation_clustering", params=raw, thresholds=spec["thresholds"]),
                           params=CHECK_REGISTRY["explanation_clustering"].Params(**raw))
    return run_planned(planned, ctx)


def cohorts(ctx, result) -> tuple[np.ndarray, np.ndarray]:
    """(rows, attribution cohort per row) from the check's per-instance file."""
    text = ctx.files["evidence/explanation_clustering.csv"].decode()
    table = list(csv.DictReader(io.StringIO(text)))
    return np.array([int(r["row"]) for r in table]), np.array([int(r["cohort_attributions"]) for r in table])


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return planted_context(tmp_path_factory.mktemp("clusters_clean"), flip=0.0)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    return planted_context(tmp_path_factory.mktemp("clusters_noisy"), flip=0.5)


def test_attribution_cohorts_recover_the_planted_populations(clean):
    ctx, in_b = clean
    result = judged(ctx)
    rows, labels = cohorts(ctx, result)
    assert len(rows) == N and result.measurements["attributions_k"] == 2
    assert adjusted_rand_score(in_b[rows], labels) >= 0.9
    # each cohort is defined by its population's features
    table = next(e for e in result.evidence if e.title.startswith("Cohorts: what defines"))
    defining = {r[1]: r[3] for r in table.rows if r[0] == "attributions"}
    assert {defining["C1"].split(" ")[0], defining["C2"].split(" ")[0]} <= {"a1", "a2", "b1", "b2"}
    assert {d.split(" ")[0][0] for d in defining.values()} == {"a", "b"}
    # the model's predictions do not separate the populations: clustering by f(x) is unrelated
    assert result.measurements["predictions_ari_with_attributions"] < 0.2
    # a tabular model's cohorts are described by features, not "(words)", its outputs as class
    # probabilities (the credit report read "Defining features (words)" and "class probabilities,
    # or a regressor's predicted value")
    assert table.columns[3] == "defining features (share lift)" and table.caption.startswith("Defining features: ")
    assert "{" not in table.caption and "4 random orders" in table.caption and "top-5 agreement" in table.caption
    heatmap = next(e for e in result.evidence if e.title.startswith("What each attribution cohort"))
    assert heatmap.caption.startswith("Columns: the defining features of each cohort")
    method = next(e for e in result.evidence if e.title == "How the instances were clustered")
    assert {r[0]: r[1] for r in method.rows} == {
        "attributions": "|attribution| of each feature as a share of the instance's total",
        "predictions": "the model's outputs f(x) (the class probabilities)"}
    assert not any("word" in str(v) for e in (table, method) for v in (e.caption, *e.columns, *e.rows))
    assert "word" not in heatmap.caption
    # "k: silhouette" pairs stay on one line (no-break space after the colon), and the caption of a
    # re-seeded explainer says nothing of empty cells
    tried = {r[0]: r[4] for r in method.rows}["attributions"]
    assert re.fullmatch(r"\d+:\u00a0\u2212?\d\.\d{3}(, \d+:\u00a0\u2212?\d\.\d{3})*", tried), tried
    assert "none here" not in table.caption
    # the least faithful cohort is one of the judged ones, and the overall median is over every explained
    # instance (the decoder report read 'least faithful cohort ... 0.595 (overall 0.568)', a smaller
    # cohort shown beside it being less faithful still)
    m = result.measurements
    assert (f"the least faithful judged cohort's explanations have a faithfulness gap of "
            f"{number_text(m['attributions_worst_faithfulness_gap'], 3)} (all {N} explained: "
            f"{number_text(m['faithfulness_gap'], 3)})") \
        in result.summary


def test_a_sound_model_without_a_weak_cohort_passes(clean):
    result = judged(clean[0])
    assert result.status == Status.PASS, [t for t in result.thresholds if not t.passed]
    assert result.measurements["attributions_worst_accuracy_gap_ci_low"] < 0.0
    # the explanations beat a random ranking in every cohort
    assert result.measurements["attributions_worst_faithfulness_gap_ci_low"] > 0.0


def test_a_cohort_with_planted_label_noise_is_flagged(noisy):
    ctx, in_b = noisy
    result = judged(ctx)
    assert result.status == Status.WARN
    failed = {t.measurement for t in result.thresholds if not t.passed}
    assert failed == {"attributions_worst_accuracy_gap_ci_low"}
    assert result.measurements["attributions_worst_accuracy_gap"] > 0.3
    # the flagged cohort is population B: the cohort table's worst row is the one made of B's rows
    rows, labels = cohorts(ctx, result)
    table = next(e for e in result.evidence if e.title == "Cohorts: accuracy against the rest")
    worst = max((r for r in table.rows if r[0] == "attributions"), key=lambda r: r[8])
    members = rows[labels == int(worst[1][1:])]
    assert in_b[members].mean() > 0.95
    # clustering by f(x) alone does not find it
    assert result.measurements["predictions_worst_accuracy_gap_ci_low"] < 0.1


def test_cohorts_too_small_to_judge_are_a_warning_not_a_pass(clean):
    result = judged(clean[0], min_cohort_size=150)  # the default policy's gates warn
    assert result.status == Status.WARN and not_judged(result)
    assert result.measurements["attributions_cohorts_gated"] == 0


def test_sample_sizes_and_declared_measurements(clean):
    out, p = run_check(clean[0], "explanation_clustering", n_instances=40, k_max=3)
    sizes = {s.measurement: s.n for s in out.sample_sizes}
    assert sizes["n"] == 40 and sizes["attributions_k"] == 40
    assert 0 < sizes["attributions_worst_accuracy_gap"] <= 40
    assert out.measurements["embeddings_k"] is None  # a tabular model has no embeddings: the view is empty
    assert any("embeddings" in n for n in out.notes)


@pytest.mark.parametrize("bad", [{"k_min": 5, "k_max": 3}, {"views": ["attributions", "attributions"]},
                                 {"views": ["pixels"]}, {"explainer": "nonsense"}, {"k_max": 21}])
def test_invalid_parameters_are_rejected_at_load(bad):
    with pytest.raises(ValueError):
        CHECK_REGISTRY["explanation_clustering"].Params(**bad)


def test_text_cohorts_are_defined_by_the_planted_sentiment_words(text):
    """The tiny BERT's sentences carry a planted "good" or "bad": the attribution cohorts are
    defined by those words, and the embedding view runs on a model that has embeddings."""
    out, _ = run_check(text.ctx, "explanation_clustering", explainer="integrated_gradients", n_instances=20,
                       k_max=3, min_cohort_size=5, n_bootstrap=200)
    table = next(e for e in out.evidence if e.title.startswith("Cohorts: what defines"))
    defining = " ".join(r[3] for r in table.rows if r[0] == "attributions")
    assert "good" in defining and "bad" in defining
    # words, where the report said features
    assert table.columns[3] == "defining words (share lift)" and table.caption.startswith("Defining words: ")
    heatmap = next(e for e in out.evidence if e.title.startswith("What each attribution cohort"))
    assert "the defining words of each cohort" in heatmap.caption and "on that word;" in heatmap.caption
    method = next(e for e in out.evidence if e.title == "How the instances were clustered")
    assert method.rows[0][1] == "|attribution| of each word as a share of the instance's total"
    # the silhouettes say the instances they rest on
    assert method.caption.startswith("n = 20 explained instances in each view. Seeded k-means (")
    assert out.measurements["embeddings_k"] is not None and out.measurements["n"] == 20
    assert out.measurements["stability"] is None  # integrated gradients is deterministic: no seed stability
    # the table says why its seed-stability cells are empty, and how subgroup_fairness shows the same case
    assert ("Seed stability: top-5 agreement with a re-seeded run; none here (—): integrated_gradients is "
            "deterministic, so no re-seeded run was made (subgroup_fairness counts a deterministic explainer's "
            "stability as 1).") in table.caption
    assert all(r[7] is None for r in table.rows)


def test_accuracy_is_reweighted_from_the_explained_selection_to_the_evaluation_set(clean):
    """The explained order over-samples misclassified rows; weighting each correct and each
    misclassified explained row by its group's inverse sampling rate recovers the evaluation set's
    accuracy exactly."""
    ctx = clean[0]
    out, _ = run_check(ctx, "explanation_clustering", n_instances=60, views=["attributions"], min_cohort_size=10)
    correct = ctx.predicted_index() == ctx.label_index()
    explained = correct[ctx.explained_rows(60)]
    assert explained.mean() < correct.mean() - 0.05  # the selection's own accuracy is biased low
    assert out.measurements["accuracy"] == pytest.approx(correct.mean())


def test_a_bad_cohort_parameter_is_a_located_policy_error(tmp_path):
    from auditor.errors import PolicyError
    from auditor.policy.load import load_policy

    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "name": "p", "version": "1", "checks": [
        {"check": "explanation_clustering", "params": {"k_min": 5, "k_max": 3}}]}), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    assert "policy.yaml" in str(err.value) and "checks[0].params" in str(err.value) and "k_min (5)" in str(err.value)


def test_a_cohort_with_unfaithful_explanations_is_flagged(tmp_path_factory):
    """Planted unfaithful explanations: in population B the shared SHAP run is replaced by its own
    magnitudes in reverse order (the least important feature ranked first). The cohort they form
    fails the faithfulness gate; population A's explanations are untouched."""
    import dataclasses

    ctx, in_b = planted_context(tmp_path_factory.mktemp("clusters_unfaithful"), flip=0.0)
    attr = ctx.attribution("shap", N)
    values = []
    for v, row in zip(attr.values, attr.row_ids):
        if in_b[row]:
            reversed_ = np.empty_like(v)
            reversed_[np.argsort(np.abs(v), kind="stable")] = np.sort(np.abs(v))[::-1]
            values.append(reversed_)
        else:
            values.append(v)
    key = next(k for k in ctx._attributions if k[0] == "shap")  # the run every check shares
    ctx._attributions[key] = dataclasses.replace(attr, values=values)
    result = judged(ctx)
    failed = {t.measurement for t in result.thresholds if not t.passed}
    assert failed == {"attributions_worst_faithfulness_gap_ci_low"}
    assert result.measurements["attributions_worst_faithfulness_gap"] < 0
    assert result.measurements["attributions_faithfulness_shortfall"] > 0.1
    rows, labels = cohorts(ctx, result)
    table = next(e for e in result.evidence if e.title.startswith("Cohorts: what defines"))
    worst = min((r for r in table.rows if r[0] == "attributions"), key=lambda r: r[4])
    assert in_b[rows[labels == int(worst[1][1:])]].mean() > 0.95


def test_a_cohort_under_five_instances_cannot_be_gated():
    """A max bound on a shortfall's lower end passes whenever the cohort is tiny (its interval is wide):
    with min_cohort_size 2 a cohort of 3 had passed. The policy may not ask for fewer than 5."""
    from pydantic import ValidationError

    from auditor.checks.explanation_clustering import ClusteringParams

    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        ClusteringParams(min_cohort_size=4)
    assert ClusteringParams(min_cohort_size=5).min_cohort_size == 5


def test_a_one_instance_cohort_has_no_faithfulness_interval(clean):
    """The decoder report showed a cohort of 1 text with a median faithfulness gap of 0.388 and a 95%
    interval of 0.388–0.388: a bootstrap of one value. Such a cohort keeps its value and has no interval."""
    from auditor.checks.explanation_clustering import COHORT_METRICS

    ctx, _ = clean
    check = CHECK_REGISTRY["explanation_clustering"](CHECK_REGISTRY["explanation_clustering"].Params(n_bootstrap=100))
    labels = np.array([0] * 9 + [1])
    faith = np.linspace(0.1, 1.0, 10)
    shares = np.full((10, 2), 0.5)
    cohorts = check._cohorts(ctx, check.params, "attributions", labels, np.ones(10), np.ones(10), faith, None, shares,
                             ["a", "b"], COHORT_METRICS["classification"])
    one = cohorts[1]
    assert one["n"] == 1 and one["faith"] == pytest.approx(1.0)
    assert one["faith_lo"] is None and one["faith_hi"] is None and one["quality"][5:7] == [None, None]
    nine = cohorts[0]
    assert nine["faith_lo"] < nine["faith"] < nine["faith_hi"]  # a real cohort keeps its interval


def test_a_shortfall_bound_no_outcome_of_these_sizes_can_exceed_is_not_judged():
    """min_cohort_size 5 keeps a cohort of 5 gated, but against 1 other explained row even every
    cohort row wrong and the rest right gives a Newcombe low end of 0.095: the default gate
    ``attributions_worst_accuracy_gap_ci_low ≤ 0.1`` could not fail, and passed. The low end's ceiling
    is now recorded (the largest over the gated cohorts), and such a pass is not judged; 5 against 5
    (ceiling 0.386) is judged."""
    import itertools

    from auditor.checks.explanation_clustering import ClusteringParams, ExplanationClustering
    from auditor.metrics.cohorts import ACCURACY, newcombe_difference
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, with_sample_sizes

    for a, b in [(5, 1), (5, 2), (6, 3)]:  # the most extreme outcome is the highest low end, by brute force
        lows = [newcombe_difference(s_rest, b, s_cohort, a)[1] for s_rest, s_cohort in
                itertools.product(range(b + 1), range(a + 1))]
        assert ACCURACY.shortfall_ceiling(a, b, 0.95) == pytest.approx(max(lows))
    assert ACCURACY.shortfall_ceiling(5, 1, 0.95) == pytest.approx(0.0954, abs=1e-4)

    def gate(sizes, low):
        cohorts = [{"cohort": 0, "n": sizes[0], "gap": low + 0.2, "gap_lo": low, "faith": None, "n_faith": 0,
                    "stability": None},
                   {"cohort": 1, "n": sizes[1], "gap": None, "gap_lo": None, "faith": None, "n_faith": 0,
                    "stability": None}]
        measurements = {"faithfulness_gap": None}
        found = ExplanationClustering._worst(measurements, "attributions", cohorts[:1], cohorts,
                                             ClusteringParams(min_cohort_size=5), ACCURACY)
        [outcome] = with_sample_sizes(evaluate([Threshold(measurement="attributions_worst_accuracy_gap_ci_low",
                                                          max=0.1)], measurements), found)
        return outcome

    tiny = gate((5, 1), -0.5)
    assert not tiny.passed and tiny.n == 5
    assert "lower end can be at most 0.0954" in tiny.unreachable and "no result could fail it" in tiny.unreachable
    judged_pass, judged_fail = gate((5, 5), -0.5), gate((5, 5), 0.2)
    assert judged_pass.passed and judged_pass.unreachable is None
    assert not judged_fail.passed and judged_fail.unreachable is None


def test_the_worst_cohorts_shortfall_is_judged_on_simultaneous_intervals(clean):
    """The gate reads the largest of the k gated cohorts' lower ends, a cohort chosen after looking:
    each cohort's interval is at 1 - 0.05/k (Bonferroni), so some cohort's lower end above the bound
    by chance stays near 2.5%. With k = 3 the Newcombe interval of a shortfall of 12 of 40 wrong
    against 4 of 80 is the 1 - 0.05/3 one, wider than the plain 95% one; in the check, each gated
    cohort's shortfall interval is the one at its view's level."""
    from auditor.checks.explanation_clustering import shortfall_confidence
    from auditor.metrics.cohorts import newcombe_difference

    assert shortfall_confidence(3, 0.95) == pytest.approx(1 - 0.05 / 3)
    assert shortfall_confidence(0, 0.95) == shortfall_confidence(1, 0.95) == pytest.approx(0.95)  # none gated: as one
    plain = newcombe_difference(76, 80, 28, 40, 0.95)
    simultaneous = newcombe_difference(76, 80, 28, 40, shortfall_confidence(3, 0.95))
    assert simultaneous[1] < plain[1] < plain[2] < simultaneous[2]
    result = judged(clean[0])
    gated = int(result.measurements["attributions_cohorts_gated"])
    table = next(e for e in result.evidence if e.title == "Cohorts: accuracy against the rest")
    assert gated >= 2 and "simultaneous 95% CI low" in table.columns
    assert "each at 1 − 0.05/k, Bonferroni" in table.caption
    assert "simultaneous 95% CI low" in result.summary


def test_a_summary_with_one_judged_cohort_that_does_better_says_so():
    """With one cohort large enough to judge, and it the most accurate, the summary read "the weakest
    judged cohort's accuracy is -0.26 below the rest's"."""
    from auditor.checks.explanation_clustering import ClusteringParams, ExplanationClustering
    from auditor.metrics.cohorts import ACCURACY

    p = ClusteringParams()
    view = p.views[0]
    m = {"n": 100.0, "faithfulness_gap": 0.2, f"{view}_k": 4.0, f"{view}_silhouette": 0.3, f"{view}_cohorts_gated": 1.0,
         f"{view}_worst_{ACCURACY.gap}": -0.26, f"{view}_worst_{ACCURACY.gap}_ci_low": -0.4,
         f"{view}_worst_faithfulness_gap": 0.25}
    text, _ = ExplanationClustering._summary(m, {view: None}, p, ACCURACY)
    assert "the only judged cohort's accuracy is 0.26 above the rest's" in text
    assert "the only judged cohort's explanations have a faithfulness gap of 0.250" in text
    m[f"{view}_cohorts_gated"], m[f"{view}_worst_{ACCURACY.gap}"] = 3.0, 0.13
    text, _ = ExplanationClustering._summary(m, {view: None}, p, ACCURACY)
    assert "the weakest judged cohort's accuracy is 0.13 below the rest's" in text


class TinyEffects(TwoPopulations):
    """TwoPopulations with n1 and n2 moving the output a little: shares of about 0.01, whose
    difference between the cohorts is a lift above 0 and under 0.005."""

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        p = 1 / (1 + np.exp(-(2.0 * X[:, :4].sum(axis=1) + 0.05 * X[:, 4] + 0.05 * X[:, 5])))
        return np.column_stack([1 - p, p])


def test_the_heatmap_has_a_column_for_each_defining_feature_the_table_names_and_no_other(tmp_path):
    """The credit report's heatmap, captioned "the defining features of each cohort", had a column for
    all 13 features, Marital (a sensitive feature) among them, where the table named 12: a feature of
    a lift above 0 but under 0.005 ("+0.00") was drawn as defining a cohort and named by no row."""
    ctx, _ = planted_context(tmp_path, flip=0.0, model=TinyEffects())
    result = judged(ctx)
    table = next(e for e in result.evidence if e.title.startswith("Cohorts: what defines"))
    named = {part.rsplit(" (+", 1)[0] for r in table.rows if r[0] == "attributions" for part in r[3].split(", ")}
    heatmap = next(e for e in result.evidence if e.title.startswith("What each attribution cohort"))
    assert named and set(heatmap.col_labels) == named, (heatmap.col_labels, named)
