"""A Llama-family decoder-only classifier on its real tokens only (issue 17): the model's own
probabilities and gradients, from a token stream without padding whose last layer computes each row's
last token only; the model's own forward for any batch the stream cannot reproduce."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.models import fast_forward, unpadded_decoder, unpadded_encoder
from auditor.models.decoder import load_sequence_classifier
from auditor.models.text import length_groups

from . import tiny_bert
from .same_explanations import assert_same_gradient_explanations

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXTS = [tiny_bert.make_sentence(np.random.default_rng(i), w, 1 + (5 * i) % 12)
         for i, w in enumerate(["good", "bad", None] * 4)]
PAD = 0


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    from . import tiny_decoder

    return tiny_decoder.build_tiny_decoder(tmp_path_factory.mktemp("unpadded_decoder") / "model", steps=120)


def load(path, monkeypatch, fast: bool):
    monkeypatch.setenv(fast_forward.ENV_SWITCH, "1" if fast else "0")
    return load_sequence_classifier(path, max_length=32, batch_size=8, threads=1)


def test_a_llama_classifier_on_real_tokens_gives_its_own_numbers(decoder_dir, monkeypatch):
    fast, plain = load(decoder_dir, monkeypatch, True), load(decoder_dir, monkeypatch, False)
    facts = fast.runtime_facts["fast_forward"]
    assert facts["used"] is True and facts["how"] == unpadded_decoder.HOW
    assert 0 <= facts["probe_max_abs_prob_diff"] <= fast_forward.TOLERANCE
    assert len(length_groups([len(a) for a in fast.token_ids(TEXTS)])) >= 2  # mixed lengths in one batch

    def refuse(*args, **kw):
        raise AssertionError("the model's own padded forward was called")

    fast.model.forward = refuse  # every number below comes from the token stream
    p = fast.predict_proba(TEXTS)
    np.testing.assert_allclose(p, plain.predict_proba(TEXTS), atol=1e-6)
    assert np.abs(p[:, 1] - 0.5).max() > 0.2  # a trained model, not a constant
    assert_same_gradient_explanations(fast, plain, TEXTS, p.argmax(axis=1))


def small(kind: str, **kw):
    """An untrained classifier of ``kind``'s family: 3 layers, 4 query heads."""
    configs = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config, "mistral": transformers.MistralConfig}
    models = {"llama": transformers.LlamaForSequenceClassification, "qwen2": transformers.Qwen2ForSequenceClassification,
              "mistral": transformers.MistralForSequenceClassification}
    torch.manual_seed(0)
    config = configs[kind](vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                           num_attention_heads=4, max_position_embeddings=64, pad_token_id=PAD, num_labels=3, **kw)
    return models[kind](config).eval()


def right_padded(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (len(lengths), max(lengths)), generator=g)
    mask = (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask + PAD * (1 - mask), mask


@pytest.mark.parametrize("kind, kw", [
    ("llama", {"num_key_value_heads": 2}),  # grouped-query attention: 2 query heads per key head
    ("llama", {"num_key_value_heads": 4, "rope_theta": 500.0}),
    ("qwen2", {"num_key_value_heads": 1}),  # biased q/k/v projections
    ("mistral", {"num_key_value_heads": 2, "sliding_window": 64}),
])
def test_every_recognised_family_gives_the_models_logits(kind, kw):
    model = small(kind, **kw)
    ids, mask = right_padded([5, 9, 9, 2, 13, 5, 1])  # unsorted, runs of one length, a one-token row
    path = unpadded_decoder.UnpaddedDecoderClassifier(model)
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with torch.inference_mode():
        got = path(ids, mask)
        assert calls == []  # the stream, not the model's own forward
        expected = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize("kind, kw", [("mistral", {"num_key_value_heads": 2, "sliding_window": 6}),
                                      ("qwen2", {"num_key_value_heads": 2, "use_sliding_window": True,
                                                 "sliding_window": 6, "max_window_layers": 0})])
def test_batches_the_stream_cannot_reproduce_run_through_the_models_forward(kind, kw):
    model = small(kind, **kw)
    path = unpadded_decoder.UnpaddedDecoderClassifier(model)
    assert path.window == 6
    ids, mask = right_padded([4, 5, 3])  # within the attention window: the stream serves
    too_long = right_padded([4, 7, 3])  # 7 tokens: the window would bite
    empty = right_padded([4, 0, 3])  # a row of no token: nowhere to read
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with torch.inference_mode():
        torch.testing.assert_close(path(ids, mask), model(input_ids=ids, attention_mask=mask).logits, rtol=0, atol=2e-5)
        assert len(calls) == 1  # the comparison's own call only
        for batch in ((ids.flip(1), mask.flip(1)), too_long, empty):
            assert torch.equal(path(*batch), model(input_ids=batch[0], attention_mask=batch[1]).logits)
    assert len(calls) == 1 + 2 * 3  # each of the three ran through the model's forward


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_a_pad_id_among_real_tokens_is_read_where_the_model_reads(kind):
    """A tokenizer whose pad is its end token appends that token to every text: the head reads the
    token before it (the last that is not the pad id). Every such batch ran through the model's own
    padded forward while the provenance said the token stream served; the stream now computes the
    read token, which causal attention keeps blind to the end token after it."""
    model = small(kind, num_key_value_heads=2)
    path = unpadded_decoder.UnpaddedDecoderClassifier(model)
    ids, mask = right_padded([6, 3, 9, 6, 2])
    ends = mask.sum(dim=1) - 1
    ids[torch.arange(len(ids)), ends] = PAD  # an appended end token that is the pad
    ids[2, 4] = PAD  # and one inside a row
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with torch.inference_mode():
        got = path(ids, mask)
        assert calls == []
        expected = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-5)


def test_other_decoders_and_encoders_are_recognised_as_such(tmp_path_factory):
    gpt2 = transformers.GPT2ForSequenceClassification(transformers.GPT2Config(
        vocab_size=50, n_embd=32, n_layer=2, n_head=2, pad_token_id=PAD))
    with pytest.raises(unpadded_encoder.UnsupportedModel, match="not a decoder of a recognised family"):
        unpadded_decoder.UnpaddedDecoderClassifier(gpt2)
    bert = transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48))
    with pytest.raises(unpadded_encoder.UnsupportedModel, match="not a decoder of a recognised family"):
        unpadded_decoder.UnpaddedDecoderClassifier(bert)
    model = small("llama", num_key_value_heads=4)
    model.score = torch.nn.Sequential(model.score)
    with pytest.raises(unpadded_encoder.UnsupportedModel, match="not one linear layer"):
        unpadded_decoder.UnpaddedDecoderClassifier(model)


def test_a_randomised_copy_stays_on_real_tokens(decoder_dir, monkeypatch):
    # the sanity check's randomised copies of a Llama classifier ran the padded forward: DecoderTextModel's
    # rewrap did not keep the verified path (an encoder's did)
    fast = load(decoder_dir, monkeypatch, True)
    copy = fast.randomised(0, n_layers=1)
    facts = copy.runtime_facts["fast_forward"]
    assert facts["used"] is True and facts["how"] == unpadded_decoder.HOW and facts["probe_max_abs_prob_diff"] <= fast_forward.TOLERANCE
    assert isinstance(copy._fast, unpadded_decoder.UnpaddedDecoderClassifier) and copy._fast.model is copy.model
    plain = copy.rewrap(copy.model)
    plain._fast = None  # the copy's own padded forward
    np.testing.assert_allclose(copy.predict_proba(TEXTS), plain.predict_proba(TEXTS), atol=1e-6)
