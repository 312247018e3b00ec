"""A dataset file read into a table, each parse problem located (line, column, byte): CSV, Parquet
and JSONL. What the columns must hold is checked against the card in ``dataset.py``.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.errors import DatasetError, Problem, shown_value
from auditor.inputs.yamlio import byte_location

MAX_DATASET_BYTES = 2_000_000_000
MAX_LISTED = 5  # rows named per problem before "... and N more"
# What pandas reads as missing by default. In a CSV only an empty cell is missing: "NA" can be a
# category (North America), "None" a label, a review's whole text. In a column of numbers these
# still mean missing (R writes NA), as they always did.
MISSING_WORDS = frozenset({"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                           "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def rows_text(mask: np.ndarray) -> str:
    return rows_named(np.flatnonzero(mask))


def rows_named(rows) -> str:
    """Data rows in words, 0-based as every dataset problem names them: "row 3", or "rows 0, 5, 9 and
    4 more"."""
    rows = np.asarray(rows)
    listed = ", ".join(str(r) for r in rows[:MAX_LISTED])
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    return f"row{'s' * (len(rows) != 1)} {listed}{more}"


DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def delimiter_hint(df: pd.DataFrame) -> list[Problem]:
    """A header read as one column that holds another delimiter: say so."""
    return header_delimiter_hint([str(c) for c in df.columns])


def header_delimiter_hint(header: list[str]) -> list[Problem]:
    """A header of one field that holds another delimiter (a semicolon-separated file whose decimal
    commas split its rows into several fields): say so."""
    if len(header) != 1:
        return []
    header = str(header[0])
    for delimiter, name in DELIMITERS.items():
        if delimiter in header:
            return [Problem("header", f"read as one column {header[:80]!r}: the file seems to be {name}-separated "
                                      f"({delimiter!r}); auditor reads comma-separated CSV (save it with ',' as the delimiter)")]
    return []


def header_data_hint(header: list[str], other_problems: bool = True) -> list[Problem]:
    """A first line that is data, not column names (a CSV written without its header): most of its
    names numbers where the header has other problems (a value twice, an empty field), or every one
    a number: say so."""
    names = [str(n) for n in header if str(n).strip()]
    numbers = [n for n in names if _finite_number(n)]
    if not numbers or (len(numbers) < len(names) and not (other_problems and 2 * len(numbers) >= len(names))):
        return []
    return [Problem("header", f"line 1 looks like data, not column names ({len(numbers)} of its {len(header)} fields are "
                              f"numbers: {', '.join(map(repr, numbers[:3]))}{' …' * (len(numbers) > 3)}); add a first "
                              "line that names the columns")]


def _finite_number(text: str) -> bool:
    try:
        return bool(np.isfinite(float(text)))
    except ValueError:
        return False


def read_table(path: Path, text_columns: tuple[str, ...] = (), categorical_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """The file as a table; ``text_columns`` are read as text whatever they hold (a CSV review of
    digits stays a text), ``categorical_columns`` (the card's declared categoricals) as written where
    a number in them is written otherwise than it reads back (a CSV code ``01`` stays ``01``). A CSV's
    words for missing values in text cells are noted in ``frame.attrs["notes"]`` (column -> note)."""
    source = str(path)
    if not path.is_file():  # a device, FIFO or folder is never read (/dev/zero would never end)
        raise DatasetError(source, [Problem("", "not a regular file" if path.exists() else "file not found")])
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(source, [Problem("", "the file is empty")])
    if size > MAX_DATASET_BYTES:
        raise DatasetError(source, [Problem("", f"file is {size:,} bytes; the limit is {MAX_DATASET_BYTES:,}")])
    suffix = path.suffix.lower()
    try:
        fh = path.open("rb")
    except OSError as exc:  # another user's file: an input that cannot be read, named (not an internal error)
        raise DatasetError(source, [Problem("", f"cannot be read ({exc.strerror or type(exc).__name__})")]) from None
    with fh:
        head = fh.read(HEAD_BYTES)
        compressed = next((name for magic, name in COMPRESSED.items() if re.match(magic, head)), None)
        if compressed:
            raise DatasetError(source, [Problem("", f"the file is {compressed}-compressed; decompress it first (auditor "
                                                    "reads plain .csv, .parquet or .jsonl)")])
        looks_like = _format_hint(head, suffix) if suffix in READ_SUFFIXES else ""
        if looks_like:
            raise DatasetError(source, [Problem("", looks_like)])
    try:
        if suffix == ".csv":
            return _read_csv(path, text_columns, categorical_columns)
        if suffix in (".parquet", ".pq"):
            return _read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path)
    except UnicodeDecodeError:
        raise DatasetError(source, [Problem(_first_invalid_utf8(path), "file is not valid UTF-8")]) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise DatasetError(source, _csv_shape_problems(path) or [Problem("", f"cannot parse the file: {exc}")]) from None
    except (pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise DatasetError(source, [Problem("", f"cannot parse the file: {exc}")]) from None
    raise DatasetError(source, [Problem("", f"unsupported file type {suffix!r}; use .csv, .parquet or .jsonl")])


READ_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson")


HEAD_BYTES = 64  # what a file's format is told by: its magic number, or the markup its first line opens
# magic numbers (regular expressions of bytes); bzip2's "BZh" only with its level and a block's (or the
# empty stream's) magic after it, which no CSV header starts with
COMPRESSED = {rb"\x1f\x8b": "gzip", rb"BZh[1-9](1AY&SY|\x17rE8P\x90)": "bzip2", rb"\xfd7zXZ\x00": "xz",
              rb"\x28\xb5\x2f\xfd": "zstd"}


def _format_hint(head: bytes, suffix: str) -> str:
    """What a file that cannot be read as its name says looks like from its first bytes, and what to
    do (they had failed as "line 1, column 44: file is not valid UTF-8", or as a list of missing columns)."""
    if head.startswith(b"PAR1") and suffix not in (".parquet", ".pq"):
        return f"the file is Parquet (it starts with 'PAR1'), not {suffix or 'text'}; name it .parquet"
    if head.startswith(b"PK\x03\x04"):
        return ("the file is a zip archive (an Excel .xlsx workbook is one); save the sheet as CSV (UTF-8), or unzip it "
                "(auditor reads plain .csv, .parquet or .jsonl)")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return ("the file is an OLE2 compound document (an Excel 97-2003 .xls workbook is one); save the sheet as CSV "
                "(UTF-8) (auditor reads plain .csv, .parquet or .jsonl)")
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff") and suffix not in (".parquet", ".pq"):
        return "the file is UTF-32 text (it starts with a UTF-32 byte-order mark); save it as UTF-8"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") and suffix not in (".parquet", ".pq"):
        return "the file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8"
    markup = re.match(rb"\s*<(\?xml|!doctype html|html)\b", head.removeprefix(b"\xef\xbb\xbf"), flags=re.IGNORECASE)
    if suffix == ".csv" and markup:
        kind = "XML (an Excel 2003 XML spreadsheet is one)" if markup.group(1).lower() == b"?xml" else \
            "an HTML page (a web page saved, or an error page downloaded, under this name)"
        return f"the file is {kind}, not CSV; export the table as CSV (UTF-8)"
    if suffix == ".csv" and head.removeprefix(b"\xef\xbb\xbf")[:1] == b"{":
        return "the first line is a JSON object, not a CSV header: the file seems to be JSONL; name it .jsonl"
    return ""


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # pyarrow's own message lists its internal columns
        raise DatasetError(str(path), [Problem(f"column {shown_value(n)}", f"{names.count(n)} columns have this name; name each "
                                                                 "column once") for n in twice])
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, NotImplementedError, KeyError, TypeError) as exc:
        # a column type pandas cannot take (a map under metadata calling it text), or pandas metadata that is
        # not what pandas writes ({"columns": 5})
        raise DatasetError(str(path), [Problem("", f"cannot read the file's columns ({type(exc).__name__}: {exc}); "
                                                   "write it again from a plain table of numbers and text")]) from None


def _read_csv(path: Path, text_columns: tuple[str, ...] = (), categorical_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    csv.field_size_limit(MAX_DATASET_BYTES)  # a long review is a field; MAX_TEXT_CHARS is checked per row later
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, [])
            header_end = reader.line_num
            at_end = next(reader, None) is None
        except csv.Error as exc:  # e.g. a field longer than the csv module's limit
            raise DatasetError(str(path), [Problem("header", f"cannot parse the header line: {exc}")]) from None
    if re.fullmatch(r"sep=.", ",".join(header), flags=re.IGNORECASE):
        raise DatasetError(str(path), [Problem("line 1", f"{','.join(header)!r} is Excel's separator line, not the "
                                                         "header: remove that line, so that the column names come first")])
    seen: dict[str, int] = {}
    duplicates = []
    for i, name in enumerate(header, start=1):
        if not name.strip():  # pandas would call it 'Unnamed: N'
            duplicates.append(Problem(f"header, column {i}", "the column has no name; name every column"))
        elif name in seen:
            duplicates.append(Problem(f"header, column {i}", f"duplicate column name {shown_value(name)} (also column {seen[name]})"))
        seen.setdefault(name, i)
    if header_end > 1 and (duplicates or at_end):  # a quote that ran the header on: a stray or unclosed one
        hints = [Problem("header", f"a quoted field runs from line 1 to line {header_end}"
                                   f"{' (the end of the file)' * at_end}: an unclosed or stray quote?")]
    else:
        hints = header_data_hint(header) if duplicates else []  # else said with the missing columns (dataset.py)
    if len(duplicates) > MAX_LISTED:  # a header run on over the whole file named thousands of them
        duplicates = duplicates[:MAX_LISTED] + [Problem("", f"... and {len(duplicates) - MAX_LISTED} more header "
                                                            "columns without a name or named twice")]
    if duplicates or hints:
        raise DatasetError(str(path), hints + duplicates)
    with warnings.catch_warnings():
        # A row longer than the header: pandas would silently drop fields (or, without
        # index_col=False, shift the header onto the wrong columns).
        warnings.simplefilter("error", pd.errors.ParserWarning)
        frame = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""], index_col=False,
                            dtype={c: str for c in text_columns if c in seen})
    # A row shorter than the header: pandas would fill the missing fields with NaN, silently.
    short = _csv_shape_problems(path)
    if short:
        raise DatasetError(str(path), short)
    as_written = _categories_as_written(path, frame, [c for c in categorical_columns
                                                      if c in frame.columns and c not in text_columns])
    frame.attrs["notes"] = {**_missing_words(frame, set(text_columns) | set(as_written)), **as_written}
    return frame


def _number_as_written(text: str) -> bool:
    """Whether ``text`` is a number spelled as it reads back (``7``, ``2.5``), not ``07``, ``2.50``,
    ``+7`` or `` 7``."""
    try:
        return str(int(text)) == text
    except ValueError:
        pass
    try:
        return repr(float(text)) == text
    except ValueError:
        return False


def _categories_as_written(path: Path, frame: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """The card's categorical ``columns`` that hold a number written otherwise than it reads back (a
    code ``01``, which pandas reads as 1: another category, or one the model never saw) are replaced
    by the text as written, every cell of them; a note (per column) says so. The others stay as
    pandas read them (a model fitted on such a table knows their numbers)."""
    if not columns:
        return {}
    written = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""], index_col=False,
                          usecols=columns, dtype=str)
    notes = {}
    for col in columns:
        series = written[col]
        values = pd.unique(series[series.notna().to_numpy() & ~series.isin(MISSING_WORDS).to_numpy(dtype=bool)])
        lost = sorted(v for v in values if not _number_as_written(v) and pd.notna(pd.to_numeric(v, errors="coerce")))
        if not lost:
            continue
        frame[col] = series
        shown = ", ".join(repr(v) for v in lost[:MAX_LISTED]) + (" …" if len(lost) > MAX_LISTED else "")
        notes[col] = (f"column {shown_value(col)} (categorical in the card): every value kept as the text written, since "
                      f"{shown} would change as a number ({lost[0]!r} would read as {pd.to_numeric(lost[0]).item()!r})")
    return notes


def _missing_words(frame: pd.DataFrame, text_columns: set[str]) -> dict[str, str]:
    """In a column of numbers, the cells holding a word for missing (NA, null …) become missing, as
    pandas reads them; in any other column they stay the text they are, and a note (per column)
    says where."""
    notes = {}
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        words = series.isin(MISSING_WORDS).to_numpy(dtype=bool)
        if not words.any():
            continue
        rest = series[~words & series.notna().to_numpy()]
        if col not in text_columns and pd.to_numeric(rest, errors="coerce").notna().all():
            frame[col] = pd.to_numeric(series.where(~words), errors="coerce")
            continue
        found = ", ".join(repr(w) for w in sorted(set(series[words])))
        notes[col] = (f"column {shown_value(col)}: {found} in {rows_text(words)} read as the text written, not as a missing value "
                      "(in a CSV only an empty cell is missing)")
    return notes


def _csv_shape_problems(path: Path) -> list[Problem]:
    """Lines whose number of fields differs from the header's (the first few, and how many), after
    the delimiter hint where the header is one field."""
    problems, n_bad, header = [], 0, []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, [])
            width = len(header)
            end = reader.line_num
            for fields in reader:
                start, end = end + 1, reader.line_num  # a quoted field may hold line breaks: a record spans lines
                if fields and len(fields) != width:
                    n_bad += 1
                    if n_bad <= MAX_LISTED:
                        if end > start:  # where the record starts, not the line a stray quote ran it on to
                            where, hint = f"line {start}", (f" (a quoted field runs from line {start} to line {end}: "
                                                            "an unclosed quote?)")
                        else:
                            where, hint = f"line {end}", ("" if len(fields) > width else
                                                          " (a truncated row? write a missing value as an empty field)")
                        problems.append(Problem(where, f"{len(fields)} fields; the header has {width}{hint}"))
        except csv.Error as exc:
            problems.append(Problem(f"line {reader.line_num}", f"cannot parse the line: {exc}"))
        except UnicodeDecodeError:
            problems.append(Problem(_first_invalid_utf8(path), "file is not valid UTF-8"))
    if n_bad > MAX_LISTED:
        problems.append(Problem("", f"... and {n_bad - MAX_LISTED} more lines whose number of fields differs from the header's"))
    return header_delimiter_hint(header) + problems if problems else []


def _first_invalid_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is (line, column, byte offset)."""
    offset = 0
    with path.open("rb") as fh:
        for line in fh:  # a UTF-8 sequence never contains b"\n", so lines decode on their own
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                with path.open("rb") as again:
                    head = again.read(offset + exc.start + 1)
                return byte_location(head, offset + exc.start)
            offset += len(line)
    return ""


class _JsonObject(dict):
    """A JSON object as read, with the keys it gave twice (json keeps the last value silently)."""

    duplicates: tuple[str, ...] = ()


def _object_noting_duplicates(pairs: list[tuple[str, object]]) -> _JsonObject:
    obj = _JsonObject()
    twice = []
    for key, value in pairs:
        if key in obj and key not in twice:
            twice.append(key)
        obj[key] = value
    obj.duplicates = tuple(twice)
    return obj


def _lone_surrogate(obj: dict) -> bool:
    """Whether a JSON object holds a string with an unpaired UTF-16 surrogate (``"\\ud800"``): Python
    reads it, but it cannot be written as UTF-8, so it failed later without its line."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_jsonl(path: Path) -> pd.DataFrame:
    records, problems = [], []
    with path.open(encoding="utf-8-sig") as fh:  # a byte-order mark at the start is not part of the data
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, object_pairs_hook=_object_noting_duplicates)
            except json.JSONDecodeError as exc:
                problems.append(Problem(f"line {lineno}", f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(f"line {lineno}", "expected a JSON object"))
                continue
            if obj.duplicates:
                problems.append(Problem(f"line {lineno}", f"{', '.join(map(shown_value, obj.duplicates))} given twice in the "
                                                          "object; which value is meant is not clear"))
                continue
            if "\\ud" in line.lower() and _lone_surrogate(obj):  # an escape such as \ud800 that is half a character
                problems.append(Problem(f"line {lineno}", "invalid JSON: a \\uD800-\\uDFFF escape without its pair is "
                                                          "half a character, not text"))
                continue
            records.append(obj)
    if len(problems) > MAX_LISTED:  # a CSV saved as .jsonl listed every one of its lines
        problems = problems[:MAX_LISTED] + [Problem("", f"... and {len(problems) - MAX_LISTED} more lines with problems "
                                                        "(a JSONL file holds one JSON object per line)")]
    if problems:
        raise DatasetError(str(path), problems)
    return pd.DataFrame.from_records(records)
