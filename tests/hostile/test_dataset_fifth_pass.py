"""Evaluation sets a fifth hunt fed in: files of another format named .csv, header oddities, and
messages that named the wrong thing (the card for the data's labels, the rows for one positive)."""

from __future__ import annotations

import io

import pandas as pd
import pytest


def _frame(artefacts) -> pd.DataFrame:
    return artefacts.frame.head(60).copy()


def _validate(cli, tmp_path, card_writer, policy, data, **card):
    return cli("validate", "--policy", policy, "--card", card_writer(tmp_path / "card", **card), "--data", data)


# --- item 1: a file of another format named .csv -------------------------------------------------------

def _parquet(frame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _zip(frame) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("sheet.csv", frame.to_csv(index=False))
    return buf.getvalue()


@pytest.mark.parametrize("write, said", [
    (_parquet, "the file is Parquet (it starts with 'PAR1'), not .csv; name it .parquet"),
    (_zip, "the file is a zip archive (an Excel .xlsx workbook is one); save the sheet as CSV (UTF-8), or unzip it"),
    (lambda f: f.to_csv(index=False).encode("utf-16"), "the file is UTF-16 text (it starts with a UTF-16 byte-order "
                                                       "mark); save it as UTF-8"),
    (lambda f: f.to_csv(index=False).encode("utf-16-be").join([b"\xfe\xff", b""]), "the file is UTF-16 text"),
    (lambda f: f.to_json(orient="records", lines=True).encode(), "the first line is a JSON object, not a CSV header: "
                                                                 "the file seems to be JSONL; name it .jsonl"),
])
def test_a_file_of_another_format_named_csv_says_what_it_looks_like(cli, tmp_path, card_writer, card_only_policy,
                                                                   artefacts, write, said):
    """They said "line 1, column 44 (byte 43): file is not valid UTF-8" (Parquet, zip, UTF-16), or
    listed every card column as missing and the JSON keys as unknown columns (JSONL)."""
    data = tmp_path / "eval.csv"
    data.write_bytes(write(_frame(artefacts)))
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3 and f"invalid dataset {data} (1 problem): - {said}" in res.text, res.text


# --- item 2: header oddities -----------------------------------------------------------------------------

def test_a_header_run_on_by_a_stray_quote_is_said_and_its_problems_capped(cli, tmp_path, card_writer, card_only_policy,
                                                                         artefacts):
    """Each line's quotes off by one field: the header's quoted field ran over the whole file, and
    2,114 duplicate-name problems were printed, uncapped."""
    lines = _frame(artefacts).to_csv(index=False, quoting=1).splitlines()
    data = tmp_path / "eval.csv"
    data.write_text("".join(line[1:] + '"\n' for line in lines), encoding="utf-8")
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    n = len(lines)
    assert res.code == 3, res.text
    assert f"- header: a quoted field runs from line 1 to line {n} (the end of the file): an unclosed or stray quote?" \
        in res.text, res.text
    assert res.text.count("duplicate column name") + res.text.count("has no name") == 5, res.text
    assert "more header columns without a name or named twice" in res.text and "looks like data" not in res.text


def test_a_header_whose_quote_never_closes_is_said(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """It was pandas' "Error tokenizing data. C error: EOF inside string starting at row 0"."""
    data = tmp_path / "eval.csv"
    data.write_text('"' + _frame(artefacts).to_csv(index=False), encoding="utf-8")
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3 and "- header: a quoted field runs from line 1 to line 61 (the end of the file)" in res.text, res.text


@pytest.mark.parametrize("line", ["sep=,", "SEP=;"])
def test_excels_separator_line_is_named(cli, tmp_path, card_writer, card_only_policy, artefacts, line):
    """It was "header, column 2: the column has no name"."""
    data = tmp_path / "eval.csv"
    data.write_text(f"{line}\n" + _frame(artefacts).to_csv(index=False), encoding="utf-8")
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3 and (f"(1 problem): - line 1: '{line}' is Excel's separator line, not the header: remove that "
                              "line, so that the column names come first") in res.text, res.text


def test_a_csv_without_its_header_says_the_first_line_is_data(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """It was "header, column 3: duplicate column name '0.5' ..." or every card column missing."""
    frame = _frame(artefacts)
    frame.loc[0, ["x1", "x2"]] = 0.5
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False, header=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3 and "- header: line 1 looks like data, not column names (3 of its 5 fields are numbers: " \
                             "'0.5', '0.5'" in res.text and "add a first line that names the columns" in res.text, res.text
    assert "duplicate column name '0.5' (also column 1)" in res.text
    numbers = frame[["x1", "x2", "x3"]].iloc[1:]
    numbers.to_csv(data, index=False, header=False)  # no other header problem: every name a number
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3 and "column 'x1': missing (the card names it)" in res.text
    assert "- header: line 1 looks like data, not column names (3 of its 3 fields are numbers" in res.text, res.text


def test_a_header_with_a_line_break_in_a_quoted_name_still_reads(cli, tmp_path, card_writer, card_only_policy, artefacts):
    frame = _frame(artefacts).rename(columns={"x3": "x3\n(units)"})
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert "column 'x3': missing (the card names it)" in res.text and "quoted field" not in res.text, res.text


# --- item 3: a column the model cannot read -------------------------------------------------------------

def test_a_column_of_thousands_separated_numbers_is_named_first_with_an_example_it_cannot_read(
        cli, tmp_path, artefacts, card_writer, csv_writer, fast_policy):
    """The example was the column's first value ('950', a good number), and the first line listed
    the failing row's first 12 values, cutting off exactly the culprit ("... and 1 more features")."""
    frame = artefacts.frame.copy()
    frame["x1"] = [f"{abs(v) * 2000:,.0f}" for v in frame["x1"]]
    frame.loc[0, "x1"], frame.loc[1, "x1"] = "950", "3,106"
    card = card_writer(tmp_path / "card", features=["x1", "x2", "x3", "color"])
    res = cli.run(fast_policy, card, csv_writer(tmp_path, frame), tmp_path / "out")
    assert res.code == 3, res.text
    assert "- the model cannot score the evaluation rows because of column 'x1' (performance: Pipeline.predict_proba " \
           "raises ValueError: " in res.text, res.text
    assert "column 'x1': holds text (e.g. '3,106') the model cannot read" in res.text, res.text


# --- item 4: a target written otherwise than the card's classes ----------------------------------------

def test_a_target_written_0_1_names_the_data_file_and_target_column(cli, tmp_path, card_writer, card_only_policy,
                                                                   artefacts):
    """Only the card was blamed ("auditor.positive_class: 'yes' is not one of the labels in the
    dataset: '0', '1'"), though the data's target column may be what is written otherwise."""
    frame = _frame(artefacts)
    frame["label"] = (frame["label"] == "yes").astype(int)
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    card = card_writer(tmp_path / "card")
    said = (f"- dataset {data}, column 'label': the data's labels ('0', '1') match none of the card's classes ('yes'): "
            "write the target with the card's class names, or name in the card the classes the data uses")
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", data)
    assert res.code == 3 and said in res.text, res.text
    assert "auditor.positive_class: 'yes' is not one of the labels in the dataset: '0', '1'" in res.text
    res = cli.run(card_only_policy, card, data, tmp_path / "out")
    assert res.code == 3 and said in res.text, res.text
    frame["label"] = _frame(artefacts)["label"].str.upper()  # a near miss: the card's class, in another case
    frame.to_csv(data, index=False)
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", data)
    assert res.code == 3 and "did you mean 'YES'?" in res.text and "match none" not in res.text, res.text


# --- item 5: an empty text cell in a CSV -----------------------------------------------------------------

def test_an_empty_text_cell_in_a_csv_is_excluded_like_a_blank_text(cli, tmp_path, text_inputs):
    """An empty review cell refused the whole file ("expected text, got missing or non-text values
    in row 3") while a review of spaces was excluded and listed in a note."""
    data = tmp_path / "eval.csv"
    pd.DataFrame({"text": ["the movie was good", "the plot was bad", "   ", None, "a very good film", "awful"],
                  "label": ["positive", "negative", "positive", "negative", "positive", "negative"]}).to_csv(data, index=False)
    assert data.read_text().splitlines()[4] == ",negative"
    res = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert res.code == 0, res.text
    assert "2 empty texts (nothing to explain: only spaces or invisible characters) excluded: file rows 2, 3;" in res.text


# --- item 6: a gate one positive cannot reach ------------------------------------------------------------

def test_a_gate_one_positive_cannot_reach_names_the_positives_not_the_rows(tmp_path, artefacts, card_writer,
                                                                          policy_writer, csv_writer):
    """"SampleTooSmall ... with n = 60 the confidence interval's lower end can be at most 0.025"
    blamed the row count; the limit comes from the single positive."""
    import json

    import auditor

    frame = artefacts.frame
    picked = frame[frame["label"] == "no"].head(59).index.tolist() + frame[frame["label"] == "yes"].head(1).index.tolist()
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([
        {"check": "performance", "params": {"n_bootstrap": 50},
         "thresholds": [{"measurement": "roc_auc_ci_low", "min": 0.7, "severity": "fail"}]}]))
    record = auditor.run_audit(policy, card_writer(tmp_path / "card"), csv_writer(tmp_path, frame.loc[sorted(picked)]),
                               tmp_path / "out")
    perf = json.loads((record.path / "result.json").read_text())["checks"][0]
    assert perf["status"] == "error" and perf["error"]["type"] == "SampleTooSmall", perf["error"]
    assert ("with 1 disjoint positive-negative pair (1 positive, 59 negatives; 60 rows) the confidence interval's "
            "lower end can be at most 0.025") in perf["error"]["message"], perf["error"]["message"]
    # the executive summary's row says so in words, as the check's box does: it read "SampleTooSmall: ..."
    html = (record.path / "report.html").read_text()
    assert "Not judged on this data: the sample cannot reach the policy&#39;s bounds: " in html
    assert "SampleTooSmall" not in html


# --- a very long column name ---------------------------------------------------------------------------

def test_a_very_long_column_name_is_cut_in_every_problem_that_names_it(cli, tmp_path, artefacts, card_writer, csv_writer,
                                                                       card_only_policy):
    """A 10,000-character header was copied whole into each problem naming its column (the message ran to pages);
    it is cut as a cell's value is, to its first 60 characters and "…"."""
    long = "x" * 10_000
    frame = _frame(artefacts).rename(columns={"x3": long})
    frame[long] = frame[long].astype(float)
    frame.loc[1, long] = float("inf")
    card = card_writer(tmp_path / "card", features=["x1", "x2", {"name": long, "type": "numeric"}, "color"])
    for data, said in ((frame.assign(**{"y" * 10_000: 1}), f"(1 problem): - column '{'y' * 59}…: not in the card's features"),
                       (frame, f"(1 problem): - column '{'x' * 59}…: infinite values in row 1"),
                       (frame.rename(columns={long: long.upper()}),  # as missing, and as not in the card's features
                        f"(2 problems): - column '{'x' * 59}…: missing (the card names it; the file has '{'X' * 59}…: "
                        f"column names are case- and space-sensitive) - column '{'X' * 59}…: not in the card's features")):
        res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", csv_writer(tmp_path, data))
        assert res.code == 3 and said in res.text, res.text
        assert not any(ch * 61 in res.text for ch in "xXy"), res.text
