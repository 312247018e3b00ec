"""explanation_sanity's model sensitivity (seed stability − randomised-vs-randomised null), plain and
weighted, on `sound_models.py`'s sound models: how often each reads below the `default` policy's
0.25, per explainer. Only the explanation_sanity check of `default` runs (its params as the policy
sets them), on the same data, models and seeds as `sound_models.py`. Never part of the test suite.

    .venv/bin/python benchmarks/sanity_sensitivity.py                 # 9 settings x 5 seeds
    .venv/bin/python benchmarks/sanity_sensitivity.py --seeds 1 --only "logistic, 1"

Results: ``results/sanity-sensitivity-<UTC time>.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's auditor, not an installed one
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))
from run import write_result  # noqa: E402
from sound_models import SETTINGS, audit, draw_parser  # noqa: E402

BOUND = 0.25
FIGURES = ("seed_stability_median", "null_median", "model_sensitivity", "weighted_seed_stability_median",
           "weighted_null_median", "weighted_model_sensitivity", "rank_correlation_median")


def one_draw(make, seed: int) -> dict:
    (check,), seconds, _ = audit(make, seed, only="explanation_sanity")
    m = check.measurements
    return {"seed": seed, "seconds": seconds, "status": check.status.value,
            **{f"{e}_{f}": m.get(f"{e}_{f}") for e in ("shap", "lime") for f in FIGURES}}


def below(v) -> bool:
    return v is not None and v < BOUND


def main() -> None:
    args = draw_parser(__doc__, seeds=5).parse_args()
    out = {}
    for name, make in SETTINGS.items():
        if args.only not in name:
            continue
        draws = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            d = one_draw(make, seed)
            draws.append(d)
            print(f"{name} seed {seed} ({d['seconds']} s): " + ", ".join(
                f"{e} {d[f'{e}_model_sensitivity']:.2f} -> weighted {d[f'{e}_weighted_model_sensitivity']:.2f} "
                f"(seed {d[f'{e}_weighted_seed_stability_median']:.2f}, null {d[f'{e}_weighted_null_median']:.2f})"
                for e in ("shap", "lime")), flush=True)
        out[name] = {"draws": draws, "below_bound": {
            f"{e}_{k}model_sensitivity": sum(below(d[f"{e}_{k}model_sensitivity"]) for d in draws)
            for e in ("shap", "lime") for k in ("", "weighted_")}}
        print(name, out[name]["below_bound"], flush=True)
    total = {k: sum(s["below_bound"][k] for s in out.values()) for k in next(iter(out.values()))["below_bound"]}
    print("all:", total, "of", sum(len(s["draws"]) for s in out.values()), "draws", flush=True)
    write_result("sanity-sensitivity", {"policy": "default", "bound": BOUND, "seeds": args.seeds,
                                        "settings": out, "below_bound": total})


if __name__ == "__main__":
    main()
