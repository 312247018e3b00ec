"""Partial dependence with ICE curves, by scikit-learn's ``inspection.partial_dependence``, of any
output the audit can ask of a model through its cached predictor.

scikit-learn is handed a thin regressor whose ``predict`` is the audited output (a class probability
through the adapter's prediction cache, or a regressor's prediction), never the fitted estimator
itself: the estimator's fast ``recursion`` method (trees only) would bypass the cache and the audit's
count of model inputs, and would give the decision function instead of the probability every other
check reads. The ``brute`` method this forces asks for one batch of the sampled rows per grid value
(``len(rows) × grid points`` model inputs per feature), every one cached and counted.

``ice_heterogeneity`` is the interaction hint: the share of the centred ICE curves' variation that
the partial dependence line does not capture (0: parallel curves, the feature acts additively; near
1: its effect differs from row to row and the average line hides it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from auditor.models.tabular_codec import levels

DEFAULT_PERCENTILES = (0.05, 0.95)  # scikit-learn's default: the grid spans the central 90% of a numeric feature


@dataclass
class DependenceCurve:
    feature: str
    categorical: bool
    grid: list  # grid values (floats, or a categorical feature's levels)
    average: np.ndarray  # (n_grid,) partial dependence
    individual: np.ndarray  # (n_rows, n_grid) ICE curves

    @property
    def pd_range(self) -> float:
        return float(np.ptp(self.average)) if self.average.size else float("nan")


def _audited_output_estimator(output: Callable):
    """A fitted scikit-learn regressor whose prediction is ``output(frame)``."""
    from sklearn.base import BaseEstimator, RegressorMixin  # imported on use: loading a policy imports explain/

    class AuditedOutput(RegressorMixin, BaseEstimator):
        def __init__(self, output=None):
            self.output = output

        def __sklearn_is_fitted__(self) -> bool:
            return True

        def fit(self, X, y=None):
            return self

        def predict(self, X):
            return np.asarray(self.output(X), dtype=float).reshape(-1)

    return AuditedOutput(output)


def partial_dependence_curves(output: Callable, frame, features: list[str], *, categorical: list[str],
                              grid_resolution: int, percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
                              ) -> list[DependenceCurve]:
    """PD and ICE of ``output`` (a function of a feature frame, one number per row) for each feature.

    Parameters
    ----------
    output : callable
        ``output(frame) -> (n,)``; called with copies of ``frame`` where one feature is set to a grid value.
    frame : pandas.DataFrame
        The rows the curves are computed on (the ICE sample); PD is their average.
    features : list of str
        Features to compute curves for, one at a time.
    categorical : list of str
        Categorical features: their grid is their observed levels (missing values left out).
    grid_resolution : int
        Points on a numeric feature's grid (fewer when it has fewer distinct values).
    percentiles : (float, float)
        The numeric grid spans these percentiles of the feature in ``frame`` (missing values left out).
        A feature with no value in ``frame`` gets no curve.
    """
    from sklearn.inspection import partial_dependence

    estimator = _audited_output_estimator(output)
    cats = set(categorical)
    curves = []
    for feature in features:
        is_cat = feature in cats
        if is_cat:
            values = levels(frame[feature])[1]  # the values themselves (integer codes stay integers)
        else:
            values = numeric_grid(frame[feature].to_numpy(dtype=float), grid_resolution, percentiles)
        if not len(values):
            continue  # every sampled value is missing: nothing to sweep
        custom = {feature: values}
        result = partial_dependence(
            estimator, frame, [feature], categorical_features=[feature] if is_cat else None,
            percentiles=percentiles, grid_resolution=grid_resolution, custom_values=custom,
            method="brute", kind="both",
        )
        grid = result["grid_values"][0]
        curves.append(DependenceCurve(
            feature=feature, categorical=is_cat,
            grid=[str(v) for v in grid] if is_cat else [float(v) for v in grid],
            average=np.asarray(result["average"][0], dtype=float),
            individual=np.asarray(result["individual"][0], dtype=float),
        ))
    return curves


PROBABILITY_CLIP = 1e-9  # probabilities are clipped to [ε, 1 − ε] before the log-odds


def probability_clip(proba) -> float:
    """ε for a model's log-odds: :data:`PROBABILITY_CLIP`, unless the model says exactly 0 or 1 (a
    forest's share of trees, a tree's leaf), where it is half the smallest distance from 0 or 1 the
    model gives otherwise: one step below its resolution. At 1e-9 a random forest's exact 0 sat 16
    log-odds below its 0.01, and those steps, not the model's shape, made its curves heterogeneous
    (hpc_data: 0.46, 0.47 and 0.64 on three features, 0.20, 0.27 and 0.58 at a hundred trees' step)."""
    p = np.asarray(proba, dtype=float)
    p = p[np.isfinite(p)]
    inner = p[(p > 0) & (p < 1)]
    if not ((p <= 0) | (p >= 1)).any() or not inner.size:
        return PROBABILITY_CLIP
    return max(PROBABILITY_CLIP, 0.5 * float(min(inner.min(), 1 - inner.max())))


def centred_log_ratio(proba: np.ndarray, clip: float = PROBABILITY_CLIP) -> np.ndarray:
    """(n, k): each class's log P(c) − mean_j log P(j), the softmax's inverse up to a constant per row.
    A model whose every class logit is additive in the features (a multinomial logistic regression)
    has parallel curves on it; on one class's log-odds, log P(c) − log(1 − P(c)), it has not (CPS1985
    occupation, 6 classes: wage's ICE heterogeneity 0.76 on the log-odds of P(worker), 0.00 here).
    For two classes it is half the log-odds: the same heterogeneity."""
    logp = np.log(np.clip(np.asarray(proba, dtype=float), clip, 1.0))
    return logp - logp.mean(axis=1, keepdims=True)


def numeric_grid(values: np.ndarray, grid_resolution: int, percentiles: tuple[float, float]) -> np.ndarray:
    """scikit-learn's grid, with missing values left out (its own grid turns NaN when one is present):
    every distinct value when there are at most ``grid_resolution``, else evenly spaced points
    between the two percentiles."""
    v = values[np.isfinite(values)]
    distinct = np.unique(v)
    if len(distinct) <= grid_resolution:
        return distinct
    low, high = np.quantile(v, percentiles)
    return np.linspace(low, high, grid_resolution) if high > low else np.unique([low])


def ice_heterogeneity(individual: np.ndarray, *, log_odds: bool = False, clip: float = PROBABILITY_CLIP) -> float:
    """Share of the centred ICE curves' variation that their average (the centred PD) leaves out.

    Each ICE curve is centred on its own mean over the grid; with ``c_i(v)`` the centred curves and
    ``c̄(v)`` their mean, ``H = Σ (c_i(v) − c̄(v))² / Σ c_i(v)²``, in [0, 1]. Parallel curves (an
    additive effect) give 0; curves whose shape differs from row to row (an interaction with other
    features) approach 1. NaN when every curve is flat (the feature moves no prediction).

    ``log_odds``: the curves are probabilities, measured on the log-odds scale, where a model additive
    in its logit (a logistic regression, a boosted ensemble without interactions) has parallel curves;
    on the probability scale the sigmoid's saturation alone bends rows differently (0.28–0.48 for a
    logistic regression on the trust tests' data, 0 on the log-odds scale).
    """
    return float(_heterogeneity(_centred(individual, log_odds, clip)[None])[0])


def ice_variation(individual: np.ndarray, *, log_odds: bool = False, clip: float = PROBABILITY_CLIP) -> float:
    """The mean square of the centred ICE curves (each row's curve less its own mean over the grid),
    on the scale :func:`ice_heterogeneity` measures: how far the feature moves the output of a row,
    averaged over rows and grid points (so features with different grids compare). 0 when every
    curve is flat."""
    return float(np.mean(_centred(individual, log_odds, clip) ** 2))


def ice_heterogeneity_interval(individual: np.ndarray, *, log_odds: bool = False, n_boot: int = 500,
                               alpha: float = 0.05, rng=0, clip: float = PROBABILITY_CLIP) -> tuple[float, float]:
    """Percentile bootstrap interval of ``ice_heterogeneity`` over the rows (the ICE curves are
    resampled with replacement; NaN resamples, all curves flat, are dropped). (NaN, NaN) when none is
    defined."""
    centred = _centred(individual, log_odds, clip)
    idx = np.random.default_rng(rng).integers(0, len(centred), size=(n_boot, len(centred)))
    boot = _heterogeneity(centred[idx])
    boot = boot[np.isfinite(boot)]
    if not boot.size:
        return float("nan"), float("nan")
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _centred(individual: np.ndarray, log_odds: bool, clip: float = PROBABILITY_CLIP) -> np.ndarray:
    ice = np.asarray(individual, dtype=float)
    if log_odds:
        q = np.clip(ice, clip, 1 - clip)
        ice = np.log(q) - np.log1p(-q)
    return ice - ice.mean(axis=1, keepdims=True)


def _heterogeneity(centred: np.ndarray) -> np.ndarray:
    """H of each stack of centred curves, ``centred``: (n_stacks, n_rows, n_grid)."""
    total = np.sum(centred ** 2, axis=(1, 2))
    left = np.sum((centred - centred.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2))
    flat = total <= 1e-24 * max(1, centred[0].size)
    return np.where(flat, np.nan, left / np.where(flat, 1.0, total))
