"""Classification and multiple-choice examples → model inputs with their labels.

Sources: HF transformers ``examples/pytorch/text-classification/run_glue.py`` / ``run_xnli.py``
(pairs cut longest-first) and ``examples/pytorch/multiple-choice/run_swag.py``
(``preprocess_function``). Nothing is padded: the collator pads each batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PreTrainedTokenizerBase

from sweeper.data.features._common import (
    check_max_length,
    check_not_empty,
    lookup_label,
)


def encode_classification(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    label_to_id: Mapping[str, int],
    max_seq_length: int,
) -> dict[str, list]:
    """Tokenize single sentences or sentence pairs with their class labels.

    Pairs are cut longest-first to ``max_seq_length`` tokens, as in HF ``run_glue.py`` /
    ``run_xnli.py`` (``truncation=True``). A batch may mix pairs and single sentences.

    Args:
        examples: ``{"id", "text_a", "text_b", "label"}``; ``text_b`` is ``None`` for
            single-sentence tasks.
        tokenizer: any HF tokenizer.
        label_to_id: label string → class index.
        max_seq_length: tokens per feature, special tokens included.

    Returns:
        A dict of lists, one entry per example: the tokenizer's model inputs and ``labels``
        (class indices).

    Raises:
        ValueError: if ``examples`` is empty, a label is not in ``label_to_id``, or
            ``max_seq_length`` exceeds the model's.
    """
    check_not_empty(examples)
    check_max_length(tokenizer, max_seq_length)
    labels = [lookup_label(label_to_id, example["label"], f"Example {example['id']!r}") for example in examples]
    features = _encode_texts(
        tokenizer,
        [example["text_a"] for example in examples],
        [example["text_b"] for example in examples],
        max_seq_length,
    )
    features["labels"] = labels
    return features


def encode_multiple_choice(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
) -> dict[str, list]:
    """Tokenize one (context, question + choice) pair per answer choice.

    As in HF ``run_swag.py``: the first segment is the context, the second the question and the
    choice joined by a space (just the choice when the question is empty, as for HellaSwag
    endings); each pair is cut longest-first to ``max_seq_length`` tokens. An empty context (as
    in CommonsenseQA) leaves the second segment alone.

    Args:
        examples: ``{"id", "context", "question", "choices": [...], "label": int}``.
        tokenizer: any HF tokenizer.
        max_seq_length: tokens per choice, special tokens included.

    Returns:
        A dict of lists, one entry per example: each model input (e.g. ``input_ids``) is a
        ``list[list[int]]`` of shape ``(num_choices, seq_len_of_choice)``, unpadded; ``labels``
        is the index of the correct choice.

    Raises:
        ValueError: if ``examples`` is empty, an example has no choices or its label is not a
            valid choice index, or ``max_seq_length`` exceeds the model's.
    """
    check_not_empty(examples)
    check_max_length(tokenizer, max_seq_length)
    firsts, seconds = [], []
    for example in examples:
        choices, label = example["choices"], example["label"]
        if not choices or not 0 <= label < len(choices):
            raise ValueError(
                f"Multiple-choice example {example['id']!r}: label {label!r} is not an index into its {len(choices)} choices."
            )
        question, context = example["question"], example["context"]
        for choice in choices:
            ending = f"{question} {choice}" if question else choice
            firsts.append(context or ending)
            seconds.append(ending if context else None)
    flat = _encode_texts(tokenizer, firsts, seconds, max_seq_length)
    features: dict[str, list] = {name: [] for name in flat}
    start = 0
    for example in examples:
        stop = start + len(example["choices"])
        for name, column in features.items():
            column.append(flat[name][start:stop])
        start = stop
    features["labels"] = [example["label"] for example in examples]
    return features


def _encode_texts(
    tokenizer: PreTrainedTokenizerBase,
    firsts: Sequence[str],
    seconds: Sequence[str | None],
    max_seq_length: int,
) -> dict[str, list]:
    """Model inputs of ``(first, second)`` pairs, or of ``first`` alone where ``second`` is None, in order."""
    rows: list[dict[str, list[int]]] = [{} for _ in firsts]
    for is_pair in (False, True):
        indices = [i for i, second in enumerate(seconds) if (second is not None) == is_pair]
        if not indices:
            continue
        texts = [[firsts[i] for i in indices]] + ([[seconds[i] for i in indices]] if is_pair else [])
        encoded = tokenizer(*texts, truncation=True, max_length=max_seq_length)
        for name in tokenizer.model_input_names:
            if name in encoded:
                for position, i in enumerate(indices):
                    rows[i][name] = encoded[name][position]
    return {name: [row[name] for row in rows] for name in rows[0]}
