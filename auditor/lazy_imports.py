"""Functions of heavy libraries, imported on first call.

The CLI must start in well under a second (`auditor --help`, `policies`, `verify` ...), and loading a
policy imports every check module for its parameters. scipy.stats, scikit-learn and pandas take
0.4-1 s each to import, so the modules that load with the check registry name the few functions
they need here instead of importing them at the top.
"""

from __future__ import annotations

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
