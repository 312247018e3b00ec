"""Label-preserving perturbations of explained instances, one function per input kind (the
stability check asks the model's adapter, which calls one of these).

Each returns ``[(positions, derived ctx, x, x′)]`` — ``positions`` index the attribution's
instances, the derived context holds the perturbed inputs that kept the predicted class, and
``x``/``x′`` are the vectors the relative input change is measured on — and the number of
perturbations drawn (kept + dropped).
"""

from __future__ import annotations

import numpy as np

from auditor.metrics.ranking import top_k, top_k_size
from auditor.metrics.stability import gaussian_perturbations
from auditor.models.tabular_codec import TabularCodec


def same_predicted_class(ctx, original: np.ndarray, perturbed: np.ndarray, params) -> np.ndarray:
    """Which perturbed rows keep the original row's predicted class (outputs as ``predict_proba``)."""
    return ctx.predicted_index(perturbed) == ctx.predicted_index(original)


def tabular_perturbations(ctx, attr, p, keep=same_predicted_class) -> tuple[list[tuple], int]:
    """Gaussian perturbations of the explained rows that ``keep(ctx, original, perturbed, p)`` accepts
    (the adapter's rule over the two rows' outputs: the same predicted class for a classifier, a
    prediction within a tolerance for a regressor), one derived context per draw.

    Returns ``[(positions, derived ctx, x, x′)]`` (positions index ``attr``'s instances; x, x′ are
    the rows' numeric features standardised over the evaluation set, (x − mean) / sd, categoricals
    0 since they are never perturbed, missing values 0, at the mean) and the number of
    perturbations drawn.

    Standardised, not raw: relative input stability divides by ‖x‖, and in raw units ‖x‖ measures
    the features' origin, not the row: an exact linear SHAP explainer (w·(x − E x)) read log10 RIS
    −0.02 on standard-normal features and 2.99 on the same features shifted by 1,000, the same
    model and explanations in another unit. Centred on the evaluation mean, the input's size is
    measured from where attributions are measured from (SHAP's background, the removal baseline),
    and a change of units or origin leaves RIS as it is.
    """
    data = ctx.data
    rows = np.asarray(attr.row_ids)
    frame = data.frame.iloc[rows].reset_index(drop=True)
    numeric = [c for c in data.feature_names if c not in data.categorical]
    if not numeric:
        return [], 0  # nothing may be perturbed: categoricals stay fixed
    cont = np.array([c in numeric for c in data.feature_names], dtype=float)
    codec = TabularCodec(data.frame, data.categorical)
    values = data.frame[numeric].astype(float)
    numeric_sd = values.std(ddof=0).fillna(0.0)  # the noise's scale and the standardised input's
    noisy = gaussian_perturbations(frame[numeric].to_numpy(float), numeric_sd.to_numpy(), p.noise_frac,
                                   p.n_perturbations, ctx.rng("stability.noise"))  # (n, P, d_numeric)
    original = ctx.predict_proba_rows(rows)
    # per feature (card order): the evaluation mean and sd of a numeric one; 0 and 1 for a categorical
    numeric_mean = values.mean().fillna(0.0)
    mean = np.array([numeric_mean[c] if c in numeric else 0.0 for c in data.feature_names])
    sd = np.array([numeric_sd[c] if c in numeric and numeric_sd[c] > 0 else 1.0 for c in data.feature_names])

    def standardised(rows_frame) -> np.ndarray:
        return np.nan_to_num((codec.encode(rows_frame) - mean) / sd) * cont

    x = standardised(frame)
    sets = []
    for q in range(p.n_perturbations):
        pert = frame.copy()
        pert[numeric] = noisy[:, q, :]
        out = ctx.model.predict_proba(pert)
        pos = np.flatnonzero(keep(ctx, original, out, p))
        derived = ctx.with_rows(pert.iloc[pos], [ctx.classes[c] for c in ctx.predicted_index(out)[pos]], at=rows[pos])
        sets.append((pos, derived, x[pos], standardised(pert.iloc[pos])))
    return sets, len(rows) * p.n_perturbations


def before_mask(prefix: str, takes_space: bool) -> str:
    """The text before a mask, without its last space where the mask takes that space's place
    (:attr:`TextModel.mask_takes_space`): a byte-level or sentencepiece tokenizer folds the space
    before a word into the word's token ("Ġgood", "▁good"), so the id-level removal of that token
    drops the space too, and a mask written after it would be read as an extra "Ġ"/"▁" token."""
    return prefix[:-1] if takes_space and prefix.endswith(" ") else prefix


def text_perturbations(ctx, attr, vectors, p) -> tuple[list[tuple], int]:
    """Label-preserving one-word maskings outside each explanation's top-k words (one derived context).

    x is the word-presence indicator (ones) and x′ has a 0 at the masked word, so the relative
    input change is 1/√(words). The mask takes the place of the word's space where the tokenizer
    folds it into the word's token (``TextModel.mask_takes_space``): the id-level removal.
    """
    model = ctx.model
    mask = model.mask_text
    texts, rng = ctx.data.texts(), ctx.rng(f"stability.text.{attr.method}")
    pos, out, xs, xps = [], [], [], []
    for i, (row, v) in enumerate(zip(attr.row_ids, vectors)):
        if len(v) < 2:
            continue
        text, spans = texts[row], model.word_spans(texts[row])[: len(v)]
        # the words the agreement's top-k holds (its tie rule: float noise is a tie, index order)
        top = set(top_k(v, top_k_size(p.top_k, len(v)), by_abs=True).tolist())
        candidates = [w for w in range(len(spans)) if w not in top]
        for w in rng.permutation(candidates)[: p.n_perturbations]:
            start, end = spans[int(w)]
            xp = np.ones(len(v))
            xp[int(w)] = 0.0
            pos.append(i)
            out.append(before_mask(text[:start], model.mask_takes_space) + mask + text[end:])
            xs.append(np.ones(len(v)))
            xps.append(xp)
    if not out:
        return [], 0
    original = ctx.predicted_index(ctx.predict_proba_rows(attr.row_ids))
    pred = ctx.predicted_index(model.predict_proba(out))
    keep = np.flatnonzero(pred == original[pos])
    derived = ctx.with_rows([out[j] for j in keep], [ctx.classes[pred[j]] for j in keep])
    return [(np.asarray(pos)[keep], derived, [xs[j] for j in keep], [xps[j] for j in keep])], len(out)
