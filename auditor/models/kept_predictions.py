"""Predictions kept between audits (`auditor run --prediction-cache DIR`): a re-audit of the same model
on the same runtime reads the forward passes an earlier audit computed instead of computing them again.

A text model's audit is its forward passes (benchmarks/README.md: 85% of the time at 100 explained
reviews), and a scheduled re-audit, or a policy being tuned, asks the model the very same inputs again.
The predictions one audit computed are written to ``DIR/<signature>.sqlite``, where the signature is
the sha256 of everything the numbers depend on: the model folder's sha256, the adapter and its
settings (classes, token limit), the runtime that served (ONNX or PyTorch, prepacked kernels, the
faster forward path, device, dtype), and the versions of auditor, torch, transformers and onnxruntime.
Another model, runtime or version reads another file. An input is its token ids (the key the audit's
own cache uses), stored as a 16-byte BLAKE2b digest; a prediction as its float64 probabilities.

Before a kept file serves, up to :data:`VERIFY_INPUTS` of its predictions for evaluation texts are
computed again and compared (as an ONNX export is): above :data:`TOLERANCE` the file is not used and
the report says why. Integrated gradients' path rows are kept in the same file and checked the same
way, on first use (:mod:`auditor.models.kept_gradients`); other gradients (saliency, gradient × input)
are computed every time. Every number is the one the audit that computed it got, so a re-audit that reads them
reproduces that audit's figures; the report says how many predictions were read and from where.
Treat DIR like the installation itself: whoever can write to it can change what the audit is told.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Hashable
from pathlib import Path

import numpy as np

VERIFY_INPUTS = 32  # kept predictions of evaluation texts computed again before the file serves
TOLERANCE = 1e-6  # largest probability difference to them (batches of other lengths: ~1e-7 in float32)
SCHEMA = 1


def digest(key: Hashable) -> bytes:
    """The stored form of a cache key (token ids as int64 bytes)."""
    raw = key if isinstance(key, bytes) else repr(key).encode()
    return hashlib.blake2b(raw, digest_size=16).digest()


def signature_of(facts: dict) -> str:
    """The file name's hash of ``facts`` (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps({"schema": SCHEMA, **facts}, sort_keys=True, default=str).encode()).hexdigest()[:32]


class UnreadableRow(ValueError):
    """A kept file's row that is not a prediction this module wrote (another program's table, a cut row)."""


class AnotherModelsFile(UnreadableRow):
    """A kept file whose facts row names another model or runtime than its name says (a file copied or
    renamed into another's place): its numbers are not this model's."""


def _differences(found: dict, expected: dict) -> str:
    """The facts that differ, named (the model's sha256 first, shortened)."""
    keys = sorted(k for k in {*found, *expected} if found.get(k) != expected.get(k))
    keys.sort(key=lambda k: k != "model_sha256")

    def short(value) -> str:
        text = json.dumps(value, sort_keys=True, default=str)
        return text if len(text) <= 40 else text[:39] + "…"

    return ", ".join(f"{k} {short(found.get(k))} (this audit: {short(expected.get(k))})" for k in keys[:3])


class KeptPredictions:
    """One model's kept predictions: read whole when opened, new ones written in one transaction."""

    def __init__(self, folder: Path, facts: dict):
        self.facts = facts
        self.path = Path(folder) / f"{signature_of(facts)}.sqlite"
        self.rows: dict[bytes, np.ndarray] = {}
        self.gradient_rows: dict[bytes, np.ndarray] = {}  # integrated gradients' path rows (kept_gradients.py)
        self.written = 0
        self.verified: dict = {}  # how the file was checked before it served
        self.kept_before = 0  # predictions the file held when the audit began
        # a cluster's workers' share (engine/cluster_kept.py): what they computed for the file, and their counts
        self.elsewhere: dict[bytes, np.ndarray] = {}
        self.read_elsewhere = self.requested_elsewhere = self.not_kept_elsewhere = 0

    @classmethod
    def received(cls, facts: dict, rows: dict[bytes, np.ndarray], gradient_rows: dict[bytes, np.ndarray]):
        """The numbers of a file another process read and checked (a cluster worker's copy): served,
        never loaded or saved here."""
        kept = cls(Path("."), facts)
        kept.rows, kept.gradient_rows, kept.kept_before = rows, gradient_rows, len(rows)
        return kept

    def adopt(self, computed: dict[bytes, np.ndarray], read: int, requested: int, keep: bool) -> None:
        """A worker's share of the audit: its predictions the file lacks (kept with this process's when
        the audit ends, where ``keep``: a worker on this machine's CPU and kernels) and its counts."""
        self.read_elsewhere += read
        self.requested_elsewhere += requested
        if keep:
            self.elsewhere.update(computed)
        else:
            self.not_kept_elsewhere += len(computed)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60)
        con.execute("PRAGMA journal_mode=WAL")  # readers and one writer at once (two audits of a model)
        con.execute("CREATE TABLE IF NOT EXISTS predictions (input BLOB PRIMARY KEY, proba BLOB NOT NULL)")
        con.execute("CREATE TABLE IF NOT EXISTS facts (facts TEXT NOT NULL)")
        con.execute("CREATE TABLE IF NOT EXISTS gradient_rows (input BLOB PRIMARY KEY, row BLOB NOT NULL)")
        return con

    def load(self) -> None:
        """Read every kept prediction (raises sqlite3.Error or OSError where the file cannot be read,
        :class:`UnreadableRow` where a row is not a digest and this model's probabilities)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        os.utime(self.path)  # used now, if only read: `auditor cache prune --unused-days` goes by this time
        try:
            row = con.execute("SELECT facts FROM facts").fetchone()
            if row is not None:  # written by the file's first audit: its name's facts, or another file's numbers
                try:
                    found = json.loads(row[0])
                except (TypeError, ValueError):
                    raise UnreadableRow("its facts row is not JSON") from None
                expected = json.loads(json.dumps(self.facts, sort_keys=True, default=str))
                if found != expected:
                    raise AnotherModelsFile(_differences(found, expected) if isinstance(found, dict) else
                                            "its facts row is not an object")
            self.rows = {}
            for n, (key, proba) in enumerate(con.execute("SELECT input, proba FROM predictions ORDER BY rowid"), 1):
                self._check_row(n, key, proba)
                self.rows[key] = np.frombuffer(proba, dtype=np.float64).copy()
            # float32 on disk: a row is a float32 sum (text_gradients.path_contributions), exact in it
            self.gradient_rows = {}
            for n, (key, row) in enumerate(con.execute("SELECT input, row FROM gradient_rows ORDER BY rowid"), 1):
                if not isinstance(key, bytes) or len(key) != 16 or not isinstance(row, bytes) or not row or len(row) % 4:
                    raise UnreadableRow(f"gradient row {n}: not a 16-byte digest and float32 values")
                self.gradient_rows[key] = np.frombuffer(row, dtype=np.float32).astype(np.float64)
        finally:
            con.close()
        self.kept_before = len(self.rows)

    def _check_row(self, n: int, key, proba) -> None:
        """Row ``n`` holds a 16-byte digest and float64 probabilities, one per class of the model."""
        width = 8 * len(self.facts.get("classes") or ()) or None
        if not isinstance(key, bytes) or len(key) != 16:
            raise UnreadableRow(f"row {n}: its input is not a 16-byte digest")
        if not isinstance(proba, bytes) or not proba or len(proba) % 8 or (width and len(proba) != width):
            raise UnreadableRow(f"row {n}: its prediction is not " + (f"{width // 8} float64 probabilities" if width
                                                                      else "float64 probabilities"))

    def save(self, items: dict[bytes, np.ndarray], gradient_rows: dict[bytes, np.ndarray] | None = None) -> int:
        """Add ``items`` (digest → probabilities) and ``gradient_rows`` (digest → path row); those
        already kept stay as they are. Returns how many gradient rows were added."""
        new = [(k, np.ascontiguousarray(v, dtype=np.float64).tobytes()) for k, v in items.items() if k not in self.rows]
        new_rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in (gradient_rows or {}).items()
                    if k not in self.gradient_rows]
        if not new and not new_rows:
            return 0
        con = self._connect()
        try:
            with con:
                if con.execute("SELECT COUNT(*) FROM facts").fetchone()[0] == 0:
                    con.execute("INSERT INTO facts VALUES (?)", (json.dumps(self.facts, sort_keys=True, default=str),))
                before = con.total_changes
                con.executemany("INSERT OR IGNORE INTO predictions VALUES (?, ?)", new)
                added = con.total_changes - before  # another audit may have kept some meanwhile
                con.executemany("INSERT OR IGNORE INTO gradient_rows VALUES (?, ?)", new_rows)
                added_rows = con.total_changes - before - added
        finally:
            con.close()
        self.written += added
        return added_rows

    def describe(self, read: int) -> dict:
        """What the file held, how many of its predictions were ``read`` (the cache's count) and added."""
        return {"path": str(self.path), "kept_before": self.kept_before, "read": read, "written": self.written}


def runtime_facts_of(adapter, model_sha256: str) -> dict:
    """What a text model's predictions depend on beyond its inputs (the kept file's signature)."""
    from importlib.metadata import PackageNotFoundError, version

    from auditor.machine import machine_facts

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    machine = machine_facts()
    served = {k: ({kk: vv for kk, vv in v.items() if not any(w in kk for w in ("probe", "diff", "verified"))}
                  if isinstance(v, dict) else v)
              for k, v in adapter.runtime_facts.items() if not any(w in k for w in ("probe", "diff", "verified", "reason"))}
    return {"model_sha256": model_sha256, "adapter": f"{type(adapter).__module__}.{type(adapter).__qualname__}",
            "classes": list(adapter.classes), "max_length": getattr(adapter, "max_length", None), "runtime": served,
            # a prompted LM's label tokens: other label words score the same prompted ids otherwise, and the
            # file of the first words was refused by every audit of the second (its check failing each time)
            "constants": adapter.exported_constants() if hasattr(adapter, "exported_constants") else {},
            "cpu": machine.get("cpu"), "torch_cpu_kernels": machine.get("torch_cpu_kernels"),
            "versions": {name: installed(name) for name in ("auditor", "torch", "transformers", "onnxruntime")}}


def keep(cache, folder: Path, facts: dict, arrays: list[np.ndarray], keys: list[Hashable]) -> list[str]:
    """Let ``cache`` read the predictions kept in ``folder`` for a model of ``facts``, once those of
    the evaluation inputs it holds (``arrays``, keyed ``keys``; an evenly spaced sample of at most
    :data:`VERIFY_INPUTS`) are computed again within :data:`TOLERANCE`; its new predictions
    are kept when the audit ends (:func:`save`). Notes for the report where the file is not used."""
    kept = KeptPredictions(folder, facts)
    try:
        kept.load()
    except AnotherModelsFile as exc:
        return [f"--prediction-cache: {kept.path} holds the predictions of another model or runtime ({exc}); not used "
                "and not added to, every prediction was computed"]
    except (sqlite3.Error, OSError, UnreadableRow) as exc:
        return [f"--prediction-cache: {kept.path} could not be read ({exc}); every prediction was computed"]
    cache.kept = kept
    held = [i for i, key in enumerate(keys) if digest(key) in kept.rows]
    if not held:  # nothing of these texts to check the file against: it does not serve, it is added to
        kept.verified = {"verified_inputs": 0}
        kept.rows = {}
        return []
    pick = [held[j] for j in np.unique(np.linspace(0, len(held) - 1, min(VERIFY_INPUTS, len(held))).round().astype(int))]
    fresh = cache.compute_uncached([arrays[i] for i in pick])
    stored = np.stack([kept.rows[digest(keys[i])] for i in pick])
    diff = float(np.max(np.abs(fresh - stored))) if stored.shape == fresh.shape else float("inf")
    kept.verified = {"verified_inputs": len(pick), "max_abs_prob_diff": diff}
    if diff <= TOLERANCE:
        return []
    cache.kept = None  # neither read nor added to: that file holds other numbers for this model and runtime
    return [f"--prediction-cache: the predictions kept in {kept.path} differ from this model's by up to {diff:.3g} in "
            f"probability on {len(pick)} evaluation texts (tolerance {TOLERANCE:g}); not used, every prediction was "
            "computed"]


def save(cache, gradients=None) -> tuple[dict | None, list[str]]:
    """Keep ``cache``'s new predictions and ``gradients``' new path rows (a
    :class:`~auditor.models.kept_gradients.KeptGradients` of the same file, or None); what was read
    and written (for provenance) and the report's notes."""
    kept = cache.kept
    if kept is None:
        return None, []
    read = cache.stats.kept_reads + kept.read_elsewhere
    # what workers of another CPU or kernels computed for this process (its large requests on a scheduler
    # elsewhere) is not this machine's runtime either: not kept, as their explanations' predictions are not
    unkept = getattr(cache, "not_kept", set())
    kept.not_kept_elsewhere += len(unkept)
    cache.not_kept = set()  # counted once
    try:  # this process's number wins where a worker computed the same input (both are this model's)
        added_rows = kept.save({**kept.elsewhere, **{digest(k): v for k, v in cache.computed().items() if k not in unkept}},
                               gradients.new_rows() if gradients is not None else None)
    except (sqlite3.Error, OSError) as exc:
        return kept.describe(read), [f"--prediction-cache: this audit's predictions could not be kept in {kept.path} ({exc})"]
    facts = {**kept.describe(read), **kept.verified}
    total = cache.stats.requests + kept.requested_elsewhere
    notes = [(f"{read:,} of the {total:,} predictions requested were read from predictions an earlier audit of the same "
              f"model and runtime computed (--prediction-cache, {kept.path.name}; checked on "
              f"{kept.verified['verified_inputs']} evaluation texts, largest difference "
              f"{kept.verified.get('max_abs_prob_diff', 0):.2g}); {kept.written:,} new ones were kept")] if read else []
    if kept.not_kept_elsewhere:
        facts["not_kept_from_workers"] = kept.not_kept_elsewhere
        notes.append(f"--prediction-cache: {kept.not_kept_elsewhere:,} predictions computed on cluster workers with "
                     f"another CPU or kernels than this machine's were not kept (the file is this machine's runtime)")
    if gradients is not None:
        facts["gradient_rows"] = gradients.describe(added_rows)
        notes.extend(gradients.notes(added_rows))
    return facts, notes
