"""From a validated :class:`SweepConfig` to the stages and trials of a sweep (no Ray here).

Everything that can be wrong with a sweep is checked by :func:`validate_sweep` before any
trial starts or anything is written to MLflow: unknown tasks, tasks in a role their type cannot
play, unknown evaluation languages, missing data files.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper.config import (
    NO_INTERMEDIATE,
    Distribution,
    SweepConfig,
    TrainingConfig,
    ZeroShotConfig,
    stable_hash,
)
from sweeper.data.sources import check_hub_sources, check_labels_file, check_split_files, resolve_labels, split_files
from sweeper.errors import ConfigError, MissingDataError, SweeperError, SweepConfigWarning, UnknownTaskError, did_you_mean
from sweeper.models.learning_rates import configured_learning_rates, unstable_rate_warning
from sweeper.multitask import MultitaskStage, check_multitask_stage, multitask_stage
from sweeper.registry import EVALUATION_ONLY_TYPES, TRAIN_LANGUAGE, TaskSpec, all_tasks, get_task
from sweeper.selection import TARGET_DEV

# This module is imported by every Ray trial actor: it must not import torch/transformers
# (task types are imported inside validate_sweep, which only the driver runs).


def resolve_task(config: SweepConfig, task: str) -> TaskSpec:
    """The task's spec with the sweep's ``task_overrides`` merged in (top-level keys replaced)."""
    spec = get_task(task)
    overrides = config.task_overrides.get(task)
    if not overrides:
        return spec
    try:
        return TaskSpec.model_validate({**spec.model_dump(), **overrides})
    except ValueError as error:
        raise ConfigError(f"task_overrides.{task}: {error}") from error


#: Written last into a finished intermediate encoder folder (sweeper.stages.run_intermediate_stage).
ENCODER_MARKER = "encoder_complete.json"


def encoder_is_complete(encoder_dir: Path) -> bool:
    """Whether ``encoder_dir`` holds a finished intermediate encoder (a cache hit)."""
    return (encoder_dir / ENCODER_MARKER).is_file()


@dataclass(frozen=True)
class IntermediateStage:
    """One intermediate-task training, shared by every target trial that starts from it.

    ``key`` is a content hash of the stage's configuration: the model name, the task (spec and
    version) and the training settings (seed included). ``sweeper.stage_cache`` adds the resolved
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
    names of ``multitask`` entries give a :class:`~sweeper.multitask.MultitaskStage`."""
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


def zero_shot_languages(task: TaskSpec, zero_shot: ZeroShotConfig) -> list[str]:
    """The languages a target is evaluated in: the task's, restricted to ``zero_shot.languages``.

    Raises:
        ConfigError: the task declares no zero-shot evaluation (it cannot be a target).
    """
    if task.zero_shot is None:
        raise ConfigError(f"task {task.task!r} declares no zero_shot languages, so it cannot be a target task")
    if zero_shot.languages is None:
        return list(task.zero_shot.languages)
    return [language for language in task.zero_shot.languages if language in zero_shot.languages]


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
        language for language in languages
        if all(path.is_file() for path in split_files(task, task.zero_shot.dev_split, data_dir, language))
    ]


def _trained_targets_without_dev_split(config: SweepConfig, targets: list[TaskSpec]) -> None:
    """Policy ``target_dev`` needs every trained target to declare a target-language dev split.

    Raises:
        ConfigError: a trained target has no ``zero_shot.dev_split`` (XQuAD).
    """
    if config.selection.policy != TARGET_DEV:
        return
    without = [spec.task for spec in targets if not is_retrieval(spec) and spec.zero_shot.dev_split is None]
    if without:
        raise ConfigError(
            f"selection.policy target_dev: target(s) {', '.join(without)} have no dev set in the target languages "
            "(no zero_shot.dev_split in the task file; XQuAD is test-only). Use selection.policy=english_dev, "
            "or leave these targets out"
        )


def _check_target_dev_data(config: SweepConfig, targets: list[TaskSpec], data_dir: Path | None) -> None:
    """Policy ``target_dev`` needs target-language dev data for every trained target.

    Raises:
        MissingDataError: a trained target has no dev file in any of its zero-shot languages.
    """
    if config.selection.policy != TARGET_DEV:
        return
    for spec in targets:
        if not is_retrieval(spec) and spec.zero_shot.dev_split is not None and not target_dev_languages(config, spec, data_dir):
            dev = spec.zero_shot.dev_split
            raise MissingDataError(
                f"selection.policy target_dev: task {spec.task!r} has no {dev!r} file in any of the languages "
                f"{zero_shot_languages(spec, config.zero_shot)} under {data_dir} (pattern "
                f"{', '.join(spec.splits[dev].files)}). Add the dev files, restrict zero_shot.languages, or use "
                "selection.policy=english_dev"
            )


def validate_sweep(config: SweepConfig, data_dir: Path | None) -> None:
    """Check the whole sweep before anything starts (what ``sweeper run`` needs).

    Raises:
        UnknownTaskError / ConfigError: see :func:`check_tasks`.
        ConfigError: ``data_dir`` is not a folder; without ``data_dir``, a split the sweep reads
            has no Hub source (BUCC) or a task keeps its labels in a local ``labels_file`` (CCG).
        MissingDataError: with ``data_dir``, any file the sweep would read is missing (data files and
            label inventories such as CCG's ``labels_file``).
    """
    check_tasks(config)
    problems = data_problems(config, data_dir)
    if problems:
        raise problems[0]


def check_tasks(config: SweepConfig) -> None:
    """Check the sweep's tasks and languages (no data is looked at; what ``sweeper plan`` needs).

    Raises:
        UnknownTaskError: a task id is not registered (with did-you-mean).
        ConfigError: a retrieval task as intermediate/target-trained task, a target without
            zero-shot languages, an unknown ``zero_shot.languages`` entry, duplicate tasks.
        UnknownTaskError: a member of a ``multitask`` stage is not registered.
        ConfigError: ``selection.policy: target_dev`` with a trained target that declares no
            target-language dev split (``zero_shot.dev_split``).

    Warns:
        SweepConfigWarning: the model is known to diverge at a configured learning rate
            (:mod:`sweeper.models.learning_rates`: XLM-R Large at >= 1e-4).
    """
    from sweeper.task_types import get_task_type

    for field, tasks in (("intermediate_tasks", config.intermediate_tasks), ("target_tasks", config.target_tasks)):
        if len(set(tasks)) != len(tasks):
            raise ConfigError(f"{field} lists a task twice: {tasks}")
    single = [task for task in config.intermediate_tasks if task != NO_INTERMEDIATE and task not in config.multitask]
    unknown = [task for task in single if task not in all_tasks()]
    if unknown:  # suggest the sweep's multi-task stage names too
        raise UnknownTaskError(unknown[0], [*all_tasks(), *config.multitask])
    specs = [resolve_task(config, task) for task in single]
    for name in config.intermediate_tasks:
        if name in config.multitask:
            multitask_stage(config, name)  # resolves the members: unknown ones fail here
    for spec in specs:
        if not get_task_type(spec.task_type).trainable:
            raise ConfigError(f"intermediate task {spec.task!r} is a {spec.task_type} task and cannot be trained")
    targets = [resolve_task(config, task) for task in config.target_tasks]
    for spec in targets:
        if spec.zero_shot is None:
            raise ConfigError(f"target task {spec.task!r} has no zero_shot languages; it can only be an intermediate task")
        if config.zero_shot.languages is not None and not zero_shot_languages(spec, config.zero_shot):
            raise ConfigError(
                f"zero_shot.languages {config.zero_shot.languages} selects none of {spec.task!r}'s languages "
                f"{spec.zero_shot.languages}"
            )
    _trained_targets_without_dev_split(config, targets)
    known_languages = {language for spec in targets for language in spec.zero_shot.languages}
    for language in config.zero_shot.languages or []:
        if language not in known_languages:
            raise ConfigError(
                f"zero_shot.languages: {language!r} is not an evaluation language of any target."
                f"{did_you_mean(language, known_languages)} Use ISO 639-1 codes, e.g. de, zh."
            )
    warning = unstable_rate_warning(config.model, configured_learning_rates(config))
    if warning:  # valid, but likely wasted trials: a warning, not an error
        warnings.warn(warning, SweepConfigWarning, stacklevel=2)


def splits_read(config: SweepConfig) -> list[tuple[TaskSpec, str, list[str]]]:
    """Every (task, split, languages) a sweep reads: English ``train`` and ``dev`` of each
    intermediate and trained target task; each target's zero-shot split in its evaluation
    languages; a mining task's threshold split (BUCC dev)."""
    specs = [
        resolve_task(config, task) for task in config.intermediate_tasks if task != NO_INTERMEDIATE and task not in config.multitask
    ]
    targets = [resolve_task(config, task) for task in config.target_tasks]
    read = [(spec, split, [TRAIN_LANGUAGE]) for spec in specs + targets if not is_retrieval(spec) for split in ("train", "dev")]
    for spec in targets:
        languages = zero_shot_languages(spec, config.zero_shot)
        read.append((spec, spec.zero_shot.split, languages))
        if is_retrieval(spec) and THRESHOLD_SPLIT in spec.splits:
            read.append((spec, THRESHOLD_SPLIT, languages))
    return read


def data_problems(config: SweepConfig, data_dir: Path | None) -> list[SweeperError]:
    """What keeps the sweep from reading its data, one error per split or label inventory (empty:
    nothing). ``sweeper run`` refuses the first; ``sweeper plan`` lists them all as what ``run``
    will need.

    With ``data_dir``: missing files (:class:`MissingDataError`, naming paths and layout). Without:
    splits with no Hub source and tasks whose labels are kept in a local ``labels_file``
    (:class:`ConfigError`, saying to pass ``--data-dir``). Also: a ``multitask`` stage's members
    and files (:func:`sweeper.multitask.check_multitask_stage`), and under
    ``selection.policy: target_dev`` a trained target none of whose languages has its dev files
    (:class:`MissingDataError`).
    """
    if data_dir is not None and not data_dir.is_dir():
        return [ConfigError(f"data directory {data_dir} does not exist (--data-dir / SWEEPER_DATA_DIR)")]
    problems: list[SweeperError] = []
    read = splits_read(config)
    for spec in {spec.task: spec for spec, _, _ in read}.values():
        try:
            if data_dir is None:
                resolve_labels(spec, None)  # a label inventory kept in a local file (CCG) needs data_dir
            else:
                check_labels_file(spec, data_dir)
        except SweeperError as error:
            problems.append(error)
    for spec, split, languages in read:
        try:
            if data_dir is None:
                check_hub_sources(spec, split)
            else:
                check_split_files(spec, split, data_dir, languages)
        except SweeperError as error:
            problems.append(error)
    checks = [lambda name=name: check_multitask_stage(multitask_stage(config, name), data_dir)
              for name in config.intermediate_tasks if name in config.multitask]
    checks.append(lambda: _check_target_dev_data(config, [resolve_task(config, task) for task in config.target_tasks], data_dir))
    for check in checks:
        try:
            check()
        except SweeperError as error:
            problems.append(error)
    return problems


#: The split whose gold tunes a retrieval task's mining threshold (BUCC: XTREME's dev = the BUCC
#: sample set); a retrieval task that declares it besides its zero-shot split is a mining task.
THRESHOLD_SPLIT = "dev"


def is_retrieval(task: TaskSpec) -> bool:
    """Whether ``task`` is evaluated on the encoder directly (BUCC, Tatoeba): no target training."""
    return task.task_type in EVALUATION_ONLY_TYPES


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


def target_param_space(config: SweepConfig) -> dict[str, list | Distribution]:
    """The target-stage search space: intermediate × trained target × searched settings × seed.

    Values are plain lists (grid values, or choices under random/optuna search) or, for the
    searchable settings (``config.SEARCHABLE_SETTINGS``) under random/optuna search, a
    :class:`~sweeper.config.Distribution`. ``intermediate_task``, ``target_task`` and ``seed`` are
    always grid dimensions. Settings the sweep does not search are absent (the stage's value is
    used). Retrieval targets are not in it (see :func:`retrieval_evaluations`); ``target_task``
    is empty when every target is a retrieval task. ``sweeper.search`` turns it into Ray Tune's.
    """
    return {
        "intermediate_task": list(config.intermediate_tasks),
        "target_task": trained_targets(config),
        **{name: list(values) if isinstance(values, list) else values
           for name, values in config.param_space.searched().items()},
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


def grid_trial_configs(config: SweepConfig) -> list[dict[str, Any]] | None:
    """Every target trial's config under ``grid`` search (intermediate × target × searched
    settings × seed, as Tune's grid expands :func:`target_param_space`); ``None`` under
    ``random`` / ``optuna`` search, whose configurations are only known once sampled."""
    if config.search.algorithm != "grid":
        return None
    space = target_param_space(config)
    names = list(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(space[name] for name in names))]


def trial_setting_names(config: SweepConfig) -> list[str]:
    """The ``TrainingConfig`` fields a target trial's config sets: the searched settings and ``seed``."""
    return [*config.param_space.searched(), "seed"]
