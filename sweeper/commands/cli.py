"""The ``sweeper`` command line: ``run``, ``resume``, ``plan``, ``report``, ``compare``, ``rank``, ``replay``, ``score``, ``tasks``.

User errors (bad configuration, unknown task, missing data) exit with code 2 and a message
that says what to fix, before any trial starts and before anything is written to MLflow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from sweeper.errors import ConfigError, SweeperError
from sweeper.redaction import redact

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Intermediate-task × target-task sweeps for zero-shot cross-lingual transfer (XTREME), "
    "on Ray Tune + Ray Train, tracked in MLflow.",
)
console = Console()
DATA_DIR_ENV = "SWEEPER_DATA_DIR"


def _fail(error: Exception) -> None:
    """Print ``error`` as one message (credentials inside URIs redacted) and exit with code 2."""

    Console(stderr=True).print(f"[bold red]error:[/] {escape(redact(str(error)))}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code=2)


ConfigArgument = Annotated[Path, typer.Argument(help="Sweep definition, e.g. search_spaces/quickstart.yaml.")]
OverridesArgument = Annotated[list[str] | None, typer.Argument(help="key=value overrides, e.g. target.learning_rate=2e-5.")]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        envvar=DATA_DIR_ENV,
        help="Local data root (xtreme/ in the google-research/xtreme download/ layout, english/ in release layouts). Without it, data comes from the Hugging Face Hub.",
    ),
]
OutputOption = Annotated[Path | None, typer.Option(help="Output folder (default: runs/<name>).")]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        help="Ray cluster address (default: $RAY_ADDRESS, else the Ray that `ray start` runs on this machine, else a new "
        "local Ray; refused while another sweep's local Ray runs here)."
    ),
]


@app.command()
def run(
    config: ConfigArgument,
    overrides: OverridesArgument = None,
    data_dir: DataDirOption = None,
    output: OutputOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Run a sweep and print the report (also written to OUTPUT/report.md and report.csv)."""
    from sweeper.config import load_config

    try:
        sweep = load_config(config, overrides or [])
        from sweeper.commands.run import run_sweep

        outcome = run_sweep(sweep, data_dir, output or Path("runs") / sweep.name, ray_address)
    except SweeperError as error:
        _fail(error)
    console.print(Markdown(outcome.report_markdown))
    console.print(f"\nOutput: {outcome.output_dir}   MLflow: {redact(outcome.record.tracking_uri)}")
    console.print(outcome.disk.line(), highlight=False)


@app.command()
def resume(
    output_dir: Annotated[Path, typer.Argument(help="Output folder of an interrupted `sweeper run`.")],
    data_dir: Annotated[
        Path | None,
        typer.Option(envvar=DATA_DIR_ENV, help="Local data root (default: the one the sweep was started with)."),
    ] = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Continue an interrupted sweep without re-running finished trials, then print the report.

    Uses the configuration and MLflow parent run that `run` saved in OUTPUT_DIR; unfinished
    trials go on from their last checkpoint in their own MLflow runs. A finished sweep's report
    is printed as is.
    """
    from sweeper.commands.run import resume_sweep

    try:
        outcome = resume_sweep(output_dir, ray_address, data_dir)
    except SweeperError as error:
        _fail(error)
    console.print(Markdown(outcome.report_markdown))
    console.print(f"\nOutput: {outcome.output_dir}   MLflow: {redact(outcome.record.tracking_uri)}")


@app.command()
def plan(
    config: ConfigArgument,
    overrides: OverridesArgument = None,
    data_dir: DataDirOption = None,
    output: OutputOption = None,
) -> None:
    """Print what `run` would do: stages, trials per stage, cached encoders reused, steps and tokens.

    Validates the configuration and tasks like `run`, lists the data `run` will need that is
    missing instead of refusing, and starts nothing (no Ray, no output written).
    """
    from sweeper.config import load_config
    from sweeper.models.availability import check_model
    from sweeper.sweep.validation import check_tasks

    try:
        sweep = load_config(config, overrides or [])
        check_tasks(sweep)
        check_model(sweep, require_available=False)  # a Hub model to download is what `run` needs, not an error
        from sweeper.commands.plan import build_plan, plan_lines
        from sweeper.models.sources import resolve_model

        plan = build_plan(sweep, output or Path("runs") / sweep.name, data_dir, resolve_model(sweep.model))
    except SweeperError as error:
        _fail(error)
    console.print(Markdown(redact("\n".join(plan_lines(sweep, plan)))))


@app.command()
def rank(
    config: ConfigArgument,
    overrides: OverridesArgument = None,
    data_dir: DataDirOption = None,
    output: OutputOption = None,
    max_examples: Annotated[
        int | None,
        typer.Option(min=2, help="English training examples per target to score (default 2000)."),
    ] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address, for intermediate stages not cached yet.")] = None,
) -> None:
    """Rank each target's intermediate tasks by LogME on the target's English training data, with no
    target training: intermediate stages the stage cache lacks are trained first, as `run` does
    (also OUTPUT/ranking.md, ranking.json, and an MLflow run tagged stage=rank)."""
    from sweeper.config import load_config

    try:
        sweep = load_config(config, overrides or [])
        from sweeper.commands.rank import rank_sweep

        outcome = rank_sweep(sweep, data_dir, output or Path("runs") / sweep.name, max_examples, ray_address)
    except SweeperError as error:
        _fail(error)
    console.print(Markdown(outcome.markdown))


TrackingUriOption = Annotated[
    str | None,
    typer.Option(
        envvar="MLFLOW_TRACKING_URI",
        help="MLflow tracking URI to find --sweep names at, e.g. http://127.0.0.1:5000 (default: $MLFLOW_TRACKING_URI).",
    ),
]


def _tracked_reports(
    outputs: list[Path], sweeps: list[str], tracking_uri: str | None, count: int, benchmark: str | None = None
) -> list:
    """``count`` (record, report) pairs: of output folders, or of sweep names found at ``tracking_uri``.

    Raises:
        ConfigError: not ``count`` sweeps given, folders mixed with names, or names without a URI.
    """
    from sweeper.errors import ConfigError

    what = "an output folder or --sweep NAME" if count == 1 else "two output folders, or --sweep NAME_A --sweep NAME_B"
    if len(outputs) + len(sweeps) != count or (outputs and sweeps):
        raise ConfigError(f"give {what}")
    if sweeps and tracking_uri is None:
        raise ConfigError("--sweep needs the MLflow tracking URI the sweep ran with: --tracking-uri URI or $MLFLOW_TRACKING_URI")
    if benchmark is not None:
        from sweeper.config import check_benchmark

        check_benchmark(benchmark)  # before anything is read
    from sweeper.tracking.sweep_record import SweepRecord
    from sweeper.tracking.uris import check_tracking_uri

    for output in outputs:  # before MLflow is imported: a wrong or damaged folder is refused at once
        check_tracking_uri(SweepRecord.read(output).tracking_uri)
    if sweeps:
        check_tracking_uri(tracking_uri)
    from sweeper.commands.report import load_output_report, load_sweep_report

    if outputs:
        return [load_output_report(output, benchmark) for output in outputs]
    return [load_sweep_report(name, tracking_uri, benchmark) for name in sweeps]


@app.command()
def report(
    output_dir: Annotated[Path | None, typer.Argument(help="Output folder of a `sweeper run` (or give --sweep).")] = None,
    sweep: Annotated[
        str | None,
        typer.Option(help="Sweep name to find in MLflow instead of an output folder (its latest parent run at --tracking-uri)."),
    ] = None,
    tracking_uri: TrackingUriOption = None,
    benchmark: Annotated[
        str | None,
        typer.Option(help="Benchmark of the aggregate: xtreme or xtreme_r (default: the sweep's report.benchmark)."),
    ] = None,
) -> None:
    """Re-print a sweep's report from what MLflow tracked (no Ray needed)."""
    try:
        [(record, built)] = _tracked_reports(
            [output_dir] if output_dir else [], [sweep] if sweep else [], tracking_uri, 1, benchmark
        )
    except SweeperError as error:
        _fail(error)
    from sweeper.commands.report import report_markdown

    console.print(Markdown(report_markdown(record, built)))


@app.command()
def replay(
    output_dir: Annotated[Path, typer.Argument(help="Output folder of a finished `sweeper run`.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="scheduler.* overrides forming one schedule, e.g. scheduler.reduction_factor=2.")
    ] = None,
    schedule: Annotated[
        list[str] | None,
        typer.Option(
            help="One more schedule as space-separated scheduler.* overrides (repeatable), e.g. 'scheduler.grace_period=2'."
        ),
    ] = None,
) -> None:
    """Replay the sweep's target trials from their recorded English-dev curves (no training) under the
    recorded scheduler, the given ones and none (FIFO): steps each would use and whether each target's
    selection changes (also OUTPUT/replay.md, replay.json)."""
    from sweeper.commands.replay import replay_sweep

    try:
        _, markdown = replay_sweep(output_dir, overrides or [], schedule or [])
    except SweeperError as error:
        _fail(error)
    console.print(Markdown(markdown))


def _points(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


@app.command()
def compare(
    outputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Output folders of sweeps A and B (`sweeper run`); differences are B − A. Or give --sweep twice."),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(help="Sweep names A and B to find in MLflow instead of folders (--sweep A --sweep B, at --tracking-uri)."),
    ] = None,
    tracking_uri: TrackingUriOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare two sweeps from MLflow: selected intermediate task, dev and zero-shot average per
    target, and the zero-shot average of every (intermediate, target) cell (differences B − A)."""
    from sweeper.results.compare import compare_reports

    try:
        [(record_a, report_a), (record_b, report_b)] = _tracked_reports(outputs or [], sweep or [], tracking_uri, 2)
    except SweeperError as error:
        _fail(error)
    comparison = compare_reports(report_a, report_b, record_a.name, record_b.name)
    if as_json:
        typer.echo(json.dumps(comparison.to_json(), indent=2, ensure_ascii=False))
        return
    sweeps = f"A = {comparison.name_a}, B = {comparison.name_b}"
    targets = Table(
        "target",
        "A selected",
        "A dev",
        "A zs",
        "B selected",
        "B dev",
        "B zs",
        "Δ dev",
        "Δ zs",
        title=f"Selected intermediate task per target ({sweeps})",
        caption="dev: the selection score (English dev, or the mean target-language dev under policy target_dev and for BUCC); zs: zero-shot average; Δ = B − A",
    )
    for target in comparison.targets:
        sides = [
            [side.intermediate_task, _points(side.dev), _points(side.zero_shot_avg)] if side else ["–", "–", "–"]
            for side in (target.a, target.b)
        ]
        targets.add_row(
            target.target_task, *sides[0], *sides[1], _points(target.dev_diff, True), _points(target.zero_shot_diff, True)
        )
    console.print(targets)
    cells = Table(
        "target", "intermediate", "A", "B", "Δ (B − A)", title=f"Zero-shot average per (intermediate, target) cell ({sweeps})"
    )
    for cell in comparison.cells:
        cells.add_row(cell.target_task, cell.intermediate_task, _points(cell.a), _points(cell.b), _points(cell.diff, True))
    console.print(cells)


@app.command()
def score(
    task: Annotated[str, typer.Option(help="Task id, e.g. panx (see `sweeper tasks`).")],
    predictions: Annotated[
        Path,
        typer.Option(
            help="Folder of prediction files <split>-<lang>.<tsv|json> or test-<lang>.<tsv|json>: the task's folder or its parent."
        ),
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar=DATA_DIR_ENV,
            help="Local data root with the gold data (as for `run`). Without it, gold data comes from the Hugging Face Hub.",
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="Gold split (default: the task's zero-shot split).")] = None,
    languages: Annotated[
        str | None, typer.Option(help="Comma-separated languages to score, e.g. de,zh (default: every file found).")
    ] = None,
    max_examples_per_language: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Score against the first N gold examples per language, as a sweep with zero_shot.max_examples_per_language=N predicted them.",
        ),
    ] = None,
    gold: Annotated[
        Path | None,
        typer.Option(
            help="Folder of gold label files test-<lang>.<tsv|json> in the XTREME leaderboard layout (evaluate.py --label_folder): the task's folder or its parent. Replaces --data-dir."
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Exit 2 when any prediction file has a warning (padded lines, unknown labels, missing ids, ...)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Score prediction files against gold data: per-language metrics and the XTREME task score.

    Files are read as XTREME's evaluate.py reads them (lines stripped; a label is the whole line);
    one warning line per file on stderr names what was tolerated or scores as wrong.
    """
    from sweeper.results.scoring import score_predictions

    try:
        result = score_predictions(
            task,
            predictions,
            data_dir,
            split=split,
            languages=[language.strip() for language in languages.split(",") if language.strip()] if languages else None,
            max_examples_per_language=max_examples_per_language,
            gold_dir=gold,
        )
    except SweeperError as error:
        _fail(error)
    stderr = Console(stderr=True)
    for line in result.warnings:
        stderr.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if strict and result.warnings:
        _fail(ConfigError(f"{len(result.warnings)} prediction file(s) with warnings (--strict); fix the files or drop --strict"))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    metrics = list(result.average)
    table = Table("language", "examples", "file", *metrics, title=f"{result.task} ({result.split} split)")
    for language, language_score in result.languages.items():
        table.add_row(
            language,
            str(language_score.num_examples),
            language_score.path.name,
            *(f"{language_score.metrics[name]:.2f}" for name in metrics),
        )
    table.add_row("avg", "", "", *(f"{result.average[name]:.2f}" for name in metrics), end_section=True)
    console.print(table)
    coverage = f"{len(result.languages)} of {len(result.expected_languages)} languages"
    if result.missing_languages:
        coverage += f"; partial, no predictions for {' '.join(result.missing_languages)}"
    if result.task_score is None:
        console.print(f"{result.task} is not an XTREME task: no task score ({coverage}).", highlight=False)
    else:
        console.print(f"XTREME task score {result.task_score_rule}: {result.task_score:.2f} ({coverage})", highlight=False)


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
        train = ", ".join(task.splits["train"].files) if "train" in task.splits else "none (evaluated on the encoder)"
        languages = f"{task.zero_shot.split}: {' '.join(task.zero_shot.languages)}" if task.zero_shot else "– (intermediate only)"
        table.add_row(task.task, task.task_type, task.metric, train, languages)
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
