"""``sweeper run`` and ``sweeper resume``: validate, track, schedule (through the Ray adapter), select, report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sweeper.commands.preflight import check_disk_space, preflight
from sweeper.config import SweepConfig
from sweeper.errors import ConfigError, SweepFailedError
from sweeper.redaction import map_strings, strip_credentials
from sweeper.tracking.sweep_record import SweepRecord

if TYPE_CHECKING:  # the heavy modules (MLflow, Ray) load only once the sweep passed its checks
    from sweeper.cache.store import CachedStage
    from sweeper.storage import DiskUsage


#: What ``sweeper resume`` needs besides ``sweep.json``: the validated configuration and data folder.
LAUNCH_FILE = "config.json"


@dataclass(frozen=True)
class SweepOutcome:
    """Where a finished sweep left its results (``disk``: ``None`` when ``resume`` found the
    sweep finished and only rebuilt its report)."""

    record: SweepRecord
    report_markdown: str
    output_dir: Path
    disk: DiskUsage | None


def run_sweep(config: SweepConfig, data_dir: Path | None, output_dir: Path, ray_address: str | None = None) -> SweepOutcome:
    """Run a whole sweep: intermediate phase, target phase, selection and report.

    Everything is validated (tasks, languages, data files, the tracking server answering, the
    model) before Ray starts; then, on a multi-node Ray cluster, that the output folder, stage
    cache, Ray storage and MLflow store are shared (``sweeper.sweep.shared_state``), before anything is
    written. ``OUTPUT/config.json`` keeps the validated
    configuration and data folder and ``OUTPUT/sweep.json`` the MLflow parent run, for
    ``sweeper resume``.

    Raises:
        SweeperError: invalid configuration, task, data or model, an ``http(s)://`` tracking
            server that does not answer, or node-local state on a multi-node cluster
            (``NodeLocalStateError``); nothing has been written.
        SweepFailedError: an intermediate trial failed, or every trial of some target did (the parent
            run is marked FAILED; the report of the other targets is written first).
    """
    address = preflight(config, data_dir, ray_address)
    from sweeper.cache.store import cached_intermediate_stages
    from sweeper.models.sources import resolve_model
    from sweeper.tracking.runs import Tracker, default_tracking_uri

    model_source = resolve_model(config.model)
    check_disk_space(config, model_source, output_dir, local_ray=address is None)
    _connect_ray(config, output_dir, address)
    stages = cached_intermediate_stages(config, model_source, data_dir.resolve() if data_dir else None)
    output_dir.mkdir(parents=True, exist_ok=True)
    saved = map_strings(config.model_dump(mode="json"), strip_credentials)  # credentials come from the environment
    (output_dir / LAUNCH_FILE).write_text(
        json.dumps({"config": saved, "data_dir": str(data_dir.resolve()) if data_dir else None}, indent=2),
        encoding="utf-8",
    )
    tracking_uri = config.tracking.tracking_uri or default_tracking_uri(output_dir)
    tracker = Tracker(tracking_uri)
    local_store = config.tracking.tracking_uri is None
    experiment_id = tracker.experiment_id(
        config.tracking.experiment_name or config.name, output_dir / "mlartifacts" if local_store else None
    )
    parent_run_id = tracker.start_parent(experiment_id, config, model_source, json.dumps(config.model_dump(), indent=2))
    record = SweepRecord(name=config.name, tracking_uri=tracking_uri, experiment_id=experiment_id, parent_run_id=parent_run_id)
    record.write(output_dir)
    return _execute(config, data_dir, output_dir, model_source, stages, record, address, resume=False)


def resume_sweep(output_dir: Path, ray_address: str | None = None, data_dir: Path | None = None) -> SweepOutcome:
    """Continue the interrupted sweep in ``output_dir`` (``sweeper resume``).

    Uses the configuration ``sweeper run`` saved there (``config.json``) and its MLflow parent
    run (``sweep.json``), set ``RUNNING`` again: no new parent. Intermediate encoders in the stage
    cache are reused; each phase's Tune experiment is restored where it was saved (unfinished and
    errored trials go on from their last checkpoint, finished ones are not re-run, grouped ASHA
    reloads its state); a phase that never started is run. A sweep whose parent run already
    FINISHED is not run again: its report is rebuilt from MLflow.

    Args:
        data_dir: the local data root; ``None``: the one the sweep was started with.

    Raises:
        ConfigError: ``output_dir`` holds no ``sweep.json`` / ``config.json`` of a `sweeper run`.
        SweeperError: the saved configuration no longer validates (e.g. data moved), or its
            tracking server does not answer.
        SweepFailedError: as :func:`run_sweep`.
    """
    launch = output_dir / LAUNCH_FILE
    record = SweepRecord.read(output_dir)
    if not launch.is_file():
        raise ConfigError(
            f"{launch} not found: {output_dir} was not written by `sweeper run` (or by a sweeper that predates `resume`)"
        )
    saved = json.loads(launch.read_text(encoding="utf-8"))
    config = SweepConfig.model_validate(saved["config"])
    data_dir = data_dir or (Path(saved["data_dir"]) if saved["data_dir"] else None)
    from sweeper.tracking.uris import check_tracking_uri

    check_tracking_uri(record.tracking_uri)
    from sweeper.commands.report import report_from_output  # MLflow: once the folder and the server are known good
    from sweeper.tracking.runs import Tracker

    tracker = Tracker(record.tracking_uri)
    if tracker.run_status(record.parent_run_id) == "FINISHED":
        return SweepOutcome(record=record, report_markdown=report_from_output(output_dir), output_dir=output_dir, disk=None)
    ray_address = preflight(config, data_dir, ray_address, record.tracking_uri)
    from sweeper.cache.store import cached_intermediate_stages
    from sweeper.models.sources import resolve_model

    model_source = resolve_model(config.model)
    check_disk_space(config, model_source, output_dir, local_ray=ray_address is None)
    _connect_ray(config, output_dir, ray_address)
    stages = cached_intermediate_stages(config, model_source, data_dir.resolve() if data_dir else None)
    tracker.reopen(record.parent_run_id)
    return _execute(config, data_dir, output_dir, model_source, stages, record, ray_address, resume=True)


def _connect_ray(config: SweepConfig, output_dir: Path, ray_address: str | None) -> None:
    """Connect to Ray (or start a local Ray), then refuse, before the sweep writes anything, a trial
    no node can run (``check_cluster_resources``) and node-local state on a multi-node cluster
    (``check_cluster_state``)."""
    from sweeper.ray_adapter.cluster import check_cluster_resources, check_cluster_state, ensure_ray

    ensure_ray(config, ray_address)
    check_cluster_resources(config)
    check_cluster_state(config, output_dir)


def _execute(
    config: SweepConfig,
    data_dir: Path | None,
    output_dir: Path,
    model_source: str,
    stages: list[CachedStage],
    record: SweepRecord,
    ray_address: str | None,
    resume: bool,
) -> SweepOutcome:
    """Run (or, with ``resume``, continue) the phases of a tracked sweep, then report."""
    from sweeper.cache.store import stage_cache_root
    from sweeper.commands.prune import prune_grid
    from sweeper.commands.report import REPORT_MD, write_report
    from sweeper.ray_adapter.cluster import ensure_ray
    from sweeper.ray_adapter.phases import run_intermediate_phase, run_target_phase
    from sweeper.results.failures import targets_without_results
    from sweeper.tracking.records import load_failed_trials, load_trial_records
    from sweeper.tracking.runs import Tracker
    from sweeper.tracking.submission_export import write_submission_folder

    tracker = Tracker(record.tracking_uri)
    parent_run_id = record.parent_run_id
    context = sweep_context(config, data_dir, output_dir, model_source, stages, record)
    tracker.set_tags(parent_run_id, {"stage_cache": str(stage_cache_root(config)), "ray_storage": context.ray_storage})
    try:
        ensure_ray(config, ray_address)
        intermediate_status = run_intermediate_phase(context, resume)
        known = tracker.run_tags(parent_run_id)
        # A resumed sweep keeps what the first run recorded: an encoder it trained is not "cached".
        tracker.set_tags(
            parent_run_id,
            {
                f"intermediate.{task}": status
                for task, status in intermediate_status.items()
                if f"intermediate.{task}" not in known
            },
        )
        tracker.set_tags(parent_run_id, {f"intermediate_dir.{stage.task}": str(stage.path) for stage in stages})
        link_stages(output_dir, stages)
        kept = prune_grid(config, model_source, data_dir, stages, output_dir, tracker, parent_run_id, resume)
        run_target_phase(context, resume, kept)
        markdown = write_report(tracker, record, output_dir, config.report.benchmark)
        write_submission_folder(tracker, record, config, data_dir, output_dir)
        disk = measure_disk(config, output_dir, stages, context.ray_storage, config.tracking.tracking_uri is None)
        tracker.log_metrics(parent_run_id, disk.metrics())
        records = load_trial_records(tracker, record.experiment_id, parent_run_id)
        empty = targets_without_results((trial.target_task, trial.outcome) for trial in records)
        if empty:
            failed = [
                trial for trial in load_failed_trials(tracker, record.experiment_id, parent_run_id) if trial.target_task in empty
            ]
            example = f" (e.g. {' '.join(failed[0].error.split())[:300]})" if failed else ""
            raise SweepFailedError(
                f"every trial of target(s) {', '.join(empty)} failed after its retries{example}; the failed trials are "
                f"listed in {output_dir / REPORT_MD}. Fix the cause, then `sweeper resume {output_dir}` runs them again "
                "from their last checkpoints"
            )
    except BaseException:
        tracker.finish(parent_run_id, "FAILED")
        raise
    tracker.finish(parent_run_id)
    return SweepOutcome(record=record, report_markdown=markdown, output_dir=output_dir, disk=disk)


def sweep_context(
    config: SweepConfig,
    data_dir: Path | None,
    output_dir: Path,
    model_source: str,
    stages: list[CachedStage],
    record: SweepRecord,
):
    """The :class:`sweeper.ray_adapter.context.SweepContext` of a tracked sweep (or ``sweeper rank``'s run)."""
    from sweeper.cache.store import sweep_stage_cache
    from sweeper.ray_adapter.context import SweepContext
    from sweeper.storage import ray_storage

    return SweepContext(
        config=config,
        data_dir=data_dir.resolve() if data_dir else None,
        model_source=model_source,
        output_dir=output_dir.resolve(),
        tracking_uri=record.tracking_uri,
        experiment_id=record.experiment_id,
        parent_run_id=record.parent_run_id,
        stages=tuple(stages),
        ray_storage=ray_storage(config, output_dir),
        cache=sweep_stage_cache(config, model_source, data_dir.resolve() if data_dir else None),
    )


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
    from sweeper.cache.store import stage_cache_root
    from sweeper.storage import DiskUsage, local_bytes, storage_bytes

    return DiskUsage(
        stage_cache=local_bytes(stage_cache_root(config)),
        sweep_stages=sum(local_bytes(stage.path) for stage in stages),
        trials=local_bytes(output_dir / "trials"),
        ray_storage=storage_bytes(ray_location),
        mlflow_artifacts=local_bytes(output_dir / "mlartifacts") if local_store else None,
    )
