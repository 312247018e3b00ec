"""A faster forward pass for an adapter's class logits, with the same arithmetic, verified before it
serves.

An adapter may know a cheaper way to the same class logits for its architecture: a BERT-style
encoder or a Llama-family decoder classifier on its real tokens only, with the last layer on the
token the head reads (``models/unpadded_encoder.py``, ``models/unpadded_decoder.py``); a causal LM
prompted as a classifier with next-token logits at the answer position only (``models/decoder.py``).
Such a path serves only once :func:`verified` found its probabilities within :data:`TOLERANCE` of
the model's own forward on probe inputs; otherwise, or with ``AUDITOR_FAST_FORWARD=0``, the model's
own forward serves and the facts say why.
"""

from __future__ import annotations

import os

TOLERANCE = 1e-5  # largest |p_fast - p_model| on the probe inputs for a faster path to serve
ENV_SWITCH = "AUDITOR_FAST_FORWARD"  # "0": keep the model's own forward (benchmarks, troubleshooting)


def verified(candidate, how: str, reference, probes) -> tuple:
    """``(candidate, facts)`` if ``candidate(*probes)`` gives the class probabilities of
    ``reference(*probes)`` within :data:`TOLERANCE`, else ``(None, facts)`` with the reason.
    ``candidate`` is ``None`` when the architecture has no faster path (``how`` then says why);
    ``probes`` are padded ``(input_ids, attention_mask)`` tensors."""
    import torch

    if os.environ.get(ENV_SWITCH, "1") == "0":
        return None, {"used": False, "reason": f"{ENV_SWITCH}=0"}
    if candidate is None:
        return None, {"used": False, "reason": how}
    try:
        with torch.inference_mode():
            expected = torch.softmax(reference(*probes).double(), -1)
            got = torch.softmax(candidate(*probes).double(), -1)
        diff = float((got - expected).abs().max())
    except Exception as exc:  # noqa: BLE001 - any failure of the faster path: the model's own forward serves
        return None, {"used": False, "reason": f"the faster forward failed ({type(exc).__name__}: {exc})"}
    if not diff <= TOLERANCE:
        return None, {"used": False, "reason": f"probabilities moved by {diff:.3g} on the probe inputs, above {TOLERANCE:g}"}
    return candidate, {"used": True, "how": how, "probe_inputs": int(probes[0].shape[0]), "probe_max_abs_prob_diff": diff}
