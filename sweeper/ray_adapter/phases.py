"""Ray adapter: runs a sweep's stages as Ray Tune trials, each training in a Ray Train
``TorchTrainer`` (the Train V2 pattern: a Tune function trainable that builds the trainer and
calls ``fit()``; worker reports reach MLflow and Tune once their checkpoints are committed, through
``evaluation_log.LogCommittedEvaluations``).

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

from collections.abc import Mapping, Sequence

from ray import tune

from sweeper.cache.store import stage_cache_root
from sweeper.config import METRIC, SweepConfig
from sweeper.errors import SweepFailedError
from sweeper.ray_adapter.cluster import pending_trials_limit
from sweeper.ray_adapter.context import SweepContext
from sweeper.ray_adapter.outcomes import reconcile_trial_runs
from sweeper.ray_adapter.progress_callback import ProgressCallback
from sweeper.ray_adapter.scheduling import GroupedASHAScheduler, saved_stopped_trial_ids, target_scheduler
from sweeper.ray_adapter.search import tune_search
from sweeper.ray_adapter.tracking_service import tracking_service_running
from sweeper.ray_adapter.trials import (
    TRIAL_RESOURCES,
    intermediate_trial,
    retrieval_trial,
    target_trial,
    target_trial_dir,
    train_run_name,
)
from sweeper.ray_adapter.tune_state import set_aside_damaged_state
from sweeper.storage import full_folder, human_bytes, remove_checkpoints, remove_storage_folder, storage_child
from sweeper.sweep.grid import CELL, TargetTrial, retrieval_evaluations, target_param_space, trial_setting_names, trials_per_cell
from sweeper.tracking.runs import Tracker
from sweeper.tracking.schema import Tag


class _RemoveStoppedCheckpoints(tune.Callback):
    """Deletes the checkpoints of a target trial as soon as ASHA has stopped it (the trial dies
    mid-training, so its own clean-up never runs); :func:`run_target_phase` sweeps again at the
    end for files its Train workers wrote while being torn down."""

    def __init__(self, context: SweepContext, scheduler: GroupedASHAScheduler):
        self._context = context
        self._scheduler = scheduler

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        if trial.trial_id in self._scheduler.stopped_trial_ids:
            target = TargetTrial.of(self._context.config, trial.config)
            remove_checkpoints(target_trial_dir(self._context, target, trial.trial_id))


def _trainable(trainable, context: SweepContext):
    return tune.with_resources(tune.with_parameters(trainable, context=context), TRIAL_RESOURCES)


def tuner(trainable, context: SweepContext, param_space: dict, name: str, scheduler, search=None, callbacks=()) -> tune.Tuner:
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
            name=name,
            storage_path=context.ray_storage,
            verbose=0,  # the progress view replaces Tune's table
            callbacks=[
                ProgressCallback(
                    name,
                    context.config.scheduler.max_t if scheduler is not None else None,
                    state_path=context.asha_state_path if scheduler is not None else None,
                ),
                *callbacks,
            ],
            failure_config=tune.FailureConfig(max_failures=context.config.resources.max_failures),
        ),
    )


def restored_or_new_tuner(path: str, trainable, param_space: dict, new_tuner, resume: bool) -> tune.Tuner:
    """The Tuner of the experiment saved under ``path``: restored when ``resume`` and Tune saved it
    there (unfinished and errored trials go on, finished ones are kept), else ``new_tuner()``.

    A restored Tuner keeps the scheduler, search algorithm and run config it was created with;
    ``trainable`` and ``param_space`` (the space ``new_tuner`` searches) are given again. Tune saves
    no search space with an experiment: without it, the ``tune.sample_from`` entries of trials
    created after the restore (the tasks of a trial's ``cell``) stay Tune's unresolved
    ``("__fn_ph", hash)`` placeholders. Saved state files a full disk left unreadable are set
    aside first (:func:`sweeper.ray_adapter.tune_state.set_aside_damaged_state`).
    """
    if resume:
        set_aside_damaged_state(path)
    if resume and tune.Tuner.can_restore(path):
        return tune.Tuner.restore(path, trainable, param_space=param_space, resume_unfinished=True, resume_errored=True)
    return new_tuner()


def _fit(trainable, context: SweepContext, name: str, param_space: dict, new_tuner, resume: bool, trials: int) -> tune.ResultGrid:
    """Run experiment ``name`` of ``trials`` trials under ``<Ray storage>/<name>``
    (:func:`restored_or_new_tuner`), with the sweep's tracking service running (the trials open,
    log to and close their MLflow runs through it). Tune requests resources for every trial that
    may run at once (``cluster.pending_trials_limit``)."""
    path = storage_child(context.ray_storage, name)
    experiment = restored_or_new_tuner(path, _trainable(trainable, context), param_space, new_tuner, resume)
    with (
        tracking_service_running(context.tracking_uri, context.parent_run_id),
        pending_trials_limit(trials, context.config.resources.max_concurrent_trials),
    ):
        try:
            return experiment.fit()
        except Exception as error:
            _raise_if_disk_full(context, name, error)
            raise


def _raise_if_disk_full(context: SweepContext, phase: str, error: Exception) -> None:
    """Raises:
    SweepFailedError: the Ray storage, output folder or stage cache of the sweep is on a full
        disk (:func:`sweeper.storage.full_folder`), the likely cause of ``error``."""
    full = full_folder([context.ray_storage, context.output_dir, stage_cache_root(context.config)])
    if full is None:
        return
    folder, free = full
    cause = " ".join(f"{type(error).__name__}: {error}".split())[:300]
    raise SweepFailedError(
        f"the {phase} phase stopped on a full disk: {folder} has {human_bytes(free)} free ({cause}). Free space there "
        f"(or set storage.storage_path / --output elsewhere), then `sweeper resume {context.output_dir}`; Tune's "
        "experiment state written on a full disk can be incomplete: if resume cannot go on, `sweeper run` the sweep "
        "again into a new output folder, which reuses every finished stage from the stage cache"
    ) from error


def run_intermediate_phase(context: SweepContext, resume: bool = False) -> dict[str, str]:
    """Train every intermediate configuration whose encoder is not in the stage cache yet.

    Args:
        resume: restore the interrupted ``intermediate`` experiment if there is one.

    Returns:
        task id → ``"trained"`` (by this sweep) or ``"cached"`` (found finished, or finished by
        a concurrent sweep while this one waited for it).

    Raises:
        SweepFailedError: a trial failed after its retries (the message lists the failing tasks and
            errors); the target trials that start from its encoder could not run.
    """
    pending = [stage.task for stage in context.stages if not stage.complete]
    if pending:
        space = {"intermediate_task": tune.grid_search(pending)}
        results = _fit(
            intermediate_trial,
            context,
            "intermediate",
            space,
            lambda: tuner(intermediate_trial, context, space, "intermediate", None),
            resume,
            len(pending),
        )
        _raise_on_errors(results, "intermediate")
    return {
        stage.task: "trained" if stage.marker().get("parent_run_id") == context.parent_run_id else "cached"
        for stage in context.stages
    }


def run_target_phase(
    context: SweepContext, resume: bool = False, kept: Mapping[str, Sequence[str]] | None = None
) -> tune.ResultGrid | None:
    """Evaluate the retrieval targets, then run the trained targets' search (``search.algorithm``)
    under grouped ASHA and close the MLflow runs of stopped trials.

    Args:
        resume: restore the interrupted ``retrieval`` and ``target`` experiments where Tune saved
            them; grouped ASHA then reloads its state from :data:`ASHA_STATE_FILE`. Otherwise a
            stale state file of an earlier sweep in the folder is removed first.
        kept: ``search.prune``'s decision (trained target → the intermediate tasks it trains,
            :func:`sweeper.results.ranking.kept_cells`): the search covers only those cells
            (:func:`sweeper.sweep.grid.target_param_space`). A restored experiment keeps the
            space it was created with.

    Returns:
        The target search's results, or ``None`` when every target is a retrieval task.
    """
    evaluations = retrieval_evaluations(context.config)
    if evaluations:
        intermediates = sorted({item["intermediate_task"] for item in evaluations})
        targets = sorted({item["target_task"] for item in evaluations})
        space = {"intermediate_task": tune.grid_search(intermediates), "target_task": tune.grid_search(targets)}
        _close_stopped_runs(
            context,
            _fit(
                retrieval_trial,
                context,
                "retrieval",
                space,
                lambda: tuner(retrieval_trial, context, space, "retrieval", None),
                resume,
                len(evaluations),
            ),
        )
    param_space = target_param_space(context.config, kept)
    if not param_space[CELL]:
        return None

    search = tune_search(context.config, param_space, METRIC)

    def new_tuner() -> tune.Tuner:
        context.asha_state_path.unlink(missing_ok=True)  # left by an earlier sweep in this folder
        scheduler = target_scheduler(context.config.scheduler, context.asha_state_path)
        callbacks = [_RemoveStoppedCheckpoints(context, scheduler)] if scheduler else []
        return tuner(target_trial, context, search.param_space, "target", scheduler, search, callbacks)

    trials = len(param_space[CELL]) * trials_per_cell(context.config)
    results = _fit(target_trial, context, "target", search.param_space, new_tuner, resume, trials)
    stopped = saved_stopped_trial_ids(context.asha_state_path)
    for result in results:
        trial_id = result.metrics.get("trial_id")
        if trial_id in stopped:
            trial = TargetTrial.of(context.config, result.config)
            remove_checkpoints(target_trial_dir(context, trial, trial_id))
            remove_storage_folder(storage_child(context.ray_storage, f"train/{train_run_name(trial.run_name, trial_id)}"))
    _close_stopped_runs(context, results, stopped)
    return results


def _result_key(config: SweepConfig, trial_config: dict) -> tuple:
    """A trial's (intermediate, target, settings as logged in ``training.<name>`` params)."""
    if "seed" not in trial_config:  # a retrieval evaluation: one per (intermediate, target)
        return (trial_config["intermediate_task"], trial_config["target_task"])
    return TargetTrial.of(config, trial_config).key


def _run_key(config: SweepConfig, run) -> tuple:
    """The :func:`_result_key` of a target or retrieval trial's MLflow run."""
    cell = (run.data.tags[Tag.INTERMEDIATE_TASK], run.data.tags[Tag.TARGET_TASK])
    if run.data.tags[Tag.STAGE] == "retrieval":
        return cell
    return cell + tuple(run.data.params[f"training.{name}"] for name in trial_setting_names(config))


def _close_stopped_runs(context: SweepContext, results: tune.ResultGrid, stopped_trial_ids: frozenset[str] = frozenset()) -> None:
    """Make every target / retrieval run's outcome agree with grouped ASHA's record (authoritative).

    A trial ASHA stopped (its id in ``stopped_trial_ids``) is marked ``KILLED`` with
    ``asha_outcome=early_stopped`` whether its run is still ``RUNNING`` (its actor was ended before
    it could close it) or was closed ``FAILED`` (an error raised while its Train controller was
    torn down); any ``error`` tag is removed. Any other run left ``RUNNING`` is marked ``FAILED``
    with the error in ``results`` (e.g. its process was killed for memory), or, when Tune reports
    none, as having ended without closing its run. The decision is
    :func:`sweeper.ray_adapter.outcomes.trial_outcome`.
    """
    config = context.config
    errors = {_result_key(config, result.config): result.error for result in results if result.error is not None}
    reconcile_trial_runs(
        Tracker(context.tracking_uri),
        context.experiment_id,
        context.parent_run_id,
        stopped_trial_ids,
        lambda run: errors.get(_run_key(config, run)),
    )


def _raise_on_errors(results: tune.ResultGrid, phase: str) -> None:
    """Raises:
    SweepFailedError: some trial of ``phase`` failed after its retries (each named with its error)."""
    errors = [f"{result.config}: {result.error}" for result in results if result.error is not None]
    if errors:
        raise SweepFailedError(
            f"{len(errors)} {phase} trial(s) failed after their retries: " + "; ".join(errors) + ". Fix the cause and "
            "start again (`sweeper resume OUTPUT` for a sweep): finished stages are in the stage cache, so only the "
            "failed ones train again"
        )
