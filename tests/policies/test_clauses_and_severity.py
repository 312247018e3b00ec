"""Clause references (one format per framework, unknown framework located), the catalogue behind
"not covered", and severities: blocking (fail) / warning (warn) / info (recorded only)."""

from __future__ import annotations

import pytest

from auditor.policy.clauses import CATALOGUE, FRAMEWORKS, canonical, clause_problem, covers, not_covered, paraphrase
from auditor.errors import PolicyError
from auditor.policy import Threshold, load_policy
from auditor.results import Status
from auditor.policy.thresholds import evaluate, status_of

VALID = [
    "eu-ai-act:2024/1689:art-13(3)(b)(iv)", "eu-ai-act:2024/1689:art-9(8)", "eu-ai-act:2024/1689:art-86(1)",
    "eu-ai-act:2024/1689:annex-iv(2)(g)", "eu-ai-act:2024/1689:annex-iv(4)", "eu-ai-act:2024/1689:recital-27",
    "nist-ai-rmf:1.0:MEASURE-2.9", "nist-ai-rmf:1.0:MAP-2.3", "nist-ai-rmf:1.0:GOVERN-1",
    "nistir-8312:2021:explanation-accuracy",
    "iso-42001:2023:A.6.2.4", "iso-42001:2023:A.10.3", "iso-42001:2023:9.1",
    "gdpr:art-22(3)", "gdpr:art-15(1)(h)", "gdpr:recital-71",
    "sr-11-7:2011:V.1", "sr-11-7:2011:VI",
]
INVALID = {
    "eu-ai-act:art-13": "not a valid eu-ai-act reference",
    "eu-ai-act:2024/1689:article-13": "not a valid eu-ai-act reference",
    "eu-ai-act:2024/1689:art-13(3)(B)": "not a valid eu-ai-act reference",
    "nist-ai-rmf:1.0:measure-2.9": "not a valid nist-ai-rmf reference",
    "nist-ai-rmf:1.1:MEASURE-2.9": "not a valid nist-ai-rmf reference",
    "iso-42001:2023:A.11.1": "not a valid iso-42001 reference",
    "gdpr:2016/679:art-22(3)": "not a valid gdpr reference",
    "sr-11-7:2011:V.1-conceptual-soundness": "not a valid sr-11-7 reference",
    "hipaa:164.312": "unknown framework 'hipaa'",
    "art-13": "expected <framework>:<version>:<reference>",
}


@pytest.mark.parametrize("clause", VALID)
def test_valid_clauses(clause):
    assert clause_problem(clause) is None


@pytest.mark.parametrize("clause, fragment", INVALID.items())
def test_invalid_clauses(clause, fragment):
    assert fragment in clause_problem(clause)


def test_every_catalogued_clause_is_valid_and_paraphrased():
    for framework, entries in CATALOGUE.items():
        assert framework in FRAMEWORKS
        for reference, text in entries:
            clause = canonical(framework, reference)
            assert clause_problem(clause) is None, clause
            assert paraphrase(clause) == text and text.endswith(".")


def test_coverage_is_by_clause_or_sub_clause():
    assert covers("art-13(3)(b)(iv)", "art-13(3)(b)")
    assert not covers("art-13(3)(b)", "art-13(3)(b)(iv)")  # a coarser citation does not cover the finer part
    assert not covers("art-1(1)", "art-13(1)")
    assert not covers("MEASURE-2.13", "MEASURE-2.1")
    assert paraphrase("eu-ai-act:2024/1689:art-86(1)(a)") == paraphrase("eu-ai-act:2024/1689:art-86(1)")
    left = dict(not_covered("sr-11-7", ["sr-11-7:2011:V.1", "sr-11-7:2011:V.3", "eu-ai-act:2024/1689:art-9(8)"]))
    assert list(left) == ["sr-11-7:2011:IV", "sr-11-7:2011:V.2", "sr-11-7:2011:VI"]


def test_clause_problems_are_located(tmp_path, policy_writer):
    checks = [{"check": "performance", "clauses": ["gdpr:art-22(3)", "hipaa:164.312", "eu-ai-act:art-13"]}]
    path = policy_writer(tmp_path, policy_writer.tiny(checks, clauses=["nist-ai-rmf:1.0:MEASURE-9.x"],
                                                      frameworks=["eu-ai-act", "ccpa"]))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    problems = {p.location: p.message for p in info.value.problems}
    assert set(problems) == {"checks[0].clauses[1]", "checks[0].clauses[2]", "clauses[0]", "frameworks[1]"}
    assert problems["checks[0].clauses[1]"].startswith("Value error, unknown framework 'hipaa'; known: eu-ai-act")
    assert "known: eu-ai-act" in problems["frameworks[1]"]


def test_a_framework_or_clause_listed_twice_is_refused(tmp_path, policy_writer):
    # frameworks: [gdpr, gdpr] listed each uncovered GDPR clause twice in the report (and counted 12 of
    # its 6 on the cover); a clause a check cites twice named that check twice in its matrix row
    checks = [{"check": "performance", "clauses": ["gdpr:art-22(3)", "gdpr:art-22(3)"]}]
    path = policy_writer(tmp_path, policy_writer.tiny(checks, clauses=["gdpr:art-5(2)", "gdpr:art-5(2)"],
                                                      frameworks=["gdpr", "eu-ai-act", "gdpr"]))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    problems = {p.location: p.message for p in info.value.problems}
    assert problems == {"checks[0].clauses": "Value error, 'gdpr:art-22(3)' listed more than once",
                        "clauses": "Value error, 'gdpr:art-5(2)' listed more than once",
                        "frameworks": "Value error, 'gdpr' listed more than once"}


# --- severity -------------------------------------------------------------------------------------------


def test_severity_names_and_aliases():
    assert Threshold(measurement="m", min=0, severity="blocking").severity == "fail"
    assert Threshold(measurement="m", min=0, severity="warning").severity == "warn"
    assert Threshold(measurement="m", min=0, severity="info").severity == "info"
    assert Threshold(measurement="m", min=0).severity == "fail"


@pytest.mark.parametrize("severities, status", [
    (["info"], Status.PASS), (["info", "warn"], Status.WARN), (["info", "warn", "fail"], Status.FAIL),
])
def test_info_is_recorded_and_never_changes_the_status(severities, status):
    thresholds = [Threshold(measurement=f"m{i}", min=1.0, severity=s, rationale=f"why {s}") for i, s in enumerate(severities)]
    outcomes = evaluate(thresholds, {f"m{i}": 0.0 for i in range(len(severities))})
    assert [o.passed for o in outcomes] == [False] * len(severities)
    assert [o.rationale for o in outcomes] == [f"why {s}" for s in severities]
    assert status_of(outcomes) == status


def test_per_check_tasks_skip_with_a_reason(tmp_path, policy_writer):
    from auditor.engine.runner import build_plan

    checks = [{"check": "performance", "tasks": ["text-classification"]}, {"check": "card_completeness"}]
    plan = build_plan(load_policy(policy_writer(tmp_path, policy_writer.tiny(checks))), "tabular-classification")
    assert [p.skip_reason for p in plan] == ["the policy applies this check to text-classification models only", None]


def test_a_threshold_for_a_task_its_check_never_runs_on_is_refused(tmp_path, policy_writer):
    """A threshold scoped to regressors on a check the policy runs on classifiers only would never
    judge anything: a located policy error (exit 3), not a silent no-op."""
    gate = {"measurement": "roc_auc", "min": 0.7, "tasks": ["tabular-regression"]}
    checks = [{"check": "performance", "tasks": ["tabular-classification"], "thresholds": [gate]}]
    with pytest.raises(PolicyError) as info:
        load_policy(policy_writer(tmp_path, policy_writer.tiny(checks)))
    assert info.value.exit_code == 3
    [problem] = info.value.problems
    assert problem.location.endswith("checks[0].thresholds[0].tasks")
    assert "judges tabular-regression models" in problem.message and "never be applied" in problem.message
    # the same threshold on an entry that runs on both tasks is fine
    checks[0]["tasks"] = ["tabular-classification", "tabular-regression"]
    load_policy(policy_writer(tmp_path, policy_writer.tiny(checks), filename="ok.yaml"))


def test_an_infinite_measurement_never_meets_a_gate():
    """+inf met a min bound of any size and -inf a max bound, and result.json recorded the value as null
    beside passed: true."""
    from auditor.policy.schema import Threshold
    from auditor.policy.thresholds import evaluate

    low, high = Threshold(measurement="m", min=0.5), Threshold(measurement="m", max=0.5)
    for value in (float("inf"), float("-inf"), float("nan"), None):
        outcomes = evaluate([low, high], {"m": value})
        assert [o.passed for o in outcomes] == [False, False] and all(o.observed is None for o in outcomes), value
    assert [o.passed for o in evaluate([low, high], {"m": 0.5})] == [True, True]
