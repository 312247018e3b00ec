"""Model artefacts that could run code, or are not what the card says: refused with exit 4, the
offending types or files named, nothing written."""

from __future__ import annotations

import json
import os

import pytest

from . import bad_models


@pytest.fixture
def run_card(cli, tmp_path, artefacts, card_writer, card_only_policy):
    """``run_card(model={...}, **overrides)``: run the card-only policy on a card for that artefact."""

    def run(*extra, data=None, **overrides):
        card = card_writer(tmp_path / "card", **overrides)
        out = tmp_path / "out"
        result = cli.run(card_only_policy, card, data or artefacts.csv, out, *extra)
        result.out = out
        return result

    return run


def _skops(tmp_path, obj, name):
    import skops.io as sio

    path = tmp_path / f"{name}.skops"
    sio.dump(obj, path)
    return path


@pytest.mark.parametrize("make, refused", [
    (lambda: bad_models.NaNClassifier(), f"{bad_models.__name__}.NaNClassifier"),
    (lambda: __import__("sklearn.preprocessing", fromlist=["x"]).FunctionTransformer(os.system), "posix.system"),
    (lambda: __import__("sklearn.preprocessing", fromlist=["x"]).FunctionTransformer(eval), "builtins.eval"),
    (lambda: __import__("sklearn.preprocessing", fromlist=["x"]).FunctionTransformer(
        __import__("functools").partial(os.system, "true")), "posix.system"),
], ids=["custom-class", "os-system", "eval", "partial-os-system"])
def test_skops_with_untrusted_types_is_refused_naming_them(run_card, tmp_path, make, refused):
    path = _skops(tmp_path, make(), "model")
    result = run_card(model={"path": str(path), "format": "skops"})
    assert result.code == 4, result.raw
    assert (f"error: {path} contains types that are not on auditor's allow-list, refusing to load: {refused}"
            in result.text), result.raw
    assert not (result.out / "tiny-model").exists()


def test_hist_gradient_boosting_with_native_categories_loads(tmp_path):
    """Its preprocessor holds functools.partial(check_array): refused (exit 4) before, loaded now."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from auditor.models.tabular import load_sklearn_estimator

    X = np.array([[0, 1.0], [1, 2.0], [2, 3.0], [1, 1.0]] * 5)
    model = HistGradientBoostingClassifier(categorical_features=[0], max_iter=3).fit(X, [0, 1, 0, 1] * 5)
    loaded = load_sklearn_estimator(_skops(tmp_path, model, "hgb"), "skops", allow_pickle=False, pinned_sha256=None)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_corrupt_skops_file(run_card, tmp_path):
    path = tmp_path / "model.skops"
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    result = run_card(model={"path": str(path), "format": "skops"})
    assert result.code == 4
    assert f"error: {path} is not a readable skops file:" in result.text


def test_pickle_needs_allow_pickle(run_card, bad_model):
    path = bad_model("NaNClassifier")
    result = run_card(model={"path": str(path), "format": "joblib"})
    assert result.code == 4
    assert (f"error: {path} is a joblib file, and loading one can run arbitrary code; pass --allow-pickle if you "
            "trust it (and pin its sha256 in the card)") in result.text
    assert not (result.out / "tiny-model").exists()


def test_pickle_with_allow_pickle_but_wrong_pin_is_refused(run_card, bad_model):
    path = bad_model("NaNClassifier")
    result = run_card("--allow-pickle", model={"path": str(path), "format": "joblib", "sha256": "f" * 64})
    assert result.code == 4
    assert "does not match the sha256 pinned in the card" in result.text


def test_estimator_without_predict_proba(run_card, bad_model):
    path = bad_model("NoProbaClassifier")
    result = run_card("--allow-pickle", model={"path": str(path), "format": "joblib"})
    assert result.code == 4
    assert "error: NoProbaClassifier has no predict_proba; auditor needs probabilities" in result.text


def test_an_unfitted_estimator_is_refused_as_the_artefact(run_card, tmp_path):
    """It was blamed on the dataset: 'labels the model does not know … (model classes: )', exit 3."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression(), path)
    result = run_card("--allow-pickle", model={"path": str(path), "format": "joblib"})
    assert result.code == 4, result.text
    assert f"error: {path}: the LogisticRegression in it was never fitted; save it after fit()" in result.text
    assert not result.out.exists()


def test_a_model_fitted_on_fewer_unnamed_columns_is_refused_before_the_run(run_card, tmp_path, artefacts):
    """Fitted on a bare array of 2 columns, audited with 4 features: every model check had ended in
    ERROR ('X has 4 features, but … is expecting 2') in a stored run."""
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    frame = artefacts.frame
    path = tmp_path / "model.joblib"
    joblib.dump(DecisionTreeClassifier(max_depth=2).fit(frame[["x1", "x2"]].to_numpy(), frame["label"]), path)
    result = run_card("--allow-pickle", model={"path": str(path), "format": "joblib"})
    assert result.code == 3, result.text
    assert "auditor.features: the model was fitted on 2 unnamed columns; the audit has 4 features (x1, x2, x3, color)" \
        in result.text
    assert not result.out.exists()


def test_garbage_pickle_with_allow_pickle(run_card, tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x05garbage")
    result = run_card("--allow-pickle", model={"path": str(path), "format": "joblib"})
    assert result.code == 4
    assert f"error: cannot load {path}: " in result.text


# --- transformers directories --------------------------------------------------------------------

def _hf_dir(root, *, config=None, files=None):
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config if config is not None else {"model_type": "bert"}))
    for name, content in (files or {"model.safetensors": b"\0" * 16}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


TRANSFORMERS_CASES = {
    "python-file": (dict(files={"model.safetensors": b"", "modeling_evil.py": b"import os\n"}),
                    "refusing model directory {dir}: it contains Python code (modeling_evil.py); "
                    "remote or custom code is never executed"),
    "python-file-in-subfolder": (dict(files={"model.safetensors": b"", "sub/x.PY": b""}),
                                 "it contains Python code (x.PY)"),
    "auto-map": (dict(config={"model_type": "bert", "auto_map": {"AutoModel": "evil.Model"}}),
                 "refusing {dir}/config.json: key 'auto_map' asks for custom remote code"),
    "auto-map-in-tokenizer-config": (
        dict(files={"model.safetensors": b"", "tokenizer_config.json": b'{"auto_map": {"AutoTokenizer": ["t.T", null]}}'}),
        "refusing {dir}/tokenizer_config.json: key 'auto_map' asks for custom remote code"),
    "pickle-weights": (dict(files={"pytorch_model.bin": b"\x80\x05"}),
                       "refusing model directory {dir}: pytorch_model.bin is a pickle file, which can run code when "
                       "read, and a transformers folder is audited only without one (convert the model to safetensors; "
                       "--allow-pickle is for scikit-learn joblib/pickle files only)"),
    "no-safetensors": (dict(files={"vocab.txt": b"a\n"}), "model directory {dir} has no *.safetensors weights"),
    "config-not-json": (dict(config=None, files={"model.safetensors": b""}), "config.json is not valid JSON"),
    "config-not-an-object": (dict(config=[1, 2]), "{dir}/config.json is not a JSON object"),
    "garbage-safetensors": (dict(files={"model.safetensors": b"garbage", "vocab.txt": b"[PAD]\n"}),
                            "could not load model from {dir}: "),
}


@pytest.mark.parametrize("name", list(TRANSFORMERS_CASES))
def test_transformers_directories_that_could_run_code_are_refused(run_card, tmp_path, name):
    kwargs, expected = TRANSFORMERS_CASES[name]
    model = _hf_dir(tmp_path / "model", **kwargs)
    if name == "config-not-json":
        (model / "config.json").write_text("{not json")
    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "good", "label": "positive"}\n{"text": "bad", "label": "negative"}\n')
    result = run_card(data=data, model={"path": str(model), "format": "transformers"}, task="text-classification",
                      target="label", text_column="text", features=None, ignore_columns=None, positive_class=None)
    assert result.code == 4, result.raw
    assert expected.replace("{dir}", str(model.resolve())) in result.text, result.raw
    assert not (result.out / "tiny-model").exists()


def test_a_model_folder_without_a_tokenizer_is_refused(tmp_path, text_inputs):
    """transformers built a tokenizer of the 5 special tokens: every word read as [UNK] and the audit ran
    on constant predictions."""
    import shutil

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (model / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="has no tokenizer"):
        load_sequence_classifier(model)


def test_a_tokenizer_larger_than_the_embedding_is_refused():
    """Texts holding the extra ids crashed every check mid-audit ('index out of range in self')."""
    from types import SimpleNamespace

    from auditor.errors import ModelLoadError
    from auditor.models.text import check_vocabulary

    model = SimpleNamespace(get_input_embeddings=lambda: SimpleNamespace(num_embeddings=23))
    with pytest.raises(ModelLoadError, match="the tokenizer has 30 tokens and the model's embedding 23 rows"):
        check_vocabulary(model, list(range(30)), "m")
    check_vocabulary(model, list(range(23)), "m")


def test_a_config_that_disagrees_with_the_head_says_so(tmp_path, text_inputs):
    """transformers' message ('You set ignore_mismatched_sizes to False … look at the above report')
    pointed to a report it never showed."""
    import shutil

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    config = json.loads((model / "config.json").read_text())
    config.update(id2label={"0": "positive"}, label2id={"positive": 0})
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="the weights' shapes differ from what config.json describes "
                                             r"\(classifier.bias: 2 in the weights, 1 from config.json; "
                                             r"classifier.weight: 2×32 in the weights, 1×32 from config.json; "
                                             r"id2label names 1 class"):
        load_sequence_classifier(model)


def test_a_config_whose_other_sizes_disagree_names_the_weights(tmp_path, text_inputs):
    """A config.json with fewer positions than the weights: the message named only id2label and
    num_labels, which were right, and not the position table that was not."""
    import shutil

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    config = json.loads((model / "config.json").read_text())
    config.update(max_position_embeddings=4)
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as err:
        load_sequence_classifier(model)
    assert ("the weights' shapes differ from what config.json describes (bert.embeddings.position_embeddings.weight: "
            "64×32 in the weights, 4×32 from config.json)") in str(err.value), err.value


@pytest.mark.parametrize("change, said", [
    ({"id2label": {"0": "positive"}, "label2id": {"positive": 0}}, "the head has 1 output"),
    ({"problem_type": "regression", "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}},
     "problem_type is 'regression'"),
], ids=["one-output", "regression"])
def test_a_head_that_is_no_classifier_is_a_model_problem_at_validate_and_at_load(tmp_path, text_inputs, change, said):
    """A one-output head (num_labels 1, or a regression head) was read as a one-class classifier, and
    the evaluation labels were blamed on the dataset (exit 3) though the model is what cannot be
    audited as a classifier."""
    import shutil
    from types import SimpleNamespace

    from transformers import AutoModelForSequenceClassification

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier
    from auditor.models.kinds import classes_without_loading

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    config = json.loads((model / "config.json").read_text())
    config.update(change)
    (model / "config.json").write_text(json.dumps(config))
    one = AutoModelForSequenceClassification.from_pretrained(str(model), num_labels=1, ignore_mismatched_sizes=True)
    one.save_pretrained(str(model))  # weights of a one-output head, so only the head's meaning is wrong
    card = SimpleNamespace(model_path=str(model), auditor=SimpleNamespace(
        task="text-classification", model=SimpleNamespace(head=None)))
    for read in (lambda: classes_without_loading(card), lambda: load_sequence_classifier(model)):
        with pytest.raises(ModelLoadError, match=f"config.json: {said}"):
            read()


def test_an_xlnet_classifier_whose_head_reads_the_padding_is_refused_at_validate_and_at_load(tmp_path, text_inputs):
    """XLNet is recognised as a decoder (a causal-LM class, no masked-LM one) and right-padded, but its head
    reads the last position whatever it holds: a text's probabilities moved with the texts batched with it
    (0.0026 on an untrained tiny one, alone against beside three longer texts)."""
    import shutil
    from types import SimpleNamespace

    from transformers import XLNetConfig, XLNetForSequenceClassification

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier
    from auditor.models.kinds import classes_without_loading

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    (model / "config.json").unlink()
    config = XLNetConfig(vocab_size=200, d_model=16, n_layer=1, n_head=2, d_inner=32, pad_token_id=0,
                         id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    XLNetForSequenceClassification(config).save_pretrained(str(model))
    card = SimpleNamespace(model_path=str(model), auditor=SimpleNamespace(
        task="text-classification", model=SimpleNamespace(head=None)))
    for read in (lambda: classes_without_loading(card), lambda: load_sequence_classifier(model)):
        with pytest.raises(ModelLoadError, match="config.json: an XLNet head reads the sequence's last position") as err:
            read()
        assert err.value.exit_code == 4


def _copy_model(text_inputs, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    return model


def _edit_json(path, **changes):
    content = json.loads(path.read_text())
    content.update(changes)
    path.write_text(json.dumps(content))


@pytest.mark.parametrize("head", ["sequence-classifier", "causal-lm"])
def test_weights_of_another_architecture_are_refused_not_audited_at_random(run_card, tmp_path, text_inputs, head):
    """A Llama config.json beside BERT weights loaded as a Llama with every tensor drawn at random
    (transformers only logs 'newly initialized'), and the audit ran on it: exit 0, a report of noise."""
    from transformers import LlamaConfig

    model = _copy_model(text_inputs, tmp_path)
    arch = "LlamaForCausalLM" if head == "causal-lm" else "LlamaForSequenceClassification"
    llama = LlamaConfig(vocab_size=23, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, architectures=[arch],
                        id2label={0: "negative", 1: "positive"})
    (model / "config.json").write_text(llama.to_json_string())
    extra = dict(prompt="review : {text} sentiment :", label_words={"negative": "bad", "positive": "good"},
                 model={"path": str(model), "format": "transformers", "head": "causal-lm"}) if head == "causal-lm" else {}
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["a good film", "a bad film"], ["positive", "negative"])
    result = run_card(data=data, **{"model": {"path": str(model), "format": "transformers"}, **extra},
                      task="text-classification", target="label", text_column="text", features=None,
                      ignore_columns=None, positive_class="positive")
    assert result.code == 4, result.raw
    assert "the weights lack" in result.text and "which would be audited as random numbers" in result.text, result.raw
    assert "of another architecture or head than config.json describes" in result.text, result.raw
    assert not (result.out / "tiny-model").exists()


def test_a_checkpoint_without_its_classification_head_is_refused(tmp_path, text_inputs):
    """A base model's weights (no classifier tensors) ran with a randomly initialised head."""
    from safetensors.torch import load_file, save_file

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    weights = load_file(str(model / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier.")}, str(model / "model.safetensors"),
              metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"the weights lack 2 of the model's tensors \(classifier.bias, "
                                             r"classifier.weight\).*has no head for the task"):
        load_sequence_classifier(model)


def test_a_tokenizer_that_cannot_encode_is_refused_at_load(tmp_path, text_inputs):
    """An empty vocab.txt (no tokenizer.json) loads as a WordPiece tokenizer without [UNK], which raised
    'Missing [UNK] token from the vocabulary' on the first text: exit 5 with a traceback."""
    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    (model / "tokenizer.json").unlink()
    (model / "vocab.txt").write_text("")
    with pytest.raises(ModelLoadError, match="the tokenizer cannot encode text .*Missing \\[UNK\\] token"):
        load_sequence_classifier(model)


def test_a_tokenizer_max_length_that_is_no_number_is_refused(tmp_path, text_inputs):
    """model_max_length "long" loaded, and every explaining check ended ERROR in SHAP's masker
    ("'>' not supported between instances of 'int' and 'str'")."""
    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    _edit_json(model / "tokenizer_config.json", model_max_length="long")
    with pytest.raises(ModelLoadError, match="tokenizer_config.json: model_max_length must be a number .*'long'"):
        load_sequence_classifier(model)


@pytest.mark.parametrize("id2label", [["negative", "positive"], {"a": "negative", "b": "positive"}],
                         ids=["list", "word-keys"])
def test_an_id2label_that_is_no_id_mapping_says_so(tmp_path, text_inputs, id2label):
    """transformers' own words were "AttributeError: 'list' object has no attribute 'items'" and
    "invalid literal for int() with base 10: 'a'", naming neither the file nor the field."""
    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    config = json.loads((model / "config.json").read_text())
    config.pop("label2id")
    config["id2label"] = id2label
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="config.json: id2label must be an object mapping class ids 0..n-1"):
        load_sequence_classifier(model)


def test_a_model_path_naming_a_file_says_so(tmp_path, text_inputs):
    """model.path pointing at config.json said 'model directory …/config.json does not exist'."""
    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    with pytest.raises(ModelLoadError, match="config.json is a file: model.path of a transformers model names its folder"):
        load_sequence_classifier(model / "config.json")


def test_a_special_token_missing_from_the_vocabulary_is_named(tmp_path, text_inputs):
    """A pad_token the vocabulary lacks is added after it; the refusal blamed config.json's vocab_size
    alone and never named the token."""
    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    _edit_json(model / "tokenizer_config.json", pad_token="<pad-new>")
    with pytest.raises(ModelLoadError, match=r"the tokenizer has 24 tokens and the model's embedding 23 rows "
                                             r"\(ids 23 and up: '<pad-new>'\).*special token of tokenizer_config.json"):
        load_sequence_classifier(model)


def test_a_causal_lms_pad_token_missing_from_the_vocabulary_is_named_as_the_tokenizers(tmp_path, text_inputs):
    """A prompted LM whose config.json has no pad id takes the tokenizer's; one beyond the embedding (a pad
    token added to the tokenizer, the model not resized) was refused as "config.pad_token_id 23 is outside
    the vocabulary", which config.json does not hold, with no path."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_causal_lm

    model = _copy_model(text_inputs, tmp_path)
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    LlamaForCausalLM(LlamaConfig(vocab_size=23, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                                 pad_token_id=None)).save_pretrained(str(model))
    _edit_json(model / "tokenizer_config.json", pad_token="<pad-new>")
    with pytest.raises(ModelLoadError, match=r"the tokenizer has 24 tokens and the model's embedding 23 rows "
                                             r"\(ids 23 and up: '<pad-new>'\)"):
        load_causal_lm(model, prompt="review : {text} sentiment :", label_words={"negative": "bad", "positive": "good"})


def test_a_pad_token_id_outside_the_vocabulary_is_named_before_loading(tmp_path, text_inputs):
    """transformers' own words were "AssertionError: Padding_idx must be within num_embeddings"."""
    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    _edit_json(model / "config.json", pad_token_id=500)
    with pytest.raises(ModelLoadError, match=r"config.json: pad_token_id 500 is outside the vocabulary \(vocab_size 23\)"):
        load_sequence_classifier(model)


def test_a_model_with_no_position_for_a_text_is_refused(tmp_path, text_inputs):
    """max_position_embeddings 2 was ignored as a limit (only values above 2 were read), and a BERT with
    two positions loaded and ended every check in ERROR ("The expanded size of the tensor (8) must match
    the existing size (2)")."""
    from auditor.errors import ModelLoadError
    from auditor.models.decoder import load_sequence_classifier

    model = _copy_model(text_inputs, tmp_path)
    _edit_json(model / "config.json", max_position_embeddings=2)
    with pytest.raises(ModelLoadError, match="config.json: max_position_embeddings 2 leaves no position for a text"):
        load_sequence_classifier(model)


def test_validate_of_a_prompted_lm_refuses_a_tokenizer_that_cannot_encode(tmp_path, text_inputs, monkeypatch):
    """``auditor validate`` reads a prompted LM's label words with its tokenizer: the WordPiece error
    escaped as an internal error (exit 5)."""
    from types import SimpleNamespace

    from auditor.errors import ModelLoadError
    from auditor.models.decoder import check_label_words

    model = _copy_model(text_inputs, tmp_path)
    (model / "tokenizer.json").unlink()
    (model / "vocab.txt").write_text("")
    card = SimpleNamespace(model_path=model, path=tmp_path / "README.md", auditor=SimpleNamespace(
        label_words={"positive": "good", "negative": "bad"}, prompt="review : {text} sentiment :"))
    # the BERT here has no language-model head, which validate now refuses first: let it reach the tokenizer
    monkeypatch.setattr("auditor.models.decoder.causal_lm_config", lambda path: SimpleNamespace())
    with pytest.raises(ModelLoadError, match="the tokenizer cannot encode text"):
        check_label_words(card)

