"""The target stage's search: searched settings (``param_space``), their distributions, the search algorithm and the ASHA scheduler's settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from sweeper.config.base import _Strict
from sweeper.config.training import TrainingConfig
from sweeper.errors import did_you_mean

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
        raise ValueError(
            f"unknown distribution {kind!r}.{did_you_mean(str(kind), DISTRIBUTIONS)} Known: {', '.join(DISTRIBUTIONS)}"
        )
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


#: English training examples per target featurized for LogME (``sweeper rank``, ``search.prune``) by default.
RANK_EXAMPLES = 2000


class PruneConfig(_Strict):
    """``search.prune``: train, per trained target, only the ``keep`` intermediate tasks ranked
    best by ``method`` (LogME, You et al., ICML 2021: :mod:`sweeper.metrics.logme`) on the target's
    first ``max_examples`` English training examples, plus ``none`` when the sweep has it. The
    ranking runs after the intermediate phase, before any target trial; the other cells are not
    trained (:mod:`sweeper.results.ranking`).
    """

    method: Literal["logme"] = "logme"
    keep: PositiveInt
    max_examples: int = Field(default=RANK_EXAMPLES, ge=2)


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
    #: at most 10 000 configurations per cell (more is a typo, not a sweep)
    num_samples: PositiveInt = Field(1, le=10_000)
    seed: int | None = None
    #: train only the intermediate tasks ranked best per target (``None``: the whole grid)
    prune: PruneConfig | None = None


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
