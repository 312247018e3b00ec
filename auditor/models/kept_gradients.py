"""Integrated gradients' path rows kept between audits (`auditor run --prediction-cache DIR`).

With a text model's forward passes kept (:mod:`auditor.models.kept_predictions`), a re-audit's time is
its backward passes: integrated gradients of the explained texts, of stability's perturbed texts and
of the sanity check's randomised copies (at 100 explained reviews, `text_explanations` 48 s,
stability 95 s and sanity 72 s of a re-audit's 249 s: benchmarks/README.md). A row
of :func:`auditor.explain.text_gradients.path_contributions` (a text's integrand at one point of its
path: one value per token) depends on the model, the text's token ids, its baseline, the class and
the point alone, so it is kept under a digest of those four, in the same file as the model's kept
predictions (a randomised copy: a file of its own, the randomisation in its signature).

Before kept rows serve, on first use, up to :data:`VERIFY_ROWS` of the rows requested and kept are
computed again: above :data:`TOLERANCE` (a row's values are probability per unit of path) none is
read, none added, and the report says why. A row computed in a pass with other texts differs from
one computed alone by float32 rounding (up to 3e-8 on the review example); once checked, every
kept row serves, the checked ones too, so a re-audit reproduces that audit's attributions bit for bit
(with the checked rows computed again, one clustering silhouette had moved by 3e-11).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from auditor.models.kept_predictions import KeptPredictions, UnreadableRow, digest

VERIFY_ROWS = 16  # kept rows computed again before the rest serve
TOLERANCE = 1e-5  # largest difference allowed between a kept row and the same row computed now
HERE = ""  # this process, among the places that checked the rows (else a cluster worker's address)


def row_key(ids: np.ndarray, baseline: np.ndarray, target: int, alpha: float) -> bytes:
    """The digest a path row is kept under: the text's ids, its baseline's, the class, the point."""
    return digest(np.ascontiguousarray(ids, dtype=np.int64).tobytes() + b"|"
                  + np.ascontiguousarray(baseline, dtype=np.int64).tobytes() + b"|"
                  + np.int64(target).tobytes() + np.float64(alpha).tobytes())


class KeptGradients:
    """One model's kept path rows: read from ``file`` when it was opened, new ones kept by
    :meth:`new_rows` when the audit ends (:func:`auditor.models.kept_predictions.save`)."""

    def __init__(self, file: KeptPredictions, what: str = "the model"):
        self.file = file
        self.what = what  # "the model", or the randomised copy it is
        self.rows = file.gradient_rows
        self._new: dict[bytes, np.ndarray] = {}
        self.reads = 0
        self.requested = 0
        # how the rows were checked, by place: here once this process has, and each cluster worker that read them
        self.checks: dict[str, dict] = {}
        self.refused_at: str | None = None  # where the rows were found to differ (then none is read or kept)
        self.copy_notes: list[str] = []  # randomised copies' files that could not be read (for_copy)
        self._lock = threading.RLock()  # the checking request takes it twice
        self._taken = (0, 0)  # reads and requests already handed on by take_new (a cluster worker's)
        self.not_kept_elsewhere = 0  # rows computed on workers of another CPU or kernels (not kept)

    def contributions(self, ids_list: list[np.ndarray], baselines: list[np.ndarray], target: np.ndarray,
                      todo: list[np.ndarray], compute: Callable) -> list[np.ndarray]:
        """``compute(ids_list, baselines, target, todo)``'s rows, those kept read and the rest
        computed (``compute`` is called with the texts that miss some, and only their missing points)."""
        keys = [[row_key(ids, base, t, a) for a in alphas]
                for ids, base, t, alphas in zip(ids_list, baselines, np.asarray(target), todo)]
        if HERE not in self.checks and self.rows:
            with self._lock:  # the first request that finds kept rows checks them; others wait for it
                if HERE not in self.checks:
                    return self._served(keys, ids_list, baselines, target, todo, compute, verify=True)
        return self._served(keys, ids_list, baselines, target, todo, compute, verify=False)

    def _served(self, keys, ids_list, baselines, target, todo, compute, verify: bool) -> list[np.ndarray]:
        have = [np.array([k in self.rows for k in ks], dtype=bool) for ks in keys]
        if any(len(self.rows[k]) != len(ids) for ks, h, ids in zip(keys, have, ids_list) for k, held in zip(ks, h) if held):
            self._refuse(HERE, {"verified_rows": 0, "max_abs_diff": None, "reason": "a row of another length than its text"})
            return compute(ids_list, baselines, target, todo)
        check = self._rows_to_check(have) if verify else []
        need = [i for i, h in enumerate(have) if not h.all()]
        computed = compute([ids_list[i] for i in need], [baselines[i] for i in need],
                           np.asarray(target)[need], [todo[i][~have[i]] for i in need]) if need else []
        out = [np.zeros((len(alphas), len(ids))) for alphas, ids in zip(todo, ids_list)]
        for i, rows in zip(need, computed):
            out[i][~have[i]] = rows
        if check and not self._verify(check, keys, out):
            return compute(ids_list, baselines, target, todo)
        for i, j in check:  # checked: the kept bits serve, so a re-audit's attributions are the first's exactly
            out[i][j] = self.rows[keys[i][j]]
        with self._lock:  # the counts and new rows of concurrent callers stay whole
            for i, (ks, h) in enumerate(zip(keys, have)):
                for j in np.flatnonzero(h):
                    out[i][j] = self.rows[ks[j]]
                self.reads += int(h.sum())
                self.requested += len(ks)
                if not self.refused:
                    self._new.update((ks[j], out[i][j]) for j in np.flatnonzero(~h) if ks[j] not in self.rows)
        return out

    def _rows_to_check(self, have: list[np.ndarray]) -> list[tuple[int, int]]:
        """The first :data:`VERIFY_ROWS` kept rows of this request, taken off ``have`` (computed)."""
        check = []
        for i, h in enumerate(have):
            for j in np.flatnonzero(h)[: VERIFY_ROWS - len(check)]:
                check.append((i, int(j)))
                h[j] = False
            if len(check) == VERIFY_ROWS:
                break
        return check

    def _verify(self, check: list[tuple[int, int]], keys: list[list[bytes]], out: list[np.ndarray]) -> bool:
        diff = max(float(np.max(np.abs(out[i][j] - self.rows[keys[i][j]]), initial=0.0)) for i, j in check)
        if diff <= TOLERANCE:
            self.checks[HERE] = {"verified_rows": len(check), "max_abs_diff": diff}
            return True
        self._refuse(HERE, {"verified_rows": len(check), "max_abs_diff": diff})
        return False

    def _refuse(self, where: str, check: dict) -> None:
        self.checks[where], self.refused_at, self.rows, self._new = check, where, {}, {}  # neither read nor added to

    @property
    def refused(self) -> bool:
        return self.refused_at is not None

    @property
    def verified(self) -> dict | None:
        """How this process checked the rows, once it has (a cluster worker sends it back)."""
        return self.checks.get(HERE)

    def new_rows(self) -> dict[bytes, np.ndarray]:
        """The rows computed in this audit that the file does not hold."""
        return dict(self._new)

    def take_new(self) -> tuple[dict[bytes, np.ndarray], int, int]:
        """What was gathered since the last call: the new rows, and rows read and requested (a
        cluster worker's share, engine/cluster_kept.py)."""
        with self._lock:
            new, self._new = self._new, {}
            reads, requested = self.reads - self._taken[0], self.requested - self._taken[1]
            self._taken = (self.reads, self.requested)
        return new, reads, requested

    def adopt(self, worker: str, rows: dict[bytes, np.ndarray], reads: int, requested: int, verified: dict | None,
              refused: bool, keep: bool) -> None:
        """A cluster worker's share: its new rows (kept where ``keep``: a worker on this machine's CPU
        and kernels), its counts, and how it checked the rows it read (``refused``: they differed
        there, and that worker computed its own)."""
        with self._lock:
            self.reads += reads
            self.requested += requested
            if verified is not None:
                self.checks[worker] = verified
            if refused and not self.refused:
                self._refuse(worker, verified or {"verified_rows": 0, "max_abs_diff": None})
            if not keep:
                self.not_kept_elsewhere += len(rows)
            elif not self.refused:
                self._new.update((k, v) for k, v in rows.items() if k not in self.rows)

    @property
    def checked(self) -> dict | None:
        """How the rows were checked: where they were refused, else over every place that checked them
        (rows summed, the largest difference)."""
        if self.refused:
            return self.checks[self.refused_at]
        checks = list(self.checks.values())
        if len(checks) <= 1:
            return checks[0] if checks else None
        return {"verified_rows": sum(c["verified_rows"] for c in checks),
                "max_abs_diff": max(c["max_abs_diff"] for c in checks)}

    @property
    def refused_on(self) -> str | None:
        """The cluster worker whose check refused the rows (None: refused here, or not at all)."""
        return self.refused_at or None

    def describe(self, written: int) -> dict:
        return {"path": str(self.file.path), "kept_before": len(self.file.gradient_rows), "requested": self.requested,
                "read": self.reads, "written": written, **(self.checked or {"verified_rows": 0}),
                **({"refused_on_worker": self.refused_on} if self.refused_on else {}),
                **({"not_kept_from_workers": self.not_kept_elsewhere} if self.not_kept_elsewhere else {})}

    def notes(self, written: int) -> list[str]:
        """The report's sentences: rows read, or why none was."""
        where = f" on cluster worker {self.refused_on}" if self.refused_on else ""
        unkept = ([f"--prediction-cache: {self.not_kept_elsewhere:,} integrated-gradients path rows of {self.what} computed "
                   "on cluster workers with another CPU or kernels than this machine's were not kept"]
                  if self.not_kept_elsewhere else [])
        if self.refused:
            refusal = self.checked
            if not refusal["verified_rows"]:
                return [f"--prediction-cache: {self.file.path} holds an integrated-gradients path row of another length "
                        f"than its text for {self.what}{where}; its rows were not used, every row was computed"]
            return [f"--prediction-cache: the integrated-gradients path rows kept for {self.what} in {self.file.path} "
                    f"differ from those computed{where} now by up to {refusal['max_abs_diff']:.3g} on "
                    f"{refusal['verified_rows']} rows (tolerance {TOLERANCE:g}); not used"
                    + (" there, and none was kept" if where else ", every row was computed")]
        if not self.reads:
            return unkept
        checked = self.checked
        return [f"{self.reads:,} of the {self.requested:,} integrated-gradients path rows of {self.what} were read from "
                f"those an earlier audit computed (--prediction-cache, {self.file.path.name}; checked on "
                f"{checked['verified_rows']} rows, largest difference {checked['max_abs_diff']:.2g}); "
                f"{written:,} new ones were kept", *unkept]


def for_copy(parent: KeptGradients, randomisation: dict, what: str) -> tuple[KeptGradients | None, list[str]]:
    """The kept rows of a randomised copy of ``parent``'s model (a file of its own: the same facts
    and the randomisation), or None and a note where that file cannot be read."""
    import sqlite3

    file = KeptPredictions(parent.file.path.parent, {**parent.file.facts, "randomised": randomisation})
    try:
        file.load()
    except (sqlite3.Error, OSError, UnreadableRow) as exc:
        return None, [f"--prediction-cache: {file.path} could not be read ({exc}); {what}'s rows were computed"]
    return KeptGradients(file, what), []


def save_copies(copies: list[KeptGradients]) -> tuple[list[dict], list[str]]:
    """Keep the randomised copies' new rows, each in its file; what was read and written, and the
    report's notes (one sentence for all the copies' reads)."""
    import sqlite3

    facts, notes = [], []
    for copy in copies:
        try:
            written = copy.file.save({}, copy.new_rows())
        except (sqlite3.Error, OSError) as exc:
            notes.append(f"--prediction-cache: {copy.what}'s rows could not be kept in {copy.file.path} ({exc})")
            written = 0
        facts.append({"copy": copy.what, **copy.describe(written)})
        if copy.refused:
            notes.extend(copy.notes(written))
    unkept = sum(c.not_kept_elsewhere for c in copies)
    if unkept:
        notes.append(f"--prediction-cache: {unkept:,} integrated-gradients path rows of the randomised copies computed "
                     "on cluster workers with another CPU or kernels than this machine's were not kept")
    read = [c for c in copies if c.reads and not c.refused]
    if read:
        largest = max(c.checked["max_abs_diff"] for c in read)
        notes.append(f"{sum(c.reads for c in read):,} of the {sum(c.requested for c in read):,} integrated-gradients "
                     f"path rows of {len(read)} randomised cop{'ies' if len(read) > 1 else 'y'} (explanation_sanity) "
                     f"were read from those an earlier audit computed (--prediction-cache; checked on "
                     f"{sum(c.checked['verified_rows'] for c in read)} rows, largest difference {largest:.2g})")
    return facts, notes
