"""Evaluation datasets: validated against the card before the model loads, every problem located."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.inputs.dataset import load_dataset
from auditor.errors import DatasetError
from auditor.inputs.model_card import load_model_card


def dataset_problems(path, card) -> dict[str, str]:
    with pytest.raises(DatasetError) as info:
        load_dataset(path, card)
    assert info.value.source == str(path)
    return {p.location: p.message for p in info.value.problems}


@pytest.fixture
def card(pipeline_card):
    return load_model_card(pipeline_card)


def test_valid_csv(artefacts, card):
    ds = load_dataset(artefacts.csv, card)
    assert len(ds) == 300
    assert ds.feature_names == ["x1", "x2", "x3", "color"]
    assert ds.categorical == ["color"]
    assert ds.numeric == ["x1", "x2", "x3"]
    assert list(ds.frame.columns) == ["x1", "x2", "x3", "color"]
    assert set(ds.labels) == {"yes", "no"}
    assert ds.notes == []
    assert len(ds.sha256) == 64


def _drop_x2(df):
    return df.drop(columns=["x2"])


def _add_extra(df):
    return df.assign(extra=1, other="a")


def _text_in_x1(df):
    df = df.astype({"x1": object})
    df.loc[[3, 7], "x1"] = ["abc", "n/a?"]
    return df


def _inf_in_x3(df):
    df.loc[5, "x3"] = np.inf
    df.loc[9, "x3"] = -np.inf
    return df


def _single_class(df):
    return df.assign(label="yes")


def _missing_target(df):
    df.loc[[0, 2], "label"] = np.nan
    return df


def _many_missing_x1(df):
    df.loc[list(range(10, 17)), "x1"] = np.nan
    return df


@pytest.mark.parametrize("mutate, expected", [
    (_drop_x2, {"column 'x2'": "missing (the card names it)"}),
    (_add_extra, {"columns 'extra', 'other'":
                  "not in the card's features; list them in auditor.ignore_columns to keep them"}),
    (_text_in_x1, {"column 'x1'": "expected numbers, got text in rows 3, 7"}),
    (_inf_in_x3, {"column 'x3'": "infinite values in rows 5, 9"}),
    (_single_class, {"column 'label'": "only one class ('yes'); an audit needs at least two"}),
    (_missing_target, {"column 'label'": "target missing in rows 0, 2"}),
    (_many_missing_x1, {"column 'x1'": "missing values in rows 10, 11, 12, 13, 14 and 2 more "
                        "(set auditor.missing_values: allow if the model handles them)"}),
], ids=lambda v: getattr(v, "__name__", ""))
def test_invalid_rows_and_columns(tmp_path, artefacts, card, csv_writer, mutate, expected):
    path = csv_writer(tmp_path, mutate(artefacts.frame.copy()))
    assert dataset_problems(path, card) == expected


def test_several_problems_are_listed_together(tmp_path, artefacts, card, csv_writer):
    df = _inf_in_x3(_text_in_x1(artefacts.frame.copy()))
    df.loc[4, "color"] = None
    problems = dataset_problems(csv_writer(tmp_path, df), card)
    assert problems == {
        "column 'x1'": "expected numbers, got text in rows 3, 7",
        "column 'x3'": "infinite values in rows 5, 9",
        "column 'color'": "missing values in row 4 (set auditor.missing_values: allow if the model handles them)",
    }


def test_nan_allowed_when_the_card_says_so(tmp_path, artefacts, card_writer, csv_writer):
    df = artefacts.frame.copy()
    df.loc[[1, 8], "x2"] = np.nan
    df.loc[4, "color"] = None
    path = csv_writer(tmp_path, df)
    strict = load_model_card(card_writer(tmp_path / "strict"))
    assert dataset_problems(path, strict) == {
        "column 'x2'": "missing values in rows 1, 8 (set auditor.missing_values: allow if the model handles them)",
        "column 'color'": "missing values in row 4 (set auditor.missing_values: allow if the model handles them)",
    }
    lenient = load_model_card(card_writer(tmp_path / "lenient", missing_values="allow"))
    ds = load_dataset(path, lenient)
    assert ds.notes == ["3 missing feature values, passed to the model as missing (the card allows it)"]
    assert np.isnan(ds.frame.loc[1, "x2"]) and ds.frame.loc[4, "color"] is None


def test_ignore_columns_keeps_extra_columns_out(tmp_path, artefacts, card_writer, csv_writer):
    path = csv_writer(tmp_path, artefacts.frame.assign(note="free text"))
    ds = load_dataset(path, load_model_card(card_writer(tmp_path, ignore_columns=["note"])))
    assert ds.feature_names == ["x1", "x2", "x3", "color"]


def test_an_ignored_column_the_data_lacks_is_named(tmp_path, artefacts, card_writer, csv_writer):
    """A misspelt ignore_columns entry ('notes' for 'note') passed: with the features left to the data,
    the column it meant would have been taken as a feature."""
    path = csv_writer(tmp_path, artefacts.frame.assign(note="free text"))
    card = load_model_card(card_writer(tmp_path, features=None, ignore_columns=["notes"]))
    assert dataset_problems(path, card) == {"column 'notes'": "missing (the card's auditor.ignore_columns names it)"}


def test_features_default_to_every_column_but_target(tmp_path, artefacts, card_writer):
    card = load_model_card(card_writer(tmp_path, features=None))
    ds = load_dataset(artefacts.csv, card)
    assert ds.feature_names == ["x1", "x2", "x3", "color"]
    assert ds.categorical == ["color"]  # inferred from the dtype


@pytest.mark.parametrize("content, expected", [
    (b"", {"": "the file is empty"}),
    (b"x1,x2,x3,color,label\n", {"": "the dataset has no rows"}),
])
def test_empty_files(tmp_path, card, content, expected):
    path = tmp_path / "eval.csv"
    path.write_bytes(content)
    assert dataset_problems(path, card) == expected


def test_missing_file_and_unsupported_type(tmp_path, card):
    assert dataset_problems(tmp_path / "absent.csv", card) == {"": "file not found"}
    xlsx = tmp_path / "eval.xlsx"
    xlsx.write_bytes(b"data")
    assert dataset_problems(xlsx, card) == {"": "unsupported file type '.xlsx'; use .csv, .parquet or .jsonl"}


def test_jsonl_and_parquet_load_like_csv(tmp_path, artefacts, card):
    from_csv = load_dataset(artefacts.csv, card)
    jsonl = tmp_path / "eval.jsonl"
    artefacts.frame.to_json(jsonl, orient="records", lines=True)
    parquet = tmp_path / "eval.parquet"
    artefacts.frame.to_parquet(parquet, index=False)
    for path in (jsonl, parquet):
        ds = load_dataset(path, card)
        pd.testing.assert_frame_equal(ds.frame, from_csv.frame)
        assert list(ds.labels) == list(from_csv.labels)
        assert ds.categorical == ["color"]


def test_jsonl_bad_lines_are_located(tmp_path, card):
    path = tmp_path / "eval.jsonl"
    path.write_text('{"x1": 1}\n[1, 2]\n{broken\n\n', encoding="utf-8")
    problems = dataset_problems(path, card)
    assert problems["line 2"] == "expected a JSON object"
    assert problems["line 3"].startswith("invalid JSON: ")
    assert set(problems) == {"line 2", "line 3"}


def test_labels_the_model_does_not_know(tmp_path, artefacts, pipeline_card, tiny_policy_path, csv_writer):
    df = artefacts.frame.copy()
    df.loc[[0, 1], "label"] = "maybe"
    path = csv_writer(tmp_path, df)
    with pytest.raises(DatasetError) as info:
        auditor.run_audit(tiny_policy_path, pipeline_card, path, tmp_path / "out")
    assert [(p.location, p.message) for p in info.value.problems] == [
        ("target", "labels the model does not know: 'maybe' in rows 0, 1 (model classes: no, yes)")
    ]
    assert not (tmp_path / "out").exists()  # nothing written for a rejected input


def test_a_declared_categorical_keeps_codes_as_written(tmp_path, artefacts, card_writer):
    """A category code written with a leading zero ('01') stays the text written: read as the number 1
    it is a category the model never saw (a pipeline fitted on the codes measured ROC AUC 0.81 for
    0.86), while a categorical column of numbers written as they read back stays numbers, as pandas
    reads them (a model fitted on that table knows the numbers)."""
    codes = np.array(["01", "02", "10"])[np.arange(len(artefacts.frame)) % 3]
    path = tmp_path / "eval.csv"
    artefacts.frame.assign(color=codes, grade=np.arange(len(artefacts.frame)) % 3).to_csv(path, index=False)
    card = load_model_card(card_writer(tmp_path / "card", ignore_columns=None, features=[
        "x1", "x2", "x3", {"name": "color", "type": "categorical"}, {"name": "grade", "type": "categorical"}]))
    ds = load_dataset(path, card)
    assert ds.categorical == ["color", "grade"]
    assert ds.frame["color"].tolist()[:3] == ["01", "02", "10"]
    assert ds.frame["grade"].tolist()[:3] == [0, 1, 2]
    assert ds.notes == ["column 'color' (categorical in the card): every value kept as the text written, since "
                        "'01', '02' would change as a number ('01' would read as 1)"]
    undeclared = load_dataset(path, load_model_card(card_writer(tmp_path / "plain", ignore_columns=None,
                                                                features=["x1", "x2", "x3", "color", "grade"])))
    assert undeclared.frame["color"].tolist()[:3] == [1.0, 2.0, 10.0]  # numbers, as the file's type says


def test_copied_tabular_rows_are_excluded_and_whole_number_repeats_noted(artefacts, card, tmp_path):
    """4 distinct rows copied 50 times passed every gate as 200 draws; then a note said so and every
    gate still counted 200 (a regressor's r2_ci_low passed on 5 distinct rows, where the same 5 rows
    alone are not judged). Rows that repeat fractions (0.12573) in every column and the label are
    copies, never independent draws: excluded, said, mapped to the file's rows. Rows of whole numbers
    and categories may coincide as draws: they still count, and a note gives the distinct count."""
    frame = pd.read_csv(artefacts.csv)
    copies = pd.concat([frame.iloc[[0, 1, 2, 5]]] * 50, ignore_index=True)
    copies.to_csv(tmp_path / "eval.csv", index=False)
    ds = load_dataset(tmp_path / "eval.csv", card)
    assert len(ds) == 4 and ds.source_rows.tolist() == [0, 1, 2, 3]
    assert ds.frame.to_numpy().tolist() == frame.iloc[[0, 1, 2, 5]][ds.feature_names].to_numpy().tolist()
    x1 = frame["x1"].iloc[0]
    assert ds.notes == [f"196 of 200 rows repeat an earlier row's features and label, fractions included (e.g. {x1:g} "
                        "in 'x1' of file row 4), which independent draws cannot share: copies (a join or an export that "
                        "repeated rows), excluded: file rows 4, 5, 6, 7, 8 and 191 more; every figure rests on the 4 "
                        "distinct rows, whose numbers in this audit are positions among them, "
                        "evidence/dataset-sample.csv gives each one's row in the file"]
    whole = copies.assign(**{c: copies[c].round() for c in ("x1", "x2", "x3")})
    whole.to_csv(tmp_path / "whole.csv", index=False)
    ds = load_dataset(tmp_path / "whole.csv", card)
    assert len(ds) == 200 and ds.source_rows is None
    assert any(n.startswith("196 of 200 rows repeat an earlier row's features and label (4 distinct)") for n in ds.notes)
    assert load_dataset(artefacts.csv, card).notes == []
