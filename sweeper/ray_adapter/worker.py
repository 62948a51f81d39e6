"""The Ray Train worker function of every stage.

Kept light on purpose: the Train controller actor imports this module only to unpickle
:func:`stage_worker`, so torch, transformers and MLflow are imported inside the function, by the
workers that need them. ``loop_config`` carries plain data (dicts, strings), rebuilt here into
typed objects.
"""

from __future__ import annotations

import os

from contextlib import contextmanager
from pathlib import Path

from sweeper.config import METRIC, TIME_ATTR


def stage_worker(loop_config: dict) -> None:
    """Train one stage (rank 0 logs each evaluation to MLflow; every rank reports to Tune).

    ``loop_config`` keys: ``stage`` (``intermediate``/``target``/``zero_shot``/``retrieval``),
    ``task`` and ``settings`` (model dumps of TaskSpec/TrainingConfig), ``model_source``,
    ``init_from``, ``data_dir``, ``output_dir``, ``tracking_uri``, ``run_id``; ``encoder_dir``
    and ``encoder_record`` (intermediate); ``zero_shot`` (target, zero_shot, retrieval);
    ``target_dev_languages`` (target, zero_shot); ``target_stage_dir`` and
    ``target_stage_record`` (target: where the finished stage is published in the stage cache,
    ``None``: not cached); ``evaluation_dir`` and ``evaluation_record`` (where the evaluation is
    published, ``None``: not cached); ``best_score`` (zero_shot: the cached stage's, 0–100);
    ``multitask`` (a ``MultitaskStage.to_dict()``) for a multi-task intermediate stage.
    Stage ``zero_shot`` evaluates the cached target model in ``init_from`` without training.

    A retried or restored trial's Train run hands its workers the latest checkpoint reported
    here (``ray.train.get_checkpoint``): training resumes from it (multi-task stages too). Rank 0
    tags the run with ``world_size``, the number of data-parallel workers that trained it.
    """
    import torch.distributed

    from sweeper.training.memory_probe import GPU_FRACTION_ENV

    os.environ[GPU_FRACTION_ENV] = str(loop_config.get("gpu_fraction", 1))  # the trial's share, for auto micro-batches
    from sweeper.registry import TaskSpec
    from sweeper.training.stages import is_main_process
    from sweeper.tracking.runs import Tracker

    stage, run_id = loop_config["stage"], loop_config["run_id"]
    if is_main_process():
        world_size = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        Tracker(loop_config["tracking_uri"]).set_tags(run_id, {"world_size": world_size})
    if loop_config.get("multitask"):
        _multitask_worker(loop_config, Tracker(loop_config["tracking_uri"]) if is_main_process() else None)
        return
    task = TaskSpec.model_validate(loop_config["task"])
    with _resume_checkpoint() as resume_from:
        _run_stage(loop_config, stage, run_id, task, resume_from)


@contextmanager
def _resume_checkpoint():
    """The folder of this Train run's latest checkpoint (a retried or restored trial), else ``None``."""
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder)


def _run_stage(loop_config: dict, stage: str, run_id: str, task, resume_from: Path | None) -> None:
    import shutil

    import ray.train

    from sweeper.config import TrainingConfig, ZeroShotConfig
    from sweeper.registry import zero_shot_languages
    from sweeper.cache.outputs import publish_evaluation
    from sweeper.training.stages import (
        StageInputs,
        is_main_process,
        run_intermediate_stage,
        run_retrieval_stage,
        run_target_stage,
        run_zero_shot_stage,
    )
    from sweeper.tracking.runs import Tracker, metric_key
    from sweeper.tracking.trial_logging import log_evaluation, log_retrieval, log_target_outcome

    tracker = Tracker(loop_config["tracking_uri"]) if is_main_process() else None
    inputs = StageInputs(
        model_source=loop_config["model_source"],
        init_from=Path(loop_config["init_from"]) if loop_config["init_from"] else None,
        task=task,
        settings=TrainingConfig.model_validate(loop_config["settings"]),
        data_dir=Path(loop_config["data_dir"]) if loop_config["data_dir"] else None,
        output_dir=Path(loop_config["output_dir"]),
        resume_from=resume_from,
    )

    def on_evaluation(evaluation: int, step: int, metrics: dict[str, float]) -> None:
        """Nothing: an evaluation is logged and reported with the checkpoint saved right after it."""

    def on_checkpoint(evaluation: int, step: int, metrics: dict[str, float], checkpoint_dir: Path) -> None:
        """Log the evaluation, then report it to Tune with the checkpoint a retry resumes from."""
        checkpoint = None
        if tracker is not None:
            log_evaluation(tracker, run_id, stage, task.task, step, metrics)
            checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir)
        ray.train.report({TIME_ATTR: evaluation, "step": step, METRIC: metrics[METRIC]}, checkpoint=checkpoint)

    def published(result):
        """``result`` as published into the stage cache's evaluation folder (when there is one)."""
        folder = loop_config.get("evaluation_dir")
        return result if folder is None else publish_evaluation(Path(folder), result, task.task, loop_config["evaluation_record"])

    if stage == "intermediate":
        result = run_intermediate_stage(
            inputs, Path(loop_config["encoder_dir"]), on_evaluation, on_checkpoint, loop_config["encoder_record"]
        )
        if tracker is not None:
            tracker.log_metrics(run_id, {metric_key(stage, task.task, "en", "dev", f"best_{task.metric}"): result.best_score})
        return
    final = {}
    zero_shot_config = ZeroShotConfig.model_validate(loop_config["zero_shot"])
    if stage == "retrieval":
        if tracker is not None:
            result = run_retrieval_stage(
                inputs.init_from or inputs.model_source, inputs.model_source, task, inputs.settings, inputs.data_dir,
                zero_shot_languages(task, zero_shot_config), zero_shot_config.max_examples_per_language, inputs.output_dir,
            )
            final = log_retrieval(tracker, run_id, task, published(result))
    elif stage == "zero_shot":  # a target stage from the stage cache: evaluate its best model
        result = run_zero_shot_stage(inputs, zero_shot_config, loop_config["target_dev_languages"])
        if tracker is not None:
            final = log_target_outcome(tracker, run_id, task, loop_config["best_score"], published(result), inputs.init_from)
    else:
        stage_dir = loop_config.get("target_stage_dir")
        result, zero_shot, best_model_dir = run_target_stage(
            inputs, zero_shot_config, on_evaluation, loop_config["target_dev_languages"], on_checkpoint,
            Path(stage_dir) if stage_dir else None, loop_config.get("target_stage_record"),
        )
        final = {METRIC: result.best_score}
        if tracker is not None:
            final = log_target_outcome(tracker, run_id, task, result.best_score, published(zero_shot), best_model_dir)
            if stage_dir is None:
                shutil.rmtree(best_model_dir)  # not cached: MLflow's artifact copy is the one kept
    ray.train.report(final)


def _multitask_worker(loop_config: dict, tracker) -> None:
    """Train a multi-task intermediate stage; rank 0 logs each member's English-dev metrics as
    ``intermediate/<member>/en/dev/<metric>`` and the members' mean as
    ``intermediate/<stage>/en/dev/mean_score`` (best: ``best_mean_score``), and the sampling
    probabilities as params ``multitask.probability.<member>``. Each evaluation is reported with
    its checkpoint, which a retried or restored trial resumes from."""
    import ray.train

    from sweeper.sweep.multitask import MultitaskStage
    from sweeper.training.multitask import run_multitask_stage, split_member_metric
    from sweeper.tracking.runs import metric_key

    stage = MultitaskStage.from_dict(loop_config["multitask"])
    run_id = loop_config["run_id"]

    def on_evaluation(evaluation: int, step: int, metrics: dict[str, float]) -> None:
        """Nothing: an evaluation is logged and reported with the checkpoint saved right after it."""

    def on_checkpoint(evaluation: int, step: int, metrics: dict[str, float], checkpoint_dir: Path) -> None:
        checkpoint = None
        if tracker is not None:
            keyed = {}
            for name, value in metrics.items():
                if name != METRIC:
                    member, metric = split_member_metric(name)
                    keyed[metric_key("intermediate", member, "en", "dev", metric)] = value
            keyed[metric_key("intermediate", stage.name, "en", "dev", "mean_score")] = metrics[METRIC]
            tracker.log_metrics(run_id, keyed, step)
            checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir)
        ray.train.report({TIME_ATTR: evaluation, "step": step, METRIC: metrics[METRIC]}, checkpoint=checkpoint)

    data_dir = Path(loop_config["data_dir"]) if loop_config["data_dir"] else None
    with _resume_checkpoint() as resume_from:
        outcome = run_multitask_stage(
            stage, loop_config["model_source"], data_dir, Path(loop_config["output_dir"]), Path(loop_config["encoder_dir"]),
            on_evaluation, loop_config["encoder_record"], on_checkpoint, resume_from,
        )
    if tracker is not None:
        best = {metric_key("intermediate", stage.name, "en", "dev", "best_mean_score"): outcome.result.best_score}
        tracker.log_metrics(run_id, best)
        tracker.log_params(run_id, {f"multitask.probability.{name}": f"{p:.6f}" for name, p in outcome.probabilities.items()})
