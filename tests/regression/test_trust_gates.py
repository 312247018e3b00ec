"""The default policy's regression trust gates on a planted-signal regressor: SHAP and LIME pass
faithfulness and stability; an explanation that inverts the ranking fails faithfulness, and one that
is noise fails stability."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from auditor.explain import EXPLAINERS, Explainer, TabularLimeParams
from auditor.explain.attribution import Attribution
from auditor.policy import builtin_policies
from auditor.policy.load import load_policy
from auditor.policy.thresholds import evaluate, status_of

from trust.helpers import run_check


def _gates(check_id: str, explainer: str | None = None):
    """The default policy's thresholds of ``check_id`` (renamed from shap_ to ``explainer``_)."""
    spec = next(s for s in load_policy(builtin_policies()["default"]).policy.checks if s.check_id == check_id)
    if explainer is None:
        return spec.thresholds
    return [t.model_copy(update={"measurement": t.measurement.replace("shap_", f"{explainer}_", 1)})
            for t in spec.thresholds if t.measurement.startswith("shap_")]


def test_planted_signal_passes_the_faithfulness_gates(linear):
    ctx, _ = linear
    out, _ = run_check(ctx, "explanation_faithfulness", explainers=["shap", "lime"], n_instances=30)
    m = out.measurements
    assert m["shap_deletion_auc_gap"] > 0 and m["shap_faithfulness_correlation"] > 0.9
    assert status_of(evaluate(_gates("explanation_faithfulness"), m)).value == "pass"


def test_planted_signal_passes_the_stability_gates(linear):
    ctx, _ = linear
    out, _ = run_check(ctx, "explanation_stability", explainers=["shap", "lime"], n_instances=10, n_seeds=2,
                       n_perturbations=3)
    m = out.measurements
    assert m["shap_perturbation_topk_agreement"] == 1.0 and m["shap_label_preserved_share"] > 0
    assert status_of(evaluate(_gates("explanation_stability"), m)).value == "pass"


def test_perturbations_are_kept_within_the_prediction_tolerance(linear):
    from auditor.checks.explanation_stability import StabilityParams
    from auditor.models.regression import within_tolerance

    ctx, _ = linear
    original = np.array([[0.0], [1.0]])
    perturbed = np.array([[0.0], [1.5]])
    spread = float(np.std(ctx.proba()[:, 0]))
    keep = within_tolerance(ctx, original, perturbed, StabilityParams(output_tolerance=0.5 / spread + 1e-9))
    assert keep.tolist() == [True, True]
    assert within_tolerance(ctx, original, perturbed, StabilityParams(output_tolerance=1e-9)).tolist() == [True, False]


def explain_inverted(ctx, rows, **_):
    """Minus the exact linear SHAP values: ranks the features that moved the prediction least first."""
    shap_attr = ctx.attribution("shap", len(ctx.explained_rows(len(ctx.data))))
    where = {int(r): i for i, r in enumerate(shap_attr.row_ids)}
    values = [-shap_attr.values[where[int(r)]] for r in rows]
    return Attribution(method="inverted", row_ids=np.asarray(rows), target=np.zeros(len(rows), dtype=int),
                       values=values, names=[list(ctx.data.feature_names)] * len(rows), output_space="output",
                       base_values=np.full(len(rows), np.nan), outputs=np.full(len(rows), np.nan))


def explain_noise(ctx, rows, *, num_samples, seed_offset):
    """Attributions drawn at random per (seed, row, input values): they change with any perturbation."""
    X = ctx.data.frame.iloc[rows][ctx.data.feature_names].to_numpy(float)
    values = [np.random.default_rng([ctx.seed + seed_offset, int.from_bytes(hashlib.sha256(x.tobytes()).digest()[:4], "little")])
              .normal(size=len(x)) for x in X]
    return Attribution(method="noise", row_ids=np.asarray(rows), target=np.zeros(len(rows), dtype=int),
                       values=values, names=[list(ctx.data.feature_names)] * len(rows), output_space="output",
                       base_values=np.full(len(rows), np.nan), outputs=np.full(len(rows), np.nan))


def test_an_inverted_explanation_fails_the_faithfulness_gates(fresh, monkeypatch):
    monkeypatch.setitem(EXPLAINERS["tabular-regression"], "inverted", Explainer(explain_inverted, TabularLimeParams))
    ctx = fresh(n=120)
    out, _ = run_check(ctx, "explanation_faithfulness", explainers=["inverted"], n_instances=30)
    m = out.measurements
    assert m["inverted_deletion_auc_gap"] < 0 and m["inverted_deletion_auc_p_value"] > 0.5
    outcomes = evaluate(_gates("explanation_faithfulness", "inverted"), m)
    assert status_of(outcomes).value == "fail"
    assert not any(o.passed for o in outcomes if o.measurement.startswith("inverted_deletion"))


def test_a_noise_explanation_fails_the_stability_gates(fresh, monkeypatch):
    monkeypatch.setitem(EXPLAINERS["tabular-regression"], "noise",
                        Explainer(explain_noise, TabularLimeParams, stochastic=True))
    ctx = fresh(n=120)
    out, _ = run_check(ctx, "explanation_stability", explainers=["noise"], n_instances=10, n_seeds=2,
                       n_perturbations=3)
    m = out.measurements
    assert m["noise_perturbation_topk_agreement"] < 0.6
    outcomes = evaluate(_gates("explanation_stability", "noise"), m)
    assert status_of(outcomes).value == "warn"  # the policy's stability gates are warnings
    assert not next(o for o in outcomes if o.measurement == "noise_perturbation_topk_agreement").passed


@pytest.mark.parametrize("check", ["explainer_agreement", "explanation_sanity", "explanation_axioms"])
def test_the_other_trust_gates_pass_on_the_planted_signal(linear, check):
    ctx, _ = linear
    params = {"explanation_axioms": {"methods": ["shap"], "n_instances": 20},
              "explainer_agreement": {"explainers": ["shap", "lime"], "n_instances": 20},
              "explanation_sanity": {"explainers": ["shap"], "n_instances": 10, "n_randomised": 3}}[check]
    out, _ = run_check(ctx, check, **params)
    gates = [t for t in _gates(f"{check}") if t.measurement in out.measurements
             and out.measurements[t.measurement] is not None]
    assert gates and status_of(evaluate(gates, out.measurements)).value == "pass"
