"""`auditor users disable` / `enable`: an account switched off when its holder leaves can no longer
sign off (`sign-off --reviewer NAME`, letter case aside), while the sign-offs it made before stay
valid and `verify` says they were made by a now-disabled account; a sign-off recorded while the
account was disabled (auditor refuses one, so only an edit of the log makes one) is a finding."""

from __future__ import annotations

import sqlalchemy as sa

from auditor.records.accounts import add_user
from auditor.records.registry import open_registry, users_table

from .helpers import flat, invoke

PASSWORD = "a long enough password"


def _with_ada(out):
    with open_registry(out) as registry:
        add_user(registry, "ada", "approver", PASSWORD)


def test_a_disabled_account_cannot_sign_off_and_its_past_sign_offs_stand(out_copy):
    _with_ada(out_copy)
    run = out_copy / "tiny-model" / "v0001"
    res = invoke("sign-off", run, "--reviewer", "ada", "--decision", "reject", "--comment", "before leaving")
    assert res.exit_code == 0, res.output

    res = invoke("users", "disable", "ada", "--reason", "left the bank", "--out", out_copy)
    assert res.exit_code == 0, res.output
    assert "user ada (approver): disabled since " in res.output and "(left the bank)" in res.output
    res = invoke("users", "list", "--out", out_copy)
    assert res.exit_code == 0 and "ada  approver  since " in res.output, res.output
    assert " disabled since " in res.output and "(left the bank)" in res.output, res.output
    # twice: refused, nothing changed
    res = invoke("users", "disable", "ada", "--reason", "again", "--out", out_copy)
    assert res.exit_code == 2 and "user 'ada' is already disabled since" in flat(res.output), res.output
    assert invoke("users", "disable", "nobody", "--reason", "x", "--out", out_copy).exit_code == 2
    assert invoke("users", "disable", "ada", "--reason", " ", "--out", out_copy).exit_code == 2

    for name in ("ada", "Ada"):  # the account's name, letter case aside
        res = invoke("sign-off", run, "--reviewer", name, "--decision", "reject", "--comment", "after leaving")
        assert res.exit_code == 2, res.output
        assert "the account 'ada' is disabled since" in flat(res.output), res.output
        assert "nothing is signed off under its name" in flat(res.output)
    assert len((out_copy / "tiny-model" / "signoffs" / "v0001.jsonl").read_text().splitlines()) == 1

    res = invoke("verify", run)
    assert res.exit_code == 0, res.output
    assert "sign-off #1 (reject by ada): unsigned; made before the reviewer's account was disabled (disabled since" \
        in flat(res.output)
    assert "the sign-off stands" in flat(res.output)

    res = invoke("users", "enable", "ada", "--out", out_copy)
    assert res.exit_code == 0 and "active (enabled again " in flat(res.output), res.output
    assert invoke("users", "enable", "ada", "--out", out_copy).exit_code == 2  # not disabled
    res = invoke("sign-off", run, "--reviewer", "ada", "--decision", "reject", "--comment", "back")
    assert res.exit_code == 0, res.output


def test_a_sign_off_recorded_while_the_account_was_disabled_is_a_finding(out_copy):
    _with_ada(out_copy)
    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "ada", "--decision", "reject", "--comment", "x").exit_code == 0
    # the account disabled since before the record's time: the record cannot have come from auditor
    with open_registry(out_copy) as registry, registry.engine.begin() as conn:
        conn.execute(sa.update(users_table).values(disabled_at="2000-01-01T00:00:00+00:00", disabled_by="hr",
                                                   disabled_reason="left"))
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    assert "UNTRUSTED SIGN-OFF" in res.output
    assert "disabled account — record 1: signed off by ada at" in flat(res.output)
    assert "while the account was disabled (since 2000-01-01T00:00:00+00:00 by hr: left)" in flat(res.output)
    # a later re-enablement does not cover the window: the record is still named
    with open_registry(out_copy) as registry, registry.engine.begin() as conn:
        conn.execute(sa.update(users_table).values(enabled_at="2099-01-01T00:00:00+00:00", enabled_by="hr"))
    assert invoke("verify", run).exit_code == 1


def test_a_disablement_time_edited_into_something_else_is_read_not_a_crash(out_copy):
    """A registry edited by hand (a disablement time that is not a time, a number for a name's state): the
    account reads as disabled, nothing is signed under it, and verify says so (exit 0, never an internal error)."""
    _with_ada(out_copy)
    run = out_copy / "tiny-model" / "v0001"
    assert invoke("sign-off", run, "--reviewer", "ada", "--decision", "reject", "--comment", "x").exit_code == 0
    with open_registry(out_copy) as registry, registry.engine.begin() as conn:
        conn.execute(sa.update(users_table).values(disabled_at="last week", disabled_by="hr", disabled_reason="left"))
    res = invoke("verify", run)
    assert res.exit_code == 0, res.output
    assert "the reviewer's account is now disabled since last week by hr (left), a time that does not read" \
        in flat(res.output)
    res = invoke("sign-off", run, "--reviewer", "ada", "--decision", "reject", "--comment", "y")
    assert res.exit_code == 2 and "the account 'ada' is disabled since last week" in flat(res.output), res.output
