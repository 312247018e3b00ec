"""Reference §9 Case 6 end to end: the bag-of-embeddings classifier through the text adapter.

``logit₁ = Σ_t mask_t · e(token_t)``, ``logit₀ = 0``, with ``e`` = 0 for every special token and for
``[MASK]``: masking a word deletes it. The audit explains the probability ``p = σ(z)``, z the logit,
so the known answers are Case 2's closed forms on ``z`` (linear in the embeddings along the path):

* integrated gradients from the ``[PAD]`` baseline (z′ = 0, p′ = ½):
  ``IG_t = e_t · (σ(z) − ½) / z``, complete (``Σ IG = p − ½``);
* gradient × input: ``e_t · σ(z)(1 − σ(z))``;
* the id-level leave-one-out τ of either is 1.0: removing word t moves z by exactly −e_t, so the
  drops are in the words' order and any deviation is the pipeline's (tokenisation, specials, masks).

The adapter is the audit's own (``TextModel``) around a torch module, with a real WordPiece tokenizer
built from a 16-word vocabulary: encoding, the baseline, the embedding hook, the quadrature, the
word mapping and the removal inputs are all the ones an audit uses.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from transformers import BertTokenizer  # noqa: E402

from auditor.explain.text_gradients import explain_gradient_x_input, explain_integrated_gradients  # noqa: E402
from auditor.metrics.faithfulness import leave_one_out_correlation  # noqa: E402
from auditor.models.text import TextModel  # noqa: E402

from .text_rows import TextRows  # noqa: E402

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = {"great": 1.5, "fine": 0.5, "dull": -1.0, "awful": -2.0, "plot": 0.25, "film": 0.75,
         "cast": -0.25, "ending": 1.0, "slow": -0.5, "fun": 2.0, "bland": -1.5}
TEXTS = ["great plot", "dull film slow ending", "fun cast awful ending bland", "fine film great fun dull slow plot"]


class _Config:
    id2label = {0: "negative", 1: "positive"}


class _Output:
    def __init__(self, logits):
        self.logits = logits


class BagOfEmbeddings(torch.nn.Module):
    """The Case 6 classifier with the interface the adapter reads (config, input embeddings, logits)."""

    def __init__(self, values: np.ndarray):
        super().__init__()
        self.config = _Config()
        self.embeddings = torch.nn.Embedding(len(values), 1)
        with torch.no_grad():
            self.embeddings.weight.copy_(torch.as_tensor(values, dtype=torch.float32)[:, None])

    def get_input_embeddings(self):
        return self.embeddings

    def forward(self, input_ids, attention_mask, **_):
        z = (self.embeddings(input_ids)[..., 0] * attention_mask).sum(dim=-1)
        return _Output(torch.stack([torch.zeros_like(z), z], dim=-1))


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bag")
    (folder / "vocab.txt").write_text("\n".join(SPECIAL + list(WORDS)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer.from_pretrained(str(folder), local_files_only=True)
    values = np.array([0.0] * len(SPECIAL) + list(WORDS.values()))
    return TextModel(BagOfEmbeddings(values).eval(), tokenizer, max_length=16, batch_size=8)


def _expected(text: str) -> tuple[np.ndarray, float]:
    e = np.array([WORDS[w] for w in text.split()])
    return e, float(e.sum())


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def _word_values(attr, i: int) -> np.ndarray:
    """Text i's attributions at its words (special tokens dropped; every word is one token here)."""
    words = attr.words[i]
    return np.asarray(attr.values[i])[words >= 0]


@pytest.mark.parametrize("target", [1, 0])
def test_integrated_gradients_are_the_closed_form_and_complete(bag, target):
    attr = explain_integrated_gradients(bag, TEXTS, np.arange(len(TEXTS)), np.full(len(TEXTS), target),
                                        n_steps=32, internal_batch_size=8)
    sign = 1.0 if target == 1 else -1.0
    for i, text in enumerate(TEXTS):
        e, z = _expected(text)
        np.testing.assert_allclose(_word_values(attr, i), sign * e * (_sigmoid(z) - 0.5) / z, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.asarray(attr.values[i])[attr.words[i] < 0], 0.0, atol=1e-12)  # [CLS], [SEP]
        p = _sigmoid(z) if target == 1 else 1 - _sigmoid(z)
        assert attr.outputs[i] == pytest.approx(p, abs=1e-6)
        assert attr.base_values[i] == pytest.approx(0.5, abs=1e-7)  # the all-[PAD] baseline: z′ = 0
    np.testing.assert_array_less(attr.extras["completeness_rel_gap"], 1e-5)


def test_gradient_x_input_is_the_closed_form(bag):
    attr = explain_gradient_x_input(bag, TEXTS, np.arange(len(TEXTS)), np.ones(len(TEXTS), dtype=int))
    for i, text in enumerate(TEXTS):
        e, z = _expected(text)
        np.testing.assert_allclose(_word_values(attr, i), e * _sigmoid(z) * (1 - _sigmoid(z)), rtol=1e-5, atol=1e-7)


def test_leave_one_out_tau_of_exact_attributions_is_one_through_the_removal_inputs(bag):
    """Masking is deletion here, so the id-level τ-LOO of IG is 1.0 on every text; a reversed
    attribution reads −1.0 (the metric is not constant), and the special tokens are never removed."""
    attr = explain_integrated_gradients(bag, TEXTS, np.arange(len(TEXTS)), np.ones(len(TEXTS), dtype=int),
                                        n_steps=32, internal_batch_size=8)
    inputs = bag.removal_inputs(TextRows(TEXTS), np.arange(len(TEXTS)))
    seen = []
    f = inputs.f_for(1)
    tau = leave_one_out_correlation(inputs.X, list(attr.values), inputs.baseline,
                                    lambda ids: seen.extend(ids) or f(ids))
    np.testing.assert_allclose(tau, 1.0, atol=1e-12)
    reversed_ = leave_one_out_correlation(inputs.X, [-np.asarray(v) for v in attr.values], inputs.baseline, f)
    np.testing.assert_allclose(reversed_, -1.0, atol=1e-12)
    cls, sep = bag.tokenizer.cls_token_id, bag.tokenizer.sep_token_id
    for row in seen:
        assert row[0] == cls and row[-1] == sep
