"""The whole story in one function: load and validate everything, run the checklist, write the run."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np


from auditor.records.runs import VERSION_RE

from auditor.engine.context import AuditContext
from auditor.inputs.dataset import EvalDataset, load_dataset, read_as_categories
from auditor.inputs.table_file import rows_named
from auditor.errors import DatasetError, ModelCardError, Problem, UsageError
from auditor.engine.executor import Executor, default_jobs
from auditor.inputs.model_card import ModelCard, load_model_card
from auditor.machine import machine_facts
from auditor.policy.load import LoadedPolicy, load_policy
from auditor.render.html import render_html
from auditor.render.markdown import card_warnings, render_card_markdown
from auditor.render.pdf import PdfAttachment, html_to_pdf
from auditor.results import AuditResult, CardFacts, CheckResult, DatasetRef, ModelRef, Status, worst
from auditor.engine.runner import (build_plan, check_compute, check_gates, check_group_columns, check_prompt_variants,
                                   judging_nothing, mark_approximate, run_plan)
from auditor.engine.unreadable_columns import refuse_unreadable_columns
from auditor.models.base import Capability
from auditor.models.kinds import classes_without_loading, kind_for_card, load_adapter
from auditor.policy.traceability import build_traceability
from auditor.policy.waivers import apply_waivers
from auditor.records.atomic import publish_folder, replace_files, staged_folder, write_folder, write_tree
from auditor.records.store import (MAX_VERSION_ATTEMPTS, owned_folder_problem, chain_link, check_output_writable,
                                   claim_model_dir, enclosing_run, output_error, file_or_dir_sha256, manifest,
                                   manifest_with_file, manifest_without_file, model_dir, remove_stale_temp, write_run)

LIBRARIES = ("auditor", "numpy", "pandas", "scikit-learn", "shap", "lime", "skops", "scipy", "pydantic",
             "jinja2", "matplotlib", "weasyprint", "torch", "transformers")


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
    registry_problem: str | None = None  # why the registry does not list the stored run (register_run)

    @property
    def status(self) -> Status:
        return self.result.status


def near_class(name: str, classes: list[str]) -> str | None:
    """The class ``name`` misses only in case or surrounding spaces, if any."""
    return next((c for c in classes if c.strip().casefold() == name.strip().casefold()), None)


def same_number(name: str, classes: list[str]) -> str | None:
    """The class that is the number ``name`` writes otherwise (1.0 for a model's class 1), if any."""
    def number(text: str) -> float | None:
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    value = number(name)
    return None if value is None else next((c for c in classes if number(c) == value), None)


def check_labels(data: EvalDataset, classes: list[str]) -> None:
    """Every label one of the model's classes, in the whole file even where the policy samples it
    (a wrong label outside a sample had passed, by the seed); the others named with the file's rows
    that hold them."""
    labels, file_rows = data.every_label or (data.labels, data.source_rows)  # the whole file's, when sampled
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        held = np.flatnonzero(np.isin(np.asarray(labels, dtype=object), unknown))
        rows = held if file_rows is None else np.asarray(file_rows)[held]
        near = {str(u): c for u in unknown if (c := near_class(str(u), classes))}
        hint = ("; " + ", ".join(f"{u!r} for {c!r}?" for u, c in near.items()) + " (class names are case- and "
                "space-sensitive)") if near else ""
        numbers = {str(u): c for u in unknown if str(u) not in near and (c := same_number(str(u), classes))}
        if numbers:  # a column of whole numbers read as decimals (an export that wrote 1.0): named, not matched
            hint += ("; " + ", ".join(f"{u!r} for {c!r}?" for u, c in numbers.items()) + " (the same number written "
                     "otherwise: labels are compared as text with the model's classes; write them as the model's "
                     "classes are written)")
        ids = [str(i) for i in range(len(classes))]
        if not near and not numbers and all(str(u) in ids for u in unknown) and not set(ids) & set(classes):  # 0/1 for LABEL_0/LABEL_1
            hint = ("; " + ", ".join(f"{u!r} for {classes[int(u)]!r}?" for u in unknown) + " (the data seems to hold class "
                    "indices; labels are compared with the model's class names, in its order)")
        raise DatasetError(str(data.path), [Problem(
            "target", f"labels the model does not know: {', '.join(map(repr, unknown))} in {rows_named(rows)} "
                      f"(model classes: {', '.join(classes)}){hint}"
        )])


REPORT_STAGE = "writing result.json, report.html and report.pdf"  # on_stage's label after the last check
DEVICE_RE = re.compile(r"^(cpu|cuda(:\d{1,2})?|mps)$")


def check_device(device: str, task: str) -> None:
    """``--device``: cpu, cuda, cuda:N or mps, and present on this machine (text models use it;
    tabular models always run on the CPU, so another device for one is a usage error). Checked
    before any input is loaded."""
    if not DEVICE_RE.match(device or ""):
        raise UsageError(f"--device {device!r} is not a device: use cpu, cuda, cuda:N or mps")
    if device == "cpu":
        return
    if task != "text-classification":
        raise UsageError(f"--device {device}: a {task} model always runs on the CPU (scikit-learn); drop --device")
    try:
        import torch
    except ImportError:
        raise UsageError(f"--device {device}: torch is not installed (the 'text' extra)") from None
    if device.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= n:
            raise UsageError(f"--device {device}: no such CUDA device on this machine ({n} available); use --device cpu")
    elif not torch.backends.mps.is_available():
        raise UsageError("--device mps: Apple's MPS is not available on this machine; use --device cpu")


def check_positive_class(card: ModelCard, classes: list[str], what: str = "model classes",
                         data: EvalDataset | None = None) -> None:
    """The card's ``positive_class`` and ``favourable_class`` must each name one of the classes exactly
    (case-sensitive): a near miss would silently make the other class the positive one and invert
    every class metric (or the selection rate of subgroup fairness). With ``data`` (``classes`` are its
    labels), where none of the card's classes is among them, not even as a near miss, the data's
    target column is named too: its labels may be what is wrong (0/1 for 'bad'/'good')."""
    problems = []
    card_classes = [str(n) for n in (card.auditor.positive_class, card.auditor.favourable_class) if n is not None]
    if data is not None and card_classes and not any(n in classes or near_class(n, classes) for n in card_classes):
        problems.append(Problem(
            f"dataset {data.path}, column {card.auditor.target!r}",
            f"the data's labels ({', '.join(map(repr, classes))}) match none of the card's classes "
            f"({', '.join(map(repr, dict.fromkeys(card_classes)))}): write the target with the card's class names, or name "
            "in the card the classes the data uses"))
    for name in ("positive_class", "favourable_class"):
        named = getattr(card.auditor, name)
        if named is None or str(named) in classes:
            continue
        near = near_class(str(named), classes)
        hint = f"; did you mean {near!r}? class names are case-sensitive" if near else ""
        if near and data is not None:  # the model is not loaded yet: the data's spelling may be the wrong one
            hint += (f" (or, if the model's classes are spelt as in the card, fix the spelling in the data's column "
                     f"{card.auditor.target!r})")
        elif data is not None and name == "positive_class":  # or a class of the model these rows lack
            hint += ("; if the model has this class, the evaluation set holds no row of it, and its F1, recall and "
                     "group rates rest on such rows: add rows of it, or, with 3 or more classes, leave positive_class "
                     "out (the macro metrics need none)")
        problems.append(Problem(f"auditor.{name}",
                                f"{str(named)!r} is not one of the {what}: {', '.join(map(repr, classes))}{hint}"))
    if problems:
        raise ModelCardError(str(card.path), problems)


def check_decision_threshold(card: ModelCard, classes: list[str], *, from_data: bool = False) -> None:
    """A decision threshold moves the cut between a binary model's two classes; with three or more
    classes it has no meaning, and ignoring it would audit other decisions than the card describes.
    ``from_data``: ``classes`` are the evaluation data's labels (validate, before a scikit-learn model
    loads): three or more of them are three or more classes, or labels a binary model does not know."""
    if card.auditor.decision_threshold is None or len(classes) == 2 or (from_data and len(classes) < 3):
        return
    has = (f"the evaluation data's target holds {len(classes)} labels" if from_data
           else f"this one has {len(classes)} classes")
    raise ModelCardError(str(card.path), [Problem(
        "auditor.decision_threshold",
        f"a decision threshold needs a binary model; {has} "
        f"({', '.join(map(repr, classes))}): remove it (the predicted class is then the most probable one)")])


def sample_rows_csv(data: EvalDataset) -> bytes:
    lines = ["row,file_row"] + [f"{i},{r}" for i, r in enumerate(data.source_rows.tolist())]
    return ("\n".join(lines) + "\n").encode("utf-8")


def card_facts(card: ModelCard) -> CardFacts:
    return CardFacts(
        path=str(card.path), sha256=card.sha256, metadata=json.loads(json.dumps(card.metadata, default=str)),
        body_html=render_card_markdown(card.body), warnings=card_warnings(card.body),
    )


def result_bytes(result: AuditResult) -> bytes:
    return (result.model_dump_json(indent=2) + "\n").encode("utf-8")


def report_pdf(result: AuditResult, html: str, result_json: bytes | None = None, run_manifest: bytes | None = None) -> bytes:
    """report.pdf: PDF/A-3b carrying result.json and the run's manifest. The attached manifest is
    manifest.json without the line for report.pdf (a file cannot contain its own hash; the run's
    manifest.json adds that line and nothing else): it holds the input hashes, library versions,
    the hash of every other file and the chain link, so a PDF separated from its run still says
    exactly what was audited. Dates and the PDF identifier come from the run: same result, same bytes."""
    attachments = [PdfAttachment("result.json", result_json or result_bytes(result), "Machine-readable audit result")]
    if run_manifest is not None:
        attachments.append(PdfAttachment(
            "manifest.json", run_manifest, "Run manifest (sha256 of inputs and files) without the entry for this PDF"))
    return html_to_pdf(html, created_at=result.created_at, title=f"Audit of {result.model.name} {result.version}",
                       identifier=result.run_id, attachments=attachments)


def check_dataset_classes(card: ModelCard, dataset: EvalDataset) -> list[str] | None:
    """The data's labels against the classes, before any model loads: first the labels the model
    lacks, where its classes are known without loading it (else the card's positive class is blamed
    for them), then the card's positive and favourable class. Returns those classes (None: known
    once the model loads)."""
    known = classes_without_loading(card)
    if known is not None:
        check_labels(dataset, known)
    check_positive_class(card, sorted(set(dataset.labels.tolist())), "labels in the dataset", dataset)
    return known


def render_reports(result: AuditResult, result_json: bytes | None = None, run_manifest: bytes | None = None) -> dict[str, bytes]:
    html = render_html(result)
    return {"report.html": html.encode("utf-8"), "report.pdf": report_pdf(result, html, result_json, run_manifest)}


REGISTRY_WAIT_S = 60.0  # how long a run waits for a registry another process is writing, to number and record itself


def register_run(run_dir: Path, out: Path, db: str | None) -> str | None:
    """Index a new run in the audit registry; None, or why it could not. The run directory is the
    record of truth: a registry that fails now (it was readable before the audit ran) is said, never a
    lost audit (`auditor history --rebuild` restores it). One that another process is writing is
    waited for, up to :data:`REGISTRY_WAIT_S`: unlisted, the run's number could be given again."""
    try:
        _with_registry(out, db, lambda registry: _add_with_unlisted(registry, run_dir))
    except Exception as exc:  # noqa: BLE001 - the audit itself succeeded
        return (f"the run is stored, but the registry was not updated ({type(exc).__name__}: {exc}); "
                f"`auditor history --rebuild --out {out}`{' with the same --db' if db else ''} indexes it")
    return None


def _add_with_unlisted(registry, run_dir: Path) -> None:
    """Index the new run, and the earlier versions of its model that were stored but never indexed: a
    run stopped between the rename that stored it and its registry row (Ctrl-C or SIGTERM there, said
    then; SIGKILL or a power cut, said nowhere) stayed out of `history` and `due` until someone ran
    `history --rebuild`. A version is matched by its model folder's name and number (a moved output
    folder's rows name the old place), and one whose result.json names another version (a copied or
    renamed run, which a rebuild names) is left out, as is one that cannot be read."""
    from auditor.records.runs import open_run

    registry.add_run(run_dir)
    listed = {(Path(str(row["run_path"])).parent.name, Path(str(row["run_path"])).name)
              for row in (*registry.history(), *registry.retired())}
    for sibling in sorted(run_dir.parent.iterdir()):
        if (sibling == run_dir or not VERSION_RE.match(sibling.name) or (run_dir.parent.name, sibling.name) in listed
                or not (sibling / "manifest.json").is_file()):
            continue
        try:
            run = open_run(sibling)
            if run.result.get("version") == sibling.name:
                registry.add_run(sibling)
        except Exception:  # noqa: BLE001 - an unreadable earlier run: `history --rebuild` and `verify` name it
            continue


def _with_registry(out: Path, db: str | None, use: Callable):
    """``use(registry)`` on the run's registry, waiting while another process writes it (up to
    :data:`REGISTRY_WAIT_S`); any other error, or a wait past that, is raised."""
    import time

    from auditor.records.registry import open_registry
    from auditor.records.sqlite_reader import is_busy

    deadline = time.monotonic() + REGISTRY_WAIT_S
    while True:
        try:
            with open_registry(out, db) as registry:
                return use(registry)
        except Exception as exc:  # noqa: BLE001 - busy: wait; the callers say what anything else means
            if not (is_busy(exc) and time.monotonic() < deadline):
                raise
        time.sleep(0.5)


def registered_versions(out: Path, db: str | None, folder: Path) -> int:
    """The highest version number the registry records under the model's ``folder``, its retired
    versions (deleted folders a rebuild unindexed) included (0 when it records none, or when no
    registry exists yet). A registry that cannot be read is a
    :class:`~auditor.records.registry.RegistryError`: numbered from the folders alone, a deleted
    version's number would be given again (the registry remembers it). One that another process is
    writing is waited for, up to :data:`REGISTRY_WAIT_S`. The output folder's own registry indexes
    only its runs: after the folder was moved or copied with it, its rows of the model's folder name
    the old place (as `auditor verify` matches them) and count too."""
    from auditor.records.registry import RegistryError, registry_url, sqlite_file
    from auditor.records.runs import DEFAULT_DB_NAME
    from auditor.records.sqlite_reader import is_busy

    file = sqlite_file(registry_url(out, db))
    if file is not None and not file.exists():  # the first run recorded there creates it
        return 0
    try:
        paths = _with_registry(out, db, lambda registry: [Path(str(row["run_path"]))
                                                          for row in (*registry.history(), *registry.retired())])
    except Exception as exc:  # noqa: BLE001 - the number cannot be settled
        reason = (f"in use by another process for over {REGISTRY_WAIT_S:.0f} s" if is_busy(exc) else
                  f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
        raise RegistryError(f"the registry is {reason}: the run's version number cannot be settled without it "
                            "(it remembers deleted versions, whose numbers are never given again), so no version "
                            "was written; run the audit again once the registry can be read") from None
    here = folder.resolve()
    own = file is not None and file.resolve() == Path(out).resolve() / DEFAULT_DB_NAME
    return max((int(m.group(1)) for p in paths if (p.parent.name == here.name if own else p.parent.resolve() == here)
                and (m := VERSION_RE.match(p.name))), default=0)


@dataclass
class PreparedAudit:
    """Everything an audit needs before its checks run: validated inputs, the loaded model, the plan."""

    loaded: LoadedPolicy
    card: ModelCard
    dataset: EvalDataset
    model: object
    plan: list
    ctx: AuditContext


def connect_cluster(cluster: str, card: ModelCard, dataset: EvalDataset, *, allow_pickle: bool, device: str):
    """The Dask executor of ``--cluster`` (a usage error, exit 2, when it is malformed or unreachable)."""
    from auditor.engine.cluster import ModelSource, connect, parse_cluster

    spec = parse_cluster(cluster)
    source = ModelSource(card=card, feature_names=tuple(dataset.feature_names), allow_pickle=allow_pickle,
                         device=device, sha256=file_or_dir_sha256(card.model_path))
    return connect(spec, source)


def fairness_groups(plan) -> list[str]:
    """The columns the planned checks group by (subgroup_fairness's ``fairness_groups``): the dataset must hold them."""
    return [g for planned in plan if not planned.skip_reason for g in getattr(planned.params, "fairness_groups", [])]


def prepare_audit(policy: str | Path, card: str | Path, data: str | Path, out: str | Path | None = None, *,
                  allow_pickle: bool = False, device: str = "cpu", waivers: str | Path | None = None,
                  jobs: int | None = None, cluster: str | None = None,
                  prediction_cache: str | Path | None = None) -> PreparedAudit:
    """Load and validate the policy, card and dataset (before the model is loaded), then the model,
    and build the audit context. Raises the documented errors of each input; with ``out``, also
    refuses, before any work, a model name whose folder would leave ``out``. ``jobs``: workers for
    independent work (default: every core this process may use); results do not depend on it.
    ``cluster``: ``local:N`` or a Dask scheduler's address (auditor.engine.cluster): the explanations
    and large prediction requests run on its workers, each of which loads and verifies the model;
    the caller closes ``ctx.executor``. ``prediction_cache``: a folder of predictions kept between audits
    (models/kept_predictions.py)."""
    loaded: LoadedPolicy = load_policy(policy, waivers)
    model_card = load_model_card(card)
    check_device(device, model_card.auditor.task)
    if out is not None:
        check_output_writable(claim_model_dir(Path(out), model_card.model_name))
    if prediction_cache is not None:
        from auditor.records.store import prediction_cache_problem

        if (problem := prediction_cache_problem(Path(prediction_cache), model_card.model_path)) is not None:
            raise UsageError(problem)
    kind = kind_for_card(model_card)
    plan = build_plan(loaded, kind)
    check_gates(loaded, plan, kind)
    check_group_columns(loaded, plan, model_card)
    dataset = load_dataset(data, model_card, max_rows=loaded.policy.dataset.max_rows, seed=loaded.policy.seed,
                           fairness_groups=fairness_groups(plan))
    check_group_columns(loaded, plan, model_card, dataset.sensitive)
    check_compute(loaded, plan, model_card.auditor.task, len(dataset.feature_names), len(dataset))  # its width and rows
    check_dataset_classes(model_card, dataset)  # before the model loads
    if cluster is not None and model_card.auditor.model.runtime != "torch":
        # Workers load the model themselves; they do not repeat the ONNX export's verification, so
        # their numbers could differ from the main process's in the last bits.
        raise UsageError(f"--cluster: the card's auditor.model.runtime is {model_card.auditor.model.runtime!r}; "
                         "cluster workers run PyTorch only — remove the runtime setting or run without --cluster")
    executor = None
    if cluster is not None:
        from auditor.engine.cluster import parse_cluster
        from auditor.engine.worker_start import forks_workers, start_fork_server

        if parse_cluster(cluster).local_workers is None:  # a scheduler is reached before the model loads
            executor = connect_cluster(cluster, model_card, dataset, allow_pickle=allow_pickle, device=device)
        elif forks_workers(kind):
            start_fork_server()  # local text workers' fork server prepares them while the model loads here
    try:
        model = load_adapter(model_card, dataset.feature_names, allow_pickle=allow_pickle, device=device)
        if not model.has(Capability.REGRESSION):  # a regressor's target is numbers (validated with the dataset)
            check_labels(dataset, model.classes)
        else:
            model.check_outputs(dataset)  # one number per row
        check_positive_class(model_card, list(model.classes))
        check_decision_threshold(model_card, list(model.classes))
        if model.has(Capability.PROMPTED):
            check_prompt_variants(loaded, plan, model.prompt_problems)
        if cluster is not None:
            executor = executor or connect_cluster(cluster, model_card, dataset, allow_pickle=allow_pickle, device=device)
            executor.attach(model)
            executor.verify_workers()  # every worker loads the model and checks its sha256, before any check
    except BaseException:
        if executor is not None:
            executor.close()
        raise
    executor = executor or Executor(n_jobs=jobs or default_jobs())
    dataset.notes.extend(read_as_categories(dataset, model_card, model.categorical_columns()))  # integer codes
    dataset.notes.extend(model.input_notes(dataset))
    dataset.notes.extend(model.verify_runtime(dataset))
    if prediction_cache is not None:  # once the runtime that serves is settled: its numbers are the ones kept
        dataset.notes.extend(model.keep_predictions(Path(prediction_cache), dataset,
                                                    file_or_dir_sha256(model_card.model_path)))
    ctx = AuditContext(card=model_card, data=dataset, model=model, seed=loaded.policy.seed,
                       explainer_params=loaded.policy.explainers_for(model_card.auditor.task), executor=executor)
    if dataset.source_rows is not None:
        ctx.files["evidence/dataset-sample.csv"] = sample_rows_csv(dataset)
    return PreparedAudit(loaded, model_card, dataset, model, plan, ctx)


def run_audit(
    policy: str | Path,
    card: str | Path,
    data: str | Path,
    out: str | Path = "reports",
    *,
    allow_pickle: bool = False,
    device: str = "cpu",
    on_progress: Callable[[str, int, int], None] | None = None,
    db: str | None = None,
    waivers: str | Path | None = None,
    jobs: int | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
    cluster: str | None = None,
    on_stage: Callable[[str], None] | None = None,
    prediction_cache: str | Path | None = None,
) -> RunRecord:
    """Audit a model: validate inputs (before loading the model), run the policy's checks, and write
    a new version directory with result.json, report.html, report.pdf, evidence/ and manifest.json.
    ``waivers``: a waivers file (auditor/policy/waivers.py), besides the policy's own ``waivers:``.
    ``jobs``: workers for independent work (default: every core); the results do not depend on it.
    ``cluster``: run the explanations on a Dask cluster instead (``local:N`` or ``tcp://host:port``);
    the results do not depend on it either. ``prediction_cache``: a folder where a text model's
    predictions are kept for the next audit of the same model and runtime, and read from.
    ``on_progress(check_id, i, n)`` is called before each check, ``on_step(label, done, total)``
    within long steps (explanations computed in parts), ``on_stage(label)`` when the checks are done
    and the reports are written (:data:`REPORT_STAGE`)."""
    started = time.perf_counter()
    from auditor.records.registry import check_recordable

    check_recordable(out, db)  # an unreadable registry stops the audit before it runs (exit 2)
    prepared = prepare_audit(policy, card, data, out, allow_pickle=allow_pickle, device=device, waivers=waivers,
                             jobs=jobs, cluster=cluster, prediction_cache=prediction_cache)
    try:
        return _run_prepared(prepared, started, out, db=db, on_progress=on_progress, on_step=on_step, on_stage=on_stage)
    finally:
        prepared.ctx.executor.close()


def refuse_judging_nothing(loaded, checks: list[CheckResult]) -> None:
    """Every check skipped once it ran (a fairness check on a card without sensitive features, or on a
    model with no positive class): the audit judged nothing, and would have ended SKIPPED, exit 0.
    Refused before anything is written, as :func:`~auditor.engine.runner.check_gates` refuses a policy
    none of whose checks applies to the model (exit 3)."""
    if checks and all(c.status == Status.SKIPPED for c in checks):
        raise judging_nothing(loaded, f"none of the policy's {len(checks)} checks could judge this model and card, so "
                                      "the audit judged nothing", [(c.id, c.skipped_reason) for c in checks])


def _run_prepared(prepared: PreparedAudit, started: float, out, *, db, on_progress, on_step,
                  on_stage=None) -> RunRecord:
    loaded, model_card, dataset, model, plan, ctx = (prepared.loaded, prepared.card, prepared.dataset, prepared.model,
                                                      prepared.plan, prepared.ctx)
    ctx.on_step = on_step

    progress = (lambda check_id, i: on_progress(check_id, i, len(plan))) if on_progress else None
    now = datetime.now(timezone.utc).replace(microsecond=0)
    checks = apply_waivers(mark_approximate(run_plan(plan, ctx, progress), model.runtime_facts), loaded.waivers, now.date())
    kept, kept_notes = model.save_kept_predictions()
    dataset.notes.extend(kept_notes)
    refuse_unreadable_columns(ctx, checks)
    refuse_judging_nothing(loaded, checks)
    libraries = library_versions()
    block = model_card.auditor
    pos = ctx.positive_index
    partial = dict(
        run_id=uuid.uuid4().hex,
        created_at=now.isoformat(),
        status=worst(c.status for c in checks),  # WAIVED ranks above PASS, below WARN (results.worst)
        policy=loaded.reference(),
        model=ModelRef(
            name=model_card.model_name, version=block.version, task=block.task, format=block.model.format,
            sha256=file_or_dir_sha256(model_card.model_path), classes=list(model.classes),
            positive_class=None if pos is None else model.classes[pos],
        ),
        dataset=DatasetRef(path=str(dataset.path), rows=len(dataset), sha256=dataset.sha256,
                           columns=dataset.feature_names, notes=dataset.notes),
        card=card_facts(model_card),
        checks=checks,
        traceability=build_traceability(loaded, checks, model_card, now.date()),
    )

    def result_as(version: str) -> AuditResult:
        provenance = {
            "auditor_version": libraries.get("auditor", "unknown"), "libraries": libraries, "seed": loaded.policy.seed,
            "cache": {k: v for k, v in model.stats.as_dict().items() if k != "model_time_s"},
            "execution": ctx.executor.describe(), "machine": machine_facts(),
            **({"runtime": dict(model.runtime_facts)} if model.runtime_facts else {}),
            **({"kept_predictions": kept} if kept else {}),
            "timings": {"total_s": round(time.perf_counter() - started, 2), "model_s": round(model.stats.model_time_s, 2),
                        "checks_s": {c.id: c.duration_s for c in checks}},
        }
        return AuditResult(**partial, version=version, provenance=provenance)

    def build(version: str) -> dict[str, bytes]:
        result = build.result = result_as(version)
        files = {"result.json": result_bytes(result), **ctx.files}
        html = render_html(result)
        files["report.html"] = html.encode("utf-8")
        # The chain link is computed here, once write_run has fixed the label (see store.chain_link).
        without_pdf = manifest(
            files, {"policy": Path(loaded.source), "card": model_card.path, "dataset": dataset.path,
                    "model": model_card.model_path,
                    "waivers": Path(loaded.waivers_file.source) if loaded.waivers_file else None},
            libraries, {"run_id": result.run_id, "version": version, "result_schema_version": result.schema_version,
                        "previous": chain_link(model_dir(Path(out), model_card.model_name), version)},
        )
        files["report.pdf"] = report_pdf(result, html, files["result.json"], without_pdf)
        files["manifest.json"] = manifest_with_file(without_pdf, "report.pdf", files["report.pdf"])
        return files

    if on_stage:
        on_stage(REPORT_STAGE)
    try:  # numbered inside: a registry that cannot be read keeps the result.json too
        path = write_run(Path(out), model_card.model_name, build,
                         after=registered_versions(Path(out), db, model_dir(Path(out), model_card.model_name)))
    except Exception as exc:
        # Never lose an audit's computation to a rendering bug: keep result.json where
        # `auditor render` can rebuild the reports from it, outside the versions.
        # "": not numbered (no version was stored: the number it was built for may be given to the next run)
        built = getattr(build, "result", None)
        salvage = built.model_copy(update={"version": ""}) if built is not None else result_as("")
        folder = model_dir(Path(out), model_card.model_name) / f".unrendered-{salvage.run_id}"
        if write_salvage(folder, result_bytes(salvage)):
            exc.add_note(f"the audit's result.json was kept (outside the versions) in {folder}; fix the cause and run "
                         f"`auditor render {folder}`")
        else:
            exc.add_note("the audit's result.json could not be kept either (nothing partial was left)")
        raise
    try:
        problem = register_run(path, Path(out), db)
    except KeyboardInterrupt as exc:  # the version is stored: the message must say so, not "nothing written"
        exc.stored_run, exc.registered = path, False
        raise
    return RunRecord(path=path, result=build.result, registry_problem=problem)


def write_salvage(folder: Path, content: bytes) -> bool:
    """Keep a result.json whose run could not be written: the whole folder appears at once (a
    temporary folder renamed into place) or not at all, so a full disk never leaves a truncated
    result.json. Returns whether it was kept. The folders it makes for it (the model's, on a first run)
    are removed again when it was not: a full disk leaves no empty ``--out/<model>/`` behind."""
    made = [p for p in folder.parents if not p.exists()]  # deepest first
    try:
        return write_folder(folder, {"result.json": content})
    except OSError:
        for empty in made:
            try:
                empty.rmdir()
            except OSError:
                break
        return False


def render_target(run_dir: Path, to: Path | None) -> Path:
    """Where `auditor render` writes. A stored version is sealed: never into it (nor into any
    folder inside one, nor into a new folder named like a version); by default a new
    ``<model>/renders/<version>-<n>/`` beside the versions. A folder that is not a version (a kept
    ``.unrendered-<run id>/``) is rendered in place by default."""
    if to is None:
        if not VERSION_RE.match(run_dir.name):
            return run_dir
        renders = run_dir.parent / "renders"
        if (folder := enclosing_run(renders)) is not None:  # renders/ is a link into a run
            raise UsageError(f"{renders} leads into the stored run {folder}; a run is sealed and is never modified: "
                             "remove the link, or give --to")
        n = 1
        while (renders / f"{run_dir.name}-{n}").exists():
            n += 1
        return renders / f"{run_dir.name}-{n}"
    to = Path(to)
    resolved = to.resolve()
    if (folder := enclosing_run(resolved)) is not None:
        raise UsageError(f"--to {to} is inside the stored run {folder}; a run is sealed and is never modified")
    if VERSION_RE.match(resolved.name):
        raise UsageError(f"--to {to}: a folder named like a version ({resolved.name}) would be taken for a run; choose another name")
    if resolved.exists() and (not resolved.is_dir() or any(resolved.iterdir())):
        raise UsageError(f"--to {to} exists and is not an empty folder; nothing is overwritten, choose a new folder")
    if (problem := owned_folder_problem(to, "--to", "renders")) is not None:
        raise UsageError(problem)
    return resolved


def read_result(source: Path) -> AuditResult:
    """A stored result.json, validated: an unreadable or altered one is an invalid input (exit 3)."""
    from pydantic import ValidationError

    from auditor.errors import ResultFileError
    from auditor.inputs.validation import pydantic_problems

    try:
        return AuditResult.model_validate_json(source.read_bytes())
    except ValidationError as exc:
        problems = pydantic_problems(exc, from_yaml=False)
    except OSError as exc:
        problems = [Problem("", f"cannot read it: {exc.strerror or exc}")]

    raise ResultFileError(str(source), problems)


def _rendered_or_refused(result: AuditResult, source: Path, attached) -> dict[str, bytes]:
    """The reports of a stored result, or an invalid input (exit 3) where its fields, valid one by one,
    cannot be laid out together: a result.json edited by hand (a run never writes one)."""
    from jinja2 import TemplateError

    from auditor.errors import ResultFileError

    try:
        return render_reports(result, source.read_bytes(), attached)
    except RecursionError:
        problem = Problem("card.body_html", "nests too deeply to lay out (a run's cleaned card never does)")
    except TemplateError as exc:
        problem = Problem("", f"its fields do not fit together ({exc}); a run never writes such a file")
    raise ResultFileError(str(source), [problem]) from None


def rerender(run_dir: str | Path, to: str | Path | None = None) -> dict[str, Path]:
    """Rebuild report.html and report.pdf of a run from its result.json alone, into a new folder
    (:func:`render_target`): a stored version stays byte-identical and `auditor verify` OK."""
    run_dir = Path(run_dir)
    source = run_dir / "result.json"
    if not source.is_file():
        raise UsageError(f"{source} is not a file; is {run_dir} a run directory?" if source.exists() else
                         f"{run_dir} has no result.json; is it a run directory?")
    target = render_target(run_dir, None if to is None else Path(to))
    result = read_result(source)
    run_manifest = run_dir / "manifest.json"
    try:
        attached = manifest_without_file(run_manifest.read_bytes(), "report.pdf") if run_manifest.is_file() else None
    except (ValueError, KeyError, TypeError, AttributeError):
        attached = None  # an unreadable manifest is verify's business; the report is still rebuilt
    reports = _rendered_or_refused(result, source, attached)
    if target == run_dir:  # an unsealed folder (kept result.json): its reports replaced whole, all or none
        try:
            replace_files(target, reports)
        except OSError as exc:
            raise output_error(exc, target) from None
        return {name: target / name for name in reports}
    try:
        if to is None:  # renders/: what a render stopped by SIGKILL left behind
            remove_stale_temp(target.parent)
        with staged_folder(target.parent) as tmp:
            write_tree(tmp, reports)
            # renamed over the empty folder given with --to; another render that took the default number
            # first: the next one
            for _ in range(MAX_VERSION_ATTEMPTS):
                if publish_folder(tmp, target):
                    break
                if to is not None:
                    raise UsageError(f"{target} appeared while the reports were rendered; nothing was written")
                target = render_target(run_dir, None)
            else:
                raise UsageError(f"no free name for the render under {target.parent}; nothing was written")
    except OSError as exc:
        raise output_error(exc, target) from None
    return {name: target / name for name in reports}
