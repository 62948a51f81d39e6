"""Ray adapter: runs a sweep's stages as Ray Tune trials, each training in a Ray Train
``TorchTrainer`` (the Train V2 pattern: a Tune function trainable that builds the trainer and
calls ``fit()``; worker reports reach Tune through ``TuneReportCallback``).

Phase 1 trains each intermediate configuration once (one Tune experiment, no pruning) and
keeps its encoder in the shared stage cache (``sweeper.cache``); finished encoders found
there are reused, whichever sweep trained them, and a trial waits for a concurrent trial of the
same stage instead of training it twice. Phase 2 searches the target settings (``sweeper.ray_adapter.search``: grid, random or
Optuna TPE within every intermediate × target cell, each configuration once per seed) under
grouped ASHA; every target trial loads the encoder of its intermediate task. Retrieval targets
(BUCC, Tatoeba) have no training: one trial per (intermediate, retrieval target) evaluates the
cached encoder directly (no learning-rate/seed grid, no ASHA), before the target grid. Target
stages, zero-shot and retrieval evaluations are in the stage cache too
(``stage_cache.StageCache``): a trial whose stage is there replays it instead of training.

Fault tolerance: each evaluation's Trainer checkpoint is reported to Ray Train (latest kept);
Tune retries a failed trial ``resources.max_failures`` times, and a retried or restored trial
re-creates its Train run under the same name, so Train V2 hands its workers the latest
checkpoint (``ray.train.get_checkpoint``) and training resumes there. With ``resume=True`` the
phases restore their interrupted Tune experiments (``Tuner.restore``); a restored trial continues
its own MLflow run (found by its ``ray_trial_id`` tag), and one whose run already completed, or
that grouped ASHA already stopped, does not train again.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ray
from ray import tune
from ray.train import CheckpointConfig, FailureConfig, ScalingConfig
from ray.train import RunConfig as TrainRunConfig
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from sweeper.config import NO_INTERMEDIATE, SweepConfig, TrainingConfig
from sweeper.sweep.multitask import MultitaskStage
from sweeper.registry import THRESHOLD_SPLIT, zero_shot_languages
from sweeper.sweep.tasks import resolve_task
from sweeper.sweep.grid import (
    retrieval_evaluations,
    target_dev_languages,
    target_param_space,
    target_settings,
    trial_setting_names,
)
from sweeper.ray_adapter.progress_callback import ProgressCallback
from sweeper.config import METRIC, TIME_ATTR
from sweeper.ray_worker import stage_worker
from sweeper.registry import TaskSpec
from sweeper.ray_adapter.scheduling import GroupedASHAScheduler, saved_stopped_trial_ids
from sweeper.ray_adapter.search import tune_search
from sweeper.config import NO_SELECTION, TARGET_DEV
from sweeper.cache.store import CacheEntry, CachedStage, StageCache
from sweeper.cache.locks import train_once
from sweeper.cache.outputs import read_evaluation, read_target_history
from sweeper.models.cache import cache_root
from sweeper.sweep.packing import worker_gpus
from sweeper.storage import BEST_MODEL_DIR, remove_checkpoints, remove_storage_folder, storage_child
from sweeper.tracking.runs import SELECTION_KEY, Tracker, metric_key
from sweeper.tracking.trial_logging import log_evaluation, log_retrieval, log_target_outcome

# Trial actors import this module: keep torch/transformers out of its imports (see ray_worker.py).
WORKER_GROUP_START_TIMEOUT_ENV = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"
TRIAL_RESOURCES = {"cpu": 0.01}  # the trial actor only drives its TorchTrainer
#: Grouped ASHA's state in the output folder (``sweeper.ray_adapter.scheduling``), read back by ``sweeper resume``.
ASHA_STATE_FILE = "asha_state.json"


@dataclass(frozen=True)
class SweepContext:
    """What every trial of a sweep shares (sent to trial actors with ``tune.with_parameters``)."""

    config: SweepConfig
    data_dir: Path | None
    model_source: str
    output_dir: Path
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    #: the intermediate stages in the stage cache (``stage_cache.cached_intermediate_stages``)
    stages: tuple[CachedStage, ...]
    #: Ray Tune / Train storage of this sweep (``storage.ray_storage``): a folder or a URI
    ray_storage: str
    #: where target, zero-shot and retrieval stages live (``stage_cache.sweep_stage_cache``)
    cache: StageCache

    def stage(self, task: str) -> CachedStage | None:
        """The cached stage named ``task`` in ``intermediate_tasks`` (a task id or multi-task
        name); ``None`` for ``none`` (the pretrained model)."""
        if task == NO_INTERMEDIATE:
            return None
        return next(stage for stage in self.stages if stage.task == task)

    def init_from(self, intermediate: str) -> str | None:
        """The encoder a trial of ``intermediate`` starts from; ``None``: the pretrained model."""
        stage = self.stage(intermediate)
        return None if stage is None else str(stage.path)

    def producer(self) -> dict[str, str]:
        """What a published stage records about the sweep that produced it."""
        return {"sweep": self.config.name, "parent_run_id": self.parent_run_id, "output_dir": str(self.output_dir)}

    @property
    def asha_state_path(self) -> Path:
        return self.output_dir / ASHA_STATE_FILE


def _scaling_config(config: SweepConfig, context: SweepContext) -> ScalingConfig:
    resources = config.resources
    per_worker = {"CPU": resources.cpus_per_worker}
    if resources.use_gpu:  # a fraction under trial packing (sweeper.sweep.packing)
        per_worker["GPU"] = worker_gpus(config, context.model_source, cache_root())
    return ScalingConfig(num_workers=resources.num_workers, use_gpu=resources.use_gpu, resources_per_worker=per_worker)


def _fit_stage(context: SweepContext, loop_config: dict, name: str) -> None:
    scaling = _scaling_config(context.config, context)
    shared = {
        "gpu_fraction": scaling.resources_per_worker.get("GPU", 1),
        "model_source": context.model_source,
        "data_dir": str(context.data_dir) if context.data_dir else None,
        "tracking_uri": context.tracking_uri,
    }
    trainer = TorchTrainer(
        stage_worker,
        train_loop_config={**shared, **loop_config},
        scaling_config=scaling,
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


def _target_run_name(trial_config: dict) -> str:
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
    A trial stopped by ASHA is closed by the driver after the experiment (its actor is gone).
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
    try:
        outcome = work(run_id)
    except Exception as error:
        tracker.set_tags(run_id, {"asha_outcome": "failed", "error": f"{type(error).__name__}: {error}"[:5000]})
        tracker.finish(run_id, "FAILED")
        raise
    if existing is not None and "error" in existing.data.tags:
        tracker.client.delete_tag(run_id, "error")  # an earlier attempt's error; this one succeeded
    tracker.set_tags(run_id, {"asha_outcome": "completed", **outcome})
    tracker.finish(run_id)


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
    name = _target_run_name(trial_config)
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


class _RemoveStoppedCheckpoints(tune.Callback):
    """Deletes the checkpoints of a target trial as soon as ASHA has stopped it (the trial dies
    mid-training, so its own clean-up never runs); :func:`run_target_phase` sweeps again at the
    end for files its Train workers wrote while being torn down."""

    def __init__(self, context: SweepContext, scheduler: GroupedASHAScheduler):
        self._context = context
        self._scheduler = scheduler

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        if trial.trial_id in self._scheduler.stopped_trial_ids:
            remove_checkpoints(target_trial_dir(self._context, trial.config, trial.trial_id))


def _trainable(trainable, context: SweepContext):
    return tune.with_resources(tune.with_parameters(trainable, context=context), TRIAL_RESOURCES)


def _tuner(
    trainable, context: SweepContext, param_space: dict, name: str, scheduler, search=None, callbacks=()
) -> tune.Tuner:
    """A Tuner of ``trainable`` over ``param_space``; ``search`` (a :class:`sweeper.ray_adapter.search.TuneSearch`
    whose ``param_space`` is given) brings its search algorithm and its own concurrency limit."""
    if search is None:
        search_config = {"max_concurrent_trials": context.config.resources.max_concurrent_trials}
    else:
        search_config = {"search_alg": search.search_alg, "num_samples": search.num_samples}
    return tune.Tuner(
        _trainable(trainable, context),
        param_space=param_space,
        tune_config=tune.TuneConfig(scheduler=scheduler, **search_config),
        run_config=tune.RunConfig(
            name=name, storage_path=context.ray_storage, verbose=0,  # the progress view replaces Tune's table
            callbacks=[ProgressCallback(name, context.config.scheduler.max_t if scheduler is not None else None), *callbacks],
            failure_config=tune.FailureConfig(max_failures=context.config.resources.max_failures),
        ),
    )


def _fit(trainable, context: SweepContext, name: str, new_tuner, resume: bool) -> tune.ResultGrid:
    """Run experiment ``name``: restore it when ``resume`` and Tune saved it under
    ``<Ray storage>/<name>`` (unfinished and errored trials go on, finished ones are kept), else
    start ``new_tuner()``. A restored Tuner keeps the scheduler, search algorithm and run config
    it was created with; only the trainable (with this sweep's context) is given again."""
    path = storage_child(context.ray_storage, name)
    if resume and tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, _trainable(trainable, context), resume_unfinished=True, resume_errored=True)
    else:
        tuner = new_tuner()
    return tuner.fit()


def run_intermediate_phase(context: SweepContext, resume: bool = False) -> dict[str, str]:
    """Train every intermediate configuration whose encoder is not in the stage cache yet.

    Args:
        resume: restore the interrupted ``intermediate`` experiment if there is one.

    Returns:
        task id → ``"trained"`` (by this sweep) or ``"cached"`` (found finished, or finished by
        a concurrent sweep while this one waited for it).

    Raises:
        RuntimeError: a trial failed after its retries (the message lists the failing tasks and
            errors); the target trials that start from its encoder could not run.
    """
    pending = [stage.task for stage in context.stages if not stage.complete]
    if pending:
        space = {"intermediate_task": tune.grid_search(pending)}
        results = _fit(intermediate_trial, context, "intermediate", lambda: _tuner(intermediate_trial, context, space, "intermediate", None), resume)
        _raise_on_errors(results, "intermediate")
    return {
        stage.task: "trained" if stage.marker().get("parent_run_id") == context.parent_run_id else "cached"
        for stage in context.stages
    }


def _target_scheduler(config: SweepConfig, state_path: Path):
    scheduler = config.scheduler
    if scheduler.type == "fifo":
        return None
    return GroupedASHAScheduler(
        group_by=scheduler.group_by,
        time_attr=TIME_ATTR,
        metric=METRIC,
        mode="max",
        grace_period=scheduler.grace_period,
        max_t=scheduler.max_t,
        reduction_factor=scheduler.reduction_factor,
        state_path=state_path,
    )


def run_target_phase(context: SweepContext, resume: bool = False) -> tune.ResultGrid | None:
    """Evaluate the retrieval targets, then run the trained targets' search (``search.algorithm``)
    under grouped ASHA and close the MLflow runs of stopped trials.

    Args:
        resume: restore the interrupted ``retrieval`` and ``target`` experiments where Tune saved
            them; grouped ASHA then reloads its state from :data:`ASHA_STATE_FILE`. Otherwise a
            stale state file of an earlier sweep in the folder is removed first.

    Returns:
        The target search's results, or ``None`` when every target is a retrieval task.
    """
    evaluations = retrieval_evaluations(context.config)
    if evaluations:
        intermediates = sorted({item["intermediate_task"] for item in evaluations})
        targets = sorted({item["target_task"] for item in evaluations})
        space = {"intermediate_task": tune.grid_search(intermediates), "target_task": tune.grid_search(targets)}
        _close_stopped_runs(context, _fit(retrieval_trial, context, "retrieval", lambda: _tuner(retrieval_trial, context, space, "retrieval", None), resume))
    param_space = target_param_space(context.config)
    if not param_space["target_task"]:
        return None

    def new_tuner() -> tune.Tuner:
        context.asha_state_path.unlink(missing_ok=True)  # left by an earlier sweep in this folder
        scheduler = _target_scheduler(context.config, context.asha_state_path)
        search = tune_search(context.config, param_space, METRIC)
        callbacks = [_RemoveStoppedCheckpoints(context, scheduler)] if scheduler else []
        return _tuner(target_trial, context, search.param_space, "target", scheduler, search, callbacks)

    results = _fit(target_trial, context, "target", new_tuner, resume)
    stopped = saved_stopped_trial_ids(context.asha_state_path)
    for result in results:
        trial_id = result.metrics.get("trial_id")
        if trial_id in stopped:
            remove_checkpoints(target_trial_dir(context, result.config, trial_id))
            remove_storage_folder(storage_child(context.ray_storage, f"train/{train_run_name(_target_run_name(result.config), trial_id)}"))
    _close_stopped_runs(context, results, stopped)
    return results


def _result_key(config: SweepConfig, trial_config: dict) -> tuple:
    """A trial's (intermediate, target, settings as logged in ``training.<name>`` params)."""
    cell = (trial_config["intermediate_task"], trial_config["target_task"])
    if "seed" not in trial_config:  # a retrieval evaluation: one per (intermediate, target)
        return cell
    settings = target_settings(config, trial_config)
    return cell + tuple(str(getattr(settings, name)) for name in trial_setting_names(config))


def _run_key(config: SweepConfig, run) -> tuple:
    """The :func:`_result_key` of a target or retrieval trial's MLflow run."""
    cell = (run.data.tags["intermediate_task"], run.data.tags["target_task"])
    if run.data.tags["stage"] == "retrieval":
        return cell
    return cell + tuple(run.data.params[f"training.{name}"] for name in trial_setting_names(config))


def _close_stopped_runs(
    context: SweepContext, results: tune.ResultGrid, stopped_trial_ids: frozenset[str] = frozenset()
) -> None:
    """Close the runs of trials that could not close their own.

    A trial stopped by ASHA (its id in ``stopped_trial_ids``) is ended by Tune before it returns:
    its run is marked ``KILLED`` with ``asha_outcome=early_stopped``, even when tearing down its
    Train controller left an error in ``results``. Any other trial with an error in ``results``
    (e.g. its process was killed for memory) is marked ``FAILED`` with the error.
    """
    tracker = Tracker(context.tracking_uri)
    config = context.config
    errors = {_result_key(config, result.config): result.error for result in results if result.error is not None}
    running = tracker.client.search_runs(
        [context.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{context.parent_run_id}' and attributes.status = 'RUNNING'",
    )
    for run in running:
        error = errors.get(_run_key(config, run)) if run.data.tags.get("stage") in ("target", "retrieval") else None
        if error is not None and run.data.tags.get("ray_trial_id") not in stopped_trial_ids:
            tracker.set_tags(run.info.run_id, {"asha_outcome": "failed", "error": f"{type(error).__name__}: {error}"[:5000]})
            tracker.finish(run.info.run_id, "FAILED")
        else:
            if "error" in run.data.tags:  # written by the trial while its stopped controller was torn down
                tracker.client.delete_tag(run.info.run_id, "error")
            tracker.set_tags(run.info.run_id, {"asha_outcome": "early_stopped"})
            tracker.finish(run.info.run_id, "KILLED")


def _raise_on_errors(results: tune.ResultGrid, phase: str) -> None:
    errors = [f"{result.config}: {result.error}" for result in results if result.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} {phase} trial(s) failed:\n" + "\n".join(errors))


def ensure_ray(config: SweepConfig, address: str | None = None) -> None:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), or start a local Ray, unless already connected.

    The job's runtime environment carries the Train worker-group start timeout to every Train
    controller (``RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S``). When Ray is already initialised by the
    caller, set that variable in its runtime environment yourself.
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    timeout = str(config.resources.worker_group_start_timeout_s)
    ray.init(address=address or "local", runtime_env={"env_vars": {WORKER_GROUP_START_TIMEOUT_ENV: timeout}})
