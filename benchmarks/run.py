"""Audit speed benchmark: what an audit costs in model passes, and how close it gets to the model's
own batched throughput. Never part of the test suite.

    .venv/bin/python benchmarks/run.py                      # both workloads, text N = 25 50 100
    .venv/bin/python benchmarks/run.py --text-n 25 --skip-credit

Workloads: (a) the review-sentiment example under `text-default`, with N explained reviews (every
check's n_instances set to N); (b) the credit-scoring example under `default`, on the whole
evaluation split. Each audit runs in a fresh subprocess (peak memory = its max RSS).

Efficiency = (model time the audit's passes would need at the model's peak batched throughput,
measured in the same run on the same model) / audit wall time. The seed-style comparison runs LIME
(5,000 samples) and shap's text explainer with library defaults and a one-text-at-a-time predict,
on a few instances, and extrapolates to N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "examples" / "review-sentiment"
CREDIT = ROOT / "examples" / "credit-scoring"
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    """What a result's seconds were measured on (the audit's provenance records the same facts)."""
    import torch  # the studies time PyTorch models: its kernels' instruction set belongs to the figures

    from auditor.machine import machine_facts

    return machine_facts()


def write_result(prefix: str, report: dict) -> Path:
    """Print ``report`` and write it to ``results/<prefix>-<UTC time>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{prefix}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=1))
    print(f"wrote {path}")
    return path


def eval_reviews() -> list[str]:
    """The review example's evaluation texts, in file order."""
    return [json.loads(line)["review"] for line in (TEXT / "data" / "eval.jsonl").read_text().splitlines()]


def interleaved_arguments(description: str, rounds: int) -> argparse.ArgumentParser:
    """The options every interleaved benchmark takes: ``--texts`` to predict, ``--explained`` to
    explain, ``--rounds`` of alternation."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--explained", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=rounds)
    return ap


def interleaved_predict_and_ig(models: dict, texts: list[str], explained: list[str], rounds: int) -> dict:
    """Two or more adapters of one model timed in alternation for ``rounds`` rounds, so that a change
    in the machine's speed hits all alike: process CPU seconds of the probabilities of ``texts`` (a
    fresh prediction cache each round) and of integrated gradients (32 steps) of ``explained``.
    Returns the seconds per round, their medians, and the speed-up and largest differences of every
    other adapter from the first."""
    import statistics

    from auditor.explain.text_gradients import explain_integrated_gradients

    first = next(iter(models))
    target = models[first].predict_proba(explained).argmax(axis=1)
    for model in models.values():  # first-call costs (allocations, kernel choices) before any timing
        model.predict_proba(explained)
    rows = np.arange(len(explained))
    cpu = {name: {"predict": [], "integrated_gradients": []} for name in models}
    outputs = {}
    load_start = os.getloadavg()[0]
    for _ in range(rounds):
        for name, model in models.items():
            model._fresh_cache()
            started = time.process_time()
            probs = model.predict_proba(texts)
            cpu[name]["predict"].append(round(time.process_time() - started, 2))
            started = time.process_time()
            attr = explain_integrated_gradients(model, explained, rows, target, n_steps=32, internal_batch_size=64)
            cpu[name]["integrated_gradients"].append(round(time.process_time() - started, 2))
            outputs[name] = (probs, np.concatenate(attr.values))
    medians = {name: {k: statistics.median(v) for k, v in table.items()} for name, table in cpu.items()}
    others = [name for name in models if name != first]
    return {"texts": len(texts), "explained": len(explained), "rounds": rounds, "cpu_s": cpu, "cpu_s_median": medians,
            "speedup": {name: {k: round(medians[first][k] / medians[name][k], 2) for k in medians[first]} for name in others},
            "max_abs_prob_diff": {name: float(np.abs(outputs[name][0] - outputs[first][0]).max()) for name in others},
            "max_abs_attribution_diff": {name: float(np.abs(outputs[name][1] - outputs[first][1]).max()) for name in others},
            "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)]}


def build_examples(text: bool, credit: bool) -> None:
    for flag, folder in ((credit, CREDIT), (text, TEXT)):
        if flag:
            subprocess.run([sys.executable, str(folder / "build.py")], check=True)


def policy_with_n(name: str, n: int | None, out: Path) -> Path:
    from auditor.policy import load_policy

    loaded = load_policy(name)
    raw = yaml.safe_load(loaded.text)
    if n is not None:
        for spec in raw["checks"]:
            if "n_instances" in (spec.get("params") or {}):
                spec["params"]["n_instances"] = n
    path = out / f"{name}-n{n}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


PEAK_REPORTING_AUDIT = """
import atexit, resource, sys
atexit.register(lambda: print(f"peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr))
sys.argv[0] = "auditor"
from auditor.cli import main
main()
"""


def rss_mib(pid: int) -> int | None:
    """A process's resident memory, from /proc (None once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def run_audit_subprocess(policy: Path, card: Path, data: Path, out: Path, *extra: str,
                         rss_every_s: float | None = None) -> dict:
    """One `auditor run` in a fresh process: wall seconds, peak RSS, result.json, and with
    ``rss_every_s`` its resident memory sampled at that interval (``rss_mib``)."""
    started = time.perf_counter()
    # The audit reports its own peak RSS on exit (RUSAGE_CHILDREN would give the largest of all the
    # audits run so far, not this one's).
    proc = subprocess.Popen([sys.executable, "-c", PEAK_REPORTING_AUDIT, "run", "--quiet", "--policy", str(policy),
                             "--card", str(card), "--data", str(data), "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[int] = []

    def sample() -> None:
        while proc.poll() is None:
            value = rss_mib(proc.pid)
            if value is not None:
                samples.append(value)
            time.sleep(rss_every_s)

    sampler = threading.Thread(target=sample, daemon=True) if rss_every_s else None
    if sampler:
        sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if sampler:
        sampler.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"audit failed ({proc.returncode}):\n{stderr[-3000:]}")
    peak_kb = int(stderr.rsplit("peak_rss_kb=", 1)[1].split()[0])
    result_path = sorted(out.glob("*/v*/result.json"))[-1]
    return {"wall_s": wall, "peak_rss_mb": peak_kb / 1024, "result": json.loads(result_path.read_text()),
            "rss_mib": samples}


def summarise(run: dict, n_explained: int | None) -> dict:
    result = run["result"]
    cache = result["provenance"]["cache"]
    per_method: dict[str, float] = {}
    for check in result["checks"]:
        for key, value in (check.get("cost") or {}).items():
            if key.endswith("_forward_passes_per_instance"):
                per_method[key.removesuffix("_forward_passes_per_instance")] = value
    return {
        "wall_s": round(run["wall_s"], 1),
        "audit_s": result["provenance"]["timings"]["total_s"],
        "model_s": result["provenance"]["timings"].get("model_s"),
        "peak_rss_mb": round(run["peak_rss_mb"]),
        "requests": cache["requests"], "distinct_inputs": cache["distinct_inputs"], "cache_hits": cache["hits"],
        "cache_hit_rate": round(cache["hits"] / max(cache["requests"], 1), 3),
        "requests_equal_hits_plus_distinct": cache["requests"] == cache["hits"] + cache["distinct_inputs"],
        "forward_passes_per_instance": per_method, "n_explained": n_explained,
        "checks_s": result["provenance"]["timings"]["checks_s"], "status": result["status"],
        "check_model_inputs": {c["id"]: (c.get("cost") or {}).get("model_inputs") for c in result["checks"]},
        "check_status": {c["id"]: c["status"] for c in result["checks"]},
        "execution": result["provenance"].get("execution"),
        "explainer_budgets": result["policy"].get("resolved", {}).get("explainers"),
    }


def text_peak_throughput(n: int = 192) -> dict:
    """Sequences per second of the text model: forward (batched, length-sorted, padded dynamically)
    and forward+backward through the embeddings, on distinct evaluation reviews."""
    import torch

    from auditor.models.text import load_text_model

    model = load_text_model(TEXT / "model")
    texts = eval_reviews()[:n]
    encoded = model.encode(texts)
    started = time.perf_counter()
    model.predict_proba_ids([e.ids for e in encoded])
    forward = len(texts) / (time.perf_counter() - started)
    ordered = sorted(encoded, key=lambda e: len(e.ids))  # the same sequences, batched as the audit does
    started = time.perf_counter()
    for start in range(0, len(ordered), 32):
        ids, mask = model.pad_batch([e.ids for e in ordered[start:start + 32]])
        emb = model.embedding_layer(ids).detach().requires_grad_(True)
        out = model.model(inputs_embeds=emb, attention_mask=mask).logits
        torch.autograd.grad(out[:, 0].sum(), emb)
    backward = len(ordered) / (time.perf_counter() - started)
    return {"forward_seq_per_s": round(forward, 1), "forward_backward_seq_per_s": round(backward, 1)}


def gradient_inputs(result: dict) -> int:
    """Forward+backward inputs of the audit: the audited model's, plus the randomised model's (sanity)."""
    total = result["provenance"]["cache"].get("gradient_inputs", 0)
    for check in result["checks"]:
        total += int((check.get("cost") or {}).get("randomised_gradient_inputs", 0))
    return total


def efficiency(summary: dict, throughput: dict, gradients: int) -> float:
    """Model time the audit's distinct forward inputs and its gradient inputs need at peak
    throughput, over the audit's wall time."""
    ideal = (summary["distinct_inputs"] / throughput["forward_seq_per_s"]
             + gradients / throughput["forward_backward_seq_per_s"])
    return round(ideal / summary["audit_s"], 3)


def seed_style_text(n_instances: int, texts: list[str]) -> dict:
    """LIME and shap with library defaults and a per-text predict, as in the articles the product grew from."""
    import shap
    from lime.lime_text import LimeTextExplainer

    from auditor.models.text import load_text_model

    model = load_text_model(TEXT / "model")
    calls = {"n": 0}

    def predict_one_by_one(batch):
        out = []
        for text in batch:
            calls["n"] += 1
            enc = model.tokenizer(str(text), truncation=True, max_length=model.max_length, return_tensors="pt")
            with model._torch.inference_mode():
                out.append(model._torch.softmax(model.model(**enc).logits, -1)[0].numpy())
        return np.array(out)

    sample = texts[:n_instances]
    started = time.perf_counter()
    explainer = LimeTextExplainer(class_names=model.classes, random_state=0)
    for text in sample:
        explainer.explain_instance(text, predict_one_by_one, num_features=10)  # default num_samples=5000
    lime_s = (time.perf_counter() - started) / len(sample)
    started = time.perf_counter()
    shap_explainer = shap.Explainer(predict_one_by_one, shap.maskers.Text(model.tokenizer))
    shap_explainer(sample)  # library defaults
    shap_s = (time.perf_counter() - started) / len(sample)
    return {"instances_timed": len(sample), "lime_s_per_text": round(lime_s, 1), "shap_s_per_text": round(shap_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text-n", type=int, nargs="*", default=[25, 50, 100])
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--skip-credit", action="store_true")
    ap.add_argument("--seed-style-instances", type=int, default=2)
    args = ap.parse_args()
    build_examples(text=not args.skip_text, credit=not args.skip_credit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"benchmark-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"

    def save() -> None:  # after every workload, so an interrupted benchmark keeps what it measured
        path.write_text(json.dumps(report, indent=2) + "\n")

    report = {"machine": machine(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.skip_credit:
            policy = policy_with_n("default", None, tmp)
            run = run_audit_subprocess(policy, CREDIT / "README.md", CREDIT / "data" / "eval.csv", tmp / "credit")
            report["credit"] = summarise(run, None)
            print("credit:", json.dumps(report["credit"], indent=1))
            serial = run_audit_subprocess(policy, CREDIT / "README.md", CREDIT / "data" / "eval.csv", tmp / "credit-serial",
                                          "--jobs", "1")
            report["credit_one_worker"] = summarise(serial, None)
            print("credit, --jobs 1:", json.dumps(report["credit_one_worker"], indent=1))
            save()
        if not args.skip_text:
            throughput = text_peak_throughput()
            report["text_throughput"] = throughput
            report["text"] = {}
            for n in args.text_n:
                run = run_audit_subprocess(policy_with_n("text-default", n, tmp), TEXT / "README.md",
                                           TEXT / "data" / "eval.jsonl", tmp / f"text-{n}")
                summary = summarise(run, n)
                summary["gradient_inputs"] = gradient_inputs(run["result"])
                summary["efficiency"] = efficiency(summary, throughput, summary["gradient_inputs"])
                report["text"][str(n)] = summary
                print(f"text N={n}:", json.dumps(summary, indent=1))
                save()
            ns = np.array([int(k) for k in report["text"]], dtype=float)
            walls = np.array([v["wall_s"] for v in report["text"].values()])
            if len(ns) >= 2:
                slope, intercept = np.polyfit(ns, walls, 1)
                residual = walls - (slope * ns + intercept)
                report["text_scaling"] = {"slope_s_per_instance": round(slope, 2), "intercept_s": round(intercept, 1),
                                          "max_abs_residual_s": round(float(np.abs(residual).max()), 1)}
            texts = eval_reviews()
            seed = seed_style_text(args.seed_style_instances, texts)
            n_max = max(args.text_n)
            audit = report["text"][str(n_max)]
            seed_s = (seed["lime_s_per_text"] + seed["shap_s_per_text"]) * n_max
            same_methods_s = audit["checks_s"]["text_explanations"]  # IG + SHAP + LIME of the N texts
            seed["extrapolated_s_for_lime_and_shap_at_max_n"] = round(seed_s)
            seed["audit_same_methods_s_at_max_n"] = round(same_methods_s)
            seed["speedup_same_methods_at_max_n"] = round(seed_s / same_methods_s, 1)
            seed["speedup_vs_whole_audit_at_max_n"] = round(seed_s / audit["wall_s"], 1)
            report["seed_style"] = seed
            print("seed-style:", json.dumps(seed, indent=1))
    save()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
