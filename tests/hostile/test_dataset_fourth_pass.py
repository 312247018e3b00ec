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
