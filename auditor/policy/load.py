"""Loading a policy: by built-in name or path, with every policy it extends and its waivers,
validated and resolved into a LoadedPolicy (see inheritance.py for the inheritance rules).
Every problem of every file in the chain is collected and reported together with its location."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from auditor.errors import PolicyError, Problem, WaiversError
from auditor.inputs.validation import pydantic_problems
from auditor.policy.catalog import builtin_policies, resolve_policy_path
from auditor.policy.compute import compute_problems
from auditor.policy.inheritance import compact, load_chain, merge_chain
from auditor.policy.loosening import loosened
from auditor.policy.schema import Policy
from auditor.policy.waivers import LoadedWaivers, SourcedWaiver, approval_problems, load_waivers_file, too_long
from auditor.results import FileHash, PolicyRef


@dataclass(frozen=True)
class CheckSite:
    """Where one resolved check was written, so that a problem found once the card or data are known
    (a gate the card's task cannot meet, a fairness group that is the card's target) is said where it
    was written, as the problems found at load are: ``checks[2].thresholds[0]`` in the named file,
    ``<parent file>:checks[3].thresholds[1]`` in a policy it extends (inheritance.py's ``Entry``).
    ``last``: the entry that last set the check (its override, else the entry that added it);
    ``params_at``: (parameter, entry that set it); ``thresholds_at``: each threshold's location."""

    last: str
    params_at: tuple[tuple[str, str], ...] = ()
    thresholds_at: tuple[str, ...] = ()

    @classmethod
    def of(cls, entry) -> "CheckSite":
        return cls(last=entry.last, params_at=tuple(entry.params_at.items()), thresholds_at=tuple(entry.thresholds_at))

    def param(self, key: str) -> str:
        """Where parameter ``key`` was set (one set nowhere, at the check's last entry, where one would set it)."""
        return f"{dict(self.params_at).get(key, self.last)}.params.{key}"

    def threshold(self, j: int) -> str:
        return self.thresholds_at[j] if j < len(self.thresholds_at) else f"{self.last}.thresholds[{j}]"


class LoadedPolicy(BaseModel):
    """A validated, resolved policy with its checks' parameters parsed, and where it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    policy: Policy
    params: list[Any]  # one validated Params object per check, in order
    source: str
    sha256: str
    text: str
    chain: list[FileHash] = []  # the named file first, then its parent, ...
    waivers: list[SourcedWaiver] = []  # from the policy chain and the waivers file
    waivers_file: FileHash | None = None
    weakened: list[str] = []  # a parent's gate a child loosened (validate says so; the run's record keeps it)
    sites: tuple[CheckSite, ...] = ()  # where each check of policy.checks was written, in order (see site())

    def site(self, spec) -> CheckSite:
        """Where the check ``spec`` (one of ``policy.checks``, or its id) was written. A LoadedPolicy built
        without ``sites`` (one file, as in tests) has each check at its own position, ``checks[i]``; a
        check not in the policy is named by its id."""
        checks = self.policy.checks
        cid = spec if isinstance(spec, str) else spec.check_id
        i = next((i for i, c in enumerate(checks) if c is spec), None)
        i = i if i is not None else next((i for i, c in enumerate(checks) if c.check_id == cid), None)
        if i is None:
            return CheckSite(last=f"check {cid!r}")
        if i < len(self.sites):
            return self.sites[i]
        return CheckSite(last=f"checks[{i}]", params_at=tuple((k, f"checks[{i}]") for k in checks[i].params))

    def resolved(self) -> dict[str, Any]:
        """The policy after inheritance, without empty values: what `policies show` prints and result.json records."""
        data = self.policy.model_dump(mode="json")
        data["id"] = self.policy.policy_id
        return compact(data)

    def resolved_yaml(self) -> str:
        """The resolved policy as YAML, headed by the files it was resolved from (`auditor policies show`)."""
        import yaml

        head = [f"# {self.policy.policy_id} {self.policy.version}, resolved from:"]
        head += [f"#   {f.source} (sha256 {f.sha256})" for f in self.chain]
        body = yaml.safe_dump(self.resolved(), sort_keys=False, allow_unicode=True, width=100)
        return "\n".join(head) + "\n" + body

    def resolved_sha256(self) -> str:
        canonical = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def reference(self) -> PolicyRef:
        p = self.policy
        return PolicyRef(
            name=p.name, version=p.version, sha256=self.sha256, source=self.source,
            reaudit_interval_days=p.reaudit_interval_days, id=p.policy_id, owner=p.owner,
            effective_from=p.effective_from.isoformat() if p.effective_from else None, chain=list(self.chain),
            waivers_file=self.waivers_file, resolved_sha256=self.resolved_sha256(), resolved=self.resolved(),
            loosened=list(self.weakened),
        )


def load_policy(name_or_path: str | Path, waivers: str | Path | None = None, today: dt.date | None = None) -> LoadedPolicy:
    """Load, validate and resolve a policy by built-in name or path (with every policy it extends,
    and an optional waivers file); raise PolicyError listing all problems. ``today`` (default: the UTC
    day) bounds how far its waivers may reach (waivers.py)."""
    from auditor.checks import CHECK_REGISTRY  # the registry imports checks, which import policy types
    from auditor.policy.validate import base_problems, entry_params, integration_problems, overlay_problems

    files = load_chain(resolve_policy_path(name_or_path), builtin_policies())
    root = files[0]
    waiver_file: LoadedWaivers | None = load_waivers_file(waivers) if waivers is not None else None
    problems: list[Problem] = []
    for f in files:
        found = base_problems(f.raw, CHECK_REGISTRY) if f is files[-1] else overlay_problems(f.raw)
        problems += [Problem(f.where + p.location, p.message) for p in found]
    if problems:  # the merge's own problems (overrides, parameters) are said with them where it can run
        said = {p.location for p in problems}
        raise PolicyError(root.source, problems + [p for p in _merge_problems(files, CHECK_REGISTRY)
                                                   if p.location not in said])
    merged, entries, raw_waivers, problems = merge_chain(files)
    params = [entry_params(e, CHECK_REGISTRY, problems) for e in entries]
    if problems:
        raise PolicyError(root.source, problems)
    merged["checks"] = [e.spec for e in entries]
    # a parent's waiver of a check a child removed waives nothing, and goes with it; one of an id no
    # file of the chain removed is checked as the named file's are (a typo in a parent's waiver had
    # been dropped unsaid)
    kept = {e.check_id for e in entries}
    removed = {gone for f in files[:-1] if isinstance(f.raw.get("remove"), list) for gone in f.raw["remove"]
               if isinstance(gone, str)}
    raw_waivers = [(w, src, loc) for w, src, loc in raw_waivers
                   if src == root.source or not isinstance(w, dict) or w.get("check") in kept
                   or w.get("check") not in removed]
    merged["waivers"] = [w for w, _, _ in raw_waivers]
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:  # each file validated on its own; this would be a merging bug
        raise PolicyError(root.source, pydantic_problems(exc, prefix="(resolved policy)")) from None
    problems += integration_problems(policy, params)
    problems += compute_problems(policy, entries, params, CHECK_REGISTRY, root.raw)  # each parameter bounded, and their product
    sourced = [SourcedWaiver(w, src, loc) for w, (_, src, loc) in zip(policy.waivers, raw_waivers)]
    sourced += waiver_file.waivers if waiver_file else []
    ids = [c.check_id for c in policy.checks]
    gates = {c.check_id: [t.measurement for t in c.thresholds if t.severity != "info"] for c in policy.checks}
    # (waiver, the problem's location in its file, message)
    said = [(sw, *_unknown_check(sw, ids, root.source)) for sw in sourced if sw.waiver.check not in ids]
    said += [(sw, *_unknown_gate(sw, j, gates, root.source)) for sw in sourced if sw.waiver.check in gates
             for j, g in enumerate(sw.waiver.gates) if g not in gates[sw.waiver.check]]
    today = today or dt.datetime.now(dt.timezone.utc).date()
    said += [(sw, f"{sw.location}.approved", why) for sw, why in approval_problems(sourced, today)]
    said += [(sw, f"{sw.location}.expires", why) for sw, why in too_long(sourced, policy.max_waiver_days, today,
                                                                         root.source)]
    if said and not problems and waiver_file is not None and all(sw.source == waiver_file.source for sw, _, _ in said):
        raise WaiversError(waiver_file.source, [Problem(at, why) for _, at, why in said])
    problems += [Problem(("" if sw.source == root.source else f"{sw.source}:") + at, why) for sw, at, why in said]
    if problems:
        raise PolicyError(root.source, problems)
    return LoadedPolicy(
        policy=policy, params=params, source=root.source, text=root.text, sha256=root.sha256,
        chain=[FileHash(source=f.source, sha256=f.sha256) for f in files], waivers=sourced,
        waivers_file=FileHash(source=waiver_file.source, sha256=waiver_file.sha256) if waiver_file else None,
        weakened=[*(w for e in entries for w in [*e.weakened, *_dropped_tasks(e, CHECK_REGISTRY)]),
                  *loosened(files, CHECK_REGISTRY)],
        sites=tuple(CheckSite.of(e) for e in entries),
    )


def _merge_problems(files, registry) -> list[Problem]:
    """The problems merging the chain finds (an override of an unknown id, a parameter out of range),
    for a chain whose files have problems of their own: all are said at once, not one stage per
    attempt. A file too malformed to merge (``checks`` not a list, ...) gives none: its own problems
    say why."""
    from auditor.policy.validate import entry_params

    try:
        _, entries, _, problems = merge_chain(files)
        for e in entries:
            entry_params(e, registry, problems)
    except Exception:  # noqa: BLE001 - merging assumes files that validated; their problems are raised anyway
        return []
    return problems


def _unknown_gate(sw: SourcedWaiver, j: int, gates: dict[str, list[str]], policy_source: str) -> tuple[str, str]:
    mine = list(dict.fromkeys(gates[sw.waiver.check]))
    return (f"{sw.location}.gates[{j}]",
            f"{sw.waiver.gates[j]!r} is not a warning or blocking gate of check {sw.waiver.check!r} in the policy "
            f"{policy_source}" + (f"; its gates: {', '.join(mine)}" if mine else "; the check has none, so "
                                  "nothing of it can be waived"))


def _dropped_tasks(entry, registry) -> list[str]:
    """An override's ``tasks`` that leave out a task the parent's gates judged: a gate dropped for those
    models, as a removed bound is (validate says so)."""
    runs_on = registry[entry.spec["check"]].applicable_tasks()
    said = []
    for at, before, gates in entry.retasked:
        judged = {t for scope in gates for t in (scope or before or runs_on) if t in (before or runs_on)}
        dropped = [t for t in runs_on if t in judged and t not in entry.spec["tasks"]]
        if dropped:
            said.append(f"{entry.check_id}: {at} no longer runs it on {', '.join(dropped)} models, so its gates (the "
                        f"check added at {entry.origin}) no longer judge them")
    return said


def _unknown_check(sw: SourcedWaiver, ids: list[str], policy_source: str) -> tuple[str, str]:
    return (f"{sw.location}.check",
            f"unknown check id {sw.waiver.check!r}; the policy {policy_source} has: {', '.join(ids)}")
