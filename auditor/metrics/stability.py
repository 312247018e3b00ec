"""Stability metrics: seed re-run agreement and relative input stability (reference §3.3, §3.4, §10).

These functions take explanations that were already computed (re-running the explainer is the
caller's job and the dominant cost); they never call a model.
"""

from __future__ import annotations

import numpy as np

from .agreement import feature_agreement, weighted_feature_agreement

__all__ = ["topk_agreement", "relative_input_stability", "gaussian_perturbations"]


def topk_agreement(E, k: int, *, weighted: bool = False):
    """Mean pairwise FA@k over R explanations of the same input(s) (seed / re-run stability, §3.4);
    ``weighted``: WFA@k (:func:`~auditor.metrics.agreement.weighted_feature_agreement`).

    Parameters
    ----------
    E : array_like, shape (R, d) or (R, n, d)
        R >= 2 re-runs (e.g. seeds) of an explainer, for one instance or for n instances.
    k : int
        Top-k size (by ``|a|``, stable ties; see :func:`~auditor.metrics.agreement.feature_agreement`).

    Returns
    -------
    float for (R, d) input, numpy.ndarray of shape (n,) for (R, n, d): the mean of FA@k over the
    R(R−1)/2 unordered pairs of runs.  Range [0, 1], higher is more stable.
    """
    e = np.asarray(E, dtype=float)
    if e.ndim not in (2, 3) or e.shape[0] < 2:
        raise ValueError(f"E must be (R, d) or (R, n, d) with R >= 2; got shape {e.shape}")
    one = e.ndim == 2
    if one:
        e = e[:, None, :]
    r = e.shape[0]
    i, j = np.triu_indices(r, k=1)
    n, d = e.shape[1], e.shape[2]
    # All pairs at once: (pairs·n, d) against (pairs·n, d).
    agree = weighted_feature_agreement if weighted else feature_agreement
    fa = agree(e[i].reshape(-1, d), e[j].reshape(-1, d), k).reshape(len(i), n)
    mean = fa.mean(axis=0)
    return float(mean[0]) if one else mean


def relative_input_stability(x, x_pert, e, e_pert, eps: float = 1e-6, *, keep=None,
                             log10: bool = True, reduce: str | None = "max"):
    """Relative input stability, OpenXAI norm-ratio definition (§3.3).

    For each perturbation x′ of x with explanation e′::

        RIS(x, x′) = (‖e − e′‖₂ / max(‖e‖₂, eps)) / max(‖x − x′‖₂ / max(‖x‖₂, eps), eps)

    i.e. the relative change of the explanation divided by the relative change of the input (norm
    ratios, not elementwise ratios: elementwise division explodes when some e_i ≈ 0).  The
    instance's score is the max over its perturbations (Agarwal et al. 2022).  Lower is better;
    ~1 (log10 ≈ 0) means the explanation moves proportionally to the input.

    Parameters
    ----------
    x : array_like, shape (d,) or (n, d)
    x_pert : array_like, shape (P, d) or (n, P, d)
        Perturbed inputs; the caller should keep only label-preserving ones (or pass ``keep``).
    e, e_pert : array_like, same shapes as ``x`` and ``x_pert``
        Explanations of ``x`` and of each perturbation.
    eps : float, default 1e-6
        Floor of the norms (avoids division by zero). An instance whose ‖x‖ is below it has no
        relative input change: NaN.
    keep : array_like of bool, shape (P,) or (n, P), optional
        Perturbations to use (e.g. the label-preserving ones).  An instance with none left is NaN.
    log10 : bool, default True
        Return ``log10(RIS)`` (policy S1 thresholds are on log10) instead of the raw ratio.
    reduce : {"max", None}, default "max"
        ``None`` returns the per-perturbation values (dropped perturbations are NaN).

    Returns
    -------
    float or numpy.ndarray of shape (n,) with ``reduce="max"``; shape (P,) or (n, P) with ``None``.
    """
    xs, xp, es, ep = (np.asarray(v, dtype=float) for v in (x, x_pert, e, e_pert))
    if xs.ndim not in (1, 2) or xp.ndim != xs.ndim + 1 or xp.shape[:-2] != xs.shape[:-1] \
            or xp.shape[-1] != xs.shape[-1]:
        raise ValueError(f"x must be (d,) or (n, d) and x_pert (P, d) or (n, P, d); got {xs.shape}, {xp.shape}")
    if es.shape != xs.shape or ep.shape != xp.shape:
        raise ValueError(f"e/e_pert shapes {es.shape}/{ep.shape} must match x/x_pert {xs.shape}/{xp.shape}")
    if reduce not in ("max", None):
        raise ValueError(f"reduce must be 'max' or None; got {reduce!r}")
    if not eps > 0:
        raise ValueError(f"eps must be positive; got {eps!r}")
    one = xs.ndim == 1
    xs, xp, es, ep = (np.expand_dims(v, 0) if one else v for v in (xs, xp, es, ep))
    norm = lambda v: np.linalg.norm(v, axis=-1)  # noqa: E731  (L2 over features)
    num = norm(es[:, None, :] - ep) / np.maximum(norm(es), eps)[:, None]
    den = np.maximum(norm(xs[:, None, :] - xp) / np.maximum(norm(xs), eps)[:, None], eps)
    ris = num / den  # (n, P)
    # no input norm to be relative to (a row at the standardised origin, the evaluation mean): the
    # floor had made any input change huge and the score near-perfect, however far the explanation moved
    ris = np.where((norm(xs) < eps)[:, None], np.nan, ris)
    if keep is not None:
        kp, want = np.asarray(keep, dtype=bool), (ris.shape[1:] if one else ris.shape)
        if kp.shape != want:
            raise ValueError(f"keep must have shape {want}; got {kp.shape}")
        ris = np.where(kp.reshape(ris.shape), ris, np.nan)
    if log10:
        with np.errstate(divide="ignore"):
            ris = np.log10(ris)  # a zero change gives -inf (perfectly stable)
    if reduce == "max":
        valid = ~np.isnan(ris)
        out = np.where(valid.any(axis=1), np.max(np.where(valid, ris, -np.inf), axis=1), np.nan)
    else:
        out = ris
    return (float(out[0]) if reduce == "max" else out[0]) if one else out


def gaussian_perturbations(X, std, frac: float, n: int, rng, continuous_mask=None) -> np.ndarray:
    """Gaussian perturbations of tabular rows for stability tests (policy S1/S2).

    Continuous feature j gets ``x_j + N(0, (frac·std_j)²)``; features outside ``continuous_mask``
    (categoricals, one-hots) are left unchanged.  The caller filters by predicted label to keep
    only label-preserving perturbations.

    Parameters
    ----------
    X : array_like, shape (d,) or (m, d)
    std : array_like, shape (d,) or scalar
        Per-feature scale, normally the training standard deviation (not a per-sample statistic).
    frac : float
        Noise sd as a fraction of ``std`` (policy default 0.01).  Must be >= 0.
    n : int
        Perturbations per row, >= 1.
    rng : Generator or int
        Seed; the result is reproducible.
    continuous_mask : array_like of bool, shape (d,), optional
        True for features that may be perturbed.  Default: all features.

    Returns
    -------
    numpy.ndarray, shape (n, d) for a single row, (m, n, d) for m rows.
    """
    x = np.asarray(X, dtype=float)
    if x.ndim not in (1, 2):
        raise ValueError(f"X must be (d,) or (m, d); got shape {x.shape}")
    d = x.shape[-1]
    s = np.asarray(std, dtype=float)
    if s.shape not in ((), (d,)) or np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("std must be a finite non-negative scalar or (d,) array")
    if not (np.isfinite(frac) and frac >= 0):
        raise ValueError(f"frac must be a finite non-negative number; got {frac!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    cont = np.ones(d, dtype=bool) if continuous_mask is None else np.asarray(continuous_mask, dtype=bool)
    if cont.shape != (d,):
        raise ValueError(f"continuous_mask must have shape ({d},); got {cont.shape}")
    gen = np.random.default_rng(rng)
    rows = np.atleast_2d(x)
    noise = gen.standard_normal((rows.shape[0], n, d)) * (frac * s * cont)
    out = rows[:, None, :] + noise
    return out[0] if x.ndim == 1 else out
