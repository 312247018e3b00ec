"""Every built-in policy loads, validates and runs on a tiny tabular and a tiny text model: checks
that do not apply are SKIPPED, none ends in ERROR, and the report (traceability included) renders
under StrictUndefined.

Compute once: the built-ins share most checks with the same parameters (they extend one another),
so each distinct (task, check, parameters, explainer settings) is computed once and its output
replayed for the next policy; the runner still plans, times, judges thresholds, applies waivers and
the report renders for every policy. Without this the module takes minutes on two cores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from trust.helpers import errors_beyond_chance

from auditor.engine.audit import card_facts
from auditor.policy import builtin_policies, load_policy
from auditor.render.html import render_html
from auditor.results import AuditResult, DatasetRef, ModelRef, Status, worst
from auditor.engine.runner import build_plan, run_plan
from auditor.policy.traceability import build_traceability
from auditor.policy.waivers import apply_waivers

BUILTINS = sorted(builtin_policies())
FRAMEWORK_POLICIES = ["eu-ai-act-high-risk", "nist-ai-rmf", "sr-11-7"]
TABULAR, TEXT = "tabular-classification", "text-classification"


def test_the_library_is_complete():
    assert {"default", "text-default", "combined-default", *FRAMEWORK_POLICIES} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_has_governance_metadata(name):
    loaded = load_policy(name)
    p = loaded.policy
    assert p.policy_id == name == p.name
    assert p.owner and p.effective_from and p.description
    assert all(c.rationale for c in p.checks), [c.check_id for c in p.checks if not c.rationale]
    missing = [(c.check_id, t.measurement) for c in p.checks for t in c.thresholds if not t.rationale]
    assert not missing  # each threshold says how it was calibrated
    # rationales reach the report's reader, who has no checkout: the benchmark files are for the changelog
    internal = [c.check_id for c in p.checks
                if any("benchmarks/" in text for text in [c.rationale, *(t.rationale for t in c.thresholds)])]
    assert not internal


@pytest.mark.parametrize("name", FRAMEWORK_POLICIES)
def test_framework_policies_extend_the_combined_base_and_cite_clauses(name):
    loaded = load_policy(name)
    assert [f.source.rsplit("/", 1)[-1] for f in loaded.chain] == [f"{name}.yaml", "combined-default.yaml", "default.yaml"]
    assert loaded.policy.frameworks
    assert all(c.clauses for c in loaded.policy.checks), [c.check_id for c in loaded.policy.checks if not c.clauses]
    assert all(any(cl.startswith(fw + ":") for fw in loaded.policy.frameworks for c in loaded.policy.checks for cl in c.clauses)
               for fw in loaded.policy.frameworks if fw != "gdpr")


def test_sr_11_7_notes_its_2026_status():
    text = load_policy("sr-11-7").policy.description
    assert "rescinded" in text and "SR 26-2" in text and "2026" in text


def _essence(spec) -> dict:
    """What judges a text model: thresholds scoped to other tasks (a regressor's R²) are left out."""
    return {"check": spec.check, "params": spec.params,
            "thresholds": [t.model_dump(include={"measurement", "min", "max", "severity"}) for t in spec.thresholds
                           if t.tasks is None or TEXT in t.tasks]}


def test_combined_default_keeps_text_default_text_checks_in_step():
    """combined-default repeats text-default's text checks (one inheritance chain cannot hold two
    bases): same checks, parameters, thresholds and explainer settings, or this fails."""
    text = load_policy("text-default").policy
    combined = load_policy("combined-default").policy
    tabular = load_policy("default").policy
    by_check = {}
    for spec in combined.checks:
        if spec.tasks == [TEXT]:
            by_check[spec.check] = spec
    for spec in text.checks:
        twin = by_check.get(spec.check) or next(c for c in combined.checks if c.check_id == spec.check_id)
        assert _essence(twin) == _essence(spec), (
            f"text-default's {spec.check_id} changed: copy the change to policies/combined-default.yaml "
            f"(entry {twin.check_id}) so the combined and framework policies audit text models the same way")
    assert combined.explainers_for(TEXT) == text.explainers
    assert combined.explainers_for(TABULAR) == tabular.explainers


# --- running them -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def contexts(tabular_audit, text_audit):
    from auditor.engine.context import AuditContext
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.models.tabular import load_tabular_model
    from auditor.models.text import load_text_model

    out = {}
    card = load_model_card(tabular_audit.card)
    data = load_dataset(tabular_audit.data, card)
    out[TABULAR] = AuditContext(card=card, data=data, model=load_tabular_model(card, data.feature_names), seed=13)
    card = load_model_card(text_audit.card)
    data = load_dataset(text_audit.data, card)
    model = load_text_model(text_audit.model_dir, max_length=32, batch_size=32, threads=1)
    out[TEXT] = AuditContext(card=card, data=data, model=model, seed=13)
    return out


def assemble(loaded, checks, ctx) -> AuditResult:
    """An AuditResult as run_audit assembles it (without writing a run)."""
    today = dt.date(2026, 11, 22)
    return AuditResult(
        run_id="test", created_at=f"{today.isoformat()}T00:00:00+00:00", version="v0001",
        status=worst(c.status for c in checks),
        policy=loaded.reference(),
        model=ModelRef(name=ctx.card.model_name, version="1", task=ctx.task, format="test", sha256="0" * 64,
                       classes=list(ctx.classes), positive_class=ctx.classes[ctx.positive_index]),
        dataset=DatasetRef(path=str(ctx.data.path), rows=len(ctx.data), sha256=ctx.data.sha256),
        card=card_facts(ctx.card),
        provenance={"auditor_version": "test", "libraries": {}, "seed": ctx.seed,
                    "cache": {"requests": 0, "distinct_inputs": 0, "forward_calls": 0, "hits": 0},
                    "timings": {"total_s": 0.0, "model_s": 0.0, "checks_s": {}}},
        checks=checks, traceability=build_traceability(loaded, checks, ctx.card, today),
    )


@pytest.fixture(scope="module")
def computed_once():
    """Check.run memoised on (task, check, parameters, explainer settings) for this module."""
    from auditor.checks import CHECK_REGISTRY

    memo: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        for cls in CHECK_REGISTRY.values():
            def run(self, ctx, _run=cls.run, _name=cls.name):
                key = (ctx.task, _name, self.params.model_dump_json(), json.dumps(ctx.explainer_params, sort_keys=True))
                if key not in memo:
                    memo[key] = _run(self, ctx)
                return memo[key]
            mp.setattr(cls, "run", run)
        yield memo


@pytest.fixture(scope="module")
def audits(contexts, computed_once):
    """{(policy, task): (LoadedPolicy, AuditResult)} for every built-in on both tiny models."""
    out = {}
    for task, base in contexts.items():
        for name in BUILTINS:
            loaded = load_policy(name)
            ctx = dataclasses.replace(base, explainer_params=loaded.policy.explainers_for(task))
            checks = apply_waivers(run_plan(build_plan(loaded, task), ctx), loaded.waivers, dt.date(2026, 11, 22))
            out[name, task] = (loaded, assemble(loaded, checks, ctx))
    return out


@pytest.mark.parametrize("task", [TABULAR, TEXT])
@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_runs_without_error(audits, name, task):
    loaded, result = audits[name, task]
    errors = {c.id: f"{c.error.type}: {c.error.message}" for c in result.checks if c.status == Status.ERROR}
    assert not errors_beyond_chance(errors), errors  # explainer agreement at chance is not judged, and says so
    ran = [c.id for c in result.checks if c.status != Status.SKIPPED]
    assert {"performance", "card_completeness"} <= set(ran)  # every built-in audits something on both tasks
    for c in result.checks:
        if c.status == Status.SKIPPED:
            assert "models only" in c.skipped_reason or "does not offer" in c.skipped_reason or "does not apply" in c.skipped_reason
    html = render_html(result)  # StrictUndefined: a missing field raises
    assert 'id="governance"' in html and 'id="traceability"' in html


@pytest.mark.parametrize("name", ["combined-default", *FRAMEWORK_POLICIES])
def test_combined_policies_run_text_checks_on_text_and_tabular_checks_on_tabular(audits, name):
    _, tab = audits[name, TABULAR]
    _, text = audits[name, TEXT]
    ran_tab = {c.id for c in tab.checks if c.status != Status.SKIPPED}
    ran_text = {c.id for c in text.checks if c.status != Status.SKIPPED}
    assert {"global_importance", "explanation_faithfulness"} <= ran_tab
    assert not any(i.startswith("text_") for i in ran_tab)
    assert {"text_explanations", "text_explanation_faithfulness", "similar_examples"} <= ran_text
    assert "explanation_faithfulness" not in ran_text


def test_traceability_of_the_eu_policy(audits):
    _, result = audits["eu-ai-act-high-risk", TABULAR]
    t = result.traceability
    rows = {r.clause: r for r in t.rows}
    row = rows["eu-ai-act:2024/1689:art-86(1)"]
    assert {c.id for c in row.checks} >= {"local_explanations", "explanation_faithfulness"}
    assert row.status is not None and row.paraphrase
    assert all(c.link == f"#check-{c.id}" for c in row.checks)
    assert rows["eu-ai-act:2024/1689:art-9(8)"].by_policy and rows["eu-ai-act:2024/1689:art-9(8)"].status is None
    uncovered = {n.clause for n in t.not_covered}
    assert "eu-ai-act:2024/1689:art-10(2)(f)" not in uncovered  # subgroup_fairness cites it
    assert "eu-ai-act:2024/1689:art-15(5)" not in uncovered  # adversarial_robustness cites it
    assert {c.id for c in rows["eu-ai-act:2024/1689:art-15(5)"].checks} == {"adversarial_robustness"}
    assert "eu-ai-act:2024/1689:art-12(1)" in uncovered  # no logging check in the library
    assert "eu-ai-act:2024/1689:art-13(1)" not in uncovered
    assert {f.key for f in t.frameworks if f.declared} == {"eu-ai-act", "gdpr"}
    assert any("Digital Omnibus" in f.status for f in t.frameworks)
    # card claims against the measured values, with the policy's tolerance; unverifiable ones listed
    claims = {c.metric: c for c in t.claims}
    assert claims["accuracy"].measured is not None and claims["accuracy"].tolerance == 0.03
    assert claims["precision"].within is None and "cannot be checked" in claims["precision"].note
    html = render_html(result)
    assert "art-86(1)" in html and "Not covered" in html and "cannot be checked" in html


def test_sr_11_7_records_an_info_threshold_that_never_changes_the_status(audits):
    _, result = audits["sr-11-7", TABULAR]
    perf = next(c for c in result.checks if c.id == "performance")
    info = [t for t in perf.thresholds if t.severity == "info"]
    assert [t.measurement for t in info] == ["brier"]
    assert perf.title.startswith("Outcomes analysis")
    assert not any(c.id == "attention" for c in result.checks)  # removed by the policy



def test_an_f1_claim_of_a_model_without_a_positive_class_says_why_it_is_not_checked():
    """A 4-class card's f1 claim read "cannot be checked: the performance check produced no value
    (PASS)" beside a measured macro F1 equal to the claim."""
    from types import SimpleNamespace

    from auditor.policy.traceability import claim_checks
    from auditor.results import Status

    claim = SimpleNamespace(metric="f1", value=0.807, dataset="", split="", rows=None)
    perf = SimpleNamespace(check="performance", id="performance", status=Status.PASS, params={}, sample_sizes=[],
                           measurements={"accuracy": 0.81, "f1": None, "f1_macro": 0.8071})
    (row,) = claim_checks(SimpleNamespace(claims=[claim]), [perf])
    assert row.within is None
    assert row.note == ("cannot be checked: F1 of which class? The card names no positive_class; the model's macro F1 "
                        "is 0.807 (claim f1_macro to compare it)")
