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
