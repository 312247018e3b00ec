"""Waivers: a valid waiver turns a FAIL or WARN into WAIVED (never PASS) with its justification;
an expired one changes nothing and the report says it expired; an unknown check id is a
validation error. WAIVED ranks above PASS and below WARN; the CLI exits 0 when every failure is
waived."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import PolicyError
from auditor.policy import load_policy
from auditor.results import CheckResult, Status, ThresholdOutcome, worst
from auditor.policy.waivers import SourcedWaiver, Waiver, apply_waivers

TODAY = dt.date(2026, 11, 22)
# a valid waiver's expiry, within the yearly bound on a waiver's lifetime from the day the test runs
SOON = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=60)).isoformat()
FAILING = [{"check": "card_completeness",
            "thresholds": [{"measurement": "completeness", "min": 2.0, "severity": "blocking"}]},
           {"check": "performance", "params": {"n_bootstrap": 20},
            "thresholds": [{"measurement": "roc_auc", "min": 0.5}]}]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


def waiver(check="c", expires=TODAY, **kw) -> SourcedWaiver:
    fields = dict(check=check, justification="accepted: known gap", approver="Head of MRM", expires=expires) | kw
    return SourcedWaiver(Waiver(**fields), "policy.yaml", "waivers[0]")


def result(status: Status, cid="c") -> CheckResult:
    return CheckResult(id=cid, check="x", title="X", description="", status=status)


@pytest.mark.parametrize("status", [Status.FAIL, Status.WARN])
def test_a_valid_waiver_turns_a_failure_into_waived(status):
    [out] = apply_waivers([result(status)], [waiver(expires=TODAY)], TODAY)  # valid through its expiry date
    assert out.status == Status.WAIVED
    assert out.waiver.state == "applied" and out.waiver.status_before == status
    assert out.waiver.justification == "accepted: known gap"
    assert any("waived by Head of MRM" in n for n in out.notes)


def missed(*gates: str, met: tuple[str, ...] = ()) -> list[ThresholdOutcome]:
    return ([ThresholdOutcome(measurement=g, observed=1.0, max=0.0, severity="fail", passed=False) for g in gates]
            + [ThresholdOutcome(measurement=g, observed=0.0, max=0.0, severity="fail", passed=True) for g in met])


def test_a_waiver_of_named_gates_applies_while_every_missed_gate_is_one_it_names():
    """A waiver accepting the adverse-impact finding must not hide an equalised-odds finding the same
    check makes later: it applies only while the check misses no gate it does not name."""
    gated = waiver(gates=["adverse_impact_groups", "demographic_parity_difference"])
    accepted = result(Status.FAIL).model_copy(update={"thresholds": missed("adverse_impact_groups",
                                                                           met=("equalised_odds_difference",))})
    [out] = apply_waivers([accepted], [gated], TODAY)
    assert out.status == Status.WAIVED and out.waiver.state == "applied"
    assert out.waiver.gates == ["adverse_impact_groups", "demographic_parity_difference"] and out.waiver.uncovered == []
    new = result(Status.FAIL).model_copy(update={"thresholds": missed("adverse_impact_groups", "equalised_odds_difference")})
    [out] = apply_waivers([new], [gated], TODAY)
    assert out.status == Status.FAIL and out.waiver.state == "not-covered"
    assert out.waiver.uncovered == ["equalised_odds_difference"] and out.waiver.status_before is None
    assert any("also missed equalised_odds_difference, so the status stands" in n for n in out.notes)
    # a waiver of the whole check (no gates) accepts both, as before
    [out] = apply_waivers([new], [waiver()], TODAY)
    assert out.status == Status.WAIVED and out.waiver.uncovered == []


def test_an_expired_waiver_leaves_the_status_and_says_so():
    [out] = apply_waivers([result(Status.FAIL)], [waiver(expires=TODAY - dt.timedelta(days=1))], TODAY)
    assert out.status == Status.FAIL
    assert out.waiver.state == "expired" and out.waiver.status_before is None
    assert any("expired on 2026-11-21" in n for n in out.notes)


@pytest.mark.parametrize("status, state", [(Status.PASS, "not-needed"), (Status.SKIPPED, "not-needed"),
                                           (Status.ERROR, "not-waivable")])
def test_nothing_to_waive(status, state):
    [out] = apply_waivers([result(status)], [waiver()], TODAY)
    assert out.status == status and out.waiver.state == state


def test_the_valid_waiver_expiring_last_speaks():
    old = waiver(expires=TODAY - dt.timedelta(days=30), approver="A")
    new = waiver(expires=TODAY + dt.timedelta(days=30), approver="B")
    [out] = apply_waivers([result(Status.FAIL)], [old, new], TODAY)
    assert out.status == Status.WAIVED and out.waiver.approver == "B"


def test_each_waiver_is_recorded_once_with_its_own_reference():
    """Two waivers of one check alike but for their reference were both recorded as the applied one,
    the second's reference lost: the report's waivers table listed the first twice."""
    from auditor.policy.waivers import waiver_records

    first, second = waiver(reference="MRM-1"), waiver(reference="MRM-2")
    checks = apply_waivers([result(Status.FAIL)], [first, second], TODAY)
    records = waiver_records(checks, [first, second], TODAY)
    assert [(r.state, r.reference) for r in records] == [("applied", "MRM-1"), ("superseded", "MRM-2")]
    copy = waiver(reference="MRM-1")  # the same waiver written twice: one applies
    records = waiver_records(apply_waivers([result(Status.FAIL)], [first, copy], TODAY), [first, copy], TODAY)
    assert [r.state for r in records] == ["applied", "superseded"]


@pytest.mark.parametrize("statuses, overall", [
    ([Status.WAIVED, Status.PASS, Status.SKIPPED], Status.WAIVED),  # never PASS
    ([Status.WAIVED, Status.WARN], Status.WARN),
    ([Status.WAIVED, Status.FAIL], Status.FAIL),
    ([Status.WAIVED, Status.ERROR], Status.ERROR),
    ([Status.PASS, Status.SKIPPED], Status.PASS),
])
def test_waived_ranks_above_pass_and_below_warn(statuses, overall):
    assert worst(statuses) == overall


# --- validation -------------------------------------------------------------------------------------


def test_policy_waivers_validate_and_load(tmp_path, policy_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[
        {"check": "card_completeness", "justification": "j", "approver": "a", "expires": SOON,
         "reference": "MRM-12"}]))
    loaded = load_policy(policy)
    [w] = loaded.waivers
    assert (w.waiver.check, w.waiver.expires, w.source, w.location) == ("card_completeness", dt.date.fromisoformat(SOON),
                                                                       str(policy), "waivers[0]")
    assert loaded.reference().resolved["waivers"][0]["reference"] == "MRM-12"


def test_unknown_check_id_in_a_waiver_is_a_policy_error(tmp_path, policy_writer, yaml_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[
        {"check": "nope", "justification": "j", "approver": "a", "expires": SOON}]))
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "also_nope", "justification": "j", "approver": "a", "expires": SOON}]})
    with pytest.raises(PolicyError) as info:
        load_policy(policy, waivers)
    problems = {p.location: p.message for p in info.value.problems}
    assert set(problems) == {"waivers[0].check", f"{waivers}:waivers[0].check"}
    assert problems["waivers[0].check"].startswith(f"unknown check id 'nope'; the policy {policy} has: card_completeness")


def test_unknown_check_id_only_in_the_waivers_file_is_headed_by_that_file(tmp_path, policy_writer, yaml_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING))
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "card_completeness", "justification": "j", "approver": "a", "expires": SOON},
        {"check": "ghost", "justification": "j", "approver": "a", "expires": SOON}]})
    result = invoke("validate", "-p", policy, "--waivers", waivers)
    assert result.exit_code == 3, result.output
    assert f"invalid waivers file {waivers} (1 problem)" in flat(result.stderr)
    assert f"waivers[1].check: unknown check id 'ghost'; the policy {policy} has: card_completeness" in flat(result.stderr)


def test_a_waivers_gate_must_be_a_warning_or_blocking_gate_of_its_check(tmp_path, policy_writer, yaml_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[
        {"check": "performance", "justification": "j", "approver": "a", "expires": SOON,
         "gates": ["roc_auc", "accuracy"]}]))
    with pytest.raises(PolicyError) as info:
        load_policy(policy)
    [problem] = info.value.problems
    assert problem.location == "waivers[0].gates[1]"
    assert problem.message == (f"'accuracy' is not a warning or blocking gate of check 'performance' in the policy "
                               f"{policy}; its gates: roc_auc")
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "card_completeness", "justification": "j", "approver": "a", "expires": SOON,
         "gates": ["completeness", "completeness"]}]})
    result = invoke("validate", "-p", policy_writer(tmp_path / "ok", policy_writer.tiny(FAILING)), "--waivers", waivers)
    assert result.exit_code == 3 and "waivers[0].gates" in result.stderr and "'completeness' twice" in flat(result.stderr)
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "card_completeness", "justification": "j", "approver": "a", "expires": SOON,
         "gates": ["completeness"]}]})
    result = invoke("validate", "-p", tmp_path / "ok" / "policy.yaml", "--waivers", waivers)
    assert result.exit_code == 0, result.output
    assert "waiver for card_completeness (gates completeness only)" in flat(result.stdout)


@pytest.mark.parametrize("entry, location", [
    ({"check": "performance", "approver": "a", "expires": SOON}, "waivers[0].justification"),
    ({"check": "performance", "justification": "j", "approver": "a", "expires": "soon"}, "waivers[0].expires"),
    ({"check": "performance", "justification": "j", "approver": "a", "expires": SOON, "x": 1}, "waivers[0].x"),
    ({"check": "performance", "justification": "   ", "approver": "a", "expires": SOON}, "waivers[0].justification"),
    ({"check": "performance", "justification": "j", "approver": " ", "expires": SOON}, "waivers[0].approver"),
])
def test_malformed_waivers_file_is_located(tmp_path, policy_writer, yaml_writer, entry, location):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING))
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [entry]})
    result = invoke("validate", "-p", policy, "--waivers", waivers)
    assert result.exit_code == 3, result.output
    assert f"invalid waivers file {waivers}" in flat(result.stderr) and location in result.stderr


def test_an_impossible_date_is_a_located_error_not_a_crash(tmp_path, policy_writer, yaml_writer):
    """2027-02-30 has the form of a YAML date but is not on the calendar: exit 3 with its line,
    whether in a waivers file, a policy or a card's front matter."""
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING))
    waivers = yaml_writer(tmp_path, "waivers.yaml", "waivers:\n  - check: performance\n    justification: j\n"
                                                    "    approver: a\n    expires: 2027-02-30\n")
    result = invoke("validate", "-p", policy, "--waivers", waivers)
    assert result.exit_code == 3, result.output
    assert "line 5, column 14" in flat(result.stderr) and "'2027-02-30' is not a valid date" in flat(result.stderr)
    dated = yaml_writer(tmp_path, "dated.yaml", open(policy).read() + "effective_from: 2026-02-30\n")
    result = invoke("validate", "-p", dated)
    assert result.exit_code == 3 and "is not a valid date" in flat(result.stderr), result.output


def test_validate_lists_waivers_and_a_missing_file_is_a_usage_error(tmp_path, policy_writer, yaml_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING))
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "performance", "justification": "j", "approver": "a", "expires": "2001-01-01"}]})
    result = invoke("validate", "-p", policy, "-w", waivers)
    assert result.exit_code == 0, result.output
    assert "waiver for performance" in flat(result.stdout) and "expired 2001-01-01" in flat(result.stdout)
    assert invoke("validate", "-p", policy, "-w", tmp_path / "absent.yaml").exit_code == 2


# --- a real run ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing(tmp_path_factory, card_writer, artefacts, policy_writer):
    """A two-file chain: base.yaml (the failing checks) and policy.yaml extending it."""
    root = tmp_path_factory.mktemp("waived")
    policy_writer(root / "policy", policy_writer.tiny(FAILING), filename="base.yaml")
    child = {"schema_version": 1, "name": "child", "version": "2", "extends": "base.yaml", "owner": "MRM",
             "checks": [{"id": "performance", "clauses": ["sr-11-7:2011:V.3"]}]}
    return dict(card=card_writer(root / "card"), data=artefacts.csv, policy=policy_writer(root / "policy", child),
                root=root)


def run(failing, waivers, out):
    return invoke("run", "-q", "-p", failing["policy"], "-c", failing["card"], "-d", failing["data"], "-o", out,
                  *(["--waivers", waivers] if waivers else []))


def test_run_whose_only_failure_is_waived_exits_0_and_shows_waived(failing, yaml_writer, tmp_path):
    until = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=30)).isoformat()
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "card_completeness", "justification": "Card rewrite due in Q1", "approver": "Jane Doe",
         "expires": until}]})
    result = run(failing, waivers, tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "overall: WAIVED" in out and "card_completeness: FAIL waived by Jane Doe" in out
    run_dir = tmp_path / "out" / "tiny-model" / "v0001"
    data = json.loads((run_dir / "result.json").read_text())
    assert data["status"] == "waived"
    card = next(c for c in data["checks"] if c["id"] == "card_completeness")
    assert card["status"] == "waived" and card["waiver"]["status_before"] == "fail"
    assert data["policy"]["waivers_file"]["source"] == str(waivers)
    chain = data["policy"]["chain"]
    assert [c["source"] for c in chain] == [str(failing["policy"]), str(failing["root"] / "policy" / "base.yaml")]
    assert all(len(c["sha256"]) == 64 for c in chain) and data["policy"]["owner"] == "MRM"
    resolved = data["policy"]["resolved"]
    assert resolved["extends"] == "base.yaml" and [c["check"] for c in resolved["checks"]] == ["card_completeness",
                                                                                               "performance"]
    rows = {r["clause"]: r for r in data["traceability"]["rows"]}
    assert rows["sr-11-7:2011:V.3"]["checks"][0]["id"] == "performance"
    assert [w["state"] for w in data["traceability"]["waivers"]] == ["applied"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["inputs"]["waivers"]["path"] == str(waivers)
    html = (run_dir / "report.html").read_text()
    assert "Card rewrite due in Q1" in html and "WAIVED" in html and "not as a pass" in html


def test_run_with_an_expired_waiver_fails_and_the_report_says_expired(failing, yaml_writer, tmp_path):
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "card_completeness", "justification": "Old acceptance", "approver": "Jane Doe",
         "expires": "2020-01-31"}]})
    result = run(failing, waivers, tmp_path / "out")
    assert result.exit_code == 1, result.output
    out = flat(result.stdout)
    assert "overall: FAIL" in out and "expired on 2020-01-31" in out
    html = (tmp_path / "out" / "tiny-model" / "v0001" / "report.html").read_text()
    assert "Waiver expired." in html and "expired on 2020-01-31" in html


def test_run_with_a_waiver_of_other_gates_fails_and_every_surface_says_why(failing, policy_writer, yaml_writer,
                                                                          tmp_path):
    """card_completeness misses its completeness gate; the policy gives it a second gate it meets, and
    the waiver names only that one: the finding stands, and the terminal, result.json and the report
    say the waiver does not cover it."""
    until = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=30)).isoformat()
    two_gates = [dict(FAILING[0], thresholds=[*FAILING[0]["thresholds"], {"measurement": "missing_fields", "max": 99}]),
                 FAILING[1]]
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(two_gates))
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "card_completeness", "justification": "Only the field count was accepted", "approver": "Jane Doe",
         "expires": until, "gates": ["missing_fields"]}]})
    result = run({**failing, "policy": policy}, waivers, tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert "card_completeness: waiver by Jane Doe does not cover completeness; not applied" in flat(result.stdout)
    run_dir = tmp_path / "out" / "tiny-model" / "v0001"
    card = next(c for c in json.loads((run_dir / "result.json").read_text())["checks"] if c["id"] == "card_completeness")
    assert card["status"] == "fail" and card["waiver"]["state"] == "not-covered"
    assert card["waiver"]["gates"] == ["missing_fields"] and card["waiver"]["uncovered"] == ["completeness"]
    html = flat((run_dir / "report.html").read_text())
    assert "Waiver does not cover this finding." in html and "(its waiver does not cover completeness)" in html


def test_run_with_an_unknown_waiver_id_exits_3_before_loading_anything(failing, yaml_writer, tmp_path):
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "ghost", "justification": "j", "approver": "a", "expires": SOON}]})
    result = run(failing, waivers, tmp_path / "out")
    assert result.exit_code == 3
    assert "unknown check id 'ghost'" in result.stderr and f"invalid waivers file {waivers}" in flat(result.stderr)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value, said", [(20260101, "got 20260101"), ("'2026-13-01'", "got '2026-13-01'"),
                                         ("2026-01-01T10:00:00", "without a time; got 2026-01-01T10:00:00")])
def test_a_policys_effective_from_that_is_not_a_date_says_how_to_write_one(tmp_path, value, said):
    """A number had read "Datetimes provided to dates should have zero time", pydantic's own words."""
    from auditor.errors import PolicyError
    from auditor.policy.load import load_policy

    path = tmp_path / "p.yaml"
    text = "schema_version: 1\nname: x\nversion: '1'\neffective_from: VALUE\nchecks:\n  - check: card_completeness\n"
    path.write_text(text.replace("VALUE", str(value)))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert "effective_from" in str(err.value) and "expected a date, YYYY-MM-DD" in str(err.value) and said in str(err.value)


# --- a waiver's lifetime ----------------------------------------------------------------------------------


def _expiring(days: int, today: dt.date = TODAY) -> dict:
    return {"check": "card_completeness", "justification": "j", "approver": "a",
            "expires": (today + dt.timedelta(days=days)).isoformat()}


def test_a_waiver_reaching_past_a_year_is_a_located_policy_error(tmp_path, policy_writer):
    """A waiver expiring 9999-12-31 was accepted: an exemption nobody would review again. The bound is
    a year from the day the policy is read; the last day it allows is itself allowed."""
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[
        _expiring(365), _expiring(366), {**_expiring(0), "expires": "9999-12-31"}]))
    with pytest.raises(PolicyError) as info:
        load_policy(policy, today=TODAY)
    assert {p.location: p.message for p in info.value.problems} == {
        "waivers[1].expires": "2027-11-23 is 366 days after today (2026-11-22); a waiver may run at most 365 days (the "
                              "default; a policy's max_waiver_days may set up to 3650), so that it is reviewed at least "
                              "that often: set expires on or before 2027-11-22",
        "waivers[2].expires": "9999-12-31 is 2912117 days after today (2026-11-22); a waiver may run at most 365 days (the "
                              "default; a policy's max_waiver_days may set up to 3650), so that it is reviewed at least "
                              "that often: set expires on or before 2027-11-22"}


def test_the_bound_counts_from_the_day_the_policy_is_read(tmp_path, policy_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[_expiring(366)]))
    with pytest.raises(PolicyError):
        load_policy(policy, today=TODAY)
    [w] = load_policy(policy, today=TODAY + dt.timedelta(days=1)).waivers
    assert w.waiver.expires == dt.date(2027, 11, 23)


def test_a_policys_max_waiver_days_sets_the_bound_and_is_inherited(tmp_path, policy_writer, yaml_writer, child_of):
    policy_writer(tmp_path, policy_writer.tiny(FAILING, max_waiver_days=90), filename="base.yaml")
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", waivers=[_expiring(90), _expiring(91)]))
    with pytest.raises(PolicyError) as info:
        load_policy(child, today=TODAY)
    assert [(p.location, p.message) for p in info.value.problems] == [(
        "waivers[1].expires", f"2027-02-21 is 91 days after today (2026-11-22); a waiver may run at most 90 days "
                              f"(max_waiver_days 90 of the policy {child}), so that it is reviewed at least that often: "
                              "set expires on or before 2027-02-20")]
    longer = yaml_writer(tmp_path, "longer.yaml", child_of("base.yaml", max_waiver_days=730, waivers=[_expiring(700)]))
    loaded = load_policy(longer, today=TODAY)
    assert loaded.policy.max_waiver_days == 730
    assert loaded.weakened == ["waivers: max_waiver_days loosens every gate a waiver accepts: 90 -> 730, a waiver may "
                               "stand longer before it is reviewed"]


@pytest.mark.parametrize("value", [0, 3651, 2.5, "many"])
def test_max_waiver_days_is_bounded(tmp_path, policy_writer, value):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, max_waiver_days=value))
    with pytest.raises(PolicyError) as info:
        load_policy(policy)
    assert [p.location for p in info.value.problems] == ["max_waiver_days"]


def test_a_waivers_files_too_long_waiver_is_located_in_that_file_and_exits_3(tmp_path, policy_writer, yaml_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING))
    today = dt.datetime.now(dt.timezone.utc).date()
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [_expiring(30, today), _expiring(400, today)]})
    result = invoke("validate", "-p", policy, "--waivers", waivers)
    assert result.exit_code == 3, result.output
    err = flat(result.stderr)
    assert f"invalid waivers file {waivers}" in err
    assert (f"waivers[1].expires: {(today + dt.timedelta(days=400)).isoformat()} is 400 days after today "
            f"({today.isoformat()}); a waiver may run at most 365 days") in err
    assert "waivers[0]" not in err


def test_a_quoted_longer_max_waiver_days_is_said_as_a_loosening(tmp_path, policy_writer, yaml_writer, child_of):
    """The schema reads max_waiver_days: "730" as 730 days, and the rule compared the raw string, as no
    number: the child's longer lifetime went unsaid."""
    policy_writer(tmp_path, policy_writer.tiny(FAILING, max_waiver_days=90), filename="base.yaml")
    quoted = yaml_writer(tmp_path, "quoted.yaml", child_of("base.yaml", max_waiver_days="730"))
    loaded = load_policy(quoted, today=TODAY)
    assert loaded.policy.max_waiver_days == 730
    assert loaded.weakened == ["waivers: max_waiver_days loosens every gate a waiver accepts: 90 -> 730, a waiver may "
                               "stand longer before it is reviewed"]
    shorter = yaml_writer(tmp_path, "shorter.yaml", child_of("base.yaml", max_waiver_days="30"))
    assert load_policy(shorter, today=TODAY).weakened == []


# --- a waiver's approval date -------------------------------------------------------------------------------


def _approved(approved_days: int, expires_days: int, today: dt.date = TODAY) -> dict:
    return {**_expiring(expires_days, today), "approved": (today + dt.timedelta(days=approved_days)).isoformat()}


def test_an_approved_waivers_lifetime_counts_from_its_approval_not_from_the_day_it_is_read(tmp_path, policy_writer):
    """Counted from the day the policy was read, a waiver approved long ago was renewed by every reading:
    with an approval date, expires - approved is bounded; the last day it allows is itself allowed."""
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[_approved(-100, 265), _approved(-100, 266)]))
    with pytest.raises(PolicyError) as info:
        load_policy(policy, today=TODAY)
    assert [(p.location, p.message) for p in info.value.problems] == [(
        "waivers[1].expires", "2027-08-15 is 366 days after its approval (2026-08-14); a waiver may run at most 365 days "
                              "(the default; a policy's max_waiver_days may set up to 3650), so that it is reviewed at "
                              "least that often: set expires on or before 2027-08-14, or approve it again (a later "
                              "approved date)")]
    # read a year later, the same policy still fails: the day of reading no longer renews it
    with pytest.raises(PolicyError):
        load_policy(policy, today=TODAY + dt.timedelta(days=200))
    ok = policy_writer(tmp_path / "ok", policy_writer.tiny(FAILING, max_waiver_days=90, waivers=[_approved(-30, 60)]))
    [w] = load_policy(ok, today=TODAY).waivers
    assert w.waiver.approved == dt.date(2026, 10, 23) and w.waiver.expires == dt.date(2027, 1, 21)
    stale = policy_writer(tmp_path / "stale", policy_writer.tiny(FAILING, max_waiver_days=90, waivers=[_approved(-30, 61)]))
    with pytest.raises(PolicyError) as info:
        load_policy(stale, today=TODAY)
    assert [p.location for p in info.value.problems] == ["waivers[0].expires"]
    assert "91 days after its approval (2026-10-23)" in info.value.problems[0].message


def test_an_approval_in_the_future_or_after_the_expiry_is_located_at_approved(tmp_path, policy_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[
        _approved(1, 30), {**_approved(0, 0), "approved": "2020-02-01", "expires": "2020-01-31"}, _approved(0, 0),
        _approved(5, 400)]))
    with pytest.raises(PolicyError) as info:
        load_policy(policy, today=TODAY)
    assert [(p.location, p.message) for p in info.value.problems] == [
        ("waivers[0].approved", "2026-11-23 is in the future (today is 2026-11-22, a UTC day): a waiver records the day "
                                "it was approved, on or before the day the policy is read"),
        ("waivers[1].approved", "2020-02-01 is after the waiver's expiry (2020-01-31): a waiver is approved on or before "
                                "the last day it applies"),
        ("waivers[3].approved", "2026-11-27 is in the future (today is 2026-11-22, a UTC day): a waiver records the day "
                                "it was approved, on or before the day the policy is read"),
        # an approval that does not stand is no date to count from: the lifetime counts from today, said at once
        ("waivers[3].expires", "2027-12-27 is 400 days after today (2026-11-22); a waiver may run at most 365 days (the "
                               "default; a policy's max_waiver_days may set up to 3650), so that it is reviewed at least "
                               "that often: set expires on or before 2027-11-22")]


@pytest.mark.parametrize("value", [20260101, "2026-13-01", "2026-01-01T10:00:00"])
def test_an_approval_that_is_not_a_date_is_located(tmp_path, policy_writer, value):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, waivers=[{**_expiring(30), "approved": value}]))
    with pytest.raises(PolicyError) as info:
        load_policy(policy, today=TODAY)
    [problem] = info.value.problems
    assert problem.location == "waivers[0].approved" and "expected a date, YYYY-MM-DD" in problem.message


def test_a_waivers_files_bad_approval_exits_3_located_in_that_file_and_validate_lists_the_date(
        tmp_path, policy_writer, yaml_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING))
    today = dt.datetime.now(dt.timezone.utc).date()
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [_approved(-10, 30, today), _approved(3, 30, today)]})
    result = invoke("validate", "-p", policy, "--waivers", waivers)
    assert result.exit_code == 3, result.output
    err = flat(result.stderr)
    assert f"invalid waivers file {waivers}" in err
    assert f"waivers[1].approved: {(today + dt.timedelta(days=3)).isoformat()} is in the future" in err
    assert "waivers[0]" not in err
    good = yaml_writer(tmp_path, "good.yaml", {"waivers": [_approved(-10, 30, today)]})
    result = invoke("validate", "-p", policy, "--waivers", good)
    assert result.exit_code == 0, result.output
    assert (f"valid until {(today + dt.timedelta(days=30)).isoformat()}, approved "
            f"{(today - dt.timedelta(days=10)).isoformat()}") in flat(result.stdout)


def test_the_approval_date_is_recorded_with_the_waiver_and_in_its_notes():
    approved = waiver(expires=TODAY + dt.timedelta(days=9), approved=dt.date(2026, 11, 1))
    [c] = apply_waivers([result(Status.FAIL)], [approved], TODAY)
    assert c.waiver.approved == "2026-11-01" and c.waiver.expires == "2026-12-01"
    assert c.notes == ["FAIL waived by Head of MRM (approved 2026-11-01) until 2026-12-01: accepted: known gap"]
    [old] = apply_waivers([result(Status.FAIL)], [waiver(expires=TODAY + dt.timedelta(days=9))], TODAY)
    assert old.waiver.approved is None and "approved" not in old.notes[0]


def test_run_with_an_approved_waiver_shows_its_approval_everywhere(failing, yaml_writer, tmp_path):
    """result.json's waiver records carry ``approved``; the terminal, the report's waiver table and the
    check's section show it. A result.json written before the field existed still renders."""
    today = dt.datetime.now(dt.timezone.utc).date()
    approved, until = (today - dt.timedelta(days=3)).isoformat(), (today + dt.timedelta(days=30)).isoformat()
    waivers = yaml_writer(tmp_path, "waivers.yaml", {"waivers": [
        {"check": "card_completeness", "justification": "Card rewrite due in Q1", "approver": "Jane Doe",
         "expires": until, "approved": approved}]})
    result = run(failing, waivers, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert f"card_completeness: FAIL waived by Jane Doe (approved {approved}) until {until}" in flat(result.stdout)
    run_dir = tmp_path / "out" / "tiny-model" / "v0001"
    data = json.loads((run_dir / "result.json").read_text())
    card = next(c for c in data["checks"] if c["id"] == "card_completeness")
    assert card["waiver"]["approved"] == approved and data["traceability"]["waivers"][0]["approved"] == approved
    html = flat((run_dir / "report.html").read_text())
    assert f"<th>Approved</th><th>Expires</th>" in html and f"<td>{approved}</td> <td>{until}</td>" in html
    assert f"is accepted by Jane Doe (approved {approved}) until {until}" in html
    from auditor.render.html import render_html
    from auditor.render.junit import junit_xml
    from auditor.render.run_json import run_summary
    from auditor.results import AuditResult

    full = AuditResult.model_validate(data)
    assert f"approved by Jane Doe on {approved}, expires {until}" in junit_xml(full).decode()
    said = next(c for c in run_summary(full, run_dir, 0)["checks"] if c["id"] == "card_completeness")
    assert said["waiver"]["approved"] == approved
    # a run written before waivers had an approval date: its records lack the field, and still render
    for record in [card["waiver"], *data["traceability"]["waivers"]]:
        del record["approved"]
    old = AuditResult.model_validate(data)
    assert old.traceability.waivers[0].approved is None
    assert f"<td>Jane Doe</td> <td>—</td> <td>{until}</td>" in flat(render_html(old))


@pytest.mark.parametrize("value", ["1e2", "abc", "1.5", 2.5, "0", 3651])
def test_max_waiver_days_that_is_no_whole_number_of_days_is_a_located_error_saying_what_is_accepted(
        tmp_path, policy_writer, yaml_writer, child_of, value):
    """max_waiver_days: "1e2" (or "abc") got pydantic's "Input should be a valid integer, unable to parse
    string as an integer". `validate` exits 3 naming the file, the field, the value and what is accepted,
    whether the value is in the named file or in the parent it extends; a quoted "730" is still 730 days."""
    accepted = "expected a whole number of days from 1 to 3650"
    policy_writer(tmp_path, policy_writer.tiny(FAILING), filename="base.yaml")
    child = yaml_writer(tmp_path, "child.yaml", child_of("base.yaml", max_waiver_days=value))
    res = invoke("validate", "-p", child)
    assert res.exit_code == 3, res.output
    assert f"invalid policy {child} (1 problem): - max_waiver_days: Value error, {accepted}, such as 365; got {value!r}" \
        in flat(res.stderr), res.stderr
    bad_parent = policy_writer(tmp_path, policy_writer.tiny(FAILING, max_waiver_days=value), filename="bad-base.yaml")
    res = invoke("validate", "-p", yaml_writer(tmp_path, "of-bad.yaml", child_of("bad-base.yaml")))
    assert res.exit_code == 3 and f"{bad_parent}:max_waiver_days: Value error, {accepted}" in flat(res.stderr), res.stderr


@pytest.mark.parametrize("value", ["1e2", "abc", 0, 36_501])
def test_reaudit_interval_days_that_is_no_whole_number_of_days_says_what_is_accepted(tmp_path, policy_writer, value):
    """The policy's other number of days had the same generic message: its bound is 100 years."""
    policy = policy_writer(tmp_path, policy_writer.tiny(FAILING, reaudit_interval_days=value))
    with pytest.raises(PolicyError) as info:
        load_policy(policy)
    assert [(p.location, p.message) for p in info.value.problems] == [
        ("reaudit_interval_days", f"Value error, expected a whole number of days from 1 to 36500, such as 365; got {value!r}"
         + (" (write the digits alone: no exponent, sign, decimals or unit)" if isinstance(value, str) else ""))]
    assert load_policy(policy_writer(tmp_path, policy_writer.tiny(FAILING, reaudit_interval_days="90"))) \
        .policy.reaudit_interval_days == 90
