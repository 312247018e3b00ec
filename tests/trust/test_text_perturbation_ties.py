"""The stability check masks words outside an explanation's top k, and then asks whether that top k
survived: both must be the same top k, tie rule included."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from auditor.metrics.ranking import top_k
from auditor.models.perturbation import text_perturbations


def _fake_ctx(text: str):
    spans, start = [], 0
    for word in text.split(" "):
        spans.append((start, start + len(word)))
        start += len(word) + 1
    model = SimpleNamespace(
        tokenizer=SimpleNamespace(mask_token="[MASK]", unk_token="[UNK]"),
        mask_text="[MASK]",  # the removal token TextModel.mask_text gives
        mask_takes_space=False,  # a WordPiece tokenizer's: the mask follows the word's space
        word_spans=lambda t: spans,
        predict_proba=lambda texts: np.tile([0.2, 0.8], (len(texts), 1)),  # every text keeps class 1
    )
    return SimpleNamespace(
        model=model,
        data=SimpleNamespace(texts=lambda: [text]),
        rng=lambda label: np.random.default_rng(0),
        predict_proba_rows=lambda rows: np.tile([0.2, 0.8], (len(rows), 1)),
        predicted_index=lambda proba: np.asarray(proba).argmax(axis=1),
        classes=["no", "yes"],
        with_rows=lambda texts, labels, **kw: SimpleNamespace(texts=texts),
    )


def test_the_masked_words_are_outside_the_top_k_that_the_agreement_compares():
    """|v| of words 1 and 2 differ by 1e-12 of the largest (float noise: a tie, broken by index order),
    so the top 1 that feature agreement compares is word 1. The perturbation chose its words to mask
    with a raw argsort, whose top 1 is word 2, and masked word 1 — the very word whose survival the
    agreement then measured — in one of its three perturbations."""
    v = np.array([0.1, 1.0, 1.0 + 1e-12, 0.2])
    assert top_k(v, 1, by_abs=True).tolist() == [1]
    ctx = _fake_ctx("w0 w1 w2 w3")
    attr = SimpleNamespace(row_ids=np.array([0]), method="shap")
    params = SimpleNamespace(top_k=1, n_perturbations=3)
    sets, drawn = text_perturbations(ctx, attr, [v], params)
    assert drawn == 3 and len(sets) == 1
    positions, derived, xs, xps = sets[0]
    masked = sorted(int(np.flatnonzero(xp == 0)[0]) for xp in xps)
    assert masked == [0, 2, 3]  # every word but the agreement's top 1
    assert all("w1" in t for t in derived.texts)
