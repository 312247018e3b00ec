"""Contracts every check keeps (after scikit-learn's common estimator checks): registered checks are
complete (template, README row, a built-in policy entry, diff's drift list derived from the check),
and for every check on every model kind it applies to: deterministic for a seed, inputs untouched,
a re-run sends no new input to the model, and its template renders under StrictUndefined."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from auditor.checks import CHECK_REGISTRY
from auditor.engine.context import AuditContext
from auditor.engine.runner import PlannedCheck, run_check
from auditor.policy import builtin_policies
from auditor.policy.schema import CheckSpec
from auditor.records.diff import trust_check_names
from auditor.render.html import make_environment, templates_dir
from auditor.results import Status

from auditor.models.decoder import DecoderTextModel, PromptedCausalLM
from auditor.models.kinds import kind_for

from .conftest import make_decoder_context, make_regression_context, make_tabular_context, make_text_context

REPO = Path(__file__).resolve().parents[2]
SMALL = {"n_instances": 6, "n_bootstrap": 50, "n_repeats": 2, "n_seeds": 2, "n_perturbations": 2, "n_shown": 2,
         "max_rows": 100}
KINDS = ("tabular-classification", "tabular-regression", "text-classification")
CASES = [(name, task) for name in sorted(CHECK_REGISTRY) for task in KINDS
         if CHECK_REGISTRY[name].requires <= kind_for(task).capabilities]
# decoder-only kinds serve text-classification cards too; a check runs on one if the class offers what it needs
DECODER_KINDS = {"text-decoder": DecoderTextModel, "text-prompted": PromptedCausalLM}
CASES += [(name, kind) for name in sorted(CHECK_REGISTRY) for kind, cls in DECODER_KINDS.items()
          if CHECK_REGISTRY[name].requires <= cls.capabilities]


@pytest.mark.parametrize("name", sorted(CHECK_REGISTRY))
def test_every_check_has_a_template_a_readme_row_and_a_builtin_policy_entry(name):
    assert (templates_dir() / "checks" / f"{name}.html.j2").is_file()
    assert f"| `{name}` |" in (REPO / "README.md").read_text(encoding="utf-8")
    used = set()
    for path in builtin_policies().values():
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        used |= {c.get("check") for c in raw.get("checks") or []}
    assert name in used, f"{name} is in no built-in policy"


def test_diff_reports_the_drift_of_exactly_the_trust_checks():
    assert trust_check_names() == {n for n, c in CHECK_REGISTRY.items() if c.trust}
    assert {n for n in CHECK_REGISTRY if n.startswith("explain")} <= trust_check_names()


def test_every_check_applies_to_some_model_kind():
    assert all(CHECK_REGISTRY[n].applicable_tasks() for n in CHECK_REGISTRY)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, text_model_dir, tiny_bert, request):
    """A new context (its own caches) of a model kind, per call."""
    def make(task):
        root = tmp_path_factory.mktemp("contract")
        if task == "tabular-classification":
            return make_tabular_context(root, n=80)[0]
        if task == "tabular-regression":
            return make_regression_context(root, n=80)[0]
        if task in DECODER_KINDS:
            prompted = task == "text-prompted"
            tiny = request.getfixturevalue("tiny_decoder")
            model_dir = request.getfixturevalue("causal_lm_dir" if prompted else "decoder_model_dir")
            return make_decoder_context(tiny, root, model_dir, prompted=prompted, n=12)
        return make_text_context(tiny_bert, root, text_model_dir, n=12)
    return make


def _run(name, ctx):
    cls = CHECK_REGISTRY[name]
    raw = {k: v for k, v in SMALL.items() if k in cls.Params.model_fields}
    return run_check(PlannedCheck(spec=CheckSpec(check=name, params=raw), params=cls.Params(**raw)), ctx)


def _numbers(result) -> str:
    return json.dumps({"m": result.measurements, "e": [e.model_dump(mode="json") for e in result.evidence]},
                      sort_keys=True, default=str)


@pytest.mark.parametrize("name,task", CASES)
def test_check_contract(name, task, fresh, monkeypatch):
    first, second = fresh(task), fresh(task)
    frame = first.data.frame.copy()
    labels = list(first.data.labels)
    asked = set()
    explain = AuditContext.attribution

    def recorded(ctx, method, *args, **kwargs):
        asked.add(method)
        return explain(ctx, method, *args, **kwargs)

    monkeypatch.setattr(AuditContext, "attribution", recorded)
    result = _run(name, first)
    assert result.status != Status.ERROR, result.error
    # it asks for no explainer it does not declare: the policy's settings of those it declares are
    # checked for the task before the run, and their cost counted by the compute bound
    cls = CHECK_REGISTRY[name]
    declared = cls.explainers(cls.Params(**{k: v for k, v in SMALL.items() if k in cls.Params.model_fields}), first.task)
    assert asked <= set(declared), (asked, declared)
    # a key figure (the terminal's summary table, a CI step summary, JUnit) says how many rows or
    # explained instances it rests on, as the report's tables do ("AUC 0.849" had stood alone)
    if re.search(r"\d", result.key_figure) and name != "card_completeness":
        assert re.search(r"\(n = [\d,]+\)|\bof \d+\b|^\d+ (rows|texts)$", result.key_figure), result.key_figure
    # does not mutate its inputs
    pd.testing.assert_frame_equal(first.data.frame, frame)
    assert list(first.data.labels) == labels
    # re-running it on the same audit sends no new input to the model
    distinct = first.model.stats.distinct_inputs
    again = _run(name, first)
    assert first.model.stats.distinct_inputs == distinct
    # deterministic for a seed: the same numbers and evidence on a fresh context
    assert _numbers(_run(name, second)) == _numbers(result) == _numbers(again)
    # its template renders the result under StrictUndefined (with what the report gives every
    # check section: the result and the appendix's letters)
    html = make_environment().get_template(f"checks/{name}.html.j2").render(c=result, letter={"measurements": "C"})
    assert html.strip()
