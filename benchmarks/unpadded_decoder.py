"""A Llama decoder-only sequence classifier on its real tokens only (``auditor/models/unpadded_decoder.py``)
against the model's own right-padded forward, interleaved in one process (issue 17).

    .venv/bin/python benchmarks/unpadded_decoder.py      # about 8 minutes on 2 cores

The two model shapes of ``prompt_prefix.py`` (the review-decoder example's, Llama 4 x 128, and a
MiniLM-sized one, 6 x 384), as ``LlamaForSequenceClassification`` with untrained weights (the cost of
a forward pass does not depend on what the weights learnt) and the MiniLM tokenizer's vocabulary.
Per shape, two adapters (``load_sequence_classifier`` with ``AUDITOR_FAST_FORWARD`` 1 and 0), timed in
alternation for ``--rounds`` rounds (``prompt_prefix.interleaved``): process CPU seconds of the class
probabilities of ``--texts`` evaluation reviews and of integrated gradients, SHAP and LIME at
`text-default`'s budgets on ``--explained`` others; the largest differences between the two ways.

``--ig-only`` times integrated gradients alone, on ``--explained`` reviews of the smaller shape,
alternating which way goes first in each round (at under a second per run, the order matters).

Results: ``results/unpadded-decoder-<UTC time>.json``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from prompt_prefix import SHAPES, build_model, interleaved, study_start  # noqa: E402
from run import write_result  # noqa: E402

LABELS = {0: "negative", 1: "positive"}


def load(path: Path, fast: bool):
    from auditor.models.decoder import load_sequence_classifier
    from auditor.models.fast_forward import ENV_SWITCH
    from auditor.models.unpadded_decoder import HOW

    os.environ[ENV_SWITCH] = "1" if fast else "0"
    model = load_sequence_classifier(path, max_length=128, batch_size=32)
    assert (model.runtime_facts["fast_forward"].get("how") == HOW) == fast, model.runtime_facts
    return model


def ig_alternating(models: dict, explained: list[str], rounds: int) -> dict:
    """Process CPU seconds of integrated gradients (as `text-default` sets them) of ``explained`` per
    round and way, the first way alternating between rounds."""
    from auditor.explain.text_gradients import explain_integrated_gradients

    names = list(models)
    target = models[names[-1]].predict_proba(explained).argmax(axis=1)
    cpu: dict = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            models[name]._fresh_cache()
            started = time.process_time()
            explain_integrated_gradients(models[name], explained, np.arange(len(explained)), target, n_steps=63,
                                         internal_batch_size=64, rule="nested", first_steps=15, refine_above=0.02)
            cpu[name].append(round(time.process_time() - started, 3))
    med = {name: statistics.median(v) for name, v in cpu.items()}
    return {"cpu_s": cpu, "cpu_s_median": med, "speedup": round(med[names[-1]] / med[names[0]], 2)}


def main() -> None:
    args, texts, explained, report = study_start(
        __doc__, lambda ap: ap.add_argument("--ig-only", action="store_true"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.ig_only:
            shape, dims = next(iter(SHAPES.items()))
            path = build_model(Path(tmp) / "small", **dims, labels=LABELS)
            models = {"real tokens": load(path, True), "padded": load(path, False)}
            report["runs"][f"{shape}, integrated gradients"] = run = ig_alternating(models, explained, args.rounds)
            print(f"{shape}: integrated gradients {run['cpu_s_median']}", flush=True)
        for shape, dims in ({} if args.ig_only else SHAPES).items():
            path = build_model(Path(tmp) / shape.split()[0], **dims, labels=LABELS)
            models = {"real tokens": load(path, True), "padded": load(path, False)}
            run = interleaved(models, texts, explained, args.rounds)
            run["mean_tokens"] = round(float(np.mean([len(a) for a in models["padded"].token_ids(texts)])), 1)
            report["runs"][shape] = run
            print(f"{shape}: speed-up {run['speedup']}, largest differences {run['max_abs_diff']}", flush=True)
    report["load_average_1min"] = round(os.getloadavg()[0], 2)
    write_result("unpadded-decoder", report)


if __name__ == "__main__":
    main()
