"""Broken datasets: exit 3 with every problem located (column, row, line, byte); large files sampled
as the policy says and over-long texts truncated, both reported in result.json and the report."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from auditor.inputs.dataset import load_dataset
from auditor.errors import DatasetError
from auditor.inputs.model_card import load_model_card

from .conftest import CARD_ONLY, FAST_CHECKS, only_version, read_result


def _mutate(name):
    def drop_x2(df):
        return df.drop(columns=["x2"])

    def extra_columns(df):
        return df.assign(extra=1, other="a")

    def text_in_numbers(df):
        df["x1"] = df["x1"].astype(object)
        df.loc[[3, 7], "x1"] = "twelve"
        return df

    def nan_values(df):
        df.loc[[1, 8], "x2"] = np.nan
        df.loc[4, "color"] = None
        return df

    def infinities(df):
        df.loc[5, "x3"] = np.inf
        df.loc[9, "x3"] = -np.inf
        return df

    def single_class(df):
        return df.assign(label="yes")

    def missing_target(df):
        df.loc[[0, 2], "label"] = np.nan
        return df

    return locals()[name]


FRAME_CASES = {
    "drop_x2": ["column 'x2': missing (the card names it)"],
    "extra_columns": ["columns 'extra', 'other': not in the card's features; list them in auditor.ignore_columns to keep them"],
    "text_in_numbers": ["column 'x1': expected numbers, got text in rows 3, 7"],
    "nan_values": ["column 'x2': missing values in rows 1, 8 (set auditor.missing_values: allow if the model handles them)",
                   "column 'color': missing values in row 4"],
    "infinities": ["column 'x3': infinite values in rows 5, 9"],
    "single_class": ["column 'label': only one class ('yes'); an audit needs at least two"],
    "missing_target": ["column 'label': target missing in rows 0, 2"],
}


@pytest.mark.parametrize("name", list(FRAME_CASES))
def test_invalid_rows_and_columns_exit_3(cli, tmp_path, artefacts, card_writer, csv_writer, fast_policy, name):
    data = csv_writer(tmp_path, _mutate(name)(artefacts.frame.copy()))
    result = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert result.code == 3, result.raw
    assert f"invalid input: invalid dataset {data} (" in result.text
    for fragment in FRAME_CASES[name]:
        assert fragment in result.text, (fragment, result.raw)


HEADER = b"x1,x2,x3,color,label\n"
RAW_CASES = {
    "empty.csv": (b"", "the file is empty"),
    "header-only.csv": (HEADER, "the dataset has no rows"),
    "blank-lines.csv": (b"\n\n\n", "cannot parse the file: No columns to parse from file"),
    "non-utf8.csv": (HEADER + "1,1,1,rouge\xe9,yes\n".encode("latin-1"), "line 2, column 12 (byte 32): file is not valid UTF-8"),
    "binary.csv": (bytes(range(256)) * 4, "line 2, column 118 (byte 128): file is not valid UTF-8"),
    "long-row.csv": (HEADER + b"1,1,1,red,yes\n1,2,3,red,yes,extra,more\n", "line 3: 7 fields; the header has 5"),
    "duplicate-columns.csv": (b"x1,x1,x2,x3,color,label\n1,1,1,1,red,yes\n",
                              "header, column 2: duplicate column name 'x1' (also column 1)"),
    "bad.jsonl": (b'{"x1": 1}\nnot json\n[1, 2]\n', "line 2: invalid JSON: Expecting value"),
    "non-utf8.jsonl": (b'{"x1": 1}\n{"color": "caf\xe9"}\n', "line 2, column 15 (byte 24): file is not valid UTF-8"),
    # an escaped half of a UTF-16 pair: read, then "cannot parse the file: 'utf-8' codec can't encode" without its line
    "lone-surrogate.jsonl": (b'{"x1": 1}\n{"color": "red \\ud800"}\n{"color": "\\ud83d\\ude00"}\n',
                             "line 2: invalid JSON: a \\uD800-\\uDFFF escape without its pair is half a character"),
    # a CSV saved as .jsonl: every line was listed (20,001 problems for a 20,000-row file)
    "csv-as-jsonl.jsonl": (b"x1,label\n" + b"1,yes\n" * 40,
                           "line 5: invalid JSON: Extra data - ... and 36 more lines with problems (a JSONL file holds"),
    "corrupt.parquet": (b"not a parquet file", "cannot parse the file: "),
    "sheet.xlsx": (b"PK\x03\x04", "unsupported file type '.xlsx'; use .csv, .parquet or .jsonl"),
}


@pytest.mark.parametrize("filename", list(RAW_CASES))
def test_unreadable_files_exit_3(cli, tmp_path, card_writer, fast_policy, filename):
    content, expected = RAW_CASES[filename]
    data = tmp_path / filename
    data.write_bytes(content)
    result = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert result.code == 3, result.raw
    assert f"invalid dataset {data} (" in result.text
    assert expected in result.text, result.raw


def test_jsonl_line_that_is_not_an_object(cli, tmp_path, card_writer, fast_policy):
    data = tmp_path / "rows.jsonl"
    data.write_bytes(b'{"x1": 1}\n[1, 2]\n')
    result = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert result.code == 3
    assert "line 2: expected a JSON object" in result.text


def test_a_jsonl_categorical_mixing_text_and_numbers_names_the_odd_rows(cli, tmp_path, artefacts, card_writer,
                                                                        fast_policy):
    """JSON has no column types: a colour written 5 in one row and "red" in others reaches the
    model as two kinds of category (and 5 would be an unknown one). Exit 3, the few rows named."""
    frame = artefacts.frame.copy()
    frame["color"] = frame["color"].astype(object)
    frame.loc[[2, 6], "color"] = 5
    frame.loc[9, "color"] = True
    data = tmp_path / "rows.jsonl"
    frame.to_json(data, orient="records", lines=True)
    result = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert result.code == 3, result.raw
    assert ("column 'color': a categorical column mixing text and other values: numbers or booleans in rows 2, 6, 9, "
            f"text in the other {len(frame) - 3} rows with a value") in result.text, result.raw


def test_a_csv_reads_only_an_empty_cell_as_missing_but_na_still_means_missing_among_numbers(tmp_path, artefacts,
                                                                                             card_writer):
    """pandas reads "NA", "None", "null" … as missing: a colour "NA" (a category) was imputed and a
    label "None" reported as a missing target. Only an empty cell is missing in a CSV now, and a note
    names the text cells; in a column of numbers (R writes NA) the words still mean missing."""
    frame = artefacts.frame.copy().astype({"x1": object, "color": object})
    frame.loc[[1, 4], "color"] = "NA"
    frame.loc[[2], "x1"] = "NA"
    frame.loc[[3], "x2"] = np.nan  # an empty cell
    frame["region"] = ["NA", "EU"] * (len(frame) // 2) + ["EU"] * (len(frame) % 2)  # ignored: no note
    path = tmp_path / "eval.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(path, load_model_card(card_writer(tmp_path / "card", missing_values="allow",
                                                        ignore_columns=["region"])))
    assert not any("'region'" in note for note in ds.notes)
    assert ds.frame["color"].tolist()[1] == "NA" and ds.frame["color"].tolist()[4] == "NA"
    assert np.isnan(ds.frame["x1"].iloc[2]) and ds.frame["x1"].dtype == float and np.isnan(ds.frame["x2"].iloc[3])
    assert ("column 'color': 'NA' in rows 1, 4 read as the text written, not as a missing value (in a CSV only an "
            "empty cell is missing)") in ds.notes
    assert "2 missing feature values, passed to the model as missing (the card allows it)" in ds.notes


def test_a_label_none_in_a_csv_is_a_label(tmp_path, artefacts, card_writer):
    frame = artefacts.frame.copy()
    frame["label"] = frame["label"].replace({"no": "None"})
    path = tmp_path / "eval.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(path, load_model_card(card_writer(tmp_path / "card", positive_class="yes")))
    assert sorted(set(ds.labels)) == ["None", "yes"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_an_integer_beyond_64_bits_leaves_a_number_column_numeric(tmp_path, artefacts, card_writer, suffix):
    """pandas leaves such a column untyped; it was taken for a categorical one (subgroup_fairness made a
    group of every value). Read as numbers; one beyond float's range is an infinite value, named."""
    frame = artefacts.frame.copy().astype({"x1": object})
    frame.loc[5, "x1"] = 10 ** 30
    path = tmp_path / f"eval{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records")))
    card = load_model_card(card_writer(tmp_path / "card"))
    ds = load_dataset(path, card)
    assert "x1" not in ds.categorical and ds.frame["x1"].iloc[5] == 1e30
    frame.loc[5, "x1"] = 10 ** 400
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records")))
    with pytest.raises(DatasetError, match="column 'x1': infinite values in row 5"):
        load_dataset(path, card)


def test_a_csv_review_of_digits_or_na_is_a_text_and_a_long_one_is_read(cli, tmp_path, text_inputs):
    """A text column is read as text: "NA" and "2024" are reviews (they were refused as non-text);
    a review longer than the csv module's 131,072-character field limit is read (JSONL's was)."""
    import csv as csv_module

    data = tmp_path / "eval.csv"
    rows = [("the film was good", "positive"), ("NA", "negative"), ("2024", "positive"),
            ("bad " * 40_000, "negative")]
    with data.open("w", newline="", encoding="utf-8") as fh:
        csv_module.writer(fh).writerows([("text", "label"), *rows])
    result = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert result.code == 0, result.raw
    assert "(4 rows, text column 'text')" in result.text  # it read "1 features"


def test_a_csv_with_a_long_row_and_a_bad_byte_names_both(cli, tmp_path, artefacts, card_writer, fast_policy):
    """The line count after pandas' parser error re-read the file and met the byte: exit 5."""
    lines = artefacts.csv.read_bytes().splitlines()
    lines = lines[:1] + lines[1:] * (20_000 // len(lines))  # the bad byte beyond pandas' first chunk
    lines[3] += b",1,2"
    lines[-2] += b"\xe9"
    data = tmp_path / "eval.csv"
    data.write_bytes(b"\n".join(lines) + b"\n")
    result = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert result.code == 3, result.raw
    assert "line 4: " in result.text and "file is not valid UTF-8" in result.text


@pytest.mark.parametrize("declared", [False, True])
def test_a_jsonl_number_column_holding_true_or_false_names_the_rows(cli, tmp_path, artefacts, card_writer, fast_policy,
                                                                      declared):
    """JSON's true is not the number 1: a numeric feature written true in two rows is refused with
    the rows named, whether or not the card declares the column numeric."""
    frame = artefacts.frame.copy()
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[[3, 7], "x1"] = [True, False]
    data = tmp_path / "rows.jsonl"
    frame.to_json(data, orient="records", lines=True)
    features = [{"name": c, "type": "categorical" if c == "color" else "numeric"} for c in ("x1", "x2", "x3", "color")]
    card = card_writer(tmp_path / "card", **({"features": features} if declared else {}))
    result = cli("validate", "--policy", fast_policy, "--card", card, "--data", data)
    assert result.code == 3, result.raw
    assert "column 'x1': numbers, but true/false in rows 3, 7" in result.text, result.raw


def test_missing_dataset_file(cli, tmp_path, card_writer, fast_policy):
    data = tmp_path / "nope.csv"
    result = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert result.code == 3
    assert f"invalid dataset {data} (1 problem): - file not found" in result.text


def test_labels_the_model_does_not_know(cli, tmp_path, artefacts, card_writer, csv_writer, fast_policy):
    frame = artefacts.frame.copy()
    frame.loc[[0, 5], "label"] = "maybe"
    out = tmp_path / "out"
    result = cli.run(fast_policy, card_writer(tmp_path / "card"), csv_writer(tmp_path, frame), out)
    assert result.code == 3, result.raw
    assert "target: labels the model does not know: 'maybe' in rows 0, 5 (model classes: no, yes)" in result.text
    assert not (out / "tiny-model").exists()


def test_text_in_a_column_the_model_reads_as_numbers_is_an_invalid_dataset(cli, tmp_path, artefacts, card_writer,
                                                                         csv_writer, fast_policy):
    """A card that names its features without types: "12y" in every row of x1 reads as a categorical
    column and passes validation; the model cannot score it. Before, every check that scores ended
    in ERROR with the model's own message; now exit 3 names the column, and nothing is written."""
    frame = artefacts.frame.copy()
    frame["x1"] = [f"{v:.0f}y" for v in frame["x1"]]
    card = card_writer(tmp_path / "card", features=["x1", "x2", "x3", "color"])
    out = tmp_path / "out"
    result = cli.run(fast_policy, card, csv_writer(tmp_path, frame), out)
    assert result.code == 3, result.raw
    assert "the model cannot score the evaluation rows" in result.text
    assert "column 'x1': holds text (e.g. '" in result.text and "column 'color'" not in result.text
    assert not (out / "tiny-model").exists()


def test_file_over_the_size_limit_is_refused_unread(cli, tmp_path, artefacts, card_writer, fast_policy, monkeypatch):
    import auditor.inputs.table_file

    monkeypatch.setattr(auditor.inputs.table_file, "MAX_DATASET_BYTES", 1000)
    size = artefacts.csv.stat().st_size
    result = cli("validate", "--policy", fast_policy, "--card", card_writer(tmp_path / "card"), "--data", artefacts.csv)
    assert result.code == 3
    assert f"file is {size:,} bytes; the limit is 1,000" in result.text


def test_large_dataset_is_sampled_as_the_policy_says(cli, tmp_path, artefacts, card_writer, csv_writer, policy_writer,
                                                     stub_pdf):
    big = csv_writer(tmp_path, pd.concat([artefacts.frame] * 10, ignore_index=True), "big.csv")
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CARD_ONLY, dataset={"max_rows": 250}))
    card = card_writer(tmp_path / "card")
    out = tmp_path / "out"
    result = cli.run(policy, card, big, out)
    assert result.code == 0, result.raw
    run_dir = only_version(out)
    dataset = read_result(run_dir)["dataset"]
    assert dataset["rows"] == 250
    note = ("sampled 250 of the 300 kept rows uniformly at random without replacement (policy dataset.max_rows, seed "
            "7); row numbers in this audit are positions in the sample, evidence/dataset-sample.csv gives each one's "
            "row in the file; the notes before this one count the file's 3,000 rows")
    # the file is one frame 10 times: its rows hold fractions, so the repeats are copies, excluded before the sample
    assert dataset["notes"][1:] == [note] and dataset["notes"][0].startswith(
        "2,700 of 3,000 rows repeat an earlier row's features and label, fractions included")
    rows = list(csv.DictReader(io.StringIO((run_dir / "evidence" / "dataset-sample.csv").read_text())))
    file_rows = [int(r["file_row"]) for r in rows]
    assert [int(r["row"]) for r in rows] == list(range(250))
    assert file_rows == sorted(set(file_rows)) and 0 <= file_rows[0] and file_rows[-1] < 3000
    assert "sampled 250 of the 300 kept rows" in (run_dir / "report.html").read_text(encoding="utf-8")
    # the same seed draws the same sample, another seed another one; every row was validated first
    loaded = load_model_card(card)
    same = load_dataset(big, loaded, max_rows=250, seed=7)
    assert same.source_rows.tolist() == file_rows
    assert load_dataset(big, loaded, max_rows=250, seed=8).source_rows.tolist() != file_rows
    frame = pd.read_csv(big)
    frame.loc[2999, "x1"] = np.inf
    bad = csv_writer(tmp_path, frame, "bad.csv")
    with pytest.raises(DatasetError, match="infinite values in row 2999"):
        load_dataset(bad, loaded, max_rows=250, seed=7)
    # a label the model does not know is named wherever it is, not only inside the sample (by the seed,
    # a misspelt label outside the sample had passed)
    from auditor.engine.audit import check_labels

    frame = pd.read_csv(big)
    frame.loc[[2, 1500, 2999], "label"] = "Yes"
    mislabelled = csv_writer(tmp_path, frame, "mislabelled.csv")
    for seed in range(4):
        sample = load_dataset(mislabelled, loaded, max_rows=250, seed=seed)
        with pytest.raises(DatasetError, match="labels the model does not know: 'Yes' in rows 2, 1500, 2999") as err:
            check_labels(sample, ["no", "yes"])
    assert "'Yes' for 'yes'? (class names are case- and space-sensitive)" in str(err.value)  # the near miss named


def test_sample_size_is_validated(cli, tmp_path, policy_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAST_CHECKS, dataset={"max_rows": 1}))
    result = cli("validate", "--policy", policy)
    assert result.code == 3
    assert "dataset.max_rows: Input should be greater than or equal to 2" in result.text


# --- text datasets ----------------------------------------------------------------------------------

def test_non_text_values_in_the_text_column(cli, tmp_path, text_inputs):
    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "the movie was good", "label": "positive"}\n{"text": 42, "label": "negative"}\n'
                    '{"text": null, "label": "negative"}\n', encoding="utf-8")
    result = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert result.code == 3, result.raw
    assert "column 'text': expected text, got missing or non-text values in rows 1, 2" in result.text


def test_validate_names_labels_a_text_model_does_not_know_without_loading_it(cli, tmp_path, text_inputs):
    """A transformers classifier's classes are in its config.json: validate reads them there (the
    model is not loaded) and names the rows holding other labels, as run does."""
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["good film", "bad film", "odd film", "fine film"],
                                   ["positive", "negative", "neutral", "positive"])
    result = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert result.code == 3, result.raw
    assert "labels the model does not know: 'neutral' in row 2 (model classes: negative, positive)" in result.text


def test_classes_without_loading_reads_only_plain_id2label(tmp_path, text_inputs):
    import shutil

    from auditor.models.kinds import classes_without_loading

    from types import SimpleNamespace

    card = load_model_card(text_inputs.card)
    assert classes_without_loading(card) == ["negative", "positive"]
    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    card = SimpleNamespace(auditor=card.auditor, model_path=model)
    config = json.loads((model / "config.json").read_text())
    for id2label in ({"1": "positive"}, ["negative", "positive"], None):
        config["id2label"] = id2label
        (model / "config.json").write_text(json.dumps(config))
        assert classes_without_loading(card) is None  # the load refuses or defaults them, and says so
    (model / "config.json").write_text("{not json")
    assert classes_without_loading(card) is None
    prompted = SimpleNamespace(model=SimpleNamespace(head="causal-lm"), task="text-classification",
                               label_words={"negative": " bad", "positive": " good"})
    assert classes_without_loading(SimpleNamespace(auditor=prompted, model_path=model)) == ["negative", "positive"]


def test_non_utf8_text(cli, tmp_path, text_inputs):
    data = tmp_path / "eval.jsonl"
    data.write_bytes(b'{"text": "good", "label": "positive"}\n{"text": "tr\xe8s bad", "label": "negative"}\n')
    result = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert result.code == 3
    assert "line 2, column 13 (byte 50): file is not valid UTF-8" in result.text


def test_over_long_texts_are_truncated_and_reported(cli, tmp_path, text_inputs, stub_pdf):
    """The tiny BERT has 64 positions: longer texts used to crash every check (index error in the
    position embeddings); they are now cut at the model's limit, and the cut rows are named."""
    rng = np.random.default_rng(0)
    long_text = " ".join(["the movie was quite good and"] * 20)  # ~120 tokens
    texts, labels = [], []
    for i in range(16):
        word = ["good", "bad"][i % 2]
        texts.append(long_text if i in (3, 8, 13) else f"the {word} film was {rng.choice(['very', 'quite'])} {word}")
        labels.append("positive" if word == "good" else "negative")
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", texts, labels)
    out = tmp_path / "out"
    result = cli.run(text_inputs.policy, text_inputs.card, data, out)
    assert result.code in (0, 1), result.raw
    run_dir = only_version(out, "tiny-bert")
    res = read_result(run_dir)
    assert res["dataset"]["notes"][-1] == (
        "3 of 16 texts are longer than the model's limit of 64 tokens and were truncated to it (rows 3, 8, 13); "
        "the audit judges only the kept part, the text's start")
    assert res["dataset"]["notes"][0].startswith("11 of 16 texts repeat an earlier one (5 distinct)")  # few words
    statuses = {c["id"]: c["status"] for c in res["checks"]}
    assert statuses["performance"] != "error", res["checks"][0]["error"]
    assert "3 of 16 texts are longer than the model" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_an_unknown_label_in_a_sampled_dataset_is_named_by_its_row_in_the_file(cli, tmp_path, artefacts, card_writer,
                                                                              csv_writer, policy_writer):
    """The file's last 1,000 of 3,000 rows hold a label the model does not know; the policy samples
    1,500 rows (seeded, about 500 of them odd, at sample positions near 1,000-1,500): all 1,000 are
    named, by their rows in the file (2,000 or later), not by their positions in the sample. (The
    file's copies are now excluded first, leaving 600 rows, so the rows named are positions 300-599
    among the kept rows, named by their file rows.)"""
    import re

    frame = pd.concat([artefacts.frame] * 10, ignore_index=True)
    frame.loc[2_000:, "label"] = "maybe"
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(CARD_ONLY, dataset={"max_rows": 1_500}))
    result = cli.run(policy, card_writer(tmp_path / "card"), csv_writer(tmp_path, frame), tmp_path / "out")
    assert result.code == 3, result.raw
    named = re.search(r"'maybe' in rows ([\d, ]+) and (\d+) more \(model classes: no, yes\)", result.text)
    assert named, result.text
    rows = [int(r) for r in named.group(1).split(", ")]
    # the file is the fixture 10 times: its rows with fractions repeat as copies, excluded before the sample, so
    # the 300 distinct rows that hold 'maybe' are named (the other 700 repeat them)
    assert rows == [2_000, 2_001, 2_002, 2_003, 2_004] and len(rows) + int(named.group(2)) == 300


def test_copied_rows_are_not_independent_draws(cli, tmp_path, text_inputs, policy_writer, stub_pdf):
    """Two reviews, one per class, each copied 20 times passed roc_auc_ci_low ≥ 0.7 and accuracy_ci_low
    ≥ 0.9 (lower ends 0.83 and 0.91 over '40 rows'). The ceilings count each distinct input once:
    2 rows support at most 0.025 and 0.158, so the gates cannot be judged; a note names the copies."""
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["a good film", "a bad film"] * 20,
                                   ["positive", "negative"] * 20)
    gates = [{"measurement": "roc_auc_ci_low", "min": 0.7}, {"measurement": "accuracy_ci_low", "min": 0.9}]
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(
        [{"check": "performance", "params": {"n_bootstrap": 50}, "thresholds": gates}]))
    res = cli.run(policy, text_inputs.card, data, tmp_path / "out")
    assert res.code == 1, res.text
    result = read_result(only_version(tmp_path / "out", "tiny-bert"))
    check = result["checks"][0]
    assert check["status"] == "error" and check["error"]["type"] == "SampleTooSmall"
    if check["measurements"]["roc_auc"] == 1.0:  # the tiny model separates the two texts
        assert check["measurements"]["roc_auc_ci_low"] == pytest.approx(0.025)
    assert "38 of 40 texts repeat an earlier one (2 distinct)" in result["dataset"]["notes"][0]


def test_distinct_rows_per_class_count_copies_once():
    from types import SimpleNamespace

    from auditor.checks.performance import distinct_per_class
    from auditor.engine.context import AuditContext
    from auditor.models.base import Capability

    frame = pd.DataFrame({"x": ["1", "1.0", "1", "2", "2", "3"]})
    truth = np.array([0, 0, 0, 0, 1, 1])

    def context(tokens: bool) -> SimpleNamespace:
        # a tokenizer that reads "1" and "1.0" alike (as an uncased one reads "Good" and "good")
        read = lambda texts: [SimpleNamespace(ids=np.array([int(float(t))])) for t in texts]  # noqa: E731
        ctx = SimpleNamespace(data=SimpleNamespace(frame=frame, labels=np.array(["a", "b"])[truth],
                                                   texts=lambda: frame["x"].astype(str).tolist()),
                              model=SimpleNamespace(has=lambda c: tokens and c is Capability.TOKENS, encode=read))
        ctx.first_copies = lambda: AuditContext.first_copies(ctx)
        ctx._model_inputs = lambda: AuditContext._model_inputs(ctx)
        return ctx

    # class 0: x=1 (three copies), x=2; class 1: x=2 (same input, other class: a draw of its own), x=3
    assert context(True).first_copies().tolist() == [True, False, False, True, True, True]
    assert distinct_per_class(context(True), truth, 2).tolist() == [2, 2]
    # tabular rows of a few discrete features coincide as independent draws: counted as they are
    assert distinct_per_class(context(False), truth, 2).tolist() == [4, 2]


def test_durations_in_a_column_the_model_reads_as_numbers_are_named_durations(cli, tmp_path, artefacts, card_writer,
                                                                             fast_policy):
    """A Parquet duration column the model cannot score was described as holding dates."""
    import pandas as pd

    frame = artefacts.frame.copy()
    frame["x1"] = pd.to_timedelta(frame["x1"].abs().round(), unit="D")
    data = tmp_path / "eval.parquet"
    frame.to_parquet(data)
    card = card_writer(tmp_path / "card", features=["x1", "x2", "x3", "color"])
    out = tmp_path / "out"
    result = cli.run(fast_policy, card, data, out)
    assert result.code == 3, result.raw
    assert "column 'x1': holds durations (e.g. '" in result.text, result.text
    assert not (out / "tiny-model").exists()


def test_validate_refuses_an_id2label_naming_a_class_twice_as_run_does(cli, tmp_path, text_inputs):
    """validate read the classes from config.json and said the card valid; run refused the model (exit 4)."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(text_inputs.model, model)
    config = json.loads((model / "config.json").read_text())
    config.update(id2label={"0": "positive", "1": "positive"}, label2id={"positive": 1})
    (model / "config.json").write_text(json.dumps(config))
    card = tmp_path / "README.md"
    card.write_text(text_inputs.card.read_text(encoding="utf-8").replace(str(text_inputs.model), str(model)),
                    encoding="utf-8")
    assert str(model) in card.read_text(encoding="utf-8")
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["good film", "bad film"], ["positive", "negative"])
    said = "id2label names a class twice (['positive', 'positive']); class names must be distinct"
    res = cli("validate", "--policy", text_inputs.policy, "--card", card, "--data", data)
    assert res.code == 4 and said in res.text, res.text
