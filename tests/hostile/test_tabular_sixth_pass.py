"""Tabular inputs a sixth hunt fed in: files of other formats under a .csv name that were not named
(an Excel 97-2003 workbook, bzip2/xz/zstd, UTF-32, an HTML or XML page), and a cell value of any
length copied whole into the notes and messages."""

from __future__ import annotations

import bz2
import lzma

import pandas as pd
import pytest


def _frame(artefacts) -> pd.DataFrame:
    return artefacts.frame.head(60).copy()


def _validate(cli, tmp_path, card_writer, policy, data, **card):
    return cli("validate", "--policy", policy, "--card", card_writer(tmp_path / "card", **card), "--data", data)


def _csv(frame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize("write, said", [
    # an .xls saved under .csv: "line 1, column 1 (byte 0): file is not valid UTF-8"
    (lambda f: bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504 + _csv(f),
     "the file is an OLE2 compound document (an Excel 97-2003 .xls workbook is one); save the sheet as CSV (UTF-8)"),
    # compressed other than by gzip: "not valid UTF-8" at some byte
    (lambda f: bz2.compress(_csv(f)), "the file is bzip2-compressed; decompress it first"),
    (lambda f: lzma.compress(_csv(f)), "the file is xz-compressed; decompress it first"),
    (lambda f: bytes.fromhex("28b52ffd") + b"\0" * 16, "the file is zstd-compressed; decompress it first"),
    # UTF-32 was called UTF-16 (its byte-order mark starts with UTF-16's)
    (lambda f: f.to_csv(index=False).encode("utf-32"), "the file is UTF-32 text (it starts with a UTF-32 byte-order "
                                                       "mark); save it as UTF-8"),
    # markup: every card column was listed as missing and '<!DOCTYPE html>' as an unknown column
    (lambda f: b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n",
     "the file is an HTML page (a web page saved, or an error page downloaded, under this name), not CSV"),
    (lambda f: b'\xef\xbb\xbf  <?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>\n',
     "the file is XML (an Excel 2003 XML spreadsheet is one), not CSV"),
])
def test_a_file_of_another_format_named_csv_says_what_it_is(cli, tmp_path, card_writer, card_only_policy, artefacts,
                                                            write, said):
    data = tmp_path / "eval.csv"
    data.write_bytes(write(_frame(artefacts)))
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3 and f"invalid dataset {data} (1 problem): - {said}" in res.text, res.text


def test_a_header_that_starts_like_a_magic_number_still_reads(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """bzip2's magic is "BZh": a CSV whose first column is named so is no archive."""
    frame = _frame(artefacts)
    data = tmp_path / "eval.csv"
    frame.rename(columns={"x1": "BZh9"}).to_csv(data, index=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data,
                    features=["BZh9", "x2", "x3", "color"])
    assert res.code == 0 and "compressed" not in res.text, res.text


def test_a_long_unseen_category_is_quoted_cut_in_the_note(tmp_path, card_writer, artefacts):
    """A category of 5,000,000 characters the encoder never saw was copied whole into the note:
    5 MB in result.json, twice that in report.html, and a line that ran off the PDF's page."""
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.kinds import load_adapter

    card = load_model_card(card_writer(tmp_path / "card"))
    frame = _frame(artefacts)
    frame.loc[3, "color"] = "x" * 100_000
    frame.loc[9, "color"] = "RED" + " " * 100_000  # a near miss of 'red' (case and spaces): quoted cut too
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    model = load_adapter(card, ["x1", "x2", "x3", "color"])
    [note] = model.input_notes(load_dataset(data, card))
    assert len(note) < 600, len(note)
    assert note.startswith("column 'color': 2 of 60 rows hold a value the model's encoder never saw when fitted ('xxx")
    assert "…" in note and note.endswith("? (categories are case- and space-sensitive)"), note


def test_a_one_class_target_of_a_long_label_is_quoted_cut(cli, tmp_path, card_writer, card_only_policy, artefacts):
    frame = _frame(artefacts).assign(label="y" * 100_000)
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3 and "column 'label': only one class ('yyy" in res.text, res.text[:500]
    assert len(res.text) < 2_000, len(res.text)


def test_labels_that_differ_from_the_cards_classes_in_case_name_the_data_too(cli, tmp_path, card_writer,
                                                                             card_only_policy, artefacts):
    """An export that upper-cased the target was told only "did you mean 'YES'?" about the card's
    positive_class: changing the card as told then failed on the labels the model does not know."""
    frame = _frame(artefacts)
    frame["label"] = frame["label"].str.upper()
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data, positive_class="yes")
    assert res.code == 3, res.text
    assert ("auditor.positive_class: 'yes' is not one of the labels in the dataset: 'NO', 'YES'; did you mean 'YES'? "
            "class names are case-sensitive (or, if the model's classes are spelt as in the card, fix the spelling in "
            "the data's column 'label')") in res.text, res.text


def test_thousands_of_columns_the_card_does_not_name_are_counted_not_all_listed(cli, tmp_path, card_writer,
                                                                                card_only_policy, artefacts):
    """A feature-store export of 3,000 extra columns was one 32 KB message naming every one."""
    extra = pd.DataFrame(0, index=range(60), columns=[f"col{i}" for i in range(3000)])
    data = tmp_path / "eval.csv"
    pd.concat([_frame(artefacts).reset_index(drop=True), extra], axis=1).to_csv(data, index=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3, res.text
    assert ("columns 'col0', 'col1', 'col2', 'col3', 'col4', 'col5', 'col6', 'col7', 'col8', 'col9', 'col10', 'col11', "
            "'col12', 'col13', 'col14', 'col15', 'col16', 'col17', 'col18', 'col19' and 2,980 more: not in the card's "
            "features") in res.text, res.text[:600]
    assert "'col20'" not in res.text and len(res.text) < 2_000, len(res.text)


def test_empty_rows_a_spreadsheet_exported_are_said_to_be_empty(cli, tmp_path, card_writer, card_only_policy,
                                                                 artefacts):
    """",,,," lines under the table (a spreadsheet's formatted but empty rows) read as "target missing
    in rows 60, 61", and with missing values refused, as a missing value in every column too."""
    data = tmp_path / "eval.csv"
    data.write_bytes(_csv(_frame(artefacts)) + b",,,,\n,,,,\n")
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3, res.text
    assert (f"invalid dataset {data} (1 problem): - rows 60, 61: every field is empty (as a spreadsheet exports the "
            "empty rows under a table); delete these rows") in res.text, res.text


def test_a_column_name_in_another_unicode_form_shows_both_names_code_points(cli, tmp_path, card_writer,
                                                                             card_only_policy, artefacts):
    """A file written on macOS names 'Échéance' with decomposed accents (NFD), the card with composed
    ones (NFC): the message named 'Échéance' missing and 'Échéance' unknown, two names that look alike."""
    import unicodedata

    composed, decomposed = (unicodedata.normalize(form, "Échéance") for form in ("NFC", "NFD"))
    data = tmp_path / "eval.csv"
    _frame(artefacts).assign(**{decomposed: 1}).to_csv(data, index=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data, ignore_columns=[composed])
    assert res.code == 3, res.text
    assert (f"column '{composed}': missing (the card's auditor.ignore_columns names it; the file has "
            "'E\\u0301che\\u0301ance', the same name in other Unicode code points than the card's "
            "'\\xc9ch\\xe9ance': write both in one form (NFC))") in res.text, res.text


def test_the_target_among_the_immutable_features_is_called_the_target(cli, tmp_path, card_writer, card_only_policy,
                                                                      artefacts):
    """It read "'label' is not a feature of the model (features: …)", where sensitive_features and
    ignore_columns say "is the target"."""
    res = _validate(cli, tmp_path, card_writer, card_only_policy, artefacts.csv, immutable_features=["label"])
    assert res.code == 3, res.text
    assert "auditor.immutable_features[0]: 'label' is the target; immutable_features names features a search may " \
           "not change" in res.text, res.text
    assert "not a feature of the model" not in res.text
