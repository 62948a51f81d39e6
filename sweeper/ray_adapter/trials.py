"""The Tune function trainables of a sweep's stages (intermediate, target, retrieval).

Each builds its trial's MLflow run (:class:`TrialRun`) and its Train job
(:class:`~sweeper.ray_adapter.job.StageJob`) once, then takes one path: :func:`run_trial` opens
(or continues) the run, does the work (train in a Ray Train ``TorchTrainer``, :func:`_fit`, or
replay the stage from the stage cache) and closes the run with its outcome, through the sweep's
tracking service (``tracking_service.py``).

Trial actors import this module: keep torch, transformers and MLflow out of its imports (see
``worker.py``); ``tests/test_architecture.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import ray
from ray import tune
from ray.train import CheckpointConfig, FailureConfig, ScalingConfig
from ray.train import RunConfig as TrainRunConfig

from sweeper.cache.locks import train_once
from sweeper.cache.outputs import read_evaluation, read_target_history
from sweeper.cache.store import CacheEntry
from sweeper.config import METRIC, NO_SELECTION, TARGET_DEV, TIME_ATTR, SweepConfig
from sweeper.models.cache import cache_root
from sweeper.ray_adapter.context import SweepContext
from sweeper.ray_adapter.evaluation_log import LogCommittedEvaluations
from sweeper.ray_adapter.job import Publication, StageJob
from sweeper.ray_adapter.outcomes import describe_error
from sweeper.ray_adapter.tracking_service import ServiceRunLog, service_name
from sweeper.ray_adapter.worker import stage_worker
from sweeper.registry import THRESHOLD_SPLIT, zero_shot_languages
from sweeper.storage import BEST_MODEL_DIR, storage_child
from sweeper.sweep.grid import TargetTrial, target_dev_languages
from sweeper.sweep.multitask import MultitaskStage
from sweeper.sweep.packing import worker_gpus
from sweeper.sweep.resources import TRIAL_ACTOR_CPUS
from sweeper.sweep.tasks import resolve_task
from sweeper.tracking.schema import Tag, metric_key
from sweeper.tracking.trial_logging import log_evaluation, log_retrieval, log_target_outcome

TRIAL_RESOURCES = {"cpu": TRIAL_ACTOR_CPUS}  # the trial actor only drives its TorchTrainer

#: A trial's work once its MLflow run exists: gets the run id, returns tags for the finished run.
TrialWork = Callable[[str], dict[str, str]]


@dataclass(frozen=True)
class TrialRun:
    """A trial's nested MLflow run: its name (``<stage>/<intermediate>-><target>``), the tags and
    params it is created with."""

    name: str
    tags: dict[str, object]
    params: dict[str, object] = field(default_factory=dict)

    def keyed(self, entry: CacheEntry) -> TrialRun:
        """This run tagged with the key of its stage in the stage cache (``stage_key``)."""
        return TrialRun(self.name, {**self.tags, Tag.STAGE_KEY: entry.key}, self.params)

    def train_name(self, trial_id: str) -> str:
        """The trial's Ray Train run (see :func:`train_run_name`)."""
        return train_run_name(self.name, trial_id)


def train_run_name(run_name: str, trial_id: str) -> str:
    """The Ray Train run of a trial (``<Ray storage>/train/<this>``): its MLflow run name with
    ``/`` replaced, and the trial id. A retried or restored trial finds its checkpoint under it."""
    return f"{run_name.replace('/', '-')}-{trial_id}"


def target_trial_dir(context: SweepContext, trial: TargetTrial, trial_id: str) -> Path:
    """The output folder of one target trial: ``<output>/trials/target/<cell>__<values>__<trial id>``."""
    return context.output_dir / "trials" / "target" / trial.folder_name(trial_id)


def _trial_id() -> str:
    return tune.get_context().get_trial_id()


def _scaling_config(config: SweepConfig, context: SweepContext) -> ScalingConfig:
    resources = config.resources
    per_worker = {"CPU": resources.cpus_per_worker}
    if resources.use_gpu:  # a fraction under trial packing (sweeper.sweep.packing)
        per_worker["GPU"] = worker_gpus(config, context.model_source, cache_root())
    return ScalingConfig(num_workers=resources.num_workers, use_gpu=resources.use_gpu, resources_per_worker=per_worker)


def _fit(context: SweepContext, job: StageJob, name: str) -> None:
    """Run ``job`` in the Ray Train run ``name`` on the trial's worker group (``resources``); each
    evaluation the workers report is logged to the trial's run and reported to Tune once its
    checkpoint is committed (:class:`LogCommittedEvaluations`). A finished run's resume checkpoint
    is deleted."""
    from ray.train.torch import TorchTrainer  # imports torch: only in the trial that trains

    scaling = _scaling_config(context.config, context)
    job = replace(
        job,
        gpu_fraction=scaling.resources_per_worker.get("GPU", 1.0),
        cpus_per_worker=scaling.resources_per_worker["CPU"],
    )
    trainer = TorchTrainer(
        stage_worker,
        train_loop_config={"job": job},
        scaling_config=scaling,
        run_config=TrainRunConfig(
            name=name,
            storage_path=storage_child(context.ray_storage, "train"),
            callbacks=[LogCommittedEvaluations(job.tracking_service, job.tracking_uri, job.run_id)],
            failure_config=FailureConfig(controller_failure_limit=context.config.resources.controller_failure_limit),
            checkpoint_config=CheckpointConfig(num_to_keep=1),  # only the latest: what a retry resumes from
        ),
    )
    result = trainer.fit()
    if result.checkpoint is not None:  # the trial is done: its resume checkpoint is not needed anymore
        result.checkpoint.filesystem.delete_dir(result.checkpoint.path)


def _train(context: SweepContext, job: StageJob, name: str) -> TrialWork:
    """The work of running ``job`` in the Ray Train run ``name`` (no extra tags)."""

    def work(run_id: str) -> dict[str, str]:
        _fit(context, job.for_run(run_id), name)
        return {}

    return work


def run_trial(context: SweepContext, run: TrialRun, work: TrialWork) -> None:
    """Open (or continue) the trial's nested MLflow run, do ``work``, and close the run with its
    outcome (tag ``asha_outcome``, and the tags ``work`` returns), all through the sweep's tracking
    service (:class:`~sweeper.ray_adapter.tracking_service.TrackingService`: no MLflow here).

    A failing trial closes its run as FAILED and re-raises (Tune records the error and retries it
    up to ``resources.max_failures`` times; each attempt continues the same run, tag ``attempts``).
    What a trial that grouped ASHA stopped raises while its Train controller is torn down is not
    a failure: its run is closed as early-stopped (:func:`sweeper.ray_adapter.outcomes.trial_outcome`);
    one whose actor is gone before it can close its run is closed by the driver after the experiment.
    A trial whose run already completed, or that grouped ASHA already stopped, only reports
    (:attr:`~sweeper.ray_adapter.tracking_service.OpenedRun.report`).
    """
    service = ray.get_actor(service_name(context.parent_run_id))
    trial_id = _trial_id()
    opened = ray.get(
        service.open.remote(
            context.experiment_id, context.parent_run_id, trial_id, run.name, run.tags, run.params, context.asha_state_path
        )
    )
    if opened.report is not None:
        tune.report(opened.report)
        return
    try:
        outcome = work(opened.run_id)
    except Exception as error:
        # Grouped ASHA's record decides: a trial it stopped is early-stopped whatever its teardown raised.
        failed = service.close_after_error.remote(
            opened.run_id, trial_id, context.asha_state_path, describe_error(error), opened.earlier_tags
        )
        if ray.get(failed):
            raise
        return
    ray.get(service.close.remote(opened.run_id, outcome, opened.earlier_tags))


def _run_log(context: SweepContext) -> ServiceRunLog:
    """What a trial logs replayed results through: the sweep's tracking service."""
    return ServiceRunLog(service_name(context.parent_run_id), context.tracking_uri)


def _job(context: SweepContext, **fields) -> StageJob:
    """A job with the sweep's shared inputs (model, data, tracking, feature cache) and ``fields``."""
    return StageJob(
        model_source=context.model_source,
        data_dir=context.data_dir,
        tracking_uri=context.tracking_uri,
        tracking_service=service_name(context.parent_run_id),
        feature_cache=context.feature_cache,
        **fields,
    )


def intermediate_trial(trial_config: dict, context: SweepContext) -> None:
    """Tune function trainable of phase 1: train one intermediate configuration (a task, or a
    ``multitask`` stage, whose members and sampling go to MLflow params and tags), unless another
    trial (of this sweep or another) finished it while this one waited for the stage's lock."""
    cached = context.stage(trial_config["intermediate_task"])
    stage = cached.stage
    tags = {
        Tag.STAGE: "intermediate",
        Tag.INTERMEDIATE_TASK: stage.name,
        Tag.STAGE_KEY: cached.key,
        Tag.LEARNING_RATE: stage.settings.learning_rate,
        Tag.SEED: stage.settings.seed,
    }
    params = {"stage": "intermediate", "task": stage.name, "model": context.config.model, "training": stage.settings.model_dump()}
    multitask = stage if isinstance(stage, MultitaskStage) else None
    if multitask is not None:
        tags |= {
            Tag.MULTITASK_MEMBERS: ",".join(member.name for member in multitask.members),
            Tag.MULTITASK_SAMPLING: multitask.sampling,
        }
        params["multitask"] = {
            "members": [member.name for member in multitask.members],
            "sampling": multitask.sampling,
            "temperature": multitask.temperature,
        }
    else:
        params["task_version"] = stage.task.version
    run = TrialRun(f"intermediate/{stage.name}", tags, params)
    job = _job(
        context,
        stage="intermediate",
        task=None if multitask else stage.task,
        settings=stage.settings,
        init_from=None,
        output_dir=context.output_dir / "trials" / "intermediate" / cached.path.name,
        encoder=Publication(cached.path, cached.record(**context.producer())),
        multitask=multitask,
    )
    train_once(cached, lambda: run_trial(context, run, _train(context, job, run.train_name(_trial_id()))))


def target_run(config: SweepConfig, trial: TargetTrial) -> TrialRun:
    """The nested MLflow run of target trial ``trial``: tags ``stage``, its cell, ``learning_rate``,
    ``seed``, the selection metric, policy and seeds and the zero-shot split; params: the cell,
    the task version, the model and every training setting used (``training.<setting>``)."""
    task = trial.task
    return TrialRun(
        trial.run_name,
        {
            Tag.STAGE: "target",
            Tag.INTERMEDIATE_TASK: trial.intermediate,
            Tag.TARGET_TASK: trial.target,
            Tag.LEARNING_RATE: trial.settings.learning_rate,
            Tag.SEED: trial.settings.seed,
            Tag.SELECTION_METRIC: task.metric,
            Tag.SELECTION_POLICY: config.selection.policy,
            Tag.SELECTION_SEEDS: config.selection.seeds,
            Tag.ZERO_SHOT_SPLIT: task.zero_shot.split,
        },
        {
            "stage": "target",
            "intermediate_task": trial.intermediate,
            "target_task": trial.target,
            "task_version": task.version,
            "model": config.model,
            "training": trial.settings.model_dump(),
        },
    )


def target_trial(trial_config: dict, context: SweepContext) -> None:
    """Tune function trainable of phase 2: one (intermediate, target, searched settings, seed) trial.

    The trial's searched settings and seed replace the stage's (:class:`~sweeper.sweep.grid.TargetTrial`);
    MLflow tags ``learning_rate`` and ``seed``, params ``training.<setting>`` record every value
    used; tags ``selection_policy`` and ``selection_seeds`` the sweep's ``selection``. Where the
    target has target-language dev data to score (``sweep.grid.target_dev_languages``), the trial
    also logs ``selection/target_dev`` (tag ``target_dev_split``).

    With ``storage.cache_target_stages``, the trial's target stage and zero-shot evaluation are
    looked up in the stage cache (tags ``stage_key``, ``target_stage`` ``trained``/``reused``,
    ``evaluation`` ``evaluated``/``reused``): a finished target stage is not trained again but
    replayed (:func:`_replay_target`); a trial of a stage another trial is training waits for it.
    """
    config = context.config
    trial = TargetTrial.of(config, trial_config)
    task = trial.task
    dev_languages = target_dev_languages(config, task, context.data_dir)
    run = target_run(config, trial)
    if dev_languages:
        run.tags[Tag.TARGET_DEV_SPLIT] = task.zero_shot.dev_split
    train_name = run.train_name(_trial_id())
    job = _job(
        context,
        stage="target",
        task=task,
        settings=trial.settings,
        init_from=context.init_from(trial.intermediate),
        output_dir=target_trial_dir(context, trial, _trial_id()),
        zero_shot=config.zero_shot,
        target_dev_languages=tuple(dev_languages),
    )
    if not context.cache.enabled:
        run_trial(context, run, _train(context, job, train_name))
        return
    stage = context.cache.target_stage(context.stage(trial.intermediate), trial.intermediate, task, trial.settings)
    evaluation = context.cache.zero_shot(
        stage, task, zero_shot_languages(task, config.zero_shot), config.zero_shot.max_examples_per_language, dev_languages
    )
    job = _published(context, job, target_stage=stage, evaluation=evaluation)

    def train_or_replay(run_id: str) -> dict[str, str]:
        if train_once(stage, lambda: _fit(context, job.for_run(run_id), train_name)):
            return {Tag.TARGET_STAGE: "trained", Tag.EVALUATION: "evaluated"}
        return {Tag.TARGET_STAGE: "reused", Tag.EVALUATION: _replay_target(context, run_id, stage, evaluation, job, train_name)}

    run_trial(context, run.keyed(stage), train_or_replay)


def _published(context: SweepContext, job: StageJob, **entries: CacheEntry) -> StageJob:
    """``job`` publishing its outputs into the stage cache ``entries`` (``target_stage``, ``evaluation``)."""
    return replace(job, **{name: Publication(entry.path, entry.record(**context.producer())) for name, entry in entries.items()})


def _replay_target(
    context: SweepContext, run_id: str, stage: CacheEntry, evaluation: CacheEntry, job: StageJob, train_name: str
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
    task = job.task
    tracker = _run_log(context)
    history, best_score = read_target_history(stage.path)
    logged = tracker.logged_steps(run_id, metric_key("target", task.task, "en", "dev", task.metric))
    for number, (step, metrics) in enumerate(history, start=1):
        if step not in logged:
            log_evaluation(tracker, run_id, "target", task.task, step, metrics)
        tune.report({TIME_ATTR: number, "step": step, METRIC: metrics[METRIC]})
    best_model = stage.path / BEST_MODEL_DIR
    if evaluation.complete:
        tune.report(
            log_target_outcome(tracker, run_id, task, best_score, read_evaluation(evaluation.path, task.task), best_model)
        )
        return "reused"
    _fit(context, job.evaluating(best_model, best_score).for_run(run_id), f"{train_name}-zero-shot")
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
    task = resolve_task(config, target)
    settings = config.stage_training("target", target)
    policy = TARGET_DEV if THRESHOLD_SPLIT in task.splits else NO_SELECTION
    run = TrialRun(
        f"retrieval/{intermediate}->{target}",
        {
            Tag.STAGE: "retrieval",
            Tag.INTERMEDIATE_TASK: intermediate,
            Tag.TARGET_TASK: target,
            Tag.SELECTION_METRIC: task.metric,
            Tag.SELECTION_POLICY: policy,
            Tag.ZERO_SHOT_SPLIT: task.zero_shot.split,
        },
        {
            "stage": "retrieval",
            "intermediate_task": intermediate,
            "target_task": target,
            "task_version": task.version,
            "model": config.model,
            "training": settings.model_dump(),
        },
    )
    if policy == TARGET_DEV:
        run.tags[Tag.TARGET_DEV_SPLIT] = THRESHOLD_SPLIT
    train_name = run.train_name(_trial_id())
    job = _job(
        context,
        stage="retrieval",
        task=task,
        settings=settings,
        init_from=context.init_from(intermediate),
        output_dir=context.output_dir / "trials" / "retrieval" / f"{intermediate}__{target}",
        zero_shot=config.zero_shot,
    )
    if not context.cache.enabled:
        run_trial(context, run, _train(context, job, train_name))
        return
    evaluation = context.cache.retrieval(
        context.stage(intermediate),
        intermediate,
        task,
        settings,
        zero_shot_languages(task, config.zero_shot),
        config.zero_shot.max_examples_per_language,
    )
    job = _published(context, job, evaluation=evaluation)

    def evaluate_or_reuse(run_id: str) -> dict[str, str]:
        if not evaluation.complete:
            _fit(context, job.for_run(run_id), train_name)
            return {Tag.EVALUATION: "evaluated"}
        tune.report(log_retrieval(_run_log(context), run_id, task, read_evaluation(evaluation.path, task.task)))
        return {Tag.EVALUATION: "reused"}

    run_trial(context, run.keyed(evaluation), evaluate_or_reuse)
