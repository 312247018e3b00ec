"""A sensitive column the model does not read (an applicant's age kept beside the features) gets the
value checks a feature gets: a data hunt (2026-12-06) found it unchecked. An `inf` reached pandas'
qcut (subgroup_fairness ERROR, a traceback in result.json), a nested JSON value a TypeError, an
`inf` under policy bands a group "(missing)" of its own, and one text cell among numbers made every
number a group of one, none judged; `validate` called each file valid."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _frame(artefacts):
    frame = artefacts.frame.head(60).copy()
    frame["score"] = np.arange(60, dtype=float) % 50
    return frame


def _validate(cli, tmp_path, card_writer, policy, data):
    return cli("validate", "--policy", policy, "--card", card_writer(tmp_path / "card", sensitive_features=["score"]),
               "--data", data)


@pytest.mark.parametrize(("value", "expected"), [
    (np.inf, "column 'score': infinite values in row 3"),
    (1e308, "column 'score': values beyond ±1e+150 in row 3"),
    ("x", "column 'score': numbers, but text in row 3; fix those cells"),
])
def test_a_bad_value_in_a_sensitive_column_is_located(cli, tmp_path, card_writer, card_only_policy, artefacts,
                                                      value, expected):
    frame = _frame(artefacts).astype({"score": object})
    frame.loc[3, "score"] = value
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3, res.text
    assert expected in res.text, res.text


def test_a_nested_value_in_a_sensitive_column_is_located(cli, tmp_path, card_writer, card_only_policy, artefacts):
    rows = _frame(artefacts).to_dict(orient="records")
    rows[5]["score"] = [1, 2]
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    res = _validate(cli, tmp_path, card_writer, card_only_policy, data)
    assert res.code == 3, res.text
    assert "column 'score': nested values (lists or objects) in row 5" in res.text, res.text


def test_a_sound_sensitive_column_with_missing_cells_and_text_values_is_kept(cli, tmp_path, card_writer,
                                                                           card_only_policy, artefacts):
    """What is not wrong stays allowed: an empty cell is the group "(missing)", a column of words
    (no number among them) is grouped by its words."""
    frame = _frame(artefacts)
    frame.loc[2, "score"] = np.nan
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    assert _validate(cli, tmp_path, card_writer, card_only_policy, data).code == 0
    frame["score"] = np.where(np.arange(60) % 2, "north", "south")
    frame.to_csv(data, index=False)
    assert _validate(cli, tmp_path, card_writer, card_only_policy, data).code == 0
