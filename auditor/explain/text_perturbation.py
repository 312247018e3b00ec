"""Perturbation and attention explanations of a transformers classifier: SHAP, LIME, attention.

SHAP and LIME explain the **probability of the target class**; their model calls go through the
cached, batched ``TextModel.predict_proba``, so an identical masked text is evaluated once per
audit.
Both libraries perturb *strings*, so masked inputs are re-tokenised (the pitfall of
``reference/explanation-metrics.md`` §6.2); we keep it to the shap/LIME semantics the reader knows,
write the mask where a byte-level or sentencepiece tokenizer's word token holds the space before it
(``TextModel.mask_takes_space``, probed: a masked text encodes to the id-level removal), and map
their outputs back onto the model's own token positions:

* **SHAP** (``shap.explainers.Partition`` + ``shap.maskers.Text(tokenizer)``, masking with the mask
  token; with ``collapse`` a run of masked tokens is one mask token, shap's ``collapse_mask_token``). shap's features are exactly ``tokenizer(text)["input_ids"]`` of the *untruncated* text, so
  position ``j`` of the model's encoding is shap feature ``j`` for the common prefix, and trailing
  special tokens are matched from the end. Values of tokens cut off by truncation cannot be placed;
  their sum is kept in ``extras["unmapped"]``. Partition SHAP is deterministic once its tie-breaks
  are (``seed`` and the text seed the ones shap draws, :func:`_ties_broken_by`); ``base_values``
  are shap's (the all-masked output), so ``sum(values) + base = f(x)``.
* **LIME** (``lime.lime_text.LimeTextExplainer``, ``bow=False``, words replaced by the mask token).
  LIME's words are the *tokenizer's* words (a ``split_expression`` callable built from the offsets),
  so LIME word ``w`` is model word ``w``. The word weight is **spread equally over the word's
  sub-tokens**: summing back to words (:mod:`auditor.explain.text_words`) recovers the LIME weight
  exactly, and token-level deletion metrics do not see the word's later pieces as null features, as
  they would if the first piece carried everything. Each instance uses a fresh explainer seeded
  with ``seed``, so an instance's explanation does not depend on which others were explained.
  LIME's sampler and regression are called in two steps (:mod:`auditor.explain.text_word_masks`),
  bit-identical to ``explain_instance`` with ``paired`` and ``collapse`` off, so KernelSHAP
  (``kernel_shap``) can fit the same samples. ``paired`` draws LIME's masks in antithetic pairs,
  ``collapse`` writes a run of masked words as one mask string (the policies' default: steadier
  across seeds, fewer tokens).
* **Attention**: last-layer ``[CLS]`` row averaged over heads, and attention rollout (Abnar &
  Zuidema 2020) with ``0.5 I + 0.5 A`` per layer. Unsigned and class-agnostic: ``target`` is only
  recorded. ``output_space`` is nominally ``"probability"`` (``outputs`` hold the target
  probability).

``forward_passes`` counts every sequence a method asked the model for, cache hits included.
"""

from __future__ import annotations

import hashlib
import weakref
from contextlib import contextmanager

import numpy as np

from auditor.explain.attribution import Attribution
from auditor.explain.text_gradients import check_inputs
from auditor.models.base import Capability
from auditor.models.perturbation import before_mask
from auditor.models.text import TextModel


def _target_outputs(model: TextModel, texts: list[str], target: np.ndarray) -> np.ndarray:
    if not texts:
        return np.zeros(0)
    return model.predict_proba(texts)[np.arange(len(texts)), target]


def _map_shap_values(ids: np.ndarray, shap_ids: np.ndarray, shap_values: np.ndarray) -> np.ndarray:
    """Place shap's per-token values on the model's (possibly truncated) token positions."""
    out = np.zeros(len(ids))
    n = min(len(ids), len(shap_ids))
    prefix = 0
    while prefix < n and ids[prefix] == shap_ids[prefix]:
        prefix += 1
    out[:prefix] = shap_values[:prefix]
    # Trailing special tokens ([SEP]) that truncation re-attached after the cut.
    t = 1
    while prefix + t <= len(ids) and t <= len(shap_ids) - prefix and ids[-t] == shap_ids[-t]:
        out[-t] = shap_values[-t]
        t += 1
    return out


def _map_shap_by_offsets(enc, shap_encoding, shap_values: np.ndarray) -> np.ndarray:
    """Place shap's per-token values (tokens of the text alone) on the model's text tokens with the
    same character spans, in order where several share one (the bytes of one character); prompt
    tokens (special) get 0. The ids may differ: inside the prompt a byte-level tokenizer's first text
    token carries the prompt's space ("Ġvery" for shap's "very"). No special token is assumed at
    either end; what cannot be placed (shap's own special tokens, truncated text) stays in
    ``unmapped``."""
    out = np.zeros(len(enc.ids))
    where: dict[tuple[int, int], list[int]] = {}
    for j, ((s, e), special) in enumerate(zip(enc.offsets, enc.special)):
        if not special:
            where.setdefault((int(s), int(e)), []).append(j)
    for (s, e), v in zip(shap_encoding["offset_mapping"], shap_values):
        slots = where.get((int(s), int(e)))
        if slots and e > s:
            out[slots.pop(0)] = v
    return out


def _text_masker(tokenizer, collapse: bool, mask_token: str | None = None, takes_space: bool = False):
    """shap's Text masker whose token segments give each character of the text once. shap cuts a
    token's segment from its character offsets, and the byte-level tokens of one character (an
    emoji, an accented letter under a GPT-2, Llama 3 or Qwen2 tokenizer) share them: each segment
    was the whole character, so the unmasked text shap explained held it once per byte token
    ("café" read "caféé") and its values explained another text than the audited one.
    ``takes_space``: a mask takes the place of the space before its token
    (:attr:`TextModel.mask_takes_space`), so a masked text encodes to the id-level removal."""
    import shap

    class Masker(shap.maskers.Text):
        def token_segments(self, s):
            try:
                data = self.tokenizer(s, return_offsets_mapping=True)
            except (NotImplementedError, TypeError):  # no offsets: shap's own way
                return super().token_segments(s)
            offsets = [(0, 0) if o is None else tuple(o) for o in data["offset_mapping"]]
            parts, covered = [], 0
            for i, (a, b) in enumerate(offsets):
                end = max(b, offsets[i + 1][0]) if i + 1 < len(offsets) else b
                a = max(a, covered) if b > a else a
                parts.append(s[a:end] if end > a else "")
                covered = max(covered, end)
            return parts, data["input_ids"]

        def __call__(self, mask, s):
            """The text with each masked token's characters replaced by the mask token and every other
            character as it is. shap's own squeezes every run of whitespace to one space and strips
            the ends, so a text with a newline, a double or a trailing space was explained as another
            text: under a byte-level or sentencepiece tokenizer (GPT-2, Llama, Qwen2) whitespace is
            tokens, and the values did not add up to the audited text's f(x) - f(∅)."""
            if self.output_type != "string":
                return super().__call__(mask, s)
            mask = np.array(self._standardize_mask(mask, s), dtype=bool)
            self._update_s_cache(s)
            if self.keep_prefix > 0:
                mask[: self.keep_prefix] = True
            if self.keep_suffix > 0:
                mask[-self.keep_suffix:] = True
            # whitespace after a masked token waits in ``trail``: a collapsed run of masked tokens drops
            # what lies between them. A segment of whitespace only (or none: a special token, a byte
            # of a character another token holds) has nothing to mask and stays as it is
            out, trail, in_run = [], "", False
            for keep, part in zip(mask, self._segments_s):
                if not part.strip():
                    if in_run:
                        trail += part
                    else:
                        out.append(part)
                elif keep:
                    out += [trail, part]
                    trail, in_run = "", False
                else:
                    lead, tail = part[: len(part) - len(part.lstrip())], part[len(part.rstrip()):]
                    if not (self.collapse_mask_token and in_run):
                        if takes_space and not (trail + lead) and out:  # the space ends the previous segment
                            out[-1] = before_mask(out[-1], True)
                        out += [before_mask(trail + lead, takes_space), self.mask_token]
                    trail, in_run = tail, True
            out.append(trail)
            return (np.array(["".join(out)]),)

    return Masker(tokenizer, mask_token=mask_token, collapse_mask_token=collapse)


@contextmanager
def _ties_broken_by(seed: int, text: str):
    """numpy's global generator seeded from ``seed`` and ``text`` while shap explains ``text``, its
    state restored after. shap's Partition orders the nodes it may refine by their weight and breaks
    exact ties with ``np.random.randn()`` from the global generator, which numpy seeds from the
    operating system in every process: under a budget, which of two tied nodes was refined changed
    a text's values from one run to the next (one review in 100: its leave-one-out correlation read
    0.3525 in one run and 0.3505 in others on the same predictions). Seeded per text, an
    explanation does not depend on the process, nor on which texts were explained before it."""
    state = np.random.get_state()
    digest = hashlib.sha256(f"{int(seed)}\x00{text}".encode()).digest()
    np.random.seed(int.from_bytes(digest[:4], "little"))
    try:
        yield
    finally:
        np.random.set_state(state)


@contextmanager
def _suffix_kept(masker, n: int):
    """shap's masker keeps at least the last ``n`` tokens of the text it explains (a decoder's pad
    token written at the text's end, :meth:`TextModel.kept_suffix`: masking it moved the position the
    head reads), its own ``keep_suffix`` restored after."""
    own = masker.keep_suffix
    masker.keep_suffix = max(own, int(n))
    try:
        yield
    finally:
        masker.keep_suffix = own


def explain_shap_text(model: TextModel, texts: list[str], row_ids: np.ndarray,
                      target: np.ndarray, *, max_evals: int, batch_size: int,
                      seed: int, collapse: bool = False) -> Attribution:
    """Partition SHAP over tokens, explaining the target-class probability.

    Parameters
    ----------
    max_evals:
        Model evaluations per instance (shap also caps at ``(M-1)*M`` for M tokens).
    batch_size:
        Masked texts per call to the model function (at least 64, so shap's small default of 5
        does not cost one Python round trip per handful of texts).
    seed:
        With each text, seeds the tie-breaks shap draws from numpy's global generator
        (:func:`_ties_broken_by`); Partition SHAP is otherwise deterministic.
    collapse:
        shap's ``collapse_mask_token``: a run of masked tokens becomes one mask token (shorter inputs;
        shap's default for a tokenizer with a mask token is one mask per token).
    """
    import shap

    row_ids, target = check_inputs(texts, row_ids, target)
    # a truncated text is explained as the model read it: masking a run of its words as one mask
    # token (collapse) would pull words from beyond the cut into the model's window
    texts = [model.visible_text(str(t)) for t in texts]
    enc = model.encode(texts)
    # the model's own removal token: shap's default for a tokenizer without [MASK] is "...", which no
    # other method removes with (faithfulness writes model.mask_id, LIME the same token as text)
    masker = _text_masker(model.tokenizer, collapse, model.mask_text, model.mask_takes_space)
    values: list[np.ndarray] = [np.zeros(0)] * len(texts)
    base = np.full(len(texts), np.nan)
    unmapped = np.zeros(len(texts))
    calls = [0]
    # One explainer per target class, with a one-output model function: shap then explains
    # exactly the target probability, and its tree search is driven by that output alone.
    for c in np.unique(target):
        def f(x, c=int(c)):
            calls[0] += len(x)
            return model.predict_proba([str(s) for s in x])[:, c]

        pos = np.flatnonzero(target == c)
        shap_ids_of = {int(i): np.asarray(model.tokenizer(texts[i])["input_ids"], dtype=np.int64) for i in pos}
        # shap's clustering needs two tokens; a text of one (a one-word text under a tokenizer that adds
        # no special token, GPT-2's) has its exact Shapley value: f(text) less f(masked text)
        partition = [int(i) for i in pos if len(shap_ids_of[int(i)]) >= 2]
        explained: dict[int, tuple[np.ndarray, float]] = {}
        if partition:
            explainer = shap.explainers.Partition(f, masker)
            for i in partition:
                with _ties_broken_by(seed, texts[i]), _suffix_kept(masker, model.kept_suffix(enc[i])):
                    exp = explainer([texts[i]], max_evals=max_evals, batch_size=max(64, batch_size), silent=True)
                explained[i] = (np.asarray(exp.values[0], dtype=float).reshape(-1),
                                float(np.asarray(exp.base_values[0]).reshape(-1)[0]))
        for i in pos:
            i = int(i)
            if i not in explained:
                full = np.asarray(f([texts[i]]), dtype=float)
                if not len(shap_ids_of[i]):  # no token: nothing to attribute
                    explained[i] = (np.zeros(0), float(full[0]))
                    continue
                empty = float(f([str(masker(np.zeros(1, dtype=bool), texts[i])[0][0])])[0])
                explained[i] = (full - empty, empty)
        for i in pos:
            shap_values, base[i] = explained[int(i)]
            shap_ids = shap_ids_of[int(i)]
            if len(shap_ids) != len(shap_values):
                raise ValueError(f"shap returned {len(shap_values)} values for "
                                 f"{len(shap_ids)} tokens")
            if model.has(Capability.PROMPTED):  # the text sits inside a prompt: place values by characters
                values[i] = _map_shap_by_offsets(enc[i], model.tokenizer(texts[i], return_offsets_mapping=True),
                                                 shap_values)
            else:
                values[i] = _map_shap_values(enc[i].ids, shap_ids, shap_values)
            unmapped[i] = shap_values.sum() - values[i].sum()
    outputs = _target_outputs(model, texts, target)
    return Attribution(
        method="shap", row_ids=row_ids, target=target, values=values,
        names=[list(e.tokens) for e in enc], output_space="probability", base_values=base,
        outputs=outputs, params={"algorithm": "partition", "max_evals": max_evals,
                                 "batch_size": max(64, batch_size), "seed": seed,
                                 "mask_token": masker.mask_token, "collapse_masks": collapse},
        forward_passes=calls[0] + len(texts), words=[e.word_ids.copy() for e in enc],
        extras={"unmapped": unmapped},
    )


def explain_lime_text(model: TextModel, texts: list[str], row_ids: np.ndarray, target: np.ndarray,
                      *, num_samples: int, seed: int, paired: bool = False, collapse: bool = False,
                      removal: str = "mask") -> Attribution:
    """LIME over the tokenizer's words, explaining the target-class probability.

    Parameters
    ----------
    num_samples:
        Perturbed texts per instance (each one model evaluation, before de-duplication).
    seed:
        ``random_state`` of every instance's explainer.
    paired, collapse:
        Antithetic pairs of masks, and one mask string per run of masked words
        (:func:`auditor.explain.text_word_masks.word_mask_samples`); both off is LIME's own sampler.
    removal:
        ``"mask"`` writes the tokenizer's mask token for a masked word, ``"delete"`` removes it.
    """
    from auditor.explain.tabular_lime import CONSTANT_OUTPUT
    from auditor.explain.text_word_masks import CountingPredictor, mask_string, spread_over_pieces, text_word_samples

    row_ids, target = check_inputs(texts, row_ids, target)
    texts = [str(t) for t in texts]
    enc = model.encode(texts)
    predict = CountingPredictor(model)
    values, intercept, score = [], np.full(len(texts), np.nan), np.full(len(texts), np.nan)
    # LIME's own sampler and fit (explain_instance's two steps), on samples KernelSHAP can share.
    samples_of = text_word_samples(model, texts, predict, num_samples=num_samples, seed=seed,
                                   paired=paired, collapse=collapse, removal=removal)
    for i, (words, s) in enumerate(samples_of):
        if s is None:
            values.append(np.zeros(len(enc[i].ids)))
            continue
        t = int(target[i])
        intercept[i], local_exp, score[i], _ = s.explainer.base.explain_instance_with_data(
            s.data, s.probabilities, s.distances, t, len(words), feature_selection="none")
        weights = np.zeros(len(words))
        y = s.probabilities[:, t]
        if np.ptp(y) > CONSTANT_OUTPUT * max(1.0, float(np.max(np.abs(y)))):
            # else the model gives every masked text the same output: the ridge fit's weights are round-off
            # (1e-32 on a constant BERT head), which a ranking read as a full order of the words, as tabular
            # LIME's were
            for feature, weight in local_exp:
                weights[feature] = weight
        values.append(spread_over_pieces(weights, enc[i].word_ids, len(enc[i].ids)))
    outputs = _target_outputs(model, texts, target)
    return Attribution(
        method="lime", row_ids=row_ids, target=target, values=values,
        names=[list(e.tokens) for e in enc], output_space="probability",
        base_values=np.full(len(texts), np.nan), outputs=outputs,
        params={"num_samples": num_samples, "seed": seed, "mask_string": mask_string(model, removal),
                "removal": removal, "paired": paired, "collapse_masks": collapse,
                "features": "tokenizer words", "token_weights": "spread equally over sub-tokens"},
        forward_passes=predict.calls + len(texts), words=[e.word_ids.copy() for e in enc],
        extras={"intercept": intercept, "score": score},
    )


# A model's attention rows per text (token ids, read position): the read row of the last layer's
# attention (mean over heads) and of the rollout. Attention maps are a forward pass of their own, outside
# the prediction cache, and `attention_cls` and `attention_rollout` read the same ones.
_ATTENTION_ROWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def attention_rollout(layers: list[np.ndarray]) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) for one sequence.

    Each layer's attention (heads, L, L) is averaged over heads, mixed with the residual stream as
    ``0.5 I + 0.5 A`` and re-normalised row-wise; the layers are multiplied from the last down to
    the first. Row ``i`` of the result is how much token ``i`` at the top draws on each input token;
    every row sums to 1.
    """
    rollout = None
    for layer in layers:
        a = np.asarray(layer, dtype=float).mean(axis=0)
        a = 0.5 * np.eye(a.shape[0]) + 0.5 * a
        a = a / a.sum(axis=1, keepdims=True)
        rollout = a if rollout is None else a @ rollout
    if rollout is None:
        raise ValueError("attention_rollout needs at least one layer")
    return rollout


def explain_attention(model: TextModel, texts: list[str], row_ids: np.ndarray,
                      target: np.ndarray) -> dict[str, Attribution]:
    """Attention as attribution: ``"attention_cls"`` and ``"attention_rollout"``.

    Returns
    -------
    dict
        Method name -> Attribution; values are the ``[CLS]`` (position 0) row, unsigned, summing
        to 1 over the sequence (special tokens included).
    """
    row_ids, target = check_inputs(texts, row_ids, target)
    texts = [str(t) for t in texts]
    enc = model.encode(texts)
    cls_vals, roll_vals = [], []
    held = _ATTENTION_ROWS.setdefault(model, {})
    for e in enc:
        row = model.read_position(e)  # [CLS] (0) for an encoder; the last token for a causal decoder
        key = (np.asarray(e.ids, dtype=np.int64).tobytes(), row)
        if key not in held:  # both methods read the same maps: one attention pass per text, not one per method
            layers = model.attentions(e.ids)
            held[key] = (layers[-1].mean(axis=0)[row].copy(), attention_rollout(layers)[row].copy())
        cls_vals.append(held[key][0].copy())
        roll_vals.append(held[key][1].copy())
    outputs = _target_outputs(model, texts, target)
    result = {}
    variants = (("attention_cls", cls_vals, {"layer": "last", "heads": "mean"}),
                ("attention_rollout", roll_vals, {"residual": 0.5, "heads": "mean"}))
    for method, vals, params in variants:
        result[method] = Attribution(
            method=method, row_ids=row_ids, target=target, values=vals,
            names=[list(e.tokens) for e in enc], output_space="probability",
            base_values=np.full(len(texts), np.nan), outputs=outputs.copy(), params=params,
            forward_passes=2 * len(texts), words=[e.word_ids.copy() for e in enc],
        )
    return result
