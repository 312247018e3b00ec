"""Every parameter a policy can set is bounded and typed: an invalid value is a located policy
error when the policy loads (exit 3), never an ERROR minutes into a run. And every explainer's
function takes its parameters from its Params model alone (no drifted duplicate defaults).

The cases are generated from the registries, so a check or explainer added later is covered too.
"""

from __future__ import annotations

import inspect
import math
import types
import typing

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from auditor.checks import CHECK_REGISTRY
from auditor.cli import app
from auditor.errors import EXIT_INVALID_INPUT, PolicyError
from auditor.explain import EXPLAINERS
from auditor.policy.load import load_policy

HUGE = 10**12
# Fields where zero is a meaningful value (not a count of things to do): 0 layers re-initialised
# (the head only), a zero tolerance or agreement bound, no seed offset, no noise (a control), every
# text refined to integrated gradients' most points (refine_above, refine_atol), every feature's ICE
# heterogeneity counted (min_variation_share).
ZERO_ALLOWED = {"n_layers", "completeness_rel", "completeness_atol", "efficiency_atol", "efficiency_rtol",
                "min_feature_agreement", "claim_tolerance", "seed_offset", "noise_frac", "refine_above", "refine_atol",
                "min_variation_share"}


def _numeric_kind(annotation) -> type | None:
    """int or float for a numeric field (optional or not), None otherwise (bool is not numeric here)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union else (annotation,)
    kinds = [a for a in args if a in (int, float)]
    return kinds[0] if kinds else None


def numeric_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()):
    """(path, kind) of every numeric field of a Params model, nested models included."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from numeric_fields(annotation, (*prefix, name))
        elif (kind := _numeric_kind(annotation)) is not None:
            yield (*prefix, name), kind


def invalid_values(field: str, kind: type) -> list:
    values = [-1, HUGE, math.nan, math.inf, "many", [1]]
    if field not in ZERO_ALLOWED:
        values.append(0)
    if kind is int:
        values.append(2.5)  # a count is whole
    return values


def _nested(path: tuple[str, ...], value) -> dict:
    out = value
    for part in reversed(path):
        out = {part: out}
    return out


CHECK_CASES = [
    pytest.param(name, path, value, id=f"{name}.{'.'.join(path)}={value!r}")
    for name, cls in CHECK_REGISTRY.items()
    for path, kind in numeric_fields(cls.Params)
    for value in invalid_values(path[-1], kind)
]
EXPLAINER_CASES = [
    pytest.param(task, method, field, value, id=f"{task}.{method}.{field}={value!r}")
    for task, methods in EXPLAINERS.items()
    for method, explainer in methods.items()
    for (field,), kind in numeric_fields(explainer.Params)
    for value in invalid_values(field, kind)
]


def _policy(tmp_path, checks: list[dict], **extra) -> str:
    data = {"schema_version": 1, "name": "bounds", "version": "1", **extra, "checks": checks}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def _problems(path: str) -> dict[str, str]:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return {p.location: p.message for p in info.value.problems}


def test_every_check_and_explainer_has_numeric_fields_to_test():
    assert len(CHECK_CASES) > 100 and len(EXPLAINER_CASES) > 40
    # every registered check is reached (time_budget_s is on all of them)
    assert {c.values[0] for c in CHECK_CASES} == set(CHECK_REGISTRY)


@pytest.mark.parametrize("name,path,value", CHECK_CASES)
def test_invalid_check_parameter_is_a_located_policy_error(tmp_path, name, path, value):
    checks = [{"check": "performance"}, {"check": "card_completeness"},
              {"check": name, "id": "under_test", "params": _nested(path, value)}]
    problems = _problems(_policy(tmp_path, checks))
    where = f"checks[2].params.{'.'.join(path)}"
    assert list(problems) == [where], problems


@pytest.mark.parametrize("task,method,field,value", EXPLAINER_CASES)
def test_invalid_explainer_parameter_is_a_located_policy_error(tmp_path, task, method, field, value):
    path = _policy(tmp_path, [{"check": "performance"}], task_explainers={task: {method: {field: value}}})
    problems = _problems(path)
    assert list(problems) == [f"task_explainers.{task}.{method}.{field}"], problems


@pytest.mark.parametrize("params,message", [
    ({"removal": "drop"}, "Input should be 'mask' or 'delete'"),  # a text-only parameter: tabular LIME lacks it
    ({"paired": "sometimes"}, "Input should be a valid boolean"),
    ({"colour": "blue"}, "unknown key"),  # no task's LIME knows it
])
def test_a_method_of_several_tasks_reports_the_variant_that_knows_the_key(tmp_path, params, message):
    """`explainers:` applies to every task with the method: when none accepts the parameters, the
    report is the variant's whose keys they are, not "unknown key" from another task's LIME."""
    problems = _problems(_policy(tmp_path, [{"check": "performance"}], explainers={"lime": params}))
    key = next(iter(params))
    assert problems == {f"explainers.lime.{key}": problems[f"explainers.lime.{key}"]}
    assert message in problems[f"explainers.lime.{key}"], problems


def test_the_defaults_and_the_builtin_policies_are_within_the_bounds():
    for cls in CHECK_REGISTRY.values():
        cls.Params()  # defaults are valid values
    for methods in EXPLAINERS.values():
        for explainer in methods.values():
            explainer.Params()


def test_cli_validate_exits_3_naming_the_field(tmp_path):
    path = _policy(tmp_path, [{"check": "performance"}, {"check": "card_completeness"},
                              {"check": "global_importance", "params": {"top_k": -2, "n_repeats": 10**9}}])
    result = CliRunner().invoke(app, ["validate", "--policy", path])
    assert result.exit_code == EXIT_INVALID_INPUT
    text = " ".join(result.output.split())
    assert "checks[2].params.top_k" in text and "checks[2].params.n_repeats" in text


DIGITS_ALONE = "write the digits alone: no exponent, sign, decimals or unit"


def test_a_count_or_seed_that_is_no_whole_number_is_refused_in_words(tmp_path):
    """A seed or a count given as "abc", 2.5, true or 1e3 (which YAML reads as text) got pydantic's "Input
    should be a valid integer, unable to parse string as an integer": each is now said in words, located,
    with the field's default as an example (the least it takes where it has none). true is no count of 1."""
    text = """\
schema_version: 1
name: counts
version: "1"
seed: abc
dataset: {max_rows: 2.5}
explainers:
  lime: {num_samples: 1e3}
checks:
  - check: performance
    params: {n_bootstrap: 2.5}
  - check: card_completeness
  - check: subgroup_fairness
    params: {n_instances: abc}
  - check: explanation_stability
    params: {n_seeds: true, n_perturbations: 1e3}
"""
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "--policy", str(path)])
    assert result.exit_code == EXIT_INVALID_INPUT
    said = " ".join(result.output.split())
    for where, message in [
        ("seed", f'"abc" is not a whole number (give e.g. 0; {DIGITS_ALONE})'),
        ("dataset.max_rows", "2.5 is not a whole number (give e.g. 2)"),
        ("explainers.lime.num_samples", f'"1e3" is not a whole number (give e.g. 125; {DIGITS_ALONE})'),
        ("checks[0].params.n_bootstrap", "2.5 is not a whole number (give e.g. 1000)"),
        ("checks[2].params.n_instances", f'"abc" is not a whole number (give e.g. 100; {DIGITS_ALONE})'),
        ("checks[3].params.n_seeds", "true where a number belongs (YAML reads yes/no/on/off as true/false)"),
        ("checks[3].params.n_perturbations", f'"1e3" is not a whole number (give e.g. 5; {DIGITS_ALONE})'),
    ]:
        assert f"- {where}: Value error, {message}" in said, (where, said)
    assert "valid integer" not in said and "(7 problems)" in said
    # a whole number stays one however YAML writes it: quoted, or with a zero fraction
    path.write_text(text.replace("abc", '"100"').replace("2.5", "1000.0").replace("true", "5").replace("1e3", "50"),
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "--policy", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("check,params,where", [
    ("global_importance", {"scoring": "recall"}, "scoring"),
    ("card_completeness", {"required": ["name", "favourite colour"]}, "required"),
    ("text_explanations", {"methods": []}, "methods"),
    ("attention", {"reference": "tea_leaves"}, "reference"),
    ("explanation_faithfulness", {"bins": [0.1, 1.5]}, "bins[1]"),
])
def test_named_choices_are_checked_at_load_not_at_run(tmp_path, check, params, where):
    problems = _problems(_policy(tmp_path, [{"check": "performance"}, {"check": "card_completeness", "id": "cc"},
                                            {"check": check, "params": params}]))
    assert f"checks[2].params.{where}" in problems, problems


@pytest.mark.parametrize("task,method", [(t, m) for t, methods in EXPLAINERS.items() for m in methods])
def test_explainer_function_takes_exactly_its_params_without_defaults(task, method):
    """The Params model is the one source of an explainer's defaults: the function's keywords are
    its fields, and a keyword with a default of its own would drift (tabular LIME once said 1000
    samples where the policy default is 125)."""
    explainer = EXPLAINERS[task][method]
    signature = inspect.signature(explainer.fn)
    keywords = {n: p for n, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(keywords) == set(explainer.Params.model_fields)
    for name, parameter in keywords.items():
        default = explainer.Params.model_fields[name].default
        assert parameter.default in (inspect.Parameter.empty, default), (name, parameter.default, default)
