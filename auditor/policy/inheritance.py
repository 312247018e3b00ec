"""Policy inheritance: read the chain of files a policy ``extends``, and merge it, base first.

Rules (documented for policy authors in README.md):

- ``extends:`` names a built-in policy or a path (relative to the extending file). Chains may be
  several levels deep; an unknown parent or a cycle is a validation error at that ``extends``.
- The policy's identity (``id``, ``name``, ``version``, ``description``, ``owner``,
  ``effective_from``) is never inherited: every file states its own.
- ``seed``, ``reaudit_interval_days``, ``max_waiver_days`` and ``frameworks`` are inherited unless the child sets
  them; ``dataset`` key by key (a child's ``max_rows`` keeps the parent's ``min_rows``);
  ``explainers`` and ``task_explainers`` are inherited method by method, and each method's
  parameters key by key (a child's ``integrated_gradients: {internal_batch_size: 16}`` keeps the
  parent's rule and steps). Policy-level ``clauses`` and
  ``waivers`` accumulate; a parent's waiver of a check a child removes goes with it.
- ``remove: [id, ...]`` drops the parent's checks with those ids (applied before ``checks``).
- An entry of ``checks`` whose id (``id``, else ``check``) the parent has overrides that check:
  ``params`` are merged key by key; ``thresholds`` replace the parent's thresholds on the same
  measurement whose tasks they cover (a child's threshold with ``tasks: [tabular-regression]``
  replaces the parent's regression one and keeps its classification one; one without ``tasks``
  replaces every task's; others are kept, new measurements are added); ``title``, ``rationale`` and
  ``tasks`` replace; ``clauses`` are added to the parent's. Any other entry adds a check.
- A check's ``tasks`` limits it to models of those tasks (it is SKIPPED on others): the tabular
  ``default`` scopes its explanation checks to tabular models, so a child can add text variants
  (with other ids) beside them, and one policy can audit both kinds of model.

Each merged check remembers which file and entry set what, so a problem found after merging is
reported where it was written (``<file>:checks[2].params.top_k``; no prefix for the named file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import PolicyError, Problem
from auditor.inputs.yamlio import load_yaml_text, not_a_file, read_text_limited, shown_path

MAX_POLICY_BYTES = 1_000_000
MAX_CHAIN = 10  # files in one chain
IDENTITY = ("id", "name", "version", "description", "owner", "effective_from", "changelog")
REPLACED = ("schema_version", "seed", "reaudit_interval_days", "max_waiver_days", "frameworks")


@dataclass
class PolicyFile:
    path: Path
    source: str
    text: str
    sha256: str
    raw: dict
    where: str  # prefix of problem locations in this file: "" for the named file, else "<source>:"


@dataclass
class Entry:
    """One check of the merged policy and where each part of it was written."""

    spec: dict
    origin: str  # location of the entry that added it, e.g. "checks[3]" or "/p/default.yaml:checks[3]"
    params_at: dict[str, str] = field(default_factory=dict)  # param key -> entry location that set it
    thresholds_at: list[str] = field(default_factory=list)  # location of each threshold
    tasks_at: str = ""  # location of the tasks value
    overridden_at: list[str] = field(default_factory=list)
    weakened: list[str] = field(default_factory=list)  # a parent's gate an override loosened, said by validate
    # (location, the tasks before, each gate's tasks) of each override that set ``tasks``: one that drops a
    # task the parent's gates judged loosens them too (load.py says so, knowing the tasks the check applies to)
    retasked: list[tuple[str, list | None, list]] = field(default_factory=list)

    @property
    def check_id(self) -> str:
        return self.spec.get("id") or self.spec.get("check")

    @property
    def last(self) -> str:
        return self.overridden_at[-1] if self.overridden_at else self.origin


POLICY_MARKERS = ("schema_version", "name", "checks", "extends")


def read_policy_file(path: Path, where: str) -> PolicyFile:
    source = str(path)
    text, sha256 = read_text_limited(path, MAX_POLICY_BYTES, PolicyError)
    raw = load_yaml_text(text, source, PolicyError)
    if raw is None:
        raise PolicyError(source, [Problem("", "the policy is empty")])
    if not isinstance(raw, dict):
        raise PolicyError(source, [Problem("", f"expected a mapping at the top level, got {type(raw).__name__}")])
    if not any(isinstance(k, str) and k in POLICY_MARKERS for k in raw):
        # Not a policy at all (e.g. a link to a system file): say so without echoing its keys (its lines).
        raise PolicyError(source, [Problem("", f"not a policy file: none of {', '.join(POLICY_MARKERS)} at the top level")])
    return PolicyFile(path=path, source=source, text=text, sha256=sha256,
                      raw=raw, where=where)


def resolve_parent(value: str, child: Path, builtins: dict[str, Path]) -> tuple[Path | None, str]:
    """The file ``extends: value`` names (None if there is none) and what was looked for."""
    if value.endswith((".yaml", ".yml")) or "/" in value or "\\" in value:
        candidate = Path(os.path.normpath(Path(value) if Path(value).is_absolute() else child.parent / value))
        why = not_a_file(candidate)
        if why == "is a folder":
            why += "; name a policy file in it"
        return (None if why else candidate), (f"no file {shown_path(candidate)}" if why == "does not exist" else
                                              f"{shown_path(candidate)} {why}")
    if value not in builtins and not_a_file(child.parent / value) == "is a folder":
        return None, f"{child.parent / value} is a folder; name a policy file in it, or a built-in policy"
    return builtins.get(value), f"not a built-in policy (built-ins: {', '.join(builtins) or 'none'})"


def load_chain(path: Path, builtins: dict[str, Path]) -> list[PolicyFile]:
    """The named policy file, then the file it extends, and so on to a policy without ``extends``."""
    files = [read_policy_file(path, "")]
    seen = {path.resolve(): str(path)}
    while "extends" in files[-1].raw:
        child = files[-1]
        value = child.raw["extends"]
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(child.source, [Problem("extends", "expected a built-in policy name or a path")])
        parent, looked = resolve_parent(value, child.path, builtins)
        if parent is None:
            raise PolicyError(child.source, [Problem("extends", f"unknown parent policy {shown_path(value)!r}: {looked}")])
        if parent.resolve() in seen:
            cycle = " -> ".join([*(f.source for f in files), str(parent)])
            raise PolicyError(child.source, [Problem("extends", f"policies extend each other in a cycle: {cycle}")])
        if len(files) >= MAX_CHAIN:
            raise PolicyError(child.source, [Problem("extends", f"more than {MAX_CHAIN} levels of inheritance")])
        seen[parent.resolve()] = str(parent)
        try:
            files.append(read_policy_file(parent, f"{parent}:"))
        except PolicyError as exc:  # say how the named policy reaches the broken file
            exc.add_note(f"(the parent policy: {child.source} extends {value!r})")
            raise
    return files


# --- merging ----------------------------------------------------------------------------------------


def _add(entries: list[Entry], item: dict, loc: str) -> None:
    spec = dict(item)
    params = spec.get("params") if isinstance(spec.get("params"), dict) else {}
    thresholds = spec.get("thresholds") if isinstance(spec.get("thresholds"), list) else []
    entries.append(Entry(spec=spec, origin=loc, params_at={k: loc for k in params},
                         thresholds_at=[f"{loc}.thresholds[{j}]" for j in range(len(thresholds))], tasks_at=f"{loc}.tasks"))


def _override(entry: Entry, item: dict, loc: str, problems: list[Problem]) -> None:
    spec = entry.spec
    if item.get("check") is not None and item["check"] != spec.get("check"):
        problems.append(Problem(f"{loc}.check", (
            f"check id {entry.check_id!r} is a {spec.get('check')!r} check in the parent ({entry.origin}); an "
            f"override cannot change the check (remove the id and add a new entry)")))
        return
    entry.overridden_at.append(loc)
    for key in ("title", "rationale"):
        if item.get(key) is not None:
            spec[key] = item[key]
    if item.get("tasks") is not None:
        if spec.get("thresholds"):
            entry.retasked.append((f"{loc}.tasks", spec.get("tasks"), [t.get("tasks") for t in spec["thresholds"]]))
        spec["tasks"] = item["tasks"]
        entry.tasks_at = f"{loc}.tasks"
    if item.get("params"):
        spec["params"] = {**spec.get("params", {}), **item["params"]}
        entry.params_at.update({k: loc for k in item["params"]})
    if item.get("clauses"):
        spec["clauses"] = [*spec.get("clauses", []), *(c for c in item["clauses"] if c not in spec.get("clauses", []))]
    new = item.get("thresholds") or []
    if new:
        added = [(t, f"{loc}.thresholds[{j}]") for j, t in enumerate(new)]
        # each replaced measurement keeps the position of its first threshold in the parent
        order: list[tuple[dict, str]] = []
        placed = set()
        for t, at in zip(spec.get("thresholds", []), entry.thresholds_at):
            m = t.get("measurement")
            if any(_replaces(c, t) for c in new):
                entry.weakened += [f"{entry.check_id}: {loc} loosens {m} ({why}) set at {at}"
                                   for c in new if _replaces(c, t) and (why := _looser(t, c))]
                if m not in placed:
                    order += [pair for pair in added if pair[0].get("measurement") == m]
                    placed.add(m)
            else:
                order.append((t, at))
        order += [pair for pair in added if pair[0].get("measurement") not in placed]
        spec["thresholds"] = [t for t, _ in order]
        entry.thresholds_at = [at for _, at in order]


THRESHOLD_SEVERITY = {"info": 0, "warn": 1, "warning": 1, "fail": 2, "blocking": 2}  # strictness of a gate


def _looser(parent: dict, child: dict) -> str:
    """How a child's threshold loosens the parent's it replaces ("" if it does not): a lower severity,
    a lower minimum, a higher maximum, or a bound dropped."""
    said = []
    rank = [THRESHOLD_SEVERITY.get(str(t.get("severity", "fail")), 2) for t in (parent, child)]
    if rank[1] < rank[0]:
        said.append(f"severity {parent.get('severity', 'fail')} -> {child.get('severity', 'fail')}")
    for bound, looser in (("min", lambda old, new: new < old), ("max", lambda old, new: new > old)):
        old, new = parent.get(bound), child.get(bound)
        if isinstance(old, (int, float)) and (new is None or (isinstance(new, (int, float)) and looser(old, new))):
            said.append(f"{bound} {old} -> {new if new is not None else 'none'}")
    return "; ".join(said)


def _replaces(child: dict, parent: dict) -> bool:
    """Whether a child's threshold replaces a parent's: the same measurement, over every task the
    parent's judges (a child's gate for regressors only keeps the parent's gate for classifiers; one
    with no tasks replaces them all)."""
    if child.get("measurement") != parent.get("measurement"):
        return False
    mine, theirs = child.get("tasks"), parent.get("tasks")
    return not mine or (bool(theirs) and set(theirs) <= set(mine))


def _methods_merged(parent: Any, child: Any) -> dict:
    """An explainers block of a child over its parent's: method by method, and each method's parameters
    key by key, as a check's ``params`` are (a child's ``integrated_gradients: {internal_batch_size: 16}``
    had replaced the parent's whole entry, its nested rule silently back to 32 Gauss-Legendre steps).
    An entry that is not a mapping replaces (its schema problem is said where it was written)."""
    out = dict(parent) if isinstance(parent, dict) else {}
    for method, params in (child.items() if isinstance(child, dict) else ()):
        old = out.get(method)
        out[method] = {**old, **params} if isinstance(old, dict) and isinstance(params, dict) else params
    return out


def merge_chain(files: list[PolicyFile]) -> tuple[dict, list[Entry], list[tuple[dict, str, str]], list[Problem]]:
    """Merge a structurally valid chain (base last in ``files``). Returns the merged policy as a raw
    mapping (checks not yet filled in), its checks, its waivers as (raw, source, location), and
    the problems merging found (a removed or overridden id the parent lacks)."""
    merged: dict[str, Any] = {}
    entries: list[Entry] = []
    waivers: list[tuple[dict, str, str]] = []
    problems: list[Problem] = []
    for f in reversed(files):
        raw = f.raw
        for key in REPLACED:
            if key in raw:
                merged[key] = raw[key]
        if "dataset" in raw:  # the dataset's limits key by key
            merged["dataset"] = {**(merged.get("dataset") or {}), **(raw["dataset"] or {})}
        if "explainers" in raw:
            merged["explainers"] = _methods_merged(merged.get("explainers"), raw["explainers"])
        if "task_explainers" in raw:
            tx = {task: dict(methods) for task, methods in merged.get("task_explainers", {}).items()}
            for task, methods in (raw["task_explainers"] or {}).items():
                tx[task] = _methods_merged(tx.get(task), methods)
            merged["task_explainers"] = tx
        if raw.get("clauses"):
            merged["clauses"] = [*merged.get("clauses", []), *(c for c in raw["clauses"] if c not in merged.get("clauses", []))]
        waivers += [(w, f.source, f"waivers[{i}]") for i, w in enumerate(raw.get("waivers") or [])]
        removes = raw.get("remove") or []
        for i, gone in enumerate(removes):
            keep = [e for e in entries if e.check_id != gone]
            if len(keep) == len(entries) and gone not in removes[:i]:  # an id listed twice: said by the schema
                problems.append(Problem(f"{f.where}remove[{i}]", f"the parent policy has no check with id {gone!r}"))
            entries = keep
        by_id = {e.check_id: e for e in entries}
        for i, item in enumerate(raw.get("checks") or []):
            loc = f"{f.where}checks[{i}]"
            cid = item.get("id") or item.get("check")
            if f is not files[-1] and cid in by_id:
                _override(by_id[cid], item, loc, problems)
            elif item.get("check") is None:
                problems.append(Problem(f"{loc}.id", (
                    f"the parent policy has no check with id {cid!r} to override; to add a check, name it with 'check:'")))
            else:
                _add(entries, item, loc)
                by_id[cid] = entries[-1]
    if not entries and not problems and len(files) > 1:
        problems.append(Problem(f"{files[0].where}remove", "removes every check the policy would run (and adds none): "
                                                           "a policy needs at least one check"))
    root = files[0].raw
    for key in IDENTITY:
        merged.pop(key, None)
        if key in root:
            merged[key] = root[key]
    if "extends" in root:
        merged["extends"] = root["extends"]
    return merged, entries, waivers, problems


def compact(value: Any) -> Any:
    """A resolved policy without empty values (``""``, ``[]``, ``{}``, None), for reading."""
    if isinstance(value, dict):
        out = {k: compact(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value
