"""card_completeness: does the model card document what a reviewer needs?"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from auditor.checks.base import NON_NEGATIVE, UNIT, Check, CheckOutput, Params
from auditor.inputs.model_card import PLACEHOLDER
from auditor.results import Table

# Canonical field -> (front-matter keys that satisfy it, section headings that satisfy it).
# Derived from Mitchell et al. 2019 and the Hugging Face template (reference/ecosystem.md §1.5).
REQUIRED_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "name": (("model-index", "auditor.name"), ()),
    "version": (("auditor.version",), ()),
    "owner or contact": ((), ("developed by", "model card contact", "contact", "model details", "authors")),
    "license": (("license",), ("license",)),
    "model type": (("library_name", "pipeline_tag", "base_model"), ("model type", "model details")),
    "intended use": ((), ("intended use", "uses", "direct use")),
    "out-of-scope use": ((), ("out-of-scope", "out of scope", "misuse")),
    "training data": (("datasets",), ("training data",)),
    "evaluation data": ((), ("evaluation data", "testing data", "evaluation")),
    "metrics": (("model-index", "metrics"), ("metrics", "results")),
    "limitations": ((), ("limitations", "bias, risks", "caveats")),
    "ethical considerations": ((), ("ethical considerations", "ethics", "bias, risks", "recommendations")),
}


class CardCompletenessParams(Params):
    required: list[str] = Field(default=list(REQUIRED_FIELDS), min_length=1)

    @field_validator("required")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [f for f in v if f not in REQUIRED_FIELDS]
        if unknown:
            raise ValueError(f"unknown card fields {unknown}; known: {', '.join(REQUIRED_FIELDS)}")
        return v


def _meta_value(metadata: dict, dotted: str):
    value = metadata
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _filled(value) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip()) and PLACEHOLDER not in value
    if isinstance(value, (list, dict)):
        return len(value) > 0
    return True


def sections(body: str) -> dict[str, str]:
    """Markdown sections: lower-cased heading text -> the text under it (up to the next heading)."""
    out: dict[str, str] = {}
    current, lines = None, []
    for line in body.splitlines():
        m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            if current is not None:
                out[current] = "\n".join(lines)
            current, lines = m.group(1).strip().lower(), []
        elif current is not None:
            lines.append(line)
        # Inline "**Developed by:** X" lines count as a section of their own.
        bold = re.match(r"^\s*[-*]?\s*\*\*(.+?):?\*\*:?\s*(.*)$", line)
        if bold:
            out.setdefault(bold.group(1).strip().rstrip(":").lower(), bold.group(2))
    if current is not None:
        out[current] = "\n".join(lines)
    return out


def find_field(field: str, metadata: dict, body_sections: dict[str, str]) -> str | None:
    """Where the card fills ``field`` ("front matter: license", "section: Limitations"), or None."""
    keys, headings = REQUIRED_FIELDS[field]
    for key in keys:
        if _filled(_meta_value(metadata, key)):
            return f"front matter: {key}"
    for heading, text in body_sections.items():
        if any(h in heading for h in headings) and _filled(text):
            return f"section: {heading}"
    return None


class CardCompleteness(Check):
    name = "card_completeness"
    title = "Model card completeness"
    description = (
        "Whether the model card documents each field a reviewer needs (name, version, owner, "
        "licence, model type, intended and out-of-scope use, training and evaluation data, metrics, "
        "limitations, ethical considerations). A field filled with the template placeholder "
        f"'{PLACEHOLDER}' counts as missing."
    )
    Params = CardCompletenessParams

    # the share of the required fields the card documents, and how many it leaves out
    ranges = {"completeness": UNIT, "missing_fields": NON_NEGATIVE}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["completeness", "missing_fields"]

    def run(self, ctx) -> CheckOutput:
        unknown = [f for f in self.params.required if f not in REQUIRED_FIELDS]
        if unknown:
            raise ValueError(f"unknown card fields {unknown}; known: {', '.join(REQUIRED_FIELDS)}")
        card = ctx.card
        body_sections = sections(card.body)
        rows, missing = [], []
        for field in self.params.required:
            where = find_field(field, card.metadata, body_sections)
            rows.append([field, "present" if where else "missing", where or ""])
            if where is None:
                missing.append(field)
        n = len(self.params.required)
        share = (n - len(missing)) / n if n else 1.0
        summary = (
            f"The card documents {n - len(missing)} of {n} required fields."
            + (f" Missing: {', '.join(missing)}." if missing else "")
        )
        notes = [f"model-index problems: {p}" for p in card.claim_problems]
        return CheckOutput(
            measurements={"completeness": share, "missing_fields": float(len(missing))},
            evidence=[Table(title="Required card fields", columns=["field", "status", "found in"], rows=rows,
                            detail=not missing)],  # a full card: the summary says it, the list is detail
            summary=summary, key_figure=f"{n - len(missing)}/{n} fields", notes=notes,
        )
