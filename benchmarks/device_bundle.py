"""Carry the review example to a GPU machine that cannot install packages or receive more than 64 MiB
(the workplace's device tool), for ``gpu_vs_cpu.py``. Never part of the test suite.

    .venv/bin/python benchmarks/device_bundle.py pack      # here: writes .gpu/ (about 46 MB)
    python3 benchmarks/device_bundle.py restore            # there: the example's model, card and data in place

``pack`` writes the example's weights as float16 (45 MB instead of 91: the fine-tuned float32 weights
do not fit beside the code), its tokenizer, config, card and data, and the sources of ``lime`` (a
source distribution only, pure Python). ``restore`` writes the weights back as float32: the model on
the GPU machine is the example's model rounded to float16, the same for both devices compared there.
The other missing packages travel as wheels for that machine's Python (``.whl/``: shap, slicer,
pydantic, pydantic-core, annotated-types, typing-inspection, nh3; ``pip download --only-binary=:all:
--python-version 3.12 ...``). Both folders are kept out of git (``.git/info/exclude``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "review-sentiment"
BUNDLE = ROOT / ".gpu"
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
HALF = "model.fp16.safetensors"


def convert(source: Path, target: Path, dtype) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(str(source))
    save_file({k: v.to(dtype).contiguous() for k, v in weights.items()}, str(target))


def pack() -> None:
    import torch

    (BUNDLE / "model").mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copy(EXAMPLE / "model" / name, BUNDLE / "model" / name)
    convert(EXAMPLE / "model" / "model.safetensors", BUNDLE / "model" / HALF, torch.float16)
    shutil.copytree(EXAMPLE / "data", BUNDLE / "data", dirs_exist_ok=True)
    shutil.copy(EXAMPLE / "README.md", BUNDLE / "card.md")
    import lime

    shutil.copytree(Path(lime.__file__).parent, BUNDLE / "site" / "lime", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    print("packed", BUNDLE)


def restore() -> None:
    import torch

    (EXAMPLE / "model").mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copy(BUNDLE / "model" / name, EXAMPLE / "model" / name)
    convert(BUNDLE / "model" / HALF, EXAMPLE / "model" / "model.safetensors", torch.float32)
    shutil.copytree(BUNDLE / "data", EXAMPLE / "data", dirs_exist_ok=True)
    shutil.copy(BUNDLE / "card.md", EXAMPLE / "README.md")
    print("restored", EXAMPLE)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["pack", "restore"])
    {"pack": pack, "restore": restore}[ap.parse_args().step]()
