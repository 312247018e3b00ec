"""CLI start-up: how long `auditor --help`, `policies`, `history`, `verify` and `due` take, and which
heavy libraries each imports. Never part of the test suite.

    .venv/bin/python benchmarks/cli_startup.py                       # this checkout, 10 runs per command
    .venv/bin/python benchmarks/cli_startup.py --source ../other     # another checkout (before/after)
    .venv/bin/python benchmarks/cli_startup.py --run reports/credit-scoring/v0001

Each command runs ``--repeat`` times in a fresh interpreter (``python -m auditor``); the wall time
and the CPU time (user + system, from the child's rusage) of each run are recorded, with the load
average: on a shared machine the wall time includes waiting for a core, the CPU time does not.
``verify`` needs a run: ``--run``, else one is made from the credit example if it is built (about
40 s), else verify is skipped; ``history`` and ``due`` read that run's output folder (an empty one
without a run), whose registry the warm-up run builds if it has none. Results go to
``results/cli-startup-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from auditor.machine import machine_facts  # never imports PyTorch: start-up times stay clean

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "shap", "lime", "captum", "weasyprint", "matplotlib", "sklearn", "scipy",
         "pandas", "sqlalchemy", "numpy", "jinja2")
TARGET_S = 0.5  # issue 17: every one of these commands under half a second


NEUTRAL_CWD = tempfile.gettempdir()  # `python -m` puts the working directory first on sys.path


def _env(source: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(source), "COLUMNS": "120"}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit code of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=NEUTRAL_CWD, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def imported(args: list[str], env: dict[str, str]) -> list[str]:
    """Heavy top-level packages a command imports (from ``-X importtime``)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "auditor", *args], env=env, cwd=NEUTRAL_CWD,
                         capture_output=True, text=True)
    names = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if line.startswith("import time:")}
    return sorted(names & set(HEAVY))


def slowest_imports(env: dict[str, str], n: int = 8) -> list[dict]:
    """The largest cumulative import times of ``import auditor.cli`` (one run)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import auditor.cli"], env=env, cwd=NEUTRAL_CWD,
                         capture_output=True, text=True)
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                rows.append({"module": name.strip(), "cumulative_ms": int(cumulative) / 1000})
    return sorted(rows, key=lambda r: -r["cumulative_ms"])[:n]


def make_run(env: dict[str, str], out: Path) -> Path | None:
    example = REPO / "examples" / "credit-scoring"
    if not (example / "data" / "eval.csv").is_file():
        return None
    cmd = [sys.executable, "-m", "auditor", "run", "-q", "--policy", "default", "--card", str(example / "README.md"),
           "--data", str(example / "data" / "eval.csv"), "--out", str(out)]
    subprocess.run(cmd, env=env, cwd=NEUTRAL_CWD, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = sorted(out.glob("*/v*/manifest.json"))
    return runs[-1].parent if runs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--source", type=Path, default=REPO, help="checkout whose auditor package is measured")
    ap.add_argument("--run", type=Path, help="a run directory for `verify`")
    ap.add_argument("--label", default="", help="recorded with the results (e.g. 'before', 'after')")
    args = ap.parse_args()
    env = _env(args.source.resolve())
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        tmp = Path(tmp)
        run = args.run or make_run(env, tmp / "reports")
        records = run.parents[1] if run is not None else tmp / "empty"  # the run's output folder and registry
        records.mkdir(exist_ok=True)
        commands = {
            "--help": ["--help"],
            "policies": ["policies"],
            "history": ["history", "--out", str(records)],
            "due": ["due", "--out", str(records)],
        }
        if run is not None:
            commands["verify"] = ["verify", str(run)]
        results = {}
        for name, cmd_args in commands.items():
            cmd = [sys.executable, "-m", "auditor", *cmd_args]
            timed(cmd, env)  # warm the file cache
            load_before = os.getloadavg()[0]
            runs = [timed(cmd, env) for _ in range(args.repeat)]
            walls, cpus, codes = zip(*runs)
            results[name] = {
                "args": cmd_args, "exit_codes": sorted(set(codes)),
                "wall_s": {"min": min(walls), "median": statistics.median(walls), "max": max(walls)},
                "cpu_s": {"min": min(cpus), "median": statistics.median(cpus), "max": max(cpus)},
                "load_average_1min": [load_before, os.getloadavg()[0]],
                "heavy_imports": imported(cmd_args, env),
            }
            r = results[name]
            print(f"{name:10s} wall median {r['wall_s']['median']:.3f} s (min {r['wall_s']['min']:.3f})  "
                  f"cpu median {r['cpu_s']['median']:.3f} s  load {load_before:.1f}  imports {', '.join(r['heavy_imports']) or '-'}")
        record = {
            "benchmark": "cli_startup", "label": args.label, "source": str(args.source.resolve()),
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_facts(),
            "repeat": args.repeat, "target_s": TARGET_S, "verify_run": str(run) if run else None,
            "commands": results, "slowest_imports_of_auditor_cli": slowest_imports(env),
        }
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"cli-startup-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(path)


if __name__ == "__main__":
    main()
