"""Evaluation datasets: loaded, validated against the card before the model loads, fingerprinted.

Rows are identified by their 0-based position in the file (``row``), the id every per-instance
output uses. Labels are kept as strings so they compare with the model's class names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.errors import DatasetError, ModelCardError, Problem, shown_text, shown_value
from auditor.inputs.model_card import ModelCard
from auditor.hashing import content_order, file_or_dir_sha256
from auditor.inputs.table_file import delimiter_hint, header_data_hint, read_table, rows_named, rows_text

# unknown columns named in a message before "and N more" (a feature-store export of 3,000 columns was a
# 32 KB message naming every one)
MAX_COLUMNS_LISTED = 20
MAX_TEXT_CHARS = 1_000_000  # per text field: a model reads at most a few thousand characters of it
DUPLICATE_SHARE = 0.05  # rows repeating an earlier one, from this share of the set up: a note says so


@dataclass
class EvalDataset:
    path: Path
    sha256: str
    frame: pd.DataFrame  # the feature columns (tabular) or the text column (text), in card order
    labels: np.ndarray  # target as strings (a regression target: each number's repr)
    feature_names: list[str]
    categorical: list[str]
    notes: list[str] = field(default_factory=list)
    source_rows: np.ndarray | None = None  # when sampled: the file row (0-based) of each row, in order
    sensitive: pd.DataFrame | None = None  # the card's sensitive_features (and the policy's fairness groups), as read
    # when sampled (max_rows): every row's label and its file row, so a label outside the sample is still checked
    every_label: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def texts(self) -> list[str]:
        return self.frame[self.feature_names[0]].tolist()

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.feature_names if c not in self.categorical]


MAX_TARGET = 1e150  # a regression target's or a feature's magnitude whose square (1e300) double precision still holds


def _near_column(col: str, columns) -> str:
    """"; the file has …" for a file column that differs from ``col`` only in case, surrounding spaces or
    Unicode form, else "". Two names in different Unicode forms (an accent composed in one, decomposed
    in the other, as macOS writes them) look identical: the message had named 'Échéance' missing and
    'Échéance' unknown, so their code points are shown."""
    def key(name) -> str:
        return unicodedata.normalize("NFKC", str(name)).strip().casefold()

    near = [str(c) for c in columns if key(c) == key(col)]
    if not near:
        return ""
    if unicodedata.normalize("NFC", near[0]) == unicodedata.normalize("NFC", str(col)):
        return (f"; the file has {shown_text(ascii(near[0]))}, the same name in other Unicode code points than the "
                f"card's {shown_text(ascii(str(col)))}: write both in one form (NFC)")
    return f"; the file has {shown_value(near[0])}: column names are case- and space-sensitive"


def _numeric_target(target: pd.Series, name: str, problems: list[Problem]) -> tuple[pd.Series, np.ndarray]:
    """A regression target: numbers, finite, in every row (each bad row named). Labels keep the
    values as text (the round-trip repr of each float), as for classes; the context reads them back."""
    kind = ("dates" if pd.api.types.is_datetime64_any_dtype(target) else
            "durations" if pd.api.types.is_timedelta64_dtype(target) else
            "true/false values" if pd.api.types.is_bool_dtype(target) or (
                target.dtype == object and target.map(lambda v: isinstance(v, (bool, np.bool_))).any()) else None)
    if kind:  # numbers to pandas (nanoseconds since 1970, 0 and 1): audited as such, the errors read 3e15
        problems.append(Problem(f"column {shown_value(name)}", f"a regression target must be numeric; it holds {kind}"))
        target = pd.Series(np.nan, index=target.index)
    values = pd.to_numeric(target, errors="coerce")
    bad = (values.isna() & target.notna()).to_numpy()
    if bad.any():  # the first text shown: '220,000' or '$220000' says why a price column is not numbers
        first = str(target[bad].iloc[0])
        plain = pd.to_numeric(pd.Series([re.sub(r"[\s,$€£¥]", "", first)]), errors="coerce").iloc[0]
        fix = "; write plain numbers, without thousands separators or currency signs" if pd.notna(plain) else ""
        hint = (f": {shown_value(first)}{fix}" if bad.sum() == 1 else
                f" (the first, row {int(np.flatnonzero(bad)[0])}: {shown_value(first)}{fix})")
        problems.append(Problem(f"column {shown_value(name)}",
                                f"a regression target must be numeric; text in {rows_text(bad)}{hint}"))
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(numbers)
    if infinite.any():
        problems.append(Problem(f"column {shown_value(name)}", f"infinite target values in {rows_text(infinite)}"))
    with np.errstate(invalid="ignore"):
        huge = ~infinite & (np.abs(numbers) > MAX_TARGET)
    if huge.any():  # squared errors, variances and correlations of such values overflow to inf
        problems.append(Problem(f"column {shown_value(name)}", f"target values beyond ±{MAX_TARGET:.0e} in {rows_text(huge)}: their "
                                "squares overflow double precision, so no error, variance or correlation of them can "
                                "be computed; rescale the target (e.g. to thousands) in the data and the model"))
    return values, np.array([repr(float(v)) for v in values.to_numpy(dtype=float, na_value=np.nan)], dtype=object)


def _text_among_other_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Which cells hold text and which other values (numbers, booleans), where a column (JSONL's,
    which has no column types) holds both; None when it holds one kind."""
    if series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) not in ("mixed", "mixed-integer"):
        return None
    text = series.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    other = ~text & series.notna().to_numpy()
    return (text, other) if text.any() and other.any() else None


def _booleans_among_numbers(series: pd.Series) -> np.ndarray | None:
    """Cells holding true/false in a column whose other values are numbers (JSONL's, which has no
    column types), else None: read as 1 and 0 they would pass as numbers nobody wrote."""
    if series.dtype != object or series.map(lambda v: isinstance(v, str)).any():
        return None  # text among them: a categorical column mixing kinds, reported as such
    boolean = series.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    number = series.map(lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)))
    number = number.to_numpy(dtype=bool) & series.notna().to_numpy()
    return boolean if boolean.any() and number.any() else None


def _only_numbers(series: pd.Series) -> bool:
    """A column pandas left untyped (object) whose values are all numbers: a 31-digit integer in a
    JSONL or CSV column, a Parquet decimal column."""
    if series.dtype != object:
        return False
    present = series[series.notna().to_numpy()]
    return len(present) > 0 and bool(present.map(
        lambda v: isinstance(v, (int, float, Decimal, np.number)) and not isinstance(v, (bool, np.bool_))).all())


def _as_float(value) -> float:
    """A number as a float; beyond float's range (an integer of 400 digits) infinite, which is reported."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    try:
        return float(value)
    except OverflowError:
        return np.inf if value > 0 else -np.inf


def _blank(text: str) -> bool:
    """A text with nothing to read or explain: only spaces, control and format characters (zero-width
    spaces, byte-order marks, bidi marks), which a tokenizer turns into no token at all."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def _nested(series: pd.Series) -> np.ndarray:
    """Cells holding a list, mapping or array (JSONL objects, Parquet list/struct columns)."""
    if series.dtype != object:
        return np.zeros(len(series), dtype=bool)
    return series.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray))).to_numpy(dtype=bool)


def _mostly_numbers(series: pd.Series) -> np.ndarray | None:
    """For a text column whose values are mostly numbers: the cells that are not (else None). Each
    distinct value is parsed once (a category column of a million rows has a handful)."""
    codes, values = pd.factorize(series)  # missing cells: code -1
    parsed = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").notna().to_numpy()
    present = codes >= 0
    number = present & parsed[np.where(present, codes, 0)] if len(values) else np.zeros(len(codes), dtype=bool)
    texts = present & ~number
    return texts if texts.any() and int(number.sum()) > texts.sum() else None


def _group_column_problems(series: pd.Series, col: str) -> list[Problem]:
    """A sensitive column the model does not read, checked as a feature's values are: its groups are
    its values or bands of its numbers, so an infinite number fell outside every band (a group of
    "missing"), one beyond ±1e150 made a band "71–inf", and one text cell among numbers made every
    number a group of its own (none large enough to judge), each without a word."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        mostly = _mostly_numbers(series)
        return [] if mostly is None else [Problem(
            f"column {shown_value(col)}", f"numbers, but text in {rows_text(mostly)}; fix those cells (a sensitive column's "
                               "groups are its values, or bands of its numbers)")]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    with np.errstate(invalid="ignore"):
        huge = ~infinite & (np.abs(values) > MAX_TARGET)
    return ([Problem(f"column {shown_value(col)}", f"infinite values in {rows_text(infinite)}")] if infinite.any() else []) + (
        [Problem(f"column {shown_value(col)}", f"values beyond ±{MAX_TARGET:.0e} in {rows_text(huge)}: no band of them can be "
                                    "computed; rescale the column")] if huge.any() else [])


def _numbers_written_as_text(series: pd.Series) -> bool:
    """Whether every value of a text column reads as a number ("107.0" in a JSON file): pandas
    parses such cells as numbers in a CSV, while JSON and Parquet keep them as text."""
    present = series.dropna()
    if present.empty or not present.map(lambda v: isinstance(v, str)).all():
        return False
    values = pd.Series(pd.unique(present), dtype=object)
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def load_dataset(path: str | Path, card: ModelCard, *, max_rows: int | None = None, seed: int = 0,
                 fairness_groups: list[str] | None = None) -> EvalDataset:
    """Load the evaluation data and validate it against the card; list every problem found.

    Every row is validated. Then, if the file has more than ``max_rows`` rows (the policy's
    ``dataset.max_rows``), ``max_rows`` of them are drawn uniformly without replacement with
    ``seed``, kept in file order, and the sampling is recorded in ``notes`` and ``source_rows``.
    """
    path = Path(path)
    source = str(path)
    block = card.auditor
    df = read_table(path, (block.text_column,) if block.task == "text-classification" and block.text_column else (),
                    tuple(f.name for f in block.features or [] if f.type == "categorical"))
    problems: list[Problem] = []
    typing_notes: list[str] = []  # how a column's values were read, where that is not what its file says
    if len(df) == 0:
        raise DatasetError(source, [Problem("", "the dataset has no rows")])

    if block.task == "text-classification":
        features = [block.text_column]
    else:
        features = card.feature_names or [c for c in df.columns if c != block.target and c not in block.ignore_columns]
    sensitive = list(dict.fromkeys([*block.sensitive_features, *(fairness_groups or [])]))
    expected = set(features) | {block.target} | set(sensitive)
    for col in [block.target, *features]:
        if col not in df.columns:
            problems.append(Problem(f"column {shown_value(col)}", f"missing (the card names it{_near_column(col, df.columns)})"))
    if problems and path.suffix.lower() == ".csv":
        problems.extend(delimiter_hint(df) + header_data_hint([str(c) for c in df.columns], other_problems=False))
    for col in sensitive:
        if col not in df.columns and col not in features:
            whose = "the card's sensitive_features" if col in block.sensitive_features else "the policy's fairness_groups"
            problems.append(Problem(f"column {shown_value(col)}", f"missing ({whose} names it as a sensitive feature"
                                                       f"{_near_column(col, df.columns)})"))
    for col in block.ignore_columns:  # a misspelt name would leave the column it meant among the features
        if col not in df.columns:
            problems.append(Problem(f"column {shown_value(col)}", "missing (the card's auditor.ignore_columns names it"
                                                       f"{_near_column(col, df.columns)})"))
    if card.feature_names is not None or block.task == "text-classification":
        extra = [c for c in df.columns if c not in expected and c not in block.ignore_columns]
        if extra:
            more = f" and {len(extra) - MAX_COLUMNS_LISTED:,} more" if len(extra) > MAX_COLUMNS_LISTED else ""
            problems.append(Problem(
                f"column{'s' * (len(extra) > 1)} {', '.join(map(shown_value, extra[:MAX_COLUMNS_LISTED]))}{more}",
                "not in the card's features; list them in auditor.ignore_columns to keep them",
            ))
    unknown = [c for c in block.immutable_features if c not in features]
    card_problem = ModelCardError(str(card.path), [Problem(
        "auditor.immutable_features", f"{', '.join(map(shown_value, unknown))} not among the dataset's feature columns "
                                      f"({source}: {', '.join(map(shown_text, features))})")]) if unknown else None

    def invalid(problems: list[Problem]) -> DatasetError:
        """The data's problems, and the card's with them: it had waited for the data's to be mended."""
        error = DatasetError(source, problems)
        if card_problem is not None:
            error.add_note(str(card_problem))
        return error

    if problems:
        raise invalid(problems)

    group_only = [c for c in sensitive if c not in features and c != block.target]  # grouped, never read by the model
    for col in [block.target, *features, *group_only]:
        nested = _nested(df[col])
        if nested.any():
            problems.append(Problem(f"column {shown_value(col)}", f"nested values (lists or objects) in {rows_text(nested)}; "
                                                       "each cell must hold one value"))
    if problems:
        raise invalid(problems)

    # a spreadsheet exports the empty rows under a formatted table as ",,,,": said as such, not as a missing
    # target and a missing value in every column
    empty = df.isna().all(axis=1).to_numpy()
    if empty.any():
        raise invalid(problems + [Problem(rows_text(empty), "every field is empty (as a spreadsheet exports the empty "
                                                            "rows under a table); delete these rows")])
    target = df[block.target]
    if target.isna().any():
        problems.append(Problem(f"column {shown_value(block.target)}", f"target missing in {rows_text(target.isna().to_numpy())}"))
    if block.task == "tabular-regression":
        target, labels = _numeric_target(target, block.target, problems)
    else:
        labels = target.astype(str).to_numpy()
    if target.notna().all() and len(np.unique(labels)) < 2:
        what = "value" if block.task == "tabular-regression" else "class"
        problems.append(Problem(f"column {shown_value(block.target)}",
                                f"only one {what} ({shown_value(labels[0])}); an audit needs at least two"))

    declared = {f.name: f.type for f in block.features or []}
    categorical: list[str] = []
    frame = df[features].copy()
    for col in features:
        series = frame[col]
        kind = declared.get(col)
        if block.task == "text-classification":
            # an empty CSV cell is an empty text (pandas reads it as missing), excluded as a blank one is; a JSON
            # null or a Parquet null is no text
            empty = series.isna().to_numpy() if path.suffix.lower() == ".csv" else np.zeros(len(series), dtype=bool)
            bad = ~series.map(lambda v: isinstance(v, str)).to_numpy() & ~empty
            if bad.any():
                problems.append(Problem(f"column {shown_value(col)}", f"expected text, got missing or non-text values in {rows_text(bad)}"))
                continue
            series = frame[col] = series.where(~empty, "")
            long = series.map(len).to_numpy() > MAX_TEXT_CHARS
            if long.any():
                problems.append(Problem(f"column {shown_value(col)}", f"texts longer than {MAX_TEXT_CHARS:,} characters (the limit per "
                                                           f"field) in {rows_text(long)}"))
            continue
        if series.isna().all():
            problems.append(Problem(f"column {shown_value(col)}", "every value is missing; a feature with no values cannot be audited"))
            continue
        booleans = _booleans_among_numbers(series)
        if booleans is not None:
            problems.append(Problem(f"column {shown_value(col)}", f"numbers, but true/false in {rows_text(booleans)}; write "
                                                       "those cells as numbers (or every cell of the column as true/false)"))
            continue
        if kind != "categorical" and _only_numbers(series):  # integers beyond 64 bits, decimals: numbers pandas left untyped
            series = pd.Series([_as_float(v) for v in series], index=series.index, dtype=float)
        if kind is None and not pd.api.types.is_numeric_dtype(series):
            mostly = _mostly_numbers(series)
            if mostly is not None:
                problems.append(Problem(f"column {shown_value(col)}", f"numbers, but text in {rows_text(mostly)}; fix those cells, "
                                                           "or declare the column's type in auditor.features"))
                continue
        if kind is None and pd.api.types.is_bool_dtype(series):  # "True"/"False" in a CSV, booleans in JSON or Parquet
            typing_notes.append(f"column {shown_value(col)} holds true/false values: audited as the numbers 1 and 0 (as "
                                "scikit-learn reads a boolean column); declare it in auditor.features (type: "
                                "categorical) to audit it as the two values written")
        if kind == "numeric" or (kind is None and pd.api.types.is_numeric_dtype(series)):
            numeric = pd.to_numeric(series, errors="coerce")
            not_numbers = numeric.isna() & series.notna()
            if not_numbers.any():
                problems.append(Problem(f"column {shown_value(col)}", f"expected numbers, got text in {rows_text(not_numbers.to_numpy())}"))
            values = numeric.to_numpy(dtype=float, na_value=np.nan)
            infinite = np.isinf(values)
            if infinite.any():
                problems.append(Problem(f"column {shown_value(col)}", f"infinite values in {rows_text(infinite)}"))
            with np.errstate(invalid="ignore"):
                huge = ~infinite & (np.abs(values) > MAX_TARGET)
            if huge.any():  # a perturbation's standard deviation, a distance: their squares overflow to inf
                problems.append(Problem(f"column {shown_value(col)}", f"values beyond ±{MAX_TARGET:.0e} in {rows_text(huge)}: their "
                                        "squares overflow double precision, so no spread, distance or perturbation "
                                        "of them can be computed; rescale the column in the data and the model"))
            frame[col] = numeric.astype(float)
        else:
            mixed = _text_among_other_values(series)
            if mixed is not None:
                (few, few_what), (many, many_what) = sorted(zip(mixed, ("text", "numbers or booleans")),
                                                            key=lambda kind: kind[0].sum())
                problems.append(Problem(f"column {shown_value(col)}", f"a categorical column mixing text and other values: "
                                                           f"{few_what} in {rows_text(few)}, {many_what} in the other "
                                                           f"{int(many.sum())} rows with a value (a model sees 5 and "
                                                           "\"5\" as different categories); write every value of the "
                                                           "column the same way"))
                continue
            if kind is None and _numbers_written_as_text(series):
                typing_notes.append(f"column {shown_value(col)} holds numbers written as text (e.g. {shown_value(series.dropna().iloc[0])}): "
                                    "audited as categories, as written (a perturbation swaps them, never moves them by "
                                    "fractions); declare it in auditor.features (type: numeric) to audit it as numbers")
            categorical.append(col)
            frame[col] = series.astype(object).where(series.notna(), None)
        missing = series.isna().to_numpy()
        if missing.any() and block.missing_values == "reject":
            problems.append(Problem(
                f"column {shown_value(col)}",
                f"missing values in {rows_text(missing)} (set auditor.missing_values: allow if the model handles them)",
            ))
    for col in group_only:
        problems += _group_column_problems(df[col], col)
    if problems:
        raise invalid(problems)
    if card_problem is not None:
        raise card_problem

    notes = [note for col, note in df.attrs.get("notes", {}).items() if col in expected]  # not the ignored columns
    notes += typing_notes
    n_missing = int(frame.isna().sum().sum())
    if n_missing:
        notes.append(f"{n_missing} missing feature values, passed to the model as missing (the card allows it)")
    source_rows = None
    groups = df[sensitive].copy() if sensitive else None
    if block.task == "text-classification":
        empty = frame[features[0]].map(_blank).to_numpy(dtype=bool)
        if empty.all():
            raise DatasetError(source, [Problem(f"column {shown_value(features[0])}", "every text is empty")])
        if empty.any():
            source_rows = np.flatnonzero(~empty)
            frame, labels = frame.iloc[source_rows], labels[source_rows]
            groups = None if groups is None else groups.iloc[source_rows]
            notes.append(
                f"{int(empty.sum()):,} empty text{'s' * int(empty.sum() != 1)} (nothing to explain: only spaces or invisible "
                f"characters) excluded: file "
                f"{rows_text(empty)}; row numbers in this audit are positions among the {len(source_rows):,} kept rows, "
                f"evidence/dataset-sample.csv gives each one's row in the file"
            )
            if len(np.unique(labels)) < 2:
                raise DatasetError(source, [Problem(f"column {shown_value(block.target)}", "only one class among the non-empty texts")])
    frame = frame.copy()  # one block per dtype again: a column replaced one by one fragments a wide frame
    text = block.task == "text-classification"
    # texts that differ only in their Unicode form (NFC and NFD spellings) are copies too; a tabular
    # row repeats another when its features and its label do
    keys = (frame.apply(lambda col: col.map(lambda t: unicodedata.normalize("NFC", t) if isinstance(t, str) else t))
            if text else frame.assign(**{"\0label": labels}))
    duplicated = keys.duplicated().to_numpy()
    if not text:
        fractions = _fractions(keys)
        copies = duplicated & fractions.any(axis=1).to_numpy()  # rows of whole numbers and categories still count
        if copies.any():  # two independent draws never share a measured fraction in every column and the label
            kept = np.flatnonzero(~copies)
            frame, labels = frame.iloc[kept], labels[kept]
            groups = None if groups is None else groups.iloc[kept]
            source_rows, duplicated = kept, duplicated[kept]
            notes.append(
                f"{int(copies.sum()):,} of {len(copies):,} rows repeat an earlier row's features and label, fractions "
                f"included ({_fraction_example(keys, fractions, copies)}), which independent draws cannot share: "
                f"copies (a join or an export that repeated rows), excluded: file {rows_text(copies)}; every figure "
                f"rests on the {len(kept):,} distinct rows, whose numbers in this audit are positions among them, "
                "evidence/dataset-sample.csv gives each one's row in the file")  # each label keeps a row
    repeated = int(duplicated.sum())
    if repeated and repeated >= DUPLICATE_SHARE * len(frame):
        distinct = f"({len(frame) - repeated:,} distinct)"
        notes.append(f"{repeated:,} of {len(frame):,} texts repeat an earlier one {distinct}: the bootstrap intervals "
                     "count each copy as an independent row; a perfect score's bounds count each distinct text once"
                     if text else
                     f"{repeated:,} of {len(frame):,} rows repeat an earlier row's features and label {distinct}: "
                     "every check counts each as an independent draw, as rows of a few discrete features can be; if "
                     "they are copies (a join or an export that repeated rows), remove them, or the intervals and "
                     "per-instance medians overstate the evidence")
    if text:  # one text under two labels: no model is right on both copies, whatever it learnt
        key = keys.iloc[:, 0].to_numpy(dtype=object)
        labelled = pd.DataFrame({"text": key, "label": np.asarray(labels, dtype=object)})
        conflicted = labelled.groupby("text", sort=False)["label"].transform("nunique").to_numpy() > 1
        if conflicted.any():
            rows = np.flatnonzero(conflicted) if source_rows is None else np.asarray(source_rows)[conflicted]
            n_texts = len(set(key[conflicted]))
            notes.append(f"{n_texts:,} text{'s' * (n_texts != 1)} appear{'s' * (n_texts == 1)} under different labels "
                         f"(file {rows_named(rows)}): no model is right on every copy, so accuracy cannot reach 1 on "
                         "this set; a labelling error, or texts whose label their words do not decide")
    every_label = None
    if max_rows is not None and len(frame) > max_rows:
        total, excluded = len(frame), source_rows is not None
        # every row's label is checked against the model's classes, not only the sample's
        every_label = (labels, np.arange(total) if source_rows is None else source_rows)
        salt = int(np.random.default_rng([seed, 0x5A3B1E]).integers(2**63))
        drawn = np.sort(content_order(frame, labels, salt)[:max_rows])  # drawn from what rows hold, as rows are in an audit
        frame, labels = frame.iloc[drawn], labels[drawn]
        groups = None if groups is None else groups.iloc[drawn]
        source_rows = drawn if source_rows is None else source_rows[drawn]
        if len(np.unique(labels)) < 2:
            raise DatasetError(source, [Problem(
                f"column {shown_value(block.target)}",
                f"the sample of {max_rows:,} rows (policy dataset.max_rows) holds only one class; raise max_rows",
            )])
        notes.append(
            f"sampled {max_rows:,} of {'the ' * excluded}{total:,} {'kept ' * excluded}rows uniformly at random without "
            f"replacement (policy dataset.max_rows, seed {seed}); row numbers in this audit are positions in the "
            f"sample, evidence/dataset-sample.csv gives each one's row in the file"
            + (f"; the notes before this one count the file's {len(df):,} rows" if notes else "")
        )
    return EvalDataset(
        path=path.resolve(), sha256=file_or_dir_sha256(path), frame=frame.reset_index(drop=True),
        labels=labels, feature_names=list(features), categorical=categorical, notes=notes, source_rows=source_rows,
        sensitive=None if groups is None else groups.reset_index(drop=True), every_label=every_label,
    )


def _fractions(keys: pd.DataFrame) -> pd.DataFrame:
    """Per row and numeric column, whether the value is a finite number with a fractional part: a row
    repeating another's features and label with one is a copy, never an independent draw."""
    numeric = keys.select_dtypes(include="number").astype(float)
    return pd.DataFrame(np.isfinite(numeric) & (numeric != np.floor(numeric)), index=keys.index, columns=numeric.columns)


def _fraction_example(keys: pd.DataFrame, fractions: pd.DataFrame, copies: np.ndarray) -> str:
    """The first copy's first fraction, as the note names it."""
    row = int(np.flatnonzero(copies)[0])
    col = fractions.columns[fractions.iloc[row].to_numpy()][0]
    name = "the label" if col == "\0label" else f"{shown_value(col)}"
    return f"e.g. {keys.iloc[row][col]:g} in {name} of file row {row}"


def read_as_categories(data: EvalDataset, card: ModelCard, found: dict[str, str]) -> list[str]:
    """Treat as categorical the feature columns the model reads as categories (``found``: column ->
    how, from :func:`auditor.models.sklearn_categories.columns_read_as_categories`) that the card
    does not type and the data holds as numbers (integer codes); a whole number is kept as an integer
    (3.0 reads 3), a missing value as None, as for any categorical. A column the card declares
    numeric stays numeric. Returns the notes for the report (the data is changed in place)."""
    declared = {f.name: f.type for f in card.auditor.features or []}
    adopted = [c for c in data.feature_names if c in found and c not in data.categorical and declared.get(c) is None]
    notes = []
    for col in adopted:
        series = data.frame[col]
        data.frame[col] = pd.Series([None if pd.isna(v) else int(v) if float(v).is_integer() else float(v)
                                     for v in series], index=series.index, dtype=object)
        data.categorical.append(col)
        levels = pd.unique(data.frame[col].dropna())
        notes.append(f"column {shown_value(col)} holds numbers ({len(levels)} distinct values) that the model reads as categories "
                     f"({found[col]}), and the card does not declare its type: audited as categorical (levels swapped, "
                     "never moved by fractions); declare it in auditor.features (type: categorical, or numeric) to say so")
    data.categorical.sort(key=data.feature_names.index)
    kept = [c for c in data.feature_names if c in found and declared.get(c) == "numeric"]
    notes += [f"column {shown_value(c)} is declared numeric in the card, though the model reads it as categories ({found[c]}): "
              "audited as a number, so perturbations and sweeps give it values the model's encoder may not have seen"
              for c in kept]
    return notes
