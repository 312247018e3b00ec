"""The model kinds the engine knows: which adapter serves a card, and loading it safely.

A new kind is one adapter class (implementing ``auditor.models.base.ModelAdapter``) and one entry
here. The plan reads a kind's capabilities from its class, so which checks run is known before any
model loads (``auditor validate``).
"""

from __future__ import annotations

from auditor.models.base import ModelAdapter
from auditor.models.tabular import TabularModel, load_tabular_model
from auditor.models.text import TextModel, load_text_model

# card task -> adapter class
KINDS: dict[str, type] = {
    TabularModel.task: TabularModel,
    TextModel.task: TextModel,
}


def kind_for(task: str) -> type:
    """The adapter class serving cards of ``task``."""
    if task not in KINDS:
        raise ValueError(f"no model kind serves task {task!r}; known: {', '.join(KINDS)}")
    return KINDS[task]


def load_adapter(card, feature_names: list[str], *, allow_pickle: bool = False, device: str = "cpu") -> ModelAdapter:
    """Load the card's model artefact behind the adapter of its kind (refusing unsafe artefacts)."""
    kind = kind_for(card.auditor.task)
    if kind is TextModel:
        return load_text_model(card.model_path, device=device)
    return load_tabular_model(card, feature_names, allow_pickle=allow_pickle)
