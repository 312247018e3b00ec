"""What every check is: declared parameters, declared measurements, and a ``run`` that computes.

A check computes measurements and evidence and nothing else: no verdict (thresholds from the
policy decide), no markup (templates present).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from auditor.models.base import Capability

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


class Check(ABC):
    """One item of the checklist.

    Subclasses set ``name`` (the registry key, also the module and template name), ``title``,
    ``description`` (what it measures and why it matters, copied into the report), ``requires``
    (the model capabilities it needs; the plan skips it, with the missing ones as the reason, on a
    model without them), ``trust`` (whether it tests the explanations themselves: diff reports its
    drift) and ``Params``, and implement ``measurement_names`` and ``run``.

    The runner accounts what a check costs in model inputs and turns NaN measurements into None;
    a check only computes.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    requires: ClassVar[frozenset[Capability]] = frozenset({Capability.PROBABILITIES})
    trust: ClassVar[bool] = False
    Params: ClassVar[type[Params]] = Params

    @classmethod
    def applicable_tasks(cls) -> list[str]:
        """The card tasks whose model kind offers every capability this check requires."""
        from auditor.models.kinds import ALL_KINDS  # the kinds import the model libraries' wrappers

        return sorted({kind.task for kind in ALL_KINDS if cls.requires <= kind.capabilities})

    def __init__(self, params: Params):
        self.params = params

    @classmethod
    @abstractmethod
    def measurement_names(cls, params: Params) -> list[str]:
        """Every measurement ``run`` reports for these parameters (thresholds may name them)."""

    @abstractmethod
    def run(self, ctx: "AuditContext") -> CheckOutput:
        """Compute measurements and evidence."""
