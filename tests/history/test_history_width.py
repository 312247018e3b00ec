"""`auditor history` in an 80-column terminal: every line fits, nothing is cut, long sign-offs wrap."""

from __future__ import annotations

from auditor.records.signoff import sign_off

from .helpers import invoke


def test_history_fits_eighty_columns_without_cutting_names_or_dates(out_copy, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    sign_off(out_copy / "tiny-model" / "v0002", reviewer="Head of Model Risk Management",
             decision="approve-with-conditions", comment="ok", valid_until="2027-06-30")
    res = invoke("history", "--out", out_copy)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, res.output
    words = res.output.split()
    assert words.count("tiny-model") == 3  # the model name whole, never folded or cut
    assert all(f"v000{i}" in words for i in (1, 2, 3))
    assert sum(len(w) == 10 and w[4] == "-" and w[7] == "-" for w in words) >= 4  # full ISO dates
    # the sign-off wraps at spaces (cells of one row interleave line by line): every word whole
    for word in "approved with conditions by Head of Model Risk Management until 2027-06-30".split():
        assert word in words, word
