"""Which raw columns a fitted scikit-learn model reads as categories.

A column of integer codes (1 = owner, 2 = tenant, ...) reads as numbers, and a card that does not
declare its type has it audited as a number: noise added to it, partial dependence swept along it,
counterfactuals moving it by fractions. The model itself may say otherwise: a ``ColumnTransformer``
that sends the column to a ``OneHotEncoder``, or a ``HistGradientBoosting`` model told that the
column is categorical. This module reads that from the fitted model; the audit then treats such a
column as categorical unless the card declares its type (:func:`auditor.inputs.dataset.read_as_categories`).

Only what the model's own structure states is read: the first step of a ``Pipeline`` (nested
pipelines followed), the branches of a fitted ``ColumnTransformer`` (a branch whose pipeline holds an
encoder anywhere encodes its columns) and a ``HistGradientBoosting*`` estimator fitted on the raw
columns. Anything else (a custom transformer, a model behind another wrapper) says nothing.
"""

from __future__ import annotations

import numpy as np

from auditor.errors import shown_value

ENCODERS = ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder")


def _is_encoder(step) -> bool:
    return type(step).__name__ in ENCODERS


def _steps(step) -> list:
    """``step`` and, for a pipeline, every step inside it (depth first)."""
    inner = getattr(step, "steps", None)
    if not isinstance(inner, list):
        return [step]
    return [s for _, sub in inner for s in _steps(sub)]


def _column_names(columns, names_in: list[str]) -> list[str]:
    """A fitted ColumnTransformer's resolved column selection as names: one name, names, indices,
    a slice or a boolean mask over the columns it was fitted on."""
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, slice):
        return names_in[columns]
    values = list(columns) if not isinstance(columns, (int, np.integer)) else [columns]
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return [n for n, keep in zip(names_in, values) if keep]
    return [names_in[int(v)] if isinstance(v, (int, np.integer)) and 0 <= int(v) < len(names_in) else str(v)
            for v in values]


def _first_reader(estimator, names: list[str]) -> tuple:
    """The step that reads the raw columns (a Pipeline's first, nested pipelines followed) and the
    column names it reads."""
    names = [str(n) for n in getattr(estimator, "feature_names_in_", names)]
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return _first_reader(steps[0][1], names)
    return estimator, names


def columns_read_as_categories(estimator, feature_names: list[str]) -> dict[str, str]:
    """Per raw column the fitted ``estimator`` reads as categories, how it does (for the report's note),
    e.g. ``{"Home": "OneHotEncoder in ColumnTransformer branch 'cat'"}``; empty when the model's
    structure says nothing. ``feature_names``: the columns the model is given, in order."""
    estimator, names = _first_reader(estimator, feature_names)
    if hasattr(estimator, "transformers_"):  # a fitted ColumnTransformer
        found: dict[str, str] = {}
        for branch, transformer, columns in estimator.transformers_:
            encoder = next((type(s).__name__ for s in _steps(transformer) if _is_encoder(s)), None)
            if encoder is not None:  # an encoder anywhere in the branch's pipeline encodes its columns
                for col in _column_names(columns, names):
                    found.setdefault(col, f"{encoder} in ColumnTransformer branch {branch!r}")
        return found
    if _is_encoder(estimator):
        return {n: type(estimator).__name__ for n in names}
    mask = getattr(estimator, "is_categorical_", None)  # HistGradientBoosting*: None when no feature is
    if mask is not None and len(mask) == len(names):
        return {n: f"{type(estimator).__name__}'s categorical_features" for n, cat in zip(names, mask) if cat}
    return {}


PASS_THROUGH = ("SimpleImputer",)  # steps before an encoder that leave a present value as it is


def _category_lists(estimator, names: list[str]) -> dict[str, tuple[np.ndarray, str]]:
    """Per raw column, the categories a fitted encoder of the model knows and how it treats others,
    where the model's structure says so plainly: a ``ColumnTransformer`` branch that is a
    ``OneHotEncoder``/``OrdinalEncoder``, alone or after imputers (which keep a present value)."""
    estimator, names = _first_reader(estimator, names)
    out: dict[str, tuple[np.ndarray, str]] = {}
    for _, transformer, columns in getattr(estimator, "transformers_", []):
        chain = _steps(transformer)
        at = next((i for i, s in enumerate(chain) if _is_encoder(s)), None)
        if at is None or not all(type(s).__name__ in PASS_THROUGH for s in chain[:at]):
            continue
        encoder = chain[at]
        categories = getattr(encoder, "categories_", None)
        cols = _column_names(columns, names)
        if categories is None or len(categories) != len(cols):
            continue
        rule = getattr(encoder, "handle_unknown", None)
        how = type(encoder).__name__ + ("" if rule is None else f", handle_unknown={rule!r}")
        out.update({c: (np.asarray(k, dtype=object), how) for c, k in zip(cols, categories)})
    return out


def _as_text(value) -> str:
    """A number as a code's text: 3 and 3.0 read '3', 2.5 reads '2.5'."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _written(data, col: str):
    """Column ``col`` of ``data``'s CSV as the file writes each cell, row for row with ``data.frame``
    (None for another format, whose numbers are typed)."""
    import pandas as pd

    if data.path.suffix.lower() != ".csv":
        return None
    written = pd.read_csv(data.path, encoding="utf-8-sig", keep_default_na=False, na_values=[""], index_col=False,
                          usecols=[col], dtype=str)[col]
    rows = np.arange(len(written)) if data.source_rows is None else np.asarray(data.source_rows)
    return written.to_numpy(dtype=object)[rows] if len(rows) == len(data.frame) else None


def codes_as_text(estimator, data) -> list[str]:
    """The categorical columns of ``data`` (an EvalDataset) holding numbers where the model's encoder
    knows only text ('1' … '4', '01' …: fitted on a table read as text, or from a database) go to it as
    that text, changed in place: as a CSV writes each cell (01 stays '01'), else as the number's text;
    a note per column says so. Passed as numbers, every row had scored as an unknown category (a region
    code on HMDA: all 400 rows). Columns whose text the encoder does not know either are left as they
    are (unseen_categories names them)."""
    import pandas as pd

    frame, notes = data.frame, []
    for col, (known, _) in _category_lists(estimator, [str(c) for c in frame.columns]).items():
        if col not in frame.columns or col not in data.categorical:
            continue
        texts = {k for k in known.tolist() if isinstance(k, str)}
        if not texts or any(not isinstance(k, str) and not pd.isna(k) for k in known.tolist()):
            continue
        values = frame[col].tolist()
        present = [v for v in values if v is not None and not pd.isna(v)]
        if not present or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                                  for v in present):
            continue
        written = _written(data, col)
        as_text = [None if v is None or pd.isna(v) else
                   (written[i] if written is not None and isinstance(written[i], str) else _as_text(v))
                   for i, v in enumerate(values)]
        if not any(t in texts for t in as_text if t is not None):
            continue
        frame[col] = pd.Series(as_text, index=frame.index, dtype=object)
        shown = ", ".join(repr(k) for k in sorted(texts)[:3]) + (" …" if len(texts) > 3 else "")
        notes.append(f"column {col!r} holds numbers where the model's encoder knows text ({shown}): passed to it as "
                     + ("the text the file writes (01 as '01')" if written is not None else "the text of each number (3 as '3')")
                     + ", as it was fitted")
    return notes


def unseen_categories(estimator, frame) -> list[str]:
    """Notes for the columns whose present values include some the model's encoder never saw when
    fitted: it scores those rows as unknown (all of a one-hot's indicators 0, or its unknown code),
    which read silently as ordinary rows (True/False where it learnt yes/no: every row unknown,
    accuracy 0.819 → 0.705). Columns the structure does not state plainly say nothing."""
    notes = []
    for col, (known, how) in _category_lists(estimator, [str(c) for c in frame.columns]).items():
        if col not in frame.columns:
            continue
        values = frame[col]
        present = values[values.notna()]
        unseen = present[~present.isin(set(known.tolist()))]
        if len(unseen):
            distinct = list(dict.fromkeys(unseen.tolist()))
            examples = ", ".join(shown_value(v) for v in distinct[:3])
            count = "all" if len(unseen) == len(values) else f"{len(unseen):,} of"
            notes.append(f"column {col!r}: {count} {len(values):,} rows hold a value the model's encoder never "
                         f"saw when fitted ({examples}); it scores them as unknown ({how})" + _near_misses(distinct, known))
    return notes


def _near_misses(unseen: list, known) -> str:
    """" ('FIXED' for 'fixed'? …)" where unseen values differ from known ones only in case or
    surrounding spaces (an export that upper-cased a column), else ""."""
    folded = {str(k).strip().casefold(): k for k in known.tolist()}
    pairs = [(v, folded[str(v).strip().casefold()]) for v in unseen if str(v).strip().casefold() in folded]
    if not pairs:
        return ""
    shown = ", ".join(f"{shown_value(v)} for {shown_value(k)}" for v, k in pairs[:3])
    return f"; {shown}{' …' * (len(pairs) > 3)}? (categories are case- and space-sensitive)"
