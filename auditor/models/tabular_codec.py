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


class TabularCodec:
    def __init__(self, frame: pd.DataFrame, categorical: list[str]):
        self.columns = list(frame.columns)
        self.categorical = [c for c in self.columns if c in set(categorical)]
        self.categories = {
            c: np.array(sorted(frame[c].dropna().astype(str).unique()), dtype=object) for c in self.categorical
        }
        self.categorical_index = [self.columns.index(c) for c in self.categorical]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = frame[self.columns].copy()
        for c in self.categorical:
            codes = _pandas().Categorical(out[c].astype(object).where(out[c].notna(), None), categories=self.categories[c]).codes
            out[c] = np.where(codes < 0, np.nan, codes).astype(float)
        return out.to_numpy(dtype=float)

    def decode(self, X: np.ndarray) -> pd.DataFrame:
        out = _pandas().DataFrame(np.asarray(X, dtype=float), columns=self.columns)
        for c in self.categorical:
            codes = out[c].to_numpy()
            values = np.full(len(codes), None, dtype=object)
            ok = ~np.isnan(codes)
            values[ok] = self.categories[c][np.clip(codes[ok].astype(int), 0, len(self.categories[c]) - 1)]
            out[c] = values
        return out
