"""Sweep configuration: ``search_spaces/*.yaml`` plus ``key=value`` overrides → :class:`SweepConfig`.

Validated once, here, at the boundary; everything downstream receives typed, frozen objects.
Hyperparameters use Hugging Face ``TrainingArguments`` names, scheduling uses Ray Tune names.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
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


#: The target-stage settings a search space may vary, each with the Python type of its values.
SEARCHABLE_SETTINGS: dict[str, type] = {
    "learning_rate": float,
    "per_device_train_batch_size": int,
    "num_train_epochs": float,
    "warmup_ratio": float,
}
#: Distributions a searchable setting may be drawn from under ``search.algorithm`` random/optuna.
DISTRIBUTIONS = ("loguniform", "uniform", "randint")


def _setting_type(name: str) -> Any:
    """The type of one value of ``TrainingConfig.<name>`` with its constraints (e.g. ``> 0``)."""
    field = TrainingConfig.model_fields[name]
    return Annotated[(field.annotation, *field.metadata)]


class Distribution(_Strict):
    """A distribution a hyperparameter is sampled from (Ray Tune's ``loguniform``, ``uniform``,
    ``randint``), written ``{loguniform: [low, high]}`` in a search space.

    ``low < high``; both bounds are valid values of the setting. ``randint`` bounds are integers
    and both inclusive (``{randint: [16, 32]}`` can draw 32), unlike ``tune.randint``'s exclusive
    upper bound; ``loguniform`` needs ``low > 0``.
    """

    kind: Literal["loguniform", "uniform", "randint"]
    low: float | int
    high: float | int

    @model_serializer
    def _as_written(self) -> dict[str, list[float | int]]:
        return {self.kind: [self.low, self.high]}


def parse_distribution(name: str, raw: dict) -> Distribution:
    """``{kind: [low, high]}`` for setting ``name`` → :class:`Distribution`.

    Numbers YAML reads as strings (``1e-5`` without a dot) are converted the way the rest of the
    configuration converts them (pydantic's lax mode); non-numeric strings are rejected.

    Raises:
        ValueError: not exactly one known distribution, bounds not two numbers, ``randint``
            bounds not integers, a float distribution for an integer setting, bounds reversed or
            equal, ``loguniform`` with ``low <= 0``, a bound the setting does not allow.
    """
    written = "write {loguniform: [low, high]}, {uniform: [low, high]} or {randint: [low, high]}"
    if len(raw) != 1:
        raise ValueError(f"a distribution has exactly one key: {written}, not {raw!r}")
    kind, bounds = next(iter(raw.items()))
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {kind!r}.{did_you_mean(str(kind), DISTRIBUTIONS)} Known: {', '.join(DISTRIBUTIONS)}")
    if SEARCHABLE_SETTINGS[name] is int and kind != "randint":
        raise ValueError(f"{name} is an integer setting: use a list or {{randint: [low, high]}}, not {kind}")
    if not (isinstance(bounds, list) and len(bounds) == 2):
        raise ValueError(f"{kind} takes two bounds [low, high], not {bounds!r}")
    adapter = TypeAdapter(int if kind == "randint" else float)
    setting = TypeAdapter(_setting_type(name))
    checked = []
    for which, bound in zip(("low", "high"), bounds):
        try:
            checked.append(setting.validate_python(adapter.validate_python(bound)))
        except ValidationError as error:
            kind_of = "an integer" if kind == "randint" else "a number"
            raise ValueError(
                f"{kind} {which} bound {bound!r} is not {kind_of} {name} allows: {error.errors()[0]['msg']}"
                " (write floats with a dot, e.g. 1.0e-5)"
            ) from None
    low, high = checked
    if low >= high:
        raise ValueError(f"{kind} bounds must be [low, high] with low < high, got [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"loguniform needs low > 0, got {low}")
    return Distribution(kind=kind, low=low, high=high)


class SearchConfig(_Strict):
    """How the target stage searches ``param_space`` within every (intermediate, target) cell.

    ``grid`` (default): every combination of the listed values. ``random``: ``num_samples``
    configurations drawn by Ray Tune (lists are uniform choices, distributions sampled).
    ``optuna``: ``num_samples`` configurations proposed per cell by Optuna's TPE sampler (Ray
    Tune's ``OptunaSearch``), maximising English dev ``score`` (0–100). Under every algorithm each
    configuration runs once per ``param_space.seed`` (seeds are repeats, never searched), so a cell
    has ``num_samples × len(seed)`` trials. ``seed`` seeds the search itself (``None``: random).
    """

    algorithm: Literal["grid", "random", "optuna"] = "grid"
    num_samples: PositiveInt = 1
    seed: int | None = None


class ParamSpace(_Strict):
    """The values searched for every (intermediate task, target task) cell of the target stage.

    Each searchable setting (:data:`SEARCHABLE_SETTINGS`) is a non-empty list (grid values, or
    choices under random/optuna search) or a :class:`Distribution` (random/optuna only); an
    omitted setting keeps the stage's value (``target`` + ``training_overrides``). ``seed`` is
    always a list: the repeats of every configuration.
    """

    learning_rate: list[float] | Distribution
    per_device_train_batch_size: list[int] | Distribution | None = None
    num_train_epochs: list[float] | Distribution | None = None
    warmup_ratio: list[float] | Distribution | None = None
    seed: list[int] = Field(default=[1], min_length=1)

    @field_validator(*SEARCHABLE_SETTINGS, mode="wrap")
    @classmethod
    def _values_or_distribution(cls, value: Any, handler, info: ValidationInfo) -> list | Distribution | None:
        if value is None or isinstance(value, Distribution):
            return value
        if isinstance(value, dict):
            return parse_distribution(info.field_name, value)
        # validated here rather than by the union annotation, so errors name the item: learning_rate.1
        return TypeAdapter(Annotated[list[_setting_type(info.field_name)], Field(min_length=1)]).validate_python(value)

    @field_validator("seed", mode="before")
    @classmethod
    def _seeds_are_listed(cls, value: Any) -> Any:
        if isinstance(value, dict):  # pydantic reports ValueError (not TypeError) with the field's location
            raise ValueError(  # noqa: TRY004
                "seeds are repeats of every configuration, never sampled: list them, e.g. [1, 2, 3]"
            )
        return value

    def searched(self) -> dict[str, list | Distribution]:
        """The configured searchable settings (omitted ones excluded), in declaration order."""
        return {name: getattr(self, name) for name in SEARCHABLE_SETTINGS if getattr(self, name) is not None}


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
    def _grace_within_max(self) -> SchedulerConfig:
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
    #: Tune retries of a failed trial (Tune ``FailureConfig(max_failures)``); each retry resumes
    #: training from the trial's last checkpoint. 0: a failed trial stays failed.
    max_failures: NonNegativeInt = 1
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
    search: SearchConfig = SearchConfig()
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
