"""Sweep configuration: ``search_spaces/*.yaml`` plus ``key=value`` overrides → :class:`SweepConfig`.

Validated once, here, at the boundary; everything downstream receives typed, frozen objects.
Hyperparameters use Hugging Face ``TrainingArguments`` names, scheduling uses Ray Tune names.
"""

from __future__ import annotations

import hashlib
import json
import re
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
    (``None``: all). ``mixed_precision``: ``auto`` trains in bf16 on a GPU that supports it,
    fp16 (with loss scaling) on an older GPU and fp32 on the CPU; ``bf16`` / ``fp16`` / ``no``
    force one (see :func:`sweeper.training.precision_arguments`).
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
    mixed_precision: Literal["auto", "bf16", "fp16", "no"] = "auto"
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
    """MLflow: ``tracking_uri`` ``None`` means ``sqlite:///<output>/mlflow.db``; an ``http(s)://``
    server must answer before a sweep starts (``sweeper.tracking.check_tracking_uri``)."""

    tracking_uri: str | None = None
    experiment_name: str | None = None


#: URI schemes ``storage.storage_path`` accepts besides a local folder: Ray Tune writes there
#: through pyarrow's file systems (``s3://bucket/prefix?region=...``, ``gs://bucket/prefix``).
REMOTE_STORAGE_SCHEMES = ("s3", "gs")


def check_storage_path(value: str) -> str:
    """Return ``value`` if it is a local folder or an ``s3://`` / ``gs://`` URI naming a bucket.

    Raises:
        ValueError: another scheme (``http://``, ``hdfs://``...), or a remote URI without a bucket.
    """
    scheme, separator, rest = value.partition("://")
    if not separator:
        return value  # a local folder
    if scheme not in REMOTE_STORAGE_SCHEMES:
        raise ValueError(
            f"{value!r}: unsupported scheme {scheme!r}; use a local folder, s3://bucket/prefix or gs://bucket/prefix"
        )
    if not rest.split("/", 1)[0].split("?", 1)[0]:
        raise ValueError(f"{value!r} names no bucket; write {scheme}://bucket/prefix")
    return value


class StorageConfig(_Strict):
    """Where a sweep keeps what it writes besides MLflow.

    ``stage_cache_dir``: the content-addressed cache of finished stages (intermediate encoders,
    target models, evaluations), shared by every sweep that points at it, so a second sweep
    reuses the first's stages
    (``sweeper.stage_cache``). ``None``: ``$SWEEPER_CACHE_DIR/stages`` or
    ``~/.cache/sweeper/stages``. A local or network (NFS) folder, never a URI: trials load the
    encoders with ``from_pretrained`` and lock stages with OS file locks. On a multi-node cluster
    it must be a folder every node mounts.

    ``cache_target_stages``: also cache target stages (each completed target trial's best model
    and English-dev evaluations), their zero-shot evaluations and the retrieval evaluations, so
    a later sweep with the same trial replays it instead of training it again. Each cached
    target model is a second copy of the trial's MLflow ``best_checkpoint`` artifact: set
    ``false`` to keep only the MLflow one (target trials then always train).

    ``storage_path``: Ray Tune's and Ray Train's experiment storage (``RunConfig(storage_path)``):
    a local folder or ``s3://bucket/prefix`` / ``gs://bucket/prefix`` (pyarrow file systems;
    query parameters such as ``?region=...&endpoint_override=...`` are passed on). ``None``:
    ``<output>/ray``. On more than one node it must be shared storage.

    ``shared_filesystem``: the local paths of the sweep (output folder, stage cache, a folder
    ``storage_path``) are mounted at the same path on every node of the cluster. Needed only where
    sweeper cannot see it: a sweep on a multi-node cluster is refused when one of them is not
    under an NFS, SMB or FUSE mount (``sweeper.shared_state``).
    """

    stage_cache_dir: str | None = None
    cache_target_stages: bool = True
    storage_path: str | None = None
    shared_filesystem: bool = False

    @field_validator("stage_cache_dir")
    @classmethod
    def _local_folder(cls, value: str | None) -> str | None:
        if value is not None and "://" in value:
            raise ValueError(
                f"{value!r}: the stage cache must be a local or network-mounted folder (encoders are loaded "
                "with from_pretrained and locked with OS file locks), not a URI"
            )
        return value

    @field_validator("storage_path")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        return None if value is None else check_storage_path(value)


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


#: The member of a multi-task stage that is continued masked language modelling, not a task id.
MLM_MEMBER = "mlm"


class MultitaskMember(_Strict):
    """One task of a multi-task stage; written as a task id (``mnli``) or as this mapping.

    ``train_split`` and ``languages`` choose its training data: the task's ``train_split`` in
    each of ``languages`` (``{lang}`` filled in its files), e.g. ``{task: squad_v1, train_split:
    translate_train, languages: [de, es]}`` for machine-translated SQuAD. Selection is always on
    the task's English ``dev``. ``name`` names its head and its metrics (default: ``task``); two
    members of the same task need different names.
    """

    task: str
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    train_split: str = "train"
    languages: list[str] = Field(["en"], min_length=1)

    @property
    def member_name(self) -> str:
        """The head's and the metrics' name: ``name`` or the task id."""
        return self.name or self.task


class MlmConfig(_Strict):
    """Continued masked language modelling as a member of a multi-task stage (Phang et al. 2020's
    alternative): plain text, one sentence per line, in any language.

    Files are relative to the data directory (``--data-dir``) or absolute. ``dev_files`` are
    scored by masked-token accuracy (0–100) with a fixed masking. ``mlm_probability``: the share
    of tokens masked (BERT/XLM-R: 0.15; HF ``DataCollatorForLanguageModeling``).
    """

    train_files: list[str] = Field(min_length=1)
    dev_files: list[str] = Field(min_length=1)
    mlm_probability: float = Field(0.15, gt=0, lt=1)


class MultitaskConfig(_Strict):
    """A named intermediate stage that trains several tasks on one shared encoder, one head each.

    Each optimizer step trains one member, drawn with probability (jiant's multi-task samplers,
    xtreme_reference.md §4) ``proportional`` to its number of training examples (default),
    ``uniform``, or ``temperature``: p_i ∝ N_i^(1/temperature). ``mlm`` in ``tasks`` is continued
    masked language modelling over the text files of the ``mlm`` section. The name of the entry
    is used in ``intermediate_tasks`` like a task id; its settings are ``intermediate`` plus
    ``training_overrides.<name>``.
    """

    tasks: list[MultitaskMember] = Field(min_length=1)
    sampling: Literal["proportional", "uniform", "temperature"] = "proportional"
    temperature: PositiveFloat | None = None
    mlm: MlmConfig | None = None

    @field_validator("tasks", mode="before")
    @classmethod
    def _ids_or_mappings(cls, tasks: Any) -> Any:
        if isinstance(tasks, list):
            return [{"task": task} if isinstance(task, str) else task for task in tasks]
        return tasks

    @model_validator(mode="after")
    def _consistent(self) -> MultitaskConfig:
        if (self.sampling == "temperature") != (self.temperature is not None):
            raise ValueError(
                "temperature sampling needs `temperature` (p_i ∝ N_i^(1/T), e.g. 2.0), and `temperature` "
                f"needs `sampling: temperature`; got sampling {self.sampling!r}, temperature {self.temperature}"
            )
        names = [member.member_name for member in self.tasks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"tasks lists {repeated} twice: give one of them another `name` (its head and metrics)")
        mlm = [member for member in self.tasks if member.task == MLM_MEMBER]
        if mlm and self.mlm is None:
            raise ValueError("tasks lists `mlm`: add an `mlm` section with its train_files and dev_files")
        if self.mlm is not None and not mlm:
            raise ValueError("an `mlm` section is given but `mlm` is not in tasks")
        if mlm and (mlm[0].name or mlm[0].train_split != "train" or mlm[0].languages != ["en"]):
            raise ValueError("the `mlm` member takes no name, train_split or languages: its text files are in the `mlm` section")
        return self
class SelectionConfig(_Strict):
    """How the best intermediate task per trained target is chosen (``sweeper.selection``).

    ``policy``: ``english_dev`` (default; Phang et al. 2020: the English dev set of the target's
    training task) or ``target_dev`` (the mean over the target languages' dev sets, where the task
    declares them: ``zero_shot.dev_split`` in its task file; PAN-X and TyDiQA are scored on dev,
    so there it is the evaluation set itself). Retrieval targets keep their own policy (BUCC:
    ``target_dev``, Tatoeba: none). ``seeds``: ``best`` (default: the single best trial over
    settings and seeds) or ``mean`` (configurations, i.e. trials equal but for the seed, ranked by
    their mean score over seeds; the report shows mean ± standard deviation).
    """

    policy: Literal["english_dev", "target_dev"] = "english_dev"
    seeds: Literal["best", "mean"] = "best"


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
        stages |= {f"training_overrides.{task}": fields["mixed_precision"] for task, fields in self.training_overrides.items() if "mixed_precision" in fields}
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
