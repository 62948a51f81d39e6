"""Declarations of multi-task intermediate stages (``multitask:``): members, sampling, masked-language-modelling text."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    PositiveFloat,
    field_validator,
    model_validator,
)

from sweeper.config.base import _Strict
from sweeper.config.names import MLM_MEMBER


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
