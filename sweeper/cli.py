"""The ``sweeper`` command line: ``run``, ``report``, ``tasks``.

User errors (bad configuration, unknown task, missing data) exit with code 2 and a message
that says what to fix, before any trial starts and before anything is written to MLflow.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from sweeper.errors import SweeperError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Intermediate-task × target-task sweeps for zero-shot cross-lingual transfer (XTREME), "
    "on Ray Tune + Ray Train, tracked in MLflow.",
)
console = Console()
DATA_DIR_ENV = "SWEEPER_DATA_DIR"


def _fail(error: Exception) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code=2)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Sweep definition, e.g. search_spaces/quickstart.yaml.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. target.learning_rate=2e-5.")] = None,
    data_dir: Annotated[
        Optional[Path],
        typer.Option(envvar=DATA_DIR_ENV, help="Local data root (xtreme/ in the google-research/xtreme download/ layout, english/ in release layouts). Without it, data comes from the Hugging Face Hub."),
    ] = None,
    output: Annotated[Optional[Path], typer.Option(help="Output folder (default: runs/<name>).")] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: $RAY_ADDRESS or a local Ray).")] = None,
) -> None:
    """Run a sweep and print the report (also written to OUTPUT/report.md and report.csv)."""
    from sweeper.config import load_config

    try:
        sweep = load_config(config, overrides or [])
        from sweeper.driver import run_sweep

        outcome = run_sweep(sweep, data_dir, output or Path("runs") / sweep.name, ray_address)
    except SweeperError as error:
        _fail(error)
    console.print(Markdown(outcome.report_markdown))
    console.print(f"\nOutput: {outcome.output_dir}   MLflow: {outcome.record.tracking_uri}")


@app.command()
def report(output_dir: Annotated[Path, typer.Argument(help="Output folder of a `sweeper run`.")]) -> None:
    """Re-print a sweep's report from what MLflow tracked (no Ray needed)."""
    from sweeper.driver import report_from_output

    try:
        markdown = report_from_output(output_dir)
    except (SweeperError, FileNotFoundError) as error:
        _fail(error)
    console.print(Markdown(markdown))


@app.command()
def tasks() -> None:
    """List the registered tasks with their type, training data and evaluation languages."""
    from sweeper.registry import all_tasks

    try:
        registry = all_tasks()
    except SweeperError as error:
        _fail(error)
    table = Table("task", "type", "metric", "training data (English)", "zero-shot languages")
    for task in registry.values():
        train = ", ".join(task.splits["train"].files)
        languages = f"{task.zero_shot.split}: {' '.join(task.zero_shot.languages)}" if task.zero_shot else "– (intermediate only)"
        table.add_row(task.task, task.task_type, task.metric, train, languages)
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
