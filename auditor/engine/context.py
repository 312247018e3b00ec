"""AuditContext: what every check sees — the model behind its cache, the data, the card, the seed,
the selection of explained instances and the attribution cache shared by all checks."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from auditor.inputs.dataset import EvalDataset
from auditor.engine.executor import SERIAL, Executor
from auditor.explain.attribution import Attribution, concat
from auditor.hashing import content_order, row_hashes
from auditor.inputs.model_card import ModelCard
from auditor.models.base import Capability, ModelAdapter


ROW_KINDS = ("misclassified", "borderline", "confident")  # the groups the explained order interleaves
REGRESSION_ROW_KINDS = ("large error", "medium error", "small error")  # a regressor's: thirds by |residual|
PROGRESS_PARTS = 10  # an attribution request is computed (and its progress reported) in this many parts


def csv_bytes(header: list[str], rows) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def explain_part(ctx: "AuditContext", explainer, rows: np.ndarray, params) -> Attribution:
    """``explainer`` on ``rows`` of ``ctx``, with what it cost the model (inputs requested, distinct
    inputs computed, inputs run backward, seconds) in its ``cost``: here or on a cluster's worker."""
    stats = ctx.model.stats
    requests, distinct, gradients, started = stats.requests, stats.distinct_inputs, stats.gradient_inputs, time.perf_counter()
    attr = explainer.fn(ctx, rows, **params.model_dump())
    attr.cost.update({
        "requests": stats.requests - requests,
        "distinct_inputs": stats.distinct_inputs - distinct,
        "gradient_inputs": stats.gradient_inputs - gradients,
        "seconds": round(time.perf_counter() - started, 3),
        "instances": len(rows),
    })
    return attr


@dataclass
class AuditContext:
    card: ModelCard
    data: EvalDataset
    model: ModelAdapter  # the model behind its adapter (auditor/models/base.py)
    seed: int
    files: dict[str, bytes] = field(default_factory=dict)  # machine-readable evidence, by run-relative path
    file_rows: dict[str, int] = field(default_factory=dict)  # instances in each attribution file
    explainer_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # the policy's explainers: block
    executor: Executor = SERIAL  # independent per-instance work and the tabular model's chunks
    on_step: Callable[[str, int, int], None] | None = None  # progress of long steps: (label, done, total)
    _attributions: dict[tuple, Attribution] = field(default_factory=dict)
    _memo: dict[tuple, Any] = field(default_factory=dict)  # computed once per context: see memo()
    _data_memo: dict[tuple, Any] = field(default_factory=dict)  # of the data alone: see data_memo()
    _order: np.ndarray | None = None
    _kinds: np.ndarray | None = None
    _explain_as: np.ndarray | None = None  # the class explained for each evaluation row (None: the prediction)
    _row_orders: dict[str, np.ndarray] = field(default_factory=dict)  # see row_order()
    _rows_of: "AuditContext | None" = None  # the context whose evaluation rows this one samples

    def __post_init__(self):
        if self.model is not None:  # e.g. a tabular model predicts its chunks on the audit's workers
            self.model.use_executor(self.executor)

    def _derived(self, **changes) -> "AuditContext":
        """A context sharing this one's card, data, model, seed, explainer parameters, executor and
        progress (``changes`` replace some), with its own attributions and files."""
        shared = dict(card=self.card, data=self.data, model=self.model, seed=self.seed,
                      explainer_params=self.explainer_params, executor=self.executor, on_step=self.on_step)
        return AuditContext(**{**shared, **changes})

    def with_model(self, model, *, explain_audited_class: bool = False) -> "AuditContext":
        """The same audit (card, data, seed, explained rows, explainer parameters) around another
        model, with its own caches: used to explain a randomised model in the sanity check.
        ``explain_audited_class``: explain each row for the class the audited model predicts, not
        the other model's prediction (with three or more classes, explanations of different classes
        cannot be compared)."""
        self.explained_rows(0)  # fix the explained rows by the audited model's predictions
        explain_as = self.predicted_index() if explain_audited_class else self._explain_as
        return self._derived(model=model, _order=self._order, _kinds=self._kinds, _data_memo=self._data_memo,
                             _explain_as=explain_as, _rows_of=self._rows_of or self)

    def with_rows(self, inputs, labels, at=None) -> "AuditContext":
        """The same audit (card, model and its prediction cache, seed, explainer parameters) around
        inputs that are not rows of the evaluation set, e.g. the perturbed copies the stability
        check re-explains.

        Parameters
        ----------
        inputs : pandas.DataFrame or list of str
            Feature rows (tabular, the card's columns) or texts.
        labels : array_like of str
            One label per input (the stability check passes the original predicted class).
        at : array_like of int, optional
            The evaluation rows the inputs stand in for. The derived dataset is then the evaluation
            set with those rows replaced, so whatever explainers read as reference data (SHAP
            background, LIME's sampling statistics, removal baselines) stays the evaluation set, and
            exactly ``at`` is explained, in that order: the right choice for tabular data. Without
            ``at`` the dataset is ``inputs`` alone and every row is explained in order (text
            explainers read nothing but the explained text).

        Returns
        -------
        AuditContext
            A context with its own attribution cache; ``explained_rows(n)`` is the first ``n`` rows
            of that order.
        """
        data = self.data
        name = data.feature_names[0]
        new = (inputs[data.feature_names] if isinstance(inputs, pd.DataFrame)
               else pd.DataFrame({name: [str(t) for t in inputs]})).reset_index(drop=True)
        labels = np.asarray(labels, dtype=object).reshape(-1)
        if len(labels) != len(new):
            raise ValueError(f"with_rows: {len(new)} inputs but {len(labels)} labels")
        if at is None:
            frame, all_labels, order = new, labels, np.arange(len(new))
        else:
            order = np.asarray(at, dtype=int).reshape(-1)
            if len(order) != len(new) or len(np.unique(order)) != len(order) \
                    or (len(order) and (order.min() < 0 or order.max() >= len(data))):
                raise ValueError("with_rows: `at` must name one distinct evaluation row per input")
            base = data.frame.reset_index(drop=True)
            frame = pd.concat([base.drop(index=order), new.set_axis(order)]).sort_index()
            all_labels = np.asarray(data.labels, dtype=object).copy()
            all_labels[order] = labels
        digest = hashlib.sha256(row_hashes(frame).tobytes()).hexdigest()
        derived = replace(data, frame=frame.reset_index(drop=True), labels=all_labels, sha256=digest)
        # the evaluation set with rows replaced keeps its samples (SHAP's background rows among them)
        return self._derived(data=derived, _order=order, _rows_of=None if at is None else self._rows_of or self)

    # --- computed once ------------------------------------------------------------------------------

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per context and ``key``, for results of this model on this data (e.g.
        permutation importance, which two checks read): ``key`` names everything else they depend on."""
        key = (id(self.model), self.data.sha256, *key)  # a context copied with another model or data recomputes
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def data_memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """As :meth:`memo` for what depends on the evaluation data alone (e.g. LIME's sampling
        statistics): shared with the contexts of other models on the same data (:meth:`with_model`)."""
        key = (self.data.sha256, *key)
        if key not in self._data_memo:
            self._data_memo[key] = compute()
        return self._data_memo[key]

    # --- randomness ------------------------------------------------------------------------------

    def rng(self, label: str) -> np.random.Generator:
        """A generator seeded by the policy seed and a label, so each use is independent and reproducible."""
        return np.random.default_rng([self.seed, stable_hash(label)])

    def row_order(self, label: str) -> np.ndarray:
        """Every evaluation row, in a random order seeded by the policy seed and ``label`` and drawn
        from what each row holds (its values and label), not from where it stands in the file: the
        same rows written in another order give the same samples, explained rows and figures. Rows
        holding the same keep their file order among themselves (whichever is taken, it is the same)."""
        if self._rows_of is not None:  # another model, or rows replaced: the audited set's samples
            return self._rows_of.row_order(label)
        if label not in self._row_orders:
            self._row_orders[label] = content_order(self.data.frame, self.data.labels, int(self.rng(label).integers(2**63)))
        return self._row_orders[label]

    def sample_rows(self, label: str, size: int) -> np.ndarray:
        """``size`` evaluation rows drawn uniformly without replacement (the first of :meth:`row_order`),
        in ascending row order."""
        return np.sort(self.row_order(label)[:size])

    def offset_seed(self, offset: int) -> int:
        """The policy seed moved by ``offset`` (seed-stability re-runs), wrapped into 0 .. 2**32-1:
        the range numpy's RandomState, LIME and shap accept, whatever seed the policy chose."""
        return (self.seed + int(offset)) % 2**32

    # --- predictions -----------------------------------------------------------------------------

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def classes(self) -> list[str]:
        return list(self.model.classes)

    def proba(self) -> np.ndarray:
        """Class probabilities of every evaluation row (served from the prediction cache after the first call)."""
        return self.model.predict_proba(self.model.inputs(self.data))

    def predict_proba_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.model.inputs(self.data, np.asarray(rows)))

    @property
    def positive_index(self) -> int | None:
        pc = self.card.auditor.positive_class
        if pc is not None and str(pc) in self.classes:
            return self.classes.index(str(pc))
        return 1 if len(self.classes) == 2 else None

    @property
    def favourable_index(self) -> int | None:
        """The class the card names as the outcome an applicant wants (``favourable_class``), if any."""
        fc = self.card.auditor.favourable_class
        return self.classes.index(str(fc)) if fc is not None and str(fc) in self.classes else None

    def explained_class(self, rows: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """The class each of ``rows`` is explained for: its predicted class (``proba``: the rows'
        probabilities), or the audited model's where this context was made so (:meth:`with_model`)."""
        if self._explain_as is not None:
            classes = np.asarray(self._explain_as)[np.asarray(rows, dtype=int)]
            if (classes < 0).any():  # a cluster worker is given only its shard's classes
                raise RuntimeError("explained_class: asked for rows whose explained class was not given")
            return classes
        return self.predicted_index(proba)

    def predicted_index(self, proba: np.ndarray | None = None) -> np.ndarray:
        """Predicted class per row: the card's decision threshold on the positive class when binary, else argmax."""
        proba = self.proba() if proba is None else proba
        threshold = self.card.auditor.decision_threshold
        pos = self.positive_index
        if threshold is not None and pos is not None and proba.shape[1] == 2:
            return np.where(proba[:, pos] >= threshold, pos, 1 - pos)
        return proba.argmax(axis=1)

    @property
    def regression(self) -> bool:
        return self.model.has(Capability.REGRESSION)

    @property
    def features(self) -> str:
        """What an explanation ranks, as a report names them: a text model's words, a table's features."""
        return "words" if self.model.has(Capability.TOKENS) else "features"

    def same_output_everywhere(self) -> bool:
        """Whether the model gives every evaluation row (two or more) the same output, up to rounding (1e-12
        of its size): a constant classifier's probabilities, a constant regressor's prediction. Its output
        does not move with its inputs, so every explanation of it is zero. A probability's size is 1; a
        regressor's prediction is in its target's units, so its rounding is relative to its own size (a
        target of about 1e-13 had made every regressor of it constant)."""
        outputs = self.proba()
        size = float(np.max(np.abs(outputs))) if len(outputs) else 0.0
        return len(outputs) > 1 and bool(np.all(np.ptp(outputs, axis=0) <= 1e-12 * (size if self.regression else max(1.0, size))))

    def prediction_spread(self) -> float:
        """A regressor's standard deviation of predictions over the evaluation rows (cached), the unit
        of its tolerances and shifts: they are in standard deviations, not the target's units."""
        return float(np.std(self.proba()[:, 0]))

    def targets(self) -> np.ndarray:
        """A regressor's true values per row, as numbers (the dataset validated them)."""
        return np.asarray(self.data.labels, dtype=float)

    def label_index(self) -> np.ndarray:
        """True class index per row (labels were validated against the model's classes)."""
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.array([lookup[label] for label in self.data.labels])

    # --- which instances get explained --------------------------------------------------------------

    def explained_rows(self, n: int) -> np.ndarray:
        """The first ``n`` rows of one fixed, seeded priority order over the evaluation set.

        The order interleaves misclassified, borderline (probability of the predicted class closest
        to the decision boundary) and confident rows, so any ``n`` covers the three kinds, and a
        smaller ``n`` is always a prefix of a larger one: every check explains the same rows and
        shares one attribution run.
        """
        if self._order is None and self.regression:
            self._order, self._kinds = self._regression_order()
        if self._order is None:
            proba = self.proba()
            pred = self.predicted_index(proba)
            truth = self.label_index()
            confidence = proba[np.arange(len(pred)), pred]
            drawn = np.empty(len(pred), dtype=np.int64)  # each row's place in a seeded draw from what it holds
            drawn[self.row_order("explained_rows")] = np.arange(len(pred))
            wrong = np.flatnonzero(pred != truth)
            right = np.flatnonzero(pred == truth)
            by_conf = right[np.lexsort((drawn[right], confidence[right]))]  # ties of confidence: in the draw's order
            half = len(by_conf) // 2
            groups = [wrong[np.argsort(drawn[wrong])], by_conf[:half], by_conf[half:][::-1]]
            kinds = np.empty(len(pred), dtype=object)
            for name, members in zip(ROW_KINDS, groups):
                kinds[members] = name
            self._kinds = kinds
            order: list[int] = []
            for i in range(max(map(len, groups), default=0)):
                order.extend(int(g[i]) for g in groups if i < len(g))
            self._order = self._with_words(self._without_copies(np.array(order, dtype=int)))
        return self._order[: min(n, len(self._order))]

    def _with_words(self, order: np.ndarray) -> np.ndarray:
        """``order`` without the texts the model reads as no word: every character one its tokenizer
        drops (BERT's drops U+FFFD and, lowercasing, lone accents), so only the tokens it adds are left.
        Such a text is predicted (as the empty text) but has nothing to explain; the model's input
        notes name it."""
        if not self.model.has(Capability.TOKENS) or not len(order):
            return order
        encoded = self.model.encode(self.data.texts())
        return order[[not encoded[r].special.all() for r in order]]

    def _without_copies(self, order: np.ndarray) -> np.ndarray:
        """``order`` with every text after the first of its copies left out (a text model's: its
        explanation is the same whatever the copy, so 2 reviews copied 30 times are 2 instances, not
        the 12 a faithfulness test had counted). Tabular rows are kept as they are: rows of a few
        discrete features coincide as independent draws."""
        if not self.model.has(Capability.TOKENS) or not len(order):
            return order
        keys = self._model_inputs()
        return order[_first_of([keys[r] for r in order])]

    def first_copies(self) -> np.ndarray:
        """Per evaluation row, whether it is an independent draw: for a text model the first of the
        texts the model reads alike (the same token ids: NFC and NFD spellings, case an uncased
        tokenizer folds) with the same label (the copies after it are the same draw again), every row
        of a tabular model (see :meth:`_without_copies`)."""
        if not self.model.has(Capability.TOKENS):
            return np.ones(len(self.data.labels), dtype=bool)
        return _first_of(list(zip(self._model_inputs(), np.asarray(self.data.labels, dtype=object))))

    def copy_groups(self) -> np.ndarray:
        """Per evaluation row, the first row whose text the model reads alike (the same token ids:
        copies, NFC and NFD spellings, case an uncased tokenizer folds), whatever the labels; every
        row is its own for a tabular model (see :meth:`_without_copies`)."""
        n = len(self.data.labels)
        if not self.model.has(Capability.TOKENS):
            return np.arange(n)
        first: dict[bytes, int] = {}
        return np.array([first.setdefault(key, i) for i, key in enumerate(self._model_inputs())], dtype=int)

    def _model_inputs(self) -> list[bytes]:
        """Each evaluation text as the model reads it (its token ids; tokenised once, memoised)."""
        return [np.asarray(enc.ids).tobytes() for enc in self.model.encode(self.data.texts())]

    def _regression_order(self) -> tuple[np.ndarray, np.ndarray]:
        """A regressor's explained order: rows sorted by |residual| and cut in thirds (large, medium,
        small error), interleaved; ties broken by a seeded draw from what the rows hold."""
        residual = np.abs(self.targets() - self.proba()[:, 0])
        shuffled = self.row_order("explained_rows")
        by_error = shuffled[np.argsort(-residual[shuffled], kind="stable")]
        groups = np.array_split(by_error, 3)
        kinds = np.empty(len(residual), dtype=object)
        for name, members in zip(REGRESSION_ROW_KINDS, groups):
            kinds[members] = name
        order = [int(g[i]) for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g)]
        return np.array(order, dtype=int), kinds

    def row_kinds(self, rows: np.ndarray) -> list[str]:
        """Why each row is in the explained order: "misclassified", "borderline" (correct, in the
        less confident half) or "confident" (correct, the more confident half)."""
        self.explained_rows(0)
        if self._kinds is None:  # a context around perturbed inputs (with_rows) has no such groups
            raise ValueError("row kinds are defined on the audited evaluation set only")
        return [str(self._kinds[int(r)]) for r in rows]

    # --- attributions, computed once ----------------------------------------------------------------

    def attribution(self, method: str, n_instances: int, overrides: dict[str, Any] | None = None) -> Attribution:
        """Attributions of ``method`` for the first ``n_instances`` explained rows, computed once per
        (method, parameters). Parameters come from the policy's ``explainers:`` block; ``overrides``
        (e.g. another seed) make a distinct computation. A request for fewer rows is served from a
        larger cached run (explained rows are prefixes of one order)."""
        from auditor.explain import get_explainer

        explainer = get_explainer(self.task, method)
        params = explainer.Params.model_validate({**self.explainer_params.get(method, {}), **(overrides or {})})
        key = (method, params.model_dump_json())
        rows = self.explained_rows(n_instances)
        cached = self._attributions.get(key)
        if cached is not None and len(cached) >= len(rows):
            return cached if len(cached) == len(rows) else cached.subset(np.arange(len(rows)))
        # Explainers treat instances independently (per-row seeds), so a larger request only
        # computes the rows the cache lacks, and the rows are computed in a few parts, each
        # reported to on_step (the numbers do not depend on the parts).
        todo = rows[len(cached):] if cached is not None else rows
        label, done = f"{method} explanations", 0
        if self.on_step:
            self.on_step(label, done, len(todo))
        if self.executor.shards_work_of(self.model) and len(todo):
            # On a cluster: contiguous shards of rows on the workers (each loads the model itself),
            # progress reported as each shard comes back, the parts joined in row order.
            def shard_done(n: int) -> None:
                nonlocal done
                done += n
                if self.on_step:
                    self.on_step(label, done, len(todo))

            for attr in self.executor.explain(self, method, params, todo, on_done=shard_done):
                cached = attr if cached is None else concat(cached, attr)
            self._attributions[key] = cached
            return cached
        for part in np.array_split(todo, min(len(todo), PROGRESS_PARTS)) if len(todo) else [todo]:
            attr = explain_part(self, explainer, part, params)
            cached = attr if cached is None else concat(cached, attr)
            self._attributions[key] = cached
            done += len(part)
            if self.on_step:
                self.on_step(label, done, len(todo))
        return cached

    def predict_proba_many(self, inputs) -> np.ndarray:
        """Class probabilities of many inputs that are not evaluation rows (e.g. permutation
        importance's shuffled copies): sharded across the workers when the audit runs on a cluster."""
        return self.executor.predict_proba(self.model, inputs)

    def add_csv(self, relpath: str, header: list[str], rows, *, replace: bool = False) -> str:
        """Write an evidence table as CSV (one helper for every check: same dialect, same
        neutralised formula cells) and return its run-relative path (:meth:`add_file`)."""
        return self.add_file(relpath, csv_bytes(header, rows), replace=replace)

    def add_file(self, relpath: str, content: bytes, *, replace: bool = False) -> str:
        """Keep ``content`` as the run's file ``relpath`` and return the path it is kept at: a path
        taken by other content gets a number (``counterfactuals-2.csv``: a policy may run a check
        twice under two ids), unless ``replace`` (a file that grows to a superset of itself); the
        same content again keeps its path."""
        if relpath.endswith(".csv"):
            from auditor.records.csvsafe import neutralise_formulas

            content = neutralise_formulas(content)
        stem, dot, suffix = relpath.rpartition(".")
        taken, n = relpath, 1
        while not replace and taken in self.files and self.files[taken] != content:
            n += 1
            taken = f"{stem}-{n}.{suffix}" if dot else f"{relpath}-{n}"
        self.files[taken] = content
        return taken

    # --- reference data -----------------------------------------------------------------------------

    def background(self, size: int) -> pd.DataFrame:
        n = min(size, len(self.data))
        rows = self.sample_rows("background", n)
        return self.data.frame.iloc[rows].reset_index(drop=True)


def _first_of(keys: list) -> np.ndarray:
    """Per key, whether it is the first of its equals in the list."""
    seen: set = set()
    first = np.zeros(len(keys), dtype=bool)
    for i, key in enumerate(keys):
        first[i] = key not in seen
        seen.add(key)
    return first
