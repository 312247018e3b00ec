"""Policies: the schema, loading with inheritance and waivers, validation, clauses, thresholds and
traceability. The names below are the public face (``auditor.policy.load_policy``)."""

from auditor.policy.load import LoadedPolicy, builtin_policies, builtin_policy_dir, load_policy
from auditor.policy.schema import CheckSpec, Policy, Threshold

__all__ = ["CheckSpec", "LoadedPolicy", "Policy", "Threshold", "builtin_policies", "builtin_policy_dir", "load_policy"]
