"""Decoder-only sequence classifiers and prompted causal LMs (issue 13, parts 3 and 4): known answers
(batched = one at a time, IG completeness, label-word probabilities), prompt tokens never features,
and the located errors of a bad card or checkpoint."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from auditor.errors import EXIT_INVALID_INPUT, EXIT_MODEL_REFUSED, ModelCardError, ModelLoadError
from auditor.explain.text_gradients import explain_integrated_gradients, pad_baseline
from auditor.explain.text_perturbation import explain_attention, explain_lime_text, explain_shap_text
from auditor.inputs.model_card import load_model_card
from auditor.models.base import Capability
from auditor.models.decoder import DecoderTextModel, PromptedCausalLM, load_causal_lm, load_sequence_classifier
from auditor.models.kinds import kind_for_card, load_adapter

from .conftest import decoder_card, make_decoder_context, write_card
from .helpers import errors_beyond_chance


@pytest.fixture(scope="module")
def texts(tiny_decoder):
    rng = np.random.default_rng(7)
    return [tiny_decoder.make_sentence(rng, w, int(rng.integers(1, 10))) for w in ["good", "bad", None, "good", "bad", None]]


@pytest.fixture(scope="module")
def decoder(decoder_model_dir):
    return load_sequence_classifier(decoder_model_dir, max_length=32, threads=1)


@pytest.fixture(scope="module")
def prompted(causal_lm_dir, tiny_decoder):
    return load_causal_lm(causal_lm_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=32)


def test_a_decoder_checkpoint_loads_as_a_decoder_with_its_pad_id(decoder):
    assert isinstance(decoder, DecoderTextModel)
    assert decoder.model.config.pad_token_id == decoder.pad_id == decoder.tokenizer.pad_token_id
    assert decoder.mask_id == decoder.baseline_id != decoder.pad_id


@pytest.mark.parametrize("which", ["decoder", "prompted"])
def test_batched_and_one_at_a_time_predictions_agree(which, texts, decoder_model_dir, causal_lm_dir, tiny_decoder):
    def fresh():
        if which == "decoder":
            return load_sequence_classifier(decoder_model_dir, max_length=32, threads=1)
        return load_causal_lm(causal_lm_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS,
                              max_length=32)
    lengths = {len(e.ids) for e in fresh().encode(texts)}
    assert len(lengths) > 2  # the batch really is padded
    batched = fresh().predict_proba(texts)
    single = np.vstack([fresh().predict_proba([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=0)


def test_the_decoder_learned_the_planted_word(decoder, texts):
    p = decoder.predict_proba(texts)
    assert p[0, 1] > 0.7 and p[1, 0] > 0.7  # good -> positive, bad -> negative


def test_ig_completeness_on_the_decoder_and_the_baseline_keeps_the_read_position(decoder, texts):
    enc = decoder.encode(texts[:4])
    baselines = [pad_baseline(decoder, e.ids, e.special) for e in enc]
    assert all(decoder.pad_id not in b for b in baselines)  # the head reads the same (last) token
    target = decoder.predict_proba(texts[:4]).argmax(axis=1)
    attr = explain_integrated_gradients(decoder, texts[:4], np.arange(4), target, n_steps=200, internal_batch_size=32)
    sums = np.array([v.sum() for v in attr.values])
    np.testing.assert_allclose(sums, attr.outputs - attr.base_values, atol=2e-3)
    assert np.all(attr.extras["completeness_rel_gap"] < 0.02)


def test_the_report_names_the_ig_baseline_a_decoder_writes(decoder, prompted, texts, tmp_path, tiny_decoder,
                                                           text_model_dir):
    """A decoder's baseline is its neutral id ([MASK] here), not the pad id the report named ("pad
    baseline"); an encoder's is its pad id; a byte-level GPT-2 (pad = eos = unk) writes '.'."""
    from auditor.checks.text_explanations import describe_settings
    from auditor.models.text import load_text_model

    for model, written in ((decoder, "[MASK]"), (prompted, "[MASK]")):
        assert model.baseline_id != model.pad_id
        assert model.tokenizer.convert_ids_to_tokens(int(model.baseline_id)) == written
        attr = explain_integrated_gradients(model, texts[:1], np.arange(1), np.zeros(1, dtype=int), n_steps=4,
                                            internal_batch_size=32)
        assert attr.params["baseline"] == written
        assert "; [MASK] baseline; " in describe_settings(attr.params)
    gpt2 = load_causal_lm(tiny_decoder.build_byte_level_causal_lm(tmp_path / "gpt2"), prompt=tiny_decoder.PROMPT,
                          label_words=tiny_decoder.LABEL_WORDS, max_length=32)
    attr = explain_integrated_gradients(gpt2, texts[:1], np.arange(1), np.zeros(1, dtype=int), n_steps=4,
                                        internal_batch_size=32)
    assert gpt2.tokenizer.convert_ids_to_tokens(int(gpt2.baseline_id)) == "." and attr.params["baseline"] == "'.'"
    encoder = load_text_model(text_model_dir, max_length=32, threads=1)
    assert encoder.baseline_id == encoder.pad_id
    attr = explain_integrated_gradients(encoder, texts[:1], np.arange(1), np.zeros(1, dtype=int), n_steps=4,
                                        internal_batch_size=32)
    assert attr.params["baseline"] == "pad"


def test_attention_is_read_from_the_last_token(decoder, texts):
    out = explain_attention(decoder, texts[:2], np.arange(2), np.zeros(2, dtype=int))["attention_cls"]
    for values, e in zip(out.values, decoder.encode(texts[:2])):
        last = decoder.attentions(e.ids)[-1].mean(axis=0)[-1]
        np.testing.assert_allclose(values, last)
        assert values.sum() == pytest.approx(1.0)


def test_label_word_probabilities_are_the_softmax_of_their_log_probabilities(prompted, texts, tiny_decoder):
    p = prompted.predict_proba(texts)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    tok, lm = prompted.tokenizer, prompted.model
    words = tok.convert_tokens_to_ids([tiny_decoder.LABEL_WORDS[c] for c in prompted.classes])
    for text, row in zip(texts, p):
        ids = tok(tiny_decoder.PROMPT.replace("{text}", text))["input_ids"][:-1]  # no trailing [SEP]
        with torch.no_grad():
            logp = torch.log_softmax(lm(input_ids=torch.tensor([ids])).logits[0, -1].double(), dim=-1)[words]
        np.testing.assert_allclose(row, torch.softmax(logp, dim=0).numpy(), atol=1e-5)
    assert p[0, prompted.classes.index("positive")] > 0.7 and p[1, prompted.classes.index("negative")] > 0.7


def test_a_prompt_pasted_with_its_cls_bos_runs_with_one(prompted, texts, tiny_decoder):
    """The tiny Llama's word-piece tokenizer adds [CLS], its config's BOS, while tokenizer.bos_token_id is
    None: a prompt pasted with "[CLS]" was read "[CLS] [CLS] review : ..." (P(positive) 0.9003 against
    the model's 0.8997). Known answer: the model's own forward on the single-[CLS] input."""
    tok, lm = prompted.tokenizer, prompted.model
    assert tok.bos_token_id is None and lm.config.bos_token_id == tok.cls_token_id
    pasted = prompted.with_prompt("[CLS] " + tiny_decoder.PROMPT)
    words = tok.convert_tokens_to_ids([tiny_decoder.LABEL_WORDS[c] for c in prompted.classes])
    for text, e, row in zip(texts, pasted.encode(texts), pasted.predict_proba(texts)):
        ids = tok(tiny_decoder.PROMPT.replace("{text}", text))["input_ids"][:-1]  # one [CLS], no trailing [SEP]
        assert e.ids.tolist() == ids and e.tokens[:2] == ["[CLS]", "review"]
        with torch.no_grad():
            logp = torch.log_softmax(lm(input_ids=torch.tensor([ids])).logits[0, -1].double(), dim=-1)[words]
        np.testing.assert_allclose(row, torch.softmax(logp, dim=0).numpy(), atol=1e-5)


def test_only_the_text_is_explained_and_prompt_tokens_are_never_features(prompted, texts):
    enc = prompted.encode(texts[:3])
    for text, e in zip(texts[:3], enc):
        words = [text[s:t] for s, t in prompted.word_spans(text)]
        assert words == text.split()
        assert e.special[:3].all() and e.special[-2:].all()  # [CLS] review : ... sentiment :
        assert e.word_ids.max() == len(words) - 1
    target = prompted.predict_proba(texts[:3]).argmax(axis=1)
    ig = explain_integrated_gradients(prompted, texts[:3], np.arange(3), target, n_steps=64, internal_batch_size=32)
    shap_attr = explain_shap_text(prompted, texts[:3], np.arange(3), target, max_evals=60, batch_size=64, seed=0)
    lime_attr = explain_lime_text(prompted, texts[:3], np.arange(3), target, num_samples=50, seed=0)
    for e, a, s, l in zip(enc, ig.values, shap_attr.values, lime_attr.values):
        assert np.all(a[e.special] == 0) and np.all(s[e.special] == 0) and np.all(l[e.special] == 0)
        assert np.abs(s[~e.special]).sum() > 0  # shap values found their text tokens by character span
    np.testing.assert_allclose([v.sum() for v in ig.values], ig.outputs - ig.base_values, atol=5e-3)


def test_removal_never_touches_the_prompt(tmp_path, tiny_decoder, causal_lm_dir):
    ctx = make_decoder_context(tiny_decoder, tmp_path, causal_lm_dir, prompted=True, n=6)
    inputs = ctx.model.removal_inputs(ctx.data, np.arange(3))
    for x, removable, e in zip(inputs.X, inputs.removable, ctx.model.encode(ctx.model.inputs(ctx.data, np.arange(3)))):
        assert not removable[e.special].any() and removable[~e.special].all()
        assert inputs.baseline.mask_id != ctx.model.pad_id


def test_the_card_selects_the_kind_and_its_capabilities(tmp_path, tiny_decoder, causal_lm_dir, decoder_model_dir):
    prompted_card = load_model_card(write_card(tmp_path / "p", decoder_card(causal_lm_dir, tiny_decoder, prompted=True)))
    plain_card = load_model_card(write_card(tmp_path / "d", decoder_card(decoder_model_dir, tiny_decoder, prompted=False)))
    assert kind_for_card(prompted_card) is PromptedCausalLM and Capability.PROMPTED in PromptedCausalLM.capabilities
    assert Capability.PROMPTED not in kind_for_card(plain_card).capabilities
    assert isinstance(load_adapter(plain_card, []), DecoderTextModel)


# --- bad input: located errors with the documented exit codes ------------------------------------------------


def _card(tmp_path, tiny_decoder, model_dir, **changes):
    meta = decoder_card(model_dir, tiny_decoder, prompted=True)
    for key, value in changes.items():
        if key.startswith("model_"):
            meta["model"][key[len("model_"):]] = value
        elif value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return write_card(tmp_path / "card", meta)


@pytest.mark.parametrize("changes,location", [
    ({"prompt": "review : sentiment :"}, "auditor.prompt"),
    ({"prompt": "{text} and {text}"}, "auditor.prompt"),
    ({"prompt": None}, "auditor.prompt"),
    ({"label_words": {"positive": "yes"}}, "auditor.label_words"),
    ({"prompt_variants": ["no slot here"]}, "auditor.prompt_variants[0]"),
    ({"model_max_length": 4}, "auditor.model.max_length"),
    ({"model_batch_size": 100_000}, "auditor.model.batch_size"),
    ({"model_dtype": "float16"}, "auditor.model.dtype"),
])
def test_bad_prompted_cards_are_located_card_errors(tmp_path, tiny_decoder, causal_lm_dir, changes, location):
    with pytest.raises(ModelCardError) as err:
        load_model_card(_card(tmp_path, tiny_decoder, causal_lm_dir, **changes))
    assert err.value.exit_code == EXIT_INVALID_INPUT
    assert any(p.location.startswith(location) for p in err.value.problems), err.value.problems


def test_a_prompt_on_a_sequence_classification_head_is_a_card_error(tmp_path, tiny_decoder, decoder_model_dir):
    meta = decoder_card(decoder_model_dir, tiny_decoder, prompted=False)
    meta["prompt"] = "review : {text} sentiment :"
    with pytest.raises(ModelCardError) as err:
        load_model_card(write_card(tmp_path / "card", meta))
    assert [p.location for p in err.value.problems] == ["auditor.prompt"]


def test_a_label_word_the_tokenizer_cannot_encode_is_a_located_card_error(tmp_path, tiny_decoder, causal_lm_dir):
    card = load_model_card(_card(tmp_path, tiny_decoder, causal_lm_dir, label_words={"negative": "no", "positive": "zebra"}))
    with pytest.raises(ModelCardError) as err:
        load_adapter(card, [])
    assert err.value.exit_code == EXIT_INVALID_INPUT
    assert err.value.source == str(card.path)
    assert [p.location for p in err.value.problems] == ["auditor.label_words.positive"]
    assert "[UNK]" in str(err.value)


def test_label_words_with_the_same_first_token_are_refused(tmp_path, tiny_decoder, causal_lm_dir):
    card = load_model_card(_card(tmp_path, tiny_decoder, causal_lm_dir, label_words={"negative": "no", "positive": "no"}))
    with pytest.raises(ModelCardError, match="same token"):
        load_adapter(card, [])


def test_a_causal_lm_head_on_a_checkpoint_without_one_is_refused(tmp_path, tiny_decoder, decoder_model_dir):
    card = load_model_card(_card(tmp_path, tiny_decoder, decoder_model_dir))
    with pytest.raises(ModelLoadError, match="language-model head") as err:
        load_adapter(card, [])
    assert err.value.exit_code == EXIT_MODEL_REFUSED


def test_bfloat16_on_the_cpu_is_a_located_card_error(tmp_path, tiny_decoder, decoder_model_dir):
    meta = decoder_card(decoder_model_dir, tiny_decoder, prompted=False)
    meta["model"]["dtype"] = "bfloat16"
    card = load_model_card(write_card(tmp_path / "card", meta))
    with pytest.raises(ModelCardError) as err:
        load_adapter(card, [])
    assert [p.location for p in err.value.problems] == ["auditor.model.dtype"]


def test_a_decoder_config_without_a_pad_id_takes_the_tokenizers(tmp_path, decoder_model_dir):
    import json

    model_dir = tmp_path / "model"
    shutil.copytree(decoder_model_dir, model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    config["pad_token_id"] = None
    (model_dir / "config.json").write_text(json.dumps(config))
    model = load_sequence_classifier(model_dir, max_length=32)  # the tokenizer's pad token fills in
    assert model.model.config.pad_token_id == model.pad_id == model.tokenizer.pad_token_id == 0


# --- the built-in text policy on both kinds --------------------------------------------------------------------


@pytest.mark.parametrize("prompted_kind", [False, True], ids=["decoder", "prompted"])
def test_text_default_runs_on_the_decoder_kinds_with_no_error(tmp_path, tiny_decoder, decoder_model_dir, causal_lm_dir,
                                                             prompted_kind):
    import dataclasses

    from auditor.engine.runner import build_plan, run_plan
    from auditor.policy import load_policy
    from auditor.results import Status

    model_dir = causal_lm_dir if prompted_kind else decoder_model_dir
    # 80 rows: prompt_sensitivity's accuracy drop can be bounded by 0.05 from 73 rows up
    ctx = make_decoder_context(tiny_decoder, tmp_path, model_dir, prompted=prompted_kind, n=80, n_neutral=12)
    loaded = load_policy("text-default")
    ctx = dataclasses.replace(ctx, explainer_params=loaded.policy.explainers_for(ctx.task))
    plan = build_plan(loaded, kind_for_card(ctx.card))
    results = {r.id: r for r in run_plan(plan, ctx)}
    errors = {k: r.error.message for k, r in results.items() if r.status == Status.ERROR}
    # the tiny models' explainers may agree on their short sentences only as much as chance, and their
    # nearest neighbours carry the predicted label only as often as random ones: those gates are then
    # not judged, and say so; nothing else may end in ERROR
    assert not errors_beyond_chance(errors, ("explainer_agreement", "similar_examples"))
    sensitivity = results["prompt_sensitivity"]
    if prompted_kind:
        assert sensitivity.status != Status.SKIPPED and sensitivity.measurements["n_variants"] == 1
    else:
        assert sensitivity.status == Status.SKIPPED and "a prompt and label words" in sensitivity.skipped_reason
    assert sum(r.status != Status.SKIPPED for r in results.values()) >= 10


def test_shap_mapping_assumes_no_trailing_special_token():
    """A decoder tokenizer (GPT-2, Llama) adds nothing at the end: a truncated text is a plain prefix of
    shap's tokens, and a last kept token equal to shap's last token is not mistaken for a trailing [SEP]."""
    from auditor.explain.text_perturbation import _map_shap_values

    ids, shap_ids = np.array([5, 6, 7]), np.array([5, 6, 7, 8, 7])
    values = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    np.testing.assert_array_equal(_map_shap_values(ids, shap_ids, values), [0.1, 0.2, 0.3])


@pytest.mark.parametrize("changes, location", [
    ({"prompt": "review review review review : {text} sentiment sentiment sentiment sentiment :"}, "auditor.prompt"),
    ({"prompt_variants": ["review review review review : {text} sentiment sentiment sentiment sentiment :"]},
     "auditor.prompt_variants[0]"),
])
def test_a_prompt_longer_than_the_token_limit_is_a_located_card_error(tmp_path, tiny_decoder, causal_lm_dir,
                                                                        changes, location):
    """It was an internal error (exit 5) at load: 'the prompt alone is longer than the model's limit'."""
    card = load_model_card(_card(tmp_path, tiny_decoder, causal_lm_dir, model_max_length=8, **changes))
    with pytest.raises(ModelCardError) as err:
        load_adapter(card, [])
    assert err.value.exit_code == EXIT_INVALID_INPUT and err.value.source == str(card.path)
    assert [p.location for p in err.value.problems] == [location]
    assert "leaves no token for the text within the 8 tokens the model reads" in err.value.problems[0].message


@pytest.mark.parametrize("changes, location", [
    ({"prompt": "review review review : {text} sentiment : :"}, "auditor.prompt"),
    ({"prompt_variants": ["review review review : {text} sentiment : :"]}, "auditor.prompt_variants[0]"),
])
def test_a_prompt_that_fills_the_token_limit_is_a_located_card_error(tmp_path, tiny_decoder, causal_lm_dir,
                                                                     changes, location):
    """[CLS] and 7 words: exactly the 8 tokens the model reads, so no token of any text is left. validate
    passed it and run read every text as the prompt alone (60 reviews, 2 distinct rows, AUC 0.5)."""
    from auditor.models.decoder import check_label_words, prompt_tokens

    card = load_model_card(_card(tmp_path, tiny_decoder, causal_lm_dir, model_max_length=8, **changes))
    filling = "review review review : {text} sentiment : :"
    model = load_causal_lm(causal_lm_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS,
                           max_length=9)
    assert prompt_tokens(model.tokenizer, filling) == 8
    enc = model.with_prompt(filling).encode(["good movie"])[0]  # one token over: the text keeps its first word
    assert enc.tokens[:5] == ["[CLS]", "review", "review", "review", ":"] and enc.word_ids.max() == 0
    for load in (lambda: check_label_words(card), lambda: load_adapter(card, [])):  # validate, run
        with pytest.raises(ModelCardError) as err:
            load()
        assert err.value.exit_code == EXIT_INVALID_INPUT and err.value.source == str(card.path)
        assert [p.location for p in err.value.problems] == [location]
        assert "leaves no token for the text within the 8 tokens" in err.value.problems[0].message


@pytest.mark.parametrize("words, said", [
    ({"negative": "no", "positive": "zebra"}, "the tokenizer cannot encode label word 'zebra'"),
    ({"negative": "no", "positive": "no"}, "starts with the same token as the word of class 'negative'"),
])
def test_validate_reads_label_words_against_the_tokenizer(tmp_path, tiny_decoder, causal_lm_dir, words, said):
    """validate said valid and run refused the card (exit 3) once the model had loaded."""
    from typer.testing import CliRunner

    from auditor.cli import app
    from auditor.models.decoder import check_label_words

    card_path = _card(tmp_path, tiny_decoder, causal_lm_dir, label_words=words)
    with pytest.raises(ModelCardError) as err:
        check_label_words(load_model_card(card_path))
    assert err.value.source == str(card_path) and said in err.value.problems[0].message
    res = CliRunner().invoke(app, ["validate", "--policy", "text-default", "--card", str(card_path)])
    assert res.exit_code == 3 and said in " ".join(res.output.split())
    assert "valid (text-classification" not in res.output


def test_a_byte_level_tokenizers_first_text_word_is_the_texts(tmp_path, tiny_decoder):
    """A byte-level tokenizer (GPT-2, Llama 3, Qwen2) folds the space before a word into its token, so the
    text's first token starts on the prompt's space: it had been taken for a prompt token, so the first
    word was never explained, and a one-word text had no feature at all."""
    model_dir = tiny_decoder.build_byte_level_causal_lm(tmp_path / "model")
    prompted = load_causal_lm(model_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS,
                              max_length=32)
    for text in ["very good movie", "bad"]:
        e = prompted.encode([text])[0]
        assert [text[s:t].strip() for s, t in prompted.word_spans(text)] == text.split()
        assert e.word_ids.max() == len(text.split()) - 1
        first = int(np.flatnonzero(~e.special)[0])
        assert e.tokens[first].endswith(text.split()[0]) and tuple(e.offsets[first]) == (0, len(text.split()[0]))
    assert prompted.predict_proba(["bad"]).shape == (1, 2)


def test_shap_on_a_byte_level_tokenizer_explains_the_audited_text(tmp_path, tiny_decoder):
    """shap's Text masker cut each token's segment from its character offsets, and the byte tokens of one
    character share them: the unmasked text it explained held the character once per byte token
    ("café" read "caféé"), so the values explained another text and did not add up; a one-token text
    (no special token is added) crashed shap's clustering; and inside a prompt the first word's value
    (shap's "very", the model's "Ġvery") was dropped."""
    from auditor.explain.text_perturbation import _text_masker

    model_dir = tiny_decoder.build_byte_level_causal_lm(tmp_path / "model")
    prompted = load_causal_lm(model_dir, prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS,
                              max_length=32)
    texts = ["café good", "😀😀 bad", "bad", "very good movie"]
    masker = _text_masker(prompted.tokenizer, True)
    for text in texts:
        n = len(prompted.tokenizer(text)["input_ids"])
        assert str(masker(np.ones(n, dtype=bool), text)[0][0]) == text
    assert len(prompted.tokenizer("café")["input_ids"]) > len("café")  # é is two byte tokens here
    target = prompted.predict_proba(texts).argmax(axis=1)
    attr = explain_shap_text(prompted, texts, np.arange(len(texts)), target, max_evals=100, batch_size=64, seed=0,
                             collapse=True)
    np.testing.assert_allclose([v.sum() for v in attr.values], attr.outputs - attr.base_values, atol=1e-9)
    np.testing.assert_allclose(attr.extras["unmapped"], 0, atol=1e-12)
    assert all(np.abs(v[~e.special]).sum() > 0 for v, e in zip(attr.values, prompted.encode(texts)))


def test_the_attention_caveat_of_a_decoder_names_its_last_token_not_cls(tiny_decoder, decoder_model_dir, tmp_path):
    """The decoder report's 'Caveat' read 'Attention weights show where the model's [CLS]
    representation reads from', a model with no [CLS], and a second note below it then said the
    last token's row is shown instead; the caveat now names the last token itself."""
    from .helpers import run_check

    ctx = make_decoder_context(tiny_decoder, tmp_path, decoder_model_dir, prompted=False, n=6)
    out, _ = run_check(ctx, "attention", n_instances=4)
    caveat = next(e for e in out.evidence if e.kind == "note" and e.title == "Caveat")
    assert caveat.text.startswith("Attention weights show where the model's last-token representation reads from")
    assert "[CLS]" not in caveat.text
    assert any(e.kind == "note" and e.title == "Causal attention" for e in out.evidence)
    titles = [e.title for e in out.evidence if e.kind == "token_highlights"]
    assert titles == ["attention_cls (last-token attention): attention per word", "attention_rollout: attention per word"]
