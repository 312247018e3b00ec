"""Model cards a fourth hunt fed in (2026-12-06): each reached exit 5 or misreported the card."""

from __future__ import annotations

import hashlib

import pytest


@pytest.mark.parametrize("path, says", [
    ("model/model\0.skops", "contains a NUL character"),
    ("x" * 300 + ".skops", "cannot be read: File name too long"),
    ("/".join(["y" * 200] * 30) + "/m.skops", "cannot be read: File name too long"),
])
def test_a_model_path_the_system_refuses_is_a_located_card_error(cli, tmp_path, card_writer, card_only_policy, artefacts,
                                                                 path, says):
    card = card_writer(tmp_path / "card", model={"path": path, "format": "skops", "sha256": "0" * 64})
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 3, res.text  # was exit 5: ValueError (NUL), OSError ENAMETOOLONG from exists()
    assert "auditor.model.path" in res.text and says in res.text


def test_a_claim_of_400_digits_is_a_claim_not_read(cli, tmp_path, card_writer, card_only_policy, artefacts):
    index = [{"name": "m", "results": [{"task": {"type": "tabular-classification"},
                                        "metrics": [{"type": "accuracy", "value": 10 ** 400}]}]}]
    card = card_writer(tmp_path / "card", metadata={"model-index": index})
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 0, res.text  # was exit 5: OverflowError in float()
    assert "needs a metric type and a finite numeric value" in res.text


def test_a_cards_hash_is_its_files_hash_with_a_byte_order_mark(tmp_path, card_writer):
    """The card's sha256 in result.json and the report was the hash of its text without the BOM,
    while the manifest and `sha256sum` hashed the file: a reviewer's check disagreed."""
    from auditor.inputs.model_card import load_model_card

    card = card_writer(tmp_path / "card")
    card.write_bytes(b"\xef\xbb\xbf" + card.read_bytes())
    assert load_model_card(card).sha256 == hashlib.sha256(card.read_bytes()).hexdigest()


def test_another_models_results_in_the_model_index_are_not_this_models_claims(tmp_path, card_writer):
    """A card listing a baseline's results beside its own had the baseline's accuracy 0.60 judged
    against the audited model: performance FAILed on claims_outside_tolerance. Only the audited
    model's entry (named by auditor.name, else the first) is its claim; the other is named as not read."""
    from auditor.inputs.model_card import load_model_card

    def entry(name, value):
        return {"name": name, "results": [{"task": {"type": "tabular-classification"},
                                           "metrics": [{"type": "accuracy", "value": value}]}]}

    index = [entry("baseline-logreg", 0.60), entry("audited", 0.81)]
    card = load_model_card(card_writer(tmp_path / "a", metadata={"model-index": index}, name="audited"))
    assert [(c.metric, c.value) for c in card.claims] == [("accuracy", 0.81)]
    assert card.claim_problems == ["model-index[0]: another model's results ('baseline-logreg'; the audited model's "
                                   "are model-index[1]), not this model's claims"]
    card = load_model_card(card_writer(tmp_path / "b", metadata={"model-index": index[::-1]}, name=None))
    assert [c.value for c in card.claims] == [0.81] and card.model_name == "audited"  # the first names the model


def test_front_matter_never_closed_is_said_so(tmp_path):
    from auditor.errors import ModelCardError
    from auditor.inputs.model_card import load_model_card

    card = tmp_path / "README.md"
    card.write_text("---\r\nauditor:\r\n  name: x\r\n\r\n# A model\r\n", encoding="utf-8")
    with pytest.raises(ModelCardError, match="the front matter opened by '---' on line 1 is never closed"):
        load_model_card(card)


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_the_model_loaded_is_the_bytes_whose_hash_was_checked(tmp_path, artefacts, monkeypatch, fmt):
    """The pin was checked on one read of the artefact and the model loaded from later reads: a file
    swapped in between (with --allow-pickle, code that runs) was loaded unpinned."""
    import hashlib

    import joblib
    import skops.io as sio

    from auditor.models import tabular

    estimator = sio.load(artefacts.linear, trusted=sio.get_untrusted_types(file=artefacts.linear))
    path = tmp_path / f"model.{fmt}"
    if fmt == "skops":
        sio.dump(estimator, path)
    else:
        joblib.dump(estimator, path)
    pin = hashlib.sha256(path.read_bytes()).hexdigest()
    checked = tabular.verify_pin

    def check_then_swap(p, expected):
        data = checked(p, expected)
        p.write_bytes(b"swapped after the check")
        return data

    monkeypatch.setattr(tabular, "verify_pin", check_then_swap)
    loaded = tabular.load_sklearn_estimator(path, fmt, allow_pickle=True, pinned_sha256=pin)
    assert (loaded.coef_ == estimator.coef_).all()


def test_a_yaml_set_in_the_metadata_is_stored_in_one_order(tmp_path, card_writer):
    """A `!!set` in the card's free-form metadata was stored as the text of a Python set, whose
    order follows the hash seed: result.json differed between two runs of the same inputs."""
    from auditor.inputs.model_card import load_model_card

    card = card_writer(tmp_path / "card")
    text = card.read_text(encoding="utf-8").replace("---\n", "---\ntags: !!set {zeta: null, alpha: null, 3: null}\n", 1)
    card.write_text(text, encoding="utf-8")
    assert load_model_card(card).metadata["tags"] == [3, "alpha", "zeta"]


def test_a_boolean_class_is_told_to_be_quoted_as_the_labels_spell_it(cli, tmp_path, card_writer, card_only_policy,
                                                                    artefacts):
    """`positive_class: true` was told to write "yes", whatever the labels are (True/False labels need "True")."""
    card = card_writer(tmp_path / "card", positive_class=True)
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 3 and "auditor.positive_class" in res.text, res.text
    assert 'write the value in quotes, spelt as the data\'s labels spell it ("True", "yes")' in res.text, res.text


def test_a_label_word_class_yaml_read_as_a_boolean_or_number_is_located_by_its_key():
    """label_words: {true: "no", false: "yes"} was located at 'auditor.label_words[1].[key]' and
    '[0].[key]': pydantic's place for a mapping key, where True reads 1, like an index into a list."""
    from pydantic import BaseModel, ValidationError

    from auditor.inputs.validation import pydantic_problems

    class Block(BaseModel):
        label_words: dict[str, str]

    with pytest.raises(ValidationError) as err:
        Block(label_words={True: "no", 0: "yes", "fine": "ok"})
    said = {(p.location, p.message) for p in pydantic_problems(err.value, "auditor")}
    assert said == {
        ("auditor.label_words.true (a key)", "Input should be a valid string (YAML read true as a boolean: write it in quotes)"),
        ("auditor.label_words.0 (a key)", "Input should be a valid string (YAML read 0 as a number: write it in quotes)"),
    }, said
