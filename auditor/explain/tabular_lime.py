"""LIME for tabular rows, seeded, with every perturbed sample sent through the cached predictor.

The reference distribution LIME samples from is the evaluation set (the audit has no training
data). Categorical features are sampled from their observed frequencies; continuous features are
discretised into quartiles (LIME's default), so a weight reads "this feature's bin moves the
explained class's probability by w". Output space: probability of the explained class.
"""

from __future__ import annotations

import numpy as np

from auditor.explain.attribution import Attribution
from auditor.explain.tabular_codec import TabularCodec


def explain_lime_tabular(ctx, rows: np.ndarray, *, num_samples: int = 1000, seed_offset: int = 0) -> Attribution:
    from lime.lime_tabular import LimeTabularExplainer  # imported on use (slow import)

    data = ctx.data
    model = ctx.model
    codec = TabularCodec(data.frame, data.categorical)
    reference = codec.encode(data.frame)
    # LIME cannot sample NaN: fill missing values of the reference with the column's median code.
    medians = np.nanmedian(np.where(np.isnan(reference), np.nan, reference), axis=0)
    reference = np.where(np.isnan(reference), medians, reference)
    explainer = LimeTabularExplainer(
        reference,
        feature_names=list(data.feature_names),
        categorical_features=codec.categorical_index,
        class_names=list(model.classes),
        discretize_continuous=True,
        random_state=ctx.seed + seed_offset,
    )
    proba = ctx.predict_proba_rows(rows)
    target = ctx.predicted_index(proba)
    X = codec.encode(data.frame.iloc[rows])
    X = np.where(np.isnan(X), medians, X)
    d = len(data.feature_names)
    values, intercepts, scores = [], [], []
    for row, x, t in zip(rows, X, target):
        # A generator per instance, seeded by (seed, row): an instance's explanation does not depend
        # on which other rows are explained with it, or in which order.
        explainer.random_state = np.random.RandomState(np.random.SeedSequence([ctx.seed + seed_offset, int(row)]).generate_state(1)[0])
        exp = explainer.explain_instance(
            x, lambda Z: model.predict_proba(codec.decode(Z)), labels=(int(t),),
            num_features=d, num_samples=num_samples,
        )
        w = np.zeros(d)
        for j, weight in exp.local_exp[int(t)]:
            w[j] = weight
        values.append(w)
        intercepts.append(float(exp.intercept[int(t)]))
        scores.append(float(exp.score))
    return Attribution(
        method="lime", row_ids=np.asarray(rows), target=target, values=values,
        names=[list(data.feature_names)] * len(rows), output_space="probability",
        base_values=np.array(intercepts), outputs=proba[np.arange(len(target)), target],
        params={"num_samples": num_samples, "seed": ctx.seed + seed_offset},
        extras={"surrogate_r2": np.array(scores)},
    )
