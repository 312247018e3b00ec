"""Traceability: which regulatory clause each check evidences, with what result, and what is left.

Computed once when the audit is assembled and stored in result.json (templates only present it):

- the matrix: every clause the policy cites -> the checks citing it that ran on this model -> their
  status -> the report section and the machine-readable files holding the evidence;
- "not covered": the catalogued clauses (auditor/policy/clauses.py) of each framework the policy declares
  (``frameworks:``; by default every framework it cites) that no check and not the policy cites;
- the card's claims: each ``model-index`` metric against the value the performance check measured,
  within the tolerance the policy sets (``claim_tolerance``), and the claims that cannot be checked;
- every waiver with its state in this run.
"""

from __future__ import annotations

import datetime as dt

from auditor.policy.clauses import CATALOGUE, FRAMEWORKS, framework_of, not_covered, paraphrase, reference_of
from auditor.results import (CheckResult, ClaimCheck, ClauseRef, FileRef, FrameworkNote, Status, TraceCheck, TraceRow,
                             Traceability, size_of, worst)
from auditor.policy.waivers import waiver_records


def _clause_order(clause: str) -> tuple:
    keys = list(FRAMEWORKS)
    fw = framework_of(clause)
    refs = [c for c, _ in CATALOGUE.get(fw, [])]
    ref = reference_of(clause)
    position = next((i for i, c in enumerate(refs) if ref == c or ref.startswith(c + "(") or ref.startswith(c + ".")),
                    len(refs))
    return (keys.index(fw) if fw in keys else len(keys), position, clause)


def trace_rows(checks: list[CheckResult], policy_clauses: list[str]) -> list[TraceRow]:
    by_clause: dict[str, list[CheckResult]] = {}
    for c in checks:
        for clause in c.clauses:
            by_clause.setdefault(clause, []).append(c)
    for clause in policy_clauses:
        by_clause.setdefault(clause, [])
    rows = []
    for clause in sorted(by_clause, key=_clause_order):
        # checks skipped on this model (a text check on a tabular model) are no evidence; they are
        # shown only when every check citing the clause was skipped, so the gap stays visible
        cited_by = [c for c in by_clause[clause] if c.status != Status.SKIPPED] or by_clause[clause]
        rows.append(TraceRow(
            clause=clause, framework=framework_of(clause), paraphrase=paraphrase(clause),
            checks=[TraceCheck(id=c.id, title=c.title, status=c.status, link=f"#check-{c.id}",
                               files=[e.path for e in c.evidence if isinstance(e, FileRef)]) for c in cited_by],
            status=worst(c.status for c in cited_by) if cited_by else None,
            by_policy=clause in policy_clauses,
        ))
    return rows


def claim_checks(card, checks: list[CheckResult]) -> list[ClaimCheck]:
    """The card's claims against the first performance check that produced measurements."""
    from auditor.checks.claims import claim_gap, claim_widening
    from auditor.checks.performance import CLAIM_ALIASES
    from auditor.checks.performance_regression import CLAIM_ALIASES as REGRESSION_ALIASES, ERROR_METRICS

    perf = [c for c in checks if c.check == "performance"]
    measured = next((c for c in perf if c.measurements), None)
    rows = []
    for claim in card.claims:
        where = " / ".join(x for x in (claim.dataset, claim.split) if x)
        row = dict(metric=claim.metric, claimed=claim.value, dataset=where)
        key = CLAIM_ALIASES.get(claim.metric.lower()) or REGRESSION_ALIASES.get(claim.metric.lower())
        if key is None:
            row["note"] = "cannot be checked: the performance check does not measure this metric"
        elif not perf:
            row["note"] = "cannot be checked: the policy has no performance check"
        elif measured is None or measured.measurements.get(key) is None:
            m = measured.measurements if measured is not None else {}
            if key == "f1" and m.get("f1_macro") is not None:  # a multiclass model without a positive class
                row["note"] = ("cannot be checked: F1 of which class? The card names no positive_class; the model's "
                               f"macro F1 is {m['f1_macro']:.3f} (claim f1_macro to compare it)")
            else:
                row["note"] = (f"cannot be checked: the performance check did not measure it "
                               f"(status {perf[0].status.value.upper()})")
        else:
            m = measured.measurements
            value = m[key]
            tolerance = measured.params.get("claim_tolerance")
            relative = key in ERROR_METRICS and claim.value > 0  # an error in the target's units: relative to the claim
            n_eval = size_of(measured.sample_sizes, "claims_checked")
            widen = 1.0 if n_eval is None else claim_widening(n_eval, claim.rows)
            gap = claim_gap(claim.value, value, m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high"), relative=relative,
                            widen=widen)
            how = [f"the interval widened ×{widen:.2f} for the claim's {claim.rows:,} rows"] if widen != 1.0 else []
            how += ["gap relative to the claim"] if relative else []
            row.update(measured=value, n=n_eval, gap=gap, tolerance=tolerance, rows=claim.rows,
                       widening=widen if widen != 1.0 else None,
                       within=None if tolerance is None else gap <= tolerance,
                       note=f"measured by {measured.id} on the evaluation set" + (f" ({'; '.join(how)})" if how else ""))
        rows.append(ClaimCheck(**row))
    return rows


def build_traceability(loaded, checks: list[CheckResult], card, today: dt.date) -> Traceability:
    policy = loaded.policy
    cited = [cl for c in checks for cl in c.clauses] + list(policy.clauses)
    declared = list(policy.frameworks) or list(dict.fromkeys(framework_of(c) for c in cited))
    shown = list(dict.fromkeys([*declared, *(framework_of(c) for c in cited)]))
    return Traceability(
        frameworks=[FrameworkNote(key=k, title=FRAMEWORKS[k].title, status=FRAMEWORKS[k].status, declared=k in declared)
                    for k in shown if k in FRAMEWORKS],
        rows=trace_rows(checks, list(policy.clauses)),
        not_covered=[ClauseRef(clause=c, framework=fw, paraphrase=text) for fw in declared for c, text in not_covered(fw, cited)],
        uncited_checks=[c.id for c in checks if not c.clauses],
        claims=claim_checks(card, checks),
        claim_problems=list(card.claim_problems),
        waivers=waiver_records(checks, loaded.waivers, today),
    )

