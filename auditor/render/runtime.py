"""How the model was run and where, in words for the report's provenance (``provenance.runtime``,
``provenance.execution``)."""

from __future__ import annotations

from collections import Counter

from auditor.machine import machine_line


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
    if runtime.get("device"):
        accelerator = runtime.get("accelerator")
        lines.append(f"Device: {runtime['device']}"
                     + (f" ({accelerator}, CUDA {runtime.get('cuda', '?')})" if accelerator else ""))
    kernels = runtime.get("kernels")
    if kernels:
        reason = f" ({kernels['reason']})" if kernels.get("reason") else ""
        lines.append(f"Linear layers: {kernels.get('linear_kernels', 'PyTorch')}{_probe(kernels)}{reason}")
    fast = runtime.get("fast_forward")
    if fast:
        line = (f"Forward pass: {fast['how']}{_probe(fast)}" if fast.get("used")
                else f"Forward pass: the model's own ({fast.get('reason', 'no reason recorded')})")
        if fast.get("prefix_tokens"):
            line += f"; {fast['prefix_tokens']} prompt tokens shared by every input"
        if fast.get("prompt_prefix_not_cached"):
            line += f"; the prompt's prefix is computed with every input ({fast['prompt_prefix_not_cached']})"
        lines.append(line)
    return lines


def _n(value) -> str:
    return f"{int(value or 0):,}"


def execution_lines(execution: dict) -> list[str]:
    """Where the audit's model work ran (``provenance.execution``), in words: one process and its
    workers, or a Dask cluster with what its workers computed (the "Model calls" row counts this
    process's cache only)."""
    if not execution:
        return []
    if execution.get("backend") != "dask":
        jobs = int(execution.get("n_jobs", 1))
        return [f"One process: {jobs} parallel workers ({execution.get('backend', 'threading')})" if jobs > 1
                else "One process, one worker"]
    threads = execution.get("threads_per_worker")
    lines = [f"Dask cluster {execution.get('cluster')}: {execution.get('workers')} workers"
             + (f", {threads} thread each" if threads else "")
             + "; each loaded the model itself and matched its sha256"]
    cache = execution.get("worker_cache") or {}
    total = cache.get("total")
    if total:
        lines.append(f"On the workers: {_n(total.get('requests'))} inputs requested, "
                     f"{_n(total.get('distinct_inputs'))} computed, {_n(total.get('hits'))} cache hits, "
                     f"{_n(total.get('gradient_inputs'))} through a backward pass (not counted under Model calls)")
    copies = cache.get("randomised_copies")
    if copies:
        lines.append(f"Randomised copies (sanity check), on the workers: {_n(copies.get('distinct_inputs'))} inputs computed, "
                     f"{_n(copies.get('gradient_inputs'))} through a backward pass")
    machines = Counter(machine_line(m) for m in (execution.get("worker_machines") or {}).values())
    lines += [f"{'Worker machine' if n == 1 else f'{n} worker machines'}: {line}" for line, n in sorted(machines.items())]
    mine = execution.get("computed_for_this_process") or {}
    if mine.get("inputs"):
        lines.append(f"Of the inputs under Model calls, {_n(mine.get('inputs'))} were computed on the workers "
                     f"({_n(mine.get('batches'))} batches)")
    return lines
