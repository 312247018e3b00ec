"""The command line: auditor run | validate | render | policies | history | diff | sign-off | verify | due
| users | keys | serve.

Exit codes: 0 passed (or only warnings), 1 a blocking check failed or errored, 2 usage error (an
unreachable --cluster included), 3 invalid config file or AUDITOR_* variable, policy, card or dataset, 4 model artefact refused or not
loadable (a cluster worker's copy included), 5 internal error.
A run whose only findings are waived ends WAIVED and exits 0 (an unwaived blocking failure exits 1).
`run --fail-on warn` exits 1 on an overall WARN too; `--fail-on never` exits 0 whenever the audit ran and
was stored (2, 3, 4 and the signals' codes are kept).
Options' defaults come from ./auditor.yaml (or [tool.auditor] in ./pyproject.toml, or --config FILE)
and AUDITOR_<COMMAND>_<OPTION> variables (auditor/config.py); the command line wins.
`verify` exits 1 when a run was altered, `due` when a model's approval expired, its newest artefact
is not signed off after an approval, or its re-audit is due (today) or overdue, `sign-off` when the run fails verification (an altered audit is not signed).
"""

from __future__ import annotations

import errno
import functools
import sys
import traceback
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from auditor.progress import DEFAULT_INTERVAL_S
from auditor.errors import EXIT_BLOCKING_FAILURE, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, AuditorError, InvalidInputError

if TYPE_CHECKING:  # the CLI imports only what a command uses, when it runs (`auditor --help` stays instant)
    from auditor.results import Status

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Policy-driven audits of ML models: explanations, and tests that the explanations can be trusted.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _print(f"auditor {version('auditor')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            _print("auditor (not installed: no version recorded)")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(ctx: typer.Context,
          show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                            help="Print auditor's version and exit."),
          config: Optional[Path] = typer.Option(None, "--config", envvar="AUDITOR_CONFIG",
                                                help="Options' defaults from this file (default: ./auditor.yaml, or "
                                                     "\\[tool.auditor] in ./pyproject.toml); see README \"Config file and "
                                                     "environment\".")) -> None:
    """Policy-driven audits of ML models: explanations, and tests that the explanations can be trusted."""
    from auditor.config import default_map, find_config

    try:
        mapped, origins = default_map(ctx.command, ctx, find_config(config))
    except AuditorError as exc:
        if not {"--help", "-h"} & set(sys.argv[1:]):  # a command's help is shown whatever the file says (the
            _fail(exc)                                  # group's callback runs before the command's arguments are read)
        mapped, origins = {}, {}
    ctx.default_map = mapped or None
    ctx.obj = {"origins": origins}


def _from_defaults(ctx: typer.Context) -> str | None:
    """The command's options that came from the config file or the environment, each with its
    source, as one line (a CI log then shows what the command line did not)."""
    origins = (ctx.find_root().obj or {}).get("origins", {})
    path = " ".join(_command_names(ctx))
    taken = []
    for p in ctx.command.params:
        source = ctx.get_parameter_source(p.name)  # Click's ParameterSource (typer 0.28 carries its own Click)
        if source is not None and source.name == "DEFAULT_MAP":
            name = next(o for o in p.opts if o.startswith("--"))[2:]
            taken.append(f"--{name} from {origins.get((path, name), '?')}")
    return "options " + "; ".join(taken) if taken else None


def _command_names(ctx: typer.Context) -> list[str]:
    """The command's path below the program (``["users", "add"]``), whatever the program is called
    (``auditor``, or ``python -m auditor``, which Click names in three words)."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return names[::-1]


def _console(stream) -> Console:
    """Rich's console on ``stream``, one line per message (no wrapping of a path or a name)."""
    return Console(stderr=stream is sys.stderr, soft_wrap=True)


def _widen_off_terminal() -> None:
    """On a pipe or a file, without COLUMNS set, tables are never wrapped: at Rich's default of 80
    columns a path, or a policy name in `due`'s table that a cron job mails, was broken mid-word."""
    import os

    for console, stream in ((out, sys.stdout), (err, sys.stderr)):
        try:
            terminal = stream.isatty()
        except (AttributeError, ValueError):  # no stream, or a closed one
            terminal = False
        if not terminal and not os.environ.get("COLUMNS"):
            console.width = 1_000


out = _console(sys.stdout)
err = _console(sys.stderr)

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "error": "magenta", "skipped": "dim", "waived": "cyan",
                "info": "dim"}
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process it terminated
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of the output went away
_SAID: dict[str, bool] = {}  # what a command already told the user before it exited


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, a scheduler stopping the audit), unwound like Ctrl-C: staged
    folders are removed and nothing partial remains."""


@contextmanager
def terminate_as_interrupt():
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _terminated(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def printable(text: object) -> str:
    """Text from an input (card, policy, file name) with control characters, terminal escape
    sequences included, written as ``\\x..`` escapes; newlines kept."""
    return "".join(ch if ch.isprintable() or ch == "\n" else ascii(ch)[1:-1] for ch in str(text))


def shown(text: object) -> str:
    """:func:`printable`, and Rich markup escaped: for output printed with markup on."""
    return escape(printable(text))


def _fail(exc: AuditorError) -> None:
    label = getattr(exc, "label", None) or ("invalid input" if isinstance(exc, InvalidInputError) else "error")
    err.print(f"[bold red]{label}:[/] {shown(exc)}", highlight=False, markup=True, soft_wrap=True)
    for note in getattr(exc, "__notes__", ()):
        err.print(shown(note), highlight=False, markup=True, soft_wrap=True)
    _say_defaults(_current_context())  # a value refused that nobody typed: say where it came from
    raise typer.Exit(exc.exit_code)


def _current_context() -> typer.Context | None:
    """The command's Click context (typer 0.28 carries its own Click), None outside a command."""
    from importlib import import_module

    from auditor.config import click_package

    return import_module(click_package(typer.Context) + ".globals").get_current_context(silent=True)


def _say_defaults(ctx: typer.Context | None) -> None:
    """Print, once per command, which options came from the config file or the environment."""
    if ctx is not None and not ctx.meta.get("auditor.defaults_said") and (note := _from_defaults(ctx)):
        err.print(note, highlight=False, markup=False, soft_wrap=True)
    if ctx is not None:
        ctx.meta["auditor.defaults_said"] = True


class FailOn(str, Enum):
    """`run --fail-on`: which overall statuses of an audit that ran exit 1."""

    FAIL = "fail"  # FAIL or ERROR (the default)
    WARN = "warn"  # WARN too (an unwaived warning); WAIVED and PASS still exit 0
    NEVER = "never"  # none: the audit ran and its version is stored, whatever its verdict (a report-only schedule)


def _policy_file(policy: str) -> Path | None:
    """``--policy`` as a file path where it names one (a built-in policy's name does not); None for a
    name no file system could hold (too long: the policy's own check says so, exit 2, later)."""
    try:
        return Path(policy) if Path(policy).is_file() else None
    except OSError:
        return None


def exit_code_for(status: Status, fail_on: FailOn = FailOn.FAIL) -> int:
    """The exit code of `run` once the audit ran and its version was stored: 1 for an overall FAIL or
    ERROR, and WARN too under ``--fail-on warn``; 0 otherwise, and always under ``--fail-on never``."""
    from auditor.results import Status

    failing = {FailOn.FAIL: (Status.FAIL, Status.ERROR), FailOn.WARN: (Status.FAIL, Status.ERROR, Status.WARN),
               FailOn.NEVER: ()}[FailOn(fail_on)]
    return EXIT_BLOCKING_FAILURE if status in failing else EXIT_OK


@app.command()
def run(
    ctx: typer.Context,
    policy: str = typer.Option(..., "--policy", "-p", help="Built-in policy name or path to a policy YAML."),
    card: Path = typer.Option(..., "--card", "-c", readable=False, help="Model card (README.md with front matter, or YAML)."),
    data: Path = typer.Option(..., "--data", "-d", readable=False, help="Evaluation dataset (.csv, .parquet, .jsonl)."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder; runs go to OUT/<model>/vNNNN."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow joblib/pickle models (can run code)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or mps (text models; tabular ones run on cpu)."),
    quiet: bool = typer.Option(False, "--quiet/--no-quiet", "-q", help="No progress display."),
    progress_every: float = typer.Option(DEFAULT_INTERVAL_S, "--progress-every", min=0.1, max=86_400,
                                         help="Seconds between progress lines when stderr is not a terminal (CI logs)."),
    db: Optional[str] = typer.Option(None, "--db", help="Registry URL (default OUT/audits.sqlite; env AUDITOR_DB)."),
    waivers: Optional[Path] = typer.Option(None, "--waivers", "-w", help="Waivers file: check id, justification, approver, expiry."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, max=1024,
                                       help="Workers for independent work (default: every core); results do not depend on it."),
    cluster: Optional[str] = typer.Option(None, "--cluster",
                                          help="Run the explanations on Dask: local:N (N worker processes here) or "
                                               "tcp://host:8786 (a running scheduler); results do not depend on it."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write the checks as JUnit XML to this file (for CI)."),
    summary_md: Optional[Path] = typer.Option(None, "--summary-md",
                                              help="Also append a Markdown summary to this file (for CI: $GITHUB_STEP_SUMMARY)."),
    fail_on: FailOn = typer.Option(FailOn.FAIL, "--fail-on", case_sensitive=False,
                                   help="Exit 1 on an overall FAIL or ERROR (fail), on WARN too (warn), or never: "
                                        "exit 0 whenever the audit ran and was stored."),
    prediction_cache: Optional[Path] = typer.Option(
        None, "--prediction-cache",
        help="Keep a text model's predictions and integrated-gradients path rows in this folder, and read those an "
             "earlier audit of the same model and runtime kept there (checked against the model first): a re-audit "
             "computes only what is new."),
    as_json: bool = typer.Option(False, "--json/--no-json",
                                 help="Print a JSON summary of the stored audit on stdout; the table and messages go to stderr."),
) -> None:
    """Run an audit and write a new versioned run directory."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from auditor.engine.audit import run_audit
    from auditor.progress import PlainProgress

    if not quiet:
        _say_defaults(ctx)
    if progress_every != progress_every:  # NaN passes click's range check (every comparison is false)
        _fail(_usage("--progress-every nan: expected seconds between 0.1 and 86400"))
    if junit is not None or summary_md is not None:
        from auditor.records.sqlite_reader import registry_file

        registry = registry_file(out_dir, db)  # the records' own file: a report written over it loses every run
    if junit is not None:
        from auditor.records.store import junit_path_problem

        if (problem := junit_path_problem(junit, registry)) is not None:
            _fail(_usage(f"--junit {junit}: {problem}"))
    if summary_md is not None:
        from auditor.records.store import summary_path_problem

        others = {"--data": data, "--card": card, "--policy": _policy_file(policy), "--waivers": waivers,
                  "--junit": junit}
        if (problem := summary_path_problem(summary_md, others, registry)) is not None:
            _fail(_usage(f"--summary-md {summary_md}: {problem}"))
    if cluster is not None:
        if jobs is not None:
            _fail(_usage("--jobs and --cluster: choose one (--jobs is this machine's cores, --cluster a Dask cluster's workers)"))
        from auditor.engine.cluster import parse_cluster

        try:
            parse_cluster(cluster)  # a malformed address is refused before any input is read
        except AuditorError as exc:
            _fail(exc)

    # Not a terminal (a CI log): plain timestamped lines at a steady interval instead of the live bar.
    plain = None if quiet or err.is_terminal else PlainProgress(err.file, progress_every)
    with plain or nullcontext(), Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), TextColumn("remaining"), TimeRemainingColumn(), console=err, disable=quiet or plain is not None,
            transient=True) as progress:
        task = progress.add_task("loading inputs", total=None)
        step = progress.add_task("", total=None, visible=False)

        def on_progress(check_id: str, i: int, n: int) -> None:
            progress.update(task, description=f"check {shown(check_id)}", completed=i, total=n)
            progress.reset(step, visible=False)

        def on_stage(label: str) -> None:
            progress.update(task, description=shown(label), completed=progress.tasks[task].total)
            progress.reset(step, visible=False)

        def on_step(label: str, done: int, total: int) -> None:
            current = progress.tasks[step]
            if (current.description, current.total) != (f"  {shown(label)}", total) or done < current.completed:
                # a new step, with its own estimate of the time remaining (reset starts its clock)
                progress.reset(step, total=total, description=f"  {shown(label)}", visible=True)
            progress.update(step, completed=done)

        record = None
        try:
            with terminate_as_interrupt():
                record = run_audit(policy, card, data, out_dir, allow_pickle=allow_pickle, device=device,
                                   on_progress=plain.on_progress if plain else on_progress, db=db, waivers=waivers,
                                   jobs=jobs, on_step=plain.on_step if plain else on_step, cluster=cluster,
                                   on_stage=plain.on_stage if plain else on_stage, prediction_cache=prediction_cache)
        except AuditorError as exc:
            progress.stop()
            if plain is not None:
                plain.stop()
            _fail(exc)
        except KeyboardInterrupt as exc:
            progress.stop()
            if plain is not None:
                plain.stop()  # no progress line after the message
            _interrupted_run(exc, getattr(exc, "stored_run", None) or (record.path if record is not None else None),
                             getattr(exc, "registered", True), out_dir, db)
    try:  # the version is stored and registered: a signal now must say so, not "nothing written"
        with terminate_as_interrupt():
            _report_run(record, as_json=as_json, junit=junit, summary_md=summary_md, fail_on=fail_on)
    except KeyboardInterrupt as exc:
        _interrupted_run(exc, record.path, record.registry_problem is None, out_dir, db,
                         unfinished=[f"{flag} {path}" for flag, path in (("--junit", junit), ("--summary-md", summary_md))
                                     if path is not None])


def _interrupted_run(exc: KeyboardInterrupt, stored: Path | None, registered: bool, out_dir: Path, db: str | None,
                     unfinished: list[str] = ()) -> None:
    """Say what a Ctrl-C or SIGTERM left of a run (nothing, or the stored version it names) and exit 130 / 143.
    ``unfinished``: the files the run writes once its version is stored (--junit, --summary-md)."""
    how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    if stored is None:
        said = "the audit stopped; nothing partial was written (a version is written whole or not at all)"
    else:  # the signal came after the version was renamed into place: it exists, whole
        said = (f"the audit had finished and was stored as {printable(stored)} (complete; `auditor verify` "
                "checks it)")
        if not registered:
            said += (f"; the registry may not list it yet: `auditor history --rebuild --out {printable(out_dir)}`"
                     f"{' with the same --db' if db else ''} indexes it, as the model's next run does")
        if unfinished:
            said += f"; {' and '.join(printable(u) for u in unfinished)} may not have been written"
    err.print(f"{how}: {said}", highlight=False, markup=False, soft_wrap=True)
    _SAID["interrupted"] = True
    raise typer.Exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED) from None


def _report_run(record, *, as_json: bool, junit: Path | None, summary_md: Path | None, fail_on: FailOn) -> None:
    """The stored run's table, its --junit and --summary-md files and --json summary; exits with the run's code."""
    result = record.result
    human = err if as_json else out  # with --json, stdout holds the JSON document alone
    table = Table(title=shown(f"{result.model.name} {result.model.version} — policy {result.policy.name} {result.policy.version}"))
    table.add_column("check")
    table.add_column("status")
    table.add_column("key figure")
    from auditor.render.scope import INFO, display_overall, display_status
    from auditor.render.step_summary import check_figure

    for c in result.checks:
        style = STATUS_STYLE[c.status.value]
        # the key figure, and the gate that made it WARN or FAIL beside a key figure of another
        table.add_row(shown(c.id), f"[{style}]{display_status(c).upper()}[/]", shown(check_figure(c)))
    human.print(table)
    for c in result.checks:
        w = c.waiver
        if w is not None and w.state in ("applied", "expired", "not-covered"):
            by = f"{w.approver} (approved {w.approved})" if w.approved else w.approver
            waived = (f"{w.status_before.value.upper()} waived by {by} until {w.expires}" if w.state == "applied"
                      else f"waiver by {by} expired on {w.expires}; not applied" if w.state == "expired"
                      else f"waiver by {by} does not cover {', '.join(w.uncovered)}; not applied")
            human.print(f"  {printable(c.id)}: {printable(waived)}", markup=False, highlight=False, soft_wrap=True)
    overall = display_overall(result)
    human.print(f"overall: [{STATUS_STYLE.get(overall, 'dim')}]{overall.upper()}[/]   ({record.path.name})"
               + ("\n  no check is gated by a warning or blocking threshold: this audit judges nothing" if overall == INFO else ""))
    for name in ("result.json", "report.html", "report.pdf", "manifest.json"):
        human.print(f"  {record.path / name}", highlight=False, markup=False, soft_wrap=True)
    if record.registry_problem:
        err.print(f"notice: {printable(record.registry_problem)}", highlight=False, markup=False, soft_wrap=True)
    after = []  # the files the run adds once its version is stored: (option, path, what, write)
    if junit is not None:
        from auditor.records.atomic import replace_file
        from auditor.render.junit import junit_xml

        after.append(("--junit", junit, "JUnit report", lambda: replace_file(junit, junit_xml(result))))
    if summary_md is not None:
        from auditor.render.step_summary import append_summary

        after.append(("--summary-md", summary_md, "summary", lambda: append_summary(summary_md, result, record.path)))
    for option, path, what, write in after:
        try:
            write()
        except OSError as exc:  # checked before the run, but the folder can change while it runs
            _fail(_usage(f"{option} {path}: cannot be written ({exc.strerror or exc}); the audit itself was stored "
                         f"as {record.path}, and no {what} was written"))
        human.print(f"  {path}", highlight=False, markup=False, soft_wrap=True)
    code = exit_code_for(result.status, fail_on)
    if code != exit_code_for(result.status):  # said only where --fail-on changed the exit code
        err.print(f"exit {code}: overall {result.status.value.upper()} and --fail-on {FailOn(fail_on).value}",
                  highlight=False, markup=False, soft_wrap=True)
    if as_json:
        from auditor.render.run_json import run_json, run_summary

        written = {option.removeprefix("--").replace("-", "_"): path for option, path, _, _ in after}
        sys.stdout.write(run_json(run_summary(result, record.path, code, written, record.registry_problem)))
    raise typer.Exit(code)


@app.command()
def validate(
    policy: str = typer.Option(..., "--policy", "-p", help="Built-in policy name or path to a policy YAML."),
    card: Optional[Path] = typer.Option(None, "--card", "-c", readable=False,
                                        help="Model card to validate the policy against (its task, features, groups)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", readable=False,
                                        help="Evaluation dataset to validate against the card (needs --card)."),
    waivers: Optional[Path] = typer.Option(None, "--waivers", "-w", help="Waivers file to validate with the policy."),
) -> None:
    """Validate a policy (with the policies it extends and its waivers; and a card and dataset) without loading the model."""
    from auditor.inputs.dataset import load_dataset
    from auditor.inputs.model_card import load_model_card
    from auditor.policy.load import load_policy
    from auditor.policy.thresholds import hollow_gates
    from auditor.checks import CHECK_REGISTRY
    from auditor.engine.runner import build_plan, check_compute, check_gates, check_group_columns, check_prompt_variants
    from auditor.models.decoder import PromptedCausalLM, check_label_words, unloaded_prompt_problems
    from auditor.models.kinds import kind_for_card

    try:
        loaded = load_policy(policy, waivers)

        def say_policy() -> None:  # with --card, once the card's model confirms its gates and group columns
            out.print(f"policy {printable(loaded.policy.name)} {printable(loaded.policy.version)}: valid ({len(loaded.policy.checks)} checks)", markup=False, highlight=False, soft_wrap=True)
            for f in loaded.chain[1:]:
                out.print(f"  extends {printable(f.source)}", markup=False, highlight=False, soft_wrap=True)
            effective = loaded.policy.effective_from
            if effective is not None and effective > datetime.now(timezone.utc).date():
                out.print(f"  warning: effective_from {effective} is in the future: an audit run today is under a policy not "
                          "yet in effect (the report says so)", markup=False, highlight=False, soft_wrap=True)
            for c, params in zip(loaded.policy.checks, loaded.params):  # a gate met (or missed) by every value
                for hollow in hollow_gates(CHECK_REGISTRY[c.check].measurement_ranges(params), c.thresholds):
                    out.print(f"  warning: {printable(c.check_id)}: {printable(hollow)}", markup=False, highlight=False,
                              soft_wrap=True)
            for weaker in loaded.weakened:  # replacing a parent's gate is allowed; loosening it is said
                out.print(f"  warning: {printable(weaker)}", markup=False, highlight=False, soft_wrap=True)
            for w in loaded.waivers:
                when = "expired" if w.waiver.expires < datetime.now(timezone.utc).date() else "valid until"
                gates = f" (gates {', '.join(w.waiver.gates)} only)" if w.waiver.gates else ""
                approved = f", approved {w.waiver.approved}" if w.waiver.approved else ""
                out.print(f"  waiver for {printable(w.waiver.check)}{printable(gates)} ({printable(w.source)}): {when} "
                          f"{w.waiver.expires}{approved}", markup=False, highlight=False, soft_wrap=True)

        if data is not None and card is None:
            raise_usage("--data needs --card (the card says which columns to expect)")
        if card is None:
            say_policy()
        else:
            try:
                model_card = load_model_card(card)
                kind = kind_for_card(model_card)
                if kind is PromptedCausalLM:  # its label words against the tokenizer, no weights loaded
                    check_label_words(model_card)
            except AuditorError:
                say_policy()  # the card's problem, not the policy's
                raise
            plan = build_plan(loaded, kind)
            check_gates(loaded, plan, kind)  # a gate this kind of model cannot have: the policy is not valid for it
            listed = model_card.feature_names  # the card's features, where it lists them: counted in the compute bound
            check_compute(loaded, plan, model_card.auditor.task, None if listed is None else len(listed))
            unused_bands = check_group_columns(loaded, plan, model_card)
            if kind is PromptedCausalLM:  # the policy's prompt variants against the tokenizer, as run checks them
                check_prompt_variants(loaded, plan, functools.partial(unloaded_prompt_problems, model_card))
            say_policy()

            def say_card() -> None:  # with --data, once the data confirm it too (its classes, positive and favourable class)
                out.print(f"card {card}: valid ({model_card.auditor.task}, model {printable(model_card.model_name)})",
                          markup=False, highlight=False, soft_wrap=True)
                for problem in model_card.claim_problems:  # the run leaves such a claim out: say it before the run
                    out.print(f"  warning: claim not read, so not checked: {printable(problem)}", markup=False,
                              highlight=False, soft_wrap=True)
                for planned in plan:
                    if planned.skip_reason:
                        out.print(f"  check {printable(planned.spec.check_id)} will be skipped: {planned.skip_reason}", markup=False, highlight=False, soft_wrap=True)
                for said in unused_bands:
                    out.print(f"  note: {printable(said)}", markup=False, highlight=False, soft_wrap=True)

            if data is None:
                say_card()
            else:
                from auditor.engine.audit import check_dataset_classes, check_decision_threshold, fairness_groups

                ds = load_dataset(data, model_card, max_rows=loaded.policy.dataset.max_rows, seed=loaded.policy.seed,
                                  fairness_groups=fairness_groups(plan))
                check_group_columns(loaded, plan, model_card, ds.sensitive)
                check_compute(loaded, plan, model_card.auditor.task, len(ds.feature_names), len(ds))  # the data's width, rows
                classes = check_dataset_classes(model_card, ds)
                if classes is not None:  # else the model's classes are known once it loads (auditor run)
                    check_decision_threshold(model_card, classes)  # as run refuses it (exit 3)
                elif model_card.auditor.task != "tabular-regression":  # 3+ labels in the data: 3+ classes
                    check_decision_threshold(model_card, sorted(set(ds.labels.tolist())), from_data=True)
                shape = (f"text column {ds.feature_names[0]!r}" if model_card.auditor.task == "text-classification"
                         else f"{len(ds.feature_names)} feature{'s' if len(ds.feature_names) != 1 else ''}")
                say_card()
                out.print(f"dataset {data}: valid ({len(ds)} rows, {shape})", markup=False, highlight=False, soft_wrap=True)
                for note in ds.notes:  # rows left out, texts cut: said before the run, as the run says them
                    out.print(f"  note: {printable(note)}", markup=False, highlight=False, soft_wrap=True)
                min_rows = loaded.policy.dataset.min_rows
                if min_rows is not None and len(ds) < min_rows:
                    out.print(f"  warning: {len(ds)} rows, fewer than the policy's dataset.min_rows ({min_rows}): no "
                              "threshold can be met, so every gated check will report it cannot be judged",
                              markup=False, highlight=False, soft_wrap=True)
    except AuditorError as exc:
        _fail(exc)


def _usage(message: str) -> AuditorError:
    from auditor.errors import UsageError

    return UsageError(message)


def raise_usage(message: str) -> None:
    from auditor.errors import UsageError

    raise UsageError(message)


@app.command(short_help="Rebuild report.html and report.pdf of a run from its result.json alone, into a new folder (a stored run is sealed).")
def render(
    run_dir: Path = typer.Argument(..., help="A run directory containing result.json."),
    to: Optional[Path] = typer.Option(None, "--to", help="A new folder for the reports (default <model>/renders/<version>-N/)."),
) -> None:
    """Rebuild report.html and report.pdf of a run from its result.json alone, into a new folder:
    a stored run is sealed and never modified."""
    from auditor.engine.audit import rerender
    from auditor.records.store import is_stored_run

    try:
        for path in rerender(run_dir, to).values():
            out.print(str(path), highlight=False, markup=False, soft_wrap=True)
    except AuditorError as exc:
        _fail(exc)
    if is_stored_run(run_dir.resolve()):  # a report rebuilt from an altered run would read as the audit's
        from auditor.records.verify import verify_run

        try:
            findings = verify_run(run_dir).findings
        except AuditorError as exc:
            findings = [f"it could not be verified: {exc}"]
        if findings:
            err.print(f"warning: {shown(str(run_dir))} fails verification; the reports show its result.json as it is now, "
                      "which may not be what was audited:", highlight=False, soft_wrap=True)
            for finding in findings:
                err.print(f"  {shown(str(finding))}", highlight=False, soft_wrap=True)


def _applicability_comment(loaded) -> str:
    """Which of the policy's checks run on each task and why the others are skipped (the plan's
    reasons), as YAML comments, so the printed policy still parses."""
    from auditor.engine.runner import build_plan
    from auditor.models.kinds import KINDS

    plans = {task: build_plan(loaded, task) for task in KINDS}
    lines = ["# Which checks apply to which task (the plan, before any model loads):"]
    for i, spec in enumerate(loaded.policy.checks):
        lines.append(f"#   {spec.check_id}:")
        lines += [f"#     {task}: " + ("runs" if plan[i].skip_reason is None else f"skipped, {plan[i].skip_reason}")
                  for task, plan in plans.items()]
    return "\n".join(lines)


@app.command()
def policies(
    action: Optional[str] = typer.Argument(None, help="'show' to print one policy."),
    name: Optional[str] = typer.Argument(None, help="Policy name or path (with 'show')."),
    raw: bool = typer.Option(False, "--raw", help="With 'show': print the file as written, not the resolved policy."),
) -> None:
    """List the built-in policies, or show one resolved (with everything it inherits)."""
    from auditor.policy.catalog import builtin_policies, first_sentence, policy_summary  # the listing never builds the schema

    try:
        if action is None:
            wide = out.width >= 120
            table = Table()
            for column in ("policy", "version", "owner", "extends", "checks", *(("description",) if wide else ())):
                table.add_column(column, no_wrap=column not in ("owner", "description"), overflow="fold")
            for key in builtin_policies():
                p = policy_summary(key)
                label = key if p["id"] == key else f"{key} (id {p['id']})"
                row = [label, p["version"], shown(p["owner"]), p["extends"], str(p["checks"])]
                table.add_row(*row, *((shown(first_sentence(p["description"])),) if wide else ()))
            out.print(table)
        elif action == "show" and name:
            from auditor.policy.load import load_policy

            loaded = load_policy(name)
            out.print(printable(loaded.text if raw else loaded.resolved_yaml()), highlight=False, markup=False, soft_wrap=True)
            if not raw:
                out.print(printable(_applicability_comment(loaded)), highlight=False, markup=False, soft_wrap=True)
        else:
            raise_usage("usage: auditor policies [show NAME]")
    except AuditorError as exc:
        _fail(exc)


# --- history, diff, sign-off, verify, due: the records a compliance process keeps ---------------

DB_HELP = "Registry: any SQLAlchemy URL (default OUT/audits.sqlite; env AUDITOR_DB)."


def _registry_failed(exc: Exception) -> None:
    err.print(f"[bold red]registry error:[/] {shown(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}",
              highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def _registry_rows(out_dir: Path, db: str | None, model: str | None = None, *, rebuild: bool = False) -> list[dict]:
    """The registry's runs (``model``'s, or all) for `history` and `due`: a healthy local SQLite registry
    read without SQLAlchemy (records/sqlite_reader.py); anything else, and ``rebuild``, through
    records/registry.py, which opens, builds, rebuilds or reports it (exit 2)."""
    from auditor.records.sqlite_reader import read_runs

    rows = None if rebuild else read_runs(out_dir, db, model)
    if rows is not None:
        _warn_foreign_rows(out_dir, db, rows)
        return rows
    from auditor.records.registry import DB_ERRORS, open_registry

    try:
        with open_registry(out_dir, db, rebuild=rebuild, must_exist=not rebuild) as registry:
            if rebuild:
                n = registry.rebuild(out_dir)
                err.print(f"registry rebuilt: {n} run{'s' * (n != 1)} indexed from {shown(str(out_dir))}", highlight=False)
                if registry.moved_aside is not None:
                    err.print(f"  the unreadable registry was kept as {shown(str(registry.moved_aside))}: it held the "
                              "reviewer accounts and the registered signing keys, which the run folders do not record; "
                              "until a backup of it is restored, signed sign-offs cannot be verified and reviewers must "
                              "be added again (`auditor users add`)", highlight=False, soft_wrap=True)
                for path, why in registry.skipped:
                    err.print(f"  skipped {shown(str(path))}: {shown(why)}; a row recorded for it is kept (`auditor verify` "
                              "names what was altered)",
                              highlight=False, soft_wrap=True)
                for path in registry.dropped:
                    err.print(f"  unindexed {shown(str(path))}: the registry recorded this run, and its folder is gone "
                              "(its number stays taken: the registry keeps it among the retired versions, and `auditor verify` names the gap)",
                              highlight=False, soft_wrap=True)
                for path, was, now in registry.changed:
                    err.print(f"  warning: {shown(str(path))} was recorded with manifest sha256 {shown(str(was)[:16])}…, its "
                              f"files now hash as {shown(str(now)[:16])}…: the run was altered or replaced since it was "
                              "written; its recorded row is kept (`auditor verify` names what was altered)",
                              highlight=False, soft_wrap=True)
                for path in registry.signoffs_changed:
                    err.print(f"  warning: {shown(str(path))}: its latest sign-off record is not the one recorded when it "
                              "was made (the log was edited; records are only ever appended): the recorded sign-off is "
                              "kept (`auditor verify` names what was altered)", highlight=False, soft_wrap=True)
            rows = registry.history(model)
    except AuditorError as exc:
        _fail(exc)
    except DB_ERRORS as exc:
        _registry_failed(exc)
    _warn_foreign_rows(out_dir, db, rows)
    return rows


def _warn_foreign_rows(out_dir: Path, db: str | None, rows: list[dict]) -> None:
    """The output folder's own registry indexes runs elsewhere: the folder was moved or copied with
    it (every row names the old place), and a run written since sits beside the old rows as a
    second series (`due` would list the old one's re-audit as overdue). Said, with the remedy."""
    import os

    from auditor.records.runs import ENV_DB

    if db or os.environ.get(ENV_DB):
        return  # a shared registry holds other folders' runs by design
    root = str(out_dir.resolve())
    elsewhere = sorted({str(Path(r["run_path"]).parent.parent) for r in rows
                        if not str(r["run_path"]).startswith(root + os.sep)})
    if elsewhere:
        err.print(f"warning: the registry {shown(str(out_dir / 'audits.sqlite'))} indexes runs under "
                  f"{shown(', '.join(elsewhere))}, not under {shown(root)}: the output folder was moved or copied with "
                  f"its registry; `auditor history --rebuild --out {shown(str(out_dir))}` indexes its runs where they are",
                  highlight=False, soft_wrap=True)


def _print(text: str) -> None:
    out.print(printable(text), highlight=False, markup=False, soft_wrap=True)


@app.command(short_help="List the audits in the registry: model, version, date, policy, status, model hash, sign-off.")
def history(
    model: Optional[str] = typer.Argument(None, help="A model name (or its folder name); all models when omitted."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder holding OUT/<model>/vNNNN."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    rebuild: bool = typer.Option(False, "--rebuild/--no-rebuild", help="Re-index every run under OUT from its files first."),
    as_json: bool = typer.Option(False, "--json/--no-json", help="Print the rows as JSON."),
) -> None:
    """List the audits in the registry: model, version, date, policy, status, model hash, sign-off
    (--json adds the run paths and every hash)."""
    import json

    rows = _registry_rows(out_dir, db, model, rebuild=rebuild)
    if as_json:  # written as it is: JSON escapes every control character, and rich's layout of 1,000 rows took 0.4 s
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        # a mistyped name read as an empty history: name the models the registry has
        known = sorted({r["model"] for r in _registry_rows(out_dir, db, None)}) if model else []
        _print(f"no audits recorded{' for ' + model if model else ''}"
               + (f" (the registry has: {', '.join(known)})" if known else ""))
        return
    # fits 80 columns: no borders, short fields never wrap, model names keep up to 24 characters on
    # a line, policy and sign-off wrap at spaces onto more lines; a wider terminal gives the policy
    # name (a word: folding cuts it) what it needs, up to 40 characters
    name_width = min(24, max(len(r["model"]) for r in rows))
    policy_width = max(12, min(40, out.width - 68, max(len(r["policy_name"]) for r in rows)))
    table = Table(Column("model", overflow="fold", min_width=name_width), Column("audit", no_wrap=True, min_width=10),
                  Column("policy", overflow="fold", max_width=policy_width), Column("status", no_wrap=True),
                  Column("sha256", no_wrap=True), Column("sign-off", overflow="fold"),
                  box=None, padding=(0, 2, 0, 0), header_style="bold underline")
    decisions = {"approve": "approved", "approve-with-conditions": "approved with conditions", "reject": "rejected"}
    for r in rows:
        signoff = "—"
        if r["signoff_decision"]:
            signoff = f"{decisions.get(r['signoff_decision'], r['signoff_decision'])} by {r['signoff_reviewer']}"
            if r["signoff_valid_until"]:
                signoff += f" until {r['signoff_valid_until']}"
        # an edited result's status, date or hash is shown as written: never read as markup, never an unknown style
        style = STATUS_STYLE.get(r["status"], "dim")
        table.add_row(shown(r["model"]), shown(f"{r['version']}\n{r['created_at'][:10]}"),
                      shown(f"{r['policy_name']} {r['policy_version']}"), f"[{style}]{shown(r['status'].upper())}[/]",
                      shown(r["model_sha256"][:8]), shown(signoff))
    out.print(table)


@app.command(short_help="Compare two audits: verdicts, measurements, explanation drift, policy and input changes.")
def diff(
    run_a: Path = typer.Argument(..., help="The earlier run, A (given alone: the newer run, compared with its previous)."),
    run_b: Optional[Path] = typer.Argument(None, help="The later run, B, compared with A (default: RUN_A against its previous run)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the diff (default <model>/diffs/<a>-vs-<b>)."),
    top_k: int = typer.Option(5, "--top-k", help="Size of the top-feature sets compared for explanation drift."),
    no_pdf: bool = typer.Option(False, "--no-pdf/--pdf", help="Write diff.json and diff.html only."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP + " Holds the registered signing keys."),
) -> None:
    """Compare two audits: verdicts, measurements, explanation drift, policy and input changes. Each run
    is verified as `auditor verify` does; one that does not verify is named on the diff's cover and
    here (exit 1)."""
    from auditor.records.diff import check_line, diff_warnings, write_diff

    older, newer = (None, run_a) if run_b is None else (run_a, run_b)
    try:
        result = write_diff(older, newer, out_dir, top_k=top_k, pdf=not no_pdf, db=db)
    except AuditorError as exc:
        _fail(exc)
    d, s = result.data, result.data["summary"]
    _print(f"{d['a']['model']} {d['a']['version']} -> {d['b']['model']} {d['b']['version']}: "
           f"status {d['status']['a']} -> {d['status']['b']}")
    for warning in diff_warnings(d):  # the diff's cover says the same before its figures
        _print(f"  warning: {warning}")
    for c in d["checks"]:
        if (line := check_line(c)) is not None:
            _print(f"  {line}")
    _print(f"  {s['measurements_changed']} measurements changed; inputs changed: {', '.join(s['inputs_changed']) or 'none'}; "
           f"policy changed: {', '.join(s['policy_changed']) or 'none'}"
           + (f" ({', '.join(c['file'] for c in d['policy']['chain'])})" if d["policy"].get("chain") else ""))
    for name in ("diff.json", "diff.html", "diff.pdf"):
        if (result.path / name).is_file():
            _print(f"  {result.path / name}")
    unverified = [(side, d["integrity"][side]) for side in s.get("unverified", [])]
    for side, check in unverified:  # said on the diff's cover too
        out.print(f"[bold red]NOT VERIFIED[/] {side.upper()} {shown(str(d[side]['version']))}: its figures may not be "
                  "what its audit wrote; `auditor verify` lists every finding", highlight=False)
        for finding in check["findings"]:
            _print(f"  {finding}")
        if check.get("more"):
            _print(f"  and {check['more']} more")
    if unverified:
        raise typer.Exit(EXIT_BLOCKING_FAILURE)


@app.command("sign-off")
def sign_off(
    run_dir: Path = typer.Argument(..., help="The run directory to sign off."),
    reviewer: str = typer.Option(..., "--reviewer", help="Who signs off."),
    decision: str = typer.Option(..., "--decision", help="approve | approve-with-conditions | reject"),
    comment: str = typer.Option(..., "--comment", help="What the decision rests on (conditions, reasons)."),
    valid_until: Optional[str] = typer.Option(None, "--valid-until", help="Approval expiry date, YYYY-MM-DD."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    conditions: Optional[str] = typer.Option(None, "--conditions", help="With approve-with-conditions: the conditions."),
    key: Optional[str] = typer.Option(None, "--key", help="Sign the record with this registered key (auditor keys new NAME)."),
) -> None:
    """Record a reviewer's decision next to a run (its files are untouched) and write report-signed-N.pdf."""
    from auditor.records.signoff import sign_off as record_sign_off

    try:
        signed = record_sign_off(run_dir, reviewer=reviewer, decision=decision, comment=comment,
                                 valid_until=valid_until, db=db, conditions=conditions, key=key)
    except AuditorError as exc:
        _fail(exc)
    r, before = signed.record, signed.previous
    _print(f"{r['model']} {r['version']}: {r['decision']} by {r['reviewer']} (sign-off #{r['n']}"
           f"{', valid until ' + r['valid_until'] if r['valid_until'] else ''})")
    if isinstance(before, dict) and before.get("decision") != r["decision"]:  # the CLI shows no log before signing
        _print(f"  replaces sign-off #{before.get('n', '?')} as the run's decision: {before.get('decision', '?')} by "
               f"{before.get('reviewer', '?')} at {before.get('signed_at', '?')}")
    _print(f"  {signed.pdf}")
    _print(f"  {signed.log}")


@app.command(short_help="Recompute every hash of a run, its hash-chain links and sign-off signatures (exit 1: altered).")
def verify(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories to verify."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP + " Holds the registered signing keys."),
) -> None:
    """Recompute every hash of a run and its hash-chain links, and check sign-off signatures; name
    what was altered, a signature that does not match or an unknown key (exit 1)."""
    from auditor.records.verify import UNTRUSTED_SIGNOFF, verify_run

    altered = False
    for run_dir in run_dirs:
        try:
            checked = verify_run(run_dir, db=db)
        except AuditorError as exc:
            _fail(exc)
        if checked.ok:
            what = "files verified; not checked:" if checked.unchecked else "files and the chain verified"
            out.print(f"[green]OK[/] {shown(str(checked.run))}: {checked.checked_files} {what}", highlight=False)
            for line in checked.unchecked:
                _print(f"  {line}")
            for line in checked.signatures:
                _print(f"  {line}")
            continue
        altered = True
        # a signature by a key revoked by then: the files are as they were, the sign-off is not to be trusted
        head = "ALTERED" if any(f.problem not in UNTRUSTED_SIGNOFF for f in checked.findings) else "UNTRUSTED SIGN-OFF"
        out.print(f"[bold red]{head}[/] {shown(str(checked.run))}", highlight=False)
        for finding in checked.findings:
            _print(f"  {finding}")
    raise typer.Exit(EXIT_BLOCKING_FAILURE if altered else EXIT_OK)


@app.command()
def due(
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder holding OUT/<model>/vNNNN."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Evaluate on this date (YYYY-MM-DD, a UTC day) instead of today, "
                                        "as the records stood at its end: runs and sign-offs made after it are left out."),
) -> None:
    """List models whose approval expired, whose new artefact is not signed off, or whose re-audit is due today or overdue (exit 1 when any)."""
    from auditor.records.runs import parse_date
    from auditor.records.schedule import as_datetime, due as due_items, as_of as rows_as_of

    try:
        now = as_datetime(parse_date(as_of, "--as-of")) if as_of else None
    except AuditorError as exc:
        _fail(exc)
    rows = _registry_rows(out_dir, db)
    items = due_items(rows_as_of(rows, now) if now else rows, now)
    if not items:
        _print("nothing due")
        raise typer.Exit(EXIT_OK)
    # the detail names a run folder to verify: folded onto more lines, never cut with an ellipsis
    table = Table(Column("model", overflow="fold"), "reason", Column("since", no_wrap=True), Column("detail", overflow="fold"))
    for item in items:
        table.add_row(shown(item.model), f"[red]{item.reason}[/]", item.since, shown(item.detail))
    out.print(table)
    raise typer.Exit(EXIT_BLOCKING_FAILURE)


cache_app = typer.Typer(no_args_is_help=True, help="The files of a --prediction-cache folder: list them, remove those no audit uses.")
app.add_typer(cache_app, name="cache")


@cache_app.command("list")
def cache_list(folder: Path = typer.Argument(..., help="A --prediction-cache folder.")) -> None:
    """List the kept files (one per model, runtime and auditor version), least recently used first."""
    from auditor.models.kept_files import survey

    try:
        files, others = survey(folder)
    except AuditorError as exc:
        _fail(exc)
    for k in files:
        _print(k.describe())
    for path in others:
        _print(f"{path.name}  not a kept file (left alone)")
    _print(f"{len(files)} kept file{'s' * (len(files) != 1)}, {sum(k.size for k in files) / 2**20:.1f} MiB")


@cache_app.command("prune")
def cache_prune(
    folder: Path = typer.Argument(..., help="A --prediction-cache folder."),
    unused_days: int = typer.Option(..., "--unused-days", help="Remove the kept files no audit has opened for this many days (1 or more)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed; remove nothing."),
) -> None:
    """Remove the kept files no audit has opened (read or added to) for --unused-days days; other files are left alone."""
    from auditor.models.kept_files import prune

    try:
        stale, kept, others = prune(folder, unused_days, datetime.now(timezone.utc), dry_run=dry_run)
    except AuditorError as exc:
        _fail(exc)
    verb = "would remove" if dry_run else "removed"
    for k in stale:
        _print(f"{verb} {k.describe()}")
    for path in others:
        _print(f"{path.name}  not a kept file (left alone)")
    _print(f"{verb} {len(stale)} kept file{'s' * (len(stale) != 1)} ({sum(k.size for k in stale) / 2**20:.1f} MiB); "
           f"{len(kept)} used in the last {unused_days} day{'s' * (unused_days != 1)} kept")


# --- the reviewer's workspace: accounts, signing keys, the web server ---------------------------

users_app = typer.Typer(no_args_is_help=True, help="Accounts of `auditor serve` (stored in the output folder's registry).")
keys_app = typer.Typer(no_args_is_help=True, help="Ed25519 keys that sign sign-offs.")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")


def _read_password() -> str:
    """From the terminal (hidden, asked twice), or two lines of stdin when it is not a terminal."""
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    lines = sys.stdin.read().splitlines()
    if len(lines) < 2:
        raise _usage("stdin is not a terminal: give the password twice, one line each")
    if lines[0] != lines[1]:
        raise _usage("the two passwords read from stdin differ")
    return lines[0]


def _read_registry(out_dir: Path, db: str | None, read):
    """What ``read`` finds in the registry, for a command that only lists what it holds besides the runs
    (`users list`, `keys list`): the registry read as it is, never created, built or given the tables
    a newer version adds (those it lacks hold nothing); one that cannot be read exits 2."""
    from auditor.records.registry import open_registry

    try:
        with open_registry(out_dir, db, must_exist=True, build=False) as registry:
            return read(registry)
    except AuditorError as exc:
        _fail(exc)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Login name (letters, digits, . _ @ -)."),
    role: str = typer.Option(..., "--role", help="viewer | reviewer (may reject) | approver (may approve)."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder whose registry holds the accounts."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Add an account; the password is read from the terminal (or twice from stdin) and stored as an Argon2id hash."""
    from auditor.records.accounts import add_user, check_new_user
    from auditor.records.registry import open_registry

    try:
        check_new_user(name, role, "x" * 100)  # name and role first: no password asked for in vain
        password = _read_password()
        with open_registry(out_dir, db) as registry:
            user = add_user(registry, name, role, password)
    except AuditorError as exc:
        _fail(exc)
    _print(f"user {user.name} added ({user.role})")


@users_app.command("list")
def users_list(
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder whose registry holds the accounts."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """List the accounts, their roles and state (active, or disabled since when, by whom and why)."""
    from auditor.records.accounts import list_users

    for u in _read_registry(out_dir, db, list_users):
        _print(f"{u.name}  {u.role}  since {u.created_at}  {u.state}")


@users_app.command("disable")
def users_disable(
    name: str = typer.Argument(..., help="The account to switch off."),
    reason: str = typer.Option(..., "--reason", help="Why (its holder left, a role changed): recorded and shown."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder whose registry holds the accounts."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Disable an account: it can no longer log in to `serve` nor sign off; its past sign-offs stay valid."""
    from auditor.records.accounts import disable_user

    _change_account(out_dir, db, lambda registry: disable_user(registry, name, reason))


@users_app.command("enable")
def users_enable(
    name: str = typer.Argument(..., help="The disabled account to switch on again."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder whose registry holds the accounts."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Enable a disabled account again (its disablement stays recorded)."""
    from auditor.records.accounts import enable_user

    _change_account(out_dir, db, lambda registry: enable_user(registry, name))


def _change_account(out_dir: Path, db: str | None, change) -> None:
    """``change(registry)`` on the output folder's registry (or ``db``), and the account's state it leaves."""
    from auditor.records.registry import open_registry

    try:
        with open_registry(out_dir, db) as registry:
            user = change(registry)
    except AuditorError as exc:
        _fail(exc)
    _print(f"user {user.name} ({user.role}): {user.state}")


@keys_app.command("new")
def keys_new(
    name: str = typer.Argument(..., help="Key name (recorded in every sign-off it signs)."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder whose registry holds the public keys."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Create an Ed25519 key pair: the private key to $AUDITOR_KEYS_DIR (default ~/.config/auditor/keys)/NAME.pem, the public key into the registry."""
    from auditor.records.registry import open_registry
    from auditor.records.signatures import new_key

    try:
        with open_registry(out_dir, db) as registry:
            path, fp = new_key(registry, name)
    except AuditorError as exc:
        _fail(exc)
    _print(f"key {name}: private key {path} (keep it secret); public key registered, fingerprint {fp}")


@keys_app.command("revoke")
def keys_revoke(
    name: str = typer.Argument(..., help="The registered key that signs nothing from --at on."),
    reason: str = typer.Option(..., "--reason", help="Why (leaked, rotated, its holder left): recorded and shown by verify."),
    at: Optional[str] = typer.Option(None, "--at", help="From when, ISO 8601 with a UTC offset (default now; an earlier "
                                     "moment: when it leaked; a later one: an expiry)."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder whose registry holds the public keys."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Revoke a signing key (or set its expiry): sign-offs refuse it from --at on, and verify names a signature it made then or later."""
    from auditor.records.registry import open_registry
    from auditor.records.signatures import revoke_key, utc_now

    try:
        with open_registry(out_dir, db) as registry:
            revocation = revoke_key(registry, name, reason, at)
    except AuditorError as exc:
        _fail(exc)
    _print(f"key {name} (fingerprint {revocation.fingerprint}): {revocation.status(utc_now())}, recorded "
           f"{revocation.recorded_at.isoformat()}: {revocation.reason}")


@keys_app.command("list")
def keys_list(
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder whose registry holds the public keys."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """List the registered keys: fingerprint, created, and status (active, revoked since, expires, expired since)."""
    from auditor.records.signatures import key_statuses, utc_now  # the clock revocations are judged by

    keys = _read_registry(out_dir, db, key_statuses)
    now = utc_now()
    for k in keys:
        _print(f"{k.name}  {k.fingerprint[:16]}…  created {k.created_at}  {k.status(now)}")
    if not keys:
        _print("no keys registered (`auditor keys new NAME` creates one)")


@app.command()
def serve(
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder to serve (read-only, but for sign-offs)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    key: Optional[str] = typer.Option(None, "--key", help="Sign every web sign-off with this registered key."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="Serve over HTTPS with this certificate (PEM)."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="The certificate's private key (PEM)."),
) -> None:
    """A reviewer's workspace in the browser: models, versions, reports, diffs, the due list, sign-off."""
    from auditor.web.app import create_app, listen, run_server

    try:
        if (tls_cert is None) != (tls_key is None):
            raise _usage("--tls-cert and --tls-key go together")
        if tls_cert is not None:
            _check_tls_pair(tls_cert, tls_key)
        web = create_app(out_dir, db=db, key=key, secure=tls_cert is not None, host=host)
        sock = listen(host, port)  # bound before it says it serves: a busy port says only that
        scheme = "https" if tls_cert else "http"
        port = sock.getsockname()[1]  # --port 0: the one the system picked
        shown_host = f"[{host}]" if ":" in host else host
        err.print(f"serving {shown(str(out_dir))} on {scheme}://{shown_host}:{port}/ (Ctrl-C stops)", highlight=False)
        if tls_cert is None and not _loopback(host):
            err.print(f"warning: {shown(host)} is reachable from other machines and this is plain HTTP: passwords and "
                      "session cookies cross the network unencrypted (--tls-cert/--tls-key, or a TLS reverse proxy)",
                      highlight=False, soft_wrap=True)
        run_server(web, sock, tls_cert, tls_key)
    except AuditorError as exc:
        _fail(exc)


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _check_tls_pair(cert: Path, key: Path) -> None:
    """Load the certificate and its key as the server will, before it starts: a missing file, one
    that is not PEM, or a key that is not the certificate's is a usage error naming both files."""
    import ssl

    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not path.is_file():
            raise _usage(f"{flag} {path}: " + ("not a regular file" if path.exists() else "file not found"))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise _usage(f"--tls-cert {cert} / --tls-key {key}: not a PEM certificate and its private key "
                     f"({getattr(exc, 'reason', None) or exc})") from None


# Options whose empty value (an unset shell variable) would mean something else, with what to write
# instead: pathlib reads "" as the current folder (`--out ""` wrote the audit into the working folder),
# and a socket bound to "" listens on every interface (`serve --host ""` published the workspace).
_A_PATH = "name a file or folder (. for the current folder)"
NON_EMPTY_OPTIONS = {**dict.fromkeys(("--config", "--prediction-cache", "--out", "-o", "--to", "--junit", "--summary-md", "--data", "-d", "--card", "-c",
                                      "--policy", "-p", "--waivers", "-w", "--db", "--tls-cert", "--tls-key"), _A_PATH),
                     "--host": "name an address (0.0.0.0 to listen on every interface)",
                     "--as-of": "give a date as YYYY-MM-DD (leave the option out for today)"}


def empty_option(argv: list[str]) -> str | None:
    """The first option of :data:`NON_EMPTY_OPTIONS` in ``argv`` given an empty value (``--out ""``
    or ``--out=``), if any."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return None
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in NON_EMPTY_OPTIONS and (value == "" if eq else i + 1 < len(argv) and argv[i + 1] == ""):
            return name
    return None


def symlink_loop(exc: BaseException) -> str | None:
    """The path of a symbolic link loop ``exc`` reports, or None: pathlib's ``resolve()`` raises
    RuntimeError("Symlink loop from '...'") on Python 3.11-3.12, and an OSError with ELOOP elsewhere
    (opening such a path, newer Pythons)."""
    import ast
    import re

    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return str(exc.filename) if exc.filename is not None else "a path"
    if type(exc) is RuntimeError and (m := re.fullmatch(r"Symlink loop from (.+)", str(exc))):
        try:
            return str(ast.literal_eval(m.group(1)))
        except (ValueError, SyntaxError):
            return m.group(1)
    return None


class _WatchedStdout:
    """``sys.stdout`` that remembers a write it could not make (a full disk behind `> audit.json`):
    the failure is then said as such, not as an internal error."""

    def __init__(self, stream):
        self._stream = stream
        self.failed: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self.failed = exc
            raise

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self.failed = exc
            raise

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main() -> None:
    _SAID.clear()
    _widen_off_terminal()
    if sys.stdout is not None:
        sys.stdout = _WatchedStdout(sys.stdout)
    empty = empty_option(sys.argv[1:])
    if empty:
        err.print(f"[bold red]error:[/] {empty} was given an empty value; {NON_EMPTY_OPTIONS[empty]}",
                  highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    try:
        app(standalone_mode=True)
    except SystemExit as exc:
        # click turns a closed output pipe (`auditor history | head -1`) into exit 1, which `due`, `verify`
        # and `diff` give a meaning of their own: exit as a shell reports a process SIGPIPE ended
        if exc.code == 1 and isinstance(exc.__context__, OSError) and exc.__context__.errno == errno.EPIPE:
            sys.exit(EXIT_BROKEN_PIPE)
        # typer turns a Ctrl-C that no command handled (while starting up, or in a command without a
        # handler of its own) into a silent exit 130
        if exc.code == EXIT_INTERRUPTED and isinstance(exc.__context__, typer.Exit) and not _SAID.get("interrupted"):
            err.print("interrupted: stopped before it finished (a run, a render and a sign-off are written whole or "
                      "not at all)", highlight=False, markup=False, soft_wrap=True)
        raise
    except Exception as exc:  # a bug: say so, keep the traceback, exit 5
        if exc is getattr(sys.stdout, "failed", None) and exc.errno != errno.EPIPE:
            err.print(f"[bold red]error:[/] standard output could not be written ({exc.strerror or exc}); the "
                      "command's output is incomplete (a run, a render and a sign-off it stored are whole)",
                      highlight=False, soft_wrap=True)
            sys.exit(EXIT_USAGE)
        loop = symlink_loop(exc)
        if loop is not None:  # a path given (or met) that is a link leading back to itself: not a bug
            err.print(f"[bold red]error:[/] {shown(loop)} is a symbolic link that leads back to itself (a link loop); "
                      "name a real file or folder", highlight=False, soft_wrap=True)
            sys.exit(EXIT_USAGE)
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:  # a path given: no file system holds it
            err.print(f"[bold red]error:[/] {shown(str(exc.filename) if exc.filename is not None else 'a path')}: a name "
                      "too long for the file system; name a real file or folder", highlight=False, soft_wrap=True)
            sys.exit(EXIT_USAGE)
        err.print("[bold red]internal error[/] (please report it):")
        err.print(traceback.format_exc(), highlight=False, markup=False)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
