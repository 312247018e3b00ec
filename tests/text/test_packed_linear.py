"""Float32 linear layers on prepacked oneDNN kernels (issue 17): the same probabilities and gradients
as PyTorch's own kernels to rounding, a packed weight that follows re-initialisation (the sanity
test's randomised copies), and PyTorch's kernels whenever the packed ones would move a probability."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.text_gradients import explain_integrated_gradients
from auditor.models import packed_linear
from auditor.models.decoder import load_sequence_classifier

from . import tiny_bert
from .same_explanations import assert_same_gradient_explanations

torch = pytest.importorskip("torch")
if not torch.backends.mkldnn.is_available():  # pragma: no cover - every x86/ARM wheel on PyPI has it
    pytest.skip("this PyTorch has no oneDNN", allow_module_level=True)

TEXTS = [tiny_bert.make_sentence(np.random.default_rng(i), w, 3 + i % 6)
         for i, w in enumerate(["good", "bad", None] * 4)]


def load(path, monkeypatch, packed: bool):
    monkeypatch.setenv(packed_linear.ENV_SWITCH, "1" if packed else "0")
    return load_sequence_classifier(path, max_length=32, batch_size=8, threads=1)


def linear_classes(model) -> set[str]:
    return {type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.Linear)}


def test_a_model_on_a_gpu_keeps_its_own_kernels_and_says_which(tiny_text_model_dir, monkeypatch):
    """Nothing is packed off the CPU, and the facts do not name the CPU's library for a GPU's products."""
    plain = load(tiny_text_model_dir, monkeypatch, False)
    monkeypatch.setenv(packed_linear.ENV_SWITCH, "1")
    model = plain.model
    facts = packed_linear.pack_linear_layers(model, plain.class_logits, plain.probe_batch(), device="cuda:0")
    assert facts == {"linear_kernels": "PyTorch (CUDA)", "reason": "the model runs on cuda:0"}
    assert "PackedLinear" not in linear_classes(model)


def test_packed_kernels_serve_with_the_plain_numbers(tiny_text_model_dir, monkeypatch):
    packed, plain = load(tiny_text_model_dir, monkeypatch, True), load(tiny_text_model_dir, monkeypatch, False)
    facts = packed.runtime_facts["kernels"]
    assert facts["linear_kernels"] == "oneDNN, prepacked weights" and facts["probe_inputs"] == 3
    assert 0 <= facts["probe_max_abs_prob_diff"] <= packed_linear.TOLERANCE
    assert linear_classes(packed.model) == {"PackedLinear"} and linear_classes(plain.model) == {"Linear"}
    assert plain.runtime_facts["kernels"] == {"linear_kernels": "PyTorch (MKL)",
                                              "reason": f"{packed_linear.ENV_SWITCH}=0"}
    np.testing.assert_allclose(packed.predict_proba(TEXTS), plain.predict_proba(TEXTS), atol=1e-6)
    # the backward pass runs on the packed transposed weight: integrated gradients and
    # gradient x input agree with PyTorch's kernels to rounding
    assert_same_gradient_explanations(packed, plain, TEXTS, plain.predict_proba(TEXTS).argmax(axis=1))


def test_the_packed_weight_follows_reinitialisation(tiny_text_model_dir, monkeypatch):
    """The sanity test re-initialises a deep copy in place: a stale packed weight would keep the
    trained model's predictions under the randomised parameters."""
    packed, plain = load(tiny_text_model_dir, monkeypatch, True), load(tiny_text_model_dir, monkeypatch, False)
    packed.predict_proba(TEXTS)  # the packed weights exist before the copy
    r_packed, r_plain = packed.randomised(3, n_layers=2), plain.randomised(3, n_layers=2)
    assert linear_classes(r_packed.model) == {"PackedLinear"}
    p_random, p_trained = r_packed.predict_proba(TEXTS), packed.predict_proba(TEXTS)
    assert np.abs(p_random - p_trained).max() > 0.05
    np.testing.assert_allclose(p_random, r_plain.predict_proba(TEXTS), atol=1e-6)
    with torch.no_grad():  # and a weight replaced in place after a call
        layer = next(m for m in r_packed.model.modules() if type(m).__name__ == "PackedLinear")
        twin = next(m for m in r_plain.model.modules() if type(m) is torch.nn.Linear)
        layer.weight.mul_(0.5), twin.weight.mul_(0.5)
    r_packed._fresh_cache(), r_plain._fresh_cache()
    np.testing.assert_allclose(r_packed.predict_proba(TEXTS), r_plain.predict_proba(TEXTS), atol=1e-6)


def test_kernels_that_move_a_probability_are_not_used(tiny_text_model_dir, monkeypatch):
    real = packed_linear._linear
    monkeypatch.setattr(packed_linear, "_linear", lambda x, packed, bias: real(x, packed, bias) + 0.05)
    model = load(tiny_text_model_dir, monkeypatch, True)
    facts = model.runtime_facts["kernels"]
    assert facts["linear_kernels"] == "PyTorch (MKL)" and "above 1e-05" in facts["reason"]
    assert linear_classes(model.model) == {"Linear"}
    assert all(p.requires_grad for p in model.model.parameters())  # left as loaded
    monkeypatch.undo()
    plain = load(tiny_text_model_dir, monkeypatch, False)
    np.testing.assert_allclose(model.predict_proba(TEXTS), plain.predict_proba(TEXTS), atol=1e-7)


def test_failing_kernels_and_other_devices_keep_pytorch(tiny_text_model_dir, monkeypatch):
    def broken(*args, **kw):
        raise RuntimeError("no primitive")

    monkeypatch.setattr(packed_linear, "_linear", broken)
    facts = load(tiny_text_model_dir, monkeypatch, True).runtime_facts["kernels"]
    assert facts["linear_kernels"] == "PyTorch (MKL)" and "RuntimeError: no primitive" in facts["reason"]
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    facts = packed_linear.pack_linear_layers(model, lambda x: model(x), (torch.ones(1, 4),), device="meta")
    assert facts["reason"] == "the model runs on meta" and linear_classes(model) == {"Linear"}
    monkeypatch.setattr(packed_linear, "MAX_PARAMETERS", 7)  # a copy of 8 weights is over the memory bound
    facts = packed_linear.pack_linear_layers(model, lambda x: model(x), (torch.ones(1, 4),), device="cpu")
    assert facts["reason"].startswith("its linear layers hold 8 weights") and linear_classes(model) == {"Linear"}


def test_a_head_tied_to_the_embeddings_stays_plain():
    """Freezing a tied head would freeze the embeddings that gradients are taken at."""
    emb, head = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "head": head, "hidden": torch.nn.Linear(4, 4)})

    def logits(ids):
        return model["head"](model["hidden"](model["emb"](ids)).mean(dim=1))

    facts = packed_linear.pack_linear_layers(model, logits, (torch.tensor([[1, 2, 3]]),), device="cpu")
    assert facts["layers"] == 1 and type(model["head"]) is torch.nn.Linear
    assert type(model["hidden"]).__name__ == "PackedLinear" and emb.weight.requires_grad


def test_a_decoder_classifier_packs_and_explains_as_before(tmp_path_factory, monkeypatch):
    from . import tiny_decoder

    path = tiny_decoder.build_tiny_decoder(tmp_path_factory.mktemp("packed_decoder") / "model", steps=40)
    packed, plain = load(path, monkeypatch, True), load(path, monkeypatch, False)
    assert packed.runtime_facts["kernels"]["layers"] >= 1
    np.testing.assert_allclose(packed.predict_proba(TEXTS), plain.predict_proba(TEXTS), atol=1e-6)
    rows, target = np.arange(4), np.array([1, 0, 1, 0])
    a, b = (explain_integrated_gradients(m, TEXTS[:4], rows, target, n_steps=8, internal_batch_size=8)
            for m in (packed, plain))
    for va, vb in zip(a.values, b.values):
        np.testing.assert_allclose(va, vb, atol=1e-6)
