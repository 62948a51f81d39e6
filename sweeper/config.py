"""Sweep configuration: ``search_spaces/*.yaml`` plus ``key=value`` overrides → :class:`SweepConfig`.

Validated once, here, at the boundary; everything downstream receives typed, frozen objects.
Hyperparameters use Hugging Face ``TrainingArguments`` names, scheduling uses Ray Tune names.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from sweeper.errors import ConfigError, did_you_mean
from sweeper.metrics.xtreme import TASK_GROUPS

NO_INTERMEDIATE = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingConfig(_Strict):
    """Hyperparameters of one training stage (HF ``TrainingArguments`` names).

    Defaults follow the jiant recipe of Phang et al. 2020 (xtreme_reference.md §4).
    ``eval_steps`` is in optimizer steps; ``max_*_examples`` subsample for CPU budgets
    (``None``: all).
    """

    learning_rate: PositiveFloat = 1e-5
    per_device_train_batch_size: PositiveInt = 4
    per_device_eval_batch_size: PositiveInt = 64
    gradient_accumulation_steps: PositiveInt = 1
    num_train_epochs: PositiveFloat = 3
    max_steps: PositiveInt | None = None
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: NonNegativeFloat = 0.01
    max_grad_norm: PositiveFloat = 1.0
    adam_epsilon: PositiveFloat = 1e-8
    max_seq_length: PositiveInt = 256
    doc_stride: PositiveInt = 128
    max_query_length: PositiveInt = 64
    eval_steps: PositiveInt = 1000
    max_train_examples: PositiveInt | None = None
    max_dev_examples: PositiveInt | None = 500
    freeze_word_embeddings: bool = False
    seed: int = 1


class ParamSpace(_Strict):
    """The grid searched for every (intermediate task, target task) cell of the target stage."""

    learning_rate: list[PositiveFloat] = Field(min_length=1)
    seed: list[int] = Field(default=[1], min_length=1)


class SchedulerConfig(_Strict):
    """ASHA early stopping (Li et al. 2020), one independent instance per ``group_by`` cell.

    ``time_attr`` counts English-dev evaluations of a target trial (one every ``eval_steps``);
    ``grace_period`` and ``max_t`` are in those units. ``group_by`` keys are trial config keys:
    trials in different groups are never compared.
    """

    type: Literal["asha", "fifo"] = "asha"
    time_attr: Literal["evaluation"] = "evaluation"
    grace_period: PositiveInt = 1
    max_t: PositiveInt = 100
    reduction_factor: float = Field(4, gt=1)
    group_by: list[Literal["target_task", "intermediate_task"]] = ["target_task"]

    @model_validator(mode="after")
    def _grace_within_max(self) -> "SchedulerConfig":
        if self.grace_period > self.max_t:
            raise ValueError(f"grace_period ({self.grace_period}) must be <= max_t ({self.max_t})")
        if "target_task" not in self.group_by:
            raise ValueError("group_by must include 'target_task': ASHA must never compare different targets")
        return self


class ZeroShotConfig(_Strict):
    """Zero-shot evaluation budget: a language subset and/or examples per language (``None``: all)."""

    languages: list[str] | None = None
    max_examples_per_language: PositiveInt | None = None


class ResourcesConfig(_Strict):
    """Ray resources per trial: ``num_workers`` data-parallel Ray Train workers, each with
    ``cpus_per_worker`` and ``gpus_per_worker``. At least one worker: Train V2 refuses
    ``ray.train.report`` from worker-less training inside a Tune trial."""

    num_workers: PositiveInt = 1
    use_gpu: bool = False
    cpus_per_worker: PositiveFloat = 1
    gpus_per_worker: NonNegativeFloat = 0
    max_concurrent_trials: PositiveInt = 2
    controller_failure_limit: NonNegativeInt = 1
    #: how long a trial's Train worker group may wait for resources (seconds); Ray's 60 s default
    #: fails trials that start while a trial stopped by ASHA still releases its workers.
    worker_group_start_timeout_s: PositiveFloat = 600


class TrackingConfig(_Strict):
    """MLflow: ``tracking_uri`` ``None`` means ``sqlite:///<output>/mlflow.db``."""

    tracking_uri: str | None = None
    experiment_name: str | None = None


def _unknown_benchmark(benchmark: str) -> str | None:
    """The error message for a benchmark name :data:`sweeper.metrics.xtreme.TASK_GROUPS` lacks."""
    if benchmark in TASK_GROUPS:
        return None
    return f"unknown benchmark {benchmark!r}.{did_you_mean(benchmark, TASK_GROUPS)} Known: {', '.join(TASK_GROUPS)}"


def check_benchmark(benchmark: str) -> str:
    """Return ``benchmark`` if it is ``xtreme`` or ``xtreme_r`` (e.g. ``sweeper report --benchmark``).

    Raises:
        ConfigError: any other name (with a did-you-mean).
    """
    message = _unknown_benchmark(benchmark)
    if message:
        raise ConfigError(message)
    return benchmark


class ReportConfig(_Strict):
    """The report's benchmark aggregate after the per-target tables.

    ``benchmark``: ``xtreme`` (Hu et al. 2020: 9 tasks, 4 categories) or ``xtreme_r`` (Ruder et
    al. 2021: 10 tasks), the task list and categories of ``sweeper.metrics.xtreme.TASK_GROUPS``.
    """

    benchmark: str = "xtreme"

    @field_validator("benchmark")
    @classmethod
    def _known_benchmark(cls, benchmark: str) -> str:
        message = _unknown_benchmark(benchmark)
        if message:
            raise ValueError(message)
        return benchmark


class SweepConfig(_Strict):
    """A whole sweep: model, intermediate × target grid, search space, scheduler, resources.

    ``training_overrides`` maps a task id to ``TrainingConfig`` fields that replace the stage
    defaults whenever that task is trained (e.g. the paper's per-target epochs and lengths).
    ``task_overrides`` maps a task id to fields merged into its task file (e.g. other files).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model: str
    intermediate_tasks: list[str] = Field(min_length=1)
    target_tasks: list[str] = Field(min_length=1)
    intermediate: TrainingConfig = TrainingConfig()
    target: TrainingConfig = TrainingConfig(per_device_train_batch_size=32)
    param_space: ParamSpace
    scheduler: SchedulerConfig = SchedulerConfig()
    zero_shot: ZeroShotConfig = ZeroShotConfig()
    resources: ResourcesConfig = ResourcesConfig()
    tracking: TrackingConfig = TrackingConfig()
    report: ReportConfig = ReportConfig()
    training_overrides: dict[str, dict[str, Any]] = {}
    task_overrides: dict[str, dict[str, Any]] = {}

    def stage_training(self, stage: Literal["intermediate", "target"], task: str) -> TrainingConfig:
        """The training settings of ``task`` in ``stage``: stage defaults + the task's overrides."""
        base = self.intermediate if stage == "intermediate" else self.target
        overrides = self.training_overrides.get(task, {})
        return TrainingConfig.model_validate({**base.model_dump(), **overrides})

    @model_validator(mode="after")
    def _check_overrides(self) -> "SweepConfig":
        for task, fields in self.training_overrides.items():
            unknown = set(fields) - set(TrainingConfig.model_fields)
            if unknown:
                name = sorted(unknown)[0]
                raise ValueError(
                    f"training_overrides.{task}.{name} is not a training setting."
                    f"{did_you_mean(name, TrainingConfig.model_fields)}"
                )
            TrainingConfig.model_validate({**self.target.model_dump(), **fields})
        return self


def stable_hash(payload: Any, length: int = 12) -> str:
    """A short content hash of a JSON-serialisable payload (sorted keys), for cache keys."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a raw config mapping (values parsed as YAML).

    Raises:
        ConfigError: an override lacks ``=`` or descends into a non-mapping value.
    """
    result = json.loads(json.dumps(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. target.learning_rate=2e-5")
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(text)
    return result


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = [f"invalid sweep configuration {source}:"]
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            parent_fields = _fields_at(problem["loc"][:-1])
            message = f"unknown key.{did_you_mean(str(problem['loc'][-1]), parent_fields)}"
        value = f" (got {problem['input']!r})" if problem["type"] != "missing" and "input" in problem else ""
        lines.append(f"  - {location}: {message}{value}")
    return "\n".join(lines)


def _fields_at(location: tuple) -> list[str]:
    model: type[BaseModel] = SweepConfig
    for part in location:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def load_config(path: Path, overrides: list[str] = ()) -> SweepConfig:
    """Read a sweep YAML, apply overrides and validate.

    Raises:
        ConfigError: file missing, YAML malformed, unknown keys (with did-you-mean), wrong types
            or values (e.g. a non-positive ``learning_rate``), each naming the field.
    """
    if not path.is_file():
        raise ConfigError(f"sweep configuration {path} does not exist (see search_spaces/ for examples)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(raw).__name__}")
    raw = apply_overrides(raw, list(overrides))
    try:
        return SweepConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(str(path), error)) from error
