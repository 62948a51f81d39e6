"""The stages and trials of a sweep: intermediate stages, the target grid, retrieval evaluations, trial settings (pure).

This module is imported by every Ray trial actor: it must not import torch/transformers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper.config import (
    NO_INTERMEDIATE,
    TARGET_DEV,
    Distribution,
    SweepConfig,
    TrainingConfig,
    stable_hash,
)
from sweeper.data.sources import split_files
from sweeper.registry import TaskSpec, is_retrieval, zero_shot_languages
from sweeper.sweep.multitask import MultitaskStage, multitask_stage
from sweeper.sweep.tasks import resolve_task


@dataclass(frozen=True)
class IntermediateStage:
    """One intermediate-task training, shared by every target trial that starts from it.

    ``key`` is a content hash of the stage's configuration: the model name, the task (spec and
    version) and the training settings (seed included). ``sweeper.cache`` adds the resolved
    model's and the data's fingerprints to it to locate the stage's encoder in the stage cache.
    """

    task: TaskSpec
    settings: TrainingConfig
    key: str

    @property
    def name(self) -> str:
        """The name in ``intermediate_tasks``: the task id."""
        return self.task.task


def intermediate_stages(config: SweepConfig) -> list[IntermediateStage | MultitaskStage]:
    """The intermediate stages of a sweep (none for the ``none`` baseline), in config order;
    names of ``multitask`` entries give a :class:`~sweeper.sweep.multitask.MultitaskStage`."""
    stages = []
    for task_id in config.intermediate_tasks:
        if task_id == NO_INTERMEDIATE:
            continue
        if task_id in config.multitask:
            stages.append(multitask_stage(config, task_id))
            continue
        task = resolve_task(config, task_id)
        settings = config.stage_training("intermediate", task_id)
        key = stable_hash({"model": config.model, "task": task.model_dump(), "settings": settings.model_dump()})
        stages.append(IntermediateStage(task=task, settings=settings, key=key))
    return stages


def target_dev_languages(config: SweepConfig, task: TaskSpec, data_dir: Path | None) -> list[str]:
    """The languages a trained target trial is scored in on its target-language dev split
    (``zero_shot.dev_split``; metric ``selection/target_dev`` is their mean), in task order.

    When the dev split is the zero-shot split itself (PAN-X, TyDiQA), every zero-shot language: the
    zero-shot scores are the dev scores, at no extra cost. Otherwise only under
    ``selection.policy: target_dev`` (an extra evaluation), in the zero-shot languages whose dev
    files exist ("where they exist": UD has no dev set for some treebanks); without ``data_dir``
    (Hub data) all of them. Empty when the task declares no ``dev_split``.
    """
    if task.zero_shot is None or task.zero_shot.dev_split is None or is_retrieval(task):
        return []
    languages = zero_shot_languages(task, config.zero_shot)
    if task.zero_shot.dev_split == task.zero_shot.split:
        return languages
    if config.selection.policy != TARGET_DEV:
        return []
    if data_dir is None:
        return languages
    return [
        language
        for language in languages
        if all(path.is_file() for path in split_files(task, task.zero_shot.dev_split, data_dir, language))
    ]


def trained_targets(config: SweepConfig) -> list[str]:
    """The target tasks that are fine-tuned (the target grid), in config order."""
    return [task for task in config.target_tasks if not is_retrieval(resolve_task(config, task))]


def retrieval_evaluations(config: SweepConfig) -> list[dict[str, str]]:
    """One evaluation per (intermediate task, retrieval target), ``none`` included, in config order.

    Retrieval targets have no training data, hence no learning-rate/seed grid and no ASHA: each
    intermediate encoder (or the pretrained model for ``none``) is evaluated once.
    """
    targets = [task for task in config.target_tasks if is_retrieval(resolve_task(config, task))]
    return [
        {"intermediate_task": intermediate, "target_task": target}
        for target in targets
        for intermediate in config.intermediate_tasks
    ]


#: The key of :func:`target_param_space` holding the (intermediate task, target task) cells.
CELL = "cell"


def target_cells(config: SweepConfig, kept: Mapping[str, Sequence[str]] | None = None) -> list[tuple[str, str]]:
    """The target phase's (intermediate task, trained target) cells: targets in ``target_tasks``
    order, each with the ``intermediate_tasks`` in order.

    Args:
        kept: trained target → the intermediate tasks it trains (``search.prune``'s decision,
            :func:`sweeper.results.ranking.kept_cells`); a target it does not name keeps every
            cell. ``None``: the whole intermediate × target grid.
    """
    kept = kept or {}
    return [
        (intermediate, target)
        for target in trained_targets(config)
        for intermediate in config.intermediate_tasks
        if intermediate in kept.get(target, config.intermediate_tasks)
    ]


def target_param_space(config: SweepConfig, kept: Mapping[str, Sequence[str]] | None = None) -> dict[str, list | Distribution]:
    """The target-stage search space: cells (:func:`target_cells`, pruned by ``kept``) × searched settings × seed.

    ``cell`` lists the (intermediate task, target task) pairs; the other values are plain lists
    (grid values, or choices under random/optuna search) or, for the searchable settings
    (``config.SEARCHABLE_SETTINGS``) under random/optuna search, a
    :class:`~sweeper.config.Distribution`. ``cell`` and ``seed`` are always grid dimensions.
    Settings the sweep does not search are absent (the stage's value is used). Retrieval targets
    are not in it (see :func:`retrieval_evaluations`); ``cell`` is empty when every target is a
    retrieval task. ``sweeper.ray_adapter.search`` turns it into Ray Tune's.
    """
    return {
        CELL: target_cells(config, kept),
        **{name: list(values) if isinstance(values, list) else values for name, values in config.param_space.searched().items()},
        "seed": list(config.param_space.seed),
    }


def trials_per_cell(config: SweepConfig) -> int:
    """How many target trials each (intermediate, trained target) cell runs.

    ``grid``: the product of the searched settings' list lengths × seeds; ``random`` / ``optuna``:
    ``search.num_samples`` configurations × seeds.
    """
    if config.search.algorithm != "grid":
        return config.search.num_samples * len(config.param_space.seed)
    return math.prod(len(values) for values in config.param_space.searched().values()) * len(config.param_space.seed)


def target_settings(config: SweepConfig, trial_config: Mapping[str, Any]) -> TrainingConfig:
    """The training settings of one target trial: the stage's (``target`` + the target task's
    ``training_overrides``) with the trial's searched settings and seed applied, validated.

    Raises:
        pydantic.ValidationError: a trial value the setting does not allow (the configuration's
            validation makes this impossible for values Tune draws from ``param_space``).
    """
    base = config.stage_training("target", trial_config["target_task"])
    values = {name: trial_config[name] for name in trial_setting_names(config)}
    return TrainingConfig.model_validate({**base.model_dump(), **values})


def grid_trial_configs(config: SweepConfig, kept: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]] | None:
    """Every target trial's config under ``grid`` search (cell × searched settings × seed, as
    Tune's grid expands :func:`target_param_space` with ``kept``), each with its
    ``intermediate_task`` and ``target_task``; ``None`` under ``random`` / ``optuna`` search,
    whose configurations are only known once sampled."""
    if config.search.algorithm != "grid":
        return None
    space = target_param_space(config, kept)
    names = [name for name in space if name != CELL]
    return [
        {"intermediate_task": intermediate, "target_task": target, **dict(zip(names, values, strict=True))}
        for intermediate, target in space[CELL]
        for values in itertools.product(*(space[name] for name in names))
    ]


def trial_setting_names(config: SweepConfig) -> list[str]:
    """The ``TrainingConfig`` fields a target trial's config sets: the searched settings and ``seed``."""
    return [*config.param_space.searched(), "seed"]


@dataclass(frozen=True)
class TargetTrial:
    """One target trial, derived once from its Tune config: its cell, its task (``task_overrides``
    applied) and its training settings (:func:`target_settings`).

    Attributes:
        intermediate: the intermediate task id or multi-task name (``none``: the pretrained model).
        target: the target task id.
        task: the target task's spec.
        settings: the stage's settings with the trial's searched values and seed applied.
        searched: ``(name, value)`` of the trial's searched settings and seed, in config order.
    """

    intermediate: str
    target: str
    task: TaskSpec
    settings: TrainingConfig
    searched: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, config: SweepConfig, trial_config: Mapping[str, Any]) -> TargetTrial:
        """The trial of Tune config ``trial_config`` (keys of :func:`target_param_space`)."""
        settings = target_settings(config, trial_config)
        searched = tuple((name, getattr(settings, name)) for name in trial_setting_names(config))
        intermediate, target = trial_config["intermediate_task"], trial_config["target_task"]
        return cls(intermediate, target, resolve_task(config, target), settings, searched)

    @property
    def run_name(self) -> str:
        """The MLflow run name: ``target/<intermediate>-><target>``."""
        return f"target/{self.intermediate}->{self.target}"

    def folder_name(self, trial_id: str) -> str:
        """``<intermediate>__<target>__<setting><value>...__<trial id>`` (the trial's output folder)."""
        values = "__".join(f"{name}{value:g}" for name, value in self.searched)
        return f"{self.intermediate}__{self.target}__{values}__{trial_id}"

    @property
    def key(self) -> tuple[str, ...]:
        """(intermediate, target, each searched value as logged in its ``training.<name>`` param)."""
        return (self.intermediate, self.target, *(str(value) for _, value in self.searched))
