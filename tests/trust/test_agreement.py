"""explainer_agreement: §9 Case 5 by hand, through the check's own code path."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.checks.explainer_agreement import pair_agreement
from auditor.errors import CheckNotApplicable
from auditor.metrics.ranking import default_k
from auditor.explain import get_explainer
from auditor.explain.attribution import Attribution
from auditor.results import Heatmap

from .helpers import run_check

A = np.array([0.9, -0.5, 0.3, 0.1, 0.0])
B = np.array([0.8, 0.3, -0.6, 0.05, 0.01])


def test_case5_by_hand():
    got = pair_agreement([A], [B], k=3)
    assert got["feature_agreement"][0] == 1.0
    for m in ("rank_agreement", "sign_agreement", "signed_rank_agreement"):
        assert got[m][0] == pytest.approx(1 / 3)
    assert got["rank_correlation"][0] == pytest.approx(0.9)


def test_default_k():
    assert [default_k(d) for d in (1, 3, 5, 10, 25, 100)] == [1, 1, 1, 2, 5, 5]


def _handmade(method, rows, values):
    n = len(rows)
    return Attribution(method=method, row_ids=np.asarray(rows), target=np.ones(n, dtype=int),
                       values=[np.asarray(v, float) for v in values], names=[[f"f{j}" for j in range(5)]] * n,
                       output_space="probability", base_values=np.zeros(n), outputs=np.zeros(n))


def _cache_local_pair(ctx, rows, shap, lime) -> None:
    """Hand-made SHAP and LIME explanations (one vector each, every row alike) of ``ctx``'s features,
    as local_explanations reads them from the context's cache."""
    for method, vec in (("shap", shap), ("lime", lime)):
        params = get_explainer(ctx.task, method).Params(**ctx.explainer_params.get(method, {}))
        attr = _handmade(method, rows, [vec] * len(rows))
        attr.names = [list(ctx.data.feature_names)] * len(rows)
        attr.extras = {"surrogate_r2": np.ones(len(rows))}
        ctx._attributions[(method, params.model_dump_json())] = attr


def test_check_reproduces_case5_from_handmade_attributions(tabular_factory):
    """Hand-made SHAP and LIME attributions put in the context's cache: the check reads them as it
    reads real ones, and reports Case 5's values."""
    ctx = tabular_factory()
    rows = ctx.explained_rows(3)
    for method, vec in (("shap", A), ("lime", B)):
        params = get_explainer(ctx.task, method).Params(**ctx.explainer_params.get(method, {}))
        ctx._attributions[(method, params.model_dump_json())] = _handmade(method, rows, [vec] * 3)
    out, _ = run_check(ctx, "explainer_agreement", explainers=["shap", "lime"], n_instances=3, top_k=3,
                       min_feature_agreement=0.5)
    m = out.measurements
    assert m["shap__lime_feature_agreement"] == 1.0 and m["min_feature_agreement"] == 1.0
    for name in ("rank_agreement", "sign_agreement", "signed_rank_agreement"):
        assert m[f"shap__lime_{name}"] == pytest.approx(1 / 3)
    assert m["shap__lime_rank_correlation"] == pytest.approx(0.9)
    heat = next(e for e in out.evidence if isinstance(e, Heatmap))
    assert heat.values == [[1.0, 1.0], [1.0, 1.0]]
    # the pair table says the instances its medians rest on
    assert [e.title for e in out.evidence if e.kind == "table"][0] == \
        "Agreement per pair of explainers (medians over n = 3 instances)"
    # no explainer runs and the model computes nothing: the only inputs asked are the evaluation rows', served
    # by the prediction cache, to see that the output moves (require_moving_output)
    assert out.cost["model_inputs"] == len(ctx.data) and out.cost["distinct_model_inputs"] == 0
    # the share names its k: the concrete report's summary read "share a median 50% of their top
    # features" two rows below local_explanations' "75% of their top 4 features" (k = 2 here)
    assert out.summary.startswith("shap and lime share a median 100% of their top 3 features (unrelated rankings "
                                  "share ")
    # the weighted figure of the pair it comes from, and the chance level in the summary too: a share
    # at chance had led it alone; no threshold handed to the check, so nothing is called gated
    assert out.summary.endswith(f"the rank correlation is lowest for shap and lime: "
                                f"{m['min_weighted_rank_correlation']:.2f}.")
    assert "gated" not in out.summary


def test_linear_model_pairs_and_flags(tabular):
    out, _ = run_check(tabular.ctx, "explainer_agreement", n_instances=20, top_k=3, min_feature_agreement=1.0)
    m = out.measurements
    assert 0 <= m["shap__lime_feature_agreement"] <= 1
    assert m["min_feature_agreement"] == m["shap__lime_feature_agreement"]
    assert m["shap__integrated_gradients_feature_agreement"] is None  # no IG for tabular
    assert any(e.kind == "note" and "shap / lime" in e.text for e in out.evidence)  # flagged below 1.0
    assert "of their top 3 features" in out.summary
    # the default k, min(5, ceil(0.2 d)), of these 8 features: 2
    from .conftest import FEATURES

    default, _ = run_check(tabular.ctx, "explainer_agreement", n_instances=20)
    assert default_k(len(FEATURES)) == 2 and "% of their top 2 features" in default.summary


def test_an_explanation_that_ranks_nothing_is_left_out_not_counted_as_agreeing():
    """Two all-zero explanations have identical top-k lists by the tie rule (index order): FA@k 1.0
    that says nothing. They are left out (NaN); a non-zero pair beside them is measured as before."""
    zero = np.zeros(5)
    got = pair_agreement([zero, A, A], [zero, zero, B], k=3)
    for m, values in got.items():
        assert np.isnan(values[0]) and np.isnan(values[1]), m
    assert got["feature_agreement"][2] == 1.0 and got["rank_correlation"][2] == pytest.approx(0.9)
    one_word = pair_agreement([np.array([0.7])], [np.array([-0.2])])  # top 1 of 1: the same by construction
    assert all(np.isnan(values[0]) for values in one_word.values())


def _constant_context(ctx):
    """``ctx`` around a constant (prior) classifier: every row gets the same probabilities."""
    from sklearn.dummy import DummyClassifier

    from auditor.engine.context import AuditContext
    from auditor.models.tabular import TabularModel

    constant = DummyClassifier(strategy="prior").fit(ctx.data.frame.to_numpy(), ctx.data.labels)
    return AuditContext(card=ctx.card, data=ctx.data, model=TabularModel(constant, ctx.data.feature_names),
                        seed=ctx.seed, explainer_params=ctx.explainer_params)


def test_a_classifier_that_ignores_its_inputs_gets_no_agreement_or_stability_verdict(tabular):
    """A constant (prior) classifier: SHAP gives every feature exactly 0, so every top-k list is the
    tie rule's and would agree perfectly with every other (before: agreement 1.0 and seed stability
    1.0, both PASS). Then, those explanations left out, nothing was measured (n = 0) and a blocking gate
    ended each check in ERROR. Now the checks do not apply to such a model: SKIPPED, saying why."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck, run_check as run_planned
    from auditor.policy.schema import CheckSpec

    const_ctx = _constant_context(tabular.ctx)
    gates = {"explainer_agreement": ("min_feature_agreement", {"explainers": ["shap", "lime"], "n_instances": 10},
                                     "every explainer gives the same zeros, and their agreement has no rankings to "
                                     "compare"),
             "local_explanations": ("shap_lime_top_k_agreement", {"n_instances": 10},
                                    "its top features are ties put in column order, so SHAP's and LIME's agree by the "
                                    "tie rule alone and their agreement compares nothing"),
             "explanation_stability": ("shap_perturbation_topk_agreement", {"explainers": ["shap"], "n_instances": 10},
                                       "a re-run, a new seed or a nudged input gives zeros again, and stability has no "
                                       "ranking to keep")}
    for name, (measurement, params, why) in gates.items():
        spec = CheckSpec(check=name, params=params, thresholds=[{"measurement": measurement, "min": 0.5}])
        result = run_planned(PlannedCheck(spec=spec, params=CHECK_REGISTRY[name].Params(**params)), const_ctx)
        assert result.status.value == "skipped" and result.error is None, (name, result.thresholds)
        assert result.skipped_reason == (
            f"does not apply: the model gives all {len(const_ctx.data)} evaluation rows the same probabilities; its "
            f"output does not move with its inputs, so every explanation of it is zero: {why}"), name


def test_a_top_k_agreement_of_fewer_than_five_instances_is_not_judged(tabular):
    """A median of per-instance agreements on 4 instances would pass or fail on what four rows
    happen to say: below MIN_JUDGED (5) the gate is not judged, with the reason; at 5 it is (the
    bound 0.7 above what unrelated rankings of these 8 features reach: 0.5, 0.65, 0.4)."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.checks.base import MIN_JUDGED
    from auditor.engine.runner import PlannedCheck, run_check as run_planned
    from auditor.policy.schema import CheckSpec

    assert MIN_JUDGED == 5
    gates = {"explainer_agreement": ("min_feature_agreement", {"explainers": ["shap", "lime"]}),
             "local_explanations": ("shap_lime_top_k_agreement", {}),
             "explanation_stability": ("shap_perturbation_topk_agreement", {"explainers": ["shap"]})}
    for name, (measurement, params) in gates.items():
        for n, judged in ((4, False), (5, True)):
            p = {**params, "n_instances": n}
            spec = CheckSpec(check=name, params=p, thresholds=[{"measurement": measurement, "min": 0.7}])
            result = run_planned(PlannedCheck(spec=spec, params=CHECK_REGISTRY[name].Params(**p)), tabular.ctx)
            gate = result.thresholds[0]
            assert gate.n == n and gate.observed is not None, (name, gate)
            if judged:
                assert result.status.value == "pass" and gate.unreachable is None, (name, gate)
            else:
                assert result.status.value == "error" and not gate.passed, (name, gate)
                assert "with n = 4 the check does not judge it (it needs at least 5 instances)" in result.error.message


def test_agreement_k_is_at_most_half_the_features():
    from auditor.metrics.ranking import agreement_k

    assert [agreement_k(5, d) for d in (1, 2, 3, 4, 5, 8, 10, 13)] == [0, 1, 1, 2, 2, 4, 5, 5]
    assert agreement_k(1, 40) == 1


def test_local_explanations_compare_top_lists_that_could_share_nothing(tabular_factory):
    """Eight features, top 5 shown: two top-5 lists of 8 share at least 2 whatever the explanations
    say (with 4 features, top 5 is all of them: always 1.0). Opposite rankings, hand-made, share
    nothing in their top 4: 0.0, and a note says why k is 4."""
    ctx = tabular_factory()
    rows = ctx.explained_rows(3)
    d = len(ctx.data.feature_names)
    assert d == 8
    ranking = np.arange(d, 0, -1, dtype=float)  # feature 0 first
    _cache_local_pair(ctx, rows, ranking, ranking[::-1])
    out, _ = run_check(ctx, "local_explanations", n_instances=3, top_k=5)
    assert out.measurements["shap_lime_top_k_agreement"] == 0.0  # top 5 of 8 would give 2 of 5 = 0.4
    assert any("compared on their top 4 features, not 5" in note for note in out.notes)
    assert "share 0% of their top 4 features" in out.summary


def test_local_explanations_weigh_the_features_that_carry_the_prediction(tabular_factory):
    """Both explainers put the prediction on one feature and fill the rest of their top 4 of 8 with
    features that carry almost nothing, in opposite orders (what LIME's noise does on a model with one
    informative feature): the plain share is 1/4, below what unrelated rankings reach (0.65 on 3
    rows), while weighted by each feature's share of the two explanations the agreement is 0.91, above
    what the same values at random positions reach (0.82)."""
    ctx = tabular_factory()
    rows = ctx.explained_rows(5)
    noise = np.array([0.4, 0.3, 0.2, 0.1, 0.05, 0.04, 0.03])
    shap, lime = np.r_[5.0, noise], np.r_[5.0, noise[::-1]]
    _cache_local_pair(ctx, rows, shap, lime)
    out, _ = run_check(ctx, "local_explanations", n_instances=5, top_k=5)
    m = out.measurements
    w = (shap / shap.sum() + lime / lime.sum()) / 2  # top 4: {0, 1, 2, 3} and {0, 7, 6, 5}
    expected = w[0] / ((w[[0, 1, 2, 3]].sum() + w[[0, 7, 6, 5]].sum()) / 2)
    assert m["shap_lime_top_k_agreement"] == 0.25
    assert expected == pytest.approx(0.9074, abs=1e-4)
    assert m["shap_lime_weighted_top_k_agreement"] == pytest.approx(expected, rel=1e-12)
    assert out.summary.endswith("SHAP and LIME share 25% of their top 4 features on average (91% weighted by the "
                                "features' shares).")
    chance = {s.measurement: s.chance_p95 for s in out.sample_sizes}
    assert chance["shap_lime_top_k_agreement"] > 0.25
    # at random positions one explanation's heavy feature lands in the other's top 4 of 8 half the
    # time and then carries half the weight: a high level (0.82), still below the 0.91 measured
    assert 0.7 < chance["shap_lime_weighted_top_k_agreement"] < m["shap_lime_weighted_top_k_agreement"]
    assert any("Weighted by each feature's mean share" in n and "share 0.91 of their top 4" in n for n in out.notes)


def test_a_classifier_that_ignores_its_inputs_raises_no_python_warnings(tabular):
    """Constant outputs make scipy's rank correlation and the faithfulness curves' ratios undefined:
    NaN, explained in the summaries, and no warning printed on the reviewer's terminal."""
    import warnings

    const_ctx = _constant_context(tabular.ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # every importance tied at 0: the rank correlation is undefined, and the check does not apply
        with pytest.raises(CheckNotApplicable, match="every explanation of it is zero: shuffling a feature changes no"):
            run_check(const_ctx, "global_importance", n_repeats=2, n_instances=10)
        with pytest.raises(CheckNotApplicable, match="every explanation of it is zero: removing the inputs"):
            run_check(const_ctx, "explanation_faithfulness", explainers=["shap"], n_instances=10)  # every curve flat
        pd_out, _ = run_check(const_ctx, "partial_dependence", n_ice=20, n_bootstrap=20, n_repeats=2)
    assert pd_out.measurements["max_ice_heterogeneity"] == 0.0  # every ICE curve flat: nothing left out


def test_each_agreement_says_what_unrelated_rankings_reach_by_chance(tabular):
    """Top 4 of 8 features share half of them on average whatever the explanations say: each top-k
    agreement records the level explanations that agree on nothing reach in 5% of draws on the same
    instances (0.5, 0.65, 0.375 here), and says it beside the value."""
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import PlannedCheck, run_check as run_planned
    from auditor.policy.schema import CheckSpec

    gates = {"explainer_agreement": ("min_feature_agreement", {"explainers": ["shap", "lime"]}, 0.5),
             "local_explanations": ("shap_lime_top_k_agreement", {}, 0.65),
             "explanation_stability": ("shap_perturbation_topk_agreement", {"explainers": ["shap"]}, 0.375)}
    for name, (measurement, params, level) in gates.items():
        p = {**params, "n_instances": 5}
        spec = CheckSpec(check=name, params=p, thresholds=[{"measurement": measurement, "min": 0.7}])
        result = run_planned(PlannedCheck(spec=spec, params=CHECK_REGISTRY[name].Params(**p)), tabular.ctx)
        assert [s.chance_p95 for s in result.sample_sizes if s.measurement == measurement] == [level], name
        said = [*result.notes, *(getattr(e, "caption", "") for e in result.evidence)]
        assert any(f"{level:.2f}" in text and "5% of draws" in text for text in said), name
    notes = run_planned(PlannedCheck(spec=CheckSpec(check="local_explanations", params={"n_instances": 5}),
                                     params=CHECK_REGISTRY["local_explanations"].Params(n_instances=5)), tabular.ctx).notes
    assert any("share 50% of their top 4 of 8 features on average" in n for n in notes)


def test_a_faithfulness_median_over_fewer_than_five_instances_is_not_judged(tabular):
    """Faithfulness correlation is a median over instances: on 3 it passes no gate, on 5 it is judged.
    The deletion gap's signed-rank interval exists from 6 instances (on 5 even all gaps positive has
    probability 2⁻⁵ = 0.031 > 0.025): on 5 its gate says so instead of judging a NaN."""
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, with_sample_sizes

    # the deletion gap's interval: a bootstrap over 3 instances had passed a fail gate
    correlation = [Threshold(measurement="shap_faithfulness_correlation", min=0.3)]
    interval = [Threshold(measurement="shap_deletion_auc_gap_ci_low", min=-1.0)]
    for n, judged, needs in ((3, False, 5), (5, True, 5), (5, False, 6), (6, True, 6)):
        out, _ = run_check(tabular.ctx, "explanation_faithfulness", explainers=["shap"], n_instances=n)
        gates = correlation if needs == 5 else interval
        for outcome in with_sample_sizes(evaluate(gates, out.measurements), out.sample_sizes):
            assert outcome.n == n and (outcome.unreachable is None) == judged, outcome
            if not judged:
                assert f"it needs at least {needs} instances" in outcome.unreachable


def test_the_least_similar_pairs_chance_level_is_one_pairs():
    """``min_…`` claims every pair agrees beyond chance. With one explainer pure noise and two that
    agree, the least similar pair is one unrelated pair: it must meet one pair's level (top 2 of 8,
    20 instances: 0.5), not the lower level of the least of three unrelated pairs (0.25), which such
    a pair exceeds in about 28% of draws."""
    from types import SimpleNamespace

    from auditor.checks.explainer_agreement import AgreementParams, ExplainerAgreement
    from auditor.metrics.chance import chance_quantile

    methods = ["integrated_gradients", "shap", "lime"]
    check = ExplainerAgreement(AgreementParams(explainers=methods, n_instances=20, top_k=2))
    ctx = SimpleNamespace(rng=lambda label: np.random.default_rng(0))
    vectors = {m: [np.zeros(8)] * 20 for m in methods}
    every = np.ones(20, dtype=bool)
    finite = {(a, b, metric): every for a, b in (("integrated_gradients", "shap"), ("integrated_gradients", "lime"),
                                                 ("shap", "lime")) for metric in ("feature_agreement", "rank_correlation")}
    levels = check.chance_levels(ctx, methods, vectors, finite)
    assert levels["min_feature_agreement"] == levels["shap__lime_feature_agreement"] == 0.5
    assert chance_quantile([8] * 20, [2] * 20, n_rankings=3, rng=0) == 0.25
    assert levels["min_rank_correlation"] == levels["shap__lime_rank_correlation"] > 0
    rng = np.random.default_rng(1)
    noise = np.array([np.median([len(set(rng.permutation(8)[:2]) & {0, 1}) / 2 for _ in range(20)])
                      for _ in range(2_000)])
    assert 0.2 < (noise > 0.25).mean() < 0.35 and (noise > levels["min_feature_agreement"]).mean() <= 0.05


def test_the_summary_gives_a_range_only_where_the_pairs_differ():
    """The decoder report read 'Pairs of explainers share a median 40% to 40% of their top 5 words'."""
    from auditor.checks.explainer_agreement import agreement_summary

    assert agreement_summary(["integrated_gradients", "shap"], 3, 0.4, 0.4, "top 5 words") == (
        "Each pair of explainers shares a median 40% of their top 5 words (integrated_gradients and shap the "
        "least similar).")
    assert agreement_summary(["integrated_gradients", "shap"], 3, 0.6, 0.7, "top 5 words") == (
        "Pairs of explainers share a median 60% to 70% of their top 5 words; the least similar pair is "
        "integrated_gradients and shap.")
    assert agreement_summary(["shap", "lime"], 1, 0.5, 0.5, "top 2 features") == (
        "shap and lime share a median 50% of their top 2 features.")


def test_the_default_policy_passes_a_sound_model_whose_plain_rank_correlation_is_noise(tmp_path):
    """A logistic regression with 2 informative features of 13 (the 11 others without effect):
    SHAP and LIME share 2 of their top 3 on every row, but their |attributions| of the 11 features
    without effect are ordered at random, so Spearman's ρ over all 13 reads 0.20, below the default
    gate's 0.3 (2 of 10 simulated draws; 8 of 10 for a boosted model). Weighted by each feature's
    share of the two explanations, it reads 0.58 and the default policy passes; LIME's values at
    shuffled positions read below 0 and warn."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from auditor.engine.runner import PlannedCheck, run_check as run_planned
    from auditor.policy import load_policy

    from .conftest import frame_context

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2300, 13))
    w = np.zeros(13)
    w[:2] = rng.choice([-1, 1], 2) * rng.uniform(1, 2, 2)
    y = np.where(rng.random(2300) < 1 / (1 + np.exp(-x @ w)), "yes", "no")
    names = [f"f{j}" for j in range(13)]
    frame = pd.DataFrame(np.round(x, 6), columns=names).assign(label=y)
    estimator = LogisticRegression().fit(frame[names].to_numpy()[:2000], y[:2000])
    ctx = frame_context(tmp_path, frame.iloc[2000:], estimator, target="label", features=names, seed=3,
                        positive_class="yes")
    policy = load_policy("default")
    spec, params = next((c, p) for c, p in zip(policy.policy.checks, policy.params) if c.check == "explainer_agreement")
    assert [t.measurement for t in spec.thresholds] == ["min_weighted_rank_correlation"]
    result = run_planned(PlannedCheck(spec=spec, params=params), ctx)
    m = result.measurements
    assert m["min_rank_correlation"] == pytest.approx(0.201, abs=0.01)
    assert m["min_weighted_rank_correlation"] == pytest.approx(0.582, abs=0.01)
    assert result.status.value == "pass"
    chance = {s.measurement: s.chance_p95 for s in result.sample_sizes}
    assert chance["min_weighted_rank_correlation"] < 0 < chance["min_rank_correlation"]

    lime = ctx.attribution("lime", params.n_instances)
    lime.values = [rng.permutation(v) for v in lime.values]  # LIME pointing at features at random
    broken = run_planned(PlannedCheck(spec=spec, params=params), ctx)
    assert broken.measurements["min_weighted_rank_correlation"] < 0 and broken.status.value == "warn"


def test_the_least_similar_pairs_weighted_level_is_the_highest_pairs_own():
    """The weighted rank correlation's chance level depends on each pair's values, so ``min_…`` (every
    pair agrees beyond chance) must clear the highest of the pairs' own levels, each taken on the
    instances every pair compared."""
    from types import SimpleNamespace

    from auditor.checks.explainer_agreement import AgreementParams, ExplainerAgreement

    methods = ["integrated_gradients", "shap", "lime"]
    check = ExplainerAgreement(AgreementParams(explainers=methods, n_instances=12))
    ctx = SimpleNamespace(rng=lambda label: np.random.default_rng(abs(hash(label)) % 2**32))
    rng = np.random.default_rng(0)
    heavy = np.r_[3.0, 1.0, np.full(6, 0.1)]
    vectors = {"integrated_gradients": [heavy * rng.uniform(0.5, 1.5, 8) for _ in range(12)],
               "shap": [rng.uniform(0, 1, 8) for _ in range(12)],  # weight spread evenly
               "lime": [np.roll(heavy, 3) * rng.uniform(0.5, 1.5, 8) for _ in range(12)]}
    every = np.ones(12, dtype=bool)
    fewer = every.copy()
    fewer[:2] = False
    finite = {("integrated_gradients", "shap", "weighted_rank_correlation"): every,
              ("integrated_gradients", "lime", "weighted_rank_correlation"): every,
              ("shap", "lime", "weighted_rank_correlation"): fewer}
    levels = check.chance_levels(ctx, methods, vectors, finite)
    pairs = [levels[f"{a}__{b}_weighted_rank_correlation"] for a, b, _ in finite]
    assert len(set(pairs)) == 3  # each pair's own values give its own level
    # shap and lime were compared on 10 instances: the other pairs' levels for min_… are taken on those 10
    from auditor.metrics.chance import weighted_rank_correlation_chance

    on_every = [weighted_rank_correlation_chance(
        vectors[a][2:], vectors[b][2:], rng=ctx.rng(f"explainer_agreement.chance.min_weighted_rank_correlation.{a}__{b}"))
        for a, b in (("integrated_gradients", "shap"), ("integrated_gradients", "lime"))]
    assert on_every != pairs[:2]
    assert levels["min_weighted_rank_correlation"] == max(*on_every, pairs[2])


def test_the_least_similar_pairs_plain_rank_correlation_counts_its_own_instances(tabular_factory):
    """min_rank_correlation's sample size is the instances its pairs' plain ρ rests on: the names
    "…_weighted_rank_correlation" also end in "_rank_correlation", so it took the fewer instances of
    the weighted measurement (undefined where one explanation ties every feature that carries
    weight), and could read as too few to judge."""
    ctx = tabular_factory()
    rows = ctx.explained_rows(6)
    tied = (np.array([0.1, 0.0, 0.2, 0.05, 0.3]), np.array([1.0, 0.0, 1.0, 1.0, 1.0]))
    for method, vec, other in (("shap", A, tied[0]), ("lime", B, tied[1])):
        params = get_explainer(ctx.task, method).Params(**ctx.explainer_params.get(method, {}))
        ctx._attributions[(method, params.model_dump_json())] = _handmade(method, rows, [vec] * 3 + [other] * 3)
    out, _ = run_check(ctx, "explainer_agreement", explainers=["shap", "lime"], n_instances=6, top_k=3)
    sizes = {s.measurement: s.n for s in out.sample_sizes}
    assert sizes["shap__lime_rank_correlation"] == 6 and sizes["shap__lime_weighted_rank_correlation"] == 3
    assert sizes["min_rank_correlation"] == 6 and sizes["min_weighted_rank_correlation"] == 3
    # the pair table's medians rest on 3 to 6 instances, and its title says so
    assert any(e.title == "Agreement per pair of explainers (medians over n = 3 to 6 instances, by pair and measure)"
               for e in out.evidence)


def test_the_table_of_where_two_explainers_differ_gives_each_features_mean_share(tabular_factory):
    """Known answer: SHAP puts A on the features and LIME B on every row, so their mean shares are
    |A| / sum |A| and |B| / sum |B|; the rows are the features whose shares differ most, largest
    first. Below min_feature_agreement the pair is flagged and the table sits in the check's section;
    above, in the appendix."""
    ctx = tabular_factory()
    rows = ctx.explained_rows(3)
    d = len(ctx.data.feature_names)
    shap, lime = np.zeros(d), np.zeros(d)
    shap[:3], lime[:3] = [3.0, -1.0, 0.0], [0.0, 1.0, -3.0]  # shares (0.75, 0.25, 0) and (0, 0.25, 0.75)
    _cache_local_pair(ctx, rows, shap, lime)
    for minimum, in_appendix in ((0.9, False), (0.1, True)):
        out, _ = run_check(ctx, "explainer_agreement", explainers=["shap", "lime"], n_instances=3, top_k=2,
                           min_feature_agreement=minimum)
        (table,) = [e for e in out.evidence if e.kind == "table" and e.title.startswith("Where shap and lime")]
        names = ctx.data.feature_names
        assert [r[0] for r in table.rows[:2]] == [names[0], names[2]]  # |difference| 0.75 each, in feature order
        assert table.rows[0][1:] == pytest.approx([0.75, 0.0, 0.75])
        assert table.rows[1][1:] == pytest.approx([0.0, 0.75, -0.75])
        assert table.rows[2][1:] == pytest.approx([0.25, 0.25, 0.0])
        assert table.caption.startswith("n = 3 instances")
        assert table.detail is in_appendix


def test_mean_shares_count_only_rows_both_explanations_attribute_something():
    from auditor.metrics.agreement import mean_shares

    a = [[1, 0, 0], [3, -1, 0], [0, 0, 0], [np.nan, 1, 1]]
    b = [[0, 0, 2], [0, 1, -1], [1, 1, 1], [1, 1, 1]]
    share_a, share_b, n = mean_shares(a, b)
    assert n == 2  # the all-zero row and the row with a NaN are left out
    assert share_a == pytest.approx([0.875, 0.125, 0.0])
    assert share_b == pytest.approx([0.0, 0.25, 0.75])
    assert np.isnan(mean_shares([1, 0], [0, 0])[0]).all()


def test_the_faithfulness_gap_and_its_interval_are_the_signed_rank_ones_of_the_per_instance_values(tabular):
    """The table's gap, its interval and the measurements are signed_rank_interval of the per-instance
    explainer-minus-control differences the evidence file keeps (deletion AUC: lower is better, so
    control minus explainer), and the table's title says which centre the gap is."""
    import csv
    import io

    from auditor.metrics.statistics import signed_rank_interval

    out, _ = run_check(tabular.ctx, "explanation_faithfulness", explainers=["shap"], n_instances=12)
    path = next(e.path for e in out.evidence if e.title == "Per-instance faithfulness values")  # numbered if taken
    kept = list(csv.DictReader(io.StringIO(tabular.ctx.files[path].decode())))
    d = [float(r["control_value"]) - float(r["explainer_value"]) for r in kept if r["metric"] == "deletion_auc"]
    gap, low, high = signed_rank_interval(d)
    assert len(d) == 12 and low < gap < high
    m = out.measurements
    assert (m["shap_deletion_auc_gap"], m["shap_deletion_auc_gap_ci_low"]) == pytest.approx((gap, low))
    table = out.evidence[0]
    row = next(r for r in table.rows if r[:2] == ["shap", "deletion_auc"])
    assert row[5:8] == pytest.approx([gap, low, high]) and "Hodges-Lehmann" in table.title


def test_the_pair_tables_flag_is_never_blank(tabular_factory, monkeypatch):
    """The flag column was blank both for a pair that was fine and for one at its chance level or not
    judged: a reviewer could not tell them apart. Each cell now says which (hand-made attributions:
    feature agreement 1.0 at k = 3 on every instance)."""
    from auditor.checks import explainer_agreement

    nbsp = "\u00a0"

    def flags(n: int, level: float, lime=B, notes: list | None = None):
        monkeypatch.setattr(explainer_agreement, "chance_quantile", lambda *a, **k: level)
        ctx = tabular_factory()
        rows = ctx.explained_rows(n)
        for method, vec in (("shap", A), ("lime", lime)):
            params = get_explainer(ctx.task, method).Params(**ctx.explainer_params.get(method, {}))
            ctx._attributions[(method, params.model_dump_json())] = _handmade(method, rows, [vec] * n)
        out, _ = run_check(ctx, "explainer_agreement", explainers=["shap", "lime"], n_instances=n, top_k=3,
                           min_feature_agreement=0.5)
        table = next(e for e in out.evidence if e.kind == "table" and e.title.startswith("Agreement per pair"))
        assert table.columns[-1] == "flag"
        if notes is not None:
            notes += [e.text for e in out.evidence if e.kind == "note"]
        return [row[-1] for row in table.rows]

    assert flags(5, 0.4) == ["none"]
    assert flags(5, 1.0) == [f"at chance (≤{nbsp}1.00)"]
    assert flags(3, 0.4) == [f"not judged (n{nbsp}<{nbsp}5)"]
    # lime's top 3 the other two of shap's five: feature agreement 1/3, below the minimum of 0.5
    notes: list = []
    assert flags(3, 0.2, lime=np.array([0.0, 0.1, 0.0, 0.9, 0.8]), notes=notes) == [
        f"below minimum, not judged (n{nbsp}<{nbsp}5)"]
    assert any("shap / lime (not judged: 3 instances compared, fewer than 5): median feature agreement below 0.5" in t
               for t in notes), notes
    # below the minimum is said first; no value at all is n = 0, not judged
    from auditor.checks.explainer_agreement import flag_cell

    assert flag_cell(0.2, 0.4, 0.33, 40) == "below minimum"
    # on fewer instances than a gate judges from, the cell says both (it had read "below minimum" alone)
    assert flag_cell(0.2, 0.4, 0.33, 3) == f"below minimum, not judged (n{nbsp}<{nbsp}5)"
    assert flag_cell(0.33, 0.3, 0.33, 40) == f"at chance (≤{nbsp}0.33)"
    assert flag_cell(0.67, 0.4, 0.33, 40) == flag_cell(0.67, 0.4, None, 40) == "none"
    assert flag_cell(None, 0.4, None, 0) == f"not judged (n{nbsp}<{nbsp}5)"
