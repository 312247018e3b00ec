"""Faster forward passes with the same arithmetic (issue 17): a BERT-style classifier on its real
tokens only, a prompted causal LM with its head at the answer positions only. The same probabilities
and gradients as the model's own forward; that forward wherever a path does not apply or would move
a probability."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.models import fast_forward, unpadded_encoder
from auditor.models.decoder import load_sequence_classifier
from auditor.models.text import length_groups

from . import tiny_bert
from .same_explanations import assert_same_gradient_explanations

torch = pytest.importorskip("torch")

# 3 to 14 words: batches mix lengths, so attention runs in several length groups
TEXTS = [tiny_bert.make_sentence(np.random.default_rng(i), w, 1 + (5 * i) % 12)
         for i, w in enumerate(["good", "bad", None] * 4)]


def load(path, monkeypatch, unpadded: bool):
    monkeypatch.setenv(fast_forward.ENV_SWITCH, "1" if unpadded else "0")
    return load_sequence_classifier(path, max_length=32, batch_size=8, threads=1)


def forbid_own_forward(model) -> None:
    def refuse(*args, **kw):
        raise AssertionError("the model's own padded forward was called")

    model.model.forward = refuse


def test_real_tokens_only_give_the_padded_numbers(tiny_text_model_dir, monkeypatch):
    fast, plain = load(tiny_text_model_dir, monkeypatch, True), load(tiny_text_model_dir, monkeypatch, False)
    facts = fast.runtime_facts["fast_forward"]
    assert facts["used"] is True and facts["probe_inputs"] == 3
    assert 0 <= facts["probe_max_abs_prob_diff"] <= fast_forward.TOLERANCE
    assert plain.runtime_facts["fast_forward"] == {"used": False, "reason": f"{fast_forward.ENV_SWITCH}=0"}
    assert len(length_groups([len(a) for a in fast.token_ids(TEXTS)])) >= 2  # mixed lengths in one batch
    forbid_own_forward(fast)  # every number below comes from the unpadded path
    p = fast.predict_proba(TEXTS)
    np.testing.assert_allclose(p, plain.predict_proba(TEXTS), atol=1e-6)
    assert np.abs(p[:, 1] - 0.5).max() > 0.2  # a trained model, not a constant
    assert_same_gradient_explanations(fast, plain, TEXTS, p.argmax(axis=1))


def test_a_whole_batch_equals_each_text_alone(tiny_text_model):
    """One pass over a batch of mixed lengths gives each row what the text gives alone (no padding,
    nothing leaking between rows through the token stream)."""
    assert tiny_text_model.runtime_facts["fast_forward"]["used"] is True
    assert tiny_text_model.runtime_facts["device"] == "cpu"  # where the passes ran, in provenance
    arrays = tiny_text_model.token_ids(TEXTS)
    ids, mask = tiny_text_model.pad_batch(arrays)
    with torch.inference_mode():
        together = tiny_text_model.class_logits(ids, mask)
        alone = torch.cat([tiny_text_model.class_logits(*tiny_text_model.pad_batch([a])) for a in arrays])
    np.testing.assert_allclose(together.numpy(), alone.numpy(), atol=1e-5)


def test_left_padding_and_training_mode_use_the_models_own_forward(tiny_text_model):
    fast = tiny_text_model._fast
    ids, mask = tiny_text_model.pad_batch(tiny_text_model.token_ids(TEXTS[:4]))
    left_ids, left_mask = ids.flip(1), mask.flip(1)  # first column is padding for the shorter rows
    with torch.inference_mode():
        own = tiny_text_model.model(input_ids=left_ids, attention_mask=left_mask).logits
        assert torch.equal(fast(left_ids, left_mask), own)
    tiny_text_model.model.train()  # dropout would act: only the model's own forward knows where
    try:
        with torch.inference_mode():
            assert torch.equal(fast(ids, mask), tiny_text_model.model(input_ids=ids, attention_mask=mask).logits)
    finally:
        tiny_text_model.model.eval()


def test_the_randomised_copies_keep_the_path_with_their_own_weights(tiny_text_model_dir, monkeypatch):
    fast, plain = load(tiny_text_model_dir, monkeypatch, True), load(tiny_text_model_dir, monkeypatch, False)
    monkeypatch.setenv(fast_forward.ENV_SWITCH, "1")  # a copy follows its original, not the switch
    r_fast, r_plain = fast.randomised(3, n_layers=2), plain.randomised(3, n_layers=2)
    assert r_fast.runtime_facts["fast_forward"]["used"] is True and r_plain._fast is None
    p_random = r_fast.predict_proba(TEXTS)
    assert np.abs(p_random - fast.predict_proba(TEXTS)).max() > 0.05
    np.testing.assert_allclose(p_random, r_plain.predict_proba(TEXTS), atol=1e-6)


def test_a_path_that_moves_a_probability_or_fails_is_not_used(tiny_text_model_dir, monkeypatch):
    real = unpadded_encoder.UnpaddedClassifier.__call__
    shift = torch.tensor([0.1, 0.0])  # one class's logit: a shift of all of them leaves the probabilities
    monkeypatch.setattr(unpadded_encoder.UnpaddedClassifier, "__call__", lambda self, i, m: real(self, i, m) + shift)
    model = load(tiny_text_model_dir, monkeypatch, True)
    assert model._fast is None and "above 1e-05" in model.runtime_facts["fast_forward"]["reason"]

    def broken(self, i, m):
        raise RuntimeError("index out of range")

    monkeypatch.setattr(unpadded_encoder.UnpaddedClassifier, "__call__", broken)
    facts = load(tiny_text_model_dir, monkeypatch, True).runtime_facts["fast_forward"]
    assert facts == {"used": False, "reason": "the faster forward failed (RuntimeError: index out of range)"}
    monkeypatch.undo()
    plain = load(tiny_text_model_dir, monkeypatch, False)
    np.testing.assert_allclose(model.predict_proba(TEXTS), plain.predict_proba(TEXTS), atol=1e-7)


def test_other_architectures_are_recognised_as_such(tmp_path_factory, monkeypatch):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    llama = LlamaForSequenceClassification(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=48,
                                                       num_hidden_layers=1, num_attention_heads=2, pad_token_id=0))
    with pytest.raises(unpadded_encoder.UnsupportedModel, match="not a BERT-style encoder"):
        unpadded_encoder.UnpaddedClassifier(llama)  # a decoder has its own path (test_unpadded_decoder.py)
    model = load(tiny_bert.build_tiny_text_model(tmp_path_factory.mktemp("relative") / "m", steps=2),
                 monkeypatch, True).model
    model.config.position_embedding_type = "relative_key"
    with pytest.raises(unpadded_encoder.UnsupportedModel, match="relative position embeddings"):
        unpadded_encoder.UnpaddedClassifier(model)
    model.config.position_embedding_type = "absolute"
    model.classifier = torch.nn.Sequential(model.classifier)
    with pytest.raises(unpadded_encoder.UnsupportedModel, match="not one linear layer"):
        unpadded_encoder.UnpaddedClassifier(model)


def test_runs_of_one_length_cover_the_token_stream():
    assert unpadded_encoder._runs(np.array([3, 3, 5, 7, 7, 7])) == [(0, 2, 0, 3), (2, 3, 6, 5), (3, 6, 11, 7)]
    assert unpadded_encoder._runs(np.array([4])) == [(0, 1, 0, 4)]
    assert unpadded_encoder._runs(np.array([], dtype=int)) == []


# ---------------------------------------------------------------- a causal LM prompted as a classifier
@pytest.fixture(scope="module")
def causal_lm_dir(tmp_path_factory):
    from . import tiny_decoder

    return tiny_decoder.build_tiny_causal_lm(tmp_path_factory.mktemp("fast_clm") / "model", steps=60)


def load_prompted(path, monkeypatch, fast: bool):
    from auditor.models.decoder import load_causal_lm

    from . import tiny_decoder

    monkeypatch.setenv(fast_forward.ENV_SWITCH, "1" if fast else "0")
    return load_causal_lm(path, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=48,
                          batch_size=8)


def test_a_prompted_lm_reads_its_head_at_the_answer_only(causal_lm_dir, monkeypatch):
    from auditor.models.decoder import ANSWER_ONLY

    fast, plain = load_prompted(causal_lm_dir, monkeypatch, True), load_prompted(causal_lm_dir, monkeypatch, False)
    assert fast.runtime_facts["fast_forward"]["used"] is True and fast.runtime_facts["fast_forward"]["how"] == ANSWER_ONLY
    seen = []
    head = fast.model.get_output_embeddings()
    hook = head.register_forward_hook(lambda m, i, out: seen.append(tuple(out.shape)))
    p = fast.predict_proba(TEXTS)
    hook.remove()
    np.testing.assert_allclose(p, plain.predict_proba(TEXTS), atol=1e-6)
    # one head row per distinct answer position in a batch, never one per token
    lengths = [len(a) for a in fast.token_ids(TEXTS)]
    assert sum(rows * kept for rows, kept, _ in seen) <= len(TEXTS) * len(set(lengths)) < sum(lengths)
    assert_same_gradient_explanations(fast, plain, TEXTS, p.argmax(axis=1), methods=["integrated_gradients"])
    monkeypatch.setenv(fast_forward.ENV_SWITCH, "1")
    other = fast.with_prompt("opinion : {text} verdict :")  # the prompt-sensitivity check's copies keep it
    assert other.runtime_facts["fast_forward"]["used"] is True


def test_a_causal_lm_without_logits_to_keep_uses_its_full_logits(causal_lm_dir, monkeypatch):
    from auditor.models.decoder import PromptedCausalLM

    model = load_prompted(causal_lm_dir, monkeypatch, False)
    inner = model.model.forward
    model.model.forward = lambda input_ids=None, attention_mask=None: inner(input_ids=input_ids,
                                                                           attention_mask=attention_mask)
    assert PromptedCausalLM.fast_forward(model) == (None, "the model's forward takes no logits_to_keep")


# ---------------------------------------------------------------- a prompted LM's shared prompt prefix
LONG_PROMPT = "review : yes . review : no . opinion : verdict : review : sentiment : {text} sentiment :"


def load_long_prompt(path, monkeypatch, fast: bool, prompt: str = LONG_PROMPT):
    from auditor.models.decoder import load_causal_lm

    from . import tiny_decoder

    monkeypatch.setenv(fast_forward.ENV_SWITCH, "1" if fast else "0")
    return load_causal_lm(path, prompt=prompt, label_words=tiny_decoder.LABEL_WORDS, max_length=64, batch_size=8)


def embedded_lengths(model) -> tuple[list, object]:
    """The sequence length of every pass through the Llama's layers, read at its final norm (a hook on
    the embedding layer would itself make the batch run whole; remove the hook after use)."""
    seen = []
    return seen, model.model.model.norm.register_forward_hook(lambda m, i, out: seen.append(int(out.shape[1])))


def test_a_prompts_shared_prefix_is_computed_once_with_the_same_numbers(causal_lm_dir, monkeypatch):
    from auditor.models.prompt_prefix import HOW, MIN_PREFIX_TOKENS

    fast, plain = load_long_prompt(causal_lm_dir, monkeypatch, True), load_long_prompt(causal_lm_dir, monkeypatch, False)
    assert fast.runtime_facts["fast_forward"]["how"] == HOW
    n = len(fast._fast.prefix)
    assert fast.runtime_facts["fast_forward"]["prefix_tokens"] == n
    enc = fast.encode(TEXTS)
    # every prompt token before the text but the last (which could merge with a text's first piece)
    assert n == int(np.argmax(enc[0].word_ids >= 0)) - 1 >= MIN_PREFIX_TOKENS
    assert all(np.array_equal(e.ids[:n], enc[0].ids[:n]) for e in enc)
    seen, hook = embedded_lengths(fast)
    p = fast.predict_proba(TEXTS)
    hook.remove()
    np.testing.assert_allclose(p, plain.predict_proba(TEXTS), atol=1e-6)
    # no batch embedded the prefix again: each pass saw its longest row less the prefix's n tokens
    lengths = [len(e.ids) for e in enc]
    assert seen and max(seen) == max(lengths) - n and sum(seen) < sum(lengths)
    # the same attributions; integrated gradients' passes also start after the prefix (the baseline
    # keeps the prompt, so its keys and values are the same at every point of the path)
    seen, hook = embedded_lengths(fast)
    assert_same_gradient_explanations(fast, plain, TEXTS, p.argmax(axis=1), methods=["integrated_gradients"])
    hook.remove()
    assert seen and max(seen) == max(lengths) - n
    # gradient x input zeroes every embedding, the prompt's too: its passes run whole
    seen, hook = embedded_lengths(fast)
    assert_same_gradient_explanations(fast, plain, TEXTS, p.argmax(axis=1), methods=["gradient_x_input"])
    hook.remove()
    assert max(seen) == max(lengths)


def test_a_batch_that_does_not_start_with_the_prefix_runs_whole(causal_lm_dir, monkeypatch):
    fast, plain = load_long_prompt(causal_lm_dir, monkeypatch, True), load_long_prompt(causal_lm_dir, monkeypatch, False)
    arrays = fast.token_ids(TEXTS[:4])
    arrays[2] = arrays[2].copy()
    arrays[2][1] = fast.mask_id  # one row's prompt differs: the batch cannot share the prefix
    ids, mask = fast.pad_batch(arrays)
    seen, hook = embedded_lengths(fast)
    with torch.inference_mode():
        assert not fast._fast.serves(ids, mask)
        got = fast.class_logits(ids, mask)
        want = plain.class_logits(ids, mask)
    hook.remove()
    assert seen == [ids.shape[1]]
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_a_short_or_wrong_prefix_leaves_the_answer_only_path(causal_lm_dir, monkeypatch):
    from auditor.models import prompt_prefix
    from auditor.models.decoder import ANSWER_ONLY

    from . import tiny_decoder

    short = load_long_prompt(causal_lm_dir, monkeypatch, True, prompt=tiny_decoder.PROMPT).runtime_facts["fast_forward"]
    assert short["how"] == ANSWER_ONLY and "fewer than 8" in short["prompt_prefix_not_cached"]
    real = prompt_prefix.PrefixCachedHead.__call__
    shift = torch.tensor([0.1, 0.0])
    monkeypatch.setattr(prompt_prefix.PrefixCachedHead, "__call__", lambda self, i, m: real(self, i, m) + shift)
    moved = load_long_prompt(causal_lm_dir, monkeypatch, True)
    facts = moved.runtime_facts["fast_forward"]
    assert facts["used"] is True and facts["how"] == ANSWER_ONLY and "above 1e-05" in facts["prompt_prefix_not_cached"]
    monkeypatch.undo()
    plain = load_long_prompt(causal_lm_dir, monkeypatch, False)
    np.testing.assert_allclose(moved.predict_proba(TEXTS), plain.predict_proba(TEXTS), atol=1e-6)


def test_copies_compute_their_own_prefix(causal_lm_dir, monkeypatch):
    from auditor.models.prompt_prefix import HOW

    fast, plain = load_long_prompt(causal_lm_dir, monkeypatch, True), load_long_prompt(causal_lm_dir, monkeypatch, False)
    monkeypatch.setenv(fast_forward.ENV_SWITCH, "1")
    r_fast, r_plain = fast.randomised(3, n_layers=1), plain.randomised(3, n_layers=1)
    assert r_fast.runtime_facts["fast_forward"]["how"] == HOW
    np.testing.assert_allclose(r_fast.predict_proba(TEXTS), r_plain.predict_proba(TEXTS), atol=1e-6)
    assert np.abs(r_fast.predict_proba(TEXTS) - fast.predict_proba(TEXTS)).max() > 1e-3
    other = "opinion : verdict : opinion : verdict : review : yes . {text} verdict :"
    o_fast, o_plain = fast.with_prompt(other), plain.with_prompt(other)
    assert o_fast.runtime_facts["fast_forward"]["how"] == HOW
    assert not np.array_equal(o_fast._fast.prefix.numpy(), fast._fast.prefix.numpy())
    np.testing.assert_allclose(o_fast.predict_proba(TEXTS), o_plain.predict_proba(TEXTS), atol=1e-6)


def test_a_batchs_cache_gives_the_prefix_and_the_batch_without_keeping_them(causal_lm_dir, monkeypatch):
    """What a pass's attention reads is the prefix's keys and values followed by the batch's; nothing
    is stored, so a pass holds one layer's at a time (not every layer's until it ends)."""
    fast = load_long_prompt(causal_lm_dir, monkeypatch, True)
    head = fast._fast
    stored = []
    real_init = head._cache_type.__init__

    def spy_init(cache, *args, **kw):
        real_init(cache, *args, **kw)
        stored.append(cache)

    monkeypatch.setattr(head._cache_type, "__init__", spy_init)
    ids, mask = fast.pad_batch(fast.token_ids(TEXTS[:4]))
    with torch.inference_mode():
        head(ids, mask)
    (cache,) = stored
    n = len(head.prefix)
    assert len(cache.layers) == len(head.kv) >= 2
    for layer, (k, v) in zip(cache.layers, head.kv):
        assert layer.keys.shape[-2] == n and torch.equal(layer.keys[0], k[0]) and torch.equal(layer.values[0], v[0])
        new = torch.ones(4, k.shape[1], 3, k.shape[3])
        keys, values = layer.update(new, new + 1)
        assert keys.shape[-2] == n + 3 and torch.equal(keys[:, :, n:], new) and torch.equal(values[:, :, :n], v.expand(4, -1, -1, -1))
        assert layer.keys.shape[-2] == n  # still the prefix only
