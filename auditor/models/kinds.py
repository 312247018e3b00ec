"""The model kinds the engine knows: which adapter serves a card, and loading it safely.

A new kind is one adapter class (implementing ``auditor.models.base.ModelAdapter``) and one entry
here. The plan reads a kind's capabilities from its class, so which checks run is known before any
model loads (``auditor validate``).
"""

from __future__ import annotations

import json
from pathlib import Path

from auditor.errors import ModelLoadError
from auditor.models.base import ModelAdapter
from auditor.models.regression import TabularRegressor
from auditor.models.tabular import TabularModel, load_tabular_model
from auditor.models.text import TextModel, classifier_head_problem, label_map_problem
from auditor.models.decoder import PromptedCausalLM, load_causal_lm, load_sequence_classifier

# card task -> adapter class
KINDS: dict[str, type] = {
    TabularModel.task: TabularModel,
    TabularRegressor.task: TabularRegressor,
    TextModel.task: TextModel,
}

# every adapter class, including those a card selects beyond its task (model.head: causal-lm)
ALL_KINDS: tuple[type, ...] = (TabularModel, TabularRegressor, TextModel, PromptedCausalLM)


def kind_for_card(card) -> type:
    """The adapter class serving ``card`` (its task, then its model head)."""
    if card.auditor.model.head == "causal-lm":
        return PromptedCausalLM
    return kind_for(card.auditor.task)


def kind_for(task: str) -> type:
    """The adapter class serving cards of ``task``."""
    if task not in KINDS:
        raise ValueError(f"no model kind serves task {task!r}; known: {', '.join(KINDS)}")
    return KINDS[task]


MAX_CONFIG_BYTES = 1 << 20


def classes_without_loading(card) -> list[str] | None:
    """The model's classes where they can be read without loading it (``auditor validate``): a
    prompted LM's label words, a transformers classifier's ``id2label`` in config.json. None where
    only loading tells (scikit-learn) or config.json does not name them plainly (the load will say).
    A head that is no classifier (one output, a regression head) is refused here as at load."""
    kind = kind_for_card(card)
    if kind is PromptedCausalLM:
        return list(card.auditor.label_words or {}) or None
    if kind is not TextModel:
        return None
    config_file = Path(card.model_path) / "config.json"
    try:
        if config_file.stat().st_size > MAX_CONFIG_BYTES:
            return None
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(config, dict) and (head := classifier_head_problem(config) or label_map_problem(config)):
        raise ModelLoadError(f"{config_file}: {head}")
    id2label = config.get("id2label") if isinstance(config, dict) else None
    if not isinstance(id2label, dict) or set(id2label) != {str(i) for i in range(len(id2label))}:
        return None
    names = [str(id2label[str(i)]) for i in range(len(id2label))]
    if len(set(names)) != len(names):  # the load refuses it (exit 4): so does validate, before blaming the labels
        raise ModelLoadError(f"{config_file}: id2label names a class twice ({names!r}); class names must be distinct")
    return names


def load_adapter(card, feature_names: list[str], *, allow_pickle: bool = False, device: str = "cpu") -> ModelAdapter:
    """Load the card's model artefact behind the adapter of its kind (refusing unsafe artefacts)."""
    kind = kind_for_card(card)
    m = card.auditor.model
    sizes = {k: v for k, v in (("max_length", m.max_length), ("batch_size", m.batch_size)) if v is not None}
    sizes.update(runtime=m.runtime, runtime_tolerance=m.runtime_tolerance, runtime_verify_inputs=m.runtime_verify_inputs)
    if kind is PromptedCausalLM:
        return load_causal_lm(card.model_path, prompt=card.auditor.prompt, label_words=card.auditor.label_words,
                              device=device, dtype=m.dtype, card_path=str(card.path),
                              prompt_variants=card.auditor.prompt_variants, **sizes)
    if kind is TextModel:
        return load_sequence_classifier(card.model_path, device=device, dtype=m.dtype, card_path=str(card.path), **sizes)
    return load_tabular_model(card, feature_names, allow_pickle=allow_pickle, kind=kind)
