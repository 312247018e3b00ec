"""The whole story in one function: load and validate everything, run the checklist, write the run."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

from auditor.context import AuditContext
from auditor.data import EvalDataset, load_dataset
from auditor.errors import DatasetError, Problem
from auditor.model_card import ModelCard, load_model_card
from auditor.policy import LoadedPolicy, load_policy
from auditor.render.html import render_html
from auditor.render.markdown import card_warnings, render_card_markdown
from auditor.render.pdf import html_to_pdf
from auditor.results import AuditResult, CardFacts, DatasetRef, ModelRef, PolicyRef, Status, worst
from auditor.runner import build_plan, run_plan
from auditor.store import file_or_dir_sha256, manifest, model_dir, write_run

LIBRARIES = ("auditor", "numpy", "pandas", "scikit-learn", "shap", "lime", "skops", "scipy", "pydantic",
             "jinja2", "matplotlib", "weasyprint", "torch", "transformers", "captum")


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class RunRecord:
    path: Path
    result: AuditResult

    @property
    def status(self) -> Status:
        return self.result.status


def load_model(card: ModelCard, data: EvalDataset, *, allow_pickle: bool = False, device: str = "cpu"):
    if card.auditor.task == "text-classification":
        from auditor.models.text import load_text_model

        return load_text_model(card.model_path, device=device)
    from auditor.models.tabular import load_tabular_model

    return load_tabular_model(card, data.feature_names, allow_pickle=allow_pickle)


def check_labels(data: EvalDataset, classes: list[str]) -> None:
    unknown = sorted(set(data.labels) - set(classes))
    if unknown:
        raise DatasetError(str(data.path), [Problem(
            "target", f"labels the model does not know: {', '.join(map(repr, unknown))} (model classes: {', '.join(classes)})"
        )])


def card_facts(card: ModelCard) -> CardFacts:
    return CardFacts(
        path=str(card.path), sha256=card.sha256, metadata=json.loads(json.dumps(card.metadata, default=str)),
        body_html=render_card_markdown(card.body), warnings=card_warnings(card.body),
    )


def render_reports(result: AuditResult) -> dict[str, bytes]:
    html = render_html(result)
    pdf = html_to_pdf(html, created_at=result.created_at, title=f"Audit of {result.model.name} {result.version}")
    return {"report.html": html.encode("utf-8"), "report.pdf": pdf}


def run_audit(
    policy: str | Path,
    card: str | Path,
    data: str | Path,
    out: str | Path = "reports",
    *,
    allow_pickle: bool = False,
    device: str = "cpu",
    on_progress: Callable[[str, int, int], None] | None = None,
) -> RunRecord:
    """Audit a model: validate inputs (before loading the model), run the policy's checks, and write
    a new version directory with result.json, report.html, report.pdf, evidence/ and manifest.json."""
    started = time.perf_counter()
    loaded: LoadedPolicy = load_policy(policy)
    model_card = load_model_card(card)
    plan = build_plan(loaded, model_card.auditor.task)
    dataset = load_dataset(data, model_card)
    model = load_model(model_card, dataset, allow_pickle=allow_pickle, device=device)
    check_labels(dataset, model.classes)
    ctx = AuditContext(card=model_card, data=dataset, model=model, seed=loaded.policy.seed,
                       explainer_params=dict(loaded.policy.explainers))

    progress = (lambda check_id, i: on_progress(check_id, i, len(plan))) if on_progress else None
    checks = run_plan(plan, ctx, progress)
    libraries = library_versions()
    block = model_card.auditor
    pos = ctx.positive_index
    partial = dict(
        run_id=uuid.uuid4().hex,
        created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        status=worst(c.status for c in checks),
        policy=PolicyRef(name=loaded.policy.name, version=loaded.policy.version, sha256=loaded.sha256, source=loaded.source),
        model=ModelRef(
            name=model_card.model_name, version=block.version, task=block.task, format=block.model.format,
            sha256=file_or_dir_sha256(model_card.model_path), classes=list(model.classes),
            positive_class=None if pos is None else model.classes[pos],
        ),
        dataset=DatasetRef(path=str(dataset.path), rows=len(dataset), sha256=dataset.sha256,
                           columns=dataset.feature_names, notes=dataset.notes),
        card=card_facts(model_card),
        checks=checks,
    )

    def build(version: str) -> dict[str, bytes]:
        provenance = {
            "auditor_version": libraries.get("auditor", "unknown"), "libraries": libraries, "seed": loaded.policy.seed,
            "cache": {k: v for k, v in model.stats.as_dict().items() if k != "model_time_s"},
            "timings": {"total_s": round(time.perf_counter() - started, 2), "model_s": round(model.stats.model_time_s, 2),
                        "checks_s": {c.id: c.duration_s for c in checks}},
        }
        result = AuditResult(**partial, version=version, provenance=provenance)
        build.result = result
        files = {"result.json": (result.model_dump_json(indent=2) + "\n").encode("utf-8"), **ctx.files}
        files.update(render_reports(result))
        files["manifest.json"] = manifest(
            files, {"policy": Path(loaded.source), "card": model_card.path, "dataset": dataset.path,
                    "model": model_card.model_path},
            libraries, {"run_id": result.run_id, "version": version, "result_schema_version": result.schema_version},
        )
        return files

    try:
        path = write_run(Path(out), model_card.model_name, build)
    except Exception as exc:
        # Never lose an audit's computation to a rendering bug: keep result.json where
        # `auditor render` can rebuild the reports from it, outside the versions.
        salvage = getattr(build, "result", None)
        if salvage is not None:
            folder = model_dir(Path(out), model_card.model_name) / f".unrendered-{salvage.run_id}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.json").write_text(salvage.model_dump_json(indent=2) + "\n", encoding="utf-8")
            exc.add_note(f"the audit's result.json was kept in {folder}; fix the cause and run `auditor render {folder}`")
        raise
    return RunRecord(path=path, result=build.result)


def rerender(run_dir: str | Path) -> dict[str, Path]:
    """Rebuild report.html and report.pdf of a run from its result.json alone."""
    run_dir = Path(run_dir)
    source = run_dir / "result.json"
    if not source.is_file():
        from auditor.errors import UsageError

        raise UsageError(f"{run_dir} has no result.json; is it a run directory?")
    result = AuditResult.model_validate_json(source.read_text(encoding="utf-8"))
    written = {}
    for name, content in render_reports(result).items():
        (run_dir / name).write_bytes(content)
        written[name] = run_dir / name
    return written
