"""Policies: the schema, loading with inheritance and waivers, validation, clauses, thresholds and
traceability. The names below are the public face (``auditor.policy.load_policy``), imported on
first use: `auditor policies` reads the built-in files through catalog.py without the schema's
pydantic models, which take longer to build than the rest of the command."""

from auditor.lazy_imports import lazy_exports

_PUBLIC = {"CheckSpec": "schema", "Policy": "schema", "Threshold": "schema", "LoadedPolicy": "load",
           "load_policy": "load", "builtin_policies": "catalog", "builtin_policy_dir": "catalog"}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, {name: f"{__name__}.{module}" for name, module in _PUBLIC.items()})
