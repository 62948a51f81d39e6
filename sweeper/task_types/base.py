"""Task types as code: how a kind of task is featurized, which head it gets, how it is scored.

A :class:`TaskType` is stateless; the task file (``TaskSpec``) supplies labels and metric. New
types register with :func:`register`, looked up by the task file's ``task_type``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from sweeper.config import TrainingConfig
from sweeper.errors import ConfigError, did_you_mean
from sweeper.progress.bars import Progress
from sweeper.registry import TaskSpec
from sweeper.task_types.submission_files import FileIssues

# Keys a collator may see besides the tokenizer's model inputs.
TARGET_KEYS = ("labels", "start_positions", "end_positions")


@dataclass(frozen=True)
class Evaluation:
    """The outcome of scoring one split in one language.

    Attributes:
        metrics: metric name → value in [0, 100] (e.g. ``{"f1": 71.3, "exact_match": 58.2}``).
        predictions: one prediction per example in XTREME submission form (labels, label
            sequences, or ``{question_id: answer_text}``).
    """

    metrics: dict[str, float]
    predictions: Any


@dataclass(frozen=True)
class ModelOutputs:
    """What the model computed on one split in one language (:meth:`TaskType.infer`), before the
    host turns it into predictions (:meth:`TaskType.decode`).

    Attributes:
        features: the prediction features the model ran on, column-wise (``{key: [value per
            feature]}``); empty for retrieval, which embeds raw sentences.
        outputs: output name → values: one float32 array per feature (:func:`predict_logits`:
            tagging ``logits`` ``(seq_len_i, num_labels)``, QA ``start_logits`` ``(seq_len_i,)``,
            classification ``(num_labels,)``), or a ``(num_sentences, hidden_size)`` embedding
            matrix per side (retrieval).
    """

    features: Mapping[str, Sequence]
    outputs: Mapping[str, Sequence[np.ndarray]]


class TaskType(ABC):
    """One kind of task (classification, span QA, tagging, ...)."""

    name: ClassVar[str]
    prediction_suffix: ClassVar[str]
    #: may be trained as an intermediate or target task (retrieval tasks are evaluation-only).
    trainable: ClassVar[bool] = True

    @abstractmethod
    def auto_model_class(self) -> type:
        """The ``transformers`` ``AutoModelFor...`` class whose head this type trains."""

    @abstractmethod
    def model_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        """``from_pretrained`` kwargs that size the fresh head (``num_labels``, label maps).

        Always explicit: the encoder may come from an intermediate task whose saved config
        describes another head.
        """

    @abstractmethod
    def train_features(self, examples: list[dict], tokenizer, spec: TaskSpec, settings: TrainingConfig) -> list[dict]:
        """Tokenized training features (unpadded lists) with their training targets."""

    @abstractmethod
    def collator(self, tokenizer):
        """A collator that pads a list of features into a batch of tensors (dynamic padding)."""

    def prediction_features(
        self, examples: list[dict], tokenizer, spec: TaskSpec, settings: TrainingConfig, language: str
    ) -> dict[str, list]:
        """The tokenized features :meth:`predict` runs the model on, column-wise
        (``{key: [value per feature]}``): determined by the tokenizer, the featurization settings
        and ``examples`` alone, so a stage computes them once per split and language
        (:mod:`sweeper.cache.features`). Examples without gold (``None``) get placeholder targets.

        Raises:
            ConfigError: the task type predicts from something else (retrieval: sentence embeddings).
        """
        raise ConfigError(f"task type {self.name!r} has no prediction features")

    #: model output fields :meth:`infer` collects, e.g. ``("logits",)`` or ``("start_logits", "end_logits")``.
    output_names: ClassVar[tuple[str, ...]] = ("logits",)
    #: the outputs have a sequence axis (tagging, QA), trimmed to each feature's own length.
    per_token_outputs: ClassVar[bool] = False

    def infer(
        self,
        model,
        tokenizer,
        examples: list[dict],
        spec: TaskSpec,
        settings: TrainingConfig,
        language: str,
        features: Mapping[str, Sequence] | None = None,
    ) -> ModelOutputs:
        """The device part of :meth:`predict`: run ``model`` over ``examples`` (one language), batched
        with dynamic padding (:func:`predict_logits`), collecting :attr:`output_names`.

        ``features``: :meth:`prediction_features` of ``examples``, computed beforehand (or read from
        the feature cache); ``None``: computed here.
        """
        columns = features if features is not None else self.prediction_features(examples, tokenizer, spec, settings, language)
        values = predict_logits(
            model,
            feature_rows(columns),
            self.collator(tokenizer),
            settings.per_device_eval_batch_size,
            self.output_names,
            per_token=self.per_token_outputs,
        )
        return ModelOutputs(features=columns, outputs=dict(zip(self.output_names, values)))

    @abstractmethod
    def decode(self, outputs: ModelOutputs, examples: list[dict], spec: TaskSpec, settings: TrainingConfig, language: str) -> Any:
        """The host part of :meth:`predict`: turn :meth:`infer`'s ``outputs`` on ``examples`` into
        predictions. Touches no model, so it may run in another thread while the device infers the
        next split (:func:`sweeper.training.zero_shot.evaluate_zero_shot`).

        Returns:
            One prediction per example in XTREME submission form: label names (classification),
            choice indices (multiple choice), label sequences (tagging), ``{question_id: text}``
            (QA).
        """

    def predict(
        self, model, tokenizer, examples: list[dict], spec: TaskSpec, settings: TrainingConfig, language: str, features=None
    ) -> Any:
        """Predict ``examples`` (one language) with ``model``: :meth:`infer` (on ``features`` when
        given) then :meth:`decode`.

        Returns:
            One prediction per example in XTREME submission form (see :meth:`decode`).
        """
        outputs = self.infer(model, tokenizer, examples, spec, settings, language, features)
        return self.decode(outputs, examples, spec, settings, language)

    @abstractmethod
    def score(self, predictions: Any, examples: list[dict], spec: TaskSpec, language: str) -> dict[str, float]:
        """Score ``predictions`` against the gold ``examples`` with the task's official metric.

        Returns:
            metric name → value in [0, 100].

        Raises:
            ValueError: predictions and examples do not correspond (count or ids).
        """

    def evaluate(
        self, model, tokenizer, examples: list[dict], spec: TaskSpec, settings: TrainingConfig, language: str, features=None
    ) -> Evaluation:
        """Predict ``examples`` (one language) and score them: :meth:`predict` (on ``features``
        when given) then :meth:`score`."""
        predictions = self.predict(model, tokenizer, examples, spec, settings, language, features)
        return Evaluation(metrics=self.score(predictions, examples, spec, language), predictions=predictions)

    @abstractmethod
    def write_predictions(self, predictions: Any, path: Path) -> None:
        """Write predictions in the XTREME submission layout (``<task>/test-<lang>.<suffix>``)."""

    @abstractmethod
    def read_predictions(self, path: Path, issues: FileIssues | None = None) -> Any:
        """Read a file written by :meth:`write_predictions` (or an XTREME submission file), the way
        XTREME ``evaluate.py`` reads it (:mod:`sweeper.task_types.submission_files`).

        Args:
            issues: records what was tolerated (byte-order mark, padded lines), if given.

        Raises:
            MissingDataError: ``path`` does not exist. DataFormatError: it is malformed (file, line).
        """

    def check_predictions(self, predictions: Any, examples: Any, spec: TaskSpec, issues: FileIssues) -> None:  # noqa: B027 (a hook; types override it)
        """Record in ``issues`` what :meth:`score` will count as wrong or ignore (unknown labels,
        missing or extra question ids); the default records nothing."""

    def read_leaderboard_gold(self, path: Path) -> Any:
        """Gold labels of one language in the XTREME leaderboard's label layout
        (``<task>/test-<lang>.<suffix>``, what ``evaluate.py --label_folder`` reads), as the
        examples :meth:`score` takes.

        Raises:
            ConfigError: the task type has no leaderboard label format.
            MissingDataError: ``path`` does not exist. DataFormatError: it is malformed.
        """
        raise ConfigError(f"task type {self.name!r} has no XTREME leaderboard label format; score it against --data-dir instead")


_TASK_TYPES: dict[str, TaskType] = {}


def register(cls: type[TaskType]) -> type[TaskType]:
    """Class decorator: make a task type available under ``cls.name``."""
    _TASK_TYPES[cls.name] = cls()
    return cls


def get_task_type(name: str) -> TaskType:
    """The registered task type called ``name``.

    Raises:
        ConfigError: no such type (with a did-you-mean).
    """
    if name not in _TASK_TYPES:
        raise ConfigError(f"unknown task_type {name!r}.{did_you_mean(name, _TASK_TYPES)} Known: {sorted(_TASK_TYPES)}")
    return _TASK_TYPES[name]


def label_maps(spec: TaskSpec) -> tuple[dict[str, int], dict[int, str]]:
    """``(label_to_id, id_to_label)`` in the order of the task file's ``labels``.

    Raises:
        ConfigError: the spec lists no labels (a ``labels_file`` not yet resolved with
            :func:`sweeper.data.sources.resolve_labels`).
    """
    if not spec.labels:
        raise ConfigError(
            f"task {spec.task!r} has no label list; resolve its labels_file first (sweeper.data.sources.resolve_labels)"
        )
    labels = spec.labels
    return {label: index for index, label in enumerate(labels)}, dict(enumerate(labels))


def classifier_kwargs(spec: TaskSpec) -> dict[str, Any]:
    """``from_pretrained`` kwargs for a head over the task's labels."""
    label_to_id, id_to_label = label_maps(spec)
    return {"num_labels": len(label_to_id), "id2label": id_to_label, "label2id": label_to_id}


def with_placeholder_gold(examples: list[dict], field: str, placeholder) -> list[dict]:
    """``examples`` whose missing gold ``field`` (``None``: an unlabelled leaderboard test file)
    is replaced by ``placeholder(example)``, because featurization encodes a target for every
    example. Prediction never reads it: targets are dropped from the batch (:func:`predict_logits`).
    """
    return [example if example[field] is not None else {**example, field: placeholder(example)} for example in examples]


#: Examples tokenized per call when a set is encoded in chunks (:func:`encode_in_chunks`).
CHUNK_EXAMPLES = 2000


def encode_in_chunks(encode: Callable[[list[dict]], dict[str, list]], examples: list[dict], description: str) -> dict[str, list]:
    """``encode(examples)`` run on chunks of :data:`CHUNK_EXAMPLES` examples, its column-wise
    outputs concatenated, with a progress bar (:class:`sweeper.progress.bars.Progress`, shown
    only when tokenizing takes longer than its interval: large training sets, not dev subsets).

    ``encode`` must give each feature values that depend on its own example only (the
    featurizers of ``sweeper.data.features`` do: no index into ``examples`` is returned).
    """
    if len(examples) <= CHUNK_EXAMPLES:
        return encode(examples)
    columns: dict[str, list] = {}
    with Progress(f"tokenizing {description}", len(examples), "example") as progress:
        for start in range(0, len(examples), CHUNK_EXAMPLES):
            chunk = examples[start : start + CHUNK_EXAMPLES]
            for key, values in encode(chunk).items():
                columns.setdefault(key, []).extend(values)
            progress.advance(len(chunk))
    return columns


def feature_rows(columns: dict[str, list]) -> list[dict]:
    """Column-wise tokenizer output (``{key: [value per feature]}``) → one dict per feature."""
    keys = list(columns)
    return [dict(zip(keys, values)) for values in zip(*(columns[key] for key in keys))]


class InputsOnly:
    """Wraps a ``transformers`` collator, dropping feature keys the model does not take.

    Features keep bookkeeping keys (``example_id``, ``offset_mapping``, ``word_ids``) next to the
    model inputs; this keeps them out of the batch.
    """

    def __init__(self, collator, tokenizer):
        self._collator = collator
        self._keys = set(tokenizer.model_input_names) | set(TARGET_KEYS)

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        return self._collator([{k: v for k, v in feature.items() if k in self._keys} for feature in features])


def _feature_length(feature: dict) -> int:
    """Tokens of a feature (multiple choice: of its longest choice)."""
    ids = feature["input_ids"]
    return max(len(choice) for choice in ids) if ids and isinstance(ids[0], list) else len(ids)


def length_sorted_batches(lengths: Sequence[int], batch_size: int, by_tokens: bool) -> list[list[int]]:
    """Feature indices grouped into inference batches, the features sorted by length (shortest
    first) so that a batch carries little padding.

    ``by_tokens=False``: ``batch_size`` features per batch. ``by_tokens=True`` (on a GPU): as many
    features per batch as keep (features × its longest) within ``batch_size`` × the longest of all
    ``lengths``, at least one. With right padding a batch of n features of at most L tokens holds
    n × L tokens and n × L² attention scores per head, so no batch holds more of either than
    ``batch_size`` features of the longest length, the largest batch of fixed-size batching on the
    same features (its memory bound); batches of short features grow instead (at 40 tokens and a
    longest feature of 256, six times ``batch_size``), so a GPU gets fewer, larger kernels (fairseq's
    ``--max-tokens``, bounded by the configured batch). On the CPU larger batches are slower:
    multilingual-e5-small on one thread predicted 1,000 PAN-X sentences in 11.2 s by tokens against
    10.0 s in batches of 64.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    if not by_tokens:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    budget = batch_size * max(lengths, default=0)
    batches: list[list[int]] = []
    batch: list[int] = []
    for index in order:
        if batch and (len(batch) + 1) * lengths[index] > budget:
            batches.append(batch)
            batch = []
        batch.append(index)
    if batch:
        batches.append(batch)
    return batches


def inference_autocast(device: torch.device):
    """The autocast context of evaluation: bf16 on a GPU that supports it, else none (fp32)."""
    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


#: Batches whose outputs stay on the GPU before they are copied to the host in one go.
DRAIN_EVERY_BATCHES = 64


def predict_logits(
    model, features: list[dict], collator, batch_size: int, output_names: tuple[str, ...], per_token: bool
) -> list[list[np.ndarray]]:
    """Run ``model`` over ``features`` in batches with dynamic padding (right padding).

    Fast on a GPU: under ``torch.inference_mode`` with bf16 autocast where supported
    (:func:`inference_autocast`), features sorted by length so that batches carry little padding,
    and on a GPU batched by a token budget (:func:`length_sorted_batches`: short features in larger
    batches, none larger than ``batch_size`` features of the longest length; outputs are returned
    in the order of ``features``), inputs copied from pinned memory without
    blocking, and outputs left on the GPU and copied to the host every
    :data:`DRAIN_EVERY_BATCHES` batches, so that the host collates the next batch while the GPU
    computes (no per-batch synchronisation). A progress bar (:class:`sweeper.progress.bars.Progress`)
    appears when prediction takes longer than its interval (a large evaluation split on a CPU).

    Args:
        batch_size: features per batch at the longest feature's length (``per_device_eval_batch_size``).
        output_names: model output fields to collect, e.g. ``("logits",)`` or
            ``("start_logits", "end_logits")``.
        per_token: the outputs have a sequence axis first (tagging, QA): trim each to the
            feature's own length, dropping the batch padding.

    Returns:
        For each output name, one float32 array per feature: tagging ``logits`` ``(seq_len_i, num_labels)``,
        QA start/end ``(seq_len_i,)``, classification ``(num_labels,)``, multiple choice
        ``(num_choices,)``.
    """
    model.eval()
    device = next(model.parameters()).device
    on_gpu = device.type == "cuda"
    lengths = [_feature_length(feature) for feature in features]
    collected: list[list[np.ndarray | None]] = [[None] * len(features) for _ in output_names]
    pending: list[tuple[list[int], list[torch.Tensor]]] = []

    def drain() -> None:
        for indices, outputs in pending:
            for index, values in enumerate(outputs):
                for row, value in zip(indices, values.float().cpu().numpy()):
                    collected[index][row] = value[: lengths[row]] if per_token else value
        pending.clear()

    with torch.inference_mode(), inference_autocast(device), Progress("predicting", len(features), "feature") as progress:
        for indices in length_sorted_batches(lengths, batch_size, by_tokens=on_gpu):
            batch = {
                key: (value.pin_memory() if on_gpu else value).to(device, non_blocking=True)
                for key, value in collator([features[row] for row in indices]).items()
                if key not in TARGET_KEYS
            }
            outputs = model(**batch)
            pending.append((indices, [outputs[name] for name in output_names]))
            if len(pending) >= DRAIN_EVERY_BATCHES:
                drain()
            progress.advance(len(indices))
        drain()
    return collected
