"""Evaluation sets a fourth hunt fed in (2026-12-06)."""

from __future__ import annotations

import pandas as pd


def _frame(artefacts) -> pd.DataFrame:
    return artefacts.frame.head(60).copy()


def test_a_feature_whose_square_overflows_is_located(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """1e308 in a feature validated, then explanation_stability raised "std must be a finite
    non-negative scalar" (ERROR, naming no column or row); other checks passed under overflow warnings."""
    frame = _frame(artefacts)
    frame.loc[4, "x1"], frame.loc[7, "x3"] = 1e308, -1e200
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert res.code == 3, res.text
    assert "column 'x1': values beyond ±1e+150 in row 4" in res.text and "column 'x3': values beyond ±1e+150 in row 7" in res.text


def test_a_byte_order_mark_leaves_the_header_checks_working(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """The header was read without the BOM's removal: the first column's name kept it, so its
    duplicate was not found (pandas then named a 'x1.1' the file does not hold)."""
    frame = _frame(artefacts)
    text = frame.to_csv(index=False)
    header, rest = text.split("\n", 1)
    data = tmp_path / "eval.csv"
    data.write_bytes(b"\xef\xbb\xbf" + f"{header},x1\n".encode() + "".join(
        f"{line},0.5\n" for line in rest.splitlines()).encode())
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert res.code == 3 and "duplicate column name 'x1' (also column 1)" in res.text, res.text
    plain = tmp_path / "plain.csv"
    plain.write_bytes(b"\xef\xbb\xbf" + text.encode())
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", plain)
    assert res.code == 0, res.text


def test_columns_read_otherwise_than_written_are_noted(tmp_path, card_writer, artefacts):
    """True/False cells were read as 1.0/0.0 with no word; numbers written as text in a JSON file
    were audited as categories with no word."""
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card

    card = load_model_card(card_writer(tmp_path / "card", features=None))  # no column's type declared
    frame = _frame(artefacts)
    frame["x3"] = [str(v) for v in frame["x3"]]
    data = tmp_path / "eval.jsonl"
    frame.to_json(data, orient="records", lines=True)
    notes = load_dataset(data, card).notes
    assert any(n.startswith("column 'x3' holds numbers written as text (e.g. '") for n in notes), notes
    frame = _frame(artefacts)
    frame["color"] = frame["x1"] > 0
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    notes = load_dataset(data, card).notes
    assert any(n.startswith("column 'color' holds true/false values: audited as the numbers 1 and 0") for n in notes), notes
    assert not any("holds" in n for n in load_dataset(artefacts.csv, card).notes)


def test_values_the_models_encoder_never_saw_are_noted(tmp_path, card_writer, artefacts):
    """A category the pipeline's OneHotEncoder (handle_unknown='ignore') never saw was scored as
    unknown with no word: a file writing True/False where the model learnt yes/no lost 11 points of
    accuracy silently."""
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.kinds import load_adapter

    card = load_model_card(card_writer(tmp_path / "card"))
    frame = _frame(artefacts)
    frame.loc[[3, 9], "color"] = "purple"
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    model = load_adapter(card, ["x1", "x2", "x3", "color"])
    assert model.input_notes(load_dataset(data, card)) == [
        "column 'color': 2 of 60 rows hold a value the model's encoder never saw when fitted ('purple'); it scores "
        "them as unknown (OneHotEncoder, handle_unknown='ignore')"]
    assert model.input_notes(load_dataset(artefacts.csv, card)) == []
    # an export that upper-cased the column: every row unknown, said so, with the near misses named
    frame = _frame(artefacts)
    frame["color"] = frame["color"].str.upper()
    frame.to_csv(data, index=False)
    known = sorted(set(_frame(artefacts)["color"]))
    [note] = model.input_notes(load_dataset(data, card))
    assert note.startswith("column 'color': all 60 rows hold a value the model's encoder never saw"), note
    assert f"{known[0].upper()!r} for {known[0]!r}" in note and note.endswith(
        "? (categories are case- and space-sensitive)"), note


def test_a_data_file_or_card_that_cannot_be_read_is_invalid_input_like_a_missing_one(cli, tmp_path, card_writer,
                                                                                    card_only_policy, artefacts,
                                                                                    monkeypatch):
    """An unreadable data file exited 2 (click's "is not readable") where a missing one exits 3; past
    that check, it and an unreadable card were internal errors (a PermissionError)."""
    from pathlib import Path

    data = tmp_path / "eval.csv"
    _frame(artefacts).to_csv(data, index=False)
    card = card_writer(tmp_path / "card")

    def denied(real, name):
        return lambda self, *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied", str(self))) \
            if self.name == name else real(self, *a, **k)

    monkeypatch.setattr(Path, "open", denied(Path.open, "eval.csv"))
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", data)
    assert res.code == 3 and f"invalid dataset {data} (1 problem): - cannot be read (Permission denied)" in res.text, res.text
    monkeypatch.undo()
    monkeypatch.setattr(Path, "read_bytes", denied(Path.read_bytes, card.name))
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", data)
    assert res.code == 3 and f"invalid model card {card} (1 problem): - cannot be read (Permission denied)" in res.text, res.text


def test_labels_the_model_lacks_are_named_before_the_card_s_class_is_blamed(cli, tmp_path, text_inputs):
    """0/1 labels for a model of 'negative'/'positive': validate and run said the card's positive class
    'positive' is not among the labels '0', '1', and never that the labels are not the model's."""
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["good film", "bad film", "fine", "awful"] * 3,
                                   ["1", "0", "1", "0"] * 3)
    said = "labels the model does not know: '0', '1'"
    res = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert res.code == 3 and said in res.text and "positive_class" not in res.text, res.text
    res = cli.run(text_inputs.policy, text_inputs.card, data, tmp_path / "out")
    assert res.code == 3 and said in res.text and "positive_class" not in res.text, res.text


def test_a_text_under_two_labels_is_said_with_its_file_rows(cli, tmp_path, text_inputs):
    """Duplicate texts with different labels passed without a word: no model is right on both copies."""
    texts = ["", "good film", "bad film", "fine", "awful", "good film", "so so", "so so"]
    labels = ["positive", "positive", "negative", "positive", "negative", "negative", "positive", "positive"]
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", texts, labels)
    res = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert res.code == 0, res.text  # the empty text (row 0) is left out: the rows named are the file's
    assert ("note: 1 text appears under different labels (file rows 1, 5): no model is right on every copy, so "
            "accuracy cannot reach 1 on this set") in res.text, res.text


def test_class_ids_for_class_names_are_said_as_such():
    """A transformers checkpoint fine-tuned without names has classes LABEL_0, LABEL_1, and its data
    holds 0 and 1: the error named the labels and the classes, never that the data holds the ids."""
    from types import SimpleNamespace

    import numpy as np
    import pytest

    from auditor.engine.audit import check_labels
    from auditor.errors import DatasetError

    data = SimpleNamespace(path="eval.jsonl", every_label=None, source_rows=None,
                           labels=np.array(["0", "1", "1", "0"], dtype=object))
    with pytest.raises(DatasetError) as err:
        check_labels(data, ["LABEL_0", "LABEL_1"])
    said = " ".join(str(err.value).split())
    assert "labels the model does not know: '0', '1'" in said
    assert "'0' for 'LABEL_0'?, '1' for 'LABEL_1'? (the data seems to hold class indices; labels are compared " \
           "with the model's class names, in its order)" in said, said
    data.labels = np.array(["0", "2"], dtype=object)  # not every one an id of the model's: no hint
    with pytest.raises(DatasetError) as err:
        check_labels(data, ["LABEL_0", "LABEL_1"])
    assert "class indices" not in str(err.value)


def test_whole_number_classes_written_as_decimals_are_said_as_such():
    """A model fitted on classes 1, 2, 3 and an evaluation CSV whose target column was exported as 1.0,
    2.0, 3.0: the error named the labels and the classes, never that they are the same numbers written
    otherwise. Still refused, not matched: labels are compared as the model's classes are written."""
    from types import SimpleNamespace

    import numpy as np
    import pytest

    from auditor.engine.audit import check_labels
    from auditor.errors import DatasetError

    data = SimpleNamespace(path="eval.csv", every_label=None, source_rows=None,
                           labels=np.array(["1.0", "2.0", "3.0", "1.0"], dtype=object))
    with pytest.raises(DatasetError) as err:
        check_labels(data, ["1", "2", "3"])
    said = " ".join(str(err.value).split())
    assert ("labels the model does not know: '1.0', '2.0', '3.0' in rows 0, 1, 2, 3 (model classes: 1, 2, 3); "
            "'1.0' for '1'?, '2.0' for '2'?, '3.0' for '3'? (the same number written otherwise: labels are compared "
            "as text with the model's classes; write them as the model's classes are written)") in said, said
    data.labels = np.array(["1.5", "nan"], dtype=object)  # no class is that number: no hint
    with pytest.raises(DatasetError) as err:
        check_labels(data, ["1", "2", "3"])
    assert "same number" not in str(err.value)


def test_a_column_named_in_another_case_or_with_a_space_is_pointed_at(cli, tmp_path, text_inputs):
    """A JSONL whose key is 'Text' (or 'text ') for the card's text_column 'text': the error said 'text'
    is missing and 'Text' is not a feature, never that they are one column spelt two ways."""
    import json

    for key in ("Text", "text "):
        data = tmp_path / f"{key.strip()}-{len(key)}.jsonl"
        data.write_text("".join(json.dumps({key: t, "label": y}) + "\n"
                                for t, y in [("good film", "positive"), ("bad film", "negative")]), encoding="utf-8")
        res = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
        assert res.code == 3, res.text
        assert (f"column 'text': missing (the card names it; the file has {key!r}: column names are case- and "
                "space-sensitive)") in " ".join(res.text.split()), res.text
