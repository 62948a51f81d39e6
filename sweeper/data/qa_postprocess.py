"""QA model logits → answer text in the original contexts.

A numpy-only port of HF transformers ``examples/pytorch/question-answering/utils_qa.py``
(``postprocess_qa_predictions``) without its file output, n-best lists and progress bar: per
window the ``n_best_size`` highest start and end logits are paired, pairs that leave the
context, run backwards or span more than ``max_answer_length`` tokens are dropped, and the
example's answer is the remaining pair with the highest start + end logit over all of its
windows. With ``version_2_with_negative`` (SQuAD 2.0) the null answer, scored by the lowest
CLS start + end logit over the example's windows, wins when it beats the best span by more than
``null_score_diff_threshold``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sweeper.data.features.qa import CLS_INDEX


def postprocess_qa_predictions(
    examples: Sequence[Mapping[str, Any]],
    features: Mapping[str, Sequence[Any]],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    version_2_with_negative: bool = False,
    null_score_diff_threshold: float = 0.0,
) -> tuple[dict[str, str], dict[str, float]]:
    """Pick each example's answer text from the start/end logits of its windows.

    Args:
        examples: the QA examples (``"id"`` and ``"context"`` are used), one prediction each.
        features: the output of :func:`sweeper.data.features.qa.prepare_qa_eval_features` (or a
            ``datasets.Dataset`` made from it): columns ``example_id`` and ``offset_mapping``
            (per token a ``(start, end)`` character span of the context, ``None`` outside it).
        start_logits: shape ``(num_features, seq_len)``, row ``i`` for window ``i`` of
            ``features``; ``seq_len`` may exceed a window's length (padding is never picked).
        end_logits: shape ``(num_features, seq_len)``.
        n_best_size: how many of the highest start and of the highest end logits of each window
            are paired.
        max_answer_length: longest answer, in tokens.
        version_2_with_negative: whether the null answer (empty string) may be predicted.
        null_score_diff_threshold: the null answer wins when its score exceeds the best span's
            score by more than this (logit units).

    Returns:
        ``(predictions, null_score_diffs)``: answer text by example id (``""`` for the null
        answer, or when no window holds a valid span); and, only with
        ``version_2_with_negative``, by example id the null score minus the best span's score
        (``inf`` when there is no valid span), usable as ``na_probs`` in the SQuAD 2.0 scorer.
        Without it the second dict is empty.

    Raises:
        ValueError: if the logits do not have one row per feature or are shorter than a window,
            a feature names an unknown example or an example has no feature, or ``n_best_size``
            or ``max_answer_length`` is below 1.
    """
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    example_ids, offset_mappings = list(features["example_id"]), list(features["offset_mapping"])
    _check_inputs(start_logits, end_logits, offset_mappings, n_best_size, max_answer_length)
    features_per_example: dict[str, list[int]] = defaultdict(list)
    for feature_index, example_id in enumerate(example_ids):
        features_per_example[example_id].append(feature_index)
    unknown = set(features_per_example) - {example["id"] for example in examples}
    if unknown:
        raise ValueError(f"Features refer to example ids that are not in `examples`: {sorted(unknown)[:5]}.")

    predictions: dict[str, str] = {}
    null_score_diffs: dict[str, float] = {}
    for example in examples:
        feature_indices = features_per_example.get(example["id"])
        if not feature_indices:
            raise ValueError(f"Example {example['id']!r} has no feature; were the features built from these examples?")
        best_score, best_text = -np.inf, ""
        for i in feature_indices:
            span = _best_span(start_logits[i], end_logits[i], offset_mappings[i], n_best_size, max_answer_length)
            if span is not None and span[0] > best_score:
                best_score, best_text = span[0], example["context"][span[1] : span[2]]
        if version_2_with_negative:
            null_score = min(start_logits[i, CLS_INDEX] + end_logits[i, CLS_INDEX] for i in feature_indices)
            score_diff = float(null_score - best_score)
            null_score_diffs[example["id"]] = score_diff
            predictions[example["id"]] = "" if score_diff > null_score_diff_threshold else best_text
        else:
            predictions[example["id"]] = best_text
    return predictions, null_score_diffs


def _best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[Sequence[int] | None],
    n_best_size: int,
    max_answer_length: int,
) -> tuple[float, int, int] | None:
    """``(score, start_char, end_char)`` of one window's best valid span, or ``None`` if none is valid."""
    in_context = np.zeros(len(start_logits), dtype=bool)
    in_context[: len(offsets)] = [offset is not None for offset in offsets]
    starts = np.argsort(start_logits)[::-1][:n_best_size, None]
    ends = np.argsort(end_logits)[::-1][None, :n_best_size]
    valid = in_context[starts] & in_context[ends] & (ends >= starts) & (ends - starts + 1 <= max_answer_length)
    scores = np.where(valid, start_logits[starts] + end_logits[ends], -np.inf)
    best = np.unravel_index(np.argmax(scores), scores.shape)
    if not valid[best]:
        return None
    start, end = int(starts[best[0], 0]), int(ends[0, best[1]])
    return float(scores[best]), offsets[start][0], offsets[end][1]


def _check_inputs(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offset_mappings: Sequence[Sequence[Any]],
    n_best_size: int,
    max_answer_length: int,
) -> None:
    if n_best_size < 1 or max_answer_length < 1:
        raise ValueError(f"n_best_size ({n_best_size}) and max_answer_length ({max_answer_length}) must both be >= 1.")
    if start_logits.ndim != 2 or start_logits.shape != end_logits.shape:
        raise ValueError(
            f"start_logits {start_logits.shape} and end_logits {end_logits.shape} must both have shape (num_features, seq_len)."
        )
    if len(start_logits) != len(offset_mappings):
        raise ValueError(f"Got logits for {len(start_logits)} features but {len(offset_mappings)} features.")
    longest = max((len(offsets) for offsets in offset_mappings), default=0)
    if start_logits.shape[1] < longest:
        raise ValueError(
            f"Logits have seq_len {start_logits.shape[1]} but a feature has {longest} tokens; pass the logits of every token."
        )
