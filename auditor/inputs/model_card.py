"""Model cards: a Hugging Face README.md (YAML front matter + Markdown) with an ``auditor:`` block.

Parsed locally, never touching a hub. Paths in the card are relative to the card's folder. A plain
YAML file with the same keys is accepted too.
"""

from __future__ import annotations

import errno
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor.errors import ModelCardError, Problem
from auditor.inputs.claim_metrics import claimed_metric, task_claim_problems
from auditor.inputs.validation import NumbersNotBooleans, pydantic_problems
from auditor.inputs.yamlio import load_yaml_text, read_text_limited

MAX_CARD_BYTES = 2_000_000
PLACEHOLDER = "[More Information Needed]"


class ModelArtefact(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    format: Literal["skops", "joblib", "pickle", "transformers"]
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    # transformers only: the head (a causal LM needs prompt + label_words), and bounded run settings
    head: Literal["sequence-classification", "causal-lm"] = "sequence-classification"
    max_length: int | None = Field(default=None, ge=8, le=8192)
    batch_size: int | None = Field(default=None, ge=1, le=512)
    dtype: Literal["float32", "bfloat16"] = "float32"
    # forward passes on ONNX Runtime or a bfloat16 copy (checked against PyTorch; see auditor/models/onnx_runtime.py)
    runtime: Literal["torch", "onnx", "onnx-int8", "torch-bf16"] = "torch"
    runtime_tolerance: float = Field(default=1e-4, gt=0, le=0.1)  # largest |p_onnx - p_torch| accepted
    runtime_verify_inputs: int = Field(default=64, ge=1, le=1024)  # evaluation texts compared with PyTorch


class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: Literal["numeric", "categorical"] | None = None


class AuditorBlock(NumbersNotBooleans):
    """The audit facts of a card (its ``auditor:`` block)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Literal["tabular-classification", "tabular-regression", "text-classification"]
    model: ModelArtefact
    name: str | None = None
    version: str = "unversioned"
    target: str
    positive_class: str | int | None = None
    favourable_class: str | int | None = None  # the outcome an applicant wants (selection rate, four-fifths rule)
    features: list[FeatureSpec] | None = None
    text_column: str | None = None
    sensitive_features: list[str] = Field(default_factory=list)
    immutable_features: list[str] = Field(default_factory=list)  # tabular features recourse and adversarial search never change
    decision_threshold: float | None = Field(default=None, gt=0, lt=1, allow_inf_nan=False)
    missing_values: Literal["reject", "allow"] = "reject"
    ignore_columns: list[str] = Field(default_factory=list)
    prompt: str | None = Field(default=None, min_length=1, max_length=4000)  # causal-lm: "... {text} ..."
    label_words: dict[str, str] | None = None  # causal-lm: class -> the word that answers it
    prompt_variants: list[str] | None = Field(default=None, max_length=10)  # causal-lm: paraphrases (prompt_sensitivity)
    # the rows of the sample (not this evaluation set) the model-index claims were measured on: one number,
    # or one per model-index dataset name; a claim's noise then widens the interval it is compared with
    claims_rows: int | dict[str, int] | None = None

    @field_validator("claims_rows", mode="before")
    @classmethod
    def _row_counts(cls, v: Any) -> Any:
        counts = list(v.values()) if isinstance(v, dict) else [] if v is None else [v]
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts):
            raise ValueError("a whole number of rows (at least 1), or a mapping from a model-index dataset name to one; "
                             f"got {v!r}")
        if isinstance(v, dict):  # a dataset named 2024 in YAML is the number 2024; model-index names read as text
            if any(isinstance(k, bool) or not isinstance(k, (str, int, float)) for k in v):
                raise ValueError(f"each key is a model-index dataset name; got {v!r}")
            return {str(k): n for k, n in v.items()}
        return v

    @field_validator("features", mode="before")
    @classmethod
    def _feature_names(cls, v: Any) -> Any:
        # ``features: [Age, Income]`` is shorthand for ``[{name: Age}, {name: Income}]``.
        if isinstance(v, list):
            odd = [f for f in v if not isinstance(f, (str, dict))]
            if odd:  # a number or a list: pydantic would say "valid dictionary or instance of FeatureSpec"
                raise ValueError(f"each feature is a column name or {{name: ..., type: ...}}; got {odd[0]!r} "
                                 "(quote a column named by a number)")
            return [{"name": f} if isinstance(f, str) else f for f in v]
        return v


class Claim(BaseModel):
    """One metric the card claims in ``model-index``."""

    model_config = ConfigDict(frozen=True)

    metric: str
    value: float
    dataset: str = ""
    split: str = ""
    verified: bool = False
    rows: int | None = None  # the rows of another sample it was measured on (auditor.claims_rows); None: taken as exact
    location: str = ""  # where the card claims it: model-index[0].results[0].metrics[1]


class ModelCard(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    sha256: str
    metadata: dict[str, Any]
    body: str
    auditor: AuditorBlock
    claims: list[Claim]
    claim_problems: list[str]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def model_path(self) -> Path:
        return (self.folder / self.auditor.model.path).resolve()

    @property
    def model_name(self) -> str:
        if self.auditor.name:
            return self.auditor.name
        index = self.metadata.get("model-index")
        if isinstance(index, list) and index and isinstance(index[0], dict) and index[0].get("name"):
            return str(index[0]["name"])
        return self.folder.name or "model"

    @property
    def feature_names(self) -> list[str] | None:
        return None if self.auditor.features is None else [f.name for f in self.auditor.features]


PROMPT_SLOT = re.compile(r"\{+\s*[A-Za-z_]\w*\s*\}+")  # {text}, {{text}}, { text }, {label}, {input}


def text_slot_problem(prompt: str) -> str | None:
    """Why a prompt is not one with ``{text}`` exactly once and no other placeholder, or None. Only
    ``{text}`` is filled in: a Jinja-style ``{{text}}`` had put the text between braces the model read, and
    another placeholder (``{label}``, ``{input}``, ``{ text }``) was read by the model as written."""
    others = sorted({m.group() for m in PROMPT_SLOT.finditer(prompt)} - {"{text}"})
    count = prompt.count("{text}")
    if count != 1:
        hint = f" ({', '.join(others[:3])} is not it: only {{text}} is filled in)" if others else ""
        return f"must contain {{text}} exactly once (where the input goes); found it {count} times{hint}"
    braced = [o for o in others if o.startswith("{{") and o.strip("{} ") == "text"]
    if braced:
        return (f"{braced[0]} would put the text between braces the model reads (only {{text}} is filled in, no "
                "template language's placeholder): write {text}")
    if others:
        return (f"only {{text}} is filled in: {', '.join(others[:3])} would be read by the model as written; write "
                "it otherwise, or leave it out")
    return None


def prompt_problems(block: AuditorBlock) -> list[Problem]:
    """A causal-LM head needs a prompt with exactly one ``{text}`` and two or more label words; the
    other heads take neither. Run settings (max_length, batch_size, dtype, runtime) are for transformers only."""
    problems: list[Problem] = []
    causal = block.model.head == "causal-lm"
    if block.model.format != "transformers":
        for key, default in (("head", "sequence-classification"), ("max_length", None), ("batch_size", None),
                             ("dtype", "float32"), ("runtime", "torch")):
            if getattr(block.model, key) != default:
                problems.append(Problem(f"auditor.model.{key}", "only for format: transformers"))
    if not causal:
        for key in ("prompt", "label_words", "prompt_variants"):
            if getattr(block, key) is not None:
                problems.append(Problem(f"auditor.{key}", "only for model.head: causal-lm"))
        return problems
    if block.prompt is None:
        problems.append(Problem("auditor.prompt", 'required for model.head: causal-lm (e.g. "review: {text} sentiment:")'))
    elif why := text_slot_problem(block.prompt):
        problems.append(Problem("auditor.prompt", why))
    for i, variant in enumerate(block.prompt_variants or []):
        if why := text_slot_problem(variant):
            problems.append(Problem(f"auditor.prompt_variants[{i}]", why))
    if block.label_words is None:
        problems.append(Problem("auditor.label_words", "required for model.head: causal-lm (class -> word)"))
    else:
        if len(block.label_words) < 2:
            problems.append(Problem("auditor.label_words", "needs at least two classes"))
        for cls, word in block.label_words.items():
            if not str(word).strip():
                problems.append(Problem(f"auditor.label_words.{cls}", "empty label word"))
    return problems


def immutable_problems(block: AuditorBlock) -> list[Problem]:
    """``immutable_features`` name features of a tabular model, each once, and when the card lists its
    ``features``, among them (else load_dataset checks them against the dataset's feature columns)."""
    problems: list[Problem] = []
    if block.immutable_features and not block.task.startswith("tabular-"):
        return [Problem("auditor.immutable_features", "only for tabular models (features a search may not change)")]
    known = [f.name for f in block.features] if block.features is not None else None
    seen: set[str] = set()
    for i, name in enumerate(block.immutable_features):
        if name in seen:
            problems.append(Problem(f"auditor.immutable_features[{i}]", f"{name!r} is listed twice"))
        seen.add(name)
        if name == block.target:  # as sensitive_features and ignore_columns say it (it had read "not a feature")
            problems.append(Problem(f"auditor.immutable_features[{i}]", f"{name!r} is the target; immutable_features "
                                                                        "names features a search may not change"))
        elif known is not None and name not in known:
            problems.append(Problem(f"auditor.immutable_features[{i}]",
                                    f"{name!r} is not a feature of the model (features: {', '.join(known)})"))
    return problems


def column_problems(block: AuditorBlock) -> list[Problem]:
    """The columns the card names: each feature and sensitive feature once; the target neither a
    feature nor the text column (label leakage) nor ignored; an ignored column neither a feature, a
    sensitive one nor the text column."""
    problems: list[Problem] = []
    features = [f.name for f in block.features] if block.features is not None else []
    if block.features is not None and not features:
        problems.append(Problem("auditor.features", "empty: list the model's features, or leave the key out to use "
                                                    "every column but the target"))
    for key, names in (("features", features), ("sensitive_features", block.sensitive_features)):
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                problems.append(Problem(f"auditor.{key}[{i}]", f"{name!r} is listed twice"))
            seen.add(name)
    if block.target in features:
        problems.append(Problem(f"auditor.features[{features.index(block.target)}]",
                                f"{block.target!r} is the target: a model fed its own label is label leakage"))
    if block.text_column is not None and block.text_column == block.target:
        problems.append(Problem("auditor.text_column", f"{block.target!r} is the target: a model fed its own label is "
                                                       "label leakage"))
    for key, names in (("sensitive_features", block.sensitive_features), ("ignore_columns", block.ignore_columns)):
        if block.target in names:
            problems.append(Problem(f"auditor.{key}[{names.index(block.target)}]", f"{block.target!r} is the target"))
    if block.text_column is not None and block.text_column in block.ignore_columns:
        problems.append(Problem(f"auditor.ignore_columns[{block.ignore_columns.index(block.text_column)}]",
                                f"{block.text_column!r} is the text column of the card; it cannot also be ignored"))
    for i, name in enumerate(block.ignore_columns):
        if name in features or name in block.sensitive_features:
            kind = "a feature" if name in features else "a sensitive feature"
            problems.append(Problem(f"auditor.ignore_columns[{i}]", f"{name!r} is {kind} of the card; it cannot also be ignored"))
    return problems


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """Split ``---\\nyaml\\n---\\nbody``; returns (yaml or None, body, line of the yaml's start)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text, 0
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), 1
    return None, text, 0


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):  # an integer of 400 digits overflows a float
        return False


def model_path_problem(given: Path, model_format: str, check_files: bool) -> str | None:
    """What is wrong with the card's model path (None: nothing): a link loop, a name the system
    refuses (a NUL character, a name too long), or, when the files are checked, no such artefact or
    not one file where the format is one file."""
    if "\0" in str(given):
        return f"{ascii(str(given))} contains a NUL character, which no file name can hold"
    try:
        model_path = given.resolve()
        if not check_files:
            return None
        exists, is_file, is_dir = model_path.exists(), model_path.is_file(), model_path.is_dir()
    except RuntimeError:  # a link loop (RuntimeError on Python 3.11-3.12)
        return f"{given} is a symbolic link that leads back to itself (a link loop)"
    except OSError as exc:  # a link loop on 3.13; a name too long (ENAMETOOLONG)
        if exc.errno == errno.ELOOP:
            return f"{given} is a symbolic link that leads back to itself (a link loop)"
        return f"{str(given)[:200]}{'…' if len(str(given)) > 200 else ''} cannot be read: {exc.strerror or exc}"
    if not exists:
        return f"model artefact not found: {model_path}"
    if model_format != "transformers" and not is_file:
        what = "a folder" if is_dir else "not a regular file (a device, a pipe or a socket)"
        return f"{model_path} is {what}; a {model_format} model is one file"
    return None


def _audited_entry(index: list, model_name: str | None) -> int:
    """Which ``model-index`` entry is the audited model's: the one named as ``auditor.name`` says,
    else the first (the entry whose name names the model when the card gives no other)."""
    named = [i for i, e in enumerate(index) if isinstance(e, dict) and model_name and str(e.get("name")) == model_name]
    return named[0] if named else 0


def parse_claims(metadata: dict[str, Any], model_name: str | None = None) -> tuple[list[Claim], list[str]]:
    """Metrics claimed in ``model-index`` (Papers-with-Code format) for the audited model, and what
    could not be read. A card may list other models' results beside its own (a baseline): only the
    audited model's entry is its claim (:func:`_audited_entry`), the others are named as not read."""
    claims: list[Claim] = []
    problems: list[str] = []
    index = metadata.get("model-index")
    if index is None:
        return claims, problems
    if not isinstance(index, list):
        return claims, ["model-index: expected a list"]
    audited = _audited_entry(index, model_name)
    for i, entry in enumerate(index):
        if i != audited:
            other = entry.get("name") if isinstance(entry, dict) else None
            problems.append(f"model-index[{i}]: another model's results ({other!r}; the audited model's are "
                            f"model-index[{audited}]), not this model's claims")
            continue
        results = entry.get("results", []) if isinstance(entry, dict) else None
        if not isinstance(results, list):
            problems.append(f"model-index[{i}].results: expected a list")
            continue
        for j, res in enumerate(results):
            if not isinstance(res, dict):
                problems.append(f"model-index[{i}].results[{j}]: expected a mapping")
                continue
            ds = res.get("dataset") or {}
            metrics = res.get("metrics") or []
            if not isinstance(metrics, list):
                problems.append(f"model-index[{i}].results[{j}].metrics: expected a list")
                continue
            for k, m in enumerate(metrics):
                where = f"model-index[{i}].results[{j}].metrics[{k}]"
                value = m.get("value") if isinstance(m, dict) else None
                # a claim is a finite number: NaN is never outside any tolerance, and true is not 1.0
                if (not isinstance(m, dict) or "type" not in m or isinstance(value, bool)
                        or not isinstance(value, (int, float, str)) or not _finite(value)):
                    problems.append(f"{where}: needs a metric type and a finite numeric value")
                    continue
                claims.append(Claim(
                    metric=claimed_metric(str(m["type"]), m.get("args")), value=float(value),
                    dataset=str(ds.get("name", "")) if isinstance(ds, dict) else "",
                    split=str(ds.get("split", "")) if isinstance(ds, dict) else "",
                    verified=m.get("verified") is True,  # bool("no") is True: only a YAML true is a claim verified
                    location=where,
                ))
    return claims, problems


def with_claim_rows(claims: list[Claim], rows: int | dict[str, int] | None) -> tuple[list[Claim], list[Problem]]:
    """The claims with the rows ``auditor.claims_rows`` gives them, and a problem for each dataset name
    no claim has (a misspelt name would leave its claims taken as exact, silently)."""
    if not isinstance(rows, dict):
        return [c.model_copy(update={"rows": rows}) for c in claims], []
    named = {c.dataset for c in claims}
    known = ", ".join(repr(n) for n in sorted(named) if n) or "none"
    problems = [Problem(f"auditor.claims_rows.{name}", f"no model-index claim names this dataset (the datasets claimed "
                                                       f"on: {known})") for name in rows if name not in named]
    return [c.model_copy(update={"rows": rows.get(c.dataset)}) for c in claims], problems


def _key_text(key: Any) -> str:
    """A mapping key as the card's YAML wrote it: ``2026`` and ``2026-01-01`` (an int and a date to a YAML
    reader), ``yes`` (a bool), ``~`` (null)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else (key.isoformat() if hasattr(key, "isoformat") else str(key))


def _string_keys(value: Any) -> Any:
    """``value`` with every mapping key, at any depth, a string: a changelog keyed by year or date is
    ordinary in a card's free-form metadata, and the metadata is stored as JSON, whose keys are strings
    (a date key ended the audit with an internal error after the model had loaded)."""
    if isinstance(value, dict):
        return {_key_text(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    if isinstance(value, (set, frozenset)):  # YAML's !!set: a list in one order (a set's order follows the hash seed)
        return sorted((_string_keys(v) for v in value), key=lambda v: (type(v).__name__, repr(v)))
    return value


def load_model_card(path: str | Path, *, check_files: bool = True) -> ModelCard:
    """Read and validate a card; raise ModelCardError listing every problem."""
    path = Path(path)
    source = str(path)
    if not path.is_file():  # a device, FIFO or folder is never read (/dev/zero would never end)
        raise ModelCardError(source, [Problem("", "not a regular file" if path.exists() else "file not found")])
    text, sha256 = read_text_limited(path, MAX_CARD_BYTES, ModelCardError)
    if path.suffix.lower() in (".yaml", ".yml"):
        front, body, offset = text, "", 0
    else:
        front, body, offset = split_front_matter(text)
        if front is None and text.splitlines()[:1] and text.splitlines()[0].strip() == "---":
            raise ModelCardError(source, [Problem("line 1", "the front matter opened by '---' on line 1 is never "
                                                            "closed (a line of '---' after the YAML)")])
        if front is None:
            raise ModelCardError(source, [Problem("", "no YAML front matter (a '---' block at the top) found")])
    metadata = load_yaml_text(front, source, ModelCardError, line_offset=offset) or {}
    if not isinstance(metadata, dict):
        raise ModelCardError(source, [Problem("front matter", "expected a mapping")])
    # the auditor: block is validated as written (a class YAML read as a boolean is an error there)
    metadata = {_key_text(k): v if k == "auditor" else _string_keys(v) for k, v in metadata.items()}
    if "auditor" not in metadata:
        raise ModelCardError(source, [Problem("auditor", "the card has no 'auditor:' block; it says what to audit (task, model, target)")])
    try:
        block = AuditorBlock.model_validate(metadata["auditor"])
    except ValidationError as exc:
        raise ModelCardError(source, pydantic_problems(exc, prefix="auditor")) from None

    problems: list[Problem] = []
    if block.task == "text-classification" and not block.text_column:
        problems.append(Problem("auditor.text_column", "required for text-classification"))
    if block.task != "text-classification" and block.text_column:
        problems.append(Problem("auditor.text_column", "only for text-classification"))
    if block.task == "text-classification" and block.model.format != "transformers":
        problems.append(Problem("auditor.model.format", "text-classification needs format: transformers"))
    if block.task != "text-classification" and block.model.format == "transformers":
        problems.append(Problem("auditor.model.format", f"{block.task} needs skops, joblib or pickle"))
    if block.task == "tabular-regression":
        problems += [Problem(f"auditor.{name}", "a regressor has no classes: remove it")
                     for name in ("positive_class", "favourable_class", "decision_threshold")
                     if getattr(block, name) is not None]
    problems += prompt_problems(block)
    problems += immutable_problems(block)
    problems += column_problems(block)
    problem = model_path_problem(path.parent / block.model.path, block.model.format, check_files)
    if problem:
        problems.append(Problem("auditor.model.path", problem))
    claims, claim_problems = parse_claims(metadata, block.name)
    claims, rows_problems = with_claim_rows(claims, block.claims_rows)
    problems += task_claim_problems(block.task, claims)
    if problems or rows_problems:  # every problem of the card at once
        raise ModelCardError(source, problems + rows_problems)
    return ModelCard(
        path=path.resolve(), sha256=sha256,
        metadata=metadata, body=body, auditor=block, claims=claims, claim_problems=claim_problems,
    )
