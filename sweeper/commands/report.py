"""``sweeper report`` and the report files of a sweep (``report.md``, ``.csv``, ``.html``, the heatmap, ``failures.json``), built from MLflow alone."""

from __future__ import annotations

import json
from pathlib import Path

from sweeper.config import SEEDS_BEST, ReportConfig, check_benchmark
from sweeper.errors import ConfigError
from sweeper.results.failures import failures_markdown
from sweeper.results.figures import delta_grid, plot_delta_heatmap, to_html
from sweeper.results.report import Report, build_report
from sweeper.results.report_text import to_csv, to_markdown
from sweeper.results.selection import TrialRecord
from sweeper.tracking.ranking import load_pruning
from sweeper.tracking.records import load_failed_trials, load_trial_records, selection_metrics
from sweeper.tracking.runs import Tracker, find_sweep, register_selection
from sweeper.tracking.sweep_record import SweepRecord
from sweeper.tracking.uris import check_tracking_uri

REPORT_MD = "report.md"


REPORT_CSV = "report.csv"


REPORT_HTML = "report.html"


#: Heatmap of the zero-shot deltas over the ``none`` baseline (written only when a delta exists).
REPORT_PNG = "report_deltas.png"


#: The parent run's artifact folder holding the report files.
REPORT_ARTIFACTS = "report"


#: The failed trials with their errors (a JSON list; also a section of the report).
FAILURES_JSON = "failures.json"


#: The parent run's parameters (the flattened sweep configuration) the report reads back.
BENCHMARK_PARAM = "report.benchmark"


SEEDS_PARAM = "selection.seeds"


MODEL_PARAM = "model"


def load_report(tracker: Tracker, record: SweepRecord, benchmark: str | None = None) -> Report:
    """The report of a tracked sweep, built from its MLflow runs alone.

    The seed aggregation (``selection.seeds``) and the model (for the published comparison
    rows) are read from the parent run's params, as is the aggregate's benchmark unless
    ``benchmark`` (``xtreme`` or ``xtreme_r``) is given; sweeps that predate a setting get its
    default.
    """
    return _records_and_report(tracker, record, benchmark)[1]


def _records_and_report(tracker: Tracker, record: SweepRecord, benchmark: str | None) -> tuple[list[TrialRecord], Report]:
    params = tracker.run_params(record.parent_run_id)
    records = load_trial_records(tracker, record.experiment_id, record.parent_run_id)
    report = build_report(
        records,
        selection_metrics(tracker, record.experiment_id, record.parent_run_id),
        benchmark or params.get(BENCHMARK_PARAM, ReportConfig().benchmark),
        params.get(SEEDS_PARAM, SEEDS_BEST),
        params.get(MODEL_PARAM),
        load_pruning(tracker, record.parent_run_id),
    )
    return records, report


def write_report(tracker: Tracker, record: SweepRecord, output_dir: Path, benchmark: str) -> str:
    """Build the report from MLflow, publish it and register the selected models.

    Writes ``report.md`` (with a ``## Failed trials`` section), ``report.csv``, ``report.html``,
    ``failures.json`` and (when some intermediate task has a delta over the ``none`` baseline)
    ``report_deltas.png`` to ``output_dir`` and logs them to the parent run under ``report/``; then tags the runs ``selected=true/false`` and registers each
    selected target trial's checkpoint as ``<sweep>-<target>`` with alias ``best``
    (:func:`sweeper.tracking.runs.register_selection`).

    Returns:
        The report as Markdown.

    Raises:
        RuntimeError: a selected target trial has no ``best_checkpoint`` artifact.
    """
    records, report = _records_and_report(tracker, record, benchmark)
    title = f"sweeper report: {record.name}"
    failures = load_failed_trials(tracker, record.experiment_id, record.parent_run_id)
    markdown = to_markdown(report, title) + "\n" + failures_markdown(failures)
    grid = delta_grid(report)
    figure = output_dir / REPORT_PNG
    if grid is None:
        figure.unlink(missing_ok=True)  # a previous sweep's heatmap in the same folder is not this report's
    else:
        plot_delta_heatmap(grid, figure, f"{record.name}: zero-shot Δ vs none")
    texts = {
        REPORT_MD: markdown,
        REPORT_CSV: to_csv(report),
        REPORT_HTML: to_html(markdown, title, REPORT_PNG if grid else None),
        FAILURES_JSON: json.dumps([failure.to_json() for failure in failures], indent=2),
    }
    for name, text in texts.items():
        (output_dir / name).write_text(text, encoding="utf-8")
    for name in [*texts, *([REPORT_PNG] if grid else [])]:
        tracker.log_artifact(record.parent_run_id, output_dir / name, REPORT_ARTIFACTS)
    selected = {target: selection.record.run_id for target, selection in report.selections.items()}
    register_selection(tracker, record.name, selected, [trial.run_id for trial in records])
    return markdown


def report_markdown(record: SweepRecord, report: Report) -> str:
    """The report of a tracked sweep as Markdown, with its ``## Failed trials`` section."""
    failures = load_failed_trials(Tracker(record.tracking_uri), record.experiment_id, record.parent_run_id)
    return to_markdown(report, f"sweeper report: {record.name}") + "\n" + failures_markdown(failures)


def report_from_output(output_dir: Path, benchmark: str | None = None) -> str:
    """Re-build the report of a finished sweep from what MLflow tracked (no Ray needed), as
    Markdown (see :func:`load_output_report` for the arguments and errors)."""
    return report_markdown(*load_output_report(output_dir, benchmark))


def load_output_report(output_dir: Path, benchmark: str | None = None) -> tuple[SweepRecord, Report]:
    """The sweep record and report of the sweep in ``output_dir``, from MLflow alone (no Ray).

    Args:
        benchmark: the aggregate's benchmark (``xtreme`` or ``xtreme_r``); ``None``: the sweep's
            ``report.benchmark`` as logged with its parent run (``xtreme`` for sweeps that
            predate the setting).

    Raises:
        ConfigError: ``output_dir`` holds no readable ``sweep.json``, or ``benchmark`` is unknown
            (with a did-you-mean).
        TrackingError: the sweep's ``http(s)://`` tracking server does not answer.
    """
    if benchmark is not None:
        check_benchmark(benchmark)
    record = SweepRecord.read(output_dir)
    check_tracking_uri(record.tracking_uri)
    tracker = Tracker(record.tracking_uri)
    check_finished(tracker, record, f"`sweeper resume {output_dir}` finishes it")
    return record, load_report(tracker, record, benchmark)


def load_sweep_report(name: str, tracking_uri: str, benchmark: str | None = None) -> tuple[SweepRecord, Report]:
    """The record and report of the sweep called ``name`` at ``tracking_uri``, found by its
    parent run (the latest when the name ran several times, :func:`sweeper.tracking.runs.find_sweep`).

    Raises:
        ConfigError: unknown ``benchmark``.
        TrackingError: the server does not answer, or holds no sweep called ``name``.
    """
    if benchmark is not None:
        check_benchmark(benchmark)
    check_tracking_uri(tracking_uri)
    tracker = Tracker(tracking_uri)
    record = find_sweep(tracker, name)
    check_finished(tracker, record, "`sweeper resume OUTPUT` (its output folder) finishes it")
    return record, load_report(tracker, record, benchmark)


def check_finished(tracker: Tracker, record: SweepRecord, fix: str) -> None:
    """Refuse to report a sweep whose parent run is still ``RUNNING`` (interrupted, or running now):
    its tables would be partial. A ``FAILED`` sweep is reported (its failed trials are listed).

    Raises:
        ConfigError: naming the sweep, its parent run and ``fix``.
    """
    status = tracker.client.get_run(record.parent_run_id).info.status
    if status in ("RUNNING", "SCHEDULED"):
        raise ConfigError(
            f"sweep {record.name!r} (MLflow parent run {record.parent_run_id}) has not finished (status {status}): "
            f"its report would be partial. Wait for it, or if it was interrupted, {fix}"
        )
