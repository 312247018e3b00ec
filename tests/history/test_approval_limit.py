"""An approval's valid-until date is bounded: `sign-off --valid-until 9999-12-31` was accepted, an
approval that in effect never expires. Now at most 3 years after the sign-off day, or one re-audit
interval after it where the run's policy declares a shorter `reaudit_interval_days`; beyond: exit 2."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from auditor.errors import EXIT_USAGE, UsageError
from auditor.records.signoff import sign_off

from .helpers import flat, invoke, stub_pdf


@pytest.fixture(autouse=True)
def quick_pdf(monkeypatch):
    monkeypatch.setattr("auditor.render.pdf.html_to_pdf", stub_pdf)


def test_an_approval_that_never_expires_is_refused(out_copy):
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "A", "--decision", "approve", "--comment", "ok",
                 "--valid-until", "9999-12-31")
    assert res.exit_code == EXIT_USAGE, res.output
    said = flat(res.output)
    assert "--valid-until 9999-12-31 is too far ahead: an approval is valid for at most 3 years" in said, said
    assert not (out_copy / "tiny-model" / "signoffs").exists()


def test_three_years_from_the_sign_off_day_a_29_february_to_28_february(out_copy):
    run = out_copy / "tiny-model" / "v0001"  # its policy declares no re-audit interval
    leap = datetime(2024, 2, 29, 9, tzinfo=timezone.utc)
    with pytest.raises(UsageError, match=r"latest date accepted for a sign-off made on 2024-02-29 is 2027-02-28"):
        sign_off(run, reviewer="A", decision="approve", comment="ok", valid_until="2027-03-01", now=leap)
    signed = sign_off(run, reviewer="A", decision="approve", comment="ok", valid_until="2027-02-28", now=leap)
    assert signed.record["valid_until"] == "2027-02-28"


def test_the_policy_s_re_audit_interval_bounds_it_sooner(out_copy, history):
    run = out_copy / "tiny-model" / "v0003"  # its policy: reaudit_interval_days 30
    assert json.loads((run / "result.json").read_text())["policy"]["reaudit_interval_days"] == 30
    day = datetime(2026, 1, 10, 9, tzinfo=timezone.utc)
    with pytest.raises(UsageError) as refused:
        sign_off(run, reviewer="A", decision="approve", comment="ok", valid_until="2026-02-10", now=day)
    assert "asks for a re-audit every 30 days" in str(refused.value)
    assert "the latest date accepted for a sign-off made on 2026-01-10 is 2026-02-09" in str(refused.value)
    signed = sign_off(run, reviewer="A", decision="approve-with-conditions", conditions="c", comment="ok",
                      valid_until="2026-02-09", now=day)
    assert signed.record["valid_until"] == "2026-02-09"
