"""`auditor serve`: start-up time and the time to serve a list of 1,000 runs (issue 18).

    .venv/bin/python benchmarks/serve.py            # about 30 s

Targets: the server answers its first request less than 2 s after `auditor serve` is started, and a
page listing 1,000 runs is served in less than 0.5 s.

- **Start-up**: `python -m auditor serve` in a fresh process, timed from the spawn to the first
  answered ``GET /login`` (so it includes the interpreter, the imports and uvicorn binding), median
  and worst of ``--starts`` starts; with the CPU seconds the server process used (start-up, one
  answer and shutdown), which other load on the machine does not inflate.
- **Lists**: a registry holding 1,000 runs, served two ways: one model with 1,000 versions
  (``/m/<model>``) and 1,000 models of one version each (``/``); each page fetched ``--requests``
  times by a logged-in client over HTTP (keep-alive), median, p95 and worst. The lists are pages
  over the registry (they read no run folder), so the rows are inserted into it directly, each a
  copy of one row with its own model, version and path.

Results go to ``results/serve-<UTC time>.json``; `benchmarks/README.md` summarises them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from auditor.machine import machine_facts  # never imports PyTorch: start-up times stay clean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "benchmark passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def row(model: str, version_number: int, out: Path) -> dict:
    version = f"v{version_number:04d}"
    model_dir = out / model
    return {
        "run_path": str(model_dir / version), "run_id": f"{model}-{version}", "model": model, "model_dir": str(model_dir),
        "version": version, "version_number": version_number, "created_at": f"2026-{1 + version_number % 12:02d}-15T10:00:00+00:00",
        "status": ("pass", "warn", "fail", "waived")[version_number % 4], "policy_name": "default", "policy_version": "2026.3",
        "policy_sha256": "a" * 64, "reaudit_interval_days": 180, "model_version": "1.0", "model_sha256": "b" * 64,
        "dataset_sha256": "c" * 64, "manifest_sha256": "d" * 64,
        "signoff_decision": "approve" if version_number % 3 == 0 else None,
        "signoff_reviewer": "A. Reviewer" if version_number % 3 == 0 else None,
        "signoff_at": "2026-11-01T09:00:00+00:00" if version_number % 3 == 0 else None,
        "signoff_valid_until": "2027-11-01" if version_number % 3 == 0 else None,
        "signoff_count": 1 if version_number % 3 == 0 else 0,
    }


def build(out: Path, layout: str, n: int = 1000) -> None:
    import sqlalchemy as sa

    from auditor.records.accounts import add_user
    from auditor.records.registry import open_registry, runs_table

    out.mkdir(parents=True)
    rows = ([row("credit-scoring-gbm", i, out) for i in range(1, n + 1)] if layout == "versions"
            else [row(f"model-{i:04d}", 1, out) for i in range(1, n + 1)])
    with open_registry(out) as registry:
        with registry.engine.begin() as conn:
            conn.execute(sa.insert(runs_table), rows)
        add_user(registry, "bench", "viewer", PASSWORD)


def start(out: Path) -> tuple[subprocess.Popen, int, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "serve", "--out", str(out), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login")
            if conn.getresponse().status == 200:
                return proc, port, time.perf_counter() - t0
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"auditor serve exited: {proc.stderr.read().decode()}")
        if time.perf_counter() - t0 > 30:
            raise RuntimeError("auditor serve did not answer within 30 s")
        time.sleep(0.005)


def login(port: int) -> tuple[http.client.HTTPConnection, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    cookie = resp.getheader("set-cookie").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode()).group(1)
    body = f"username=bench&password={PASSWORD.replace(' ', '+')}&csrf_token={token}"
    conn.request("POST", "/login", body=body, headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 303, resp.status
    return conn, resp.getheader("set-cookie").split(";")[0]


def fetch_times(conn, cookie: str, path: str, n: int) -> tuple[list[float], int, int]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        body = resp.read()
        times.append(time.perf_counter() - t0)
        assert resp.status == 200, (path, resp.status)
    return times, len(body), body.count(b"<tr>") - 1


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"median_s": round(statistics.median(ordered), 4), "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 4),
            "max_s": round(ordered[-1], 4), "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    results: dict = {"machine": machine_facts(),
                     "targets": {"start_s": 2.0, "list_1000_s": 0.5}}
    with tempfile.TemporaryDirectory() as tmp:
        versions, models = Path(tmp) / "versions", Path(tmp) / "models"
        build(versions, "versions")
        build(models, "models")
        starts, cpu = [], []
        for _ in range(args.starts):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc, _, seconds = start(versions)
            starts.append(seconds)
            proc.terminate()
            proc.wait(10)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        results["start"] = summary(starts)
        # CPU seconds of the server process (start-up, one answer, shutdown): independent of other load
        results["start_cpu"] = summary(cpu)
        results["load_average_1min"] = os.getloadavg()[0]
        for name, out, path in (("1 model x 1,000 versions", versions, "/m/credit-scoring-gbm"),
                                ("1,000 models", models, "/")):
            proc, port, _ = start(out)
            try:
                conn, cookie = login(port)
                times, size, rows = fetch_times(conn, cookie, path, args.requests)
            finally:
                proc.terminate()
                proc.wait(10)
            results[name] = {**summary(times), "path": path, "bytes": size, "rows": rows}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = ROOT / "benchmarks" / "results" / f"serve-{stamp}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {target}")


if __name__ == "__main__":
    main()
