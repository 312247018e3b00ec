"""`auditor history` in an 80-column terminal: every line fits, nothing is cut, long sign-offs wrap;
in a wider one, long policy names stay whole."""

from __future__ import annotations

import sqlalchemy as sa

from auditor.records.registry import Registry, database_url, open_registry, runs_table
from auditor.records.signoff import sign_off

from .helpers import invoke


def test_history_fits_eighty_columns_without_cutting_names_or_dates(out_copy, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    sign_off(out_copy / "tiny-model" / "v0002", reviewer="Head of Model Risk Management",
             decision="approve-with-conditions", comment="ok", conditions="monthly drift report",
             valid_until="2027-06-30")
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


def test_a_long_policy_name_stays_whole_where_the_terminal_has_room(history, tmp_path, monkeypatch):
    """A policy name is one word: folding cuts it (credit-scori / ng-eu-ai-act). At 80 columns it
    must fold to fit; a wider terminal gives it the room it needs, up to 40 characters."""
    monkeypatch.delenv("AUDITOR_DB", raising=False)
    db = tmp_path / "registry.sqlite"
    registry = Registry(database_url(None, str(db)))
    with open_registry(history.out) as source:
        rows = source.history()
    rows[0]["policy_name"] = "credit-scoring-eu-ai-act"
    with registry.engine.begin() as conn:
        conn.execute(sa.insert(runs_table), rows)
    registry.close()
    for columns, whole in (("80", False), ("120", True)):
        monkeypatch.setenv("COLUMNS", columns)
        res = invoke("history", "--db", db)
        assert res.exit_code == 0, res.output
        assert max(len(line) for line in res.output.splitlines()) <= int(columns), res.output
        assert ("credit-scoring-eu-ai-act" in res.output.split()) is whole, res.output


def test_a_model_name_the_registry_lacks_names_the_ones_it_has(out_copy):
    """`history nosuch` read "no audits recorded for nosuch", as an empty history would."""
    res = invoke("history", "nosuch", "--out", out_copy)
    assert res.exit_code == 0 and "no audits recorded for nosuch (the registry has: tiny-model)" in res.output


def test_version_and_short_help():
    from importlib.metadata import version

    res = invoke("--version")
    assert res.exit_code == 0 and res.output.strip() == f"auditor {version('auditor')}"
    res = invoke("run", "-h")
    assert res.exit_code == 0 and "--policy" in res.output
