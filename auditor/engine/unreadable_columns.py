"""A table the model cannot read because of one column's values: an invalid dataset, not an audit.

Validation reads the data without the model, so a column of text ("33y" in every row) passes as a
categorical column; only the model shows that it reads the column as numbers. After the checks
and before anything is written, a probe of the estimator finds such a column, and the run stops
with exit 3 naming it (`auditor/engine/audit.py` calls :func:`refuse_unreadable_columns`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.errors import DatasetError, Problem
from auditor.inputs.table_file import rows_named
from auditor.models.base import Capability
from auditor.models.tabular import ROW_ERRORS, first_unpredictable
from auditor.results import CheckResult, Status


def refuse_unreadable_columns(ctx, checks: list[CheckResult]) -> None:
    """After the checks, before anything is written: where checks ended in a ValueError or
    TypeError because the model cannot read a column's values — text in a column it reads as
    numbers, dates: with that column alone set to a number or missing, the estimator scores the
    first rows — the dataset is invalid (exit 3, no run written) and the column named; it was an
    audit whose every model check was an ERROR with the model's own message. A model that fails
    for any other reason is left as the checks recorded it (the audit of a broken model goes on)."""
    failed = [c for c in checks if c.status == Status.ERROR and c.error and c.error.type in ("ValueError", "TypeError")]
    if not failed or not ctx.model.has(Capability.FEATURE_TABLE):
        return
    frame = ctx.data.frame[ctx.data.feature_names]
    candidates = [c for c in frame.columns if frame[c].dtype.kind in "MmO" and frame[c].notna().any()]
    culprits, raised = _columns_it_cannot_read(ctx.model, frame, candidates)
    if culprits:
        # the culprit first, and the estimator's own error: the check's message lists the failing row's first
        # values only, which had cut off exactly the culprit ("Amount=2500.0 and 1 more features")
        named = ", ".join(map(repr, culprits))
        problems = [Problem("", f"the model cannot score the evaluation rows because of column{'s' * (len(culprits) > 1)} "
                                f"{named} ({failed[0].id}: {raised})")]
        for col in culprits:
            values = frame[col].dropna()
            unread = values[pd.to_numeric(values.map(str), errors="coerce").isna().to_numpy()]  # '3,106', not '950'
            example = (unread if len(unread) else values).iloc[0]
            kind = frame[col].dtype.kind
            what = ("durations" if kind == "m" or hasattr(example, "total_seconds") else
                    "dates" if kind == "M" or hasattr(example, "isoformat") else "text")
            problems.append(Problem(f"column {col!r}", f"holds {what} (e.g. {str(example)!r}) the model "
                                                       "cannot read; fix the values, or declare the column's type in "
                                                       "auditor.features"))
        raise DatasetError(str(ctx.data.path), problems)
    row, reason = _row_it_cannot_score(ctx.model, frame)
    if row is not None:
        data = ctx.data
        named = int(row if data.source_rows is None else data.source_rows[row])
        raise DatasetError(str(data.path), [Problem(rows_named([named]), (
            f"the model cannot score it ({reason}); the other rows score, so every check that calls the model "
            "ended in an error: fix the row, or use a model that takes such values"))])


def _row_it_cannot_score(model, frame) -> tuple[int | None, str]:
    """The first row the estimator cannot score on its own while the others score (a category its
    encoder never saw, with ``handle_unknown='error'``), and what it raised; (None, "") when there is
    none (a model failing on every row, or on rows only together)."""
    estimator = getattr(model, "estimator", None)
    score = getattr(estimator, "predict_proba", None) or getattr(estimator, "predict", None)
    if score is None:
        return None, ""
    row = first_unpredictable(score, frame, list(range(len(frame))))
    if row is None:
        return None, ""
    try:
        score(frame.iloc[[row]])
    except ROW_ERRORS as exc:
        return row, f"{type(exc).__name__}: {exc}"
    return None, ""  # pragma: no cover - first_unpredictable saw it fail


def _columns_it_cannot_read(model, frame, candidates: list[str], rows: int = 20) -> tuple[list[str], str]:
    """The ``candidates`` whose values alone stop the model's estimator on the first ``rows`` rows:
    set to a number (0) or missing, the rows score; and what the estimator raised on those rows. A
    probe of the estimator itself (not the cached adapter, whose statistics count the audit's model
    inputs)."""
    estimator = getattr(model, "estimator", None)
    score = getattr(estimator, "predict_proba", None) or getattr(estimator, "predict", None)
    if score is None:
        return [], ""
    sample, found = frame.head(rows), []
    try:
        score(sample)
        return [], ""  # the estimator reads these rows: what failed is its output (the adapter's checks), not the data
    except Exception as exc:  # noqa: BLE001
        raised = f"{type(estimator).__name__}.{score.__name__} raises {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    for col in candidates:
        for stand_in in (0.0, np.nan):
            probe = sample.copy()
            probe[col] = stand_in
            try:
                score(probe)
            except Exception:  # noqa: BLE001 - any failure: not this stand-in, or not this column alone
                continue
            found.append(col)
            break
    return found, raised
