"""Agreement between two explanations (Krishna et al. 2022, "The Disagreement Problem"; reference §4).

Conventions
-----------
* Top-k lists are taken by ``|a|`` descending. Ties are broken uniformly at random (reference
  §1.6) and each top-k agreement is its exact expectation over those draws
  (:func:`~auditor.metrics.ranking.placement_probabilities`), so results are deterministic and tied
  values add no agreement of their own: with index order, two explanations that each had one
  non-zero feature of 13, never the same, filled their top 3 with the same zeros and read FA@3 =
  0.67, above the 0.33 that chance reaches; now 0.21, what random tie-breaking gives on average.
  :func:`weighted_feature_agreement` keeps index order (it says why).
* Signs use ``numpy.sign``: ``sign(0) = 0``, so an exactly-zero attribution never agrees in sign
  with a non-zero one (§9 Case 3: SA@2 = 0.5 for SHAP (0.5, 2.5) vs IG (0, 3)).
* Every function takes ``a`` and ``b`` of shape (d,) (returns a float) or (n, d) (returns (n,),
  one value per instance).  No normalisation is applied; all metrics are scale-free.
"""

from __future__ import annotations

import numpy as np

from .ranking import TIE_TOLERANCE, placement_probabilities, ranking_key, top_k

KEY_OFFSET = round(1 / TIE_TOLERANCE)  # ranking_key's values lie in [−KEY_OFFSET, KEY_OFFSET]

__all__ = [
    "feature_agreement", "weighted_feature_agreement", "rank_agreement", "sign_agreement", "signed_rank_agreement",
    "rank_correlation", "rank_correlation_to", "weighted_rank_correlation", "pairwise_rank_agreement", "mean_shares",
]


def _pair(a, b):
    a2, b2 = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a2.shape != b2.shape or a2.ndim not in (1, 2) or a2.shape[-1] == 0:
        raise ValueError(f"a and b must have the same shape (d,) or (n, d); got {a2.shape} and {b2.shape}")
    if not (np.all(np.isfinite(a2)) and np.all(np.isfinite(b2))):
        raise ValueError("a and b must not contain NaN or inf")
    return np.atleast_2d(a2), np.atleast_2d(b2), a2.ndim == 1


def _out(v, one):
    return float(v[0]) if one else v


def _placements(a, b, k):
    """Both explanations' rank probabilities (n, k, d) under random tie-breaking, and their signs."""
    a2, b2, one = _pair(a, b)
    pa, pb = placement_probabilities(a2, k, by_abs=True), placement_probabilities(b2, k, by_abs=True)
    return pa, pb, np.sign(a2) == np.sign(b2), one


def feature_agreement(a, b, k: int):
    """FA@k = |Ta ∩ Tb| / k, with Ta, Tb the top-k features by |·|.  Range [0, 1], higher = more agreement."""
    pa, pb, _, one = _placements(a, b, k)
    return _out((pa.sum(axis=1) * pb.sum(axis=1)).sum(axis=1) / k, one)


def weighted_feature_agreement(a, b, k: int):
    """WFA@k: :func:`feature_agreement` with each feature weighted by how much it matters to the two
    explanations (the mean of its shares of ``sum |a|`` and ``sum |b|``,
    :func:`~auditor.metrics.statistics.importance_weights`): the weight of the top-k features the two
    share over the mean weight of their two top-k sets. Equal weights give FA@k.

    Where a prediction rests on fewer than k features, FA@k counts which features without effect
    fill the rest of the top k, an order that is noise: LIME (125 samples) re-run with other seeds on
    sound logistic regressions with 1 informative feature of 13 read a median FA@3 of 0.33-0.44 over 5
    draws, weighted 0.83-0.90. Weighted, features that carry no weight have no say, while two
    explanations that put their weight on different features still read near 0. A heavy feature
    that only one explanation puts in the other's top k still counts with its mean share, so the
    chance level is higher than FA@k's; judge it against the explanations' own values at random
    positions (:func:`~auditor.metrics.chance.weighted_topk_agreement_chance`).
    Ties keep index order here: a feature tied at 0 in one explanation carries only the other's
    weight, which random tie-breaking would let into the top k by chance and count as shared (two
    explanations with one different non-zero feature each read 0.29 on average, against 0 here).
    Range [0, 1]; NaN where both explanations are all zero."""
    from auditor.metrics.statistics import importance_weights

    a2, b2, one = _pair(a, b)
    ta, tb = top_k(a2, k, by_abs=True), top_k(b2, k, by_abs=True)
    w = importance_weights(np.abs(a2), np.abs(b2))
    wa, wb = np.take_along_axis(w, ta, 1), np.take_along_axis(w, tb, 1)
    in_both = (ta[:, :, None] == tb[:, None, :]).any(axis=2)  # (n, k) over Ta
    mean_top = (wa.sum(axis=1) + wb.sum(axis=1)) / 2
    res = np.full(len(mean_top), np.nan)
    np.divide((wa * in_both).sum(axis=1), mean_top, out=res, where=mean_top > 0)
    return _out(np.minimum(res, 1.0), one)


def rank_agreement(a, b, k: int):
    """RA@k = #{positions p < k : Ta[p] = Tb[p]} / k (same feature at the same rank).  Range [0, 1]."""
    pa, pb, _, one = _placements(a, b, k)
    return _out((pa * pb).sum(axis=(1, 2)) / k, one)


def sign_agreement(a, b, k: int):
    """SA@k = |{(i, sign a_i) : i ∈ Ta} ∩ {(j, sign b_j) : j ∈ Tb}| / k.

    A feature counts when it is in both top-k lists and ``sign(a_i) == sign(b_i)`` (sign(0) = 0).
    Range [0, 1].
    """
    pa, pb, same_sign, one = _placements(a, b, k)
    return _out((pa.sum(axis=1) * pb.sum(axis=1) * same_sign).sum(axis=1) / k, one)


def signed_rank_agreement(a, b, k: int):
    """SRA@k = #{p < k : Ta[p] = Tb[p] and the signs agree} / k (sign(0) = 0).  Range [0, 1]."""
    pa, pb, same_sign, one = _placements(a, b, k)
    return _out((pa * pb * same_sign[:, None, :]).sum(axis=(1, 2)) / k, one)


def _features(a2, b2, features):
    if features is None:
        return a2, b2
    idx = np.asarray(features)
    if idx.ndim != 1 or idx.size < 2:
        raise ValueError("features must be a 1-D index array of at least 2 features")
    return a2[:, idx], b2[:, idx]


def rank_correlation(a, b, *, features=None):
    """RC: Spearman ρ between ``|a|`` and ``|b|`` over all features or the given ``features``.

    Ties get average ranks (``scipy.stats.spearmanr`` convention; OpenXAI's Pearson-on-dense-ranks
    differs when there are ties).  Range [-1, 1]; NaN when either side is constant.
    """
    a2, b2, one = _pair(a, b)
    a2, b2 = _features(np.abs(a2), np.abs(b2), features)
    if a2.shape[1] < 2:
        raise ValueError("rank correlation needs at least 2 features")
    return _out(_correlate(_centred_ranks(a2), _centred_ranks(b2)), one)


def weighted_rank_correlation(a, b, *, features=None):
    """WRC: :func:`rank_correlation` with each feature weighted by how much it matters to the two
    explanations: the weighted Pearson correlation of the (mid)ranks of ``|a|`` and ``|b|``, feature
    j's weight the mean of its shares of ``sum |a|`` and ``sum |b|``
    (:func:`~auditor.metrics.statistics.importance_weights`; ties as in :func:`rank_correlation`).

    Over all features the plain ρ of two explanations that agree on what drives a prediction is
    mostly the order of the features that drive nothing, which is noise: SHAP and LIME on a sound
    logistic regression with 1 or 2 informative features of 13 read a median ρ below 0.3 in 9 and
    2 of 10 draws (40 rows each); weighted, 0.47 to 0.67 in all 20, while LIME's values at shuffled
    positions read below 0 in all of them. Equal weights give Spearman's ρ. Range [-1, 1]; NaN where
    both explanations are all zero or the weighted ranks of one do not vary."""
    from auditor.metrics.statistics import importance_weights, weighted_correlation

    a2, b2, one = _pair(a, b)
    a2, b2 = _features(np.abs(a2), np.abs(b2), features)
    if a2.shape[1] < 2:
        raise ValueError("rank correlation needs at least 2 features")
    return _out(weighted_correlation(_centred_ranks(a2), _centred_ranks(b2), importance_weights(a2, b2)), one)


def rank_correlation_to(reference, b):
    """:func:`rank_correlation` of ``reference`` (d,) with every row of ``b`` (n, d), the reference
    ranked once rather than once per row (a bootstrap's resamples against the full set: half the
    ranking work)."""
    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1:
        raise ValueError(f"reference must be 1-D; got shape {ref.shape}")
    b2 = np.asarray(b, dtype=float)
    if b2.ndim != 2 or b2.shape[1] != ref.size:
        raise ValueError(f"b must have shape (n, {ref.size}); got {b2.shape}")
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(b2))):
        raise ValueError("reference and b must not contain NaN or inf")
    if ref.size < 2:
        raise ValueError("rank correlation needs at least 2 features")
    return _correlate(_centred_ranks(np.abs(ref)[None]), _centred_ranks(np.abs(b2)))


def _centred_ranks(x2):
    """Each row's average ranks (values equal but for floating-point noise are ties), less their
    mean (so a row of ties is all 0).

    One integer sort per row: :func:`~auditor.metrics.ranking.ranking_key`'s values are whole
    numbers of magnitude at most 1 / ``TIE_TOLERANCE`` (< 2³¹), so each is packed above its column
    index into one int64 and a plain sort yields the sorted values and their columns together
    (scipy's ``rankdata`` sorts stably by index: 2.5x slower on a bootstrap's 200 x 3,000, ranking the
    same)."""
    key = ranking_key(x2)
    n, d = key.shape
    bits = max(1, (d - 1).bit_length())
    packed = ((key.astype(np.int64) + KEY_OFFSET) << bits) | np.arange(d, dtype=np.int64)
    packed.sort(axis=1)
    values = packed >> bits
    first = np.ones((n, d), dtype=bool)  # where a run of equal values starts
    np.not_equal(values[:, 1:], values[:, :-1], out=first[:, 1:])
    starts = np.flatnonzero(first)
    sizes = np.diff(starts, append=first.size)
    centred = starts % d + (sizes - 1) / 2.0 - (d - 1) / 2.0  # a run's mean 0-based position, centred
    ranks = np.empty((n, d))
    np.put_along_axis(ranks, packed & ((1 << bits) - 1), np.repeat(centred, sizes).reshape(n, d), axis=1)
    return ranks


def _correlate(ra, rb):
    """Pearson's r of centred rank rows (``ra`` may be one row broadcast against ``rb``); NaN where
    either side is constant."""
    den = np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))
    res = np.full(len(den), np.nan)
    np.divide((ra * rb).sum(axis=1), den, out=res, where=den > 0)
    return res


def pairwise_rank_agreement(a, b, *, features=None):
    """PRA: share of feature pairs (i < j) ordered the same way by ``|a|`` and ``|b|``.

    A pair agrees when ``sign(|a_i| − |a_j|) == sign(|b_i| − |b_j|)``, so a pair tied in one
    explanation agrees only if it is tied in the other too.  Ties are those of every other ranking
    here (:func:`~auditor.metrics.ranking.ranking_key`): values equal but for floating-point noise
    are tied, as :func:`rank_correlation` and the top-k lists treat them.  Range [0, 1].
    """
    a2, b2, one = _pair(a, b)
    a2, b2 = _features(np.abs(a2), np.abs(b2), features)
    d = a2.shape[1]
    if d < 2:
        raise ValueError("pairwise rank agreement needs at least 2 features")
    ka, kb = ranking_key(a2), ranking_key(b2)
    i, j = np.triu_indices(d, k=1)
    agree = np.sign(ka[:, i] - ka[:, j]) == np.sign(kb[:, i] - kb[:, j])
    return _out(agree.mean(axis=1), one)


def mean_shares(a, b) -> tuple[np.ndarray, np.ndarray, int]:
    """Per feature, its mean share of ``|a|`` and of ``|b|`` (each instance's summed |attribution|
    counted as 1), over the instances where both explanations are finite and attribute something,
    and how many those are (NaN shares where none). Where two explainers disagree, the features
    whose shares differ most are where their accounts part."""
    from .statistics import row_shares

    a2, b2 = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (a, b))
    if a2.shape != b2.shape or a2.ndim != 2:
        raise ValueError(f"a and b must have the same shape (d,) or (n, d); got {a2.shape} and {b2.shape}")
    finite = np.isfinite(a2).all(axis=1) & np.isfinite(b2).all(axis=1)
    (sa, ha), (sb, hb) = (row_shares(np.abs(np.where(finite[:, None], x, 0.0))) for x in (a2, b2))
    both = finite & ha.ravel() & hb.ravel()
    if not both.any():
        return np.full(a2.shape[1], np.nan), np.full(a2.shape[1], np.nan), 0
    return sa[both].mean(axis=0), sb[both].mean(axis=0), int(both.sum())
