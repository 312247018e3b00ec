"""scikit-learn regressors on tabular data: the tabular adapter with one real-valued output.

Everything that depends on the rows (safe loading, the cache, the removal baseline, the codec) is
the classifier's (:class:`auditor.models.tabular.TabularModel`); what differs is what the model
predicts and what follows from it:

* ``predict_proba`` returns (n, 1): the predicted value in the target's units (``classes`` names
  that one output, ``OUTPUT``), so explainers and removal metrics read "the explained output" the
  same way for both kinds, and the kind says so with ``Capability.REGRESSION`` instead of
  ``PROBABILITIES``;
* removal (faithfulness) measures the prediction's distance from the baseline's prediction,
  oriented per instance: s·(f(z) − f(b)) with s = sign(f(x) − f(b)) and attributions scaled by s, so
  the curve starts at |f(x) − f(b)| and ends at 0 when every feature is removed;
* a perturbation is kept when its prediction stays within ``output_tolerance`` standard deviations
  of the predictions (over the evaluation set) of the original one (the regression counterpart of
  "label-preserving");
* randomisation refits on the evaluation targets permuted.
"""

from __future__ import annotations

import numpy as np

from auditor.errors import ModelLoadError
from auditor.models.base import Capability
from auditor.models.inputs import PerturbableInputs
from auditor.models.perturbation import tabular_perturbations
from auditor.models.tabular import TabularModel, estimator_type, removal_baseline
from auditor.models.tabular_codec import TabularCodec

OUTPUT = "prediction"  # the name of the one output column


class TabularRegressor(TabularModel):
    kind = "scikit-learn tabular regressor"
    task = "tabular-regression"
    capabilities = frozenset({Capability.REGRESSION, Capability.FEATURE_TABLE, Capability.RANDOMISABLE})
    fit_targets_word = "targets"  # the sanity test's copies are refitted on permuted targets, not labels

    def __init__(self, estimator, feature_names: list[str], batch_size: int = 8192):
        if not hasattr(estimator, "predict"):
            raise ModelLoadError(f"{type(estimator).__name__} has no predict; auditor needs a fitted regressor")
        kind = estimator_type(estimator)
        if kind in ("clusterer", "outlier detector"):  # its predict gave cluster ids or ±1, audited as the target's value
            raise ModelLoadError(f"{type(estimator).__name__} is {'an' if kind[0] == 'o' else 'a'} {kind}: its predict "
                                 "labels rows (a cluster, an inlier or outlier), it does not estimate the target; "
                                 "auditor needs a fitted regressor")
        self._init(estimator, feature_names, [OUTPUT], batch_size)

    @staticmethod
    def mismatch(estimator) -> str | None:
        """Why ``estimator`` cannot be audited as a regressor (None when it can)."""
        if estimator_type(estimator) == "classifier" or hasattr(estimator, "classes_"):
            return (f"the model is a {type(estimator).__name__}, a classifier; "
                    "audit it with task: tabular-classification")
        return None

    def _predict_rows(self, positions: list[int]) -> np.ndarray:
        out = np.asarray(self._estimator_output("predict", positions), dtype=float)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (len(positions),):
            raise ModelLoadError(f"{type(self.estimator).__name__}.predict returned shape {out.shape} for "
                                 f"{len(positions)} rows; auditor audits single-output regressors")
        if not np.isfinite(out).all():
            raise ValueError(f"{type(self.estimator).__name__}.predict returned non-finite values")
        return out[:, None]

    def check_outputs(self, data) -> None:
        """Refuse (exit 4) an estimator that does not predict one number per row (a multi-output
        regressor), found on the first evaluation row before any check runs: every check that called
        it had ended in ERROR. Any other failure on that row is left to the checks, which name it."""
        try:
            self.predict(self.inputs(data, np.arange(min(1, len(data)))))
        except ModelLoadError:
            raise
        except Exception:  # noqa: BLE001 - a row it cannot score, or a non-finite value: the checks say so
            pass

    def predict(self, frame) -> np.ndarray:
        """Predicted values (n,) through the cache."""
        return self.predict_proba(frame)[:, 0]

    def removal_inputs(self, data, rows: np.ndarray) -> PerturbableInputs:
        """Encoded rows as for a classifier; ``f`` is the prediction's signed distance from the
        baseline's prediction, oriented per instance by ``sign`` (see the module docstring)."""
        codec = TabularCodec(data.frame, data.categorical)
        X = codec.encode(data.frame.iloc[rows])
        baseline = codec.encode(removal_baseline(data))[0]
        f = lambda Z: self.predict_proba(codec.decode(Z))[:, 0]  # noqa: E731
        reference = float(f(baseline[None, :])[0])
        sign = np.where(f(X) >= reference, 1.0, -1.0) if len(X) else np.zeros(0)
        return PerturbableInputs(X=X, baseline=baseline, f_for=lambda c: (lambda Z: f(Z) - reference), sign=sign)

    def perturbations(self, ctx, attr, vectors, params):
        return tabular_perturbations(ctx, attr, params, within_tolerance)

    def perturbation_note(self, params) -> str:
        return (super().perturbation_note(params) + f" A perturbed row is kept when its prediction stays within "
                f"{params.output_tolerance:g} standard deviations of the predictions of the original row's.")

    def _fit_targets(self, data) -> np.ndarray:
        return np.asarray(data.labels, dtype=float)

    def _with_absent_classes(self, y: np.ndarray, rng) -> tuple[np.ndarray, str]:
        return y, ""  # no classes


def within_tolerance(ctx, original: np.ndarray, perturbed: np.ndarray, params) -> np.ndarray:
    """Which perturbed rows predict within ``params.output_tolerance`` × sd(predictions) of the original."""
    return np.abs(perturbed[:, 0] - original[:, 0]) <= params.output_tolerance * ctx.prediction_spread()
