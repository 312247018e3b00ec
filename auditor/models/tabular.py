"""scikit-learn classifiers on tabular data: safe loading and the cached, batched predictor (regressors:
auditor.models.regression, a subclass)."""

from __future__ import annotations

import hashlib
import io
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import ThreadpoolController

if TYPE_CHECKING:
    import pandas as pd

from auditor.errors import ModelLoadError
from auditor.models.base import AdapterBase, Capability
from auditor.models.cache import PredictionCache
from auditor.models.inputs import PerturbableInputs
from auditor.models.perturbation import tabular_perturbations
from auditor.models.tabular_codec import TabularCodec
from auditor.models.validate import check_probabilities
from auditor.hashing import row_hashes

# Rows a randomised model (the sanity test's) is refitted on at most: a seeded sample of a larger
# evaluation set (refitting on 111,400 rows took 21 s of a 300 s audit).
RANDOMISED_FIT_ROWS = 10_000

# The process's thread-pool libraries, found once (see :func:`one_openmp_thread`), and how many
# modules were imported when they were looked for.
_POOLS: dict = {}


def one_openmp_thread():
    """A context in which the process's OpenMP libraries run one thread each (restored on exit).

    scikit-learn's tree predictors spin-wait across OpenMP threads, and on a small shared machine
    that measured 40x slower (3.1 s against 0.05 s for 1,114 rows); the executor's threads use the
    cores instead. threadpoolctl's ``threadpool_limits`` looks for the loaded libraries anew on every
    call (3.3 ms here: 2.6 s of the 27 s credit demo, over its predictions); a ``ThreadpoolController``
    remembers them, and is made again once a module was imported since (an estimator whose library
    came later).
    """
    modules = len(sys.modules)
    if _POOLS.get("modules") != modules:
        _POOLS.update(controller=ThreadpoolController(), modules=modules)
    return _POOLS["controller"].limit(limits=1, user_api="openmp")


# Types outside skops' own default-trusted set that an audited scikit-learn model may contain.
# Explicit names, never prefixes: a type not listed here is refused and named in the error.
TRUSTED_SKOPS_TYPES = frozenset({
    "builtins.slice",
    "collections.OrderedDict",
    # A HistGradientBoosting model fitted with categorical_features holds functools.partial(check_array,
    # ...) in its preprocessor: refused, the usual model for tabular data with categories could not be
    # audited. skops loads a partial's function, arguments and keywords as nodes of their own, each
    # checked against this list, so a partial of anything else (os.system) is still refused.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "numpy.random._mt19937.MT19937",
    "numpy.random.mtrand.RandomState",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
})


def verify_pin(path: Path, expected: str | None) -> bytes:
    """The artefact's bytes, read once; refused when the card pins a different sha256. The model is
    loaded from these bytes, never from the path again: a file swapped between the check and the
    load (with --allow-pickle, code that runs) would otherwise be loaded unpinned."""
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if expected is not None and actual.lower() != expected.lower():
        raise ModelLoadError(
            f"model artefact {path} does not match the sha256 pinned in the card "
            f"(card: {expected.lower()}, file: {actual}); refusing to load it"
        )
    return data


# skops.io lists the scikit-learn types it trusts, on import, through ``sklearn.utils.all_estimators``,
# which imports every module of scikit-learn: its array-API shims for PyTorch, CuPy and Dask too. With
# the text extra installed, that imported PyTorch and dask.array into every tabular audit (skops.io:
# 3.5 s to import on 2 AVX2 cores, 0.9 s without them). The shims hold no estimator (the trusted list
# is the same, tested), so empty stand-ins take their place while skops imports, and go after.
ARRAY_API_SHIMS = tuple(f"sklearn.externals.array_api_compat.{name}" for name in ("torch", "cupy", "dask"))


def import_skops_io():
    """``skops.io``, imported without scikit-learn's array-API shims pulling in PyTorch and Dask."""
    import types

    stand_ins = {name: types.ModuleType(name) for name in ARRAY_API_SHIMS if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        import skops.io
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return skops.io


def load_sklearn_estimator(path: Path, fmt: str, *, allow_pickle: bool, pinned_sha256: str | None):
    if not path.is_file():
        raise ModelLoadError(f"{path} is a folder, not a {fmt} file" if path.is_dir() else f"model artefact not found: {path}")
    data = verify_pin(path, pinned_sha256)
    if fmt == "skops":
        sio = import_skops_io()
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:  # a corrupt or non-skops file
            raise ModelLoadError(f"{path} is not a readable skops file: {exc}") from None
        refused = sorted(t for t in untrusted if t not in TRUSTED_SKOPS_TYPES)
        if refused:
            raise ModelLoadError(
                f"{path} contains types that are not on auditor's allow-list, refusing to load: "
                + ", ".join(refused)
            )
        try:
            return sio.loads(data, trusted=list(untrusted))
        except Exception as exc:
            raise ModelLoadError(f"cannot load {path}: {type(exc).__name__}: {exc}") from None
    if fmt in ("joblib", "pickle"):
        if not allow_pickle:
            raise ModelLoadError(
                f"{path} is a {fmt} file, and loading one can run arbitrary code; "
                "pass --allow-pickle if you trust it (and pin its sha256 in the card)"
            )
        import joblib

        try:
            return joblib.load(io.BytesIO(data))
        except Exception as exc:
            raise ModelLoadError(f"cannot load {path}: {type(exc).__name__}: {exc}") from None
    raise ModelLoadError(f"format {fmt!r} is not a scikit-learn format")


def missing_as_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a missing categorical cell as NaN, as ``pandas.read_csv`` gives it to the
    practitioner who fits the model: the dataset and the tabular codec hold it as None, which a
    ``SimpleImputer`` (``missing_values=np.nan``, its default) does not impute, so a pipeline that
    imputes categoricals scored an imputed row differently in the audit (ames: MAE $15,100 against
    the model's own $15,084 on the same file)."""
    objects = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().any()]
    if not objects:
        return frame
    frame = frame.copy()
    for c in objects:
        frame[c] = frame[c].where(frame[c].notna(), np.nan)
    return frame


def _dtype_categories(estimator, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns a HistGradientBoosting model fitted with ``categorical_features=
    "from_dtype"`` read as categories cast to pandas' category dtype, for refitting a clone of it: it
    predicts a CSV's text columns through the encoder it fitted, but a fit takes only a category dtype
    as a category and read HMDA's yes/no columns as numbers ("could not convert string to float")."""
    import pandas as pd  # imported on use, as the rest of this module

    mask = getattr(estimator, "is_categorical_", None)
    if getattr(estimator, "categorical_features", None) != "from_dtype" or mask is None or len(mask) != frame.shape[1]:
        return frame
    columns = [c for c, cat in zip(frame.columns, mask) if cat and not isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: "category" for c in columns}) if columns else frame


def _row_keys(frame: pd.DataFrame) -> list[int]:
    """The prediction cache's key of each row: a 64-bit hash over its feature columns that tells
    the text "5" from the number 5 (:func:`auditor.hashing.row_hashes`)."""
    return row_hashes(frame).tolist()


class TabularModel(AdapterBase):
    """The adapter of a fitted scikit-learn classifier: the caching, batching predictor, and what a
    feature is for removal (its evaluation-set mean, or most frequent value) and perturbation
    (Gaussian noise on numeric features, categoricals fixed).

    ``predict_proba(frame)`` hashes each row (pandas' 64-bit row hash over the feature columns in
    card order), answers known rows from the cache and sends only distinct unseen rows to the
    estimator, in batches.
    """

    kind = "scikit-learn tabular classifier"
    task = "tabular-classification"
    fit_targets_word = "labels"  # what ``randomised`` permutes, as its description says it (a regressor: targets)
    capabilities = frozenset({Capability.PROBABILITIES, Capability.FEATURE_TABLE, Capability.RANDOMISABLE})

    def __init__(self, estimator, feature_names: list[str], batch_size: int = 8192):
        if not hasattr(estimator, "predict_proba"):
            raise ModelLoadError(f"{type(estimator).__name__} has no predict_proba; auditor needs probabilities")
        self._init(estimator, feature_names, [str(c) for c in getattr(estimator, "classes_", [])], batch_size)

    def _init(self, estimator, feature_names: list[str], classes: list[str], batch_size: int) -> None:
        self.estimator = estimator
        self.feature_names = list(feature_names)
        self.classes = classes
        self._cache = PredictionCache(self._predict_rows, batch_size=batch_size)
        self._frame: pd.DataFrame | None = None

    @property
    def stats(self):
        return self._cache.stats

    def use_executor(self, executor) -> None:
        """Predict distinct rows in chunks on ``executor``'s workers (threads share the estimator)."""
        self._cache.executor = executor

    def input_notes(self, data) -> list[str]:
        from auditor.models.sklearn_categories import codes_as_text, unseen_categories

        try:  # numbers the encoder knows as text go to it as that text first (data changed in place)
            return codes_as_text(self.estimator, data) + unseen_categories(self.estimator, data.frame)
        except Exception:  # noqa: BLE001 - a model's structure is read on trust; one that will not say, says nothing
            return []

    def categorical_columns(self) -> dict[str, str]:
        from auditor.models.sklearn_categories import columns_read_as_categories

        try:
            return columns_read_as_categories(self.estimator, self.feature_names)
        except Exception:  # noqa: BLE001 - a model's structure is read on trust; one that will not say, says nothing
            return {}

    def inputs(self, data, rows: np.ndarray | None = None) -> pd.DataFrame:
        return data.frame if rows is None else data.frame.iloc[np.asarray(rows)]

    def removal_inputs(self, data, rows: np.ndarray) -> PerturbableInputs:
        """Rows encoded as floats (categoricals as codes); removing feature j sets it to the
        evaluation set's mean (numeric) or most frequent value (categorical)."""
        codec = TabularCodec(data.frame, data.categorical)
        return PerturbableInputs(
            X=codec.encode(data.frame.iloc[rows]),
            baseline=codec.encode(removal_baseline(data))[0],
            f_for=lambda c: (lambda Z: self.predict_proba(codec.decode(Z))[:, c]),
        )

    def perturbations(self, ctx, attr, vectors, params):
        return tabular_perturbations(ctx, attr, params)

    def perturbation_note(self, params) -> str:
        return (f"Tabular perturbation: N(0, ({params.noise_frac:g}·sd)²) on numeric features (sd over the "
                "evaluation set; the reference's S1 uses 0.01, so a larger value is a stricter test), categoricals fixed. Relative input stability "
                "measures the input change on the numeric features standardised over the evaluation set "
                "((x − mean) / sd), so it does not depend on their units or origin.")

    @staticmethod
    def mismatch(estimator) -> str | None:
        """Why ``estimator`` cannot be audited as a classifier (None when it can; a classifier without
        predict_proba is refused when the adapter is built)."""
        if estimator_type(estimator) == "regressor":
            return (f"the model is a {type(estimator).__name__}, which predicts numbers, not class probabilities; "
                    "audit it with task: tabular-regression")
        return None

    def _predict_rows(self, positions: list[int]) -> np.ndarray:
        proba = np.asarray(self._estimator_output("predict_proba", positions), dtype=float)
        return check_probabilities(proba, len(positions), len(self.classes))

    def _estimator_output(self, method: str, positions: list[int]):
        """The estimator's ``method`` of the current frame's rows at ``positions``. Where it raises, the
        error names the first row it cannot predict on its own, with its values (found by halving the
        rows), and that row's position in the frame (``position``): a category the encoder never saw
        had ended every check in an ERROR naming no row ("unknown categories ['c99'] in column 0")."""
        predict = getattr(self.estimator, method)
        try:
            return predict(self._frame.iloc[positions])
        except ROW_ERRORS as exc:  # the model's own error, re-raised with the row it is about
            position = first_unpredictable(predict, self._frame, positions)
            if position is None:
                raise
            row = self._frame.iloc[position]
            shown = ", ".join(f"{c}={(row[c].item() if isinstance(row[c], np.generic) else row[c])!r}"
                              for c in self._frame.columns[:MAX_SHOWN_VALUES])
            more = f" and {len(self._frame.columns) - MAX_SHOWN_VALUES} more features" \
                if len(self._frame.columns) > MAX_SHOWN_VALUES else ""
            error = ValueError(f"{type(self.estimator).__name__}.{method} fails on the row {shown}{more}: "
                               f"{type(exc).__name__}: {exc}{_CODES_HINT if 'unknown categor' in str(exc).lower() else ''}")
            error.position = position
            raise error from exc

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        frame = frame[self.feature_names].reset_index(drop=True)
        keys = _row_keys(frame)
        self._frame = missing_as_nan(frame)
        try:
            # one OpenMP thread per predicting thread; the limit and the warning filter are
            # process-wide, so they are set here, never in the workers
            with one_openmp_thread(), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "X does not have valid feature names"
                return self._cache(list(range(len(frame))), keys)
        finally:
            self._frame = None

    def remember_proba(self, frame: pd.DataFrame, proba: np.ndarray) -> None:
        """Answer ``frame``'s rows from now on with ``proba``: this model's probabilities of them,
        computed in another process (a cluster worker is given the main process's)."""
        self._cache.remember(_row_keys(frame[self.feature_names].reset_index(drop=True)), proba)

    def randomised(self, seed: int, *, data=None, n_layers: int = 1, embeddings: bool = False) -> "TabularModel":
        """A model of the same family that has learned nothing, for the sanity test.

        A clone of the estimator fitted on ``data`` (the evaluation set: the training data is not an
        input of the audit) with its labels permuted by ``seed`` — Adebayo's data-randomisation
        variant, since a scikit-learn estimator has no initialisation to reset; on at most
        :data:`RANDOMISED_FIT_ROWS` of them. ``n_layers`` and
        ``embeddings`` are the neural models' cascade options and do not apply. The description is
        in the new model's ``randomisation``.
        """
        from sklearn.base import clone

        if data is None:
            raise ValueError("a scikit-learn model is randomised by refitting on permuted labels: pass data=")
        estimator = clone(self.estimator)
        seeded = {k: seed for k, v in estimator.get_params().items() if k.endswith("random_state") and v is None}
        estimator.set_params(**seeded)
        rng = np.random.default_rng(seed)
        y = rng.permutation(self._fit_targets(data))
        frame = data.frame[self.feature_names]
        rows = "the evaluation rows"
        if len(frame) > RANDOMISED_FIT_ROWS:  # a model of permuted labels learns nothing from more rows
            keep = np.sort(rng.choice(len(frame), RANDOMISED_FIT_ROWS, replace=False))
            frame, y = frame.iloc[keep], y[keep]
            rows = f"{RANDOMISED_FIT_ROWS:,} of the {len(data.frame):,} evaluation rows (a seeded sample)"
        y, given = self._with_absent_classes(y, rng)
        # One OpenMP thread, as for prediction: multi-threaded tree fitting spins on small shared machines.
        with warnings.catch_warnings(), one_openmp_thread():
            warnings.simplefilter("ignore")  # convergence warnings are expected on permuted labels
            estimator.fit(_dtype_categories(self.estimator, missing_as_nan(frame)), y)  # as its predictions see them
        model = type(self)(estimator, self.feature_names, batch_size=self._cache.batch_size)
        model.randomisation = f"refitted on {rows} with {self.fit_targets_word} permuted (seed {seed}){given}"
        return model

    def _fit_targets(self, data) -> np.ndarray:
        """The evaluation labels as the estimator's classes, for refitting (see ``randomised``)."""
        lookup = {str(c): c for c in self.estimator.classes_}
        return np.asarray([lookup[str(y)] for y in data.labels])

    def _with_absent_classes(self, y: np.ndarray, rng) -> tuple[np.ndarray, str]:
        """Permuted labels ``y`` in which every class of the model occurs: a class no evaluation row
        has is given to :data:`ABSENT_CLASS_ROWS` rows drawn at random (labels permuted are random
        labels either way), so the copy has the model's classes and columns; and the words that say
        so. A ValueError where the other classes cannot spare the rows and keep as many each."""
        classes = list(self.estimator.classes_)
        absent = [c for c in classes if not np.any(y == c)]
        if not absent:
            return y, ""
        names = ", ".join(repr(str(c)) for c in absent)
        y = y.copy()
        # drawn among the rows of the classes with the most rows, so that every present class keeps some
        order = rng.permutation(len(y))
        counts = {c: int(np.sum(y == c)) for c in classes}
        taken = []
        for i in order:
            if len(taken) == ABSENT_CLASS_ROWS * len(absent):
                break
            if counts[y[i]] > ABSENT_CLASS_ROWS:
                counts[y[i]] -= 1
                taken.append(i)
        if len(taken) < ABSENT_CLASS_ROWS * len(absent):
            raise ValueError(f"no evaluation row is of class {names}, and the other classes have too few rows to "
                             f"spare {ABSENT_CLASS_ROWS} for {'it' if len(absent) == 1 else 'each'} in the copy refitted on permuted labels, which must know "
                             "every class of the model; evaluation rows of every class are needed")
        y[np.array(taken)] = np.repeat(np.array(absent, dtype=y.dtype), ABSENT_CLASS_ROWS)
        return y, (f"; no evaluation row is of class {names}, so {ABSENT_CLASS_ROWS} random rows were given "
                   f"{'it' if len(absent) == 1 else 'each'} for the copy to know every class of the model")


# An encoder that refuses unknown categories, met on a value the audit derived (a mean, a perturbation,
# a step towards a counterfactual: day_code=4.333) from a column of codes the card leaves numeric.
_CODES_HINT = (". Where no evaluation row holds these values, the audit derived them (a mean, a perturbation "
               "or a counterfactual step) from a column the card reads as numeric: a column of codes is "
               "declared `type: categorical` in the card's features, so that only its codes are used")
ABSENT_CLASS_ROWS = 5  # rows of permuted labels given a class no evaluation row has (an internal 5-fold CV needs 5)
MAX_SHOWN_VALUES = 12  # a row's features named in an error about it
# What an estimator raises on an input it cannot take (scikit-learn: an unknown category, a text where
# it needs a number, a missing column); anything else (a check's time budget) passes through untouched.
ROW_ERRORS = (ValueError, TypeError, KeyError, IndexError)


def first_unpredictable(predict, frame: pd.DataFrame, positions: list[int]) -> int | None:
    """The first of ``positions`` whose row ``predict`` raises on by itself, halving the rows (a few
    calls however many rows); None unless another row of ``frame`` predicts (a model that fails on
    every row is not failing on one) or when that row predicts alone (the rows fail only together)."""
    rows, predicted = list(positions), False
    while len(rows) > 1:
        head, tail = rows[: len(rows) // 2], rows[len(rows) // 2:]
        try:
            predict(frame.iloc[head])
        except ROW_ERRORS:  # the failing row is in this half
            rows = head
        else:
            rows, predicted = tail, True
    try:
        predict(frame.iloc[rows])
    except ROW_ERRORS:
        pass
    else:
        return None
    if not predicted:
        other = next((i for i in range(len(frame)) if i != rows[0]), None)
        try:
            if other is None:
                return None
            predict(frame.iloc[[other]])
        except ROW_ERRORS:  # it fails on another row too
            return None
    return rows[0]


def estimator_type(estimator) -> str | None:
    """"classifier", "regressor", "clusterer" or "outlier detector" by scikit-learn's tags, None when it
    has none (a duck-typed estimator)."""
    from sklearn import base

    # is_clusterer is scikit-learn 1.6's; before it, the estimator's _estimator_type said it
    is_clusterer = getattr(base, "is_clusterer", lambda e: getattr(e, "_estimator_type", None) == "clusterer")
    for name, test in (("regressor", base.is_regressor), ("classifier", base.is_classifier),
                       ("clusterer", is_clusterer), ("outlier detector", base.is_outlier_detector)):
        try:
            if test(estimator):
                return name
        except (AttributeError, TypeError):  # no __sklearn_tags__ anywhere in its classes
            return None
    return None


def removal_baseline(data) -> pd.DataFrame:
    """One row of per-feature "removal" values: the mean of each numeric feature and the most
    frequent value of each categorical one, over the evaluation set (the training data is not an
    input to the audit; the evaluation set stands in for it, and the report says so)."""
    import pandas as pd

    frame = data.frame
    row = {}
    for c in frame.columns:
        if c in data.categorical:
            mode = frame[c].dropna().mode()
            row[c] = mode.iloc[0] if len(mode) else None
        else:
            row[c] = float(frame[c].mean())
    return pd.DataFrame([row], columns=frame.columns)


def _check_fitted(estimator, path) -> None:
    """An estimator that was never fitted is refused as an artefact (it has no classes and predicts nothing)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ModelLoadError(f"{path}: the {type(estimator).__name__} in it was never fitted; save it after fit()") from None
    except Exception:  # noqa: BLE001 - not a scikit-learn estimator (no tags, no fit): the kind's own checks judge it
        pass


def load_tabular_model(card, feature_names: list[str], *, allow_pickle: bool = False,
                       kind: type = TabularModel) -> TabularModel:
    """Load the card's scikit-learn artefact behind ``kind`` (TabularModel or a subclass); an
    estimator of the other kind (a regressor under a classification card, or the reverse) is a
    located card error."""
    block = card.auditor
    estimator = load_sklearn_estimator(
        card.model_path, block.model.format, allow_pickle=allow_pickle, pinned_sha256=block.model.sha256
    )
    from auditor.errors import ModelCardError, Problem

    _check_fitted(estimator, card.model_path)
    problem = kind.mismatch(estimator)
    if problem:
        raise ModelCardError(str(card.path), [Problem("auditor.task", f"{block.task}: {problem}")])
    n_fitted = getattr(estimator, "n_features_in_", None)  # set by fit, named table or not
    if getattr(estimator, "feature_names_in_", None) is None and isinstance(n_fitted, (int, np.integer)) \
            and n_fitted != len(feature_names):
        raise ModelCardError(str(card.path), [Problem(
            "auditor.features", f"the model was fitted on {n_fitted} unnamed columns; the audit has {len(feature_names)} "
                                f"features ({', '.join(feature_names[:10])}{' …' if len(feature_names) > 10 else ''}); "
                                "list the model's columns, in its order, in the card's features")])
    fitted = getattr(estimator, "feature_names_in_", None)  # set when it was fitted on a named table
    if fitted is not None and [str(c) for c in fitted] != list(feature_names):
        fitted = [str(c) for c in fitted]
        missing = [c for c in fitted if c not in feature_names]
        extra = [c for c in feature_names if c not in fitted]
        detail = "; ".join(part for part in (
            f"the model needs {', '.join(map(repr, missing))}, which the audit's features lack" if missing else "",
            f"{', '.join(map(repr, extra))} {'is' if len(extra) == 1 else 'are'} not among the model's" if extra else "",
            "same names in another order" if not missing and not extra else "") if part)
        raise ModelCardError(str(card.path), [Problem(
            "auditor.features", f"the model was fitted on the columns {', '.join(fitted)}; {detail} "
                                "(the card's features, or the data's columns when the card lists none, must be the model's)")])
    return kind(estimator, feature_names)
