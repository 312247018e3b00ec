"""A nested integrated-gradients rule must refine every text the completeness gate would fail on
quadrature error alone: refine_above above the gate's tolerance is a located policy error (exit 3)."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import EXIT_INVALID_INPUT, PolicyError
from auditor.policy.load import load_policy

NESTED = {"rule": "nested", "first_steps": 15, "n_steps": 63, "internal_batch_size": 64}


def _policy(tmp_path, refine_above: float, block: str = "explainers", tolerance: float | None = None) -> str:
    raw = {"schema_version": 1, "name": "stricter-text", "version": "1", "extends": "text-default"}
    ig = {**NESTED, "refine_above": refine_above}
    raw.update({"explainers": {"integrated_gradients": ig}} if block == "explainers"
               else {"task_explainers": {"text-classification": {"integrated_gradients": ig}}})
    if tolerance is not None:
        raw["checks"] = [{"check": "explanation_axioms", "params": {"tolerances": {"completeness_rel": tolerance}}}]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return str(path)


def test_refinement_at_or_below_the_gates_tolerance_loads(tmp_path):
    assert load_policy("text-default").policy.explainers["integrated_gradients"]["refine_above"] == 0.02
    assert load_policy(_policy(tmp_path, 0.05)).policy.explainers["integrated_gradients"]["refine_above"] == 0.05


@pytest.mark.parametrize("block,where", [
    ("explainers", "explainers.integrated_gradients.refine_above"),
    ("task_explainers", "task_explainers.text-classification.integrated_gradients.refine_above")])
def test_refinement_above_the_gates_tolerance_is_a_located_policy_error(tmp_path, block, where):
    with pytest.raises(PolicyError) as err:
        load_policy(_policy(tmp_path, 0.1, block))
    (problem,) = err.value.problems
    assert problem.location == where
    assert "0.1 is above the completeness tolerance 0.05 of check 'explanation_axioms'" in problem.message
    result = CliRunner().invoke(app, ["policies", "show", _policy(tmp_path, 0.1, block)])
    assert result.exit_code == EXIT_INVALID_INPUT and "refine_above" in result.output


def test_a_stricter_gate_needs_a_stricter_rule(tmp_path):
    with pytest.raises(PolicyError, match="above the completeness tolerance 0.01"):
        load_policy(_policy(tmp_path, 0.02, tolerance=0.01))
    assert load_policy(_policy(tmp_path, 0.01, tolerance=0.01))


def test_an_absolute_floor_above_the_gates_is_a_located_policy_error(tmp_path):
    """The rule's absolute floor (refine_atol) against the gate's (completeness_atol): a text whose gap
    lies between the two would not be refined and would fail on the integration's own error."""
    raw = yaml.safe_load(open(_policy(tmp_path, 0.02), encoding="utf-8"))
    raw["explainers"]["integrated_gradients"]["refine_atol"] = 0.02
    raw["checks"] = [{"check": "explanation_axioms",
                      "params": {"tolerances": {"completeness_rel": 0.05, "completeness_atol": 0.01}}}]
    path = tmp_path / "floor.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    (problem,) = err.value.problems
    assert problem.location == "explainers.integrated_gradients.refine_atol"
    assert "0.02 is above the completeness tolerance 0.01" in problem.message and "set refine_atol at most 0.01" in problem.message
    raw["explainers"]["integrated_gradients"]["refine_atol"] = 0.004
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert load_policy(str(path)).policy.explainers["integrated_gradients"]["refine_atol"] == 0.004
