"""LIME for tabular rows, seeded per row, in three phases: every instance's neighbourhood is drawn,
all of them are predicted in one batched call through the cached predictor, and every instance's
weighted ridge surrogate is fitted. Drawing and fitting are independent per instance and run on the
audit's executor; the model call in between is one, not one per instance.

The phases are LIME's own ``explain_instance`` steps (``lime_tabular`` 0.2: ``__data_inverse``,
scaling, distances, ``LimeBase.explain_instance_with_data``), so the numbers are LIME's. Each
instance draws from its own generator, seeded by (seed, row), for the sampling *and* the
discretiser's undiscretisation (LIME shares one generator between them across instances, which
would make an instance's explanation depend on the rows explained before it).

The reference distribution LIME samples from is the evaluation set (the audit has no training
data; a seeded sample of :data:`REFERENCE_ROWS` of a larger one). Categorical features are sampled
from their observed frequencies; continuous features are discretised into quartiles (LIME's
default), so a weight reads "this feature's bin moves the explained class's probability by w".
Output space: probability of the explained class; for a regressor (LIME's regression mode), the
predicted value, and w is in the target's units.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from auditor.explain.attribution import Attribution
from auditor.models.tabular_codec import TabularCodec

SAMPLES_PER_CALL = 200_000  # perturbed rows drawn and predicted at once (bounds memory)
# Evaluation rows LIME's sampling statistics (feature frequencies, quartiles, scaler) are computed
# on at most: a seeded sample of a larger set estimates them as well, and LIME counts each
# column's values in Python (12 s for 1,114,000 rows).
REFERENCE_ROWS = 100_000
CONSTANT_OUTPUT = 1e-12  # outputs of a neighbourhood that differ by less (relative) are one value


@dataclass
class Neighbourhood:
    scaled: np.ndarray  # LIME's interpretable samples, scaled; row 0 is the instance
    distances: np.ndarray  # euclidean distance of each sample to the instance
    inverse: np.ndarray  # the samples in the model's (encoded) feature space


def row_generator(seed: int, row: int) -> np.random.RandomState:
    return np.random.RandomState(np.random.SeedSequence([seed, int(row)]).generate_state(1)[0])


def neighbourhood(explainer, x: np.ndarray, num_samples: int, rng: np.random.RandomState) -> Neighbourhood:
    """LIME's perturbation samples around ``x``, drawn with ``rng`` only (a shallow copy of the
    explainer, so concurrent instances never share a generator)."""
    local = copy.copy(explainer)
    local.random_state = rng
    if local.discretizer is not None:
        local.discretizer = copy.copy(local.discretizer)
        local.discretizer.random_state = rng
    data, inverse = local._LimeTabularExplainer__data_inverse(x, num_samples)
    scaled = (data - local.scaler.mean_) / local.scaler.scale_
    from sklearn.metrics import pairwise_distances  # imported on use: loading a policy imports this module

    distances = pairwise_distances(scaled, scaled[0].reshape(1, -1), metric="euclidean").ravel()
    return Neighbourhood(scaled, distances, inverse)


def surrogate(explainer, hood: Neighbourhood, proba: np.ndarray, label: int, d: int) -> tuple[np.ndarray, float, float]:
    """Weights (d,), intercept and R² of LIME's weighted ridge surrogate for class ``label``."""
    intercept, local_exp, score, _ = explainer.base.explain_instance_with_data(
        hood.scaled, proba, hood.distances, label, d, feature_selection=explainer.feature_selection)
    w = np.zeros(d)
    y = proba[:, label] if proba.ndim == 2 else proba
    if np.ptp(y) <= CONSTANT_OUTPUT * max(1.0, float(np.max(np.abs(y)))):
        # the model gives every sample the same output: the ridge fit's weights are round-off (1e-33), which
        # a ranking read as a full order of the features; a constant model's explanation ranks nothing
        return w, float(intercept), float(score)
    for j, weight in local_exp:
        w[j] = weight
    return w, float(intercept), float(score)


@dataclass
class Reference:
    """What LIME samples from, built once per evaluation set: LIME's explainer fitted to the encoded
    evaluation rows (feature frequencies, quartiles, scaler), and the codec and the fill of missing
    values (:func:`missing_fill`) that put rows into its space. Its own generators are never drawn from: every instance draws from its
    own (:func:`neighbourhood`), and LIME's ridge solver does not use one, so one explainer serves every
    seed and part of an audit."""

    codec: TabularCodec
    fill: np.ndarray
    explainer: object

    def encode(self, frame) -> np.ndarray:
        return _filled(self.codec.encode(frame), self.fill)


def missing_fill(codec: TabularCodec, encoded: np.ndarray) -> np.ndarray:
    """What LIME samples in place of a missing value, which it cannot sample: a categorical column's
    "missing" level (decoded back to missing, so the model fills it as it was trained to; the median
    level had explained a missing category as another, sign reversed against SHAP), a numeric
    column's median over the evaluation rows (an approximation of the model's own fill)."""
    fill = np.nanmedian(encoded, axis=0)  # a feature missing in every row is refused when the data load
    for j, c in zip(codec.categorical_index, codec.categorical):
        fill[j] = codec.missing_code(c)
    return fill


def _filled(X: np.ndarray, fill: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(X), fill, X)


def reference(ctx) -> Reference:
    from lime.lime_tabular import LimeTabularExplainer  # imported on use (slow import)

    def build() -> Reference:
        data = ctx.data
        codec = TabularCodec(data.frame, data.categorical)
        frame = data.frame
        if len(frame) > REFERENCE_ROWS:  # positions drawn by the seed alone, so a derived context draws the same
            frame = frame.iloc[np.sort(ctx.rng("lime_reference").choice(len(frame), REFERENCE_ROWS, replace=False))]
        encoded = codec.encode(frame)
        fill = missing_fill(codec, encoded)
        explainer = LimeTabularExplainer(
            _filled(encoded, fill),
            mode="regression" if ctx.regression else "classification",
            feature_names=list(data.feature_names),
            categorical_features=codec.categorical_index,
            class_names=list(ctx.model.classes),
            discretize_continuous=True,
            random_state=0,  # never drawn from (see Reference)
        )
        return Reference(codec, fill, explainer)

    return ctx.data_memo(("lime_tabular_reference", ctx.regression, tuple(ctx.model.classes)), build)


def explain_lime_tabular(ctx, rows: np.ndarray, *, num_samples: int, seed_offset: int) -> Attribution:
    """Parameters and their defaults: :class:`auditor.explain.TabularLimeParams`."""
    data = ctx.data
    model = ctx.model
    seed = ctx.offset_seed(seed_offset)
    ref = reference(ctx)
    codec, explainer = ref.codec, ref.explainer
    proba = ctx.predict_proba_rows(rows)
    target = ctx.explained_class(rows, proba)
    X = ref.encode(data.frame.iloc[rows])
    d = len(data.feature_names)

    fits = []
    step = max(1, SAMPLES_PER_CALL // num_samples)
    for start in range(0, len(rows), step):
        chunk = range(start, min(start + step, len(rows)))
        hoods = ctx.executor.map(lambda i: neighbourhood(explainer, X[i], num_samples, row_generator(seed, rows[i])), chunk)
        sampled = model.predict_proba(codec.decode(np.concatenate([h.inverse for h in hoods])))
        blocks = np.split(sampled, len(hoods))  # every neighbourhood has num_samples rows
        fits += ctx.executor.map(lambda k: surrogate(explainer, hoods[k], blocks[k], int(target[chunk[k]]), d),
                                 range(len(hoods)))
    values, intercepts, scores = zip(*fits) if fits else ((), (), ())
    return Attribution(
        method="lime", row_ids=np.asarray(rows), target=target, values=list(values),
        names=[list(data.feature_names)] * len(rows), output_space="output" if ctx.regression else "probability",
        base_values=np.array(intercepts), outputs=proba[np.arange(len(target)), target],
        params={"num_samples": num_samples, "seed": seed},
        extras={"surrogate_r2": np.array(scores)},
    )
