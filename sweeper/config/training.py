"""Hyperparameters of one training stage (:class:`TrainingConfig`, HF ``TrainingArguments`` names) and their step arithmetic."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
)

from sweeper.config.base import _Strict

#: The settings that shape tokenized features (truncation, QA and tagging windows); a feature set
#: is reused across trials whose values agree (:mod:`sweeper.cache.features`).
FEATURIZATION_SETTINGS = ("max_seq_length", "doc_stride", "max_query_length")


class TrainingConfig(_Strict):
    """Hyperparameters of one training stage (HF ``TrainingArguments`` names).

    Defaults follow the jiant recipe of Phang et al. 2020 (xtreme_reference.md §4).
    ``eval_steps`` is in optimizer steps; ``max_*_examples`` subsample for CPU budgets
    (``None``: all). ``mixed_precision``: ``auto`` trains in bf16 on a GPU that supports it,
    fp16 (with loss scaling) on an older GPU and fp32 on the CPU; ``bf16`` / ``fp16`` / ``no``
    force one (see :func:`sweeper.training.trainer.precision_arguments`).

    ``gradient_accumulation_steps: auto``: ``per_device_train_batch_size`` is then the batch of
    one optimizer step on one device, and the trial runs it as the largest micro-batch that fits
    its share of the GPU (measured by the memory probe, :mod:`sweeper.training.memory_probe`)
    times the accumulation that keeps that batch (:func:`sweeper.sweep.packing.split_batch`): the
    same optimisation at the best throughput. On the CPU the whole batch is one micro-batch.

    ``per_device_eval_batch_size``: features per evaluation batch; on a GPU, at the longest
    feature's length, shorter features going in larger batches of no more tokens
    (:func:`sweeper.task_types.base.length_sorted_batches`).
    """

    learning_rate: PositiveFloat = 1e-5
    per_device_train_batch_size: PositiveInt = 4
    per_device_eval_batch_size: PositiveInt = 64
    gradient_accumulation_steps: PositiveInt | Literal["auto"] = 1
    num_train_epochs: PositiveFloat = 3
    max_steps: PositiveInt | None = None
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: NonNegativeFloat = 0.01
    max_grad_norm: PositiveFloat = 1.0
    adam_epsilon: PositiveFloat = 1e-8
    max_seq_length: PositiveInt = Field(256, le=8192)  # the model's own bound is checked by sweeper.models.availability
    doc_stride: PositiveInt = 128
    max_query_length: PositiveInt = 64
    eval_steps: PositiveInt = 1000
    max_train_examples: PositiveInt | None = None
    max_dev_examples: PositiveInt | None = 500
    freeze_word_embeddings: bool = False
    mixed_precision: Literal["auto", "bf16", "fp16", "no"] = "auto"
    seed: int = 1

    @property
    def optimizer_batch(self) -> int:
        """Examples of one optimizer step on one device: per-device batch × accumulation (``auto``: the per-device batch)."""
        accumulation = 1 if self.gradient_accumulation_steps == "auto" else self.gradient_accumulation_steps
        return self.per_device_train_batch_size * accumulation


def total_optimizer_steps(num_features: int, settings: TrainingConfig, world_size: int = 1) -> int:
    """Optimizer steps of a run: ``max_steps`` or epochs × ceil(features / effective batch)."""
    if settings.max_steps is not None:
        return settings.max_steps
    effective_batch = settings.optimizer_batch * world_size
    return max(1, math.ceil(settings.num_train_epochs * math.ceil(num_features / effective_batch)))
