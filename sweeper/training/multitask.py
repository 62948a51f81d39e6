"""Training a multi-task intermediate stage with the HF ``Trainer`` (no Ray, no MLflow here).

One shared encoder, one head per member: each member's head model is the task type's own
``AutoModelFor...`` (or ``AutoModelForMaskedLM`` for ``mlm``) whose base model is replaced by
the shared encoder, so every member keeps its task type's features, collator, loss and scoring.
:class:`MultiTaskModel` routes a batch to the head of the member it belongs to; the train
dataloader's :class:`~sweeper.sweep.multitask.TaskBatchSampler` draws one member per batch with the
stage's sampling probabilities. Every evaluation scores each member on its English dev set
(metrics ``<member>/<metric>``, 0–100); the selection ``score`` is their unweighted mean
(jiant's aggregate of the tasks' main metrics). The best checkpoint's encoder is saved like a
single-task intermediate encoder (``sweeper.training.stages.save_encoder``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    set_seed,
)
from transformers.utils import WEIGHTS_NAME

from sweeper.config import MLM_MEMBER, MlmConfig, TrainingConfig
from sweeper.data.sources import load_split, resolve_labels
from sweeper.registry import TRAIN_LANGUAGE
from sweeper.sweep.multitask import Member, MultitaskStage, TaskBatchSampler, mlm_path, sampling_probabilities
from sweeper.task_types import get_task_type
from sweeper.task_types.base import feature_rows
from sweeper.training.stages import is_main_process, save_encoder
from sweeper.training.trainer import (
    CheckpointCallback,
    EvaluationCallback,
    StageResult,
    TaskEvaluationTrainer,
    run_trainer,
)

logger = logging.getLogger(__name__)

#: The feature / batch key naming the member a feature belongs to.
TASK_KEY = "task"


def member_metric(member: str, metric: str) -> str:
    """The name of a member's dev metric in a multi-task evaluation: ``<member>/<metric>``."""
    return f"{member}/{metric}"


def split_member_metric(name: str) -> tuple[str, str]:
    """``<member>/<metric>`` → ``(member, metric)`` (the inverse of :func:`member_metric`)."""
    member, _, metric = name.partition("/")
    return member, metric


@dataclass
class MemberHead:
    """One member ready to train: its head model (sharing the encoder), features and scoring."""

    name: str
    model: torch.nn.Module
    features: list[dict]
    collator: Callable[[list[dict]], dict]
    num_examples: int
    evaluate: Callable[[], dict[str, float]]


class MultiTaskModel(torch.nn.Module):
    """The shared encoder and one head model per member; ``forward(task, batch)`` runs
    ``heads[task](**batch)`` and returns that model's output (with its loss)."""

    #: the Trainer must not pass ``num_items_in_batch``: each head computes its own mean loss
    accepts_loss_kwargs = False

    def __init__(self, encoder: torch.nn.Module, heads: dict[str, torch.nn.Module]):
        super().__init__()
        self.encoder = encoder
        self.heads = torch.nn.ModuleDict(heads)

    def forward(self, task: str, batch: dict[str, torch.Tensor]):
        return self.heads[task](**batch)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.encoder.get_input_embeddings()


class MultitaskCollator:
    """Pads a batch of one member's features with that member's collator: ``{task, batch}``.

    Raises:
        ValueError: the features belong to different members.
    """

    def __init__(self, collators: dict[str, Callable[[list[dict]], dict]]):
        self._collators = collators

    def __call__(self, features: list[dict]) -> dict:
        tasks = {feature[TASK_KEY] for feature in features}
        if len(tasks) != 1:
            raise ValueError(f"a multi-task batch holds one member's features, got {sorted(tasks)}")
        (task,) = tasks
        stripped = [{key: value for key, value in feature.items() if key != TASK_KEY} for feature in features]
        return {TASK_KEY: task, "batch": self._collators[task](stripped)}


class MultitaskTrainer(TaskEvaluationTrainer):
    """Trains with a :class:`~sweeper.sweep.multitask.TaskBatchSampler` and saves plain state dicts."""

    def __init__(self, *args, batch_sampler: TaskBatchSampler, **kwargs):
        super().__init__(*args, **kwargs)
        self._batch_sampler = batch_sampler

    def get_train_dataloader(self) -> DataLoader:
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=self._batch_sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
        )
        return self.accelerator.prepare(loader)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # The shared encoder sits under every head (and an MLM decoder is tied to its word
        # embeddings): safetensors refuses tensors shared like this, torch.save keeps them shared.
        # The Trainer's best-model reload reads this file (pytorch_model.bin) back.
        if not self.args.should_save:
            return
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        torch.save(state_dict if state_dict is not None else self.model.state_dict(), os.path.join(output_dir, WEIGHTS_NAME))


def _share_encoder(model, encoder: torch.nn.Module) -> None:
    """Make ``encoder`` the base model of ``model`` (a ``PreTrainedModel`` with a head)."""
    setattr(model, model.base_model_prefix, encoder)


def _task_head(
    member: Member, encoder, tokenizer, model_source: str, settings: TrainingConfig, data_dir: Path | None
) -> MemberHead:
    spec = resolve_labels(member.task, data_dir)
    task_type = get_task_type(spec.task_type)
    model = task_type.auto_model_class().from_pretrained(model_source, **task_type.model_kwargs(spec))
    _share_encoder(model, encoder)
    train = [
        example
        for language in member.languages
        for example in load_split(spec, member.train_split, data_dir, language, settings.max_train_examples)
    ]
    dev = load_split(spec, "dev", data_dir, TRAIN_LANGUAGE, settings.max_dev_examples)
    features = task_type.train_features(train, tokenizer, spec, settings)
    if not features:
        raise ValueError(f"multi-task member {member.name!r}: no training features from {len(train)} examples")

    dev_features = task_type.prediction_features(dev, tokenizer, spec, settings, TRAIN_LANGUAGE)  # once, not per evaluation

    def evaluate() -> dict[str, float]:
        metrics = task_type.evaluate(model, tokenizer, dev, spec, settings, TRAIN_LANGUAGE, dev_features).metrics
        return {"score": metrics[spec.metric], **metrics}

    return MemberHead(member.name, model, features, task_type.collator(tokenizer), len(train), evaluate)


def read_text_lines(paths: list[Path], limit: int | None) -> list[str]:
    """The non-empty lines (stripped) of ``paths`` in order, the first ``limit`` (``None``: all)."""
    lines: list[str] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            lines.extend(line.strip() for line in handle if line.strip())
        if limit is not None and len(lines) >= limit:
            return lines[:limit]
    return lines


def mlm_model(model_source: str):
    """``AutoModelForMaskedLM`` of ``model_source`` with its pretrained MLM head (XLM-R ``lm_head``).

    A checkpoint without one (an encoder-only folder, e.g. ``tiny-xlmr`` or a saved intermediate
    encoder) gets a freshly initialised head, and a warning says so.
    """
    model, info = AutoModelForMaskedLM.from_pretrained(model_source, output_loading_info=True)
    fresh = sorted(key for key in info["missing_keys"] if not key.startswith(model.base_model_prefix + "."))
    if fresh:
        logger.warning(
            "%s has no pretrained masked-LM head (missing %s): the mlm member trains a freshly initialised one",
            model_source,
            ", ".join(fresh[:4]) + (" ..." if len(fresh) > 4 else ""),
        )
    return model


def _mlm_head(
    mlm: MlmConfig, encoder, tokenizer, model_source: str, settings: TrainingConfig, data_dir: Path | None
) -> MemberHead:
    model = mlm_model(model_source)
    _share_encoder(model, encoder)
    model.tie_weights()  # the decoder shares the *shared* encoder's word embeddings again

    def features_of(files: list[str], limit: int | None) -> list[dict]:
        lines = read_text_lines([mlm_path(name, data_dir) for name in files], limit)
        return feature_rows(
            dict(tokenizer(lines, truncation=True, max_length=settings.max_seq_length, return_special_tokens_mask=True))
        )

    train = features_of(mlm.train_files, settings.max_train_examples)
    dev = features_of(mlm.dev_files, settings.max_dev_examples)
    if not train or not dev:
        raise ValueError(f"the mlm member has {len(train)} training and {len(dev)} dev lines; both need text")

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        """Masked-token accuracy (0–100) on dev, with the same masks at every evaluation."""
        model.eval()
        device = next(model.parameters()).device
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm.mlm_probability, seed=settings.seed)
        correct = total = 0
        for start in range(0, len(dev), settings.per_device_eval_batch_size):
            batch = {k: v.to(device) for k, v in collator(dev[start : start + settings.per_device_eval_batch_size]).items()}
            predicted = model(**batch).logits.argmax(dim=-1)
            masked = batch["labels"] != -100
            correct += int((predicted[masked] == batch["labels"][masked]).sum())
            total += int(masked.sum())
        accuracy = 100.0 * correct / total if total else 0.0
        return {"score": accuracy, "accuracy": accuracy}

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm.mlm_probability, seed=settings.seed)
    return MemberHead(MLM_MEMBER, model, train, collator, len(train), evaluate)


@dataclass(frozen=True)
class MultitaskOutcome:
    """What a multi-task stage produced.

    Attributes:
        result: the training result (``best_score``: the best mean of the members' dev metrics).
        model: the best model, encoder and heads.
        probabilities: member → the probability that a step trained it.
    """

    result: StageResult
    model: MultiTaskModel
    probabilities: dict[str, float]


def build_multitask_model(
    stage: MultitaskStage, model_source: str, data_dir: Path | None
) -> tuple[object, MultiTaskModel, list[MemberHead]]:
    """The tokenizer, the :class:`MultiTaskModel` (pretrained encoder, fresh heads; seeded with
    ``stage.settings.seed``, so the same stage always starts from the same heads) and each
    member's features and scoring, in member order.

    Raises:
        ValueError: a member has no training features (or the mlm member no text).
        MissingDataError / DataFormatError: a data file is missing or corrupt.
    """
    settings = stage.settings
    set_seed(settings.seed)  # before the fresh heads are initialised
    tokenizer = AutoTokenizer.from_pretrained(model_source)
    encoder = AutoModel.from_pretrained(model_source)
    heads = [
        _mlm_head(stage.mlm, encoder, tokenizer, model_source, settings, data_dir)
        if member.task is None
        else _task_head(member, encoder, tokenizer, model_source, settings, data_dir)
        for member in stage.members
    ]
    return tokenizer, MultiTaskModel(encoder, {head.name: head.model for head in heads}), heads


def run_multitask_stage(
    stage: MultitaskStage,
    model_source: str,
    data_dir: Path | None,
    output_dir: Path,
    encoder_dir: Path,
    on_evaluation: EvaluationCallback,
    record: Mapping[str, Any] | None = None,
    on_checkpoint: CheckpointCallback | None = None,
    resume_from: Path | None = None,
) -> MultitaskOutcome:
    """Train every member of ``stage`` on one shared encoder; save the best model's encoder.

    Each member trains on its ``train_split`` in its languages (``max_train_examples`` per
    language; ``mlm``: lines in all) and is scored on its English dev set (``max_dev_examples``).
    ``on_evaluation`` receives ``<member>/<metric>`` for every member and ``score``, the mean of
    the members' selection metrics, which picks the best checkpoint. The encoder (no heads) goes
    to ``encoder_dir`` exactly as :func:`sweeper.training.stages.run_intermediate_stage` writes it; only
    the main process writes; its marker holds the members, sampling and probabilities, and
    ``record`` (e.g. the stage's cache inputs and the run that trained it).

    ``on_checkpoint`` and ``resume_from`` as in :func:`sweeper.training.trainer.train_stage`: a run
    resumed from a checkpoint of this stage continues at its step with the same batches (the
    task sampler draws each epoch from the seed and the epoch; the Trainer skips the batches the
    checkpoint had seen), so it ends as the uninterrupted run would.

    Returns:
        The training result, the best model (encoder and heads) and the sampling probabilities.

    Raises:
        ValueError: a member has no training features (or the mlm member no text).
        MissingDataError / DataFormatError: a data file is missing or corrupt.
    """
    settings = stage.settings
    tokenizer, model, heads = build_multitask_model(stage, model_source, data_dir)
    probabilities = sampling_probabilities([head.num_examples for head in heads], stage.sampling, stage.temperature)
    logger.info(
        "multi-task stage %s: %s sampling, %s",
        stage.name,
        stage.sampling,
        ", ".join(f"{head.name} {head.num_examples} examples p={p:.3f}" for head, p in zip(heads, probabilities)),
    )
    if torch.cuda.is_available():
        model = model.to("cuda")
    features = [{**feature, TASK_KEY: head.name} for head in heads for feature in head.features]
    sampler = TaskBatchSampler(
        [len(head.features) for head in heads], probabilities, settings.per_device_train_batch_size, settings.seed
    )

    def evaluate(_trained: torch.nn.Module) -> dict[str, float]:
        metrics, scores = {}, []
        for head in heads:
            scored = head.evaluate()
            scores.append(scored.pop("score"))
            metrics.update({member_metric(head.name, name): value for name, value in scored.items()})
        return {"score": sum(scores) / len(scores), **metrics}

    output_dir.mkdir(parents=True, exist_ok=True)
    result = run_trainer(
        model,
        features,
        [head.name for head in heads],
        MultitaskCollator({head.name: head.collator for head in heads}),
        evaluate,
        settings,
        output_dir,
        on_evaluation,
        label=f"multi-task stage {stage.name}",
        make_trainer=functools.partial(MultitaskTrainer, batch_sampler=sampler),
        all_parameters_used=False,
        on_checkpoint=on_checkpoint,
        resume_from=resume_from,
    )
    by_member = dict(zip([head.name for head in heads], probabilities))
    if is_main_process():
        marker = {
            **(record or {}),
            "task": stage.name,
            "members": list(by_member),
            "sampling": stage.sampling,
            "probabilities": by_member,
        }
        save_encoder(model.encoder, tokenizer, encoder_dir, result, marker)
    return MultitaskOutcome(result, model, by_member)
