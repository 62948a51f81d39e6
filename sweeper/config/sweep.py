"""The whole sweep configuration (:class:`SweepConfig`), validated once at the boundary."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from sweeper.config.base import _Strict
from sweeper.config.multitask import MultitaskConfig
from sweeper.config.names import MLM_MEMBER, NO_INTERMEDIATE
from sweeper.config.search import Distribution, ParamSpace, SchedulerConfig, SearchConfig
from sweeper.config.sections import ReportConfig, ResourcesConfig, SelectionConfig, StorageConfig, TrackingConfig, ZeroShotConfig
from sweeper.config.training import TrainingConfig
from sweeper.errors import did_you_mean


class SweepConfig(_Strict):
    """A whole sweep: model, intermediate × target grid, search space, scheduler, resources.

    ``training_overrides`` maps a task id to ``TrainingConfig`` fields that replace the stage
    defaults whenever that task is trained (e.g. the paper's per-target epochs and lengths).
    ``task_overrides`` maps a task id to fields merged into its task file (e.g. other files).
    ``multitask`` maps a name, usable in ``intermediate_tasks``, to a multi-task stage.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model: str
    intermediate_tasks: list[str] = Field(min_length=1)
    target_tasks: list[str] = Field(min_length=1)
    intermediate: TrainingConfig = TrainingConfig()
    target: TrainingConfig = TrainingConfig(per_device_train_batch_size=32)
    param_space: ParamSpace
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    zero_shot: ZeroShotConfig = ZeroShotConfig()
    resources: ResourcesConfig = ResourcesConfig()
    tracking: TrackingConfig = TrackingConfig()
    report: ReportConfig = ReportConfig()
    selection: SelectionConfig = SelectionConfig()
    storage: StorageConfig = StorageConfig()
    training_overrides: dict[str, dict[str, Any]] = {}
    task_overrides: dict[str, dict[str, Any]] = {}
    multitask: dict[str, MultitaskConfig] = {}

    def stage_training(self, stage: Literal["intermediate", "target"], task: str) -> TrainingConfig:
        """The training settings of ``task`` in ``stage``: stage defaults + the task's overrides."""
        base = self.intermediate if stage == "intermediate" else self.target
        overrides = self.training_overrides.get(task, {})
        return TrainingConfig.model_validate({**base.model_dump(), **overrides})

    @model_validator(mode="after")
    def _check_overrides(self) -> SweepConfig:
        for task, fields in self.training_overrides.items():
            unknown = set(fields) - set(TrainingConfig.model_fields)
            if unknown:
                name = min(unknown)
                raise ValueError(
                    f"training_overrides.{task}.{name} is not a training setting."
                    f"{did_you_mean(name, TrainingConfig.model_fields)}"
                )
            TrainingConfig.model_validate({**self.target.model_dump(), **fields})
        return self

    @model_validator(mode="after")
    def _check_precision(self) -> SweepConfig:
        if self.resources.use_gpu:
            return self
        stages = {"intermediate": self.intermediate.mixed_precision, "target": self.target.mixed_precision}
        stages |= {
            f"training_overrides.{task}": fields["mixed_precision"]
            for task, fields in self.training_overrides.items()
            if "mixed_precision" in fields
        }
        for where, precision in stages.items():
            if precision in ("bf16", "fp16"):
                raise ValueError(
                    f"{where}.mixed_precision is {precision}, which needs GPUs, but resources.use_gpu is false: "
                    "set resources.use_gpu: true or mixed_precision: auto"
                )
        return self

    @model_validator(mode="after")
    def _check_multitask_names(self) -> SweepConfig:
        for name, entry in self.multitask.items():
            if name in (NO_INTERMEDIATE, MLM_MEMBER) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
                raise ValueError(
                    f"multitask.{name}: a stage name is letters, digits, _ and - (it names the encoder folder), "
                    f"and not {NO_INTERMEDIATE!r} or {MLM_MEMBER!r}"
                )
            nested = [member.task for member in entry.tasks if member.task in self.multitask]
            if nested:
                raise ValueError(f"multitask.{name} lists the multi-task stage {nested[0]!r}: list its tasks instead")
        return self

    @model_validator(mode="after")
    def _check_prune(self) -> SweepConfig:
        prune = self.search.prune
        ranked = [task for task in self.intermediate_tasks if task != NO_INTERMEDIATE]
        if prune is not None and prune.keep >= len(ranked):
            raise ValueError(
                f"search.prune.keep ({prune.keep}) keeps all {len(ranked)} intermediate task(s) other than none, "
                f"so nothing would be pruned: set keep below {len(ranked)}, or remove search.prune"
            )
        return self

    @model_validator(mode="after")
    def _check_search(self) -> SweepConfig:
        if self.search.algorithm != "grid":
            return self
        sampled = [name for name, values in self.param_space.searched().items() if isinstance(values, Distribution)]
        if sampled:
            raise ValueError(
                f"param_space.{sampled[0]} is a distribution, which search.algorithm grid cannot enumerate: "
                "list the values, or set search.algorithm to random or optuna"
            )
        if self.search.num_samples != 1:
            raise ValueError(
                f"search.num_samples ({self.search.num_samples}) needs search.algorithm random or optuna; "
                "a grid runs every combination once per param_space.seed"
            )
        return self
