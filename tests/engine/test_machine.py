"""What provenance records of the machine an audit ran on (auditor.machine)."""

from __future__ import annotations

import os
import platform
import sys

import pytest

from auditor import machine
from auditor.machine import cpu_model, machine_facts, machine_line

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu avx2

processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
"""


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    monkeypatch.setattr(machine, "CPUINFO", info)
    assert cpu_model() == "AMD EPYC 9R14 96-Core Processor"


@pytest.mark.parametrize("content", [None, "processor\t: 0\nmodel name\t:   \n"])
def test_without_a_model_name_the_cpu_is_what_platform_knows(tmp_path, monkeypatch, content):
    info = tmp_path / "cpuinfo"
    if content is not None:
        info.write_text(content)
    monkeypatch.setattr(machine, "CPUINFO", info)
    assert cpu_model() == (platform.processor() or platform.machine() or "unknown")


def test_the_facts_name_the_platform_python_and_cpus_and_pytorch_kernels_only_once_imported(monkeypatch):
    import torch

    facts = machine_facts()
    assert facts["platform"] == platform.platform() and facts["python"] == platform.python_version()
    assert facts["logical_cpus"] == os.cpu_count() and facts["cpu"] == cpu_model()
    assert facts["torch_cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
    assert facts["torch_threads"] == torch.get_num_threads()
    monkeypatch.delitem(sys.modules, "torch")  # a tabular audit's process: PyTorch never loaded
    without = machine_facts()
    assert "torch_cpu_kernels" not in without and "torch_threads" not in without
    assert "torch" not in sys.modules  # reading the facts did not import it


def test_one_line_for_the_report():
    facts = {"platform": "Linux-6.1-x86_64", "python": "3.11.7", "cpu": "AMD EPYC", "logical_cpus": 2}
    assert machine_line(facts) == "AMD EPYC, 2 logical CPUs; Python 3.11.7; Linux-6.1-x86_64"
    assert machine_line({**facts, "torch_cpu_kernels": "AVX2", "torch_threads": 2}) == (
        "AMD EPYC, 2 logical CPUs; PyTorch kernels AVX2, 2 threads; Python 3.11.7; Linux-6.1-x86_64")
    assert machine_line({**facts, "logical_cpus": 1, "torch_cpu_kernels": "AVX512", "torch_threads": 1}) == (
        "AMD EPYC, 1 logical CPU; PyTorch kernels AVX512, 1 thread; Python 3.11.7; Linux-6.1-x86_64")
    assert machine_line({}) == "unknown CPU, ? logical CPUs; Python ?; ?"  # a result.json edited by hand


def test_the_device_is_named_and_a_gpu_by_its_model_and_cuda_version(monkeypatch):
    import torch

    from auditor.machine import device_facts

    assert device_facts(torch.device("cpu")) == {"device": "cpu"}
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"NVIDIA H200 #{index}")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    assert device_facts(torch.device("cuda")) == {"device": "cuda:1", "accelerator": "NVIDIA H200 #1", "cuda": "13.0"}
    assert device_facts(torch.device("cuda:0"))["accelerator"] == "NVIDIA H200 #0"
