"""The text explainers on real tokens only against padded batches and against the libraries used
well, interleaved in one process (issue 17).

    .venv/bin/python benchmarks/unpadded.py            # review example, about 12 minutes on 2 cores

Two audit contexts of the review example per round, one with the model's own padded forward
(``AUDITOR_FAST_FORWARD=0``: the prediction cache's batches cut into alike lengths, each padded to its
longest) and one on real tokens only (``auditor/models/unpadded_encoder.py``: a whole batch per pass,
the last layer on the first token), timed in alternation for ``--rounds`` rounds so that a change in
the machine's speed hits both alike. Per round and way: the `text-default` explainers (integrated
gradients as the policy sets them: 32 Gauss-Legendre steps before 2026.6, nested rules since; SHAP
Partition 400 evaluations, LIME 400 samples) on the audit's first
``--explained`` reviews, each from an empty prediction cache, and the class probabilities of
``--texts`` evaluation reviews. Process CPU seconds per explained text (medians over rounds) and the
largest differences of probabilities and attributions between the two ways. In the same rounds,
the same explanations by the libraries used well (``side_by_side.LibraryWay``: shap Partition,
LIME and Captum, batched, on PyTorch's own kernels), so the ratio to them is measured under the
same machine speed.

Results: ``results/unpadded-<UTC time>.json``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import TEXT, build_examples, eval_reviews, interleaved_arguments, machine, write_result  # noqa: E402

METHODS = ("integrated_gradients", "shap", "lime")


def context(unpadded: bool):
    from auditor.engine.audit import prepare_audit
    from auditor.models.fast_forward import ENV_SWITCH

    os.environ[ENV_SWITCH] = "1" if unpadded else "0"
    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    assert bool(ctx.model.runtime_facts["fast_forward"]["used"]) == unpadded, ctx.model.runtime_facts
    return ctx


def library_round(texts: list[str], target: np.ndarray) -> dict:
    """CPU seconds per text of the libraries used well on ``texts`` (a fresh model each round)."""
    from side_by_side import LibraryWay

    way = LibraryWay()
    out = {}
    for method, run in (("integrated_gradients", lambda: way.integrated_gradients(texts, target)),
                        ("shap", lambda: way.shap(texts, target)), ("lime", lambda: way.lime(texts, target, 0))):
        started = time.process_time()
        run()
        out[method] = round((time.process_time() - started) / len(texts), 3)
    return out


def main() -> None:
    ap = interleaved_arguments(__doc__, rounds=3)
    ap.add_argument("--skip-libraries", action="store_true")
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    from auditor.checks.explainers import feature_vectors

    reviews = eval_reviews()
    warm = context(True)  # shap compiles its Partition loop (numba) and LIME/sklearn pay first calls once
    warm.attribution("shap", 1, {"max_evals": 40})
    warm.attribution("lime", 1, {"num_samples": 20, "seed_offset": 999})
    texts = [warm.data.texts()[int(r)] for r in warm.explained_rows(args.explained)]
    target = warm.predict_proba_rows(warm.explained_rows(args.explained)).argmax(axis=1)
    del warm
    ways = {"padded": False, "unpadded": True}
    cpu = {way: {m: [] for m in (*METHODS, "probabilities")} for way in ways}
    outputs: dict = {}
    load_start = os.getloadavg()[0]
    for _ in range(args.rounds):
        for way, unpadded in ways.items():
            ctx = context(unpadded)
            n = args.explained
            ctx.predict_proba_rows(ctx.explained_rows(n))
            values = {}
            for method in METHODS:
                ctx.model._fresh_cache()
                started = time.process_time()
                values[method] = feature_vectors(ctx.attribution(method, n, {}))
                cpu[way][method].append(round((time.process_time() - started) / n, 3))
            ctx.model._fresh_cache()
            started = time.process_time()
            values["probabilities"] = ctx.model.predict_proba(reviews[: args.texts])
            cpu[way]["probabilities"].append(round(time.process_time() - started, 2))
            outputs[way] = values
            del ctx
        if not args.skip_libraries:
            for method, seconds in library_round(texts, target).items():
                cpu.setdefault("libraries", {}).setdefault(method, []).append(seconds)
    medians = {way: {m: statistics.median(v) for m, v in table.items()} for way, table in cpu.items()}
    explainers = {way: round(sum(medians[way][m] for m in METHODS), 2) for way in medians}
    diff = {m: float(max(np.abs(a - b).max() for a, b in zip(outputs["padded"][m], outputs["unpadded"][m])))
            for m in METHODS}
    diff["probabilities"] = float(np.abs(outputs["padded"]["probabilities"] - outputs["unpadded"]["probabilities"]).max())
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "explained": args.explained, "texts": args.texts, "rounds": args.rounds,
        "cpu_s": cpu, "cpu_s_median": medians,  # explainers: per explained text; probabilities: all --texts
        "explainers_cpu_s_per_text": explainers,
        "speedup": {**{m: round(medians["padded"][m] / medians["unpadded"][m], 2) for m in medians["padded"]},
                    "explainers": round(explainers["padded"] / explainers["unpadded"], 2)},
        "libraries_over_audit": {way: round(explainers["libraries"] / explainers[way], 2) for way in ways}
        if "libraries" in explainers else "skipped",
        "max_abs_diff": diff,
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    write_result("unpadded", report)


if __name__ == "__main__":
    main()
