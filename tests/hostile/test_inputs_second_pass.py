"""Hostile and faulty cards, datasets and texts (issue 16, items 1, 5, 8, 9, 12, 13): each is caught
up front with a located message and its exit code (or, for odd texts, handled and said), and
nothing is written for a refused run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.records.csvsafe import neutralise_formulas

from .conftest import read_result


def nothing_written(out: Path) -> bool:
    return not Path(out).exists() or not any(Path(out).iterdir())


# --- item 1: positive_class validated against the model's classes ----------------------------------

@pytest.mark.parametrize("positive, hint", [("YES", "did you mean 'yes'?"), (" yes", "did you mean 'yes'?"),
                                             ("maybe", ""), (1, "")])
def test_a_positive_class_the_model_lacks_is_a_located_card_error(cli, tmp_path, card_writer, card_only_policy, artefacts,
                                                                   positive, hint):
    card = card_writer(tmp_path / "card", positive_class=positive)
    out = tmp_path / "out"
    res = cli.run(card_only_policy, card, artefacts.csv, out)
    assert res.code == 3, res.text
    assert "invalid model card" in res.text and f"auditor.positive_class: {str(positive)!r} is not one of the labels in the dataset" in res.text
    assert "'no', 'yes'" in res.text and hint in res.text
    assert nothing_written(out)
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", artefacts.csv)
    assert res.code == 3 and "is not one of the labels in the dataset" in res.text, res.text


def test_positive_class_is_checked_against_the_model_classes_too(tmp_path, card_writer):
    from auditor.engine.audit import check_positive_class
    from auditor.errors import ModelCardError
    from auditor.inputs.model_card import load_model_card

    card = load_model_card(card_writer(tmp_path / "card", positive_class="Bad"))
    with pytest.raises(ModelCardError, match=r"auditor.positive_class: 'Bad' is not one of the model classes: 'bad', "
                                             r"'good'; did you mean 'bad'\? class names are case-sensitive"):
        check_positive_class(card, ["bad", "good"])
    check_positive_class(card, ["Bad", "good"])  # an exact match passes


def test_the_right_positive_class_still_runs(cli, tmp_path, card_writer, card_only_policy, artefacts, stub_pdf):
    card = card_writer(tmp_path / "card", positive_class="no")
    res = cli.run(card_only_policy, card, artefacts.csv, tmp_path / "out")
    assert res.code == 0, res.text
    assert read_result(tmp_path / "out" / "tiny-model" / "v0001")["model"]["positive_class"] == "no"


# --- item 8: what validate passes, the run must not fail on -----------------------------------------

def _frame(artefacts) -> pd.DataFrame:
    return artefacts.frame.head(60).copy()


def test_nested_values_in_jsonl_features_are_located(cli, tmp_path, card_writer, card_only_policy, artefacts):
    frame = _frame(artefacts)
    rows = frame.to_dict(orient="records")
    rows[3]["x1"] = [1, 2]
    rows[7]["color"] = {"r": 1}
    rows[9]["label"] = ["yes"]
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    card = card_writer(tmp_path / "card")
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", data)
    assert res.code == 3, res.text
    for col, row in (("x1", 3), ("color", 7), ("label", 9)):
        assert f"column '{col}': nested values (lists or objects) in row {row};" in res.text
    assert nothing_written(tmp_path / "out")
    assert cli.run(card_only_policy, card, data, tmp_path / "out").code == 3 and nothing_written(tmp_path / "out")


def test_nested_values_in_parquet_features_are_located(cli, tmp_path, card_writer, card_only_policy, artefacts):
    frame = _frame(artefacts)
    frame["color"] = [[c, c] for c in frame["color"]]  # a list column
    data = tmp_path / "eval.parquet"
    frame.to_parquet(data)
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert res.code == 3, res.text
    assert "column 'color': nested values (lists or objects) in rows 0, 1, 2, 3, 4 and 55 more;" in res.text, res.text


def test_an_all_missing_feature_is_refused_even_when_missing_values_are_allowed(cli, tmp_path, card_writer, csv_writer,
                                                                               card_only_policy, artefacts):
    frame = _frame(artefacts)
    frame["x3"] = np.nan
    data = csv_writer(tmp_path, frame)
    card = card_writer(tmp_path / "card", missing_values="allow")
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", data)
    assert res.code == 3 and "column 'x3': every value is missing" in res.text, res.text


def test_one_text_cell_in_an_undeclared_numeric_column_is_located(cli, tmp_path, card_writer, csv_writer, card_only_policy,
                                                                  artefacts):
    frame = _frame(artefacts).astype({"x1": object})
    frame.loc[11, "x1"] = "n/a?"
    frame.loc[40, "x1"] = "twelve"
    data = csv_writer(tmp_path, frame)
    card = card_writer(tmp_path / "card", features=["x1", "x2", "x3", "color"])  # no declared types
    res = cli("validate", "--policy", card_only_policy, "--card", card, "--data", data)
    assert res.code == 3 and "column 'x1': numbers, but text in rows 11, 40;" in res.text, res.text
    out = tmp_path / "out"
    assert cli.run(card_only_policy, card, data, out).code == 3 and nothing_written(out)


# --- item 13: another delimiter ---------------------------------------------------------------------

@pytest.mark.parametrize("delimiter, name", [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_a_csv_with_another_delimiter_gets_a_hint(cli, tmp_path, card_writer, card_only_policy, artefacts, delimiter, name):
    data = tmp_path / "eval.csv"
    _frame(artefacts).to_csv(data, sep=delimiter, index=False)
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert res.code == 3 and "column 'x1': missing (the card names it)" in res.text
    assert f"the file seems to be {name}-separated" in res.text and "save it with ',' as the delimiter" in res.text


def test_a_semicolon_csv_with_decimal_commas_gets_the_hint_too(cli, tmp_path, card_writer, card_only_policy, artefacts):
    """Decimal commas split its rows into several fields, so the shape problems came first, without the hint."""
    data = tmp_path / "eval.csv"
    _frame(artefacts).to_csv(data, sep=";", decimal=",", index=False)
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert res.code == 3 and "the file seems to be semicolon-separated" in res.text, res.text


def test_a_gzip_file_named_csv_says_it_is_compressed(cli, tmp_path, card_writer, card_only_policy, artefacts):
    import gzip

    data = tmp_path / "eval.csv"
    data.write_bytes(gzip.compress(_frame(artefacts).to_csv(index=False).encode()))
    res = cli("validate", "--policy", card_only_policy, "--card", card_writer(tmp_path / "card"), "--data", data)
    assert res.code == 3 and "the file is gzip-compressed; decompress it first" in res.text, res.text


# --- item 12: disclosure and injection -----------------------------------------------------------------

SECRET = "db_password: hunter2\napi_token: s3cr3t-value\noperator:x:0:0: /home/operator\n"


@pytest.mark.parametrize("option", ["--waivers", "--policy"])
def test_a_link_to_a_system_file_does_not_echo_its_lines(cli, tmp_path, card_only_policy, option):
    secret = tmp_path / "etc" / "secret.conf"
    secret.parent.mkdir()
    secret.write_text(SECRET, encoding="utf-8")
    link = tmp_path / "innocent.yaml"
    link.symlink_to(secret)
    args = ["--policy", card_only_policy, "--waivers", link] if option == "--waivers" else ["--policy", link]
    res = cli("validate", *args)
    assert res.code == 3, res.text
    assert "not a waivers file" in res.text or "not a policy file" in res.text
    for word in ("hunter2", "s3cr3t", "db_password", "api_token", "operator"):
        assert word not in res.raw


def test_evidence_csv_cells_cannot_be_formulas():
    rows = [["row", "name", "value"], ["0", "=HYPERLINK(\"http://x\")", "-0.25"], ["1", "+cmd|' /C calc'!A0", "1e-3"],
            ["2", "@SUM(A1)", "-inf"], ["3", "-2+3", "+4"], ["4", "\tx", "0"], ["5", "plain", "-"]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    safe = list(csv.reader(io.StringIO(neutralise_formulas(buf.getvalue().encode()).decode())))
    assert [r[1] for r in safe[1:]] == ["'=HYPERLINK(\"http://x\")", "'+cmd|' /C calc'!A0", "'@SUM(A1)", "'-2+3", "'\tx", "plain"]
    assert [r[2] for r in safe[1:]] == ["-0.25", "1e-3", "-inf", "+4", "0", "'-"]  # numbers stay numbers
    clean = b"row,value\n0,-0.5\n"
    assert neutralise_formulas(clean) == clean  # nothing to do: the same bytes


def test_evidence_of_a_run_with_formula_like_feature_names_is_neutralised(tmp_path, artefacts, card_writer, csv_writer,
                                                                          policy_writer):
    from auditor.engine.context import AuditContext

    ctx = AuditContext.__new__(AuditContext)
    ctx.files = {}
    ctx.add_file("evidence/x.csv", b"name,value\n=1+1,0.5\n")
    ctx.add_file("evidence/x.json", b'{"name": "=1+1"}')
    assert ctx.files["evidence/x.csv"] == b"name,value\n'=1+1,0.5\n"
    assert ctx.files["evidence/x.json"] == b'{"name": "=1+1"}'


@pytest.mark.parametrize("name", ["model\u202e0.99\u202c", "nul\x00name", "esc\x1b[31m"])
def test_control_and_bidi_characters_are_shown_escaped_in_the_report(cli, tmp_path, card_writer, card_only_policy,
                                                                     artefacts, stub_pdf, name):
    card = card_writer(tmp_path / "card", name=name)
    out = tmp_path / "out"
    res = cli.run(card_only_policy, card, artefacts.csv, out)
    assert res.code == 0, res.text
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    html = (run / "v0001" / "report.html").read_text(encoding="utf-8")
    for ch in ("\u202e", "\u202c", "\x00", "\x1b"):
        assert ch not in html
    assert ascii(name)[1:-1] in html  # shown, escaped
    assert read_result(run / "v0001")["model"]["name"] == name  # the record keeps the original


# --- items 5 and 9: long, empty and odd texts -----------------------------------------------------------

def test_a_text_field_over_the_limit_is_refused_up_front(cli, tmp_path, text_inputs):
    from auditor.inputs.dataset import MAX_TEXT_CHARS

    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["fine", "x" * (MAX_TEXT_CHARS + 1), "ok"],
                                   ["positive", "negative", "negative"])
    res = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert res.code == 3 and f"texts longer than {MAX_TEXT_CHARS:,} characters (the limit per field) in row 1" in res.text


def test_tokenisation_is_bounded_before_the_tokenizer_runs(text_inputs):
    from auditor.models.text import MAX_CHARS_PER_TOKEN, load_text_model

    model = load_text_model(text_inputs.model)
    seen = []
    tokenizer = model.tokenizer

    class Spy:
        def __call__(self, text, **kw):
            seen.append(len(text))
            return tokenizer(text, **kw)

        def __getattr__(self, name):
            return getattr(tokenizer, name)

    model.tokenizer = Spy()
    long = "word " * 200_000  # 1,000,000 characters
    (enc,) = model.encode([long])
    assert seen == [model.max_length * MAX_CHARS_PER_TOKEN]
    assert enc.truncated and len(enc.ids) == model.max_length
    short = "a short text"
    (plain,) = model.encode([short])
    assert seen[-1] == len(short) and not plain.truncated
    model.tokenizer = tokenizer
    (again,) = load_text_model(text_inputs.model).encode([long])
    assert again.ids.tolist() == enc.ids.tolist()  # the cut keeps every token the model sees


TEXT_TRUST = [{"check": "performance", "params": {"n_bootstrap": 20}},
              {"check": "explanation_faithfulness", "params": {"explainers": ["integrated_gradients"], "n_instances": 4}}]


def test_empty_texts_are_excluded_and_reported_with_their_file_rows(cli, tmp_path, text_inputs, policy_writer, stub_pdf):
    texts = ["the movie was good", "", "the plot was bad", "   ", "a very good film", "the story is bad", "\n",
             "it was quite good", "a bad movie", "good and very good", "\u200b\ufeff\u200f", "\x01\x07"]
    labels = ["positive", "negative", "negative", "positive", "positive", "negative", "positive", "positive", "negative",
              "positive", "negative", "positive"]  # the last two: zero-width, BOM, bidi mark, controls: no token at all
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", texts, labels)
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(TEXT_TRUST))
    out = tmp_path / "out"
    res = cli.run(policy, text_inputs.card, data, out)
    assert res.code in (0, 1), res.text
    run = out / "tiny-bert" / "v0001"
    result = read_result(run)
    assert result["dataset"]["rows"] == 7
    assert any("5 empty texts (nothing to explain: only spaces or invisible characters) excluded: file rows 1, 3, 6, "
               "10, 11;" in n for n in result["dataset"]["notes"])
    assert {c["id"]: c["status"] for c in result["checks"]}["explanation_faithfulness"] != "error"
    mapping = (run / "evidence" / "dataset-sample.csv").read_text().splitlines()
    assert mapping == ["row,file_row", "0,0", "1,2", "2,4", "3,5", "4,7", "5,8", "6,9"]


def test_only_empty_texts_is_a_dataset_error(cli, tmp_path, text_inputs):
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", ["", " "], ["positive", "negative"])
    res = cli("validate", "--policy", text_inputs.policy, "--card", text_inputs.card, "--data", data)
    assert res.code == 3 and "column 'text': every text is empty" in res.text


def test_control_characters_in_texts_never_reach_the_html_raw(cli, tmp_path, text_inputs, policy_writer, stub_pdf):
    texts = ["good\x00 product", "bad \u202eevil\u202c", "fine \x1b[2J", "awful"]
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", texts, ["positive", "negative", "positive", "negative"])
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny([{"check": "text_explanations", "params": {
        "methods": ["integrated_gradients"], "n_instances": 4, "n_shown": 4, "top_k": 3}}]))
    out = tmp_path / "out"
    res = cli.run(policy, text_inputs.card, data, out)
    assert res.code in (0, 1), res.text
    result = read_result(out / "tiny-bert" / "v0001")
    assert {c["id"]: c["status"] for c in result["checks"]}["text_explanations"] != "error"
    html = (out / "tiny-bert" / "v0001" / "report.html").read_text(encoding="utf-8")
    assert not any(ch in html for ch in ("\x00", "\u202e", "\u202c", "\x1b"))
