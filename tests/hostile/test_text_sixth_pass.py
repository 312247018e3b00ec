"""Text models a demanding user brings, sixth pass: what earlier passes left to find (tests/hostile and
tests/text hold them): each case names what had gone wrong."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _roberta_classifier(tmp_path, text_inputs, positions: int):
    """An untrained RoBERTa-style classifier (positions numbered from its pad id + 1) with the tiny BERT's
    word-piece tokenizer, which sets no ``model_max_length`` of its own."""
    import torch
    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

    model_dir = tmp_path / "roberta"
    shutil.copytree(text_inputs.model, model_dir)
    (model_dir / "model.safetensors").unlink()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=positions, pad_token_id=tok.pad_token_id,
                           id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    RobertaForSequenceClassification(config).save_pretrained(str(model_dir))
    return model_dir, tok


def test_a_roberta_style_encoder_reads_what_its_position_table_numbers(tmp_path, text_inputs):
    """RoBERTa numbers its tokens from its pad id + 1, so a table of ``max_position_embeddings`` rows reads
    that many tokens less pad id + 1 (514 rows, pad 1: 512 tokens). A text between the two, with a tokenizer
    setting no limit of its own, crashed every check ('index 18 is out of bounds for dimension 1 with size
    18'); it is cut where the model can read, and predicted as the model predicts its kept tokens."""
    import torch

    from auditor.models.decoder import load_sequence_classifier

    model_dir, tok = _roberta_classifier(tmp_path, text_inputs, positions=18)  # pad id 0: 17 tokens
    adapter = load_sequence_classifier(model_dir, max_length=64)
    assert adapter.max_length == 17
    text = " ".join(["good"] + ["movie"] * 20)
    enc = adapter.encode([text])[0]
    assert enc.truncated and len(enc.ids) == 17
    proba = adapter.predict_proba([text])[0]
    ids = tok(text, truncation=True, max_length=17, return_tensors="pt")
    with torch.no_grad():
        own = torch.softmax(adapter.model(**ids).logits, dim=-1)[0].numpy()
    np.testing.assert_allclose(proba, own, atol=1e-6)


def test_a_tokenizer_of_its_special_tokens_only_is_refused_not_audited(cli, tmp_path, text_inputs, card_writer):
    """A tokenizer.json whose vocabulary is its special tokens alone (as transformers 5 saves a RoBERTa
    tokenizer built with ``vocab_file=``): every word read as [UNK], and the audit ran on predictions of
    the texts' lengths, exit 0 with an AUC; now the model is refused (exit 4) naming the tokenizer, nothing
    written."""
    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    (model / "vocab.txt").unlink()
    path = model / "tokenizer.json"
    tokenizer = json.loads(path.read_text(encoding="utf-8"))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer["model"]["vocab"] = {t: i for i, t in enumerate(specials)}
    path.write_text(json.dumps(tokenizer), encoding="utf-8")
    card = card_writer(tmp_path / "card", model={"path": str(model), "format": "transformers"},
                       task="text-classification", name="tiny-bert", target="label", text_column="text",
                       positive_class="positive", features=None, ignore_columns=None)
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["a good movie", "a bad film", "good plot", "bad actor"],
                                   ["positive", "negative", "positive", "negative"])
    result = cli.run(text_inputs.policy, card, data, tmp_path / "out")
    assert result.code == 4, result.raw
    assert (f"error: {model.resolve()}: the tokenizer's vocabulary holds its special tokens only ([PAD], [UNK], "
            "[CLS], [SEP], [MASK]): every word would be read as unknown") in result.text, result.raw
    assert not (tmp_path / "out" / "tiny-bert").exists()


@pytest.mark.parametrize("field, prompt, said", [
    ("auditor.prompt", "review : {{text}} sentiment :",
     "{{text}} would put the text between braces the model reads (only {text} is filled in, no template language's "
     "placeholder): write {text}"),
    ("auditor.prompt", "review : {text} sentiment : {label}",
     "only {text} is filled in: {label} would be read by the model as written"),
    ("auditor.prompt", "review : {{ text }} sentiment :",
     "must contain {text} exactly once (where the input goes); found it 0 times ({{ text }} is not it: only {text} is filled in)"),
    ("auditor.prompt_variants[0]", "opinion : {input} verdict :",
     "must contain {text} exactly once (where the input goes); found it 0 times ({input} is not it: only {text} is filled in)"),
], ids=["jinja-braces", "label-slot", "jinja-spaces", "variant-other-name"])
def test_a_prompt_with_another_placeholder_is_refused_at_its_field(cli, tmp_path, card_writer, fast_policy, field,
                                                                    prompt, said):
    """Only {text} is filled in. A Jinja-style '{{text}}' held '{text}' once and was valid: the model read the text
    between braces ('review : {a good movie} sentiment :'), and a '{label}' left from a training template was read
    as written, the answer scored after it."""
    prompts = ({"prompt": prompt} if field == "auditor.prompt"
               else {"prompt": "review : {text} sentiment :", "prompt_variants": [prompt]})
    card = card_writer(tmp_path / "card", task="text-classification", text_column="text", features=None,
                       ignore_columns=None, positive_class=None, label_words={"negative": "no", "positive": "yes"},
                       model={"path": str(tmp_path), "format": "transformers", "head": "causal-lm"}, **prompts)
    result = cli("validate", "--policy", fast_policy, "--card", card)
    assert result.code == 3, result.raw
    assert f"{field}: {said}" in result.text, result.raw


def test_a_prompt_writing_json_braces_stays_valid():
    """Braces that are no placeholder (a JSON answer the model completes) are the prompt's own words."""
    from auditor.inputs.model_card import text_slot_problem

    assert text_slot_problem('Review: {text}\\nAnswer as JSON: {"sentiment": "') is None
    assert text_slot_problem("review : {text} sentiment : {") is None


def test_a_prompt_sensitivity_variant_with_another_placeholder_is_a_policy_problem():
    from pydantic import ValidationError

    from auditor.checks.prompt_sensitivity import PromptSensitivityParams

    with pytest.raises(ValidationError, match=r"variants\[0\]: only \{text\} is filled in: \{label\} would be read"):
        PromptSensitivityParams(variants=["r : {text} s : {label}"])


def test_a_trainers_pickle_beside_safetensors_weights_is_named_as_what_it_is(cli, tmp_path, text_inputs, card_writer):
    """A fine-tuned model saved by transformers' Trainer holds training_args.bin beside model.safetensors. The
    folder stays refused (a pickle can run code when read), but the message called it 'a pickle-format weight
    file' and said to convert a model whose weights were safetensors already, and --allow-pickle, given, was
    passed over in silence."""
    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    (model / "training_args.bin").write_bytes(b"\x80\x04not really a pickle")
    card = card_writer(tmp_path / "card", model={"path": str(model), "format": "transformers"},
                       task="text-classification", name="tiny-bert", target="label", text_column="text",
                       positive_class="positive", features=None, ignore_columns=None)
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["a good movie", "a bad film"], ["positive", "negative"])
    result = cli.run(text_inputs.policy, card, data, tmp_path / "out", "--allow-pickle")
    assert result.code == 4, result.raw
    assert (f"refusing model directory {model.resolve()}: training_args.bin is a pickle file, which can run code when "
            "read, and a transformers folder is audited only without one (the weights are in model.safetensors: move "
            "training_args.bin out of the folder; --allow-pickle is for scikit-learn joblib/pickle files only)"
            ) in result.text, result.raw
    assert not (tmp_path / "out" / "tiny-bert").exists()


def test_texts_read_as_the_unknown_token_only_are_noted_and_a_file_of_them_refused(cli, tmp_path, text_inputs):
    """Texts in a script the vocabulary lacks ('好电影', emoji) are read as [UNK] alone: the model sees only their
    length. They were audited without a word said (predictions counted, explanations ranking [UNK]s), and a file of
    nothing else ran to an AUC; now a note names their rows, and such a file is an invalid dataset (exit 3)."""
    from .conftest import read_result

    texts = ["a good movie", "a bad film", "好电影", "🙂🙂", "the plot was good", "bad actor", "坏 电影", "good 🙂"]
    labels = ["positive", "negative", "positive", "positive", "positive", "negative", "negative", "positive"]
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", texts, labels)
    out = tmp_path / "out"
    result = cli.run(text_inputs.policy, text_inputs.card, data, out)
    assert result.code == 0, result.raw
    notes = read_result(out / "tiny-bert" / "v0001")["dataset"]["notes"]
    assert ("3 of 8 texts are read as the tokenizer's unknown token [UNK] only (rows 2, 3, 6: a language, script or "
            "symbols its vocabulary lacks): the model reads nothing of them but their length") in " ".join(notes), notes

    data = text_inputs.write_jsonl(tmp_path / "unknown.jsonl", ["好电影", "🙂🙂", "坏 电影"],
                                   ["positive", "positive", "negative"])
    result = cli.run(text_inputs.policy, text_inputs.card, data, tmp_path / "out2")
    assert result.code == 3, result.raw
    assert ("column 'text': every text is read as the tokenizer's unknown token [UNK] only (a language, script or "
            "symbols its vocabulary lacks): the model would read nothing of them but their length; nothing to audit"
            ) in result.text, result.raw
    assert not (tmp_path / "out2" / "tiny-bert").exists()


def test_a_decoder_with_nothing_to_pad_with_names_its_folder_and_fields(cli, tmp_path, text_inputs, card_writer):
    """A Llama classifier without a pad id whose tokenizer has neither a pad nor an end token was refused with
    'the decoder has no pad_token_id and its tokenizer has neither ...': no folder, no file to edit."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    (model / "model.safetensors").unlink()
    torch.manual_seed(0)
    LlamaForSequenceClassification(LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=None, bos_token_id=None, eos_token_id=None,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})).save_pretrained(str(model))
    config = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.update(pad_token=None, eos_token=None, sep_token=None)
    (model / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    card = card_writer(tmp_path / "card", model={"path": str(model), "format": "transformers"},
                       task="text-classification", name="tiny-llama", target="label", text_column="text",
                       positive_class="positive", features=None, ignore_columns=None)
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["a good movie", "a bad film"], ["positive", "negative"])
    result = cli.run(text_inputs.policy, card, data, tmp_path / "out")
    assert result.code == 4, result.raw
    assert (f"error: {model.resolve()}: the decoder has no pad id (config.json pad_token_id) and its tokenizer has "
            "neither a pad nor an end-of-sequence token to pad with (tokenizer_config.json pad_token, eos_token)"
            ) in result.text, result.raw
    assert not (tmp_path / "out" / "tiny-llama").exists()


def _validate_or_run(cli, tmp_path, text_inputs, card_writer, command, model, name, texts):
    """``command`` (validate or run) on a card of the transformers ``model`` folder and the two ``texts``
    (positive, negative)."""
    card = card_writer(tmp_path / "card", model={"path": str(model), "format": "transformers"},
                       task="text-classification", name=name, target="label", text_column="text",
                       positive_class="positive", features=None, ignore_columns=None)
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", texts, ["positive", "negative"])
    args = ("--policy", text_inputs.policy, "--card", card, "--data", data)
    return cli(command, *args, *(("--out", tmp_path / "out", "-q") if command == "run" else ()))


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_id2label_that_label2id_contradicts_is_refused(cli, tmp_path, text_inputs, card_writer, command):
    """config.json's id2label gave output 0 to 'negative' and its label2id gave 'negative' output 1 (classes
    renamed in one map only): the audit read id2label and measured a model whose classes may be swapped, exit 0.
    Now validate and run refuse it (exit 4), naming the class; a stale label2id of other names stays valid."""
    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["label2id"] = {"negative": 1, "positive": 0}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    result = _validate_or_run(cli, tmp_path, text_inputs, card_writer, command, model, "tiny-bert",
                              ["a good movie", "a bad film"])
    assert result.code == 4, result.raw
    assert (f"{model.resolve() / 'config.json'}: id2label and label2id disagree: id2label gives output 0 to 'negative', "
            "label2id gives 'negative' output 1") in result.text, result.raw
    assert not (tmp_path / "out").exists()


def test_a_label2id_of_other_names_contradicts_nothing():
    from auditor.models.text import label_map_problem

    assert label_map_problem({"id2label": {"0": "neg", "1": "pos"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1}}) is None
    assert label_map_problem({"id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": "0", "pos": 1}}) is None


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_encoder_decoder_classifier_is_refused_at_validate_and_at_load(cli, tmp_path, text_inputs, card_writer,
                                                                         command):
    """A BART classifier loaded as an encoder and every text check ended ERROR: 'All examples must have the same
    number of <eos> tokens' for a batch holding a text that writes its end token, and integrated gradients 'The
    differentiated Tensor ... appears to not have been used in the graph'. It is refused as unsupported (exit 4)."""
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForSequenceClassification

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    (model / "model.safetensors").unlink()
    tok = AutoTokenizer.from_pretrained(str(model))
    torch.manual_seed(0)
    BartForSequenceClassification(BartConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.sep_token_id, forced_eos_token_id=None, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1})).save_pretrained(str(model))
    result = _validate_or_run(cli, tmp_path, text_inputs, card_writer, command, model, "tiny-bart",
                              ["a good movie", "a bad [SEP] film"])
    assert result.code == 4, result.raw
    assert (f"{model.resolve() / 'config.json'}: an encoder-decoder classifier (bart) reads its decoder's output at the "
            "text's last end-of-sequence token") in result.text, result.raw
    assert "encoder-decoder classifiers are not supported" in result.text, result.raw
    assert not (tmp_path / "out").exists()
