"""Prepacked oneDNN linear kernels against PyTorch's own, interleaved in one process (issue 17).

    .venv/bin/python benchmarks/packed_linear.py            # review example, about 3 minutes on 2 cores

Two adapters of the review example's model, one with its linear layers packed
(``auditor/models/packed_linear.py``) and one with ``AUDITOR_PACKED_LINEAR=0``, timed in alternation
(``--rounds`` rounds) so that a change in the machine's speed hits both alike: class probabilities
of ``--texts`` evaluation reviews (a fresh prediction cache each round) and integrated gradients
(32 steps) of ``--explained`` others. Process CPU seconds (the steady figure on a shared machine),
medians over rounds, and the largest differences of probabilities and attributions.

Results: ``results/packed-linear-<UTC time>.json``.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import (TEXT, build_examples, eval_reviews, interleaved_arguments, interleaved_predict_and_ig,  # noqa: E402
                 machine, write_result)


def load(packed: bool):
    from auditor.models.packed_linear import ENV_SWITCH
    from auditor.models.text import load_text_model

    os.environ[ENV_SWITCH] = "1" if packed else "0"
    return load_text_model(TEXT / "model", threads=2)


def main() -> None:
    ap = interleaved_arguments(__doc__, rounds=4)
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    reviews = eval_reviews()
    texts, explained = reviews[: args.texts], reviews[args.texts: args.texts + args.explained]
    models = {"plain": load(False), "packed": load(True)}
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "kernels": models["packed"].runtime_facts["kernels"],
              **interleaved_predict_and_ig(models, texts, explained, args.rounds)}
    write_result("packed-linear", report)


if __name__ == "__main__":
    main()
