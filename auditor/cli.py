"""The command line: auditor run | validate | render | policies.

Exit codes: 0 passed (or only warnings), 1 a blocking check failed or errored, 2 usage error,
3 invalid policy, card or dataset, 4 model artefact refused or not loadable, 5 internal error.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from auditor.errors import EXIT_BLOCKING_FAILURE, EXIT_INTERNAL, EXIT_OK, AuditorError, InvalidInputError
from auditor.results import Status

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
    help="Policy-driven audits of ML models: explanations, and tests that the explanations can be trusted.",
)
out = Console()
err = Console(stderr=True)

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "error": "magenta", "skipped": "dim"}
EXIT_INTERRUPTED = 130


def printable(text: object) -> str:
    """Text from an input (card, policy, file name) with control characters, terminal escape
    sequences included, written as ``\\x..`` escapes; newlines kept."""
    return "".join(ch if ch.isprintable() or ch == "\n" else ascii(ch)[1:-1] for ch in str(text))


def shown(text: object) -> str:
    """:func:`printable`, and Rich markup escaped: for output printed with markup on."""
    return escape(printable(text))


def _fail(exc: AuditorError) -> None:
    label = "invalid input" if isinstance(exc, InvalidInputError) else "error"
    err.print(f"[bold red]{label}:[/] {shown(exc)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def exit_code_for(status: Status) -> int:
    return EXIT_BLOCKING_FAILURE if status in (Status.FAIL, Status.ERROR) else EXIT_OK


@app.command()
def run(
    policy: str = typer.Option(..., "--policy", "-p", help="Built-in policy name or path to a policy YAML."),
    card: Path = typer.Option(..., "--card", "-c", help="Model card (README.md with front matter, or YAML)."),
    data: Path = typer.Option(..., "--data", "-d", help="Evaluation dataset (.csv, .parquet, .jsonl)."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder; runs go to OUT/<model>/vNNNN."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow joblib/pickle models (can run code)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (text models)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Run an audit and write a new versioned run directory."""
    from auditor.audit import run_audit

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=err, disable=quiet, transient=True) as progress:
        task = progress.add_task("loading inputs", total=None)

        def on_progress(check_id: str, i: int, n: int) -> None:
            progress.update(task, description=f"check {shown(check_id)}", completed=i, total=n)

        try:
            record = run_audit(policy, card, data, out_dir, allow_pickle=allow_pickle, device=device, on_progress=on_progress)
        except AuditorError as exc:
            progress.stop()
            _fail(exc)
        except KeyboardInterrupt:
            progress.stop()
            err.print("interrupted: the audit stopped; nothing partial was written (a version is written whole or not at all)",
                      highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    result = record.result
    table = Table(title=shown(f"{result.model.name} {result.model.version} — policy {result.policy.name} {result.policy.version}"))
    table.add_column("check")
    table.add_column("status")
    table.add_column("key figure")
    for c in result.checks:
        style = STATUS_STYLE[c.status.value]
        table.add_row(shown(c.id), f"[{style}]{c.status.value.upper()}[/]", shown(c.key_figure or (c.error.type if c.error else "")))
    out.print(table)
    style = STATUS_STYLE[result.status.value]
    out.print(f"overall: [{style}]{result.status.value.upper()}[/]   ({record.path.name})")
    for name in ("result.json", "report.html", "report.pdf", "manifest.json"):
        out.print(f"  {record.path / name}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(exit_code_for(result.status))


@app.command()
def validate(
    policy: str = typer.Option(..., "--policy", "-p"),
    card: Optional[Path] = typer.Option(None, "--card", "-c"),
    data: Optional[Path] = typer.Option(None, "--data", "-d"),
) -> None:
    """Validate a policy (and a card and dataset) without loading the model."""
    from auditor.data import load_dataset
    from auditor.model_card import load_model_card
    from auditor.policy import load_policy
    from auditor.runner import build_plan

    try:
        loaded = load_policy(policy)
        out.print(f"policy {printable(loaded.policy.name)} {printable(loaded.policy.version)}: valid ({len(loaded.policy.checks)} checks)", markup=False, highlight=False, soft_wrap=True)
        if data is not None and card is None:
            raise_usage("--data needs --card (the card says which columns to expect)")
        if card is not None:
            model_card = load_model_card(card)
            out.print(f"card {card}: valid ({model_card.auditor.task}, model {printable(model_card.model_name)})", markup=False, highlight=False, soft_wrap=True)
            for planned in build_plan(loaded, model_card.auditor.task):
                if planned.skip_reason:
                    out.print(f"  check {printable(planned.spec.check_id)} will be skipped: {planned.skip_reason}", markup=False, highlight=False, soft_wrap=True)
            if data is not None:
                ds = load_dataset(data, model_card)
                out.print(f"dataset {data}: valid ({len(ds)} rows, {len(ds.feature_names)} features)", markup=False, highlight=False, soft_wrap=True)
    except AuditorError as exc:
        _fail(exc)


def raise_usage(message: str) -> None:
    from auditor.errors import UsageError

    raise UsageError(message)


@app.command()
def render(run_dir: Path = typer.Argument(..., help="A run directory containing result.json.")) -> None:
    """Rebuild report.html and report.pdf of a run from its result.json alone."""
    from auditor.audit import rerender

    try:
        for path in rerender(run_dir).values():
            out.print(str(path), highlight=False, markup=False, soft_wrap=True)
    except AuditorError as exc:
        _fail(exc)


@app.command()
def policies(
    action: Optional[str] = typer.Argument(None, help="'show' to print one policy."),
    name: Optional[str] = typer.Argument(None, help="Policy name or path (with 'show')."),
) -> None:
    """List the built-in policies, or show one."""
    from auditor.policy import builtin_policies, load_policy

    try:
        if action is None:
            table = Table("name", "version", "checks", "description")
            for key in builtin_policies():
                loaded = load_policy(key)
                p = loaded.policy
                table.add_row(key, p.version, str(len(p.checks)), p.description.strip().split("\n")[0])
            out.print(table)
        elif action == "show" and name:
            out.print(load_policy(name).text, highlight=False, markup=False)
        else:
            raise_usage("usage: auditor policies [show NAME]")
    except AuditorError as exc:
        _fail(exc)


def main() -> None:
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except Exception:  # a bug: say so, keep the traceback, exit 5
        err.print("[bold red]internal error[/] (please report it):")
        err.print(traceback.format_exc(), highlight=False, markup=False)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
