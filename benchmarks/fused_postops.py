"""The review model's GELU and residual additions applied inside its prepacked linear products
(oneDNN post-ops) against today's separate operations, interleaved in one process (issue 17). A
study, not adopted (``benchmarks/README.md``): the fused layer is defined here and swapped in for
``unpadded_encoder._layer``.

    .venv/bin/python benchmarks/fused_postops.py        # about 6 minutes on 2 cores

Per round and way: the class probabilities of ``--texts`` evaluation reviews and SHAP (Partition,
400 evaluations) and LIME (400 samples) of the audit's first ``--explained`` reviews, each from an
empty prediction cache; process CPU and wall seconds. Also an isolated feed-forward block (2,048
tokens, 384 -> 1,536 -> 384) both ways. Largest differences of probabilities and attributions.

Results: ``results/fused-postops-<UTC time>.json``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import TEXT, build_examples, eval_reviews, interleaved_arguments, machine, write_result  # noqa: E402


def fused_layer(layer, x, runs, first):
    """``unpadded_encoder._layer`` with the output projections' residual additions and the
    intermediate GELU (exact: the review model's) done by oneDNN inside the linear products."""
    import torch

    from auditor.models.unpadded_encoder import self_attention

    linear = torch.ops.mkldnn._linear_pointwise
    context, residual = self_attention(layer, x, runs, first)
    dense, inter, out = layer.attention.output.dense, layer.intermediate.dense, layer.output.dense
    h = layer.attention.output.LayerNorm(linear.binary(context, residual, dense.packed_weight(), dense.bias, "add"))
    a = linear(h, inter.packed_weight(), inter.bias, "gelu", [], "none")
    return layer.output.LayerNorm(linear.binary(a, h, out.packed_weight(), out.bias, "add"))


def block_ms(rounds: int = 4, tokens: int = 2048) -> dict:
    """An isolated feed-forward block, separate ops vs fused, ms per call (median of rounds)."""
    import torch

    reorder, linear = torch.ops.mkldnn._reorder_linear_weight, torch.ops.mkldnn._linear_pointwise
    g = torch.Generator().manual_seed(0)
    x, res = torch.randn(tokens, 384, generator=g), torch.randn(tokens, 384, generator=g)
    w1, b1 = torch.randn(1536, 384, generator=g) * 0.05, torch.randn(1536, generator=g) * 0.1
    w2, b2 = torch.randn(384, 1536, generator=g) * 0.03, torch.randn(384, generator=g) * 0.1
    p1, p2 = reorder(w1, None), reorder(w2, None)
    ways = {"separate": lambda: linear(torch.nn.functional.gelu(linear(x, p1, b1, "none", [], "")), p2, b2,
                                       "none", [], "") + res,
            "fused": lambda: linear.binary(linear(x, p1, b1, "gelu", [], "none"), res, p2, b2, "add")}
    diff = float((ways["separate"]() - ways["fused"]()).abs().max())
    ms = {w: [] for w in ways}
    for _ in range(rounds):
        for w, f in ways.items():
            for _ in range(5):
                f()
            t = time.perf_counter()
            for _ in range(40):
                f()
            ms[w].append((time.perf_counter() - t) / 40 * 1e3)
    return {"ms_median": {w: round(statistics.median(v), 2) for w, v in ms.items()}, "max_abs_diff": diff}


def main() -> None:
    ap = interleaved_arguments(__doc__, rounds=3)
    ap.set_defaults(texts=512, explained=4)
    args = ap.parse_args()
    build_examples(text=True, credit=False)
    import auditor.models.unpadded_encoder as unpadded
    from auditor.checks.explainers import feature_vectors
    from auditor.engine.audit import prepare_audit

    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    assert ctx.model.runtime_facts["fast_forward"]["used"], ctx.model.runtime_facts
    ctx.attribution("shap", 1, {"max_evals": 40})  # shap compiles its Partition loop (numba) once
    ctx.attribution("lime", 1, {"num_samples": 20, "seed_offset": 999})
    n, reviews = args.explained, eval_reviews()[: args.texts]
    ctx.predict_proba_rows(ctx.explained_rows(n))
    ways = {"separate": unpadded._layer, "fused": fused_layer}
    seconds: dict = {w: {m: [] for m in ("probabilities", "shap", "lime")} for w in ways}
    outputs: dict = {}
    for _ in range(args.rounds):
        for way, layer in ways.items():
            unpadded._layer = layer
            values = {}
            for method in ("shap", "lime"):
                ctx.model._fresh_cache()
                ctx._attributions.clear()
                cpu, wall = time.process_time(), time.perf_counter()
                values[method] = feature_vectors(ctx.attribution(method, n, {}))
                seconds[way][method].append((round((time.process_time() - cpu) / n, 3),
                                             round((time.perf_counter() - wall) / n, 3)))
            ctx.model._fresh_cache()
            cpu, wall = time.process_time(), time.perf_counter()
            values["probabilities"] = ctx.model.predict_proba(reviews)
            seconds[way]["probabilities"].append((round(time.process_time() - cpu, 2),
                                                  round(time.perf_counter() - wall, 2)))
            outputs[way] = values
    unpadded._layer = ways["separate"]
    diff = {"probabilities": float(np.abs(outputs["separate"]["probabilities"] - outputs["fused"]["probabilities"]).max())}
    for method in ("shap", "lime"):
        diff[method] = float(max(np.abs(a - b).max() for a, b in zip(outputs["separate"][method], outputs["fused"][method])))
    medians = {w: {m: [statistics.median(s[0] for s in v), statistics.median(s[1] for s in v)]
                   for m, v in table.items()} for w, table in seconds.items()}
    write_result("fused-postops", {
        "machine": machine(), "texts": args.texts, "explained": n, "rounds": args.rounds,
        "seconds_cpu_wall": seconds,  # shap, lime: per explained text; probabilities: all --texts
        "median_cpu_wall": medians,
        "speedup_cpu": {m: round(medians["separate"][m][0] / medians["fused"][m][0], 3) for m in medians["fused"]},
        "max_abs_diff": diff, "feed_forward_block": block_ms(),
    })


if __name__ == "__main__":
    main()
