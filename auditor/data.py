"""Evaluation datasets: loaded, validated against the card before the model loads, fingerprinted.

Rows are identified by their 0-based position in the file (``row``), the id every per-instance
output uses. Labels are kept as strings so they compare with the model's class names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.errors import DatasetError, Problem
from auditor.model_card import ModelCard

MAX_DATASET_BYTES = 2_000_000_000
MAX_LISTED = 5  # rows named per problem before "... and N more"


@dataclass
class EvalDataset:
    path: Path
    sha256: str
    frame: pd.DataFrame  # the feature columns (tabular) or the text column (text), in card order
    labels: np.ndarray  # target as strings
    feature_names: list[str]
    categorical: list[str]
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def rows(self) -> np.ndarray:
        return np.arange(len(self.frame))

    def texts(self) -> list[str]:
        return self.frame[self.feature_names[0]].tolist()

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.feature_names if c not in self.categorical]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _rows_text(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    listed = ", ".join(str(r) for r in rows[:MAX_LISTED])
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    return f"row{'s' * (len(rows) != 1)} {listed}{more}"


def read_table(path: Path) -> pd.DataFrame:
    source = str(path)
    if not path.is_file():
        raise DatasetError(source, [Problem("", "file not found")])
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(source, [Problem("", "the file is empty")])
    if size > MAX_DATASET_BYTES:
        raise DatasetError(source, [Problem("", f"file is {size:,} bytes; the limit is {MAX_DATASET_BYTES:,}")])
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, encoding="utf-8", keep_default_na=True)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path)
    except UnicodeDecodeError as exc:
        raise DatasetError(source, [Problem(f"byte {exc.start}", "file is not valid UTF-8")]) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise DatasetError(source, [Problem("", f"cannot parse the file: {exc}")]) from None
    raise DatasetError(source, [Problem("", f"unsupported file type {suffix!r}; use .csv, .parquet or .jsonl")])


def _read_jsonl(path: Path) -> pd.DataFrame:
    records, problems = [], []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(f"line {lineno}", f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(f"line {lineno}", "expected a JSON object"))
                continue
            records.append(obj)
    if problems:
        raise DatasetError(str(path), problems)
    return pd.DataFrame.from_records(records)


def load_dataset(path: str | Path, card: ModelCard) -> EvalDataset:
    """Load the evaluation data and validate it against the card; list every problem found."""
    path = Path(path)
    source = str(path)
    df = read_table(path)
    block = card.auditor
    problems: list[Problem] = []
    if len(df) == 0:
        raise DatasetError(source, [Problem("", "the dataset has no rows")])

    if block.task == "text-classification":
        features = [block.text_column]
    else:
        features = card.feature_names or [c for c in df.columns if c != block.target and c not in block.ignore_columns]
    expected = set(features) | {block.target}
    for col in [block.target, *features]:
        if col not in df.columns:
            problems.append(Problem(f"column {col!r}", "missing (the card names it)"))
    if card.feature_names is not None or block.task == "text-classification":
        extra = [c for c in df.columns if c not in expected and c not in block.ignore_columns]
        if extra:
            problems.append(Problem(
                f"column{'s' * (len(extra) > 1)} {', '.join(map(repr, extra))}",
                "not in the card's features; list them in auditor.ignore_columns to keep them",
            ))
    if problems:
        raise DatasetError(source, problems)

    target = df[block.target]
    if target.isna().any():
        problems.append(Problem(f"column {block.target!r}", f"target missing in {_rows_text(target.isna().to_numpy())}"))
    labels = target.astype(str).to_numpy()
    if target.notna().all() and len(np.unique(labels)) < 2:
        problems.append(Problem(f"column {block.target!r}", f"only one class ({labels[0]!r}); an audit needs at least two"))

    declared = {f.name: f.type for f in block.features or []}
    categorical: list[str] = []
    frame = df[features].copy()
    for col in features:
        series = frame[col]
        kind = declared.get(col)
        if block.task == "text-classification":
            bad = ~series.map(lambda v: isinstance(v, str)).to_numpy()
            if bad.any():
                problems.append(Problem(f"column {col!r}", f"expected text, got missing or non-text values in {_rows_text(bad)}"))
            continue
        if kind == "numeric" or (kind is None and pd.api.types.is_numeric_dtype(series)):
            numeric = pd.to_numeric(series, errors="coerce")
            not_numbers = numeric.isna() & series.notna()
            if not_numbers.any():
                problems.append(Problem(f"column {col!r}", f"expected numbers, got text in {_rows_text(not_numbers.to_numpy())}"))
            infinite = np.isinf(numeric.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                problems.append(Problem(f"column {col!r}", f"infinite values in {_rows_text(infinite)}"))
            frame[col] = numeric.astype(float)
        else:
            categorical.append(col)
            frame[col] = series.astype(object).where(series.notna(), None)
        missing = series.isna().to_numpy()
        if missing.any() and block.missing_values == "reject":
            problems.append(Problem(
                f"column {col!r}",
                f"missing values in {_rows_text(missing)} (set auditor.missing_values: allow if the model handles them)",
            ))
    if problems:
        raise DatasetError(source, problems)

    notes = []
    n_missing = int(frame.isna().sum().sum())
    if n_missing:
        notes.append(f"{n_missing} missing feature values, passed to the model as missing (the card allows it)")
    return EvalDataset(
        path=path.resolve(), sha256=file_sha256(path), frame=frame.reset_index(drop=True),
        labels=labels, feature_names=list(features), categorical=categorical, notes=notes,
    )
