"""A new model kind is one adapter: a toy tabular classifier written here, in the test suite alone
(a NumPy logistic model: no scikit-learn estimator, no gradients, cannot be randomised), plans and
runs under the whole default policy, skipping what it cannot do with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.engine.context import AuditContext
from auditor.engine.runner import build_plan, run_plan
from auditor.models.base import AdapterBase, Capability, ModelAdapter
from auditor.models.cache import PredictionCache
from auditor.models.inputs import PerturbableInputs
from auditor.models.perturbation import tabular_perturbations
from auditor.models.tabular import removal_baseline
from auditor.models.tabular_codec import TabularCodec
from auditor.policy import load_policy
from auditor.results import Status

from .conftest import WEIGHTS


class NumpyLogistic(AdapterBase):
    """The whole adapter of the toy kind: p(yes) = sigmoid(x · w) over the card's numeric features."""

    kind = "NumPy logistic classifier"
    task = "tabular-classification"
    capabilities = frozenset({Capability.PROBABILITIES, Capability.FEATURE_TABLE})

    def __init__(self, weights: np.ndarray, feature_names: list[str]):
        self.weights, self.feature_names, self.classes = weights, list(feature_names), ["no", "yes"]
        self._cache = PredictionCache(self._predict, batch_size=1024)

    @property
    def stats(self):
        return self._cache.stats

    def _predict(self, rows: list[np.ndarray]) -> np.ndarray:
        p = 1 / (1 + np.exp(-(np.vstack(rows) @ self.weights)))
        return np.column_stack([1 - p, p])

    def inputs(self, data, rows=None) -> pd.DataFrame:
        return data.frame if rows is None else data.frame.iloc[np.asarray(rows)]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        X = frame[self.feature_names].to_numpy(float)
        return self._cache(list(X), [row.tobytes() for row in X])

    def removal_inputs(self, data, rows) -> PerturbableInputs:
        codec = TabularCodec(data.frame, data.categorical)
        return PerturbableInputs(X=codec.encode(data.frame.iloc[rows]), baseline=codec.encode(removal_baseline(data))[0],
                                 f_for=lambda c: (lambda Z: self.predict_proba(codec.decode(Z))[:, c]))

    def perturbations(self, ctx, attr, vectors, params):
        return tabular_perturbations(ctx, attr, params)

    def perturbation_note(self, params) -> str:
        return f"Gaussian noise of {params.noise_frac:g} standard deviations on every feature."


@pytest.fixture(scope="module")
def toy_ctx(tabular):
    base = tabular.ctx
    model = NumpyLogistic(WEIGHTS, base.data.feature_names)
    return AuditContext(card=base.card, data=base.data, model=model, seed=base.seed,
                        explainer_params=dict(base.explainer_params))


def test_the_toy_is_a_model_adapter(toy_ctx):
    assert isinstance(toy_ctx.model, ModelAdapter)


def test_the_default_policy_plans_and_runs_on_a_new_kind(toy_ctx):
    loaded = load_policy("default")
    plan = build_plan(loaded, toy_ctx.model)
    skipped = {p.spec.check_id: p.skip_reason for p in plan if p.skip_reason}
    assert skipped == {"explanation_sanity": "needs a randomisable copy of the model, which a NumPy logistic classifier does not offer"}
    results = run_plan(plan, toy_ctx)
    assert {c.id: c.error for c in results if c.status == Status.ERROR} == {}
    by_id = {c.id: c for c in results}
    assert by_id["explanation_sanity"].status == Status.SKIPPED
    assert by_id["explanation_sanity"].skipped_reason.startswith("needs a randomisable copy of the model")
    # The kind has no estimator to read, so SHAP falls back to permutation SHAP, whose efficiency
    # (attributions sum to f(x) − E f) holds by construction.
    assert by_id["explanation_axioms"].measurements["shap_within_tolerance_share"] == 1.0
    # The planted weights: the largest |w| features lead the global ranking of mean |SHAP|.
    shap = toy_ctx.attribution("shap", 20)
    top = np.argsort(-np.abs(shap.matrix()).mean(axis=0))[:2]
    assert set(top) == {0, 1}
    assert by_id["performance"].measurements["roc_auc"] > 0.8
