"""The Ray Train worker function of every stage.

Kept light on purpose: the Train controller actor imports this module only to unpickle
:func:`stage_worker`, so torch, transformers and MLflow are imported inside the function, by the
workers that need them. ``loop_config`` carries plain data (dicts, strings), rebuilt here into
typed objects.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

TIME_ATTR = "evaluation"  # Tune time_attr: count of English-dev evaluations
METRIC = "score"  # the target's selection metric on English dev, 0-100


def stage_worker(loop_config: dict) -> None:
    """Train one stage (rank 0 logs each evaluation to MLflow; every rank reports to Tune).

    ``loop_config`` keys: ``stage`` (``intermediate``/``target``/``retrieval``), ``task`` and ``settings``
    (model dumps of TaskSpec/TrainingConfig), ``model_source``, ``init_from``, ``data_dir``,
    ``output_dir``, ``encoder_dir`` and ``encoder_record`` (intermediate), ``zero_shot`` and
    ``target_dev_languages`` (target), ``tracking_uri``, ``run_id``; ``multitask`` (a
    ``MultitaskStage.to_dict()``) for a multi-task intermediate stage.

    A retried or restored trial's Train run hands its workers the latest checkpoint reported
    here (``ray.train.get_checkpoint``): training resumes from it (single-task stages; a
    multi-task stage trains again from the start).
    """
    from sweeper.registry import TaskSpec
    from sweeper.stages import is_main_process
    from sweeper.tracking import Tracker

    stage, run_id = loop_config["stage"], loop_config["run_id"]
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
    from sweeper.metrics.xtreme import task_score
    from sweeper.plan import THRESHOLD_SPLIT, zero_shot_languages
    from sweeper.stages import (
        StageInputs,
        is_main_process,
        run_intermediate_stage,
        run_retrieval_stage,
        run_target_stage,
    )
    from sweeper.tracking import SELECTION_KEY, TARGET_DEV_KEY, Tracker, metric_key

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
            keyed = {metric_key(stage, task.task, "en", "dev", name): value for name, value in metrics.items() if name != METRIC}
            tracker.log_metrics(run_id, keyed, step)
            checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir)
        ray.train.report({TIME_ATTR: evaluation, "step": step, METRIC: metrics[METRIC]}, checkpoint=checkpoint)

    def log_zero_shot(zero_shot) -> float:
        """Log per-language, average and XTREME task-score metrics and the predictions; return the score."""
        split = task.zero_shot.split
        metrics = {}
        for language, scores in zero_shot.per_language.items():
            metrics.update({metric_key("zero_shot", task.task, language, split, name): value for name, value in scores.items()})
        for name in next(iter(zero_shot.per_language.values())):
            values = [scores[name] for scores in zero_shot.per_language.values()]
            metrics[metric_key("zero_shot", task.task, "avg", split, name)] = sum(values) / len(values)
        xtreme_score = task_score(task.task, zero_shot.per_language)
        metrics[metric_key("zero_shot", task.task, "avg", split, "xtreme_score")] = xtreme_score
        tracker.log_metrics(run_id, metrics)
        tracker.log_artifacts(run_id, zero_shot.predictions_dir, f"predictions/{task.task}")
        return xtreme_score

    def log_target_dev(zero_shot, dev_split: str) -> None:
        """Log ``selection/target_dev``: the mean selection metric over the dev languages, and the
        per-language dev metrics unless they are the zero-shot ones (dev is the zero-shot split)."""
        if not zero_shot.dev_per_language:
            return
        scores = zero_shot.dev_per_language
        metrics = {TARGET_DEV_KEY: sum(values[task.metric] for values in scores.values()) / len(scores)}
        if dev_split != task.zero_shot.split:
            metrics.update({metric_key("zero_shot", task.task, language, dev_split, name): value
                            for language, values in scores.items() for name, value in values.items()})
        tracker.log_metrics(run_id, metrics)

    if stage == "retrieval":
        final = {}
        if tracker is not None:
            zero_shot_config = ZeroShotConfig.model_validate(loop_config["zero_shot"])
            zero_shot = run_retrieval_stage(
                inputs.init_from or inputs.model_source, inputs.model_source, task, inputs.settings, inputs.data_dir,
                zero_shot_languages(task, zero_shot_config), zero_shot_config.max_examples_per_language, inputs.output_dir,
            )
            final["zero_shot_score"] = log_zero_shot(zero_shot)
            log_target_dev(zero_shot, THRESHOLD_SPLIT)  # BUCC: dev at the dev-tuned threshold selects (target_dev)
            tracker.log_params(run_id, {f"threshold.{language}": str(value) for language, value in zero_shot.thresholds.items()})
        ray.train.report(final)
        return
    if stage == "intermediate":
        result = run_intermediate_stage(
            inputs, Path(loop_config["encoder_dir"]), on_evaluation, on_checkpoint, loop_config["encoder_record"]
        )
        if tracker is not None:
            tracker.log_metrics(run_id, {metric_key(stage, task.task, "en", "dev", f"best_{task.metric}"): result.best_score})
        return
    zero_shot_config = ZeroShotConfig.model_validate(loop_config["zero_shot"])
    result, zero_shot, best_model_dir = run_target_stage(
        inputs, zero_shot_config, on_evaluation, loop_config["target_dev_languages"], on_checkpoint
    )
    final = {METRIC: result.best_score}
    if tracker is not None:
        tracker.log_metrics(run_id, {SELECTION_KEY: result.best_score})
        xtreme_score = log_zero_shot(zero_shot)
        log_target_dev(zero_shot, task.zero_shot.dev_split)
        tracker.log_artifacts(run_id, best_model_dir, "best_checkpoint")
        shutil.rmtree(best_model_dir)  # MLflow's artifact copy is the one kept
        final["zero_shot_score"] = xtreme_score
    ray.train.report(final)


def _multitask_worker(loop_config: dict, tracker) -> None:
    """Train a multi-task intermediate stage; rank 0 logs each member's English-dev metrics as
    ``intermediate/<member>/en/dev/<metric>`` and the members' mean as
    ``intermediate/<stage>/en/dev/mean_score`` (best: ``best_mean_score``), and the sampling
    probabilities as params ``multitask.probability.<member>``."""
    import ray.train

    from sweeper.multitask import MultitaskStage
    from sweeper.multitask_training import run_multitask_stage, split_member_metric
    from sweeper.tracking import metric_key

    stage = MultitaskStage.from_dict(loop_config["multitask"])
    run_id = loop_config["run_id"]

    def on_evaluation(evaluation: int, step: int, metrics: dict[str, float]) -> None:
        if tracker is not None:
            keyed = {}
            for name, value in metrics.items():
                if name != METRIC:
                    member, metric = split_member_metric(name)
                    keyed[metric_key("intermediate", member, "en", "dev", metric)] = value
            keyed[metric_key("intermediate", stage.name, "en", "dev", "mean_score")] = metrics[METRIC]
            tracker.log_metrics(run_id, keyed, step)
        ray.train.report({TIME_ATTR: evaluation, "step": step, METRIC: metrics[METRIC]})

    data_dir = Path(loop_config["data_dir"]) if loop_config["data_dir"] else None
    outcome = run_multitask_stage(
        stage, loop_config["model_source"], data_dir, Path(loop_config["output_dir"]), Path(loop_config["encoder_dir"]),
        on_evaluation, loop_config["encoder_record"],
    )
    if tracker is not None:
        best = {metric_key("intermediate", stage.name, "en", "dev", "best_mean_score"): outcome.result.best_score}
        tracker.log_metrics(run_id, best)
        tracker.log_params(run_id, {f"multitask.probability.{name}": f"{p:.6f}" for name, p in outcome.probabilities.items()})
