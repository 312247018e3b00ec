"""Permutation importance through the cached predictor: the shuffled copies of the data for every
feature and repeat (shuffles drawn in order from one seeded generator) are predicted in batched
calls of at most :data:`MAX_CHUNK_CELLS` cells each, and scored on the audit's executor. Computed
once per audit and parameters (``global_importance`` and ``partial_dependence`` both read it), on at
most :data:`DEFAULT_MAX_ROWS` rows unless a check's ``max_rows`` says otherwise: the cost is
features × repeats predictions of every row used (13 × 5 copies of 111,400 rows were 7.2 million
predictions, 85 s of a 300 s audit). Built all at once, the copies' memory grew with features² ×
rows: 8.1 GB for 124 features × 5,000 rows, past 10.7 GB at 10,000; in chunks it is bounded by one
chunk's copies whatever the width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import AfterValidator

CLASSIFICATION_SCORINGS = ("roc_auc", "accuracy", "neg_log_loss")
# a regressor's (its "proba" is the (n, 1) prediction): minus the mean absolute error (a drop is the
# increase in MAE, in the target's units) and R² (a drop is the share of variance explained lost)
REGRESSION_SCORINGS = ("neg_mae", "r2")
SCORINGS = CLASSIFICATION_SCORINGS + REGRESSION_SCORINGS
# Rows a permutation importance uses by default (a seeded sample of a larger evaluation set): its
# score drops are means over rows, so 10,000 rows resolve a drop of 0.01 in ROC AUC (the standard
# error of a ROC AUC on 10,000 rows is about 0.005) at a bounded cost.
DEFAULT_MAX_ROWS = 10_000
# Cells (rows × columns) of shuffled copies built and predicted at once: about 40 MB of numbers, a
# few hundred MB as a frame of mixed columns and its copies on the way to the model
MAX_CHUNK_CELLS = 5_000_000


def _known_scoring(v: str | None) -> str | None:
    if v is not None and v not in SCORINGS:
        raise ValueError(f"unknown scoring {v!r}; known: {', '.join(SCORINGS)}")
    return v


# A check parameter naming a scoring; None: the model kind's default (default_scoring)
Scoring = Annotated[str | None, AfterValidator(_known_scoring)]


def default_scoring(regression: bool) -> str:
    return "neg_mae" if regression else "roc_auc"


# a negated loss as a reader names it: a report said "drop in neg_mae" for what its summary called
# "raises MAE by 7.742"
LOSS_NAMES = {"neg_mae": "MAE", "neg_log_loss": "log loss"}


def importance_words(scoring: str) -> str:
    """What a permutation importance under ``scoring`` measures, for a column or an axis: "roc_auc
    drop", "MAE rise" (neg_mae: minus the loss, so its drop is the loss's rise)."""
    if scoring in LOSS_NAMES:
        return f"{LOSS_NAMES[scoring]} rise"
    return f"{scoring} drop"


def baseline_words(scoring: str, baseline: float) -> str:
    """The unshuffled score as a reader names it: "roc_auc = 0.8489", "MAE = 3.7170" (not "neg_mae = -3.7170")."""
    if scoring in LOSS_NAMES:
        return f"{LOSS_NAMES[scoring]} = {-baseline:.4f}"
    return f"{scoring} = {baseline:.4f}"


def score(scoring: str, y_true: np.ndarray, proba: np.ndarray, pred: np.ndarray, positive: int | None) -> float:
    if scoring == "neg_mae":
        return -float(np.mean(np.abs(y_true - proba[:, 0])))
    if scoring == "r2":
        return 1.0 - float(np.sum((y_true - proba[:, 0]) ** 2) / np.sum((y_true - np.mean(y_true)) ** 2))
    if scoring == "accuracy":
        return float(np.mean(pred == y_true))
    if scoring == "neg_log_loss":
        p = np.clip(proba[np.arange(len(y_true)), y_true], 1e-15, 1.0)
        return float(np.mean(np.log(p)))
    if scoring == "roc_auc":
        from sklearn.metrics import roc_auc_score  # imported on use: seconds, and loading a policy imports this module

        if proba.shape[1] == 2:
            return float(roc_auc_score(y_true == positive, proba[:, positive]))
        # one-vs-rest macro, as scikit-learn's, over the classes with a row (a class with none has no AUC)
        return float(np.mean([roc_auc_score(y_true == c, proba[:, c]) for c in np.unique(y_true)]))
    raise ValueError(f"unknown scoring {scoring!r}; use one of {SCORINGS}")


@dataclass
class PermutationImportance:
    features: list[str]
    baseline_score: float
    drops: np.ndarray  # (n_features, n_repeats): baseline score minus the shuffled score
    scoring: str
    # a binary ROC AUC's (positives, negatives) among the rows used: its drops rest on the fewer of the
    # two (every pair it ranks holds one of them), not on the rows; None under any other scoring
    classes_rows: tuple[int, int] | None = None
    # a one-vs-rest macro ROC AUC's rows of each class among the rows used (0: a class with none, no
    # term of the mean): each class's term rests on the fewer of its rows and the others; None otherwise
    class_counts: tuple[int, ...] | None = None

    @property
    def mean(self) -> np.ndarray:
        return self.drops.mean(axis=1)

    def ci(self, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Normal-approximation interval of the mean over repeats (t quantile, n_repeats - 1 dof)."""
        from scipy import stats

        r = self.drops.shape[1]
        if r < 2:
            return self.mean, self.mean
        half = stats.t.ppf(1 - alpha / 2, r - 1) * self.drops.std(axis=1, ddof=1) / np.sqrt(r)
        return self.mean - half, self.mean + half


def permutation_importance(ctx, *, n_repeats: int, scoring: str, max_rows: int | None = None) -> PermutationImportance:
    """``scoring`` must suit the model: a regressor's is one of REGRESSION_SCORINGS, a classifier's one
    of CLASSIFICATION_SCORINGS (else ValueError). ``max_rows`` None: every row. Computed once per
    context and parameters."""
    allowed = REGRESSION_SCORINGS if ctx.regression else CLASSIFICATION_SCORINGS
    if scoring not in allowed:
        raise ValueError(f"scoring {scoring!r} does not suit a {ctx.model.kind}; use one of {', '.join(allowed)}")
    return ctx.memo(("permutation_importance", n_repeats, scoring, max_rows),
                    lambda: _permutation_importance(ctx, n_repeats, scoring, max_rows))


def _permutation_importance(ctx, n_repeats: int, scoring: str, max_rows: int | None) -> PermutationImportance:
    import pandas as pd  # imported on use (see score)

    frame = ctx.data.frame
    n = len(frame)
    # in a seeded order drawn from what the rows hold: the shuffles below do not depend on the file's order
    rows = ctx.row_order("perm_rows")[:n if max_rows is None else max_rows]
    base = frame.iloc[rows].reset_index(drop=True)
    y = (ctx.targets() if ctx.regression else ctx.label_index())[rows]
    pos = ctx.positive_index
    proba = ctx.predict_proba_rows(rows)
    baseline = score(scoring, y, proba, ctx.predicted_index(proba), pos)
    rng = ctx.rng("permutation_importance")
    features = list(frame.columns)
    jobs = [col for col in features for _ in range(n_repeats)]
    # Batched calls (the cache splits each across the executor's workers; on a cluster, the workers
    # predict contiguous shards) of as many copies as MAX_CHUNK_CELLS holds; the shuffles are drawn in
    # the same order whatever the chunk size, so the numbers do not depend on it.
    per_chunk = max(1, MAX_CHUNK_CELLS // max(1, len(base) * len(features)))
    scores: list[float] = []
    label = f"permutation importance ({len(features)} features x {n_repeats} repeats of {len(base):,} rows)"
    for start in range(0, len(jobs), per_chunk):
        if ctx.on_step:
            ctx.on_step(label, start, len(jobs))
        copies = []
        for col in jobs[start:start + per_chunk]:
            shuffled = base.copy()
            shuffled[col] = base[col].to_numpy()[rng.permutation(len(base))]
            copies.append(shuffled)
        blocks = np.split(ctx.predict_proba_many(pd.concat(copies, ignore_index=True)), len(copies))
        del copies
        scores += ctx.executor.map(lambda block: score(scoring, y, block, ctx.predicted_index(block), pos), blocks)
    if ctx.on_step:
        ctx.on_step(label, len(jobs), len(jobs))
    drops = baseline - np.array(scores).reshape(len(features), n_repeats)
    binary_auc = scoring == "roc_auc" and proba.shape[1] == 2
    positives = int(np.sum(y == pos)) if binary_auc else 0
    counts = tuple(int(c) for c in np.bincount(y, minlength=proba.shape[1])) if scoring == "roc_auc" else None
    return PermutationImportance(features=features, baseline_score=baseline, drops=drops, scoring=scoring,
                                 classes_rows=(positives, len(y) - positives) if binary_auc else None,
                                 class_counts=None if binary_auc else counts)
