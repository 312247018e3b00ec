"""Policies: every problem listed at once with its location; built-ins load by name."""

from __future__ import annotations

import pytest

from auditor.checks import CHECK_REGISTRY
from auditor.errors import PolicyError, UsageError
from auditor.policy import builtin_policies, builtin_policy_dir, load_policy

HEADER = "schema_version: 1\nname: p\nversion: '1'\n"


def problems_of(tmp_path, policy_writer, text: str) -> dict[str, str]:
    path = policy_writer(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    err = info.value
    assert err.source == str(path)
    return {p.location: p.message for p in err.problems}


def test_tiny_policy_loads(tmp_path, policy_writer):
    loaded = load_policy(policy_writer(tmp_path))
    assert loaded.policy.name == "tiny"
    assert [c.check_id for c in loaded.policy.checks] == ["performance", "card_completeness", "global_importance",
                                                         "local_explanations"]
    assert loaded.params[0].n_bootstrap == 100
    assert loaded.params[2].n_repeats == 2
    assert len(loaded.sha256) == 64


def test_structural_problems_are_all_listed_with_locations(tmp_path, policy_writer):
    text = HEADER + """\
seed: abc
colour: red
checks:
  - check: performance
    thresholds:
      - {measurement: accuracy, min: 0.9, max: 0.1}
      - {measurement: accuracy}
      - {measurement: accuracy, min: 0.5, severity: fatal}
  - check: performance
    params: 3
"""
    problems = problems_of(tmp_path, policy_writer, text)
    assert problems == {
        "seed": 'Value error, "abc" is not a whole number (give e.g. 0; write the digits alone: no exponent, sign, decimals or unit)',
        "colour": "unknown key",
        "checks[0].thresholds[0]": "Value error, min (0.9) is greater than max (0.1)",
        "checks[0].thresholds[1]": "Value error, a threshold needs min, max or both",
        "checks[0].thresholds[2].severity": "Value error, unknown severity; use blocking (or fail), warning (or warn) or info",
        "checks[1].params": "Input should be a valid dictionary",
    }


def test_check_level_problems_are_all_listed_with_locations(tmp_path, policy_writer):
    text = HEADER + """\
checks:
  - check: performance
    params: {n_bootstrap: ten, bogus: 1}
  - check: global_importance
    params: {n_repeats: many}
  - check: no_such_check
  - check: card_completeness
    thresholds: [{measurement: accuracy, min: 0.5}]
  - check: card_completeness
"""
    path = policy_writer(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    problems = {p.location: p.message for p in info.value.problems}
    assert set(problems) == {
        "checks[0].params.n_bootstrap", "checks[0].params.bogus", "checks[1].params.n_repeats",
        "checks[2].check", "checks[3].thresholds[0].measurement", "checks[4].id",
    }
    assert problems["checks[0].params.bogus"] == "unknown key"
    assert problems["checks[1].params.n_repeats"] == (
        'Value error, "many" is not a whole number (give e.g. 5; write the digits alone: no exponent, sign, decimals or unit)')
    assert problems["checks[2].check"] == (
        f"unknown check 'no_such_check'; known checks: {', '.join(sorted(CHECK_REGISTRY))}"
    )
    assert problems["checks[3].thresholds[0].measurement"] == (
        "check 'card_completeness' has no measurement 'accuracy'; it declares: completeness, missing_fields"
    )
    assert problems["checks[4].id"] == "duplicate check id 'card_completeness' (also checks[3])"
    # one error, every problem in its message, each with its location
    message = str(info.value)
    assert message.startswith(f"invalid policy {path} (6 problems):")
    assert '  - checks[1].params.n_repeats: Value error, "many" is not a whole number' in message


def test_explicit_ids_make_repeated_checks_legal(tmp_path, policy_writer):
    text = HEADER + "checks:\n  - check: performance\n    id: perf-a\n  - check: performance\n    id: perf-b\n"
    loaded = load_policy(policy_writer(tmp_path, text))
    assert [c.check_id for c in loaded.policy.checks] == ["perf-a", "perf-b"]


def test_duplicate_explicit_ids(tmp_path, policy_writer):
    text = HEADER + "checks:\n  - check: performance\n    id: x\n  - check: card_completeness\n    id: x\n"
    assert problems_of(tmp_path, policy_writer, text) == {"checks[1].id": "duplicate check id 'x' (also checks[0])"}


@pytest.mark.parametrize("text, location, fragment", [
    (HEADER + "  bad: indent\n", "line 4, column 3", "expected <block end>"),
    ("schema_version: 1\n\tname: p\n", "line 2, column 1", "found character '\\t' that cannot start any token"),
])
def test_malformed_yaml_reports_line_and_column(tmp_path, policy_writer, text, location, fragment):
    problems = problems_of(tmp_path, policy_writer, text)
    assert list(problems) == [location]
    assert problems[location].startswith("malformed YAML: ")
    assert fragment in problems[location]


@pytest.mark.parametrize("text, expected", [
    ("", {"": "the policy is empty"}),
    ("# only a comment\n", {"": "the policy is empty"}),
    ("- a\n- b\n", {"": "expected a mapping at the top level, got list"}),
    ("schema_version: 2\nname: ''\nversion: '1'\nchecks: []\n", {
        "schema_version": "Input should be 1",
        "name": "String should have at least 1 character",
        "checks": "List should have at least 1 item after validation, not 0",
    }),
    ("name: p\nversion: '1'\nchecks: [{check: performance}]\n", {"schema_version": "required key is missing"}),
])
def test_empty_or_degenerate_policies(tmp_path, policy_writer, text, expected):
    assert problems_of(tmp_path, policy_writer, text) == expected


def test_unknown_explainer_is_reported(tmp_path, policy_writer):
    text = HEADER + "explainers:\n  magic: {}\nchecks:\n  - check: performance\n"
    problems = problems_of(tmp_path, policy_writer, text)
    assert list(problems) == ["explainers.magic"]
    assert problems["explainers.magic"].startswith("unknown explainer; known: ")
    assert "shap" in problems["explainers.magic"]


@pytest.mark.parametrize("block, where, message", [
    ("lime: {num_samples: 1000000}", "explainers.lime.num_samples", "less than or equal to 20000"),
    ("shap: {permutations: 0}", "explainers.shap.permutations", "greater than or equal to 1"),
    ("integrated_gradients: {n_steps: 5000}", "explainers.integrated_gradients.n_steps", "less than or equal to 1024"),
])
def test_sampling_budgets_are_bounded(tmp_path, policy_writer, block, where, message):
    text = HEADER + f"explainers:\n  {block}\nchecks:\n  - check: performance\n"
    problems = problems_of(tmp_path, policy_writer, text)
    assert list(problems) == [where]
    assert message in problems[where]


def test_builtin_default_loads_by_name():
    loaded = load_policy("default")
    assert loaded.policy.name == "default"
    assert loaded.source == str(builtin_policy_dir() / "default.yaml")
    assert "default" in builtin_policies()


def test_unknown_policy_name_is_a_usage_error():
    with pytest.raises(UsageError, match=r"unknown policy 'no-such-policy'.*built-ins: .*default"):
        load_policy("no-such-policy")


def test_missing_policy_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="policy file not found"):
        load_policy(tmp_path / "absent.yaml")


@pytest.mark.parametrize("name", sorted(builtin_policies()))
def test_every_shipped_policy_validates(name):
    loaded = load_policy(builtin_policies()[name])
    assert loaded.policy.name
    assert all(p is not None for p in loaded.params)
