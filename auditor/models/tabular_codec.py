"""Numeric encoding of tabular rows for explainers that need a float matrix (shap maskers, LIME).

Categorical columns become integer codes (missing: NaN); ``decode`` rebuilds the DataFrame the
model expects, so the model always sees the original values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def _pandas():
    import pandas  # imported on use: stability checks import this module, and loading a policy imports them

    return pandas


def levels(values) -> tuple[np.ndarray, np.ndarray]:
    """``(texts, values)``: a categorical column's distinct non-missing values, one per text (``1``
    and ``"1"`` are one level), sorted by their text; ``values`` holds each level's value itself,
    the first met, for the model (an integer-coded column's levels stay integers)."""
    isna = _pandas().isna
    by_text: dict[str, object] = {}
    for v in _pandas().Series(values).unique():  # each distinct value once (0.1 s a column at 1.1M rows)
        if not isna(v):
            by_text.setdefault(str(v), v)
    texts = sorted(by_text)
    return np.array(texts, dtype=object), np.array([by_text[t] for t in texts], dtype=object)


class TabularCodec:
    """``categories[c]``: column ``c``'s distinct values as text, sorted (a value's code is its
    position); ``decode`` gives back the value itself (an integer-coded categorical column stays
    integers for the model)."""

    def __init__(self, frame: pd.DataFrame, categorical: list[str]):
        self.columns = list(frame.columns)
        self.categorical = [c for c in self.columns if c in set(categorical)]
        self.categories, self._values, self._position = {}, {}, {}
        for c in self.categorical:
            self.categories[c], values = levels(frame[c])
            self._values[c] = np.append(values, None)  # the last: a missing code's
            self._position[c] = {t: i for i, t in enumerate(self.categories[c])}
        self.categorical_index = [self.columns.index(c) for c in self.categorical]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows as floats: a categorical value's code, NaN where missing or not among the categories."""
        out = frame[self.columns].copy()
        for c in self.categorical:
            codes, distinct = _pandas().factorize(out[c])  # -1: missing
            code_of = np.array([self._position[c].get(str(v), np.nan) for v in distinct] + [np.nan], dtype=float)
            out[c] = code_of[codes]
        return out.to_numpy(dtype=float)

    def missing_code(self, column: str) -> int:
        """The code one past a categorical column's levels: "missing" as a level of its own, for an
        explainer that cannot sample NaN (LIME); :meth:`decode` gives it back as missing."""
        return len(self.categories[column])

    def decode(self, X: np.ndarray) -> pd.DataFrame:
        out = _pandas().DataFrame(np.asarray(X, dtype=float), columns=self.columns)
        for c in self.categorical:
            codes = out[c].to_numpy()
            last = len(self.categories[c]) - 1
            missing = np.isnan(codes) | (codes == self.missing_code(c))
            index = np.where(missing, last + 1, np.clip(np.nan_to_num(codes, nan=0).astype(int), 0, last))
            out[c] = self._values[c][index]
        return out
