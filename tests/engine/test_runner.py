"""The runner: failures isolated as ERROR, time budgets enforced, thresholds judged, worst status wins."""

from __future__ import annotations

import time

import pytest

import auditor
from auditor.checks import CHECK_REGISTRY, Check, CheckOutput, Params
from auditor.checks.base import NON_NEGATIVE, SIGNED_UNIT, UNIT
from auditor.errors import CheckNotApplicable
from auditor.policy import CheckSpec, Threshold, load_policy
from auditor.results import Status, ThresholdOutcome, worst
from auditor.models.base import Capability
from auditor.engine.runner import PlannedCheck, build_plan, run_check, run_plan
from auditor.policy.thresholds import evaluate, status_of


class Boom(Check):
    name = "boom"
    title = "Always crashes"
    description = "A check that raises."

    @classmethod
    def measurement_names(cls, params):
        return ["value"]

    def run(self, ctx):
        raise ZeroDivisionError("the check divided by zero on purpose")


class Slow(Check):
    name = "slow"
    title = "Takes too long"
    description = "A check that outlives its budget."

    @classmethod
    def measurement_names(cls, params):
        return ["value"]

    def run(self, ctx):
        deadline = time.monotonic() + 5  # without the budget it would end (PASS) after 5 s, never hang
        while time.monotonic() < deadline:
            time.sleep(0.01)
        return CheckOutput(measurements={"value": 1.0})


class Fixed(Check):
    """Reports the measurements it is given in its params (``values``)."""

    name = "fixed"
    title = "Fixed measurements"
    description = "Returns given measurements."

    class Params(Params):
        values: dict[str, float | None] = {}

    ranges = {"a": UNIT, "b": SIGNED_UNIT, "c": NON_NEGATIVE}

    @classmethod
    def measurement_names(cls, params):
        return ["a", "b", "c"]

    def run(self, ctx):
        return CheckOutput(measurements=dict(self.params.values), summary="fixed", key_figure="k")


class NotForThis(Check):
    name = "not_for_this"
    title = "Text only"
    description = "Needs attention weights, which tabular models do not have."
    requires = frozenset({Capability.ATTENTIONS})

    @classmethod
    def measurement_names(cls, params):
        return []

    def run(self, ctx):  # pragma: no cover - never runs on a tabular model
        raise AssertionError("should have been skipped")


class NotApplicable(Check):
    name = "not_applicable"
    title = "Finds out at run time"
    description = "Raises CheckNotApplicable."

    @classmethod
    def measurement_names(cls, params):
        return []

    def run(self, ctx):
        raise CheckNotApplicable("nothing to do for this model")


@pytest.fixture
def registry(monkeypatch):
    for cls in (Boom, Slow, Fixed, NotForThis, NotApplicable):
        monkeypatch.setitem(CHECK_REGISTRY, cls.name, cls)
    return CHECK_REGISTRY


def planned(check: str, params=None, thresholds=(), **spec) -> PlannedCheck:
    cls = CHECK_REGISTRY[check]
    return PlannedCheck(spec=CheckSpec(check=check, thresholds=list(thresholds), **spec),
                        params=cls.Params.model_validate(params or {}))


# --- thresholds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bounds, observed, passed", [
    ({"min": 0.5}, 0.6, True),
    ({"min": 0.5}, 0.5, True),  # bounds are inclusive
    ({"min": 0.5}, 0.4, False),
    ({"max": 0.1}, 0.2, False),
    ({"max": 0.1}, -3.0, True),
    ({"min": 0.0, "max": 1.0}, 1.0, True),
    ({"min": 0.0, "max": 1.0}, 1.5, False),
    ({"min": 0.5}, None, False),  # measured nothing: not a passed gate
    ({"min": 0.5}, float("nan"), False),
])
def test_threshold_evaluation(bounds, observed, passed):
    [outcome] = evaluate([Threshold(measurement="m", **bounds)], {"m": observed})
    assert outcome.passed is passed
    assert outcome.observed == (None if observed is None or observed != observed else observed)
    assert (outcome.min, outcome.max) == (bounds.get("min"), bounds.get("max"))


def test_a_threshold_on_an_absent_measurement_does_not_pass():
    [outcome] = evaluate([Threshold(measurement="absent", min=0)], {"other": 1.0})
    assert outcome == ThresholdOutcome(measurement="absent", observed=None, min=0, max=None, severity="fail",
                                       passed=False)


def _outcome(passed: bool, severity: str) -> ThresholdOutcome:
    return ThresholdOutcome(measurement="m", observed=1.0, severity=severity, passed=passed)


@pytest.mark.parametrize("outcomes, status", [
    ([], Status.PASS),
    ([(True, "fail"), (True, "warn")], Status.PASS),
    ([(False, "warn")], Status.WARN),
    ([(False, "fail")], Status.FAIL),
    ([(False, "warn"), (False, "fail"), (True, "fail")], Status.FAIL),
])
def test_severity_decides_the_status(outcomes, status):
    assert status_of([_outcome(p, s) for p, s in outcomes]) is status


@pytest.mark.parametrize("statuses, expected", [
    ([], Status.SKIPPED),
    ([Status.SKIPPED, Status.PASS], Status.PASS),
    ([Status.PASS, Status.WARN, Status.PASS], Status.WARN),
    ([Status.WARN, Status.FAIL], Status.FAIL),
    ([Status.FAIL, Status.ERROR, Status.WARN], Status.ERROR),
])
def test_overall_status_is_the_worst(statuses, expected):
    assert worst(statuses) is expected


def test_run_check_judges_measurements(registry):
    check = planned("fixed", {"values": {"a": 0.9, "b": 0.05, "c": float("nan")}}, thresholds=[
        Threshold(measurement="a", min=0.8),
        Threshold(measurement="b", max=0.01, severity="warn"),
        Threshold(measurement="c", min=0, severity="warn"),
    ])
    result = run_check(check, ctx=None)
    assert result.status is Status.WARN
    assert result.measurements == {"a": 0.9, "b": 0.05, "c": None}  # NaN is stored as null
    assert [(o.measurement, o.passed) for o in result.thresholds] == [("a", True), ("b", False), ("c", False)]
    # the missed gate is named after the check's own summary (c, not judged, is not "missed")
    assert (result.summary, result.key_figure, result.title) == ("fixed Not met: b 0.05 (max 0.01).", "k",
                                                                 "Fixed measurements")


def test_fail_severity_gives_fail(registry):
    check = planned("fixed", {"values": {"a": 0.1}}, thresholds=[Threshold(measurement="a", min=0.8, severity="fail"),
                                                                  Threshold(measurement="b", min=0, severity="warn")])
    result = run_check(check, ctx=None)
    assert result.status is Status.FAIL
    assert [o.observed for o in result.thresholds] == [0.1, None]


# --- isolation ------------------------------------------------------------------------------------


def test_a_crashing_check_is_an_error_and_the_rest_still_run(registry):
    results = run_plan([planned("boom"), planned("fixed", {"values": {"a": 1.0}}), planned("not_applicable")], ctx=None)
    assert [r.status for r in results] == [Status.ERROR, Status.PASS, Status.SKIPPED]
    error = results[0].error
    assert (error.type, error.message) == ("ZeroDivisionError", "the check divided by zero on purpose")
    assert "ZeroDivisionError" in error.traceback
    assert results[2].skipped_reason == "nothing to do for this model"


def test_monkeypatched_run_of_a_real_check_becomes_an_error(monkeypatch):
    from auditor.checks.card_completeness import CardCompleteness

    def broken(self, ctx):
        raise KeyError("card field")

    monkeypatch.setattr(CardCompleteness, "run", broken)
    [result] = run_plan([planned("card_completeness")], ctx=None)
    assert result.status is Status.ERROR
    assert (result.error.type, result.error.message) == ("KeyError", "'card field'")


def test_time_budget_stops_a_slow_check(registry):
    result = run_check(planned("slow", {"time_budget_s": 0.2}), ctx=None)
    assert result.status is Status.ERROR
    assert result.error.type == "CheckTimeout"
    assert result.error.message == "the check ran past its time budget of 0.2 s and was stopped"


def test_plan_skips_checks_that_do_not_apply(tmp_path, policy_writer, registry):
    loaded = load_policy(policy_writer(tmp_path, policy_writer.tiny([{"check": "not_for_this"}, {"check": "performance"}])))
    plan = build_plan(loaded, "tabular-classification")
    assert [p.skip_reason for p in plan] == ["needs attentions, which a scikit-learn tabular classifier does not offer", None]
    [skipped] = run_plan(plan[:1], ctx=None)
    assert skipped.status is Status.SKIPPED
    assert skipped.skipped_reason == "needs attentions, which a scikit-learn tabular classifier does not offer"


def test_audit_goes_on_and_the_report_renders(tmp_path, artefacts, pipeline_card, policy_writer, registry):
    checks = [
        {"check": "boom"},
        {"check": "slow", "params": {"time_budget_s": 0.3}},
        {"check": "not_for_this"},
        {"check": "card_completeness",
         "thresholds": [{"measurement": "missing_fields", "max": 0, "severity": "warn"},
                        {"measurement": "completeness", "min": 0.99, "severity": "warn"}]},
    ]
    policy = policy_writer(tmp_path, policy_writer.tiny(checks))
    record = auditor.run_audit(policy, pipeline_card, artefacts.csv, tmp_path / "out")
    statuses = {c.id: c.status for c in record.result.checks}
    assert statuses == {"boom": Status.ERROR, "slow": Status.ERROR, "not_for_this": Status.SKIPPED,
                        "card_completeness": Status.PASS}
    assert record.status is Status.ERROR
    by_id = {c.id: c for c in record.result.checks}
    assert by_id["slow"].error.message == "the check ran past its time budget of 0.3 s and was stopped"
    html = (record.path / "report.html").read_text(encoding="utf-8")
    assert "ZeroDivisionError: the check divided by zero on purpose" in html
    assert "time budget of 0.3 s" in html
    assert "needs attentions, which a scikit-learn tabular classifier does not offer" in html
    assert (record.path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_the_gates_a_check_missed_are_named_beside_its_key_figure():
    """explanation_stability warned on lime's seed agreement 0.41 while its summary and key figure gave
    shap's passing 0.93: the missed gates are named (a gate not judged, an info one and a pass are not)."""
    from auditor.policy.thresholds import not_met
    from auditor.results import ThresholdOutcome

    outcomes = [
        ThresholdOutcome(measurement="lime_seed_weighted_topk_agreement", observed=0.4123, min=0.6, severity="warn", passed=False),
        ThresholdOutcome(measurement="shap_ris_log10_median", observed=1.72, max=1.5, severity="fail", passed=False),
        ThresholdOutcome(measurement="shap_seed_weighted_topk_agreement", observed=0.93, min=0.6, severity="warn", passed=True),
        ThresholdOutcome(measurement="x_info", observed=0.1, min=0.6, severity="info", passed=False),
        ThresholdOutcome(measurement="y_small", observed=0.1, min=0.6, severity="warn", passed=False, unreachable="n = 2"),
    ]
    assert not_met(outcomes) == ["lime_seed_weighted_topk_agreement 0.412 (min 0.6)", "shap_ris_log10_median 1.72 (max 1.5)"]
    # within its bound and still no pass (a lower end at 0 that tied pairs put there): said, never a crash
    tied = ThresholdOutcome(measurement="gap_ci_low", observed=0.0, min=0.0, severity="warn", passed=False)
    assert not_met([tied]) == ["gap_ci_low 0 (min 0; not a pass on its evidence)"]
    # a negative value and bound carry the report's minus sign, as the key figure beside them does
    # (the terminal read "weighted rank ρ −0.12 …; not met: min_weighted_rank_correlation -0.121 (min 0.3)")
    below = ThresholdOutcome(measurement="rho", observed=-0.1206, min=-0.05, severity="warn", passed=False)
    assert not_met([below]) == ["rho \u22120.121 (min \u22120.05)"]
    # a value that rounds onto its bound shows the digits that put it on the failing side (HMDA: LIME's
    # faithfulness correlation 0.29994 read "lime_faithfulness_correlation 0.3 (min 0.3)", a pass to the eye)
    just = ThresholdOutcome(measurement="lime_faithfulness_correlation", observed=0.2999443736966071, min=0.3,
                            severity="warn", passed=False)
    assert not_met([just]) == ["lime_faithfulness_correlation 0.2999 (min 0.3)"]
    over = ThresholdOutcome(measurement="p", observed=0.05004, max=0.05, severity="warn", passed=False)
    assert not_met([over]) == ["p 0.05004 (max 0.05)"]


def declared_range(check: str, measurement: str, params=None):
    """The range ``check`` declares for ``measurement`` under ``params`` (default parameters)."""
    cls = CHECK_REGISTRY[check]
    return cls.measurement_ranges(cls.Params.model_validate(params or {}))[measurement]


@pytest.mark.parametrize("check, threshold, said", [
    ("performance", Threshold(measurement="roc_auc_ci_low", min=0.0),
     "roc_auc_ci_low lies in [0, 1], so min 0 is met by every value: the gate cannot fail"),
    ("explanation_faithfulness", Threshold(measurement="shap_deletion_auc_p_value", max=1),
     "shap_deletion_auc_p_value lies in [0, 1], so max 1 is met by every value: the gate cannot fail"),
    ("explainer_agreement", Threshold(measurement="min_weighted_rank_correlation", min=-1.0),
     "min_weighted_rank_correlation lies in [-1, 1], so min -1 is met by every value: the gate cannot fail"),
    ("performance", Threshold(measurement="accuracy_ci_low", min=1.5, severity="warn"),
     "accuracy_ci_low lies in [0, 1], so a bound of min 1.5 is never met: the gate cannot pass"),
    ("explainer_agreement", Threshold(measurement="shap__lime_feature_agreement", max=-0.1),
     "shap__lime_feature_agreement lies in [0, 1], so a bound of max -0.1 is never met: the gate cannot pass"),
])
def test_a_gate_no_value_of_its_measurement_can_fail_or_pass_is_said(check, threshold, said):
    """A gate that cannot fail is a check that cannot fail: roc_auc_ci_low min 0 (or a p-value's max 1)
    passes every model. The range is the one the check declares for the measurement."""
    from auditor.policy.thresholds import hollow_gate

    assert hollow_gate(threshold, declared_range(check, threshold.measurement)) == said


@pytest.mark.parametrize("threshold, said", [
    (Threshold(measurement="a", min=0.0), "The policy's gate on a lies in [0, 1], so min 0 is met by every value: the "
                                          "gate cannot fail; it judges nothing of the model."),
    (Threshold(measurement="c", max=-1.0, severity="warn"), "The policy's gate on c lies in [0, ∞), so a bound of max -1 "
                                                           "is never met: the gate cannot pass; it judges nothing of the model."),
])
def test_the_run_notes_a_gate_that_judges_nothing(registry, threshold, said):
    """The run's check says so in its notes, by the ranges the check declares (Fixed's: a in [0, 1], c in [0, ∞))."""
    result = run_check(planned("fixed", {"values": {"a": 0.51, "c": 2.0}}, thresholds=[threshold]), ctx=None)
    assert result.notes == [said]


@pytest.mark.parametrize("check, threshold", [
    ("performance", Threshold(measurement="roc_auc_ci_low", min=0.7)),
    ("explanation_faithfulness", Threshold(measurement="shap_deletion_auc_p_value", max=0.05)),
    # a difference of deletion AUCs, which follow a regressor's output: no end on any model kind, nothing said
    ("explanation_faithfulness", Threshold(measurement="shap_deletion_auc_gap_ci_low", min=-5)),
    ("performance", Threshold(measurement="roc_auc_ci_low", min=0.0, severity="info")),  # judges nothing anyway
    ("subgroup_fairness", Threshold(measurement="selection_rate_difference_p_value", min=0.05)),
])
def test_a_gate_that_can_go_either_way_is_not_hollow(check, threshold):
    from auditor.policy.thresholds import hollow_gate

    assert hollow_gate(threshold, declared_range(check, threshold.measurement)) is None


def test_a_gate_whose_range_is_not_declared_is_not_judged_hollow():
    from auditor.policy.thresholds import hollow_gate

    assert hollow_gate(Threshold(measurement="roc_auc_ci_low", min=0.0), None) is None


def test_no_built_in_policy_has_a_hollow_gate():
    from auditor.policy import builtin_policies
    from auditor.policy.thresholds import hollow_gates

    hollow = []
    for name in builtin_policies():
        loaded = load_policy(name)
        hollow += [(name, c.check_id, said) for c, params in zip(loaded.policy.checks, loaded.params)
                   for said in hollow_gates(CHECK_REGISTRY[c.check].measurement_ranges(params), c.thresholds)]
    assert hollow == []


def test_validate_warns_of_a_hollow_gate(tmp_path):
    from typer.testing import CliRunner

    from auditor.cli import app

    policy = tmp_path / "hollow.yaml"
    policy.write_text('schema_version: 1\nname: hollow\nversion: "1"\nextends: default\nchecks:\n  - id: performance\n'
                      "    thresholds:\n      - {measurement: roc_auc_ci_low, min: 0.0}\n")
    result = CliRunner().invoke(app, ["validate", "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert ("warning: performance: roc_auc_ci_low lies in [0, 1], so min 0 is met by every value: the gate cannot fail"
            in " ".join(result.stdout.split()))


def test_n_instances_beyond_the_data_is_said(registry):
    """The report recorded n_instances: 500 while 40 rows were explained, saying nothing of it."""
    from types import SimpleNamespace

    class Counted(Fixed):
        class Params(Fixed.Params):
            n_instances: int = 10

    CHECK_REGISTRY["fixed"] = Counted
    ctx = SimpleNamespace(data=[0] * 40)
    result = run_check(planned("fixed", {"values": {"a": 1.0}, "n_instances": 500}), ctx=ctx)
    assert "The policy asks for n_instances 500; the evaluation set has 40 rows, so at most 40 were used." in result.notes
    result = run_check(planned("fixed", {"values": {"a": 1.0}, "n_instances": 40}), ctx=ctx)
    assert not [n for n in result.notes if "n_instances" in n]
