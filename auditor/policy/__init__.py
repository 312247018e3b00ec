"""Policies: the schema, loading with inheritance and waivers, validation, clauses, thresholds and
traceability. The names below are the public face (``auditor.policy.load_policy``), imported on
first use: `auditor policies` reads the built-in files through catalog.py without the schema's
pydantic models, which take longer to build than the rest of the command."""

from importlib import import_module

_PUBLIC = {"CheckSpec": "schema", "Policy": "schema", "Threshold": "schema", "LoadedPolicy": "load",
           "load_policy": "load", "builtin_policies": "catalog", "builtin_policy_dir": "catalog"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    globals()[name] = value
    return value
