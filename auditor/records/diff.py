"""`auditor diff RUN_A RUN_B`: what changed between two audits, as diff.json, diff.html, diff.pdf.

Everything is read from the two run directories (result.json, manifest.json, evidence/):

- verdicts: per check (by id), status A -> B (improved / worsened / changed / added / removed, by
  the statuses without waivers; "waiver" where a waiver added or expired alone changed it), with
  each run's waiver and the check's parameter and threshold changes;
- measurements: every measurement of a check present in both runs, with B - A and, where the check
  reports ``<m>_ci_low`` / ``<m>_ci_high``, both intervals and whether they overlap;
- explanation drift: global importance per source (mean |attribution| per feature from
  ``evidence/attributions-<method>.csv``, permutation importance from the global_importance check's
  evidence): top-k features that entered or left, Spearman rank correlation between the runs over
  the features both have; and the change in the faithfulness / stability / sanity / agreement
  measurements;
- policy (name, version, sha256) and input hashes (policy, card, dataset, model, from the
  manifests), library versions.

The output is deterministic: the same two runs give the same bytes.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import Problem, ResultFileError, UsageError
from auditor.results import SEVERITY_RANK, Status
from auditor.records.runs import VERSION_RE, Run, open_run, previous_run
from auditor.records.atomic import publish_folder, staged_folder, write_tree
from auditor.hashing import sha256_bytes
from auditor.records.store import enclosing_run, output_error, owned_folder_problem, slugify

DIFF_SCHEMA_VERSION = 1
# The report's own order (results.SEVERITY_RANK), WAIVED included; SKIPPED is no verdict to compare.
SEVERITY = {status.value: rank for status, rank in SEVERITY_RANK.items() if status is not Status.SKIPPED}
CI_SUFFIXES = ("_ci_low", "_ci_high")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# --- verdicts ---------------------------------------------------------------------------------------

def _status_change(a: str | None, b: str | None) -> str:
    if a is None:
        return "added"
    if b is None:
        return "removed"
    if a == b:
        return "unchanged"
    if a in SEVERITY and b in SEVERITY:
        return "improved" if SEVERITY[b] < SEVERITY[a] else "worsened"
    return "changed"  # to or from skipped


def _dict_changes(a: dict, b: dict) -> dict[str, dict[str, Any]]:
    return {k: {"a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _threshold_key(t: dict) -> str:
    return f"{t.get('measurement')} ({t.get('severity')})"


def _threshold_changes(a: list[dict], b: list[dict]) -> list[dict[str, Any]]:
    ta = {_threshold_key(t): {"min": t.get("min"), "max": t.get("max")} for t in a}
    tb = {_threshold_key(t): {"min": t.get("min"), "max": t.get("max")} for t in b}
    return [{"threshold": k, "a": ta.get(k), "b": tb.get(k)} for k in sorted(set(ta) | set(tb)) if ta.get(k) != tb.get(k)]


WAIVER_FIELDS = ("state", "status_before", "expires", "approver", "approved")  # of a check's waiver in result.json


def _waiver(check: dict) -> dict[str, Any] | None:
    w = check.get("waiver")
    return {k: w.get(k) for k in WAIVER_FIELDS} if isinstance(w, dict) else None


def _unwaived(check: dict) -> str | None:
    """The status the check's own figures gave: a WAIVED check's status before its waiver applied."""
    w = _waiver(check)
    if check.get("status") == Status.WAIVED.value and w and w["state"] == "applied" and w["status_before"]:
        return w["status_before"]
    return check.get("status")


def _verdict_change(sa: str | None, sb: str | None, ua: str | None, ub: str | None) -> str:
    """Improved / worsened by what the checks found (``ua``, ``ub``: the statuses without waivers);
    "waiver" where a waiver added, expired or removed alone changed the status: nothing measured did."""
    if sa is None or sb is None:
        return _status_change(sa, sb)
    if ua == ub:
        return "unchanged" if sa == sb else "waiver"
    return _status_change(ua, ub)


RANK = {status.value: rank for status, rank in SEVERITY_RANK.items()}


def _unwaived_overall(run: Run) -> str | None:
    """The overall status without waivers: the worst of the checks' own statuses (as the engine's
    results.worst), where a waiver applied; the recorded status otherwise."""
    checks = run.result.get("checks", [])
    if not any(c.get("status") == Status.WAIVED.value for c in checks):
        return run.result.get("status")
    return max((_unwaived(c) for c in checks), key=lambda s: RANK.get(s, -1))


def _waiver_change(wa: dict | None, wb: dict | None) -> str | None:
    """added: a waiver applies in B, not in A; expired (or removed, not-needed, not-waivable): the
    one that applied in A does not in B; renewed (a later expiry) or changed (another approver, an
    earlier expiry, or approved again on another day to the same expiry): one applies in both, not the
    same one."""
    applied_a, applied_b = bool(wa and wa["state"] == "applied"), bool(wb and wb["state"] == "applied")
    if applied_b and not applied_a:
        return "added"
    if applied_a and not applied_b:
        return wb["state"] if wb else "removed"
    if applied_a and _signed(wa) != _signed(wb):
        return "renewed" if str(wb["expires"]) > str(wa["expires"]) else "changed"  # ISO dates order as text
    return None


def _signed(w: dict) -> tuple:
    """Who approved a waiver, when, and until when: what makes it the same waiver."""
    return w["approver"], w.get("approved"), w["expires"]


def _by(w: dict | None) -> str:
    """'by APPROVER' with the approval date where the waiver records one (runs before it could: none)."""
    return f"by {w and w['approver']}" + (f" (approved {w['approved']})" if w and w.get("approved") else "")


def _waiver_note(change: str | None, wa: dict | None, wb: dict | None, ua: str | None, ub: str | None) -> str | None:
    """What a waiver did to a check's status between the runs, in words; None where none applied."""
    if change is None and (ua == ub or not (wa and wa["state"] == "applied" and wb and wb["state"] == "applied")):
        return None  # no waiver, or the same one over the same status
    w = wa if change == "removed" else wb  # B's record: the waiver as it stood in B (expired: its date)
    said = {
        None: f"waived in both runs ({_by(w)} until {w['expires']})",
        "added": f"waiver added: {str(ub).upper()} waived {_by(w)} until {w['expires']}",
        "expired": f"waiver expired: the waiver {_by(w)} expired on {w['expires']}",
        "removed": f"waiver removed: B has no waiver for this check (A's, {_by(w)}, ran until {w['expires']})",
        "renewed": f"waiver renewed: {_by(w)} until {w['expires']} (A's: {_by(wa)} until {wa and wa['expires']})",
        "changed": f"waiver changed: {_by(w)} until {w['expires']} (A's: {_by(wa)} until {wa and wa['expires']})",
    }.get(change, f"waiver not applied in B ({change}): the waiver {_by(w)} until {w['expires']}")
    own = f"{str(ua).upper()} in both runs" if ua == ub else f"{str(ua).upper()} → {str(ub).upper()}"
    return f"{said}; status without waivers {own}"


def compare_checks(a: Run, b: Run) -> list[dict[str, Any]]:
    ca = {c["id"]: c for c in a.result.get("checks", [])}
    cb = {c["id"]: c for c in b.result.get("checks", [])}
    order = [c for c in cb] + [c for c in ca if c not in cb]
    rows = []
    for cid in order:
        x, y = ca.get(cid, {}), cb.get(cid, {})
        sa, sb = x.get("status"), y.get("status")
        ua, ub = _unwaived(x), _unwaived(y)
        wa, wb = _waiver(x), _waiver(y)
        waiver_change = _waiver_change(wa, wb) if x and y else None
        rows.append({
            "id": cid, "check": (y or x).get("check"), "title": (y or x).get("title", cid),
            "a": sa, "b": sb, "change": _verdict_change(sa, sb, ua, ub),
            # each run's waiver as result.json holds it, what changed about it, and the statuses it covered
            "waiver": {"a": wa, "b": wb}, "waiver_change": waiver_change,
            "unwaived": {"a": ua, "b": ub},
            "waiver_note": _waiver_note(waiver_change, wa, wb, ua, ub) if x and y else None,
            "key_figure": {"a": x.get("key_figure"), "b": y.get("key_figure")},
            "params": _dict_changes(x.get("params", {}), y.get("params", {})) if x and y else {},
            "thresholds": _threshold_changes(x.get("thresholds", []), y.get("thresholds", [])) if x and y else [],
        })
    return rows


# --- measurements -----------------------------------------------------------------------------------

def _fold_intervals(measurements: dict[str, Any]) -> tuple[dict[str, float | None], dict[str, list]]:
    """Measurements without their CI bounds, and the bounds by measurement: [low, high]."""
    values, cis = {}, {}
    for name, value in measurements.items():
        for i, suffix in enumerate(CI_SUFFIXES):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and base in measurements:
                cis.setdefault(base, [None, None])[i] = _num(value)
                break
        else:
            values[name] = _num(value)
    return values, cis


def _overlap(x: list | None, y: list | None) -> bool | None:
    if not x or not y or None in x or None in y:
        return None
    return x[0] <= y[1] and y[0] <= x[1]


def compare_measurements(a: Run, b: Run) -> list[dict[str, Any]]:
    ca = {c["id"]: c for c in a.result.get("checks", [])}
    rows = []
    for check in b.result.get("checks", []):
        other = ca.get(check["id"])
        if other is None:
            continue
        va, cia = _fold_intervals(other.get("measurements", {}))
        vb, cib = _fold_intervals(check.get("measurements", {}))
        for name in [*vb, *[n for n in va if n not in vb]]:
            x, y = va.get(name), vb.get(name)
            rows.append({
                "check": check["id"], "check_type": check.get("check"), "measurement": name, "a": x, "b": y,
                "delta": None if x is None or y is None else y - x,
                "a_ci": cia.get(name), "b_ci": cib.get(name), "ci_overlap": _overlap(cia.get(name), cib.get(name)),
                # a bound is a measurement too (gates read roc_auc_ci_low): its change is a change
                "changed": x != y or cia.get(name) != cib.get(name),
            })
    return rows


# --- explanation drift ------------------------------------------------------------------------------

def _attribution_importance(run: Run) -> dict[str, dict[str, float]]:
    """Mean |attribution| per feature (or token) name, per method, from evidence/attributions-*.csv."""
    out = {}
    folder = run.path / "evidence"
    for path in sorted(folder.glob("attributions-*.csv")) if folder.is_dir() else []:
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    try:
                        value = abs(float(row["value"]))
                    except (KeyError, ValueError, TypeError):  # a row without its value (cut short) is no attribution
                        continue
                    name = row.get("name") or ""
                    sums[name] = sums.get(name, 0.0) + value
                    counts[name] = counts.get(name, 0) + 1
        except (OSError, UnicodeDecodeError, csv.Error) as exc:  # a folder, bytes that are not UTF-8: altered
            raise ResultFileError(str(path), [Problem("", f"cannot be read as the run's attributions ({type(exc).__name__}: "
                                                          f"{exc}); `auditor verify {run.path}` names what was altered")]) from None
        method = path.stem[len("attributions-"):]
        if sums:
            out[f"mean |{method}| (evidence/{path.name})"] = {k: sums[k] / counts[k] for k in sums}
    return out


def _permutation_importance(run: Run) -> dict[str, dict[str, float]]:
    for check in run.result.get("checks", []):
        if check.get("check") != "global_importance":
            continue
        for ev in check.get("evidence", []):
            if ev.get("kind") == "bar_chart" and ev.get("title", "").startswith("Permutation importance"):
                return {f"permutation importance ({check['id']} check, top features only)":
                        {label: float(v) for label, v in zip(ev["labels"], ev["values"])}}
    return {}


def global_importance(run: Run) -> dict[str, dict[str, float]]:
    return {**_attribution_importance(run), **_permutation_importance(run)}


def _top(importance: dict[str, float], k: int) -> list[str]:
    return [name for name, _ in sorted(importance.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def _spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 2:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr(x, y).statistic
    return _num(float(rho))


def trust_check_names() -> set[str]:
    """The checks that test explanations themselves (``Check.trust``): their measurements are drift."""
    from auditor.checks import CHECK_REGISTRY  # the registry of checks, read when a diff is made

    return {name for name, cls in CHECK_REGISTRY.items() if cls.trust}


def _moved_by(sources: list[dict[str, Any]], key: str) -> dict[str, list[str]]:
    """Per feature that entered (or left) a top k, the rankings in which it did (their short names)."""
    out: dict[str, list[str]] = {}
    for s in sources:
        for f in s[key]:
            out.setdefault(f, []).append(str(s["source"]).split(" (")[0])
    return dict(sorted(out.items()))


def explanation_drift(a: Run, b: Run, measurements: list[dict[str, Any]], top_k: int) -> dict[str, Any]:
    ga, gb = global_importance(a), global_importance(b)
    sources = []
    for source in [s for s in gb if s in ga]:
        x, y = ga[source], gb[source]
        top_a, top_b = _top(x, top_k), _top(y, top_k)
        common = sorted(set(x) & set(y))
        sources.append({
            "source": source, "top_k": top_k, "a_top": top_a, "b_top": top_b,
            "entered": [f for f in top_b if f not in top_a], "left": [f for f in top_a if f not in top_b],
            "rank_correlation": _spearman([x[f] for f in common], [y[f] for f in common]),
            "common_features": len(common),
        })
    only = sorted(set(ga) ^ set(gb))
    trust_checks = trust_check_names()
    trust = [m for m in measurements if m["check_type"] in trust_checks
             or (m["check_type"] == "global_importance" and m["measurement"] == "rank_correlation")]
    return {"sources": sources, "sources_in_one_run_only": only, "trust_measurements": trust}


# --- policy and inputs ------------------------------------------------------------------------------

def _inputs(run: Run) -> dict[str, dict[str, Any]]:
    listed = run.manifest.get("inputs") if run.manifest else None
    if listed:
        return {k: {"path": v.get("path"), "sha256": v.get("sha256")} for k, v in listed.items()}
    r = run.result  # a run without a manifest: the hashes recorded in the result
    return {name: {"path": r.get(key, {}).get("path") or r.get(key, {}).get("source"), "sha256": r.get(key, {}).get("sha256")}
            for name, key in (("policy", "policy"), ("card", "card"), ("dataset", "dataset"), ("model", "model"))}


def compare_inputs(a: Run, b: Run) -> list[dict[str, Any]]:
    ia, ib = _inputs(a), _inputs(b)
    return [{"input": k, "a": ia.get(k), "b": ib.get(k),
             "changed": (ia.get(k) or {}).get("sha256") != (ib.get(k) or {}).get("sha256")}
            for k in sorted(set(ia) | set(ib))]


def _parents(run: Run) -> dict[str, str | None]:
    """The policy files a run's policy extends (the one it names, the one that one names, ...; the
    policy's own file is compared by its sha256), by file name, with their sha256. Files of one name
    (dept/policy.yaml extending org/policy.yaml) by as much of their path as tells them apart."""
    chain = [c for c in (run.result.get("policy", {}).get("chain") or [])[1:] if isinstance(c, dict)]
    parts = [Path(str(c.get("source"))).parts for c in chain]

    def label(mine: tuple[str, ...]) -> str:
        for n in range(1, len(mine) + 1):
            if sum(p[-n:] == mine[-n:] for p in parts) == 1:
                return "/".join(mine[-n:])
        return "/".join(mine)

    return {label(p): c.get("sha256") for p, c in zip(parts, chain)}


def compare_policy(a: Run, b: Run) -> dict[str, Any]:
    """The policy's own fields, and the files it extends whose content changed: a policy that
    extends a built-in keeps its name, version and hash when the built-in's thresholds change, and
    the diff read "policy changed: none" beside changed thresholds."""
    keys = ("name", "version", "sha256", "reaudit_interval_days")
    pa = {k: a.result.get("policy", {}).get(k) for k in keys}
    pb = {k: b.result.get("policy", {}).get(k) for k in keys}
    ca, cb = _parents(a), _parents(b)
    files = [{"file": f, "a": ca.get(f), "b": cb.get(f)} for f in [*ca, *(f for f in cb if f not in ca)]
             if ca.get(f) != cb.get(f)]
    changed = [k for k in keys if pa[k] != pb[k]] + (["chain"] if files else [])
    return {"a": pa, "b": pb, "changed": changed, "chain": files}


def _ref(run: Run) -> dict[str, Any]:
    r = run.result
    return {"path": str(run.path), "model": run.model, "model_version": r.get("model", {}).get("version"),
            "dataset_rows": (r.get("dataset") or {}).get("rows"),
            "version": run.version, "run_id": r.get("run_id"), "created_at": r.get("created_at"),
            "status": r.get("status"), "manifest_sha256": run.manifest_sha256}


# --- the diff ---------------------------------------------------------------------------------------

def _provenance(run: Run, key: str) -> dict[str, Any]:
    """``provenance[key]`` of a run (the schema shapes machine, runtime and execution; a part it does
    not shape, such as libraries, shows as its text when it is not an object)."""
    provenance = run.result.get("provenance")
    part = provenance.get(key, {}) if isinstance(provenance, dict) else {}
    return part if isinstance(part, dict) else {"(not an object)": str(part)}


DEVICE_FACTS = ("device", "accelerator", "cuda")  # auditor.machine.device_facts, kept with the runtime


def _machine(run: Run) -> dict[str, Any]:
    """The machine facts and, for a neural model, the device its passes ran on (a GPU's figures differ
    from a CPU's in the last bits, as another CPU's do)."""
    runtime = _provenance(run, "runtime")
    return {**_provenance(run, "machine"), **{k: runtime[k] for k in DEVICE_FACTS if k in runtime}}


FINDINGS_SHOWN = 5  # of a run that does not verify: what the diff names (`auditor verify` lists every one)


def integrity(run: Run, db: str | None = None) -> dict[str, Any]:
    """What ``auditor verify`` finds in ``run``: its files against its manifest, the hash chain and its
    sign-offs (signatures against the keys of the registry ``db`` names, as ``verify --db``). A diff
    compares what the two result files say; where a run does not verify, its figures are not what the
    audit wrote, and the diff says so on its cover. A registry that cannot be checked against (in use
    by another process, a mistyped ``db``) is a :class:`UsageError`, as in ``verify``: it says
    nothing about the run, and is not written into the diff as a run that does not verify."""
    from auditor.errors import AuditorError
    from auditor.records.verify import verify_run

    try:
        checked = verify_run(run.path, db=db)
    except UsageError:
        raise
    except AuditorError as exc:
        return {"verified": False, "findings": [str(exc)], "more": 0}
    return {"verified": checked.ok, "findings": [str(f) for f in checked.findings[:FINDINGS_SHOWN]],
            "more": max(0, len(checked.findings) - FINDINGS_SHOWN)}


def _model_sha256(run: Run) -> str | None:
    model = run.result.get("model")
    return model.get("sha256") if isinstance(model, dict) else None


def diff_runs(a: Run, b: Run, top_k: int = 5, db: str | None = None) -> dict[str, Any]:
    checks = compare_checks(a, b)
    measurements = compare_measurements(a, b)
    unwaived = {"a": _unwaived_overall(a), "b": _unwaived_overall(b)}
    data = {
        "schema_version": DIFF_SCHEMA_VERSION,
        "a": _ref(a), "b": _ref(b), "same_model": a.model == b.model,
        # the same name over another artefact: a retrained model (its sha256 differs)
        "same_artefact": _model_sha256(a) is not None and _model_sha256(a) == _model_sha256(b),
        "status": {"a": a.result.get("status"), "b": b.result.get("status"),
                   "change": _verdict_change(a.result.get("status"), b.result.get("status"), *unwaived.values()),
                   "unwaived": unwaived},
        "checks": checks,
        "measurements": measurements,
        "explanation_drift": explanation_drift(a, b, measurements, top_k),
        "policy": compare_policy(a, b),
        "inputs": compare_inputs(a, b),
        "libraries": _dict_changes(_provenance(a, "libraries"), _provenance(b, "libraries")),
        # last-bit differences of a neural model's figures follow the CPU's kernels or the GPU (auditor.machine)
        "machine": _dict_changes(_machine(a), _machine(b)),
        "integrity": {"a": integrity(a, db), "b": integrity(b, db)},
    }
    data["summary"] = {
        "verdict_changes": sum(c["change"] != "unchanged" for c in checks),
        # of which a waiver added, expired or removed alone changed the status
        "verdict_changes_by_waiver": sum(c["change"] == "waiver" for c in checks),
        "checks_with_changed_params": sum(bool(c["params"]) for c in checks),
        "checks_with_changed_thresholds": sum(bool(c["thresholds"]) for c in checks),
        "measurements_changed": sum(m["changed"] for m in measurements),
        "inputs_changed": [i["input"] for i in data["inputs"] if i["changed"]],
        "policy_changed": data["policy"]["changed"],
        "features_entered": sorted({f for s in data["explanation_drift"]["sources"] for f in s["entered"]}),
        "features_left": sorted({f for s in data["explanation_drift"]["sources"] for f in s["left"]}),
        # which rankings say so: a feature one explainer of 10 rows moved is not one every ranking moved
        "features_entered_by": _moved_by(data["explanation_drift"]["sources"], "entered"),
        "features_left_by": _moved_by(data["explanation_drift"]["sources"], "left"),
        "unverified": [side for side in ("a", "b") if not data["integrity"][side]["verified"]],
    }
    return _clean(data)


def diff_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _bounds(t: dict | None) -> str:
    if not t:
        return "none"
    return " ".join(f"{k} {t[k]:g}" if isinstance(t[k], (int, float)) else f"{k} {t[k]}"
                    for k in ("min", "max") if t.get(k) is not None) or "no bound"


def check_line(c: dict[str, Any]) -> str | None:
    """A check's line in `auditor diff`'s output: its status change (and the waiver that made it),
    its parameters and thresholds old -> new; None where none of them changed."""
    if c["change"] == "unchanged" and not c["params"] and not c["thresholds"] and not c.get("waiver_note"):
        return None
    extra = []
    if c["params"]:
        extra.append("params " + ", ".join(f"{k} {v['a']} -> {v['b']}" for k, v in c["params"].items()))
    if c["thresholds"]:
        extra.append("thresholds " + ", ".join(f"{t['threshold']} {_bounds(t['a'])} -> {_bounds(t['b'])}"
                                               for t in c["thresholds"]))
    states = [c["a"] or "absent", c["b"] or "absent"]  # a check added or removed has no status on one side
    note = c.get("waiver_note")
    why = (note or c["change"]) if c["change"] == "waiver" else c["change"] + (f"; {note}" if note else "")
    return f"{c['id']}: {states[0]} -> {states[1]} ({why})" + ("; " + "; ".join(extra) if extra else "")


def diff_warnings(d: dict[str, Any]) -> list[str]:
    """What makes a diff's changes read otherwise than forward on one model: the diff's cover says
    these before its figures, and `auditor diff` prints the same sentences."""
    a, b = d["a"], d["b"]
    out = []
    if not d.get("same_model") and d.get("same_artefact"):
        out.append(f"The two runs audit the same artefact under two names, {a['model']} and {b['model']} (the "
                   "model's sha256 is the same): the name changed, the model did not.")
    elif not d.get("same_model"):
        out.append(f"The two runs audit different models: {a['model']} and {b['model']}.")
    elif d.get("same_artefact") is False:
        out.append(f"The two runs audit different artefacts under the name {b['model']} (the model's sha256 "
                   "differs: retrained or replaced), so a change below may be the model's as well as the audit's.")
    if a.get("model_version") != b.get("model_version"):
        out.append(f"The model's version changed: {a.get('model_version')} → {b.get('model_version')}.")
    if any(i["input"] == "dataset" and i["changed"] for i in d.get("inputs", [])):
        ra, rb = a.get("dataset_rows"), b.get("dataset_rows")
        rows = f"{ra} rows in both" if ra == rb else f"{ra} rows in A, {rb} in B"
        out.append(f"The two runs audit different data ({rows}; the dataset's sha256 differs): every figure below "
                   "rests on different data, so a change may be the data's rather than the model's.")
    pa, pb = d["policy"]["a"], d["policy"]["b"]
    gates = "may differ, so a status change below may be the policy's rather than the model's."
    if pa.get("name") != pb.get("name"):
        out.append(f"The two runs were audited under different policies, {pa.get('name')} {pa.get('version')} and "
                   f"{pb.get('name')} {pb.get('version')}: their checks, parameters and gates {gates}")
    elif pa.get("version") != pb.get("version"):
        out.append(f"The policy's version changed: {pa.get('name')} {pa.get('version')} → {pb.get('version')}; "
                   f"its checks, parameters and gates {gates}")
    elif d["policy"].get("changed"):  # edited (or a file it extends) under the same name and version
        out.append(f"The policy changed under the same name and version ({pa.get('name')} {pa.get('version')}; "
                   f"changed: {', '.join(d['policy']['changed'])}): its checks, parameters and gates {gates}")
    if a.get("created_at") and b.get("created_at") and b["created_at"] < a["created_at"]:
        out.append(f"B ({b['version']}) was audited before A ({a['version']}): every change below reads from the "
                   "later run back to the earlier one, so “worsened” means the earlier run is worse and B − A is "
                   "earlier minus later. Give the earlier run first to read the changes forward.")
    return out


def render_diff_html(data: dict[str, Any]) -> str:
    from markupsafe import Markup

    from auditor.render.html import make_environment, templates_dir

    env = make_environment()
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    return env.get_template("diff.html.j2").render(d=data, warnings=diff_warnings(data), css=Markup(css))


def render_diff(data: dict[str, Any]) -> dict[str, bytes]:
    from auditor.render.pdf import PdfAttachment, html_to_pdf

    body = diff_json(data)
    html = render_diff_html(data)
    a, b = data["a"], data["b"]
    pdf = html_to_pdf(
        html, created_at=max(a["created_at"] or "", b["created_at"] or ""),
        title=f"Audit diff: {a['model']} {a['version']} vs {b['model']} {b['version']}",
        identifier=sha256_bytes(f"{a['run_id']}:{b['run_id']}".encode())[:32],
        attachments=[PdfAttachment("diff.json", body, "Machine-readable diff of the two audits")],
    )
    return {"diff.json": body, "diff.html": html.encode("utf-8"), "diff.pdf": pdf}


@dataclass(frozen=True)
class DiffOutput:
    path: Path
    data: dict[str, Any]


def default_folder(a: Run, b: Run) -> Path:
    name = f"{a.version}-vs-{b.version}" if a.model_dir == b.model_dir else f"{slugify(a.model_dir.name)}-{a.version}-vs-{b.version}"
    return b.model_dir / "diffs" / name


def write_diff(run_a: str | Path | None, run_b: str | Path, out: str | Path | None = None, top_k: int = 5,
               pdf: bool = True, db: str | None = None) -> DiffOutput:
    """Diff two runs (``run_a`` None: the run before ``run_b`` of the same model) into a new folder.
    A folder that exists already is never overwritten: an identical diff is reused, otherwise the
    new one gets a numbered sibling."""
    b = open_run(run_b)
    if run_a is None:
        a = previous_run(b)
        if a is None:
            raise UsageError(f"{b.path} is the first run of {b.model}: give a second run to compare with")
    else:
        a = open_run(run_a)
    if a.path == b.path:
        raise UsageError("both arguments are the same run")
    if top_k < 1:
        raise UsageError("--top-k must be at least 1")
    target = check_diff_folder(Path(out)) if out else default_folder(a, b)
    if not out and (folder := enclosing_run(target)) is not None:  # diffs/ is a link into a run
        raise UsageError(f"{target.parent} leads into the stored run {folder}; a run is sealed and is never modified: "
                         "remove the link, or give --out")
    a.audit_result(), b.audit_result()  # an altered result is named, its run's path with it
    a.manifest, b.manifest  # and an altered manifest.json
    data = checked_diff(a, b, top_k, db)
    try:
        files = render_diff(data) if pdf else {"diff.json": diff_json(data), "diff.html": render_diff_html(data).encode("utf-8")}
    except MANGLED as exc:
        raise _mangled(a, b, exc) from None
    try:
        return DiffOutput(_write_folder(target, files), data)
    except OSError as exc:
        raise output_error(exc, target) from None


# what reading plain JSON without a schema raises where a stored result lacks or mangles a field
MANGLED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _mangled(a: Run, b: Run, exc: Exception) -> ResultFileError:
    return ResultFileError(f"{a.path} / {b.path}", [Problem(
        "result.json", f"a stored result lacks or mangles what a diff compares ({type(exc).__name__}: {exc}); "
                       "`auditor verify` names what was altered")])


def checked_diff(a: Run, b: Run, top_k: int = 5, db: str | None = None) -> dict[str, Any]:
    """:func:`diff_runs`, a run whose plain JSON lacks or mangles what a diff compares being a
    :class:`ResultFileError` (exit 3 in the CLI, the 422 page in the workspace), never a crash."""
    try:
        return diff_runs(a, b, top_k, db)
    except MANGLED as exc:
        raise _mangled(a, b, exc) from None


def check_diff_folder(target: Path) -> Path:
    """``--out`` for a diff: never inside a stored run (sealed), never a folder named like a
    version (it would be taken for a run), never in a folder the records own (a model's
    ``signoffs/``: store.owned_folder_problem), and new or empty (as ``render --to``)."""
    resolved = target.resolve()
    if (folder := enclosing_run(resolved)) is not None:
        raise UsageError(f"--out {target} is inside the stored run {folder}; a run is sealed and is never modified")
    if VERSION_RE.match(resolved.name):
        raise UsageError(f"--out {target}: a folder named like a version ({resolved.name}) would be taken for a run; "
                         "choose another name")
    if resolved.exists() and not (resolved.is_dir() and not any(resolved.iterdir())):
        # the diff went to "<out>-2" without a word: an output root's registry or a model's folder got a sibling
        raise UsageError(f"--out {target} exists and is not an empty folder; a diff is written into a new or empty folder")
    if (problem := owned_folder_problem(target, "--out", "diffs")) is not None:
        raise UsageError(problem)
    return target


def _write_folder(target: Path, files: dict[str, bytes]) -> Path:
    """Write the diff's files into ``target`` (or ``target-2``, ... when taken), whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged_folder(target.parent) as tmp:
        write_tree(tmp, files)
        for i in range(1, 1000):
            final = target if i == 1 else target.with_name(f"{target.name}-{i}")
            if final.is_dir() and all((final / n).is_file() and (final / n).read_bytes() == c for n, c in files.items()):
                return final  # the same diff, already written
            if publish_folder(tmp, final):
                return final
    raise RuntimeError(f"could not allocate a folder for the diff next to {target}")
