"""What one stage reads: its inputs (:class:`StageInputs`) and their tokenized features, from the
feature cache when the stage has one (:mod:`sweeper.cache.features`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sweeper.cache.features import FeatureCache
from sweeper.config import TrainingConfig
from sweeper.data.sources import load_split
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec


@dataclass(frozen=True)
class StageInputs:
    """Everything one training stage needs.

    Attributes:
        model_source: the pretrained model (local folder or Hub id); its tokenizer is always used.
        init_from: encoder folder of a finished intermediate stage, or ``None`` to start from
            ``model_source`` (the ``none`` baseline).
        task: the task trained in this stage.
        settings: its hyperparameters.
        data_dir: local data root, or ``None`` for the Hub.
        output_dir: folder this stage owns (created if missing).
        resume_from: a Trainer checkpoint of an interrupted run of this same stage to continue
            from (``None``: train from the start).
        feature_cache: where the tokenized training set and evaluation splits (zero-shot, target-
            language dev, leaderboard) are cached (:mod:`sweeper.cache.features`), so that trials of
            the same task tokenize them once;
            ``None``: tokenized here, not kept.
    """

    model_source: str
    init_from: Path | None
    task: TaskSpec
    settings: TrainingConfig
    data_dir: Path | None
    output_dir: Path
    resume_from: Path | None = None
    feature_cache: FeatureCache | None = None


def training_features(inputs: StageInputs, task_type, tokenizer) -> Sequence[dict]:
    """The stage's tokenized English training set (``settings.max_train_examples`` examples):
    from ``inputs.feature_cache`` when there is one (built there on a miss), else built here.

    Raises:
        ValueError: no training features could be built from the examples.
        MissingDataError / DataFormatError: a training file is missing or corrupt.
    """
    settings = inputs.settings

    def build() -> list[dict]:
        examples = load_split(inputs.task, "train", inputs.data_dir, TRAIN_LANGUAGE, settings.max_train_examples)
        features = task_type.train_features(examples, tokenizer, inputs.task, settings)
        if not features:
            raise ValueError(f"task {inputs.task.task!r}: no training features from {len(examples)} examples")
        return features

    if inputs.feature_cache is None:
        return build()
    return inputs.feature_cache.training_features(inputs.task, settings, inputs.data_dir, build)


def evaluation_features(
    inputs: StageInputs, task_type, tokenizer, examples: list[dict], split: str, language: str, limit: int | None
) -> Mapping[str, Sequence]:
    """The prediction features of ``examples`` (``split`` in ``language``, the first ``limit``),
    column-wise: from ``inputs.feature_cache`` when there is one (built there on a miss), else
    built here."""

    def build() -> dict[str, list]:
        return task_type.prediction_features(examples, tokenizer, inputs.task, inputs.settings, language)

    if inputs.feature_cache is None:
        return build()
    return inputs.feature_cache.prediction_features(inputs.task, split, language, limit, inputs.settings, inputs.data_dir, build)
