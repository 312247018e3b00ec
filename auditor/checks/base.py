"""What every check is: declared parameters, declared measurements, and a ``run`` that computes.

A check computes measurements and evidence and nothing else: no verdict (thresholds from the
policy decide), no markup (templates present).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict, Field

from auditor.inputs.validation import NumbersNotBooleans
from auditor.models.base import Capability
from auditor.results import NBSP

if TYPE_CHECKING:
    from auditor.engine.context import AuditContext

# Upper bounds of check parameters: a policy asking for more is rejected when it loads (exit 3),
# not minutes or a MemoryError into a run. Each is far above what the built-in policies use.
MAX_INSTANCES = 10_000  # rows explained or compared by one check
MAX_SHOWN = 100  # rows, features or words drawn in the report
MAX_TOP_K = 1_000  # features or words in a top-k set
MAX_RESAMPLES = 10_000  # bootstrap resamples, random-control runs
MAX_CONTROL_ORDERS = 100  # random orders averaged into one instance's control: each is a full set of removal curves
MAX_REPEATS = 100  # permutation-importance repeats
MAX_SEEDS = 20  # seed re-runs: each is a full explainer run
MAX_RANDOMISED = 10  # randomised models of the sanity test: each is a refit or re-initialised copy, explained
MAX_PERTURBATIONS = 50  # perturbed copies per instance, each re-explained
MAX_ROWS = 10_000_000  # dataset rows a check may use
MAX_CURVE_STEPS = 1_000  # points on a removal curve
MAX_LAYERS = 1_000  # network layers
MAX_CHARS = 100_000  # characters of a text shown in the report
MAX_TIME_BUDGET_S = 7 * 24 * 3600.0  # a week of wall time

MAX_BARS = 25  # bars in one chart: at 124 the chart was shrunk to a strip of 1-pixel bars and overlapping labels


def most_bars(labels: list[str], values: list[float], key: list[float], *, what: str, largest: str,
              keep: tuple[str, ...] = ()) -> tuple[list, list, str]:
    """At most :data:`MAX_BARS` bars of a chart (and the labels in ``keep``, a sensitive feature),
    those with the largest ``key``, in their given order; and the caption's sentence saying what was
    left out, e.g. "Drawn: the 25 features with the largest share of 124." ("" when nothing was)."""
    if len(labels) <= MAX_BARS:
        return list(labels), list(values), ""
    top = set(sorted(range(len(labels)), key=lambda i: -key[i])[:MAX_BARS])
    kept = {i for i, label in enumerate(labels) if label in keep} - top
    shown = sorted(top | kept)
    also = f", and {len(kept)} more that the caption names" if kept else ""
    return ([labels[i] for i in shown], [values[i] for i in shown],
            f" Drawn: the {MAX_BARS} {what} with the {largest} of {len(labels)}{also}.")


def priority_caveat(regression: bool) -> str:
    """The sentence a share over explained rows needs: those rows lead with the model's errors (the
    audit's priority order), so the share, and its interval, describe them, not the evaluation set."""
    first = "large errors" if regression else "misclassified and borderline rows"
    return (f" These rows are the first of the audit's priority order ({first} first), not a random sample: the "
            "share describes them, not the evaluation set.")


# The values a measurement can take, (lowest, highest), from its metric's definition; None: no end on
# that side. A gate whose bound lies at or beyond an end judges nothing (policy.thresholds.hollow_gate).
Range = tuple[float | None, float | None]
UNIT: Range = (0.0, 1.0)  # a share, a rate, an agreement, an AUC, a p-value
SIGNED_UNIT: Range = (-1.0, 1.0)  # a correlation, a difference of two shares
CORRELATION_DIFFERENCE: Range = (-2.0, 2.0)  # a difference of two correlations
NON_NEGATIVE: Range = (0.0, None)  # a count, a distance, an absolute error, a ratio of such
UNBOUNDED: Range = (None, None)  # in the model's output units (a regressor's target), or a difference of such


# Instances a median (or an interval) of per-instance scores needs before a gate judges it: below,
# one or two rows would decide the verdict (SampleSize.min_n; the gate ends in ERROR saying so).
MIN_JUDGED = 5


def count(default: int | None, maximum: int, minimum: int = 1, **kw) -> Any:
    """A count field: an int in [minimum, maximum] (None allowed when the annotation says so)."""
    return Field(default, ge=minimum, le=maximum, **kw)


def fraction(default: float, *, low_open: bool = True, high_open: bool = True, **kw) -> Any:
    """A float field in (0, 1), with either end closed on request; NaN and infinities rejected."""
    bounds = {"gt" if low_open else "ge": 0.0, "lt" if high_open else "le": 1.0}
    return Field(default, allow_inf_nan=False, **bounds, **kw)


class Params(NumbersNotBooleans):
    """Base of every check's parameters: unknown keys are rejected when the policy loads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_budget_s: float | None = Field(default=None, gt=0, le=MAX_TIME_BUDGET_S, allow_inf_nan=False)  # stop the check and report ERROR past this wall time


@dataclass
class CheckOutput:
    measurements: dict[str, float | None]
    evidence: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    key_figure: str = ""
    cost: dict[str, Any] = field(default_factory=dict)
    sample_sizes: list = field(default_factory=list)  # SampleSize per measurement (auditor/results.py)


def feature_value_text(value: float) -> str:
    """A feature's value as a reviewer reads it in a sentence or a table cell: four significant
    digits, but from 1000 up every digit before the point and no exponent (the credit report's
    'Assets=2e+04' was 20000, and 12345 would have read 1.234e+04). No thousands separator: a value
    is shown as the data holds it (a year 2003 stays 2003)."""
    import math

    value = float(value)
    return f"{value:.0f}" if math.isfinite(value) and 1e3 <= abs(value) < 1e15 else f"{value:.4g}"


def possessive(name: str) -> str:
    """``name``'s, as a summary writes it; a name ending in s takes the apostrophe alone
    (integrated_gradients', not integrated_gradients's)."""
    return f"{name}'" if str(name).lower().endswith("s") else f"{name}'s"


def gated_cell(gated: bool, minimum: int) -> str:
    """A table's "gated" cell for a group or cohort: "yes", or "no (n < minimum)" kept on one line (a
    no-break space each side of "<": "no (n <" had wrapped from "30)" in the narrow column)."""
    return "yes" if gated else f"no (n{NBSP}<{NBSP}{minimum})"


def with_n(figure: str, n: int | None) -> str:
    """A check's key figure with the number of rows or explained instances it rests on, as the
    terminal's summary table, a CI step summary and JUnit show it ("AUC 0.849 (n = 1,114)"): the
    report's tables say their n, and a figure alone on a console had not."""
    return f"{figure} (n = {int(n):,})" if figure and n is not None else figure


def sample_sizes_of(measurements: dict[str, float | None], n: int, min_n: int | None = None) -> list:
    """One SampleSize per measurement, all resting on the same ``n`` (rows or explained instances),
    judged from ``min_n`` up where given."""
    from auditor.results import SampleSize

    return [SampleSize(measurement=name, n=int(n), min_n=min_n) for name in measurements]


class Check(ABC):
    """One item of the checklist.

    Subclasses set ``name`` (the registry key, also the module and template name), ``title``,
    ``description`` (what it measures and why it matters, copied into the report), ``requires``
    (the model capabilities it needs; the plan skips it, with the missing ones as the reason, on a
    model without them), ``trust`` (whether it tests the explanations themselves: diff reports its
    drift) and ``Params``, implement ``measurement_names`` and ``run``, and declare the range of each
    measurement (``ranges``, or ``measurement_ranges`` where the names follow the parameters).

    The runner accounts what a check costs in model inputs and turns NaN measurements into None;
    a check only computes.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    requires: ClassVar[frozenset[Capability]] = frozenset()  # default: every model kind
    trust: ClassVar[bool] = False
    Params: ClassVar[type[Params]] = Params
    # the parameters naming the explainers it follows (a name or a list): on a task that has none of
    # them the plan skips it, as for a missing capability, so validate says so before any model loads
    explainer_params: ClassVar[tuple[str, ...]] = ()
    # the explainers it runs whatever its parameters (global importance's SHAP ranking, attention's maps)
    explains_always: ClassVar[tuple[str, ...]] = ()
    # the range of each measurement it can report, by name (a check whose names follow its parameters
    # builds them in measurement_ranges instead)
    ranges: ClassVar[dict[str, Range]] = {}
    # per parameter, the measurements (names or endings) whose judgement rests on it where not all of the
    # check's do: the gates a child policy loosens by changing it (policy/loosening.py's rules) are those
    # alone; a parameter not named here bears on every gate of the check
    rests_on: ClassVar[dict[str, tuple[str, ...]]] = {}
    # per parameter that loosens some gates when raised and others when lowered (loosening.py's BOTH_WAYS:
    # an interval's ``confidence``), how each measurement (a name or an ending; the longest that matches)
    # moves as the parameter rises: "falls", "rises", or "either" (the parameter picks what is measured or
    # whether it is, so a change either way can loosen a gate on it). A gate bounded from above (max) on a
    # measurement that falls is loosened by raising the parameter, one bounded from below (min) by lowering
    # it; on one that rises, the other way round. A measurement not named does not move with it.
    moves_with: ClassVar[dict[str, dict[str, str]]] = {}

    @classmethod
    def explainers(cls, params: Params, task: str) -> list[str]:
        """Every explainer this check asks the context for on ``task`` with these ``params`` (those
        its ``explainer_params`` name and those it ``explains_always``) that the task has: whose
        settings the policy must give this task, and whose cost the compute bound counts. A contract
        test holds each check to it (it asks for no other)."""
        from auditor.explain import EXPLAINERS

        names = list(cls.explains_always)
        for name in cls.explainer_params:
            value = getattr(params, name)
            names += [value] if isinstance(value, str) else list(value)
        return [m for m in dict.fromkeys(names) if m in EXPLAINERS.get(task, {})]

    @classmethod
    def applicable_tasks(cls) -> list[str]:
        """The card tasks whose model kind offers every capability this check requires."""
        from auditor.models.kinds import ALL_KINDS  # the kinds import the model libraries' wrappers

        return sorted({kind.task for kind in ALL_KINDS if cls.requires <= kind.capabilities})

    def __init__(self, params: Params, gated: frozenset[str] = frozenset()):
        self.params = params
        # the measurements the policy holds to a warning or blocking bound for this model, so a
        # summary names the figure that was judged, not one the check guessed at
        self.gated = frozenset(gated)

    @classmethod
    @abstractmethod
    def measurement_names(cls, params: Params) -> list[str]:
        """Every measurement ``run`` reports for these parameters (thresholds may name them)."""

    @classmethod
    def measurement_ranges(cls, params: Params) -> dict[str, Range]:
        """The range of each measurement ``measurement_names`` gives for these parameters, on any model
        kind (the widest over kinds: a classifier's deletion AUC is a share, a regressor's is not); by
        default read from ``ranges``. Every measurement has one (a contract test holds every check to it)."""
        return {name: cls.ranges[name] for name in cls.measurement_names(params) if name in cls.ranges}

    @classmethod
    def description_for(cls, capabilities) -> str:
        """What the report says the check does, for a model with these ``capabilities`` (None:
        unknown). By default one text for every model; a check whose method differs by kind
        (performance: a classifier's ROC AUC, a regressor's MAE) says only what it does for this one."""
        return cls.description

    @classmethod
    def title_for(cls, capabilities) -> str:
        """The check's title for a model with these ``capabilities`` (None: unknown); by default one
        for every model."""
        return cls.title

    @classmethod
    def kind_measurement_names(cls, params: Params, kind) -> list[str]:
        """The measurements ``run`` can report on a model of ``kind`` (an adapter class: a gate on
        any other is never judged there); by default every one. A check whose measurements depend
        on what the model predicts (a regressor's R² against a classifier's ROC AUC) narrows it."""
        return cls.measurement_names(params)

    @abstractmethod
    def run(self, ctx: "AuditContext") -> CheckOutput:
        """Compute measurements and evidence."""


class PerExplainerCheck(Check):
    """A check that reports the same measurements for each explainer its one ``explainer_params``
    entry names: ``<explainer><suffix>`` for every suffix of ``suffixes``, each with its range."""

    suffixes: ClassVar[dict[str, Range]] = {}

    @classmethod
    def measurement_ranges(cls, params: Params) -> dict[str, Range]:
        (named,) = cls.explainer_params
        return {f"{m}{s}": r for m in getattr(params, named) for s, r in cls.suffixes.items()}

    @classmethod
    def measurement_names(cls, params: Params) -> list[str]:
        return list(cls.measurement_ranges(params))
