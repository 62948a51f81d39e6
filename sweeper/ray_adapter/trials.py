"""The Tune function trainables of a sweep's stages (intermediate, target, retrieval): each opens its MLflow run, then trains in a Ray Train ``TorchTrainer`` or replays its stage from the stage cache.

Trial actors import this module: keep torch/transformers out of its imports (see ``worker.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from ray import tune
from ray.train import CheckpointConfig, FailureConfig, ScalingConfig
from ray.train import RunConfig as TrainRunConfig
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback
from sweeper.config import SweepConfig, TrainingConfig
from sweeper.sweep.multitask import MultitaskStage
from sweeper.registry import THRESHOLD_SPLIT, zero_shot_languages
from sweeper.sweep.tasks import resolve_task
from sweeper.sweep.grid import (
    target_dev_languages,
    target_settings,
    trial_setting_names,
)
from sweeper.config import METRIC, TIME_ATTR
from sweeper.ray_adapter.worker import stage_worker
from sweeper.registry import TaskSpec
from sweeper.ray_adapter.scheduling import saved_stopped_trial_ids
from sweeper.config import NO_SELECTION, TARGET_DEV
from sweeper.cache.store import CacheEntry
from sweeper.cache.locks import train_once
from sweeper.cache.outputs import read_evaluation, read_target_history
from sweeper.storage import BEST_MODEL_DIR, storage_child
from sweeper.tracking.runs import SELECTION_KEY, Tracker, metric_key
from sweeper.tracking.trial_logging import log_evaluation, log_retrieval, log_target_outcome
from sweeper.ray_adapter.context import SweepContext
from sweeper.ray_adapter.outcomes import FAILED, close_after_error, close_trial_run, trial_outcome


# Trial actors import this module: keep torch/transformers out of its imports (see worker.py).
WORKER_GROUP_START_TIMEOUT_ENV = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"


TRIAL_RESOURCES = {"cpu": 0.01}  # the trial actor only drives its TorchTrainer


def _scaling_config(config: SweepConfig) -> ScalingConfig:
    resources = config.resources
    per_worker = {"CPU": resources.cpus_per_worker}
    if resources.use_gpu:
        per_worker["GPU"] = resources.gpus_per_worker or 1
    return ScalingConfig(num_workers=resources.num_workers, use_gpu=resources.use_gpu, resources_per_worker=per_worker)


def _fit_stage(context: SweepContext, loop_config: dict, name: str) -> None:
    shared = {
        "model_source": context.model_source,
        "data_dir": str(context.data_dir) if context.data_dir else None,
        "tracking_uri": context.tracking_uri,
    }
    trainer = TorchTrainer(
        stage_worker,
        train_loop_config={**shared, **loop_config},
        scaling_config=_scaling_config(context.config),
        run_config=TrainRunConfig(
            name=name,
            storage_path=storage_child(context.ray_storage, "train"),
            callbacks=[TuneReportCallback()],
            failure_config=FailureConfig(controller_failure_limit=context.config.resources.controller_failure_limit),
            checkpoint_config=CheckpointConfig(num_to_keep=1),  # only the latest: what a retry resumes from
        ),
    )
    result = trainer.fit()
    if result.checkpoint is not None:  # the trial is done: its resume checkpoint is not needed anymore
        result.checkpoint.filesystem.delete_dir(result.checkpoint.path)


def train_run_name(run_name: str, trial_id: str) -> str:
    """The Ray Train run of a trial (``<Ray storage>/train/<this>``): its MLflow run name with
    ``/`` replaced, and the trial id. A retried or restored trial finds its checkpoint under it."""
    return f"{run_name.replace('/', '-')}-{trial_id}"


def target_run_name(trial_config: dict) -> str:
    """The MLflow run name of a target trial: ``target/<intermediate>-><target>``."""
    return f"target/{trial_config['intermediate_task']}->{trial_config['target_task']}"


def _trial_id() -> str:
    return tune.get_context().get_trial_id()


#: A trial's work once its MLflow run exists: gets the run id, returns tags for the finished run.
TrialWork = Callable[[str], dict[str, str]]


def _train(context: SweepContext, loop_config: dict, name: str) -> TrialWork:
    """The work of training (or evaluating) in a Ray Train run ``name``."""

    def work(run_id: str) -> dict[str, str]:
        _fit_stage(context, {**loop_config, "run_id": run_id}, name)
        return {}

    return work


def _run_trial_stage(context: SweepContext, tags: dict, params: dict, name: str, work: TrialWork) -> None:
    """Create (or continue) the trial's nested MLflow run, do ``work``, and close the run with its
    outcome (tag ``asha_outcome``, and the tags ``work`` returns).

    A failing trial closes its run as FAILED and re-raises (Tune records the error and retries it
    up to ``resources.max_failures`` times; each attempt continues the same run, tag ``attempts``).
    What a trial that grouped ASHA stopped raises while its Train controller is torn down is not
    a failure: its run is closed as early-stopped (:func:`sweeper.ray_adapter.outcomes.trial_outcome`);
    one whose actor is gone before it can close its run is closed by the driver after the experiment.
    """
    tracker = Tracker(context.tracking_uri)
    trial_id = _trial_id()
    existing = tracker.find_child(context.experiment_id, context.parent_run_id, trial_id)
    # Tune's experiment snapshot can predate a trial's end: such a trial does not train again. It
    # reports its selection score (Tune requires the scheduler's metric in a trial's first result;
    # without `time_attr`, ASHA records nothing new).
    if existing is not None and existing.data.tags.get("asha_outcome") == "completed":
        tune.report({METRIC: existing.data.metrics.get(SELECTION_KEY, math.nan)})
        return
    if trial_id in saved_stopped_trial_ids(context.asha_state_path):
        tune.report({METRIC: math.nan})  # grouped ASHA stopped it; the driver closes its run
        return
    if existing is None:
        run_id = tracker.start_child(
            context.experiment_id, context.parent_run_id, name, {**tags, "ray_trial_id": trial_id}, params
        )
    else:  # a retried trial (its run FAILED) or one restored by `sweeper resume` (its run RUNNING)
        run_id = existing.info.run_id
        tracker.reopen(run_id)
        tracker.set_tags(run_id, {"attempts": int(existing.data.tags.get("attempts", "1")) + 1})
    earlier_tags = existing.data.tags if existing is not None else {}
    try:
        outcome = work(run_id)
    except Exception as error:
        # Grouped ASHA's record decides: a trial it stopped is early-stopped whatever its teardown raised.
        if close_after_error(tracker, run_id, trial_id, context.asha_state_path, error, earlier_tags).outcome == FAILED:
            raise
        return
    tracker.set_tags(run_id, outcome)
    close_trial_run(tracker, run_id, trial_outcome(trial_id, (), None), earlier_tags)


def intermediate_trial(trial_config: dict, context: SweepContext) -> None:
    """Tune function trainable of phase 1: train one intermediate configuration (a task, or a
    ``multitask`` stage, whose members and sampling go to MLflow params and tags), unless another
    trial (of this sweep or another) finished it while this one waited for the stage's lock."""
    cached = context.stage(trial_config["intermediate_task"])
    stage = cached.stage
    tags = {"stage": "intermediate", "intermediate_task": stage.name, "stage_key": cached.key,
            "learning_rate": stage.settings.learning_rate, "seed": stage.settings.seed}
    params = {"stage": "intermediate", "task": stage.name, "model": context.config.model, "training": stage.settings.model_dump()}
    loop_config = {
        "stage": "intermediate",
        "settings": stage.settings.model_dump(),
        "init_from": None,
        "output_dir": str(context.output_dir / "trials" / "intermediate" / cached.path.name),
        "encoder_dir": str(cached.path),
        "encoder_record": cached.record(**context.producer()),
    }
    if isinstance(stage, MultitaskStage):
        tags |= {"multitask_members": ",".join(member.name for member in stage.members), "multitask_sampling": stage.sampling}
        params["multitask"] = {"members": [member.name for member in stage.members], "sampling": stage.sampling,
                               "temperature": stage.temperature}
        loop_config |= {"multitask": stage.to_dict(), "task": None}
    else:
        params["task_version"] = stage.task.version
        loop_config["task"] = stage.task.model_dump()
    name = f"intermediate/{stage.name}"
    train_once(cached, lambda: _run_trial_stage(context, tags, params, name, _train(context, loop_config, train_run_name(name, _trial_id()))))


def target_trial_dir(context: SweepContext, trial_config: dict, trial_id: str) -> Path:
    """The output folder of one target trial: ``<output>/trials/target/<cell>__<values>__<trial id>``."""
    settings = target_settings(context.config, trial_config)
    values = "__".join(f"{name}{getattr(settings, name):g}" for name in trial_setting_names(context.config))
    cell = f"{trial_config['intermediate_task']}__{trial_config['target_task']}__{values}__{trial_id}"
    return context.output_dir / "trials" / "target" / cell


def target_trial(trial_config: dict, context: SweepContext) -> None:
    """Tune function trainable of phase 2: one (intermediate, target, searched settings, seed) trial.

    The trial's searched settings and seed replace the stage's (``plan.target_settings``); MLflow
    tags ``learning_rate`` and ``seed``, params ``training.<setting>`` record every value used;
    tags ``selection_policy`` and ``selection_seeds`` the sweep's ``selection``. Where the target
    has target-language dev data to score (``plan.target_dev_languages``), the trial also logs
    ``selection/target_dev`` (tag ``target_dev_split``).

    With ``storage.cache_target_stages``, the trial's target stage and zero-shot evaluation are
    looked up in the stage cache (tags ``stage_key``, ``target_stage`` ``trained``/``reused``,
    ``evaluation`` ``evaluated``/``reused``): a finished target stage is not trained again but
    replayed (:func:`_replay_target`); a trial of a stage another trial is training waits for it.
    """
    config = context.config
    intermediate, target = trial_config["intermediate_task"], trial_config["target_task"]
    task: TaskSpec = resolve_task(config, target)
    settings: TrainingConfig = target_settings(config, trial_config)
    dev_languages = target_dev_languages(config, task, context.data_dir)
    loop_config = {
        "stage": "target",
        "task": task.model_dump(),
        "settings": settings.model_dump(),
        "init_from": context.init_from(intermediate),
        "output_dir": str(target_trial_dir(context, trial_config, _trial_id())),
        "zero_shot": config.zero_shot.model_dump(),
        "target_dev_languages": dev_languages,
    }
    tags = {"stage": "target", "intermediate_task": intermediate, "target_task": target,
            "learning_rate": settings.learning_rate, "seed": settings.seed, "selection_metric": task.metric,
            "selection_policy": config.selection.policy, "selection_seeds": config.selection.seeds,
            "zero_shot_split": task.zero_shot.split}
    if dev_languages:
        tags["target_dev_split"] = task.zero_shot.dev_split
    params = {"stage": "target", "intermediate_task": intermediate, "target_task": target, "task_version": task.version,
              "model": config.model, "training": settings.model_dump()}
    name = target_run_name(trial_config)
    train_name = train_run_name(name, _trial_id())
    if not context.cache.enabled:
        _run_trial_stage(context, tags, params, name, _train(context, loop_config, train_name))
        return
    stage = context.cache.target_stage(context.stage(intermediate), intermediate, task, settings)
    evaluation = context.cache.zero_shot(
        stage, task, zero_shot_languages(task, config.zero_shot), config.zero_shot.max_examples_per_language, dev_languages
    )
    loop_config |= {"target_stage_dir": str(stage.path), "target_stage_record": stage.record(**context.producer()),
                    "evaluation_dir": str(evaluation.path), "evaluation_record": evaluation.record(**context.producer())}

    def work(run_id: str) -> dict[str, str]:
        if train_once(stage, lambda: _fit_stage(context, {**loop_config, "run_id": run_id}, train_name)):
            return {"target_stage": "trained", "evaluation": "evaluated"}
        return {"target_stage": "reused", "evaluation": _replay_target(context, run_id, task, stage, evaluation, loop_config, train_name)}

    _run_trial_stage(context, {**tags, "stage_key": stage.key}, params, name, work)


def _replay_target(
    context: SweepContext, run_id: str, task: TaskSpec, stage: CacheEntry, evaluation: CacheEntry, loop_config: dict,
    train_name: str,
) -> str:
    """Replay a finished target stage from the stage cache instead of training it.

    Each cached English-dev evaluation is logged to the trial's run (unless the run has it: a
    restored trial) and reported to Tune with its number, so grouped ASHA decides on the same
    results as from training (and may stop the trial: its decisions depend on the order results
    arrive, which replays change). Then the zero-shot evaluation:
    read from the cache when it is there, else run on the cached best model in a Ray Train run
    (stage ``zero_shot``, on the trial's resources).

    Returns:
        ``"reused"`` (the evaluation was cached) or ``"evaluated"``.
    """
    tracker = Tracker(context.tracking_uri)
    history, best_score = read_target_history(stage.path)
    logged = {metric.step for metric in tracker.client.get_metric_history(run_id, metric_key("target", task.task, "en", "dev", task.metric))}
    for number, (step, metrics) in enumerate(history, start=1):
        if step not in logged:
            log_evaluation(tracker, run_id, "target", task.task, step, metrics)
        tune.report({TIME_ATTR: number, "step": step, METRIC: metrics[METRIC]})
    best_model = stage.path / BEST_MODEL_DIR
    if evaluation.complete:
        tune.report(log_target_outcome(tracker, run_id, task, best_score, read_evaluation(evaluation.path, task.task), best_model))
        return "reused"
    evaluate = {**loop_config, "stage": "zero_shot", "init_from": str(best_model), "best_score": best_score}
    _train(context, evaluate, f"{train_name}-zero-shot")(run_id)
    return "evaluated"


def retrieval_trial(trial_config: dict, context: SweepContext) -> None:
    """Tune function trainable of a retrieval target: evaluate one encoder (no training).

    Selection policy (tag ``selection_policy``): ``target_dev`` when the task has a dev split
    (BUCC: mean dev F1 over its languages at the dev-tuned threshold), else ``none`` (Tatoeba has
    no dev set: every intermediate task is reported, none is selected). With
    ``storage.cache_target_stages``, an evaluation found in the stage cache is logged from there
    (tag ``evaluation`` ``reused``, else ``evaluated``).
    """
    config = context.config
    intermediate, target = trial_config["intermediate_task"], trial_config["target_task"]
    task: TaskSpec = resolve_task(config, target)
    settings: TrainingConfig = config.stage_training("target", target)
    loop_config = {
        "stage": "retrieval",
        "task": task.model_dump(),
        "settings": settings.model_dump(),
        "init_from": context.init_from(intermediate),
        "output_dir": str(context.output_dir / "trials" / "retrieval" / f"{intermediate}__{target}"),
        "zero_shot": config.zero_shot.model_dump(),
    }
    policy = TARGET_DEV if THRESHOLD_SPLIT in task.splits else NO_SELECTION
    tags = {"stage": "retrieval", "intermediate_task": intermediate, "target_task": target,
            "selection_metric": task.metric, "selection_policy": policy, "zero_shot_split": task.zero_shot.split}
    if policy == TARGET_DEV:
        tags["target_dev_split"] = THRESHOLD_SPLIT
    params = {"stage": "retrieval", "intermediate_task": intermediate, "target_task": target, "task_version": task.version,
              "model": config.model, "training": settings.model_dump()}
    name = f"retrieval/{intermediate}->{target}"
    train_name = train_run_name(name, _trial_id())
    if not context.cache.enabled:
        _run_trial_stage(context, tags, params, name, _train(context, loop_config, train_name))
        return
    evaluation = context.cache.retrieval(context.stage(intermediate), intermediate, task, settings,
                                        zero_shot_languages(task, config.zero_shot), config.zero_shot.max_examples_per_language)
    loop_config |= {"evaluation_dir": str(evaluation.path), "evaluation_record": evaluation.record(**context.producer())}

    def work(run_id: str) -> dict[str, str]:
        if not evaluation.complete:
            _train(context, loop_config, train_name)(run_id)
            return {"evaluation": "evaluated"}
        tune.report(log_retrieval(Tracker(context.tracking_uri), run_id, task, read_evaluation(evaluation.path, task.task)))
        return {"evaluation": "reused"}

    _run_trial_stage(context, {**tags, "stage_key": evaluation.key}, params, name, work)
