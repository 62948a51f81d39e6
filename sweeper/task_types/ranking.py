"""Frozen-encoder features of a target task's training data for LogME (:mod:`sweeper.metrics.logme`).

LogME (You et al., ICML 2021) scores a feature matrix against labels; its paper covers
classification and regression with one feature vector per example. A target task is adapted to
that form the way its fine-tuning head reads the encoder, so that LogME measures how well a
*linear* head on the frozen encoder fits the labels the target stage trains on:

* ``classification`` (XNLI, PAWS-X): one row per example, the mean over non-padding tokens of the
  last hidden layer of ``<s> text_a </s></s> text_b </s>``; targets: the one-hot label.
* ``multiple_choice``: one row per (example, choice) pair, mean-pooled like classification;
  one 0/1 target (the choice is the gold one), as the head scores each choice on its own.
* ``token_tagging`` (UD-POS, PAN-X): one row per word, the last hidden state of its first
  sub-word (the token the tagging head is trained on; later sub-words carry ``-100``); targets:
  the one-hot tag.
* ``span_qa`` (XQuAD, MLQA, TyDiQA): one row per non-padding token of each training window,
  the token's last hidden state; two 0/1 targets: the token is the answer start, the token is
  the answer end (CLS for a window without the answer), i.e. the two per-token logits of the QA
  head. LogME is the mean of the two targets' evidences.

Features come from the task type's own ``train_features`` and ``collator`` (the tokenization,
windows and label alignment the target stage trains on), so nothing here tokenizes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sweeper.config import TrainingConfig
from sweeper.metrics.logme import LogMEAccumulator, one_hot
from sweeper.metrics.retrieval import mean_pool
from sweeper.progress.bars import Progress
from sweeper.registry import TaskSpec
from sweeper.task_types.base import get_task_type

IGNORE_INDEX = -100

Rows = tuple[np.ndarray, np.ndarray]


def _pooled(hidden: torch.Tensor, batch: dict) -> np.ndarray:
    return mean_pool(hidden, batch["attention_mask"].to(hidden.dtype)).cpu().numpy()


def _classification_rows(hidden: torch.Tensor, batch: dict, num_labels: int) -> Rows:
    return _pooled(hidden, batch), one_hot(batch["labels"].cpu().numpy(), num_labels)


def _multiple_choice_rows(hidden: torch.Tensor, batch: dict, num_labels: int) -> Rows:
    num_choices = batch["input_ids"].shape[1]
    gold = batch["labels"].cpu().numpy()
    targets = (np.arange(num_choices)[None, :] == gold[:, None]).astype(np.float64).reshape(-1, 1)
    return _pooled(hidden, batch), targets


def _tagging_rows(hidden: torch.Tensor, batch: dict, num_labels: int) -> Rows:
    labels = batch["labels"]
    keep = labels != IGNORE_INDEX
    return hidden[keep].cpu().numpy(), one_hot(labels[keep].cpu().numpy(), num_labels)


def _span_rows(hidden: torch.Tensor, batch: dict, num_labels: int) -> Rows:
    keep = batch["attention_mask"].bool()
    positions = torch.arange(hidden.shape[1], device=hidden.device)[None, :]
    is_start = positions == batch["start_positions"][:, None]
    is_end = positions == batch["end_positions"][:, None]
    targets = torch.stack([is_start[keep], is_end[keep]], dim=-1).double()
    return hidden[keep].cpu().numpy(), targets.cpu().numpy()


#: task type → (its rows and targets from the last hidden layer, its number of target columns).
_ADAPTATIONS: dict[str, tuple[Callable[[torch.Tensor, dict, int], Rows], Callable[[TaskSpec], int]]] = {
    "classification": (_classification_rows, lambda spec: len(spec.labels)),
    "multiple_choice": (_multiple_choice_rows, lambda spec: 1),
    "token_tagging": (_tagging_rows, lambda spec: len(spec.labels)),
    "span_qa": (_span_rows, lambda spec: 2),
}


def supports_logme(spec: TaskSpec) -> bool:
    """Whether LogME features are defined for the task's type (retrieval tasks: no)."""
    return spec.task_type in _ADAPTATIONS


@torch.no_grad()
def logme_statistics(encoder, tokenizer, spec: TaskSpec, examples: list[dict], settings: TrainingConfig) -> LogMEAccumulator:
    """LogME's sufficient statistics of ``examples`` (the target's English training examples)
    through a frozen ``encoder``, with the adaptation of the module docstring.

    Args:
        encoder: a ``transformers`` ``AutoModel`` (no head); run in eval mode, batches of
            ``settings.per_device_eval_batch_size`` features.
        spec: the target task, its labels resolved (``sweeper.data.sources.resolve_labels``).
        settings: the target stage's settings (``max_seq_length``, QA windows).

    Raises:
        ValueError: the task type has no LogME adaptation (retrieval), or no rows came out.
    """
    if not supports_logme(spec):
        raise ValueError(f"task {spec.task!r} ({spec.task_type}) has no LogME features; rank it by its dev metric")
    rows_of, num_targets = _ADAPTATIONS[spec.task_type]
    task_type = get_task_type(spec.task_type)
    features = task_type.train_features(examples, tokenizer, spec, settings)
    collator = task_type.collator(tokenizer)
    encoder.eval()
    device = next(encoder.parameters()).device
    accumulator = LogMEAccumulator(encoder.config.hidden_size, num_targets(spec))
    batch_size = settings.per_device_eval_batch_size
    with Progress(f"LogME features {spec.task}", len(features), "feature") as progress:
        for start in range(0, len(features), batch_size):
            batch = {key: value.to(device) for key, value in collator(features[start : start + batch_size]).items()}
            inputs = {key: value for key, value in batch.items() if key in tokenizer.model_input_names}
            if inputs["input_ids"].dim() == 3:  # multiple choice: (batch, choices, length) → (batch·choices, length)
                inputs = {key: value.flatten(0, 1) for key, value in inputs.items()}
                batch = {**batch, "attention_mask": inputs["attention_mask"]}
            hidden = encoder(**inputs).last_hidden_state.double()
            rows, targets = rows_of(hidden, batch, accumulator.cross.shape[1])
            if len(rows):
                accumulator.add(rows, targets)
            progress.advance(min(batch_size, len(features) - start))
    if accumulator.count < 2:
        raise ValueError(f"task {spec.task!r}: {accumulator.count} LogME rows from {len(examples)} examples; need at least 2")
    return accumulator


def logme_score(encoder, tokenizer, spec: TaskSpec, examples: list[dict], settings: TrainingConfig) -> float:
    """LogME of ``encoder`` for the target ``spec`` on ``examples``: the mean over target columns
    of the maximized evidence per example (nats; higher ranks first; see :func:`logme_statistics`)."""
    evidences = logme_statistics(encoder, tokenizer, spec, examples, settings).evidences()
    return float(np.mean([evidence.log_evidence for evidence in evidences]))
