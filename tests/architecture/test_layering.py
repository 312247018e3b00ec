"""The folders show the data flow, and the imports respect it: no cycles, and each layer imports
only the layers below it (inputs/results/errors <- policy <- engine -> models/explain/metrics/checks;
render <- records). Read from the source, so a function-level import counts too."""

from __future__ import annotations

import re

from .imports import ROOT, cycles, import_graph

FOUNDATION = {"errors", "results", "hashing", "lazy_imports", "machine"}
# layer -> the layers it may import (besides itself and the foundation)
ALLOWED = {
    "metrics": set(),
    "inputs": set(),
    "models": {"metrics"},
    "explain": {"models", "metrics", "inputs"},  # its budgets are read from a policy's YAML (inputs.validation)
    "checks": {"explain", "metrics", "models", "inputs"},
    # A policy names checks and explainers and is validated against their parameter schemas: it
    # reads the two registries (auditor.checks, auditor.explain), never the engine.
    "policy": {"inputs", "checks", "explain"},
    "render": {"policy"},
    # diff reads which checks are trust checks from the check registry
    "records": {"render", "checks", "inputs"},
    "engine": {"inputs", "policy", "models", "explain", "metrics", "checks", "render", "records"},
    "web": {"records", "render"},  # the reviewer's workspace: a view over the records
}
# the command line, its options' defaults (config files, AUDITOR_* variables) and its progress display: may import anything
PUBLIC_FACE = {"auditor", "cli", "__main__", "config", "progress"}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "auditor"


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_each_layer_imports_only_what_is_below_it():
    wrong = []
    for module, deps in import_graph().items():
        own = layer(module)
        if own in PUBLIC_FACE:
            continue
        allowed = ALLOWED.get(own, set()) | FOUNDATION | {own}
        if own in FOUNDATION:
            allowed = {own}
        wrong += [f"{module} -> {dep}" for dep in sorted(deps) if layer(dep) not in allowed]
    assert wrong == []


def test_the_folders_of_the_data_flow_hold_the_modules():
    top = {p.stem for p in ROOT.glob("*.py")}
    assert top == {"__init__", "__main__", "cli", "config", "progress", "errors", "results", "hashing", "lazy_imports",
                   "machine"}
    for folder in ("inputs", "policy", "engine", "models", "explain", "metrics", "checks", "render", "records"):
        assert (ROOT / folder / "__init__.py").is_file(), folder


TASK_LITERAL = re.compile(r"""["'](tabular|text)-(classification|regression)["']""")
MODEL_SURGERY = re.compile(r"\b(import torch|from torch|_init_weights|reset_parameters|\.estimator\b|sklearn\.base|clone\()")


def test_checks_hold_no_task_literals_and_no_model_surgery():
    offending = []
    for path in sorted((ROOT / "checks").glob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if TASK_LITERAL.search(line) or MODEL_SURGERY.search(line):
                offending.append(f"{path.name}:{i}: {line.strip()}")
    assert offending == []
