"""``sweeper run`` and ``sweeper report``: validate, track, schedule, select, report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sweeper.config import ReportConfig, SweepConfig, check_benchmark
from sweeper.models.sources import resolve_model
from sweeper.plan import validate_sweep
from sweeper.report import Report, build_report, to_csv, to_markdown
from sweeper.report_figures import delta_grid, plot_delta_heatmap, to_html
from sweeper.results import load_trial_records, selection_metrics
from sweeper.selection import SEEDS_BEST, TrialRecord
from sweeper.submission_export import write_submission_folder
from sweeper.stage_cache import CachedStage, cached_intermediate_stages, stage_cache_root
from sweeper.storage import DiskUsage, local_bytes, ray_storage, storage_bytes
from sweeper.tracking import (
    SweepRecord,
    Tracker,
    check_tracking_uri,
    default_tracking_uri,
    find_sweep,
    register_selection,
)

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
REPORT_HTML = "report.html"
#: Heatmap of the zero-shot deltas over the ``none`` baseline (written only when a delta exists).
REPORT_PNG = "report_deltas.png"
#: The parent run's artifact folder holding the report files.
REPORT_ARTIFACTS = "report"
#: The parent run's parameters (the flattened sweep configuration) the report reads back.
BENCHMARK_PARAM = "report.benchmark"
SEEDS_PARAM = "selection.seeds"
MODEL_PARAM = "model"


@dataclass(frozen=True)
class SweepOutcome:
    """Where a finished sweep left its results."""

    record: SweepRecord
    report_markdown: str
    output_dir: Path
    disk: DiskUsage


def run_sweep(config: SweepConfig, data_dir: Path | None, output_dir: Path, ray_address: str | None = None) -> SweepOutcome:
    """Run a whole sweep: intermediate phase, target phase, selection and report.

    Everything is validated (tasks, languages, data files, the tracking server answering, the
    model) before Ray starts or MLflow is written to.

    Raises:
        SweeperError: invalid configuration, task, data or model, or an ``http(s)://`` tracking
            server that does not answer (nothing has been written).
        RuntimeError: trials failed (the parent run is marked FAILED).
    """
    validate_sweep(config, data_dir)
    if config.tracking.tracking_uri is not None:
        check_tracking_uri(config.tracking.tracking_uri)
    model_source = resolve_model(config.model)
    stages = cached_intermediate_stages(config, model_source, data_dir.resolve() if data_dir else None)

    from sweeper.ray_sweep import (
        SweepContext,
        ensure_ray,
        run_intermediate_phase,
        run_target_phase,
    )

    output_dir.mkdir(parents=True, exist_ok=True)
    tracking_uri = config.tracking.tracking_uri or default_tracking_uri(output_dir)
    tracker = Tracker(tracking_uri)
    local_store = config.tracking.tracking_uri is None
    experiment_id = tracker.experiment_id(config.tracking.experiment_name or config.name, output_dir / "mlartifacts" if local_store else None)
    parent_run_id = tracker.start_parent(experiment_id, config, model_source, json.dumps(config.model_dump(), indent=2))
    record = SweepRecord(name=config.name, tracking_uri=tracking_uri, experiment_id=experiment_id, parent_run_id=parent_run_id)
    record.write(output_dir)
    context = SweepContext(
        config=config,
        data_dir=data_dir.resolve() if data_dir else None,
        model_source=model_source,
        output_dir=output_dir.resolve(),
        tracking_uri=tracking_uri,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        stages=tuple(stages),
        ray_storage=ray_storage(config, output_dir),
    )
    tracker.set_tags(parent_run_id, {"stage_cache": str(stage_cache_root(config)), "ray_storage": context.ray_storage})
    try:
        ensure_ray(config, ray_address)
        intermediate_status = run_intermediate_phase(context)
        tracker.set_tags(parent_run_id, {f"intermediate.{task}": status for task, status in intermediate_status.items()})
        tracker.set_tags(parent_run_id, {f"intermediate_dir.{stage.task}": str(stage.path) for stage in stages})
        link_stages(output_dir, stages)
        run_target_phase(context)
        markdown = write_report(tracker, record, output_dir, config.report.benchmark)
        write_submission_folder(tracker, record, config, data_dir, output_dir)
        disk = measure_disk(config, output_dir, stages, context.ray_storage, local_store)
        tracker.log_metrics(parent_run_id, disk.metrics())
    except BaseException:
        tracker.finish(parent_run_id, "FAILED")
        raise
    tracker.finish(parent_run_id)
    return SweepOutcome(record=record, report_markdown=markdown, output_dir=output_dir, disk=disk)


def link_stages(output_dir: Path, stages: list[CachedStage]) -> None:
    """``<output>/stages/intermediate/<task>-<key>``: a symbolic link to each stage the sweep uses
    in the shared stage cache (an existing entry is left alone)."""
    folder = output_dir / "stages" / "intermediate"
    folder.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        link = folder / stage.path.name
        if not link.is_symlink() and not link.exists():
            link.symlink_to(stage.path, target_is_directory=True)


def measure_disk(
    config: SweepConfig, output_dir: Path, stages: list[CachedStage], ray_location: str, local_store: bool
) -> DiskUsage:
    """The disk a finished sweep uses (see :class:`sweeper.storage.DiskUsage`)."""
    return DiskUsage(
        stage_cache=local_bytes(stage_cache_root(config)),
        sweep_stages=sum(local_bytes(stage.path) for stage in stages),
        trials=local_bytes(output_dir / "trials"),
        ray_storage=storage_bytes(ray_location),
        mlflow_artifacts=local_bytes(output_dir / "mlartifacts") if local_store else None,
    )


def load_report(tracker: Tracker, record: SweepRecord, benchmark: str | None = None) -> Report:
    """The report of a tracked sweep, built from its MLflow runs alone.

    The seed aggregation (``selection.seeds``) and the model (for the published comparison
    rows) are read from the parent run's params, as is the aggregate's benchmark unless
    ``benchmark`` (``xtreme`` or ``xtreme_r``) is given; sweeps that predate a setting get its
    default.
    """
    return _records_and_report(tracker, record, benchmark)[1]


def _records_and_report(tracker: Tracker, record: SweepRecord, benchmark: str | None) -> tuple[list[TrialRecord], Report]:
    params = tracker.client.get_run(record.parent_run_id).data.params
    records = load_trial_records(tracker, record.experiment_id, record.parent_run_id)
    report = build_report(
        records,
        selection_metrics(tracker, record.experiment_id, record.parent_run_id),
        benchmark or params.get(BENCHMARK_PARAM, ReportConfig().benchmark),
        params.get(SEEDS_PARAM, SEEDS_BEST),
        params.get(MODEL_PARAM),
    )
    return records, report


def write_report(tracker: Tracker, record: SweepRecord, output_dir: Path, benchmark: str) -> str:
    """Build the report from MLflow, publish it and register the selected models.

    Writes ``report.md``, ``report.csv``, ``report.html`` and (when some intermediate task has a
    delta over the ``none`` baseline) ``report_deltas.png`` to ``output_dir`` and logs them to the
    parent run under ``report/``; then tags the runs ``selected=true/false`` and registers each
    selected target trial's checkpoint as ``<sweep>-<target>`` with alias ``best``
    (:func:`sweeper.tracking.register_selection`).

    Returns:
        The report as Markdown.

    Raises:
        RuntimeError: a selected target trial has no ``best_checkpoint`` artifact.
    """
    records, report = _records_and_report(tracker, record, benchmark)
    title = f"sweeper report: {record.name}"
    markdown = to_markdown(report, title)
    grid = delta_grid(report)
    figure = output_dir / REPORT_PNG
    if grid is None:
        figure.unlink(missing_ok=True)  # a previous sweep's heatmap in the same folder is not this report's
    else:
        plot_delta_heatmap(grid, figure, f"{record.name}: zero-shot Δ vs none")
    texts = {REPORT_MD: markdown, REPORT_CSV: to_csv(report), REPORT_HTML: to_html(markdown, title, REPORT_PNG if grid else None)}
    for name, text in texts.items():
        (output_dir / name).write_text(text, encoding="utf-8")
    for name in [*texts, *([REPORT_PNG] if grid else [])]:
        tracker.client.log_artifact(record.parent_run_id, str(output_dir / name), REPORT_ARTIFACTS)
    selected = {target: selection.record.run_id for target, selection in report.selections.items()}
    register_selection(tracker, record.name, selected, [trial.run_id for trial in records])
    return markdown


def load_output_report(output_dir: Path, benchmark: str | None = None) -> tuple[SweepRecord, Report]:
    """The sweep record and report of the sweep in ``output_dir``, from MLflow alone (no Ray).

    Args:
        benchmark: the aggregate's benchmark (``xtreme`` or ``xtreme_r``); ``None``: the sweep's
            ``report.benchmark`` as logged with its parent run (``xtreme`` for sweeps that
            predate the setting).

    Raises:
        FileNotFoundError: ``output_dir`` holds no ``sweep.json``.
        ConfigError: unknown ``benchmark`` (with a did-you-mean).
        TrackingError: the sweep's ``http(s)://`` tracking server does not answer.
    """
    if benchmark is not None:
        check_benchmark(benchmark)
    record = SweepRecord.read(output_dir)
    check_tracking_uri(record.tracking_uri)
    return record, load_report(Tracker(record.tracking_uri), record, benchmark)


def load_sweep_report(name: str, tracking_uri: str, benchmark: str | None = None) -> tuple[SweepRecord, Report]:
    """The record and report of the sweep called ``name`` at ``tracking_uri``, found by its
    parent run (the latest when the name ran several times, :func:`sweeper.tracking.find_sweep`).

    Raises:
        ConfigError: unknown ``benchmark``.
        TrackingError: the server does not answer, or holds no sweep called ``name``.
    """
    if benchmark is not None:
        check_benchmark(benchmark)
    check_tracking_uri(tracking_uri)
    tracker = Tracker(tracking_uri)
    record = find_sweep(tracker, name)
    return record, load_report(tracker, record, benchmark)
