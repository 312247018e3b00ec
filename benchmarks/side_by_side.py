"""Issue 17 item 6: the audit's text explanations side by side with the same libraries used well and
with the seed-style way, in ONE run, on the review example. Never part of the test suite.

    .venv/bin/python benchmarks/side_by_side.py                 # 4 reviews (~8-10 min on 2 cores)
    .venv/bin/python benchmarks/side_by_side.py --instances 8 --naive-instances 2

Ways, on the audit's own first N explained reviews, at the `text-default` budgets (IG 32 steps,
SHAP 400 evaluations, LIME 400 samples):

(a) the audit: ``auditor run`` (a subprocess, `--quiet`) of `text-default` with only performance,
    card_completeness and text_explanations, N explained; ``text_explanations``'s own seconds
    (result.json timings) per explained text. Twice: SHAP by Partition (``shap``, today's policy)
    and SHAP by KernelSHAP on LIME's masks (``kernel_shap``, issue 17 item 1). Seed stability of
    the stochastic methods from extra seed offsets in an in-process audit context.
(b) the libraries configured properly: shap ``Partition`` over ``maskers.Text(tokenizer)`` with
    ``batch_size=64`` and ``max_evals=400``; LIME (defaults, 400 samples) with a batched classifier
    function that pads each batch of 64 to its longest text; Captum ``LayerIntegratedGradients`` on
    the word embeddings, 32 steps, ``internal_batch_size=64``, the [PAD] baseline, one text per call.
    LIME's seed stability from a second seed.
(c) the seed-style way (``run.seed_style_text``): LIME with its 5,000 default samples and shap's
    text explainer with library defaults, each with a one-text-at-a-time predict, on
    ``--naive-instances`` reviews (LIME at 5,000 samples x 2 seeds is ~10^4 forward passes per text,
    so its seed stability is measured only with ``--naive-stability``).

With ``--cpu-only``, the default design is also timed on PyTorch's own linear kernels
(``AUDITOR_PACKED_LINEAR=0``; the audit's default prepacks them, ``auditor/models/packed_linear.py``),
and the libraries' model always runs PyTorch's own, as a library user's does.

Also: forward passes per text for each way, CLI start-up (``cli_startup.timed``: --help, policies,
history, due, verify of the audit run just made), and, when the CLI has them, the audit with
``--runtime onnx`` and with ``--cluster local:1`` / ``local:2`` (feature-detected from
``auditor run --help``; otherwise skipped with a note). The 1-minute load average is recorded
beside every timing: the machine is shared, so wall times are noisy.

Results: ``results/side-by-side-<UTC time>.json``; the README's table summarises them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from budgets import per_instance_agreement  # noqa: E402
from cli_startup import NEUTRAL_CWD, timed  # noqa: E402
from run import PEAK_REPORTING_AUDIT, RESULTS, TEXT, machine, seed_style_text  # noqa: E402

N_STEPS, MAX_EVALS, NUM_SAMPLES, BATCH = 32, 400, 400, 64


def load() -> float:
    return round(os.getloadavg()[0], 2)


def audit_policy(n: int, methods: list[str], out: Path) -> Path:
    from auditor.policy import load_policy

    raw = yaml.safe_load(load_policy("text-default").text)
    raw["checks"] = [c for c in raw["checks"] if c["check"] in ("performance", "card_completeness", "text_explanations")]
    for c in raw["checks"]:
        if c["check"] == "text_explanations":
            c["params"] = {**c.get("params", {}), "n_instances": n, "methods": methods}
    raw["id"] = raw["name"] = f"text-explanations-{'-'.join(methods)}"
    path = out / f"{raw['id']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_help() -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "auditor", "run", "--help"], env=env, cwd=NEUTRAL_CWD,
                          capture_output=True, text=True).stdout


def audit_way(n: int, methods: list[str], tmp: Path, *extra: str) -> dict:
    """The audit's text_explanations through the CLI, in a fresh subprocess."""
    out = tmp / f"out-{'-'.join(methods)}-{'-'.join(e.replace(':', '') for e in extra) or 'plain'}"
    started, before = time.perf_counter(), load()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PEAK_REPORTING_AUDIT, "run", "--quiet", "--policy",
                           str(audit_policy(n, methods, tmp)), "--card", str(TEXT / "README.md"), "--data",
                           str(TEXT / "data" / "eval.jsonl"), "--out", str(out), *extra],
                          capture_output=True, text=True, env=env, cwd=NEUTRAL_CWD)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        return {"error": f"exit {proc.returncode}: {proc.stderr[-1500:]}"}
    run_dir = sorted(out.glob("*/v*/result.json"))[-1].parent
    result = json.loads((run_dir / "result.json").read_text())
    check = next(c for c in result["checks"] if c["id"] == "text_explanations")
    seconds = result["provenance"]["timings"]["checks_s"]["text_explanations"]
    cost = check.get("cost") or {}
    return {"methods": methods, "extra_args": list(extra), "run_dir": str(run_dir),
            "text_explanations_s": seconds, "s_per_text": round(seconds / n, 2), "audit_wall_s": round(wall, 1),
            "forward_passes_per_text": {m: cost.get(f"{m}_forward_passes_per_instance") for m in methods},
            "model_inputs_requested_per_text": {m: round(cost.get(f"{m}_model_inputs", 0) / n, 1) for m in methods},
            "cache": result["provenance"]["cache"], "execution": result["provenance"].get("execution"),
            "status": check["status"], "load_average_1min": [before, load()]}


def audit_stability(n: int, seeds: int) -> tuple[dict, list[str]]:
    """Seed stability of the audit's stochastic text explainers (LIME, KernelSHAP on LIME's masks),
    in one in-process context; Partition SHAP and integrated gradients are deterministic."""
    from auditor.checks.explainers import feature_vectors
    from auditor.engine.audit import prepare_audit

    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    texts = ctx.data.texts()
    chosen = [texts[int(r)] for r in ctx.explained_rows(n)]
    out = {}
    for method in ("lime", "kernel_shap"):
        runs = [feature_vectors(ctx.attribution(method, n, {"seed_offset": s})) for s in range(seeds)]
        out[method] = round(float(np.median(per_instance_agreement(runs))), 3)
    out.update({"shap": "deterministic", "integrated_gradients": "deterministic", "seeds": seeds})
    return out, chosen


class LibraryWay:
    """The same libraries as a competent user configures them: batched, dynamically padded, no grad."""

    def __init__(self):
        import torch

        from auditor.models.text import load_text_model

        self.torch = torch
        # A library user's model runs PyTorch's own linear kernels, not the audit's prepacked ones.
        with plain_kernels():
            adapter = load_text_model(TEXT / "model")
        self.model, self.tokenizer, self.max_length = adapter.model, adapter.tokenizer, adapter.max_length
        self.classes = adapter.classes
        self.forward_rows = 0

    def predict(self, texts) -> np.ndarray:
        """Class probabilities, in batches of 64 padded to the batch's longest text."""
        out = []
        texts = [str(t) for t in texts]
        for start in range(0, len(texts), BATCH):
            enc = self.tokenizer(texts[start:start + BATCH], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
            with self.torch.inference_mode():
                out.append(self.torch.softmax(self.model(**enc).logits.double(), -1).numpy())
            self.forward_rows += len(texts[start:start + BATCH])
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def shap(self, texts: list[str], target: np.ndarray) -> list[np.ndarray]:
        import shap

        explainer = shap.Explainer(self.predict, shap.maskers.Text(self.tokenizer), output_names=self.classes)
        exp = explainer(texts, max_evals=MAX_EVALS, batch_size=BATCH, silent=True)
        return [np.asarray(exp.values[i])[:, target[i]] for i in range(len(texts))]

    def lime(self, texts: list[str], target: np.ndarray, seed: int) -> list[np.ndarray]:
        from lime.lime_text import LimeTextExplainer

        out = []
        for text, t in zip(texts, target):
            explainer = LimeTextExplainer(class_names=self.classes, random_state=seed)
            exp = explainer.explain_instance(text, self.predict, labels=(int(t),), num_features=10_000,
                                             num_samples=NUM_SAMPLES)
            v = np.zeros(len(exp.domain_mapper.indexed_string.inverse_vocab))
            for feature, weight in exp.local_exp[int(t)]:
                v[feature] = weight
            out.append(v)
        return out

    def integrated_gradients(self, texts: list[str], target: np.ndarray) -> list[np.ndarray]:
        from captum.attr import LayerIntegratedGradients

        torch = self.torch

        def forward(ids, mask):
            self.forward_rows += int(ids.shape[0])
            return torch.softmax(self.model(input_ids=ids, attention_mask=mask).logits, -1)

        lig = LayerIntegratedGradients(forward, self.model.get_input_embeddings())
        special = set(self.tokenizer.all_special_ids)
        out = []
        for text, t in zip(texts, target):
            enc = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt")
            ids = enc["input_ids"]
            base = torch.tensor([[i if i in special else self.tokenizer.pad_token_id for i in ids[0].tolist()]])
            attr = lig.attribute(ids, baselines=base, target=int(t), additional_forward_args=(enc["attention_mask"],),
                                 n_steps=N_STEPS, internal_batch_size=BATCH)
            out.append(attr.sum(-1)[0].detach().numpy())
        return out


# The audit's designs, each a list of (method, parameter overrides); every masking parameter and
# budget is explicit, so a design does not change with the policy's defaults.
# "shared": SHAP from LIME's own evaluations (KernelSHAP), so SHAP costs no model input of its own.
PER_WORD = {"paired": False, "collapse_masks": False, "num_samples": NUM_SAMPLES}
PAIRED_COLLAPSED = {"paired": True, "collapse_masks": True, "num_samples": NUM_SAMPLES}
DESIGNS = {
    "audit 2026.3 (Partition, LIME one mask per word)": [
        ("integrated_gradients", {}), ("shap", {"collapse_masks": False, "max_evals": MAX_EVALS}), ("lime", PER_WORD)],
    "audit 2026.4 (collapsed Partition, paired collapsed LIME)": [
        ("integrated_gradients", {}), ("shap", {"collapse_masks": True, "max_evals": MAX_EVALS}),
        ("lime", PAIRED_COLLAPSED)],
    "audit, shared paired masks (KernelSHAP on LIME's)": [
        ("integrated_gradients", {}), ("lime", {"paired": True, "collapse_masks": False, "num_samples": NUM_SAMPLES}),
        ("kernel_shap", {"paired": True, "collapse_masks": False, "num_samples": NUM_SAMPLES})],
    "audit, shared paired collapsed masks": [
        ("integrated_gradients", {}), ("lime", PAIRED_COLLAPSED), ("kernel_shap", PAIRED_COLLAPSED)],
}


@contextlib.contextmanager
def plain_kernels():
    """Models loaded inside run PyTorch's own linear kernels (``auditor/models/packed_linear.py``)."""
    from auditor.models.packed_linear import ENV_SWITCH

    before = os.environ.get(ENV_SWITCH)
    os.environ[ENV_SWITCH] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_SWITCH)
        else:
            os.environ[ENV_SWITCH] = before


def timed_attribution(ctx, method: str, n: int, overrides: dict) -> tuple[float, float]:
    """Process CPU and wall seconds per text of ``ctx.attribution(method, n, overrides)``."""
    started, started_wall = time.process_time(), time.perf_counter()
    ctx.attribution(method, n, overrides)
    return round((time.process_time() - started) / n, 2), round((time.perf_counter() - started_wall) / n, 2)


def cpu_comparison(n: int) -> dict:
    """Process CPU seconds (and wall seconds) per text of the audit's explainers (each design of ``DESIGNS``) and of the
    libraries used well, in ONE process (same torch threads, same texts, one after the other):
    steadier than wall time on a shared machine. The audit's costs are those of ctx.attribution (the
    check adds its heatmaps); a method shared by two designs is computed once."""
    from auditor.engine.audit import prepare_audit

    ctx = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    rows = ctx.explained_rows(n)
    texts = [ctx.data.texts()[int(r)] for r in rows]
    ctx.predict_proba_rows(rows)
    import shap  # shap compiles its Partition loop (numba) on first use: once, before either way is timed

    shap.explainers.Partition(lambda x: np.zeros(len(x)), shap.maskers.Text(ctx.model.tokenizer))(["a warm up"], silent=True)
    ctx.attribution("lime", 1, {"num_samples": 20, "seed_offset": 999})  # LIME's and sklearn's first-call costs
    out = {"instances": n, "audit": {}, "libraries": {}, "load_average_1min_start": load()}

    def key(method: str, overrides: dict) -> str:
        return f"{method} {json.dumps(overrides, sort_keys=True)}" if overrides else method

    seconds, wall = {}, {}
    for steps in DESIGNS.values():
        for method, overrides in steps:
            name = key(method, overrides)
            if name not in seconds:
                if method == "shap":
                    # Partition starts from an empty prediction cache: a Partition run at a smaller
                    # budget would evaluate a subset of a larger one's masks. (Not LIME: KernelSHAP
                    # must find LIME's evaluations in the cache.)
                    ctx.model._fresh_cache()
                seconds[name], wall[name] = timed_attribution(ctx, method, n, overrides)
    out["audit"], out["audit_wall"] = seconds, wall
    out["kernels"] = ctx.model.runtime_facts.get("kernels")
    # The default design again on PyTorch's own linear kernels: what the prepacked ones are worth.
    with plain_kernels():
        plain = prepare_audit("text-default", TEXT / "README.md", TEXT / "data" / "eval.jsonl").ctx
    plain.predict_proba_rows(rows)
    default = DESIGNS["audit 2026.4 (collapsed Partition, paired collapsed LIME)"]
    timings = {key(m, o): timed_attribution(plain, m, n, o) for m, o in default}
    out["audit_plain_kernels"] = {name: cpu for name, (cpu, _) in timings.items()}
    out["audit_plain_kernels_cpu_s_per_text"] = round(sum(cpu for cpu, _ in timings.values()), 2)
    out["audit_plain_kernels_wall_s_per_text"] = round(sum(w for _, w in timings.values()), 2)

    def per_design(table):
        return {name: round(sum(table[key(m, o)] for m, o in steps), 2) for name, steps in DESIGNS.items()}

    out["audit_designs_cpu_s_per_text"] = per_design(seconds)
    out["audit_designs_wall_s_per_text"] = per_design(wall)
    way = LibraryWay()
    target = way.predict(texts).argmax(1)
    out["libraries_wall"] = {}
    for name, fn in (("integrated_gradients", lambda: way.integrated_gradients(texts, target)),
                     ("shap", lambda: way.shap(texts, target)), ("lime", lambda: way.lime(texts, target, 0))):
        started, started_wall = time.process_time(), time.perf_counter()
        fn()
        out["libraries"][name] = round((time.process_time() - started) / n, 2)
        out["libraries_wall"][name] = round((time.perf_counter() - started_wall) / n, 2)
    out["libraries_cpu_s_per_text"] = round(sum(out["libraries"].values()), 2)
    out["libraries_wall_s_per_text"] = round(sum(out["libraries_wall"].values()), 2)
    out["speedup_vs_libraries"] = {name: round(out["libraries_cpu_s_per_text"] / v, 2)
                                   for name, v in out["audit_designs_cpu_s_per_text"].items()}
    out["wall_speedup_vs_libraries"] = {name: round(out["libraries_wall_s_per_text"] / v, 2)
                                        for name, v in out["audit_designs_wall_s_per_text"].items()}
    out["load_average_1min_end"] = load()
    return out


def library_way(texts: list[str], seeds: int) -> dict:
    way = LibraryWay()
    target = way.predict(texts).argmax(1)
    way.forward_rows = 0
    n, out = len(texts), {"instances": len(texts)}
    results = {}
    for name, fn in (("integrated_gradients", lambda: way.integrated_gradients(texts, target)),
                     ("shap", lambda: way.shap(texts, target)), ("lime", lambda: way.lime(texts, target, 0))):
        rows, started, before = way.forward_rows, time.perf_counter(), load()
        results[name] = fn()
        out[name] = {"s_per_text": round((time.perf_counter() - started) / n, 2),
                     "forward_passes_per_text": round((way.forward_rows - rows) / n, 1), "load_average_1min": [before, load()]}
    out["s_per_text"] = round(sum(out[m]["s_per_text"] for m in ("integrated_gradients", "shap", "lime")), 2)
    runs = [results["lime"]] + [way.lime(texts, target, s) for s in range(1, seeds)]
    out["seed_stability"] = {"lime": round(float(np.median(per_instance_agreement(runs))), 3),
                             "shap": "deterministic", "integrated_gradients": "deterministic", "seeds": seeds}
    return out


def naive_stability(texts: list[str], seeds: int) -> float:
    """LIME at its 5,000 default samples across seeds, with the batched predict (the explanation of a
    seed does not depend on how the predictions are batched; only the time does)."""
    way = LibraryWay()
    target = way.predict(texts).argmax(1)
    from lime.lime_text import LimeTextExplainer

    runs = []
    for seed in range(seeds):
        run = []
        for text, t in zip(texts, target):
            exp = LimeTextExplainer(class_names=way.classes, random_state=seed).explain_instance(
                text, way.predict, labels=(int(t),), num_features=10_000)
            v = np.zeros(len(exp.domain_mapper.indexed_string.inverse_vocab))
            for feature, weight in exp.local_exp[int(t)]:
                v[feature] = weight
            run.append(v)
        runs.append(run)
    return round(float(np.median(per_instance_agreement(runs))), 3)


def cli_startup(run_dir: str | None, repeat: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    with tempfile.TemporaryDirectory() as empty:
        commands = {"--help": ["--help"], "policies": ["policies"], "history": ["history", "--out", empty],
                    "due": ["due", "--out", empty]}
        if run_dir:
            commands["verify"] = ["verify", run_dir]
        out = {}
        for name, args in commands.items():
            cmd = [sys.executable, "-m", "auditor", *args]
            timed(cmd, env)  # warm the file cache
            before = load()
            walls, cpus, codes = zip(*[timed(cmd, env) for _ in range(repeat)])
            out[name] = {"wall_median_s": round(statistics.median(walls), 3), "wall_min_s": round(min(walls), 3),
                         "cpu_median_s": round(statistics.median(cpus), 3), "exit_codes": sorted(set(codes)),
                         "load_average_1min": [before, load()]}
            print(name, json.dumps(out[name]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=4, help="explained reviews for (a) and (b)")
    ap.add_argument("--naive-instances", type=int, default=1, help="reviews for the seed-style way (c)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--naive-stability", action="store_true", help="also LIME at 5,000 samples across seeds")
    ap.add_argument("--cli-repeat", type=int, default=3)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--cpu-only", action="store_true", help="only the one-process CPU-time comparison")
    args = ap.parse_args()
    if not (TEXT / "model").is_dir():
        sys.exit(f"{TEXT / 'model'} is absent: build examples/review-sentiment first")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"side-by-side-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    n = args.instances
    report: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": machine(),
                    "budgets": {"integrated_gradients_steps": N_STEPS, "shap_max_evals": MAX_EVALS,
                                "lime_num_samples": NUM_SAMPLES, "batch_size": BATCH},
                    "instances": n, "load_average_start": os.getloadavg(), "notes": []}

    def save() -> None:
        report["load_average_end"] = os.getloadavg()
        path.write_text(json.dumps(report, indent=2) + "\n")

    if args.cpu_only:
        report["cpu_time"] = cpu_comparison(n)
        save()
        print(json.dumps(report["cpu_time"], indent=1))
        print(f"wrote {path}")
        return
    help_text = run_help()
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        tmp = Path(tmp)
        report["audit"] = {"partition": audit_way(n, ["integrated_gradients", "shap", "lime"], tmp)}
        print("audit, Partition SHAP:", json.dumps(report["audit"]["partition"]), flush=True)
        report["audit"]["kernel_shap_on_lime_masks"] = audit_way(n, ["integrated_gradients", "kernel_shap", "lime"], tmp)
        print("audit, KernelSHAP on LIME's masks:", json.dumps(report["audit"]["kernel_shap_on_lime_masks"]), flush=True)
        save()
        for option, variants in (("--runtime", [("onnx", ["--runtime", "onnx"])]),
                                 ("--cluster", [("local:1", ["--cluster", "local:1"]), ("local:2", ["--cluster", "local:2"])])):
            if option not in help_text:
                report["notes"].append(f"`auditor run` has no {option} option in this checkout: skipped.")
                continue
            for label, extra in variants:
                report["audit"][f"partition {label}"] = audit_way(n, ["integrated_gradients", "shap", "lime"], tmp, *extra)
                print(label, json.dumps(report["audit"][f"partition {label}"]), flush=True)
                save()
        stability, texts = audit_stability(n, args.seeds)
        report["audit"]["seed_stability"] = stability
        print("audit seed stability:", json.dumps(stability), flush=True)
        save()
        report["libraries"] = library_way(texts, args.seeds)
        print("libraries:", json.dumps(report["libraries"]), flush=True)
        save()
        if not args.skip_naive:
            before = load()
            naive = seed_style_text(args.naive_instances, texts)
            naive["s_per_text"] = round(naive["lime_s_per_text"] + naive["shap_s_per_text"], 1)
            naive["forward_passes_per_text"] = {"lime": 5000, "shap": "≤ 502 (shap default max_evals=500, +2)"}
            naive["load_average_1min"] = [before, load()]
            naive["seed_stability"] = ({"lime_5000": naive_stability(texts[:args.naive_instances], args.seeds)}
                                       if args.naive_stability else "not measured (--naive-stability)")
            report["seed_style"] = naive
            print("seed-style:", json.dumps(naive), flush=True)
            save()
        report["cli_startup"] = cli_startup(report["audit"]["partition"].get("run_dir"), args.cli_repeat)
    lib = report["libraries"]["s_per_text"]
    report["speedup_vs_libraries"] = {k: round(lib / v["s_per_text"], 2) for k, v in report["audit"].items()
                                      if isinstance(v, dict) and "s_per_text" in v}
    if "seed_style" in report:
        report["speedup_vs_seed_style_lime_and_shap"] = {
            k: round(report["seed_style"]["s_per_text"] / v["s_per_text"], 1) for k, v in report["audit"].items()
            if isinstance(v, dict) and "s_per_text" in v}
    save()
    print(json.dumps({k: report[k] for k in report if k.startswith("speedup")}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
