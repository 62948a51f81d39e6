"""The Ray Train worker function of every stage: runs one :class:`~sweeper.ray_adapter.job.StageJob`.

Kept light on purpose: the Train controller actor imports this module only to unpickle
:func:`stage_worker`, so torch and transformers are imported inside the function, by the
workers that need them; rank 0 logs through the sweep's tracking service and imports MLflow only
to log files (predictions, the best checkpoint).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sweeper.config import METRIC, TIME_ATTR
from sweeper.ray_adapter.job import StageJob
from sweeper.storage import UPLOAD_DIR, snapshot


def stage_worker(loop_config: dict) -> None:
    """Run ``loop_config["job"]`` (a :class:`StageJob`): rank 0 logs to the trial's MLflow run
    (:class:`~sweeper.ray_adapter.tracking_service.ServiceRunLog`), every rank reports to Tune.

    A retried or restored trial's Train run hands its workers the latest checkpoint reported
    here (``ray.train.get_checkpoint``): training resumes from it (multi-task stages too). Rank 0
    tags the run with ``world_size``, the number of data-parallel workers that trained it, and
    ``node_id`` / ``node_ip``, the Ray node it runs on (each attempt overwrites them). Torch
    uses the worker's ``cpus_per_worker`` CPUs (:func:`sweeper.training.trainer.host_threads`).
    """
    import torch
    import torch.distributed

    from sweeper.ray_adapter.cluster import node_tags
    from sweeper.ray_adapter.tracking_service import ServiceRunLog
    from sweeper.tracking.schema import Tag
    from sweeper.training.memory_probe import GPU_FRACTION_ENV
    from sweeper.training.stages import is_main_process
    from sweeper.training.trainer import host_threads

    job: StageJob = loop_config["job"]
    os.environ[GPU_FRACTION_ENV] = str(job.gpu_fraction)  # the trial's share of its GPU, for auto micro-batches
    torch.set_num_threads(host_threads(job.cpus_per_worker))  # the trial's CPUs (DataLoader workers follow)
    tracker = ServiceRunLog(job.tracking_service, job.tracking_uri) if is_main_process() else None
    if tracker is not None:
        world_size = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        tracker.set_tags(job.run_id, {Tag.WORLD_SIZE: world_size, **node_tags()})
    with _resume_checkpoint() as resume_from:
        if tracker is not None and resume_from is not None:
            _log_resumed_evaluation(tracker, job.run_id)
        if job.multitask is not None:
            _run_multitask(job, tracker, resume_from)
        else:
            _run_stage(job, tracker, resume_from)


@contextmanager
def _resume_checkpoint() -> Iterator[Path | None]:
    """The folder of this Train run's latest checkpoint (a retried or restored trial), else ``None``."""
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder)


EVALUATION_LOG = "evaluation_log"
"""The key of a report's :class:`LoggedEvaluation` (rank 0's reports only)."""


@dataclass(frozen=True)
class LoggedEvaluation:
    """One English-dev evaluation as MLflow logs it, carried in a Ray Train report from rank 0 to
    the Train controller (:class:`~sweeper.ray_adapter.evaluation_log.LogCommittedEvaluations`
    logs it once the report's checkpoint is committed). Ray Train keeps reports as JSON
    (``checkpoint_manager_snapshot.json``): it travels as :meth:`as_report_value`.

    Attributes:
        metrics: MLflow metric key → value (0–100 scores).
        timestamp_ms: when the evaluation ended, in milliseconds since the Unix epoch (the time
            MLflow shows, not the later time it is logged at).
    """

    metrics: dict[str, float]
    timestamp_ms: int

    def as_report_value(self) -> dict:
        return {"metrics": self.metrics, "timestamp_ms": self.timestamp_ms}

    @classmethod
    def in_report(cls, report: dict) -> LoggedEvaluation | None:
        """The evaluation a report carries under :data:`EVALUATION_LOG`, if any."""
        value = report.get(EVALUATION_LOG)
        return None if value is None else cls(dict(value["metrics"]), int(value["timestamp_ms"]))


class _CheckpointReporter:
    """A stage's :class:`~sweeper.training.trainer.CheckpointCallback`: every rank reports each
    evaluation to Ray Train, rank 0 with the checkpoint a retry resumes from and the evaluation's
    metrics under their MLflow keys (``keyed(metrics)``, a :class:`LoggedEvaluation`).

    The checkpoint is uploaded to Ray storage in the background (``CheckpointUploadMode.ASYNC``)
    while training goes on: a full checkpoint (weights and AdamW state, 6.7 GB for XLM-R Large)
    copied synchronously would hold the GPU idle at every evaluation. Ray uploads a hard-linked
    snapshot of the Trainer's checkpoint folder (``uploads/``, :func:`sweeper.storage.snapshot`),
    not the folder itself, which the Trainer deletes when it rotates its checkpoints, and deletes
    the snapshot once uploaded. Ray Train's controller receives the report once its checkpoint is
    uploaded, in order, commits the checkpoint, then logs the evaluation to MLflow and hands it to
    Tune: an evaluation is logged only when a retry resumes after it, so none is logged twice.
    """

    def __init__(self, keyed: Callable[[dict[str, float]], dict[str, float]] | None, uploads: Path):
        self._keyed = keyed
        self._uploads = uploads

    def __call__(self, evaluation: int, step: int, metrics: dict[str, float], checkpoint_dir: Path) -> None:
        import ray.train

        report = {TIME_ATTR: evaluation, "step": step, METRIC: metrics[METRIC]}
        checkpoint = None
        if self._keyed is not None:
            report[EVALUATION_LOG] = LoggedEvaluation(self._keyed(metrics), int(time.time() * 1000)).as_report_value()
            checkpoint = ray.train.Checkpoint.from_directory(_upload_snapshot(checkpoint_dir, self._uploads, evaluation))
        ray.train.report(
            report,
            checkpoint=checkpoint,
            checkpoint_upload_mode=ray.train.CheckpointUploadMode.ASYNC,
            delete_local_checkpoint_after_upload=True,
        )

    def flush(self) -> None:
        """Block until Ray Train has committed every evaluation reported, checkpoints uploaded
        (``get_all_reported_checkpoints``, ``CheckpointConsistencyMode.COMMITTED``), and so logged
        them. A background upload that failed (a full disk) fails the worker group, so this never
        returns and the stage is not published: its retry resumes from the last checkpoint that
        was stored."""
        import ray.train

        ray.train.get_all_reported_checkpoints(consistency_mode=ray.train.CheckpointConsistencyMode.COMMITTED)


def _log_resumed_evaluation(tracker, run_id: str) -> None:
    """Log the evaluation of the checkpoint this Train run resumes from, unless the run has it:
    Ray Train commits a checkpoint before its evaluation is logged, and a controller lost in
    between leaves that evaluation unlogged (the retry resumes after it)."""
    import ray.train

    reported = ray.train.get_all_reported_checkpoints(consistency_mode=ray.train.CheckpointConsistencyMode.COMMITTED)
    if not reported:
        return
    latest = max(reported, key=lambda checkpoint: checkpoint.metrics["step"])
    evaluation, step = LoggedEvaluation.in_report(latest.metrics), int(latest.metrics["step"])
    if evaluation is not None and step not in tracker.logged_steps(run_id, next(iter(evaluation.metrics))):
        tracker.log_metrics(run_id, evaluation.metrics, step, evaluation.timestamp_ms)


def _upload_snapshot(checkpoint_dir: Path, uploads: Path, evaluation: int) -> Path:
    """A hard-linked snapshot of ``checkpoint_dir`` in ``uploads`` for Ray to upload; one left there
    under the same name by an earlier attempt of the trial (whose upload died with it) is replaced."""
    target = uploads / f"{checkpoint_dir.name}-evaluation-{evaluation}"
    if target.exists():
        shutil.rmtree(target)
    uploads.mkdir(parents=True, exist_ok=True)
    return snapshot(checkpoint_dir, target)


def _no_evaluation_callback(evaluation: int, step: int, metrics: dict[str, float]) -> None:
    """Nothing: an evaluation is logged and reported with the checkpoint saved right after it."""


def _run_stage(job: StageJob, tracker, resume_from: Path | None) -> None:
    import ray.train

    from sweeper.cache.outputs import publish_evaluation
    from sweeper.registry import zero_shot_languages
    from sweeper.tracking.schema import metric_key
    from sweeper.tracking.trial_logging import evaluation_metrics, log_retrieval, log_target_outcome
    from sweeper.training.inputs import StageInputs
    from sweeper.training.stages import (
        run_intermediate_stage,
        run_retrieval_stage,
        run_target_stage,
        run_zero_shot_stage,
    )

    task = job.task
    inputs = StageInputs(
        model_source=job.model_source,
        init_from=job.init_from,
        task=task,
        settings=job.settings,
        data_dir=job.data_dir,
        output_dir=job.output_dir,
        resume_from=resume_from,
        feature_cache=job.feature_cache,
    )
    keyed = None if tracker is None else lambda metrics: evaluation_metrics(job.stage, task.task, metrics)
    on_checkpoint = _CheckpointReporter(keyed, job.output_dir / UPLOAD_DIR)

    def published(result):
        """``result`` as published into the stage cache's evaluation folder (when there is one)."""
        if job.evaluation is None:
            return result
        return publish_evaluation(job.evaluation.folder, result, task.task, dict(job.evaluation.record))

    if job.stage == "intermediate":
        result = run_intermediate_stage(
            inputs, job.encoder.folder, _no_evaluation_callback, on_checkpoint, dict(job.encoder.record)
        )
        if tracker is not None:
            best_key = metric_key(job.stage, task.task, "en", "dev", f"best_{task.metric}")
            tracker.log_metrics(job.run_id, {best_key: result.best_score})
        return
    final = {}
    if job.stage == "retrieval":
        if tracker is not None:
            result = run_retrieval_stage(
                inputs.init_from or inputs.model_source,
                inputs.model_source,
                task,
                inputs.settings,
                inputs.data_dir,
                zero_shot_languages(task, job.zero_shot),
                job.zero_shot.max_examples_per_language,
                inputs.output_dir,
            )
            final = log_retrieval(tracker, job.run_id, task, published(result))
    elif job.stage == "zero_shot":  # a target stage from the stage cache: evaluate its best model
        result = run_zero_shot_stage(inputs, job.zero_shot, list(job.target_dev_languages))
        if tracker is not None:
            final = log_target_outcome(tracker, job.run_id, task, job.best_score, published(result), inputs.init_from)
    else:
        stage_dir = job.target_stage.folder if job.target_stage else None
        result, zero_shot, best_model_dir = run_target_stage(
            inputs,
            job.zero_shot,
            _no_evaluation_callback,
            list(job.target_dev_languages),
            on_checkpoint,
            stage_dir,
            dict(job.target_stage.record) if job.target_stage else None,
        )
        final = {METRIC: result.best_score}
        if tracker is not None:
            final = log_target_outcome(tracker, job.run_id, task, result.best_score, published(zero_shot), best_model_dir)
            if stage_dir is None:
                shutil.rmtree(best_model_dir)  # not cached: MLflow's artifact copy is the one kept
    ray.train.report(final)


def _run_multitask(job: StageJob, tracker, resume_from: Path | None) -> None:
    """Train a multi-task intermediate stage; each evaluation logs each member's English-dev
    metrics as ``intermediate/<member>/en/dev/<metric>`` and the members' mean as
    ``intermediate/<stage>/en/dev/mean_score``; rank 0 then logs the best mean
    (``best_mean_score``) and the sampling probabilities as params ``multitask.probability.<member>``."""
    from sweeper.tracking.schema import metric_key
    from sweeper.training.multitask import run_multitask_stage, split_member_metric

    stage = job.multitask

    def keyed(metrics: dict[str, float]) -> dict[str, float]:
        by_key = {}
        for name, value in metrics.items():
            if name != METRIC:
                member, metric = split_member_metric(name)
                by_key[metric_key("intermediate", member, "en", "dev", metric)] = value
        by_key[metric_key("intermediate", stage.name, "en", "dev", "mean_score")] = metrics[METRIC]
        return by_key

    outcome = run_multitask_stage(
        stage,
        job.model_source,
        job.data_dir,
        job.output_dir,
        job.encoder.folder,
        _no_evaluation_callback,
        dict(job.encoder.record),
        _CheckpointReporter(None if tracker is None else keyed, job.output_dir / UPLOAD_DIR),
        resume_from,
    )
    if tracker is not None:
        best = {metric_key("intermediate", stage.name, "en", "dev", "best_mean_score"): outcome.result.best_score}
        tracker.log_metrics(job.run_id, best)
        tracker.log_params(job.run_id, {f"multitask.probability.{name}": f"{p:.6f}" for name, p in outcome.probabilities.items()})
