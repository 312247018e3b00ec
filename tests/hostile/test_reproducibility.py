"""Two runs with the same inputs and seed give the same result.json, apart from the run id, the
timestamps, the version label and wall times: on the tabular path (with seeded SHAP and LIME) and on
the text path."""

from __future__ import annotations

import json

import numpy as np

from .conftest import read_result

VOLATILE_TOP = ("run_id", "created_at", "version")


def without_volatile(result: dict) -> dict:
    result = json.loads(json.dumps(result))
    for key in VOLATILE_TOP:
        result.pop(key)
    result["provenance"].pop("timings")
    for check in result["checks"]:
        check.pop("duration_s")
    return result


def _two_runs(cli, policy, card, data, out, model):
    for _ in range(2):
        result = cli.run(policy, card, data, out)
        assert result.code in (0, 1), result.raw
    folder = out / model
    return read_result(folder / "v0001"), read_result(folder / "v0002")


def _assert_same(a: dict, b: dict) -> None:
    assert a["run_id"] != b["run_id"] and (a["version"], b["version"]) == ("v0001", "v0002")
    assert without_volatile(a) == without_volatile(b)


def test_tabular_runs_are_reproducible(cli, tmp_path, artefacts, card_writer, policy_writer, stub_pdf):
    checks = [{"check": "performance", "params": {"n_bootstrap": 20}},
              {"check": "local_explanations", "params": {"n_instances": 3, "top_k": 3}}]
    policy = policy_writer(tmp_path / "policy", policy_writer.tiny(checks))
    a, b = _two_runs(cli, policy, card_writer(tmp_path / "card"), artefacts.csv, tmp_path / "out", "tiny-model")
    assert [c["status"] for c in a["checks"]] == ["pass", "pass"], [c.get("error") for c in a["checks"]]
    _assert_same(a, b)


def test_text_runs_are_reproducible(cli, tmp_path, text_inputs, stub_pdf):
    rng = np.random.default_rng(1)
    words = ["good", "bad"] * 6
    texts = [f"the {w} movie was {rng.choice(['very', 'quite', 'really'])} {w}" for w in words]
    labels = ["positive" if w == "good" else "negative" for w in words]
    data = text_inputs.write_jsonl(tmp_path / "eval.jsonl", texts, labels)
    a, b = _two_runs(cli, text_inputs.policy, text_inputs.card, data, tmp_path / "out", "tiny-bert")
    assert a["checks"][0]["status"] != "error", a["checks"][0]["error"]
    _assert_same(a, b)
