"""The machine an audit ran on, as provenance records it.

The same inputs and seed give the same figures on the same kind of machine. On another CPU the
figures of a neural model can differ in their last bits (about 1e-7 of a probability): PyTorch and
oneDNN pick their kernels by the CPU's vector instructions (AVX2, AVX-512), and a sum computed in
another order rounds differently. Gates hold far above that, but a reviewer comparing two runs
digit by digit needs to know whether they ran on the same kind of machine, and a benchmark's
seconds mean nothing without the CPU they were measured on.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_model() -> str:
    """The CPU's model name (Linux: ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in CPUINFO.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_facts() -> dict:
    """Platform, Python, CPU model and logical CPUs; where PyTorch is already imported (a neural
    model's audit), the vector instructions its CPU kernels use and its threads. Never imports
    PyTorch: a tabular audit does not load it."""
    facts = {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_model(),
             "logical_cpus": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            facts["torch_cpu_kernels"] = str(torch.backends.cpu.get_cpu_capability())
            facts["torch_threads"] = int(torch.get_num_threads())
        except (AttributeError, RuntimeError):  # an older or partial build: the facts above still hold
            pass
    return facts


def machine_line(facts: dict) -> str:
    """One line for a report: ``AMD EPYC, 2 logical CPUs; PyTorch kernels AVX2, 2 threads; Python 3.11.7; Linux-…``."""
    def counted(n, noun: str) -> str:
        return f"{'?' if n is None else n} {noun}{'' if n == 1 else 's'}"

    parts = [f"{facts.get('cpu', 'unknown CPU')}, {counted(facts.get('logical_cpus'), 'logical CPU')}"]
    if facts.get("torch_cpu_kernels"):
        parts.append(f"PyTorch kernels {facts['torch_cpu_kernels']}, {counted(facts.get('torch_threads'), 'thread')}")
    parts += [f"Python {facts.get('python', '?')}", str(facts.get("platform", "?"))]
    return "; ".join(parts)


def device_facts(device) -> dict:
    """Where a neural model's passes ran: the PyTorch device (``cpu``, ``cuda:0``) and, on a GPU, its
    name and the CUDA version PyTorch was built with. A GPU's kernels sum in other orders than the
    CPU's, so its figures differ from a CPU run's in the last bits (as another CPU's do), and a run's
    provenance says which. Called only once PyTorch is imported (``device`` is a ``torch.device``)."""
    facts = {"device": str(device)}
    if getattr(device, "type", None) == "cuda":
        torch = sys.modules["torch"]
        index = device.index if device.index is not None else torch.cuda.current_device()
        facts.update(device=f"cuda:{index}", accelerator=torch.cuda.get_device_name(index),
                     cuda=str(torch.version.cuda))
    return facts
