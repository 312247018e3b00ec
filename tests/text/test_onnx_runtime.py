"""ONNX Runtime for the forward passes (issue 17, item 2): agreement with PyTorch, the export cache,
fallback to PyTorch on a wrong export (reason in provenance), int8 marked approximate, and an audit
on ONNX Runtime giving PyTorch's numbers.

Exports go into a temporary cache folder (``AUDITOR_CACHE_DIR``); each tiny model is exported once
for the module (the dynamo exporter takes several seconds even on a tiny model).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from auditor.models import onnx_runtime  # noqa: E402
from auditor.models.decoder import load_sequence_classifier  # noqa: E402

from . import tiny_bert, tiny_decoder  # noqa: E402

TEXTS = [tiny_bert.make_sentence(np.random.default_rng(i), w, 3 + i % 6)
         for i, w in enumerate(["good", "bad", None] * 6)] + ["good", "the film was bad and the plot was really bad"]


def dataset(texts=TEXTS):
    return SimpleNamespace(texts=lambda: list(texts))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    return tiny_decoder.build_tiny_decoder(tmp_path_factory.mktemp("onnx_decoder") / "model", steps=60)


@pytest.fixture(scope="module")
def model_dirs(tiny_text_model_dir, decoder_dir):
    return {"bert": tiny_text_model_dir, "decoder": decoder_dir}


def load(path, runtime="torch", cache=None, **kw):
    with pytest.MonkeyPatch.context() as mp:
        if cache is not None:
            mp.setenv("AUDITOR_CACHE_DIR", str(cache))
        return load_sequence_classifier(path, max_length=32, batch_size=8, threads=1, runtime=runtime, **kw)


@pytest.fixture(scope="module")
def served(model_dirs, cache_dir):
    """Per tiny model: an adapter on verified ONNX Runtime and one on PyTorch."""
    out = {}
    for name, path in model_dirs.items():
        fast = load(path, "onnx", cache_dir)
        fast.verify_runtime(dataset())
        out[name] = SimpleNamespace(onnx=fast, torch=load(path), path=path)
    return out


def masked_variants(model, n=40, seed=0):
    """Token-id arrays of the texts with random non-special positions masked (what explainers send)."""
    rng = np.random.default_rng(seed)
    out = []
    for enc in model.encode(TEXTS):
        for _ in range(2):
            ids = enc.ids.copy()
            ids[(rng.random(len(ids)) < 0.3) & ~enc.special] = model.mask_id
            out.append(ids)
    return out[:n]


@pytest.mark.parametrize("name", ["bert", "decoder"])
def test_onnx_probabilities_equal_torch_to_1e5(served, name):
    pair = served[name]
    facts = pair.onnx.runtime_facts
    assert facts["used"] == "onnx" and "reason" not in facts
    assert facts["verified_inputs"] == len(TEXTS)
    assert facts["max_abs_prob_diff"] < 1e-5 and facts["prediction_agreement"] == 1.0
    ids = masked_variants(pair.torch)
    fast, slow = pair.onnx.predict_proba_ids(ids), pair.torch.predict_proba_ids(ids)
    assert np.abs(fast - slow).max() < 1e-5
    assert np.abs(fast - slow).max() > 0  # really two runtimes, not one answer served twice
    # gradients stay in PyTorch: the differentiable path is the torch module's
    import torch

    t_ids, mask = pair.onnx.pad_batch(ids[:2])
    assert pair.onnx.class_logits(t_ids, mask).requires_grad is torch.is_grad_enabled()


def test_an_unverified_export_never_serves(model_dirs, cache_dir, served):
    model = load(model_dirs["bert"], "onnx", cache_dir)
    assert model.runtime_facts["used"] == "torch" and "not yet verified" in model.runtime_facts["reason"]
    ids = masked_variants(model, n=6)
    # a fresh PyTorch adapter batches the same way (padding changes float rounding)
    np.testing.assert_array_equal(model.predict_proba_ids(ids), load(model_dirs["bert"]).predict_proba_ids(ids))


def test_the_export_is_cached_per_model_hash(model_dirs, cache_dir, served, monkeypatch):
    assert served["bert"].onnx.runtime_facts["exported_now"] is True
    keys = {p.name for p in Path(cache_dir, "onnx").iterdir()}
    assert len(keys) == 2  # one export per model, no temporary folder left

    def no_export(*args, **kw):
        raise AssertionError("exported a second time")

    monkeypatch.setattr(onnx_runtime, "_export", no_export)
    again = load(model_dirs["bert"], "onnx", cache_dir)
    assert again.runtime_facts["exported_now"] is False
    assert again.runtime_facts["export"] == served["bert"].onnx.runtime_facts["export"]
    assert again.verify_runtime(dataset()) == [] and again.runtime_facts["used"] == "onnx"


def copy_cache(cache_dir: Path, target: Path) -> Path:
    shutil.copytree(Path(cache_dir) / "onnx", target / "onnx")
    return target


def test_a_wrong_export_is_detected_and_pytorch_used(model_dirs, cache_dir, served, tmp_path):
    """Scale every weight of the cached graph by 1.05: the verification catches it, PyTorch serves."""
    import onnx
    from onnx import numpy_helper

    cache = copy_cache(cache_dir, tmp_path)
    graph_path = Path(served["bert"].onnx.runtime_facts["export"].replace(str(cache_dir), str(cache)))
    graph = onnx.load(str(graph_path))
    for init in graph.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype == np.float32 and values.size > 1:
            init.CopyFrom(numpy_helper.from_array(values * np.float32(1.05), init.name))
    onnx.save(graph, str(graph_path))

    model = load(model_dirs["bert"], "onnx", cache)
    assert model.runtime_facts["exported_now"] is False  # the perturbed graph was loaded from the cache
    notes = model.verify_runtime(dataset())
    facts = model.runtime_facts
    assert facts["used"] == "torch" and facts["max_abs_prob_diff"] > facts["tolerance"]
    assert "above the tolerance" in facts["reason"] and "PyTorch used" in facts["reason"]
    assert len(notes) == 1 and "was not used" in notes[0]
    ids = masked_variants(model)
    np.testing.assert_array_equal(model.predict_proba_ids(ids), load(model_dirs["bert"]).predict_proba_ids(ids))


def test_an_unreadable_export_falls_back_with_its_reason(model_dirs, cache_dir, served, tmp_path):
    cache = copy_cache(cache_dir, tmp_path)
    graph_path = Path(served["bert"].onnx.runtime_facts["export"].replace(str(cache_dir), str(cache)))
    graph_path.write_bytes(b"not an onnx graph")
    model = load(model_dirs["bert"], "onnx", cache)
    assert model.runtime_facts["used"] == "torch"
    assert "ONNX export or session failed" in model.runtime_facts["reason"]
    assert model.verify_runtime(dataset())[0].startswith("runtime onnx was not used")


def test_the_tolerance_decides(model_dirs, cache_dir, served):
    """The same export, verified with a tolerance below its measured difference, is refused."""
    diff = served["decoder"].onnx.runtime_facts["max_abs_prob_diff"]
    assert diff > 0
    strict = load(model_dirs["decoder"], "onnx", cache_dir, runtime_tolerance=diff / 2)
    strict.verify_runtime(dataset())
    assert strict.runtime_facts["used"] == "torch" and "above the tolerance" in strict.runtime_facts["reason"]


def test_verification_is_bounded_and_spread_over_the_dataset(model_dirs, cache_dir, served):
    model = load(model_dirs["bert"], "onnx", cache_dir, runtime_verify_inputs=5)
    model.verify_runtime(dataset())
    assert model.runtime_facts["verified_inputs"] == 5
    assert model.stats.distinct_inputs == 5  # the verified texts are in the cache: the audit reuses them
    model.predict_proba([TEXTS[0], TEXTS[-1]])  # first and last rows were among the five
    assert model.stats.distinct_inputs == 5


def test_int8_reports_its_fidelity_and_marks_gated_verdicts(model_dirs, cache_dir, served):
    from auditor.engine.runner import mark_approximate
    from auditor.results import CheckResult, Status, ThresholdOutcome

    model = load(model_dirs["bert"], "onnx-int8", cache_dir)
    notes = model.verify_runtime(dataset())
    facts = model.runtime_facts
    assert facts["used"] == "onnx-int8" and facts["approximate"] is True
    assert 0 < facts["max_abs_prob_diff"] < 0.1 and facts["prediction_agreement"] >= 0.9
    assert "int8" in notes[0] and "approximate" in notes[0]
    base = dict(check="c", title="t", description="d")
    outcome = ThresholdOutcome(measurement="m", observed=0.9, min=0.5, severity="fail", passed=True)
    checks = [CheckResult(id="gated", status=Status.PASS, thresholds=[outcome], **base),
              CheckResult(id="failed", status=Status.FAIL, thresholds=[outcome], **base),
              CheckResult(id="ungated", status=Status.PASS, **base)]
    marked = {c.id: c for c in mark_approximate(checks, facts)}
    assert marked["gated"].status == Status.WARN and "not a gated verdict" in marked["gated"].notes[-1]
    assert marked["failed"].status == Status.FAIL and marked["failed"].notes
    assert marked["ungated"] == checks[2]
    assert mark_approximate(checks, served["bert"].onnx.runtime_facts) == checks  # fp32 is exact: no mark


def test_an_audit_on_onnx_gives_the_torch_numbers(served, cache_dir, tmp_path, monkeypatch):
    import yaml

    from auditor.engine.audit import run_audit

    data = tiny_bert.write_eval_jsonl(tmp_path / "eval.jsonl")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "schema_version": 1, "name": "onnx", "version": "1", "seed": 5,
        "explainers": {"integrated_gradients": {"n_steps": 16}, "shap": {"max_evals": 60}, "lime": {"num_samples": 60}},
        "checks": [
            {"check": "performance", "params": {"n_bootstrap": 50}},
            {"check": "explanation_faithfulness", "params": {"explainers": ["integrated_gradients", "shap"], "n_instances": 6},
             "thresholds": [{"measurement": "shap_comprehensiveness_p_value", "max": 0.5, "severity": "warn"}]},
        ]}, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(cache_dir))
    results = {}
    for runtime in ("torch", "onnx"):
        card = tmp_path / runtime / "README.md"
        card.parent.mkdir()
        card.write_text("---\n" + yaml.safe_dump({"auditor": {
            "task": "text-classification", "name": f"tiny-{runtime}", "target": "label", "text_column": "text",
            "positive_class": "positive",
            "model": {"path": str(served["bert"].path), "format": "transformers", "max_length": 32, "runtime": runtime}}})
            + "---\n\n# tiny\n", encoding="utf-8")
        results[runtime] = run_audit(policy, card, data, tmp_path / "out", jobs=1).result
    torch_run, onnx_run = results["torch"], results["onnx"]
    assert onnx_run.provenance["runtime"]["used"] == "onnx"
    assert onnx_run.provenance["runtime"]["max_abs_prob_diff"] < 1e-5
    runtime = dict(torch_run.provenance["runtime"])
    assert runtime.pop("kernels")["linear_kernels"] == "oneDNN, prepacked weights"
    assert runtime.pop("fast_forward")["used"] is True  # the tiny BERT runs on its real tokens only
    assert runtime == {"requested": "torch", "used": "torch", "device": "cpu"}
    compared = 0
    for a, b in zip(torch_run.checks, onnx_run.checks):
        assert a.id == b.id and a.status == b.status
        for key, value in a.measurements.items():
            if value is None:
                assert b.measurements[key] is None
                continue
            assert b.measurements[key] == pytest.approx(value, rel=1e-4, abs=1e-4), (a.id, key)
            compared += 1
    assert compared >= 6
    # Cluster workers do not repeat the export's verification: the combination is refused up front.
    from auditor.errors import UsageError

    with pytest.raises(UsageError, match="auditor.model.runtime is 'onnx'"):
        run_audit(policy, tmp_path / "onnx" / "README.md", data, tmp_path / "cluster-out", cluster="local:1")
    assert not (tmp_path / "cluster-out").exists()


@pytest.mark.parametrize("model, expected", [
    ({"format": "skops", "runtime": "onnx"}, {"auditor.model.runtime": "only for format: transformers"}),
    ({"format": "transformers", "runtime": "tensorrt"}, {"auditor.model.runtime": "Input should be 'torch', 'onnx', 'onnx-int8' or 'torch-bf16'"}),
    ({"format": "transformers", "runtime_tolerance": 0}, {"auditor.model.runtime_tolerance": "Input should be greater than 0"}),
    ({"format": "transformers", "runtime_verify_inputs": 5000},
     {"auditor.model.runtime_verify_inputs": "Input should be less than or equal to 1024"}),
])
def test_the_card_says_where_a_runtime_setting_is_wrong(tmp_path, card_writer, artefacts, model, expected):
    from auditor.errors import ModelCardError
    from auditor.inputs.model_card import load_model_card

    text = {"task": "text-classification", "text_column": "text"} if model["format"] == "transformers" else {}
    path = card_writer(tmp_path, model={"path": str(artefacts.pipeline), **model}, **text)
    with pytest.raises(ModelCardError) as info:
        load_model_card(path)
    assert {p.location: p.message for p in info.value.problems} == expected


def test_a_prompted_causal_lm_and_its_prompt_variants_run_on_onnx(tmp_path_factory, cache_dir):
    """The label-word head is part of the exported graph (its token ids are in the cache key); another
    prompt is input, not graph, so a prompt variant keeps the verified runtime."""
    from auditor.models.decoder import load_causal_lm

    path = tiny_decoder.build_tiny_causal_lm(tmp_path_factory.mktemp("onnx_clm") / "model", steps=60)
    kw = dict(prompt=tiny_decoder.PROMPT, label_words=tiny_decoder.LABEL_WORDS, max_length=32, batch_size=8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITOR_CACHE_DIR", str(cache_dir))
        fast = load_causal_lm(path, runtime="onnx", **kw)
    slow = load_causal_lm(path, **kw)
    assert fast.verify_runtime(dataset()) == [] and fast.runtime_facts["used"] == "onnx"
    assert fast.runtime_facts["max_abs_prob_diff"] < 1e-5
    variant_fast, variant_slow = (m.with_prompt("opinion : {text} verdict :") for m in (fast, slow))
    assert variant_fast.runtime_facts["used"] == "onnx" and variant_slow.runtime_facts["used"] == "torch"
    p_fast, p_slow = variant_fast.predict_proba(TEXTS), variant_slow.predict_proba(TEXTS)
    assert 0 < np.abs(p_fast - p_slow).max() < 1e-5
