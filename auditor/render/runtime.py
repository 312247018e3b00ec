"""How the model was run, in words for the report's provenance (``provenance.runtime``)."""

from __future__ import annotations


def _probe(facts: dict) -> str:
    diff = facts.get("probe_max_abs_prob_diff")
    if diff is None:
        return ""
    return f" (checked on {facts.get('probe_inputs', 0)} probe texts: largest probability difference {diff:.1g})"


def runtime_lines(runtime: dict) -> list[str]:
    """One line each for the runtime that served the forward passes, the linear kernels and the
    forward path, with what each was checked against; empty for a model without these facts."""
    if not runtime:
        return []
    used, requested = runtime.get("used", "torch"), runtime.get("requested", "torch")
    line = f"Runtime: {used}"
    if runtime.get("verified_inputs"):
        line += (f" (verified against PyTorch float32 on {runtime['verified_inputs']} evaluation texts: largest "
                 f"probability difference {runtime.get('max_abs_prob_diff', float('nan')):.2g})")
    if runtime.get("approximate"):
        line += "; approximate: gated verdicts are marked"
    if requested != used:
        line += f"; {requested} was requested and not used: {runtime.get('reason', 'no reason recorded')}"
    lines = [line]
    kernels = runtime.get("kernels")
    if kernels:
        reason = f" ({kernels['reason']})" if kernels.get("reason") else ""
        lines.append(f"Linear layers: {kernels.get('linear_kernels', 'PyTorch')}{_probe(kernels)}{reason}")
    fast = runtime.get("fast_forward")
    if fast:
        lines.append(f"Forward pass: {fast['how']}{_probe(fast)}" if fast.get("used")
                     else f"Forward pass: the model's own ({fast.get('reason', 'no reason recorded')})")
    return lines
