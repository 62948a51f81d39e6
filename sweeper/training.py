"""Fine-tuning one stage with the Hugging Face ``Trainer`` (no Ray, no MLflow here).

The trainer's ``evaluate`` is replaced, as HF's ``trainer_qa.py`` does, by the task type's own
scoring on the English dev subset, so that QA post-processing and seqeval run inside the
training loop. Every evaluation calls ``on_evaluation`` (the Ray/MLflow adapters hook in
there); the best checkpoint by ``score`` is restored at the end (jiant: best model restored).
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from sweeper.config import TrainingConfig
from sweeper.planning import total_optimizer_steps
from sweeper.registry import TaskSpec
from sweeper.storage import TRAINER_DIR
from sweeper.task_types import TaskType

logger = logging.getLogger(__name__)

#: ``on_evaluation(evaluation, step, metrics)``: ``evaluation`` counts from 1 (Tune ``time_attr``),
#: ``step`` is the optimizer step, ``metrics`` are 0–100 with ``score`` the selection metric.
EvaluationCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class StageResult:
    """What training one stage produced.

    Attributes:
        best_score: best English-dev selection metric seen (0–100).
        best_step: optimizer step of the best evaluation.
        history: ``(step, metrics)`` of every evaluation, in order.
    """

    best_score: float
    best_step: int
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)


class TaskEvaluationTrainer(Trainer):
    """A ``Trainer`` whose ``evaluate`` is ``evaluate_fn(model)`` (the task type's own scoring)."""

    def __init__(self, *args, evaluate_fn: Callable[[torch.nn.Module], dict[str, float]], **kwargs):
        super().__init__(*args, **kwargs)
        self._evaluate_fn = evaluate_fn

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in self._evaluate_fn(self.model).items()}
        self.log(dict(metrics))  # Trainer.log adds "epoch" to the dict it is given
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


class _ReportEvaluations(TrainerCallback):
    def __init__(self, on_evaluation: EvaluationCallback, result: StageResult):
        self._on_evaluation = on_evaluation
        self._result = result

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        scores = {key.removeprefix("eval_"): value for key, value in (metrics or {}).items()}
        self._result.history.append((state.global_step, scores))
        if scores["score"] > self._result.best_score:
            self._result.best_score, self._result.best_step = scores["score"], state.global_step
        self._on_evaluation(len(self._result.history), state.global_step, scores)


def precision_arguments(setting: str, cuda_available: bool, bf16_supported: bool) -> dict[str, bool]:
    """``TrainingArguments`` precision flags (``bf16``, ``fp16``) for ``mixed_precision=setting``.

    ``auto``: bf16 where the GPU supports it (Ampere and newer), else fp16 on a GPU (loss scaling
    by the Trainer), fp32 on the CPU. ``bf16`` / ``fp16`` force one, ``no`` trains in fp32.

    Raises:
        ValueError: ``bf16`` or ``fp16`` without a CUDA device, or ``bf16`` on a GPU without bf16
            support (the message says to use ``auto``, ``fp16`` or ``no``).
    """
    if setting == "auto":
        return {"bf16": cuda_available and bf16_supported, "fp16": cuda_available and not bf16_supported}
    if setting == "no":
        return {"bf16": False, "fp16": False}
    if not cuda_available:
        raise ValueError(f"mixed_precision={setting} needs a CUDA GPU; none is visible (use auto or no)")
    if setting == "bf16" and not bf16_supported:
        raise ValueError("mixed_precision=bf16: this GPU does not support bf16 (use auto, fp16 or no)")
    return {"bf16": setting == "bf16", "fp16": setting == "fp16"}


def train_stage(
    model: torch.nn.Module,
    tokenizer,
    task_type: TaskType,
    spec: TaskSpec,
    train_examples: list[dict],
    dev_examples: list[dict],
    settings: TrainingConfig,
    output_dir: Path,
    on_evaluation: EvaluationCallback,
) -> StageResult:
    """Train ``model`` on ``train_examples``, evaluating on ``dev_examples`` every ``eval_steps``.

    The task type builds the features and collator and scores English dev; :func:`run_trainer`
    does the rest.

    Raises:
        ValueError: no training features could be built from ``train_examples``.
    """
    train_features = task_type.train_features(train_examples, tokenizer, spec, settings)
    if not train_features:
        raise ValueError(f"task {spec.task!r}: no training features from {len(train_examples)} examples")

    def evaluate(trained: torch.nn.Module) -> dict[str, float]:
        evaluation = task_type.evaluate(trained, tokenizer, dev_examples, spec, settings, language="en")
        return {"score": evaluation.metrics[spec.metric], **evaluation.metrics}

    return run_trainer(
        model, train_features, dev_examples, task_type.collator(tokenizer), evaluate, settings, output_dir, on_evaluation,
        label=spec.task,
    )


def run_trainer(
    model: torch.nn.Module,
    train_features: list[dict],
    dev_examples: list,
    collator,
    evaluate: Callable[[torch.nn.Module], dict[str, float]],
    settings: TrainingConfig,
    output_dir: Path,
    on_evaluation: EvaluationCallback,
    *,
    label: str,
    make_trainer: Callable[..., TaskEvaluationTrainer] | None = None,
    all_parameters_used: bool = True,
) -> StageResult:
    """Train ``model`` with the HF ``Trainer``, scoring it with ``evaluate`` every ``eval_steps``.

    AdamW (``adam_epsilon``, ``weight_decay``, none on bias/LayerNorm), linear warmup over
    ``warmup_ratio`` of the steps then linear decay, gradient clipping at ``max_grad_norm``
    (jiant recipe, xtreme_reference.md §4). When the run is shorter than ``eval_steps``, the
    single evaluation happens at its last step. The best model by ``score`` is loaded back into
    ``model`` at the end; intermediate Trainer checkpoints under ``output_dir`` are removed.

    Args:
        dev_examples: what ``evaluate`` scores (the Trainer's ``eval_dataset``, which step-wise
            evaluation requires; the Trainer itself never iterates it).
        evaluate: the trained model → metrics (0–100) with ``score``, the selection metric.
        label: what is trained, for log lines (a task id).
        make_trainer: builds the trainer from the ``Trainer`` keyword arguments and
            ``evaluate_fn``: a :class:`TaskEvaluationTrainer` subclass (e.g. one with its own train
            dataloader); ``None``: :class:`TaskEvaluationTrainer`.
        all_parameters_used: every parameter takes part in every forward pass; ``False`` (one
            head per task, one task per batch) makes DDP look for unused parameters.
    """
    if settings.freeze_word_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    world_size = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    total_steps = total_optimizer_steps(len(train_features), settings, world_size)
    eval_steps = min(settings.eval_steps, total_steps)
    if eval_steps < settings.eval_steps:
        logger.info("%s: %d steps < eval_steps=%d; evaluating at step %d", label, total_steps, settings.eval_steps, eval_steps)
    args = TrainingArguments(
        output_dir=str(output_dir / TRAINER_DIR),
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        per_device_eval_batch_size=settings.per_device_eval_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        num_train_epochs=settings.num_train_epochs,
        max_steps=settings.max_steps or -1,
        warmup_steps=settings.warmup_ratio,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        adam_epsilon=settings.adam_epsilon,
        lr_scheduler_type="linear",
        seed=settings.seed,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=True,
        metric_for_best_model="score",
        greater_is_better=True,
        logging_steps=max(1, eval_steps // 4),
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        # Ray Train initialises a process group, so the Trainer wraps the model in DDP even with
        # one worker; when every parameter is used in forward, skip DDP's unused-parameter search.
        ddp_find_unused_parameters=not all_parameters_used,
        use_cpu=not torch.cuda.is_available(),
        **precision_arguments(
            settings.mixed_precision, torch.cuda.is_available(), torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        ),
    )
    result = StageResult(best_score=-math.inf, best_step=0)
    trainer = (make_trainer or TaskEvaluationTrainer)(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=dev_examples,
        data_collator=collator,
        callbacks=[_ReportEvaluations(on_evaluation, result)],
        evaluate_fn=evaluate,
    )
    trainer.train()
    if (output_dir / TRAINER_DIR).exists():
        shutil.rmtree(output_dir / TRAINER_DIR)
    return result
