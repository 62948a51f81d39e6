"""Fine-tuning one stage with the Hugging Face ``Trainer`` (no Ray, no MLflow here).

The trainer's ``evaluate`` is replaced, as HF's ``trainer_qa.py`` does, by the task type's own
scoring on the English dev subset, so that QA post-processing and seqeval run inside the
training loop. Every evaluation calls ``on_evaluation`` and every checkpoint saved right after it
calls ``on_checkpoint`` (the Ray/MLflow adapters hook in there); the best checkpoint by ``score``
is restored at the end (jiant: best model restored). A run can resume from a saved checkpoint
(``resume_from``): evaluations keep counting from the checkpoint's trainer state.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from sweeper.config import TrainingConfig, total_optimizer_steps
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec
from sweeper.storage import TRAINER_DIR, link_or_copy
from sweeper.task_types import TaskType

logger = logging.getLogger(__name__)

#: ``on_evaluation(evaluation, step, metrics)``: ``evaluation`` counts from 1 (Tune ``time_attr``),
#: ``step`` is the optimizer step, ``metrics`` are 0–100 with ``score`` the selection metric.
EvaluationCallback = Callable[[int, int, dict[str, float]], None]


class CheckpointCallback(Protocol):
    """Takes the full checkpoint (model, optimizer, scheduler, RNG, trainer state) the Trainer saves
    right after each English-dev evaluation, e.g. to store it where a retry resumes from."""

    def __call__(self, evaluation: int, step: int, metrics: dict[str, float], checkpoint_dir: Path) -> None:
        """``evaluation`` counts from 1, ``step`` is the optimizer step, ``metrics`` are 0–100;
        ``checkpoint_dir`` is deleted when the Trainer saves its next checkpoint, so a store that
        outlives the call links or copies it first."""

    def flush(self) -> None:
        """Return once every checkpoint handed over is stored; raise if one could not be. Called
        on every process when training ends, before the stage keeps or publishes anything."""


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


#: In a reported checkpoint whose evaluation is not the best so far: the best one's model files
#: (no optimizer state), so a run resumed from it elsewhere still ends on the best model.
BEST_WEIGHTS_DIR = "best_model_weights"
#: Checkpoint files that are training state, not the model (not carried into BEST_WEIGHTS_DIR).
_TRAINING_STATE_PREFIXES = ("optimizer", "scheduler", "rng_state", "scaler", "trainer_state", "training_args")


def carry_best_model(best: Path, checkpoint_dir: Path) -> None:
    """Put the model files of checkpoint ``best`` (no training state) into
    ``checkpoint_dir/``:data:`BEST_WEIGHTS_DIR`, replacing what is there: a retried trial saves
    its checkpoints again into the folders its cut-short attempt left behind."""
    carried = checkpoint_dir / BEST_WEIGHTS_DIR
    if carried.resolve() == best.resolve():  # resumed from this very checkpoint: carried already
        return
    if carried.exists():
        shutil.rmtree(carried)
    carried.mkdir()
    for file in best.iterdir():
        if file.is_file() and not file.name.startswith(_TRAINING_STATE_PREFIXES):
            link_or_copy(file, carried / file.name)


class _ReportEvaluations(TrainerCallback):
    """Keeps ``result`` in step with the evaluations in the trainer state's log history (which a
    resumed run restores from its checkpoint) and calls the evaluation and checkpoint callbacks.

    A checkpoint handed to ``on_checkpoint`` is self-contained: when an earlier evaluation is the
    best, that checkpoint's model files are copied into it (:data:`BEST_WEIGHTS_DIR`). A run
    resumed from such a checkpoint (``resume_from``), where the best checkpoint's own folder is
    gone (another node, a cleaned trial folder), restores the best model from there at the end.
    """

    def __init__(
        self,
        on_evaluation: EvaluationCallback,
        on_checkpoint: CheckpointCallback | None,
        result: StageResult,
        resume_from: Path | None = None,
    ):
        self._on_evaluation = on_evaluation
        self._on_checkpoint = on_checkpoint
        self._result = result
        self._resume_from = resume_from

    def _sync(self, state) -> None:
        self._result.history[:] = [
            (entry["step"], {key.removeprefix("eval_"): value for key, value in entry.items() if key.startswith("eval_")})
            for entry in state.log_history
            if "eval_score" in entry
        ]
        if self._result.history:
            best_index = max(
                range(len(self._result.history)), key=lambda index: (self._result.history[index][1]["score"], -index)
            )
            self._result.best_step, best = self._result.history[best_index]
            self._result.best_score = best["score"]

    def on_train_begin(self, args, state, control, **kwargs):
        # The Trainer forgets a best checkpoint whose folder is gone: take the one carried along.
        if self._resume_from is not None and state.best_model_checkpoint is None and state.best_global_step:
            carried = self._resume_from / BEST_WEIGHTS_DIR
            if carried.is_dir():
                state.best_model_checkpoint = str(carried)
            elif state.best_global_step == state.global_step:
                state.best_model_checkpoint = str(self._resume_from)
        self._sync(state)  # a resumed run: the evaluations before its checkpoint (it may need no more)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._sync(state)
        self._on_evaluation(len(self._result.history), state.global_step, self._result.history[-1][1])

    def on_save(self, args, state, control, **kwargs):
        if self._on_checkpoint is not None and self._result.history and self._result.history[-1][0] == state.global_step:
            checkpoint_dir = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            best = Path(state.best_model_checkpoint) if state.best_model_checkpoint else None
            # only the process that saved the checkpoint adds to it (every rank runs callbacks)
            if state.is_world_process_zero and best is not None and best.resolve() != checkpoint_dir.resolve():
                carry_best_model(best, checkpoint_dir)
            self._on_checkpoint(len(self._result.history), state.global_step, self._result.history[-1][1], checkpoint_dir)


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


#: DataLoader worker processes at most, per trial worker on a GPU (:func:`dataloader_workers`).
MAX_DATALOADER_WORKERS = 2


def host_threads(cpus: float) -> int:
    """Torch threads of a trial worker given ``cpus`` CPUs (``resources.cpus_per_worker``, may be
    fractional): ``floor(cpus)``, at least 1. Set explicitly, not left to ``OMP_NUM_THREADS``
    (which Ray does not override where a cluster exports it), so that trials packed on one node
    never oversubscribe its cores."""
    return max(1, math.floor(cpus))


def dataloader_workers(threads: int, on_gpu: bool) -> int:
    """``dataloader_num_workers`` for a trial worker with ``threads`` CPU threads.

    On a GPU, the worker's spare CPUs collate and pin the next batches while its main thread
    drives the GPU: ``threads - 1`` processes, at most :data:`MAX_DATALOADER_WORKERS` (collating a
    dynamically padded batch of lists costs about a millisecond). On the CPU none: the model's own
    threads use every CPU, and a collating process would take one from them.
    """
    return min(MAX_DATALOADER_WORKERS, threads - 1) if on_gpu else 0


def train_stage(
    model: torch.nn.Module,
    tokenizer,
    task_type: TaskType,
    spec: TaskSpec,
    train_features: Sequence[dict],
    dev_examples: list[dict],
    settings: TrainingConfig,
    output_dir: Path,
    on_evaluation: EvaluationCallback,
    on_checkpoint: CheckpointCallback | None = None,
    resume_from: Path | None = None,
) -> StageResult:
    """Train ``model`` on ``train_features`` (the task type's :meth:`~TaskType.train_features`,
    or their cached copy: :mod:`sweeper.cache.features`), evaluating on ``dev_examples`` every
    ``eval_steps``.

    The task type gives the collator and scores English dev (tokenized once, before training);
    :func:`run_trainer` does the rest.

    Each evaluation is followed by a full checkpoint (``on_checkpoint`` gets its folder; it is
    deleted when the next one is saved, unless it holds the best model; when an earlier one is
    the best, its model files are copied into it, under :data:`BEST_WEIGHTS_DIR`); when training
    ends, ``on_checkpoint.flush()`` returns before anything else happens.
    ``resume_from``: a checkpoint folder of this same run
    (``Trainer.train(resume_from_checkpoint=...)``): training continues at its step with its
    optimizer, scheduler and RNG states, evaluations keep their numbers, and the best model is
    restored at the end even when only that folder is left; ``history`` then also holds the
    evaluations made before it.

    Raises:
        ValueError: ``train_features`` is empty.
    """
    if not len(train_features):
        raise ValueError(f"task {spec.task!r}: no training features")

    dev_features = task_type.prediction_features(
        dev_examples, tokenizer, spec, settings, TRAIN_LANGUAGE
    )  # once, not per evaluation

    def evaluate(trained: torch.nn.Module) -> dict[str, float]:
        evaluation = task_type.evaluate(trained, tokenizer, dev_examples, spec, settings, TRAIN_LANGUAGE, dev_features)
        return {"score": evaluation.metrics[spec.metric], **evaluation.metrics}

    return run_trainer(
        model,
        train_features,
        dev_examples,
        task_type.collator(tokenizer),
        evaluate,
        settings,
        output_dir,
        on_evaluation,
        label=spec.task,
        on_checkpoint=on_checkpoint,
        resume_from=resume_from,
    )


def run_trainer(
    model: torch.nn.Module,
    train_features: Sequence[dict],
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
    on_checkpoint: CheckpointCallback | None = None,
    resume_from: Path | None = None,
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
        on_checkpoint, resume_from: see :func:`train_stage`.
    """
    if settings.freeze_word_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    world_size = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    total_steps = total_optimizer_steps(len(train_features), settings, world_size)
    eval_steps = min(settings.eval_steps, total_steps)
    if eval_steps < settings.eval_steps:
        logger.info("%s: %d steps < eval_steps=%d; evaluating at step %d", label, total_steps, settings.eval_steps, eval_steps)
    precision = precision_arguments(
        settings.mixed_precision, torch.cuda.is_available(), torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    micro_batch, accumulation = settings.per_device_train_batch_size, settings.gradient_accumulation_steps
    if accumulation == "auto":
        from sweeper.training.memory_probe import MULTIPLE_CHOICE_PROBE_CHOICES, auto_micro_batch

        choices = MULTIPLE_CHOICE_PROBE_CHOICES if "MultipleChoice" in type(model).__name__ else None
        resolved = "bf16" if precision["bf16"] else "fp16" if precision["fp16"] else "no"
        micro_batch, accumulation = auto_micro_batch(model, settings, resolved, choices)
        logger.info(
            "%s: batch %d run as %d × %d accumulated (gradient_accumulation_steps: auto)",
            label,
            settings.per_device_train_batch_size,
            micro_batch,
            accumulation,
        )
    workers = dataloader_workers(torch.get_num_threads(), torch.cuda.is_available())
    args = TrainingArguments(
        output_dir=str(output_dir / TRAINER_DIR),
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=micro_batch,
        per_device_eval_batch_size=settings.per_device_eval_batch_size,
        gradient_accumulation_steps=accumulation,
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
        load_best_model_at_end=True,
        metric_for_best_model="score",
        greater_is_better=True,
        logging_steps=max(1, eval_steps // 4),
        report_to="none",
        disable_tqdm=True,
        # the trial's CPUs: the worker set torch's threads from resources.cpus_per_worker (host_threads)
        dataloader_num_workers=workers,
        dataloader_persistent_workers=workers > 0,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Ray Train initialises a process group, so the Trainer wraps the model in DDP even with
        # one worker; when every parameter is used in forward, skip DDP's unused-parameter search.
        ddp_find_unused_parameters=not all_parameters_used,
        use_cpu=not torch.cuda.is_available(),
        **precision,
    )
    result = StageResult(best_score=-math.inf, best_step=0)
    trainer = (make_trainer or TaskEvaluationTrainer)(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=dev_examples,
        data_collator=collator,
        callbacks=[_ReportEvaluations(on_evaluation, on_checkpoint, result, resume_from)],
        evaluate_fn=evaluate,
    )
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if on_checkpoint is not None:
        on_checkpoint.flush()  # no stage is published on top of a checkpoint that was not stored
    # Data-parallel ranks on one node share output_dir: the process that saved alone removes.
    if trainer.is_world_process_zero() and (output_dir / TRAINER_DIR).exists():
        shutil.rmtree(output_dir / TRAINER_DIR)
    return result
