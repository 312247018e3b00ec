"""Gradient explanations of a transformers classifier: IG, gradient x input, saliency.

All three explain the **probability of the target class** and attribute to the output of the input
word-embedding layer (``model.embedding_layer``), one value per token position, special tokens
included (they get 0 from IG because the baseline keeps them). Conventions
(``reference/explanation-metrics.md`` §1, §6):

* **Integrated gradients**: the gradient at points of the straight path from the baseline to the
  input, weighted by a quadrature rule (:mod:`auditor.explain.path_quadrature`): Gauss-Legendre, the
  same points and weights as Captum's ``LayerIntegratedGradients`` (a test holds the two together),
  or nested rules that refine only the texts whose completeness gap is above a bound. Computed here
  rather than by Captum because Captum's rules do not nest (a finer rule would recompute every
  point) and its layer method runs a whole forward pass of the input and of the baseline to read the
  embedding layer's output (2 rows per text, 6% of 32 steps). Baseline: the
  same sequence with every non-special token replaced by the ``[PAD]`` id, special tokens kept,
  attention mask unchanged (so the baseline is the same length; Captum's BERT tutorial does the
  same). Position and token-type embeddings are identical for input and baseline, so completeness
  holds with respect to the word-embedding layer: ``sum(a) = f(x) - f(x')`` up to the quadrature
  error reported per instance in ``extras["completeness_gap"]`` and
  ``extras["completeness_rel_gap"]``.
* **Gradient x input**: ``sum_h dP/de_h * e_h`` per token (signed, not complete).
* **Saliency**: ``||dP/de||_2`` per token. **Unsigned** (a norm), so it says how sensitive the
  output is to a token, not in which direction the token pushes; never read its sign.

Instances are sorted by length; integrated gradients run texts of one length together (nothing
padded), the other methods (one row per text) padded batches of alike lengths (the prediction
cache's :func:`~auditor.models.text.length_groups`); padding positions carry the ``[PAD]`` id and
are masked out, so they get exactly zero and are cut off.
A forward+backward pass holds its autograd graph until its gradient is taken, so a pass is also
bounded in tokens (:func:`pass_tokens`): the longest text of an evaluation set or a wider, deeper
model cuts a pass into fewer rows instead of multiplying its memory.
``forward_passes`` counts every sequence the method asked the model for: gradient rows plus f(x)
and f(x'), which come from the same float32 PyTorch
model as the gradients (``TextModel.gradient_model_proba_ids``: the prediction cache unless another
runtime serves it).
"""

from __future__ import annotations

import numpy as np

from auditor.explain.attribution import Attribution
from auditor.models.text import TextModel, length_groups


def check_inputs(texts, row_ids, target) -> tuple[np.ndarray, np.ndarray]:
    row_ids = np.asarray(row_ids)
    target = np.asarray(target, dtype=int).reshape(-1)
    if not (len(texts) == len(row_ids) == len(target)):
        raise ValueError(f"{len(texts)} texts, {len(row_ids)} row ids and {len(target)} targets "
                         "differ in length")
    return row_ids, target


def pad_baseline(model: TextModel, ids: np.ndarray, special: np.ndarray) -> np.ndarray:
    """The IG baseline: every non-special token replaced by the model's baseline id (the pad id of an
    encoder; a non-pad id of a decoder, so its head reads the same position), special tokens kept."""
    return np.where(special, ids, model.baseline_id).astype(np.int64)


def baseline_name(model: TextModel) -> str:
    """What the IG baseline writes, as the report names it ("{} baseline"): "pad" for an encoder's pad id,
    else the token itself (a decoder's neutral id: "[MASK]", "<unk>", "'.'"), quoted unless special."""
    if model.baseline_id == model.pad_id:
        return "pad"
    token = model.tokenizer.convert_ids_to_tokens(int(model.baseline_id))
    return token if int(model.baseline_id) in model.special_ids else repr(token)


# Token x hidden-size x layer units one gradient pass may hold: 1,536 tokens (16 rows of 96) of the
# 6-layer, 384-wide MiniLM. Measured there (``benchmarks/ig_memory.py``, the 4 longest reviews, 32
# steps): a 64-row pass (6,144 tokens) grew the process by 761 MiB, 3,072 tokens by 392, 1,536 by 185,
# 768 by 70, at the same CPU cost per text (1.99, 1.76, 1.88, 1.79 s), so the bound costs no time.
PASS_ACTIVATIONS = 1536 * 384 * 6


def pass_tokens(model: TextModel) -> int:
    """The most tokens one forward+backward pass of ``model`` holds: :data:`PASS_ACTIVATIONS` over
    its hidden size x layers (the embedding width and 12 layers where its config does not say)."""
    config = model.model.config
    hidden = getattr(config, "hidden_size", None) or model.embedding_layer.embedding_dim
    layers = getattr(config, "num_hidden_layers", None) or 12
    return max(1, PASS_ACTIVATIONS // (int(hidden) * int(layers)))


def pass_rows(size: int, length: int, tokens: int | None) -> int:
    """Rows of a pass of texts ``length`` tokens long: ``size``, fewer where that would exceed
    ``tokens`` tokens, never fewer than one."""
    return size if tokens is None else max(1, min(size, tokens // max(int(length), 1)))


def _at_most(groups, size: int, lengths, tokens: int | None):
    """Each group of positions cut into nearly equal parts of at most ``size`` rows and, given
    ``tokens``, at most ``tokens`` tokens at the group's longest length."""
    lengths = np.asarray(lengths)
    for group in groups:
        most = pass_rows(size, lengths[group].max(), tokens)
        yield from np.array_split(group, -(-len(group) // most))


def _chunks(lengths: list[int], size: int, tokens: int | None = None):
    """Positions in length order, in groups of at most ``size`` (and ``tokens``, padded) whose
    lengths are alike (:func:`auditor.models.text.length_groups`): a gradient pass costs its padded
    tokens, and one group spanning 24 to 96 tokens would pad away about a third of them."""
    return _at_most(length_groups(lengths), size, lengths, tokens)


def _equal_length_chunks(lengths: list[int], size: int, tokens: int | None = None):
    """Positions in length order, texts of one length together, at most ``size`` at a time (fewer
    where ``size`` rows would hold more than ``tokens`` tokens).
    Integrated gradients fill a pass with one text's steps already, and on the CPU a pass costs its
    padded tokens whatever its shape (``benchmarks/ig_groups.py``), so texts share a pass only when
    nothing is padded."""
    order = np.argsort(lengths, kind="stable")
    cuts = np.flatnonzero(np.diff(np.asarray(lengths)[order])) + 1
    return _at_most(np.split(order, cuts) if len(order) else [], size, lengths, tokens)


def path_contributions(model: TextModel, ids_list: list[np.ndarray], baselines: list[np.ndarray],
                       target: np.ndarray, todo: list[np.ndarray], *, internal_batch_size: int,
                       tokens: int | None) -> list[np.ndarray]:
    """Integrated gradients' integrand at chosen points of each text's path.

    For text ``i`` and each α in ``todo[i]``: the gradient of the target probability with respect to
    the word embeddings at ``e′ + α(e − e′)``, times ``e − e′``, summed over the hidden dimension:
    one value per token (float64 array ``(len(todo[i]), L_i)``). A quadrature rule's weighted sum of
    these rows is the attribution, so a finer nested rule reuses every row already computed.

    Texts of one length share passes (nothing padded); a pass holds at most ``internal_batch_size``
    rows and ``tokens`` tokens, and texts are taken in groups no larger than one pass, whose
    embeddings the passes read. A forward hook puts the path point in place of the embedding layer's
    output (as Captum's ``LayerIntegratedGradients`` does), so position and token-type embeddings
    are added as for the input. Rows an earlier audit of the model kept (``run --prediction-cache``,
    :mod:`auditor.models.kept_gradients`) are read, not computed.
    """
    def compute(ids_list, baselines, target, todo):
        return _path_contributions(model, ids_list, baselines, target, todo,
                                   internal_batch_size=internal_batch_size, tokens=tokens)

    kept = getattr(model, "kept_gradients", None)
    if kept is None:
        return compute(ids_list, baselines, target, todo)
    return kept.contributions(ids_list, baselines, target, todo, compute)


def _path_contributions(model: TextModel, ids_list: list[np.ndarray], baselines: list[np.ndarray],
                        target: np.ndarray, todo: list[np.ndarray], *, internal_batch_size: int,
                        tokens: int | None) -> list[np.ndarray]:
    import torch

    out = [np.zeros((len(a), len(ids))) for a, ids in zip(todo, ids_list)]
    layer = model.embedding_layer
    point: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda _m, _i, output: point.pop("e", output))
    try:
        # Texts of one length, at most internal_batch_size and a pass's tokens of them at a time: their
        # embeddings are held for the group's passes (a whole truncated evaluation set can be one length).
        for group in _equal_length_chunks([len(a) for a in ids_list], internal_batch_size, tokens):
            ids, mask = model.pad_batch([ids_list[i] for i in group])  # one length: no padding
            base, _ = model.pad_batch([baselines[i] for i in group])
            with torch.no_grad():
                e_base = layer(base)
                delta = layer(ids) - e_base
            # a prompt's shared prefix (kept by the baseline, so constant along the path) is computed
            # once: the passes embed and compute only the tokens after it
            n, logits_after = model.shared_prefix(ids, mask)
            if n and not torch.equal(base[:, :n], ids[:, :n]):
                n = 0
            text = np.concatenate([np.full(len(todo[i]), j) for j, i in enumerate(group)]).astype(int)
            node = np.concatenate([np.arange(len(todo[i])) for i in group]).astype(int)
            alpha = np.concatenate([todo[i] for i in group])
            step = pass_rows(internal_batch_size, ids.shape[1], tokens)
            for start in range(0, len(text), step):
                t = torch.as_tensor(text[start: start + step], device=ids.device)
                a = torch.as_tensor(alpha[start: start + step], dtype=delta.dtype, device=ids.device)
                with torch.enable_grad():
                    e = (e_base[t] + a[:, None, None] * delta[t]).requires_grad_()
                    point["e"] = e[:, n:] if n else e
                    logits = logits_after(ids[t], mask[t]) if n else model.class_logits(ids[t], mask[t])
                    probs = torch.softmax(logits.float(), dim=-1)
                    goal = torch.as_tensor(target[group][text[start: start + step]], device=probs.device)
                    (grad,) = torch.autograd.grad(probs[torch.arange(len(t), device=probs.device), goal].sum(), e)
                model.stats.gradient_inputs += len(t)
                rows = (grad * delta[t]).sum(dim=-1).detach().cpu().double().numpy()
                for r, (j, k) in enumerate(zip(text[start: start + step], node[start: start + step])):
                    out[group[j]][k] = rows[r]
    finally:
        handle.remove()
    return out


def explain_integrated_gradients(model: TextModel, texts: list[str], row_ids: np.ndarray,
                                 target: np.ndarray, *, n_steps: int, internal_batch_size: int,
                                 rule: str = "gausslegendre", first_steps: int = 15,
                                 refine_above: float = 0.02, refine_atol: float = 0.0) -> Attribution:
    """Integrated gradients on the word-embedding layer from the pad baseline (:func:`pad_baseline`).

    Parameters
    ----------
    model, texts, row_ids, target:
        The loaded model, the texts to explain, their dataset row positions and the class index to
        explain for each.
    n_steps:
        ``"gausslegendre"``: the rule's points along the path (the main cost: ``n_steps`` gradient
        rows per instance). ``"nested"``: the most points a text may get.
    internal_batch_size:
        Most rows per forward/backward pass. Long texts get fewer, so that a pass holds at most
        :func:`pass_tokens` tokens.
    rule:
        ``"gausslegendre"`` (Captum's rule: the same points and weights for every text) or
        ``"nested"``: Fejér's second rule with ``first_steps`` points for every text, then, for each
        text whose completeness gap is above both ``refine_above·|f(x) − f(x′)|`` and ``refine_atol``, the next
        nested rule (2n + 1 points, the n already computed reused), up to ``n_steps`` points
        (:mod:`auditor.explain.path_quadrature`). The absolute part is in probability: a text whose
        prediction barely moves from the baseline's (opposing words cancelling, or a randomised
        model's output near a constant) has a relative gap that no number of points brings to 2%
        cheaply, while its attributions' sum is already right to well under a hundredth.

    Returns
    -------
    Attribution
        Method ``"integrated_gradients"``, ``base_values = f(x')``, completeness gaps and the points
        each text got (``extras["path_points"]``) in extras.
    """
    from auditor.explain.path_quadrature import fejer2, gauss_legendre, nested_levels
    from auditor.metrics.faithfulness import completeness_gap

    if n_steps < 1 or internal_batch_size < 1:
        raise ValueError("n_steps and internal_batch_size must be positive")
    if rule not in ("gausslegendre", "nested"):
        raise ValueError(f"unknown integration rule {rule!r}: 'gausslegendre' or 'nested'")
    row_ids, target = check_inputs(texts, row_ids, target)
    enc = model.encode(list(texts))
    ids = [e.ids for e in enc]
    baselines = [pad_baseline(model, e.ids, e.special) for e in enc]
    n = len(enc)
    f_x = model.gradient_model_proba_ids(ids)[np.arange(n), target] if n else np.zeros(0)
    f_b = model.gradient_model_proba_ids(baselines)[np.arange(n), target] if n else np.zeros(0)
    tokens = pass_tokens(model)
    levels = [n_steps] if rule == "gausslegendre" else nested_levels(first_steps, n_steps)
    rules = [gauss_legendre(n_steps)] if rule == "gausslegendre" else [fejer2(k) for k in levels]
    contributions = [np.zeros((0, len(a))) for a in ids]  # rows at the points of the text's rule so far
    points, values = np.zeros(n, dtype=int), [np.zeros(len(a)) for a in ids]
    todo = np.arange(n)

    def gaps(which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # completeness: absolute, relative
        return completeness_gap([values[i].sum() for i in which], f_x[which], f_b[which])

    for level, (alphas, weights) in enumerate(rules):
        done = np.zeros(len(alphas), dtype=bool)
        done[1::2] = level > 0  # a nested rule's every other point is the previous rule's
        new = path_contributions(model, [ids[i] for i in todo], [baselines[i] for i in todo], target[todo],
                                 [alphas[~done]] * len(todo), internal_batch_size=internal_batch_size,
                                 tokens=tokens)
        for i, rows in zip(todo, new):
            merged = np.zeros((len(alphas), len(ids[i])))
            merged[done], merged[~done] = contributions[i], rows
            contributions[i], values[i], points[i] = merged, weights @ merged, len(alphas)
        gap, rel = gaps(todo)
        todo = todo[(rel > refine_above) & (gap > refine_atol)]
    gap, rel_gap = gaps(np.arange(n))
    params = {"n_steps": n_steps, "internal_batch_size": internal_batch_size, "pass_tokens": tokens,
              "baseline": baseline_name(model), "layer": "word_embeddings", "method": rule}
    if rule == "nested":
        params.update({"rule": "fejer2", "first_steps": first_steps, "refine_above": refine_above,
                       "refine_atol": refine_atol, "levels": levels})
    return Attribution(
        method="integrated_gradients", row_ids=row_ids, target=target, values=values,
        names=[list(e.tokens) for e in enc], output_space="probability", base_values=f_b,
        outputs=f_x, params=params, forward_passes=int(points.sum()) + 2 * n,
        words=[e.word_ids.copy() for e in enc],
        extras={"completeness_gap": gap, "completeness_rel_gap": rel_gap, "path_points": points},
    )


def embedding_gradients(
    model: TextModel, ids_list: list[np.ndarray], target: np.ndarray, *,
    batch_size: int | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Gradient of the target probability w.r.t. the word embeddings, and the embeddings.

    A forward hook captures the embedding layer's output, so this works for any model exposing
    ``get_input_embeddings`` without rebuilding its position/type embeddings. Instances in a batch
    are independent (attention masks), so one backward pass of the summed target probabilities
    gives every instance its own gradient.

    Returns
    -------
    grads, embeddings, rows
        Per instance (L_i, hidden) arrays, and the number of sequences run forward+backward.
    """
    import torch

    batch_size = batch_size or model.batch_size
    captured: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        captured["emb"] = output

    grads: list[np.ndarray] = [np.zeros((0, 0))] * len(ids_list)
    embs: list[np.ndarray] = [np.zeros((0, 0))] * len(ids_list)
    rows = 0
    handle = model.embedding_layer.register_forward_hook(hook)
    try:
        for pos in _chunks([len(a) for a in ids_list], batch_size, pass_tokens(model)):
            ids, mask = model.pad_batch([ids_list[i] for i in pos])
            with torch.enable_grad():
                logits = model.class_logits(ids, mask)
                probs = torch.softmax(logits.float(), dim=-1)
                rows_t = torch.arange(len(pos), device=probs.device)
                chosen = probs[rows_t, torch.as_tensor(target[pos], device=probs.device)].sum()
                # autograd.grad, not backward(): no parameter .grad is filled or accumulated.
                (grad,) = torch.autograd.grad(chosen, captured["emb"])
            rows += len(pos)
            g = grad.detach().cpu().double().numpy()
            e = captured["emb"].detach().cpu().double().numpy()
            for j, i in enumerate(pos):
                grads[i] = g[j, : len(ids_list[i])]
                embs[i] = e[j, : len(ids_list[i])]
    finally:
        handle.remove()
    return grads, embs, rows


def zero_embedding_outputs(model: TextModel, ids_list: list[np.ndarray], target: np.ndarray) -> np.ndarray:
    """f(x′) for gradient×input: the target probability with every word embedding zeroed.

    A forward hook replaces the word-embedding layer's output by zeros (position and token-type
    embeddings are added after it, as for the input), so this works for any model exposing
    ``get_input_embeddings``. It bypasses the prediction cache (the hooked model is not the model).
    """
    import torch

    out = np.zeros(len(ids_list))
    handle = model.embedding_layer.register_forward_hook(lambda _m, _i, output: torch.zeros_like(output))
    try:
        for start in range(0, len(ids_list), model.batch_size):
            chunk = ids_list[start: start + model.batch_size]
            ids, mask = model.pad_batch(chunk)
            with torch.inference_mode():
                logits = model.class_logits(ids, mask).double()
            probs = torch.softmax(logits, dim=-1).cpu().numpy()
            out[start: start + len(chunk)] = probs[np.arange(len(chunk)), target[start: start + len(chunk)]]
    finally:
        handle.remove()
    return out


def _gradient_method(model: TextModel, texts, row_ids, target, method: str) -> Attribution:
    row_ids, target = check_inputs(texts, row_ids, target)
    enc = model.encode(list(texts))
    grads, embs, rows = embedding_gradients(model, [e.ids for e in enc], target)
    model.stats.gradient_inputs += rows
    if method == "gradient_x_input":
        values = [(g * e).sum(axis=-1) for g, e in zip(grads, embs)]
    else:
        values = [np.linalg.norm(g, axis=-1) for g in grads]
    n = len(enc)
    outputs = np.zeros(0)
    if n:
        outputs = model.gradient_model_proba_ids([e.ids for e in enc])[np.arange(n), target]
    base_values, baseline_passes = np.full(n, np.nan), 0
    if method == "gradient_x_input" and n:  # completeness is against the all-zero embedding baseline
        base_values, baseline_passes = zero_embedding_outputs(model, [e.ids for e in enc], target), n
    return Attribution(
        method=method, row_ids=row_ids, target=target, values=values,
        names=[list(e.tokens) for e in enc], output_space="probability",
        base_values=base_values, outputs=outputs,
        params={"layer": "word_embeddings", "signed": method == "gradient_x_input"},
        forward_passes=rows + n + baseline_passes, words=[e.word_ids.copy() for e in enc],
    )


def explain_gradient_x_input(model: TextModel, texts: list[str], row_ids: np.ndarray,
                             target: np.ndarray) -> Attribution:
    """Gradient x input on the word embeddings, summed over the hidden dimension (signed)."""
    return _gradient_method(model, texts, row_ids, target, "gradient_x_input")


def explain_saliency(model: TextModel, texts: list[str], row_ids: np.ndarray,
                     target: np.ndarray) -> Attribution:
    """Gradient saliency: L2 norm of the embedding gradient per token (**unsigned**)."""
    return _gradient_method(model, texts, row_ids, target, "saliency")
