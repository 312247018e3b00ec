"""What every check is: declared parameters, declared measurements, and a ``run`` that computes.

A check computes measurements and evidence and nothing else: no verdict (thresholds from the
policy decide), no markup (templates present).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from auditor.engine.context import AuditContext


class Params(BaseModel):
    """Base of every check's parameters: unknown keys are rejected when the policy loads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_budget_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # stop the check and report ERROR past this wall time


@dataclass
class CheckOutput:
    measurements: dict[str, float | None]
    evidence: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    key_figure: str = ""
    cost: dict[str, Any] = field(default_factory=dict)
    sample_sizes: list = field(default_factory=list)  # SampleSize per measurement (auditor/results.py)


def sample_sizes_of(measurements: dict[str, float | None], n: int) -> list:
    """One SampleSize per measurement, all resting on the same ``n`` (rows or explained instances)."""
    from auditor.results import SampleSize

    return [SampleSize(measurement=name, n=int(n)) for name in measurements]


class Check(ABC):
    """One item of the checklist.

    Subclasses set ``name`` (the registry key, also the module and template name), ``title``,
    ``description`` (what it measures and why it matters, copied into the report), ``tasks`` (the
    model tasks it applies to) and ``Params``, and implement ``measurement_names`` and ``run``.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    tasks: ClassVar[frozenset[str]] = frozenset({"tabular-classification", "text-classification"})
    Params: ClassVar[type[Params]] = Params

    def __init__(self, params: Params):
        self.params = params

    @classmethod
    @abstractmethod
    def measurement_names(cls, params: Params) -> list[str]:
        """Every measurement ``run`` reports for these parameters (thresholds may name them)."""

    @abstractmethod
    def run(self, ctx: "AuditContext") -> CheckOutput:
        """Compute measurements and evidence."""
