"""sha256 of bytes, files and folders: how every input and output is identified."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_or_dir_sha256(path: Path) -> str:
    """sha256 of a file; for a directory, of its files' relative paths and hashes, in order."""
    path = Path(path)
    if path.is_file():
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode() + b"\0" + file_or_dir_sha256(p).encode() + b"\n")
    return h.hexdigest()


# ``infer_dtype`` kinds of an object column that hold no str and no bytes (missing values skipped).
_KINDS_WITHOUT_TEXT = frozenset({
    "empty", "integer", "floating", "mixed-integer-float", "decimal", "complex", "boolean", "datetime",
    "datetime64", "date", "timedelta", "timedelta64", "time", "period", "interval",
})
_TAG_MIX = 0x9E3779B97F4A7C15  # odd: multiplying by it spreads a column's tags over all 64 bits


def row_hashes(frame) -> "np.ndarray":
    """One 64-bit hash per row of ``frame``'s values, index ignored: pandas' row hash, told apart
    where it is blind to type.

    pandas hashes an object column's values by their text, so 5, 5.0, True, "5" and b"5" can hash
    alike; a model treats the text "5" as another category than the number 5. Each text, object or
    categorical-of-text column mixes into the hash of a row whose value is a str or bytes which of
    the two it is; every other row keeps pandas' hash. The prediction caches key rows by it, and
    derived datasets are identified by it.
    """
    import numpy as np
    import pandas as pd  # imported on use: the CLI's light commands import this module

    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    for j in range(frame.shape[1]):
        tags = _text_tags(frame.iloc[:, j])
        if tags is not None:
            with np.errstate(over="ignore"):
                hashes = np.where(tags == 0, hashes, hashes * np.uint64(_TAG_MIX) + tags + np.uint64(3 * j))
    return hashes


def content_order(frame, labels, salt: int) -> "np.ndarray":
    """Every row of ``frame`` (each with its label), in a random order seeded by ``salt`` and drawn
    from what the row holds, not from where it stands: the same rows written in another order are
    drawn alike. Rows holding the same keep their order among themselves (whichever is taken, it is
    the same)."""
    import numpy as np
    import pandas as pd

    label_hashes = pd.util.hash_pandas_object(pd.Series(np.asarray(labels, dtype=object).astype(str)), index=False)
    held = row_hashes(frame) * np.uint64(_TAG_MIX) + label_hashes.to_numpy()
    return np.argsort(_mix64(held ^ np.uint64(salt)), kind="stable")


def _mix64(x: "np.ndarray") -> "np.ndarray":
    """splitmix64's finaliser: 64-bit hashes whose every bit depends on every input bit (uint64
    arithmetic wraps), so salted row hashes sort as a random draw."""
    import numpy as np

    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _text_tags(column) -> "np.ndarray | None":
    """Per value of ``column``: 1 a str, 2 bytes, 0 anything else or missing; None when it can hold
    no text (a numeric column, or an object column of numbers)."""
    import numpy as np
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        tags = _text_tags(pd.Series(column.cat.categories))
        codes = column.cat.codes.to_numpy()
        return None if tags is None else np.where(codes < 0, 0, tags[codes]).astype(np.uint64)
    if column.dtype == object:
        kind = pd.api.types.infer_dtype(column, skipna=True)
        if kind in _KINDS_WITHOUT_TEXT:
            return None
        if kind != "string":
            return np.fromiter((1 if isinstance(v, str) else 2 if isinstance(v, bytes) else 0 for v in column),
                               dtype=np.uint64, count=len(column))
    elif not pd.api.types.is_string_dtype(column.dtype):
        return None
    return (~column.isna().to_numpy()).astype(np.uint64)  # text or missing: pandas' str dtype, or all str
