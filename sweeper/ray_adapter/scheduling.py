"""Grouped ASHA: asynchronous successive halving that only compares trials of one group.

Ray's ``ASHAScheduler`` compares every trial of an experiment at a rung, so a grid that mixes
target tasks would stop a PAN-X trial (F1) because an XNLI trial (accuracy) scored higher.
:class:`GroupedASHAScheduler` keeps one independent ASHA state per group (by default per
``target_task``) and routes each trial's results to its group (Li et al. 2020, arXiv 1810.05934,
stopping variant as implemented by Ray Tune's ``AsyncHyperBandScheduler``).

Ray saves no scheduler state with an experiment, so a restored experiment would prune from
scratch. Given a ``state_path``, the scheduler writes its state (rung records per group, the
group of every trial, the trials it stopped) to that JSON file after every decision and reads it
back on first use after ``Tuner.restore`` (``sweeper resume``), so it goes on deciding as the
uninterrupted run would have.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from sweeper.config import METRIC, TIME_ATTR, SchedulerConfig


class GroupedASHAScheduler(FIFOScheduler):
    """ASHA with a separate rung history per group of trials.

    Args:
        group_by: trial config keys whose values form the group (e.g. ``("target_task",)`` or
            ``("intermediate_task", "target_task")``).
        time_attr: the result field that measures progress (sweeper: ``evaluation``, the count
            of English-dev evaluations); ``grace_period`` and ``max_t`` are in its units.
        metric, mode: what is compared within a group.
        grace_period: r, the first rung; reduction_factor: η, the top 1/η continue at each rung.
        max_t: R, the last rung.

        state_path: JSON file the state is written to after each decision (write to a temporary
            file, then rename, so a crash leaves the previous state whole) and read from on the
            first call after construction or unpickling by ``Tuner.restore``; ``None``: nothing
            is persisted. A fresh sweep must remove a stale file first.

    Trials that reach ``max_t`` are not stopped by the scheduler (``stop_last_trials=False``):
    they finish by themselves and then run their zero-shot evaluation. A trial once stopped is
    stopped again if it reports after a restore (Tune's experiment snapshot can lag behind).
    """

    def __init__(
        self,
        group_by: Sequence[str],
        time_attr: str,
        metric: str,
        mode: str,
        grace_period: int,
        max_t: int,
        reduction_factor: float,
        state_path: Path | None = None,
    ):
        super().__init__()
        if not group_by:
            raise ValueError("group_by must name at least one trial config key, e.g. ('target_task',)")
        self._group_by = tuple(group_by)
        self._asha_kwargs = dict(
            time_attr=time_attr,
            metric=metric,
            mode=mode,
            grace_period=grace_period,
            max_t=max_t,
            reduction_factor=reduction_factor,
            brackets=1,
            stop_last_trials=False,
        )
        self._metric, self._mode = metric, mode
        self._groups: dict[tuple, AsyncHyperBandScheduler] = {}
        self._trial_groups: dict[str, tuple] = {}
        self._stopped: set[str] = set()
        self._state_path = Path(state_path) if state_path is not None else None
        self._state_loaded = False

    def _group_scheduler(self, group: tuple) -> AsyncHyperBandScheduler:
        if group not in self._groups:
            self._groups[group] = AsyncHyperBandScheduler(**self._asha_kwargs)
        return self._groups[group]

    def _load_state(self) -> None:
        """Read the state file once (after construction or a restore), if there is one."""
        if self._state_loaded:
            return
        self._state_loaded = True
        if self._state_path is None or not self._state_path.is_file():
            return
        state = json.loads(self._state_path.read_text(encoding="utf-8"))
        for saved in state["groups"]:
            (bracket,) = self._group_scheduler(tuple(saved["group"]))._brackets
            records = {milestone: recorded for milestone, recorded in saved["rungs"]}
            bracket._rungs = [(milestone, dict(records.get(milestone, {}))) for milestone, _ in bracket._rungs]
        self._trial_groups.update({trial_id: tuple(group) for trial_id, group in state["trial_groups"].items()})
        self._stopped.update(state["stopped"])

    def _save_state(self) -> None:
        if self._state_path is None:
            return
        state = {
            "groups": [
                {"group": list(group), "rungs": [[milestone, recorded] for milestone, recorded in history]}
                for group, history in self.rung_history().items()
            ],
            "trial_groups": {trial_id: list(group) for trial_id, group in self._trial_groups.items()},
            "stopped": sorted(self._stopped),
        }
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        staging = self._state_path.with_name(self._state_path.name + ".tmp")
        staging.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(staging, self._state_path)

    def group_of(self, config: dict) -> tuple:
        """The group key of a trial config.

        Raises:
            KeyError: the config lacks a ``group_by`` key.
        """
        missing = [key for key in self._group_by if key not in config]
        if missing:
            raise KeyError(f"trial config has no {missing} to group ASHA by; keys: {sorted(config)}")
        return tuple(config[key] for key in self._group_by)

    def _scheduler(self, trial: Trial) -> AsyncHyperBandScheduler:
        group = self._trial_groups[trial.trial_id]
        return self._groups[group]

    def set_search_properties(self, metric, mode, **spec) -> bool:
        # Metric and mode are fixed at construction; Tune may pass the same ones again.
        return (metric in (None, self._metric)) and (mode in (None, self._mode))

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        self._load_state()
        group = self.group_of(trial.config)
        self._trial_groups[trial.trial_id] = group
        self._group_scheduler(group).on_trial_add(tune_controller, trial)
        self._save_state()

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        self._load_state()
        if trial.trial_id in self._stopped:
            return TrialScheduler.STOP
        decision = self._scheduler(trial).on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP:
            self._stopped.add(trial.trial_id)
        self._save_state()
        return decision

    @property
    def stopped_trial_ids(self) -> frozenset[str]:
        """Ids of the trials this scheduler stopped early.

        Authoritative for the outcome of a trial: tearing down a stopped trial's Ray Train
        controller can surface as an error in Tune's results (``ActorDiedError``), which must not
        turn an early stop into a failure.
        """
        return frozenset(self._stopped)

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self._load_state()
        scheduler = self._scheduler(trial)
        if self._asha_kwargs["time_attr"] in result and self._metric in result:
            scheduler.on_trial_complete(tune_controller, trial, result)
        else:
            scheduler.on_trial_remove(tune_controller, trial)
        self._save_state()

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._load_state()
        self._scheduler(trial).on_trial_remove(tune_controller, trial)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self._load_state()
        self._scheduler(trial).on_trial_remove(tune_controller, trial)

    def rung_history(self) -> dict[tuple, list[tuple[int, dict[str, float]]]]:
        """Per group, each rung's milestone and the metric values recorded there (for reports/tests)."""
        return {
            group: [(milestone, dict(recorded)) for bracket in scheduler._brackets for milestone, recorded in bracket._rungs]
            for group, scheduler in self._groups.items()
        }

    def debug_string(self) -> str:
        lines = [f"GroupedASHA by {self._group_by}: {len(self._groups)} group(s)"]
        lines += [f"  {group}: {scheduler.debug_string()}" for group, scheduler in self._groups.items()]
        return "\n".join(lines)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))


def target_scheduler(settings: SchedulerConfig, state_path: Path | None = None) -> GroupedASHAScheduler | None:
    """The scheduler of a sweep's target phase with ``scheduler`` settings ``settings``: grouped ASHA
    on the English-dev ``score`` per evaluation, or ``None`` for ``type: fifo`` (Tune's default FIFO:
    no early stopping). ``state_path``: see :class:`GroupedASHAScheduler`."""
    if settings.type == "fifo":
        return None
    return GroupedASHAScheduler(
        group_by=settings.group_by,
        time_attr=TIME_ATTR,
        metric=METRIC,
        mode="max",
        grace_period=settings.grace_period,
        max_t=settings.max_t,
        reduction_factor=settings.reduction_factor,
        state_path=state_path,
    )


def saved_stopped_trial_ids(state_path: Path) -> frozenset[str]:
    """The trials a :class:`GroupedASHAScheduler` with ``state_path`` has stopped so far, read from
    its state file (empty when there is none). The driver reads this after a restored experiment,
    whose scheduler Tune unpickled, and a restored trial checks it before training again."""
    if not state_path.is_file():
        return frozenset()
    return frozenset(json.loads(state_path.read_text(encoding="utf-8"))["stopped"])
