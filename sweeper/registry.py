"""Task registry: one declarative YAML file per task in ``tasks/``, validated into :class:`TaskSpec`.

Tasks are data (which files, which languages, which metric); task *types* are code
(``sweeper.task_types``). A task file never says whether it is used as an intermediate or a
target task: the sweep configuration decides that.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sweeper.errors import ConfigError, UnknownTaskError

if TYPE_CHECKING:
    from sweeper.config import ZeroShotConfig

TASKS_DIR_ENV = "SWEEPER_TASKS_DIR"
DEFAULT_TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"

#: Training and selection data are English (the paper's zero-shot setting).
TRAIN_LANGUAGE = "en"

TaskTypeName = Literal["classification", "multiple_choice", "retrieval", "span_qa", "token_tagging"]

#: Task types that are only evaluated (no training data, no English dev split): XTREME's BUCC and Tatoeba.
EVALUATION_ONLY_TYPES = ("retrieval",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSource(_Strict):
    """Where the split lives on the Hugging Face Hub (used when no data directory is given).

    ``name`` and ``data_dir`` may contain ``{lang}``; ``converter`` names a function of
    ``sweeper.data.hub`` that maps the Hub rows to sweeper's example schema of the task type.
    ``path`` may also be a local folder of parquet/JSON/CSV files (``datasets`` packaged loaders).

    ``datasets`` 4+ refuses script-based Hub datasets ("Dataset scripts are no longer
    supported"). For a repository that still has a loading script, read the Parquet export the
    Hub's converter keeps for every dataset: ``revision: refs/convert/parquet`` with ``data_dir``
    the config folder (``mlqa.de.de``) and no ``name`` (that branch holds
    ``<config>/<split>/*.parquet`` and no loading script or config list).
    """

    path: str
    name: str | None = None
    split: str
    converter: str
    revision: str | None = None
    data_dir: str | None = None


class SplitSource(_Strict):
    """One source of a split: files in one format, relative to the data directory's layout root.

    ``files`` may contain ``{lang}``. Several files are concatenated in order (e.g. ANLI R1–R3).
    ``hub`` is the same data on the Hugging Face Hub. ``filter_language``: the files hold every
    language, each example with a ``language`` field (XNLI-1.0's ``xnli.test.tsv``); only the
    examples of the split's language are kept (and the field is dropped).
    """

    format: str
    files: list[str] = Field(min_length=1)
    hub: HubSource | None = None
    filter_language: bool = False


class Split(_Strict):
    """One split: one or several sources, each with its own format, files and Hub source,
    concatenated in order (``anli_plus`` = ANLI jsonl + GLUE MNLI tsv + SNLI jsonl, Phang et al.
    2020 §3).

    A task file writes a one-source split as that source's mapping (``{format, files, hub}``)
    and a several-source split as a list of such mappings; both are stored as ``sources``.
    """

    sources: list[SplitSource] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_source_or_a_list(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            return {"sources": list(value)}
        if isinstance(value, SplitSource) or (isinstance(value, dict) and "sources" not in value):
            return {"sources": [value]}
        return value

    @property
    def files(self) -> list[str]:
        """Every file pattern of the split, source by source, in order."""
        return [pattern for source in self.sources for pattern in source.files]


class ZeroShotSpec(_Strict):
    """How a target task is evaluated zero-shot: which split, in which languages.

    ``split`` names a key of :attr:`TaskSpec.splits` whose ``files`` contain ``{lang}``.
    ``dev_split``: the split holding dev data in the target languages (files with ``{lang}``),
    which selection policy ``target_dev`` averages over; ``split`` itself for tasks XTREME scores
    on dev (PAN-X, TyDiQA); ``None``: the task has none (XQuAD is test-only).
    """

    split: str
    languages: list[str] = Field(min_length=1)
    dev_split: str | None = None


class SubmissionSpec(_Strict):
    """Which split a target's XTREME leaderboard file ``<task>/test-<lang>.<suffix>`` predicts.

    The leaderboard scores every task on its ``test`` files except TyDiQA-GoldP, whose
    leaderboard test set is the GoldP dev set (google-research/xtreme ``scripts/predict_qa.sh``
    predicts ``tydiqa-goldp-v1.1-dev`` into ``test-<lang>.json``). The split may be unlabelled
    (XTREME's ``download_data.sh`` removes test labels): it is only predicted.
    """

    split: str


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
        labels_file: instead of ``labels``, for label sets too large for a task file (CCG's
            1,363 supertags): a JSON object ``{label: id}`` (jiant's ``tags_to_id.json``) at this
            path relative to the layout root, read by ``sweeper.data.sources.resolve_labels``.
        splits: split name → its source(s); ``train`` and ``dev`` are required (English), except for
            ``retrieval`` tasks, which are only evaluated (no training data).
        zero_shot: present for target tasks evaluated in other languages.
        submission: XTREME targets: the split their leaderboard file predicts (see
            :class:`SubmissionSpec`).
        positive_label: binary classification: the class counted as positive for F1 (QQP:
            ``"1"``, duplicate); the task type then also reports ``f1`` and ``accuracy_and_f1``
            (their mean, GLUE's and jiant's QQP metric).
        answer_normalization: QA tasks only: ``squad`` (SQuAD v1.1 script) or ``mlqa``.
        unanswerable: ``span_qa`` only: the data has unanswerable questions (SQuAD 2.0): the
            null answer may be predicted and scoring uses the SQuAD 2.0 script.
        language_codes: sweeper language (ISO 639-1) → the code the task's files and Hub
            configs use for it where they differ (Tatoeba: ``de: deu``); fills ``{lang}``.
        retrieval_layer: ``retrieval`` only: index into the encoder's ``hidden_states`` (0 = the
            embedding output) that is mean-pooled; ``None``: layer 14 of 24 scaled to the depth.
    """

    task: str
    task_type: TaskTypeName
    version: int = 1
    description: str
    layout: Literal["xtreme", "english"]
    metric: str
    labels: list[str] | None = None
    labels_file: str | None = None
    splits: dict[str, Split]
    zero_shot: ZeroShotSpec | None = None
    submission: SubmissionSpec | None = None
    positive_label: str | None = None
    answer_normalization: Literal["squad", "mlqa"] | None = None
    unanswerable: bool = False
    language_codes: dict[str, str] = {}
    retrieval_layer: int | None = Field(None, ge=0)

    @field_validator("splits")
    @classmethod
    def _train_and_dev(cls, splits: dict[str, Split], info: ValidationInfo) -> dict[str, Split]:
        if info.data.get("task_type") in EVALUATION_ONLY_TYPES:
            return splits
        missing = {"train", "dev"} - set(splits)
        if missing:
            raise ValueError(
                f"splits must define {sorted(missing)} (English training and dev data); only "
                f"task_type {' or '.join(EVALUATION_ONLY_TYPES)} tasks may omit them"
            )
        return splits

    def model_post_init(self, __context: object) -> None:
        if self.zero_shot and self.zero_shot.split not in self.splits:
            raise ValueError(f"zero_shot.split {self.zero_shot.split!r} is not one of splits {sorted(self.splits)}")
        if self.zero_shot and self.zero_shot.dev_split is not None and self.zero_shot.dev_split not in self.splits:
            raise ValueError(f"zero_shot.dev_split {self.zero_shot.dev_split!r} is not one of splits {sorted(self.splits)}")
        if self.submission and self.submission.split not in self.splits:
            raise ValueError(f"submission.split {self.submission.split!r} is not one of splits {sorted(self.splits)}")
        if self.positive_label is not None and (
            self.task_type != "classification"
            or not self.labels
            or len(self.labels) != 2
            or self.positive_label not in self.labels
        ):
            raise ValueError(
                f"`positive_label` {self.positive_label!r} is for binary classification tasks and must be one "
                f"of their two `labels`; got task_type {self.task_type!r}, labels {self.labels}"
            )
        if self.task_type in ("classification", "token_tagging") and not (self.labels or self.labels_file):
            raise ValueError(f"task_type {self.task_type!r} needs a `labels` list or a `labels_file`")
        if self.labels and self.labels_file:
            raise ValueError("give either `labels` or `labels_file`, not both")
        if self.unanswerable and (self.task_type != "span_qa" or self.answer_normalization != "squad"):
            raise ValueError(
                "`unanswerable: true` is for span_qa tasks scored with the SQuAD 2.0 script "
                f"(answer_normalization: squad); got task_type {self.task_type!r}, "
                f"answer_normalization {self.answer_normalization!r}"
            )
        if self.retrieval_layer is not None and self.task_type != "retrieval":
            raise ValueError(f"`retrieval_layer` is for retrieval tasks; got task_type {self.task_type!r}")
        if self.task_type == "retrieval" and self.zero_shot is None:
            raise ValueError("a retrieval task needs `zero_shot` (its split and languages): it is only evaluated")

    def file_language(self, language: str | None) -> str | None:
        """The code that fills ``{lang}`` in file names and Hub configs (``language_codes``, else ``language``)."""
        return self.language_codes.get(language, language) if language is not None else None


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


#: The split whose gold tunes a retrieval task's mining threshold (BUCC: XTREME's dev = the BUCC
#: sample set); a retrieval task that declares it besides its zero-shot split is a mining task.
THRESHOLD_SPLIT = "dev"


def is_retrieval(task: TaskSpec) -> bool:
    """Whether ``task`` is evaluated on the encoder directly (BUCC, Tatoeba): no target training."""
    return task.task_type in EVALUATION_ONLY_TYPES


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
