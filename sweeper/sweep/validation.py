"""Everything that can be wrong with a sweep, checked before any trial starts or anything is written (pure).

Unknown tasks, tasks in a role their type cannot play, unknown evaluation languages, missing data
files: :func:`validate_sweep` is what ``sweeper run`` checks, :func:`check_tasks` and
:func:`data_problems` what ``sweeper plan`` shows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from sweeper.config import (
    NO_INTERMEDIATE,
    TARGET_DEV,
    SweepConfig,
)
from sweeper.data.sources import check_hub_sources, check_labels_file, check_split_files, resolve_labels
from sweeper.errors import ConfigError, MissingDataError, SweepConfigWarning, SweeperError, UnknownTaskError, did_you_mean
from sweeper.models.learning_rates import configured_learning_rates, unstable_rate_warning
from sweeper.registry import THRESHOLD_SPLIT, TRAIN_LANGUAGE, TaskSpec, all_tasks, is_retrieval, zero_shot_languages
from sweeper.sweep.data_checks import content_problems
from sweeper.sweep.grid import target_dev_languages
from sweeper.sweep.multitask import check_multitask_stage, multitask_stage
from sweeper.sweep.tasks import resolve_task


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
        ConfigError: a ``training_overrides`` / ``task_overrides`` key is no registered task or
            ``multitask`` stage (with did-you-mean).
        ConfigError: a retrieval task as intermediate/target-trained task, a target without
            zero-shot languages, an unknown ``zero_shot.languages`` entry, duplicate tasks.
        UnknownTaskError: a member of a ``multitask`` stage is not registered.
        ConfigError: ``selection.policy: target_dev`` with a trained target that declares no
            target-language dev split (``zero_shot.dev_split``).

    Warns:
        SweepConfigWarning: the model is known to diverge at a configured learning rate
            (:mod:`sweeper.models.learning_rates`: XLM-R Large at >= 1e-4).
    """
    for field, tasks in (("intermediate_tasks", config.intermediate_tasks), ("target_tasks", config.target_tasks)):
        if len(set(tasks)) != len(tasks):
            raise ConfigError(f"{field} lists a task twice: {tasks}")
    for field in ("training_overrides", "task_overrides"):
        for task in getattr(config, field):
            if task not in all_tasks() and task not in config.multitask:
                error = UnknownTaskError(task, [*all_tasks(), *config.multitask])
                raise ConfigError(f"{field}.{task}: {error}")
    single = [task for task in config.intermediate_tasks if task != NO_INTERMEDIATE and task not in config.multitask]
    unknown = [task for task in single if task not in all_tasks()]
    if unknown:  # suggest the sweep's multi-task stage names too
        raise UnknownTaskError(unknown[0], [*all_tasks(), *config.multitask])
    specs = [resolve_task(config, task) for task in single]
    for name in config.intermediate_tasks:
        if name in config.multitask:
            multitask_stage(config, name)  # resolves the members: unknown ones fail here
    for spec in specs:
        if is_retrieval(spec):  # evaluation-only task types (the registry's vocabulary; no task-type code imported)
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
        resolve_task(config, task)
        for task in config.intermediate_tasks
        if task != NO_INTERMEDIATE and task not in config.multitask
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

    With ``data_dir``: missing files (:class:`MissingDataError`, naming paths and layout), then, when
    none is missing, corrupt, empty or unlabelled ones (:class:`DataFormatError` with file and line,
    :func:`sweeper.sweep.data_checks.content_problems`). Without:
    splits with no Hub source and tasks whose labels are kept in a local ``labels_file``
    (:class:`ConfigError`, saying to pass ``--data-dir``). Also: a ``multitask`` stage's members
    and files (:func:`sweeper.sweep.multitask.check_multitask_stage`), and under
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
    if data_dir is not None and not problems:  # every file is there: open and parse them
        problems += content_problems(config, data_dir, read)
    checks = [
        lambda name=name: check_multitask_stage(multitask_stage(config, name), data_dir)
        for name in config.intermediate_tasks
        if name in config.multitask
    ]
    checks.append(lambda: _check_target_dev_data(config, [resolve_task(config, task) for task in config.target_tasks], data_dir))
    for check in checks:
        try:
            check()
        except SweeperError as error:
            problems.append(error)
    return problems
