"""The built-in policies, where a policy name or path points, and what `auditor policies` lists of
each. No pydantic and no check is imported here: listing the policies stays instant (issue 17); the
full load, validated against the schema, is load.py."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from auditor.errors import PolicyError, UsageError
from auditor.inputs.yamlio import not_a_file, shown_path
from auditor.policy.inheritance import load_chain, merge_chain


def builtin_policy_dir() -> Path:
    """Built-in policies: inside the wheel, or the repository's ``policies/`` in a checkout."""
    packaged = resources.files("auditor") / "_data" / "policies"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "policies"


def builtin_policies() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_policy_dir().glob("*.yaml"))}


def resolve_policy_path(name_or_path: str | Path) -> Path:
    if not str(name_or_path).strip():
        raise UsageError("--policy is empty: give a built-in policy's name or a policy file")
    path = Path(name_or_path)
    why = not_a_file(path)
    if path.suffix in (".yaml", ".yml") or why != "does not exist":
        if why:
            raise UsageError(f"policy file not found: {path}" if why == "does not exist" else
                             f"policy {shown_path(path)} {why}")
        return Path(os.path.abspath(path))  # recorded in the run: relative to where the command ran, it would name nothing later
    known = builtin_policies()
    if str(name_or_path) not in known:
        raise UsageError(
            f"unknown policy {str(name_or_path)!r}: not a file, and not a built-in policy "
            f"(built-ins: {', '.join(known) or 'none'})"
        )
    return known[str(name_or_path)]


def policy_summary(name_or_path: str | Path) -> dict[str, Any]:
    """What `auditor policies` lists of a policy: its identity (never inherited: the file's own) and
    how many checks it resolves to, merged as :func:`load_policy` merges the chain but without
    validating the checks' parameters, which imports every check (most of the command's start-up).
    The built-in policies are validated in full by the test suite; `policies show`, `validate` and
    `run` validate whatever they load."""
    files = load_chain(resolve_policy_path(name_or_path), builtin_policies())
    _, entries, _, problems = merge_chain(files)
    if problems:
        raise PolicyError(files[0].source, problems)
    raw = files[0].raw
    return {"id": raw.get("id") or raw.get("name", ""), "version": str(raw.get("version", "")),
            "owner": str(raw.get("owner") or ""), "extends": raw.get("extends") or "",
            "description": " ".join(str(raw.get("description") or "").split()), "checks": len(entries)}


# A full stop that ends a sentence: white space and a capital letter follow it, and it does not end an
# abbreviation written mid-sentence ("(e.g. an Annex III score)", "(Art. 15(3))": split at every ". ",
# the listing cut eu-ai-act-high-risk's description at "(e.g").
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bArt)(?<!\bcf)\.\s+(?=[A-Z])")


def first_sentence(text: str) -> str:
    """The first sentence of a policy's description, as `auditor policies` lists it (without its full stop)."""
    return _SENTENCE_END.split(text, maxsplit=1)[0].removesuffix(".")
