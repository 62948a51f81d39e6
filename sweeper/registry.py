"""Task registry: one declarative YAML file per task in ``tasks/``, validated into :class:`TaskSpec`.

Tasks are data (which files, which languages, which metric); task *types* are code
(``sweeper.task_types``). A task file never says whether it is used as an intermediate or a
target task: the sweep configuration decides that.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sweeper.errors import ConfigError, UnknownTaskError

TASKS_DIR_ENV = "SWEEPER_TASKS_DIR"
DEFAULT_TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"

#: Training and selection data are English (the paper's zero-shot setting).
TRAIN_LANGUAGE = "en"

TaskTypeName = Literal["classification", "multiple_choice", "span_qa", "token_tagging"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSource(_Strict):
    """Where the split lives on the Hugging Face Hub (used when no data directory is given).

    ``name`` may contain ``{lang}``; ``converter`` names a function of ``sweeper.data.hub`` that
    maps the Hub rows to sweeper's example schema of the task type.
    """

    path: str
    name: str | None = None
    split: str
    converter: str


class SplitSource(_Strict):
    """The files of one split, relative to the data directory's layout root.

    ``files`` may contain ``{lang}``. Several files are concatenated in order (e.g. ANLI R1–R3).
    """

    format: str
    files: list[str] = Field(min_length=1)
    hub: HubSource | None = None


class ZeroShotSpec(_Strict):
    """How a target task is evaluated zero-shot: which split, in which languages.

    ``split`` names a key of :attr:`TaskSpec.splits` whose ``files`` contain ``{lang}``.
    """

    split: str
    languages: list[str] = Field(min_length=1)


class TaskSpec(_Strict):
    """A task declared in ``tasks/<task>.yaml``.

    Attributes:
        task: the id (XTREME ids for targets, jiant ids for intermediate tasks).
        task_type: which ``sweeper.task_types`` implementation trains and evaluates it.
        version: bumped when data or scoring changes; logged with every result.
        layout: data-directory root the file paths are relative to: ``xtreme`` (the
            google-research/xtreme ``download/`` layout) or ``english`` (release layouts).
        metric: the selection metric (a key the task type's evaluation returns), 0–100.
        labels: label names for classification and tagging; ``None`` for other types.
        splits: split name → source; ``train`` and ``dev`` are required (English).
        zero_shot: present for target tasks evaluated in other languages.
        answer_normalization: QA tasks only: ``squad`` (SQuAD v1.1 script) or ``mlqa``.
    """

    task: str
    task_type: TaskTypeName
    version: int = 1
    description: str
    layout: Literal["xtreme", "english"]
    metric: str
    labels: list[str] | None = None
    splits: dict[str, SplitSource]
    zero_shot: ZeroShotSpec | None = None
    answer_normalization: Literal["squad", "mlqa"] | None = None

    @field_validator("splits")
    @classmethod
    def _train_and_dev(cls, splits: dict[str, SplitSource]) -> dict[str, SplitSource]:
        missing = {"train", "dev"} - set(splits)
        if missing:
            raise ValueError(f"splits must define {sorted(missing)} (English training and dev data)")
        return splits

    def model_post_init(self, __context: object) -> None:
        if self.zero_shot and self.zero_shot.split not in self.splits:
            raise ValueError(
                f"zero_shot.split {self.zero_shot.split!r} is not one of splits {sorted(self.splits)}"
            )
        if self.task_type in ("classification", "token_tagging") and not self.labels:
            raise ValueError(f"task_type {self.task_type!r} needs a `labels` list")


def tasks_dir() -> Path:
    """The folder task files are read from: ``$SWEEPER_TASKS_DIR`` or the repository's ``tasks/``."""
    return Path(os.environ.get(TASKS_DIR_ENV, DEFAULT_TASKS_DIR))


def load_task_file(path: Path) -> TaskSpec:
    """Read and validate one task file.

    Raises:
        ConfigError: the YAML is malformed, a field is missing or unknown, or the ``task`` id
            differs from the file name.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = TaskSpec.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as error:
        raise ConfigError(f"invalid task file {path}: {error}") from error
    if spec.task != path.stem:
        raise ConfigError(f"{path}: task id {spec.task!r} must equal the file name {path.stem!r}")
    return spec


@cache
def _registry(directory: Path) -> dict[str, TaskSpec]:
    if not directory.is_dir():
        raise ConfigError(f"task folder {directory} does not exist; set {TASKS_DIR_ENV} to the repository's tasks/")
    return {path.stem: load_task_file(path) for path in sorted(directory.glob("*.yaml"))}


def all_tasks() -> dict[str, TaskSpec]:
    """Every registered task, by id (sorted)."""
    return dict(_registry(tasks_dir()))


def get_task(task: str) -> TaskSpec:
    """The spec of one task.

    Raises:
        UnknownTaskError: no task file declares ``task`` (with a did-you-mean).
    """
    registry = _registry(tasks_dir())
    if task not in registry:
        raise UnknownTaskError(task, registry)
    return registry[task]
