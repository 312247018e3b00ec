"""auditor: policy-driven audits of ML models, with tests that their explanations can be trusted."""

from __future__ import annotations

from importlib import import_module

# The public names are imported on first use (PEP 562): `import auditor` (and so every CLI command,
# `auditor --help` included) must not pay for numpy, pandas, scikit-learn or torch up front.
_EXPORTS = {
    "RunRecord": "auditor.engine.audit",
    "rerender": "auditor.engine.audit",
    "run_audit": "auditor.engine.audit",
    "load_policy": "auditor.policy.load",
}

__all__ = ["RunRecord", "load_policy", "rerender", "run_audit"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
