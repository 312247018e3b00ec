"""Registry contract: every check reports exactly the measurements it declares, through the runner,
and its result serialises to JSON."""

from __future__ import annotations

import json

import pytest

from auditor.checks import CHECK_REGISTRY
from auditor.policy import CheckSpec
from auditor.results import Status
from auditor.engine.runner import PlannedCheck, run_check

SMALL = {"n_instances": 6, "n_bootstrap": 50, "n_repeats": 2, "n_seeds": 2, "n_perturbations": 2, "n_shown": 2}
NEW = {"explanation_axioms", "explanation_stability", "explainer_agreement", "explanation_sanity"}


def test_the_four_trust_checks_are_registered():
    assert NEW <= set(CHECK_REGISTRY)


@pytest.mark.parametrize("name", sorted(CHECK_REGISTRY))
def test_reports_exactly_the_declared_measurements(name, request, tmp_path):
    cls = CHECK_REGISTRY[name]
    # The four trust checks (and every check that applies to tabular models) on the tabular fixture.
    fixture = "tabular" if "tabular-classification" in cls.applicable_tasks() else "text"
    ctx = request.getfixturevalue(fixture).ctx
    if name == "prompt_sensitivity":  # needs a prompted causal LM
        from .conftest import make_decoder_context

        ctx = make_decoder_context(request.getfixturevalue("tiny_decoder"), tmp_path,
                                   request.getfixturevalue("causal_lm_dir"), prompted=True, n=12)
    if name == "subgroup_fairness":  # needs a declared sensitive column
        from .test_subgroup_fairness import proxy_context

        ctx = proxy_context(tmp_path)
    raw = {k: v for k, v in SMALL.items() if k in cls.Params.model_fields}
    params = cls.Params(**raw)
    result = run_check(PlannedCheck(spec=CheckSpec(check=name, params=raw), params=params), ctx)
    assert result.status != Status.ERROR, result.error
    assert sorted(result.measurements) == sorted(cls.measurement_names(params))
    assert json.loads(result.model_dump_json())["check"] == name
    if name in NEW:
        assert result.summary and result.description and "model_inputs" in result.cost
