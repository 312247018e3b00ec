"""Functions of heavy libraries, imported on first call.

The CLI must start in well under a second (`auditor --help`, `policies`, `verify` ...), and loading a
policy imports every check module for its parameters. scipy.stats, scikit-learn and pandas take
0.4-1 s each to import, so the modules that load with the check registry name the few functions
they need here instead of importing them at the top.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any, Callable


def lazy_function(module: str, name: str) -> Callable[..., Any]:
    """A stand-in for ``module.name`` that imports ``module`` on its first call (thread-safe: the
    import system holds a lock per module)."""

    def call(*args, **kwargs):
        return getattr(import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{module}.{name}``, imported on first call."
    call.__module__ = __name__
    return call


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` (PEP 562) whose public names, ``{name: module}``,
    are imported on first use and kept: ``import auditor`` and ``auditor.policy`` cost nothing until
    a name is used."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
