"""One set of masked-word evaluations per text, two weighted linear fits: LIME and KernelSHAP.

LIME (Ribeiro et al. 2016) and KernelSHAP (Lundberg & Lee 2017) both fit a weighted linear model
to the model's outputs on copies of the input with some words masked; they differ only in the
weights (Captum implements ``KernelShap`` as a subclass of ``Lime`` for that reason). Here both
read the *same* samples: LIME's own neighbourhood (``lime.lime_text``: row 0 the text, then for
each sample a number of words ``s`` uniform in 1..d and ``s`` distinct words, uniformly, replaced
by the mask string), drawn from LIME's ``RandomState(seed)``. At the same ``num_samples`` and seed
the masked texts are identical, so the prediction cache answers KernelSHAP's requests from LIME's:
KernelSHAP costs one evaluation per text (the all-masked text), often a cache hit too.

KernelSHAP on LIME's samples. With ``|z|`` words kept out of ``d``, LIME draws a coalition with
probability ``q(z) = 1 / (d · C(d, |z|))``; the Shapley kernel is
``π(z) = (d − 1) / (C(d, |z|) · |z| · (d − |z|))``. The importance-weighted regression (weights
``π / q``) is therefore weighted by ``(d − 1) / (|z| (d − |z|))`` per sample, the binomials cancel.
The empty and full coalitions carry infinite kernel weight and enter as the efficiency constraint
``Σ φ = f(x) − f(∅)`` (exact: the values add up to the prediction's change from the all-masked
text), solved by eliminating the last word as shap's ``KernelExplainer`` does. For a model linear
in the word indicators the fit is exact (Shapley values = the coefficients); otherwise it is a
consistent estimator of the Shapley values whose noise shrinks with ``num_samples``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.explain.attribution import Attribution
from auditor.explain.text_gradients import check_inputs
from auditor.models.perturbation import before_mask
from auditor.models.text import TextModel


@dataclass
class WordMaskSamples:
    """LIME's neighbourhood of one text: ``data[i, w] = 1`` when word ``w`` is kept in sample ``i``
    (row 0: the text itself), the model's probabilities on each sample, and LIME's distances."""

    explainer: object  # the seeded LimeTextExplainer that drew them (fits LIME on them)
    data: np.ndarray
    probabilities: np.ndarray
    distances: np.ndarray
    all_masked: str  # the text with every word replaced by the mask string (f(∅) for KernelSHAP)


def mask_string(model: TextModel, removal: str = "mask") -> str:
    """What takes a word's place: the model's removal token (``mask_text``: [MASK], or the token it
    removes with where the tokenizer has none), or nothing (``removal="delete"``)."""
    if removal == "delete":
        return ""
    return model.mask_text


def _masked_text(text: str, spans: list[tuple[int, int]], kept: np.ndarray, mask: str, collapse: bool,
                 takes_space: bool = False) -> str:
    """``text`` with each word not ``kept`` replaced by ``mask``; with ``collapse`` a run of masked
    words (and what lies between them) becomes one ``mask``. ``takes_space``: the mask takes the
    place of the space before its word (:attr:`TextModel.mask_takes_space`)."""
    parts, end, previous_masked = [], 0, False
    for (s, e), keep in zip(spans, kept):
        between = text[end:s]
        if keep:
            parts += [between, text[s:e]]
        elif not (collapse and previous_masked):
            parts += [before_mask(between, takes_space), mask]
        previous_masked, end = not keep, e
    parts.append(text[end:])
    return "".join(parts)


def paired_coalitions(d: int, num_samples: int, random_state: np.random.RandomState) -> np.ndarray:
    """``num_samples`` rows of kept-word indicators: row 0 the text, then LIME's draws (a number of
    words to remove uniform in 1..d, then that many distinct words) each followed by its complement.

    The complement of a uniform-size draw is a uniform-size draw, so each row is still distributed
    as LIME's; the pairs cancel the even-order terms of the fit's noise (antithetic sampling, the
    paired sampling of Covert & Lee 2021; with uniform sizes this is Leverage SHAP's design,
    Musco & Witter 2025). An odd remainder is one unpaired draw.
    """
    n_draws = num_samples // 2  # rows 1 .. num_samples - 1, two per draw
    return paired_rows(d, num_samples, random_state.randint(1, d + 1, n_draws), random_state)


def paired_rows(d: int, num_samples: int, sizes, random_state: np.random.RandomState) -> np.ndarray:
    """Row 0 the text; then, for each of ``sizes``, that many distinct words drawn uniformly by
    ``random_state`` removed, the row followed by its complement (up to ``num_samples`` rows)."""
    data = np.ones((num_samples, d))
    row = 1
    for size in sizes:
        inactive = random_state.choice(d, size, replace=False)
        data[row, inactive] = 0
        if row + 1 < num_samples:
            data[row + 1] = 1 - data[row]
        row += 2
    return data


def word_mask_samples(model: TextModel, text: str, words: list[str], classifier_fn, *,
                      num_samples: int, seed: int, paired: bool = False, collapse: bool = False,
                      removal: str = "mask", spans: list[tuple[int, int]] | None = None) -> WordMaskSamples:
    """Draw masked copies of ``text`` (its words are ``words``, the tokenizer's, at ``spans``) and
    evaluate them with ``classifier_fn`` in one batched call.

    By default the sampler is LIME's own (``LimeTextExplainer``'s neighbourhood generator, called
    on the explainer ``explain_instance`` would build), so a LIME explanation fitted on these
    samples is bit-identical to ``explain_instance``'s. ``paired`` draws from the same generator
    in antithetic pairs (:func:`paired_coalitions`); ``collapse`` writes a run of masked words as one
    mask string (shorter inputs: the model's cost is its tokens). Either one needs ``spans``, as does
    a mask that takes the place of the space before its word (:attr:`TextModel.mask_takes_space`: a
    byte-level or sentencepiece tokenizer; the draws are LIME's own, the texts LIME's but for that
    space, so each encodes to the id-level removal).
    ``removal="delete"`` takes masked words out instead of writing the mask token (LIME's sampler
    then writes nothing in their place).
    """
    from lime.lime_text import IndexedString, LimeTextExplainer
    from scipy.sparse import csr_matrix
    from sklearn.metrics.pairwise import pairwise_distances

    mask = mask_string(model, removal)
    split = lambda _s, words=words: words  # noqa: E731 - LIME's words are the tokenizer's words
    explainer = LimeTextExplainer(class_names=model.classes, split_expression=split, bow=False,
                                  mask_string=mask, random_state=seed, feature_selection="none")
    indexed = IndexedString(text, bow=False, split_expression=split, mask_string=mask)
    takes_space = model.mask_takes_space
    if not (paired or collapse or takes_space):
        # lime 0.2.0.1 keeps its sampler private; it is the whole of what explain_instance evaluates.
        data, probabilities, distances = explainer._LimeTextExplainer__data_labels_distances(
            indexed, classifier_fn, num_samples)
        return WordMaskSamples(explainer, np.asarray(data), np.asarray(probabilities, dtype=float),
                               np.asarray(distances, dtype=float),
                               indexed.inverse_removing(np.arange(indexed.num_words())))
    if spans is None or len(spans) != len(words):
        raise ValueError("paired or collapsed masks, or masks that take a space, need the words' character spans")
    d = len(words)
    if paired:
        data = paired_coalitions(d, num_samples, explainer.random_state)
    else:  # LIME's own draws, in LIME's order
        data = np.ones((num_samples, d))
        for i, size in enumerate(explainer.random_state.randint(1, d + 1, num_samples - 1), start=1):
            data[i, explainer.random_state.choice(range(d), size, replace=False)] = 0
    masked = [text] + [_masked_text(text, spans, row, mask, collapse, takes_space) for row in data[1:]]
    probabilities = np.asarray(classifier_fn(masked), dtype=float)
    sparse = csr_matrix(data)  # as LIME computes them, to the last bit
    distances = pairwise_distances(sparse, sparse[0], metric="cosine").ravel() * 100
    return WordMaskSamples(explainer, data, probabilities, distances,
                           _masked_text(text, spans, np.zeros(d), mask, collapse, takes_space))


class CountingPredictor:
    """LIME's ``classifier_fn`` over the model's cached ``predict_proba``, counting the texts it is asked for."""

    def __init__(self, model: TextModel):
        self.model, self.calls = model, 0

    def __call__(self, batch) -> np.ndarray:
        self.calls += len(batch)
        return self.model.predict_proba([str(s) for s in batch])


def text_word_samples(model: TextModel, texts: list[str], predict: CountingPredictor, *, num_samples: int,
                      seed: int, paired: bool = False, collapse: bool = False, removal: str = "mask"):
    """For each text in order: its tokenizer words and the masked samples of them (``None`` for a
    text with no word), the samples LIME and KernelSHAP fit. A truncated text is sampled as the model
    read it (:meth:`TextModel.visible_text`): its words beyond the cut are no features, and no masked
    sample, shorter by its collapsed or deleted words, lets them into the model's window."""
    for text in texts:
        text = model.visible_text(text)
        spans = model.word_spans(text)
        words = [text[s:e] for s, e in spans]
        yield words, (word_mask_samples(model, text, words, predict, num_samples=num_samples, seed=seed,
                                        paired=paired, collapse=collapse, removal=removal, spans=spans)
                      if words else None)


def kernel_shap_weights(kept: np.ndarray, d: int) -> np.ndarray:
    """Regression weight of a sample with ``kept`` words out of ``d`` drawn by LIME's sampler:
    the Shapley kernel over LIME's sampling probability, ``(d − 1) / (|z| (d − |z|))``; 0 for the
    empty and full coalitions (they enter as the efficiency constraint)."""
    kept = np.asarray(kept, dtype=float)
    inner = (kept > 0) & (kept < d)
    out = np.zeros(len(kept))
    out[inner] = (d - 1) / (kept[inner] * (d - kept[inner]))
    return out


def kernel_shap_fit(data: np.ndarray, y: np.ndarray, f_x: float, f_empty: float) -> np.ndarray:
    """Shapley values from coalition rows ``data`` (1 = word kept) and outputs ``y``, with
    ``Σ φ = f_x − f_empty`` exactly (weighted least squares, last word eliminated)."""
    data = np.asarray(data, dtype=float)
    d = data.shape[1]
    total = f_x - f_empty
    if d == 1:
        return np.array([total])
    w = kernel_shap_weights(data.sum(axis=1), d)
    use = w > 0
    if not use.any():  # no informative coalition: share the change equally (the symmetric answer)
        return np.full(d, total / d)
    z, target, sw = data[use], np.asarray(y, dtype=float)[use] - f_empty, np.sqrt(w[use])
    design = z[:, :-1] - z[:, -1:]
    target = target - z[:, -1] * total
    head, *_ = np.linalg.lstsq(design * sw[:, None], target * sw, rcond=None)
    return np.append(head, total - head.sum())


def spread_over_pieces(word_values: np.ndarray, word_ids: np.ndarray, n_tokens: int) -> np.ndarray:
    """Token values with each word's value spread equally over its sub-tokens (special tokens 0),
    so summing back to words recovers the word values exactly."""
    v = np.zeros(n_tokens)
    wid = np.asarray(word_ids)
    for w in np.unique(wid[wid >= 0]):
        pieces = wid == w
        v[pieces] = word_values[w] / pieces.sum()
    return v


def explain_kernel_shap_text(model: TextModel, texts: list[str], row_ids: np.ndarray,
                             target: np.ndarray, *, num_samples: int, seed: int, paired: bool = False,
                             collapse: bool = False, removal: str = "mask") -> Attribution:
    """KernelSHAP over the tokenizer's words on LIME's masked samples, explaining the target-class
    probability; ``base_values`` = f(all words masked), so ``Σ values + base = f(x)`` exactly.

    Parameters
    ----------
    num_samples, seed, paired, collapse, removal:
        LIME's: at LIME's values the masked texts are LIME's own (answered by the prediction cache).
    """
    row_ids, target = check_inputs(texts, row_ids, target)
    texts = [str(t) for t in texts]
    enc = model.encode(texts)
    predict = CountingPredictor(model)
    values, base = [], np.full(len(texts), np.nan)
    n_samples = np.zeros(len(texts))
    outputs = model.predict_proba(texts)[np.arange(len(texts)), target] if texts else np.zeros(0)
    samples_of = text_word_samples(model, texts, predict, num_samples=num_samples, seed=seed,
                                   paired=paired, collapse=collapse, removal=removal)
    for i, (words, samples) in enumerate(samples_of):
        t = int(target[i])
        if samples is None:
            values.append(np.zeros(len(enc[i].ids)))
            continue
        base[i] = float(predict([samples.all_masked])[0, t])
        phi = kernel_shap_fit(samples.data, samples.probabilities[:, t], float(outputs[i]), base[i])
        values.append(spread_over_pieces(phi, enc[i].word_ids, len(enc[i].ids)))
        n_samples[i] = len(samples.data)
    return Attribution(
        method="kernel_shap", row_ids=row_ids, target=target, values=values,
        names=[list(e.tokens) for e in enc], output_space="probability", base_values=base,
        outputs=outputs, params={"num_samples": num_samples, "seed": seed,
                                 "mask_string": mask_string(model, removal), "removal": removal, "paired": paired,
                                 "collapse_masks": collapse,
                                 "features": "tokenizer words", "samples": "LIME's (shared)",
                                 "token_weights": "spread equally over sub-tokens"},
        forward_passes=predict.calls + len(texts), words=[e.word_ids.copy() for e in enc],
        extras={"samples": n_samples},
    )
