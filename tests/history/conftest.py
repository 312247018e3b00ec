"""Fixtures for the history suite: three audits of the tiny model in one output folder.

v0001 and v0002 use the tiny policy unchanged; v0003 uses a changed policy (a stricter threshold on
performance, fewer bootstrap resamples, and a re-audit interval), so diffs have a known change.
Tests that write (sign-off, tampering) work on copies of the output folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import auditor


def changed_policy(policy_writer) -> dict:
    policy = policy_writer.tiny()
    perf = policy["checks"][0]
    assert perf["check"] == "performance"
    perf["params"] = {"n_bootstrap": 50}
    # AUC ~0.87: WARN (a bound of 0.99 would be above what 300 rows can support: ERROR)
    perf["thresholds"] = [{"measurement": "roc_auc_ci_low", "min": 0.95, "severity": "warn"}]
    policy["version"] = "2"
    policy["reaudit_interval_days"] = 30
    return policy


@pytest.fixture(scope="session")
def history(tmp_path_factory, artefacts, card_writer, policy_writer) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("history")
    card = card_writer(root / "card")
    policy = policy_writer(root / "policy")
    policy_v2 = policy_writer(root / "policy-changed", changed_policy(policy_writer))
    out = root / "out"
    runs = [auditor.run_audit(policy, card, artefacts.csv, out),
            auditor.run_audit(policy, card, artefacts.csv, out),
            auditor.run_audit(policy_v2, card, artefacts.csv, out)]
    snapshot = {r.path.name: {p.relative_to(r.path): p.read_bytes() for p in r.path.rglob("*") if p.is_file()}
                for r in runs}
    return SimpleNamespace(root=root, out=out, card=card, policy=policy, policy_v2=policy_v2, runs=runs,
                           paths=[r.path for r in runs], model_dir=runs[0].path.parent, snapshot=snapshot)


@pytest.fixture
def out_copy(history, tmp_path) -> Path:
    """A writable copy of the output folder (without its registry, which indexes absolute paths:
    the copy's registry is rebuilt from the copied runs when first opened)."""
    target = tmp_path / "out"
    shutil.copytree(history.out, target)
    (target / "audits.sqlite").unlink(missing_ok=True)
    return target
