"""Multi-task intermediate stages, planned and checked (pure: no torch, no Ray, no MLflow).

A ``multitask`` entry of the sweep configuration (:class:`~sweeper.config.MultitaskConfig`)
names an intermediate stage that trains several tasks on one shared encoder, one head per task
(jiant's multi-task training; Phang et al. 2020: multi-task on all nine intermediate tasks,
+8.7 on average). Each optimizer step trains one member, drawn by :func:`sampling_probabilities`
(:class:`TaskBatchSampler`). Members may be continued masked language modelling over
multilingual text (``mlm``) or a task trained on another split, e.g. machine-translated data
(``train_split: translate_train``). The result is an encoder like any intermediate stage's;
``sweeper.training.multitask`` trains it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweeper.config import MLM_MEMBER, MlmConfig, MultitaskConfig, SweepConfig, TrainingConfig, stable_hash
from sweeper.errors import ConfigError, MissingDataError
from sweeper.registry import EVALUATION_ONLY_TYPES, TRAIN_LANGUAGE, TaskSpec, all_tasks


def sampling_probabilities(sizes: list[int], sampling: str, temperature: float | None = None) -> list[float]:
    """The probability that a step trains each member (jiant ``ProportionalMultiTaskSampler``,
    ``UniformMultiTaskSampler``, ``TemperatureMultiTaskSampler``).

    Args:
        sizes: training examples of each member (N_i), all > 0.
        sampling: ``proportional`` (p_i = N_i / Σ N_j), ``uniform`` (p_i = 1/K) or
            ``temperature`` (p_i ∝ N_i^(1/T); T = 1 is proportional, T → ∞ uniform).
        temperature: T, for ``temperature`` only.

    Returns:
        One probability per member, summing to 1.

    Raises:
        ValueError: no members, a size ≤ 0, an unknown ``sampling``, or ``temperature`` missing
            or ≤ 0 for temperature sampling.
    """
    if not sizes or min(sizes) <= 0:
        raise ValueError(f"every member needs training examples, got sizes {sizes}")
    if sampling == "uniform":
        weights = [1.0] * len(sizes)
    elif sampling == "proportional":
        weights = [float(size) for size in sizes]
    elif sampling == "temperature":
        if temperature is None or temperature <= 0:
            raise ValueError(f"temperature sampling needs a temperature > 0, got {temperature}")
        weights = [float(size) ** (1.0 / temperature) for size in sizes]
    else:
        raise ValueError(f"unknown sampling {sampling!r}: proportional, uniform or temperature")
    total = sum(weights)
    return [weight / total for weight in weights]


class TaskBatchSampler:
    """A ``DataLoader`` batch sampler that draws one member per batch, then a batch of its features.

    Indices refer to the members' features concatenated in order. Each member's features are
    visited in a shuffled order, reshuffled when exhausted (a member smaller than a batch repeats
    features within it). One pass (``len(self)`` batches, ``ceil(Σ features / batch_size)``) is
    what the Trainer counts as an epoch; each epoch (:meth:`set_epoch`, called by the Trainer)
    draws anew, reproducibly from ``seed`` and the epoch.

    Raises:
        ValueError: ``sizes`` and ``probabilities`` differ in length, or a size or ``batch_size`` ≤ 0.
    """

    def __init__(self, sizes: list[int], probabilities: list[float], batch_size: int, seed: int):
        if len(sizes) != len(probabilities) or not sizes or min(sizes) <= 0 or batch_size <= 0:
            raise ValueError(
                f"need one probability per member, sizes > 0 and batch_size > 0; got {sizes}, {probabilities}, {batch_size}"
            )
        self._sizes = list(sizes)
        self._offsets = [sum(sizes[:index]) for index in range(len(sizes))]
        self._probabilities = np.asarray(probabilities, dtype=float)
        self.batch_size = batch_size  # read by accelerate's BatchSamplerShard (data-parallel workers)
        self.drop_last = False
        self._seed = seed
        self._epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of epoch ``epoch`` (0-based) on the next iteration."""
        self._epoch = epoch

    def __len__(self) -> int:
        return math.ceil(sum(self._sizes) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self._seed % 2**32, self._epoch])
        orders = [rng.permutation(size) for size in self._sizes]
        positions = [0] * len(self._sizes)
        for _ in range(len(self)):
            member = int(rng.choice(len(self._sizes), p=self._probabilities))
            batch = []
            while len(batch) < self.batch_size:
                if positions[member] == self._sizes[member]:
                    orders[member], positions[member] = rng.permutation(self._sizes[member]), 0
                take = min(self.batch_size - len(batch), self._sizes[member] - positions[member])
                batch.extend(int(i) for i in orders[member][positions[member] : positions[member] + take])
                positions[member] += take
            yield [self._offsets[member] + index for index in batch]


@dataclass(frozen=True)
class Member:
    """One member of a multi-task stage.

    Attributes:
        name: its head's and metrics' name (``MultitaskMember.member_name``, or ``mlm``).
        task: its resolved task spec (``task_overrides`` merged); ``None`` for ``mlm``.
        train_split: the split it trains on; dev is always the task's English ``dev``.
        languages: the languages of ``train_split`` it trains on (``{lang}`` of its files).
    """

    name: str
    task: TaskSpec | None
    train_split: str
    languages: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data, hashed into the stage key."""
        task = self.task.model_dump() if self.task else None
        return {"name": self.name, "task": task, "train_split": self.train_split, "languages": list(self.languages)}


@dataclass(frozen=True)
class MultitaskStage:
    """A multi-task intermediate stage: members, sampling, settings and its cache key.

    ``key`` hashes the model, every member (task spec, split, languages), the sampling, the MLM
    files and the training settings, so a change to any of them trains a new encoder.
    """

    name: str
    members: tuple[Member, ...]
    sampling: str
    temperature: float | None
    mlm: MlmConfig | None
    settings: TrainingConfig
    key: str


def multitask_stage(config: SweepConfig, name: str) -> MultitaskStage:
    """The stage of ``config.multitask[name]`` with its members' tasks resolved.

    Raises:
        UnknownTaskError: a member task is not registered (with did-you-mean).
        ConfigError: a ``task_overrides`` entry of a member is invalid.
    """
    from sweeper.sweep.tasks import resolve_task

    entry: MultitaskConfig = config.multitask[name]
    members = tuple(
        Member(MLM_MEMBER, None, "train", ())
        if member.task == MLM_MEMBER
        else Member(member.member_name, resolve_task(config, member.task), member.train_split, tuple(member.languages))
        for member in entry.tasks
    )
    settings = config.stage_training("intermediate", name)
    payload = {
        "model": config.model,
        "multitask": {
            "members": [member.to_dict() for member in members],
            "sampling": entry.sampling,
            "temperature": entry.temperature,
            "mlm": entry.mlm.model_dump() if entry.mlm else None,
        },
        "settings": settings.model_dump(),
    }
    return MultitaskStage(name, members, entry.sampling, entry.temperature, entry.mlm, settings, stable_hash(payload))


def mlm_path(pattern: str, data_dir: Path | None) -> Path:
    """An MLM text file: absolute, or relative to the data directory.

    Raises:
        ConfigError: a relative path without a data directory.
    """
    path = Path(pattern)
    if path.is_absolute():
        return path
    if data_dir is None:
        raise ConfigError(f"mlm file {pattern!r} is relative to the data directory: pass --data-dir (or SWEEPER_DATA_DIR)")
    return data_dir / path


def check_multitask_stage(stage: MultitaskStage, data_dir: Path | None) -> None:
    """Check a multi-task stage before anything starts.

    Raises:
        ConfigError: the stage's name is a registered task id; a member is an evaluation-only
            (retrieval) task, lacks its ``train_split``, or trains on languages other than English
            from files without ``{lang}``.
        MissingDataError: with ``data_dir``, a member's training files (each language), English
            dev files or label file, or an MLM file, is missing.
    """
    from sweeper.data.sources import check_labels_file, check_split_files, resolve_labels

    where = f"multitask.{stage.name}"
    if stage.name in all_tasks():
        raise ConfigError(f"{where}: {stage.name!r} is already a task id; name the multi-task stage differently")
    for member in stage.members:
        spec = member.task
        if spec is None:
            continue
        if spec.task_type in EVALUATION_ONLY_TYPES:
            raise ConfigError(f"{where}: {spec.task!r} is a {spec.task_type} task (evaluation only) and cannot be trained")
        if member.train_split not in spec.splits:
            raise ConfigError(
                f"{where}: task {spec.task!r} has no split {member.train_split!r} (train_split); it declares "
                f"{sorted(spec.splits)}. Declare it in the task file or in task_overrides.{spec.task}.splits"
            )
        if set(member.languages) != {TRAIN_LANGUAGE} and not all("{lang}" in f for f in spec.splits[member.train_split].files):
            raise ConfigError(
                f"{where}: {spec.task!r} split {member.train_split!r} has no {{lang}} in its files "
                f"{spec.splits[member.train_split].files}, so it cannot be read in languages {list(member.languages)}"
            )
        if data_dir is None:
            resolve_labels(spec, None)  # a label inventory kept in a local file (CCG) needs data_dir
        else:
            check_split_files(spec, member.train_split, data_dir, list(member.languages))
            check_split_files(spec, "dev", data_dir, [TRAIN_LANGUAGE])
            check_labels_file(spec, data_dir)
    if stage.mlm is not None:
        missing = [
            str(path)
            for path in (mlm_path(f, data_dir) for f in stage.mlm.train_files + stage.mlm.dev_files)
            if not path.is_file()
        ]
        if missing:
            raise MissingDataError(f"{where}.mlm: {len(missing)} text file(s) missing: {', '.join(missing)}")
