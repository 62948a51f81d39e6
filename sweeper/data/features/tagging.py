"""Tagging examples → first-subword-labelled features, and per-token predictions → one label per word.

Source: HF transformers ``examples/pytorch/token-classification/run_ner.py``
(``tokenize_and_align_labels`` with ``label_all_tokens=False``): the first piece of each word
carries the word's label, its other pieces and the special tokens :data:`IGNORE_INDEX`.

Training cuts a sentence at ``max_seq_length`` tokens, as ``run_ner.py`` does. Prediction must
label every word, so a sentence longer than a window is split into overlapping windows, as QA
contexts are with ``doc_stride`` (HF ``run_qa.py``), and each word is predicted from the window
where its first piece has the most context: the largest ``min(pieces before it, pieces after
it)`` inside the window (the "max context" rule of BERT's ``run_squad.py``
``_check_is_max_context``; the first such window on a tie).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from transformers import PreTrainedTokenizerBase

from sweeper.data.features._common import (
    IGNORE_INDEX,
    check_fast,
    check_max_length,
    check_not_empty,
    lookup_label,
)


def align_tagging_labels(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    label_to_id: Mapping[str, int],
    max_seq_length: int,
    doc_stride: int | None = None,
) -> dict[str, list]:
    """Tokenize pre-split sentences and put each word's tag on its first piece.

    A word can yield no piece at all: the empty string, or a word of characters the tokenizer's
    normalizer deletes (with XLM-R's, control characters such as U+0001 and U+007F); such a word
    has no label here and no prediction later.

    Args:
        examples: tagging examples ``{"id", "tokens": [...], "tags": [...]}``.
        tokenizer: a fast tokenizer (``word_ids`` are needed).
        label_to_id: tag string → class index.
        max_seq_length: tokens per feature, special tokens included.
        doc_stride: ``None``: one feature per example, cut at ``max_seq_length`` (training).
            Otherwise every piece of every sentence is kept: a sentence longer than a window gives
            several windows, consecutive ones sharing ``doc_stride`` pieces (prediction).

    Returns:
        A dict of lists, one entry per feature: the tokenizer's model inputs, ``labels`` (same
        length as ``input_ids``), ``word_ids`` (per token the index of its word in ``tokens``,
        ``None`` for special tokens), ``first_piece`` (per token: it is its word's first piece in
        the whole sentence), ``window_index`` (0 for an example's first feature, 1 for its
        second window, ...) and ``num_words`` (``len(tokens)`` of the example). Each value depends
        on its own example only, so encoding in chunks gives the same columns. Pass them to
        :func:`predictions_to_word_labels`.

    Raises:
        ValueError: if ``examples`` is empty, the tokenizer is not fast, ``max_seq_length``
            exceeds the model's or leaves no room for a piece, ``doc_stride`` is not in
            ``[0, pieces per window)``, ``tokens`` and ``tags`` differ in length, or a tag is not
            in ``label_to_id``.
    """
    check_not_empty(examples)
    check_fast(tokenizer)
    check_max_length(tokenizer, max_seq_length)
    room = max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
    if room < 1:
        raise ValueError(f"The value of `max_seq_length` is {max_seq_length}, which leaves no room for a piece.")
    if doc_stride is not None and not 0 <= doc_stride < room:
        raise ValueError(
            f"The value of `doc_stride` is {doc_stride}, but must be `0 <= doc_stride < {room}` (the pieces of a "
            f"window of max_seq_length={max_seq_length}) so that each window advances."
        )
    for example in examples:
        if len(example["tokens"]) != len(example["tags"]):
            raise ValueError(
                f"Tagging example {example['id']!r} has {len(example['tokens'])} tokens but {len(example['tags'])} tags."
            )
    sentences = [list(example["tokens"]) for example in examples]
    encoded = tokenizer(
        sentences,
        is_split_into_words=True,
        truncation=True,
        max_length=max_seq_length,
        stride=doc_stride or 0,
        return_overflowing_tokens=True,
    )
    # each word's first piece in the whole sentence; a window's pieces start (room - doc_stride)
    # pieces after the previous window's (the tokenizer's overflow with `stride`)
    whole = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    step = room - (doc_stride or 0)
    features: dict[str, list] = {"labels": [], "word_ids": [], "first_piece": [], "window_index": [], "num_words": []}
    windows_so_far: dict[int, int] = {}
    for row, sample in enumerate(encoded["overflow_to_sample_mapping"]):
        window = windows_so_far[sample] = windows_so_far.get(sample, -1) + 1
        if doc_stride is None and window > 0:
            continue  # training: the sentence is cut at max_seq_length
        example, word_ids = examples[sample], encoded.word_ids(row)
        sentence_words = whole.word_ids(sample)
        start = window * step
        content = [word for word in word_ids if word is not None]
        if content != sentence_words[start : start + len(content)]:
            raise RuntimeError(
                f"{type(tokenizer).__name__} did not cut {example['id']!r} into windows of {room} pieces every {step}"
            )
        first = iter(
            position == 0 or sentence_words[position - 1] != sentence_words[position]
            for position in range(start, start + len(content))
        )
        first_piece = [word is not None and next(first) for word in word_ids]
        for name in tokenizer.model_input_names:
            if name in encoded:
                features.setdefault(name, []).append(encoded[name][row])
        features["labels"].append(
            [
                lookup_label(label_to_id, example["tags"][word], f"Tagging example {example['id']!r}")
                if is_first
                else IGNORE_INDEX
                for word, is_first in zip(word_ids, first_piece, strict=True)
            ]
        )
        features["word_ids"].append(word_ids)
        features["first_piece"].append(first_piece)
        features["window_index"].append(window)
        features["num_words"].append(len(example["tokens"]))
    return features


class WordLabels(NamedTuple):
    """Per-word predictions of a tagging model, see :func:`predictions_to_word_labels`."""

    labels: list[list[str]]
    """One label per original word, per example."""
    num_windowed_sentences: int
    """Sentences that needed more than one window."""
    num_empty_words: int
    """Words the tokenizer turned into no piece (labelled ``"O"``), summed over examples."""


def predictions_to_word_labels(
    features: Mapping[str, Sequence],
    predicted_ids: Sequence[Sequence[int]],
    id_to_label: Mapping[int, str],
) -> WordLabels:
    """Map per-token predicted class ids back to one label per original word.

    Each word takes the prediction on its first piece (the piece that carried its label in
    training, HF ``run_ner.py``), from the window where that piece has the most context (see the
    module docstring). Words with no piece get ``"O"`` and are counted.

    Args:
        features: the columns ``word_ids``, ``first_piece``, ``window_index`` and ``num_words``
            of :func:`align_tagging_labels` (one entry per feature, in the order it returns them).
        predicted_ids: per feature the predicted class id of each token, shape
            ``(num_features, seq_len)`` with ``seq_len >= len(word_ids)`` (padding is ignored).
        id_to_label: class index → tag string.

    Returns:
        A :class:`WordLabels` with one label per word of every example.

    Raises:
        ValueError: if the columns and ``predicted_ids`` differ in number of features, a
            prediction row is shorter than its ``word_ids``, a word index is out of range, or an
            id is not in ``id_to_label``.
    """
    columns = ("word_ids", "first_piece", "window_index", "num_words")
    counts = {name: len(features[name]) for name in columns} | {"predicted_ids": len(predicted_ids)}
    if len(set(counts.values())) != 1:
        raise ValueError(f"{counts} must all have one entry per feature.")
    best: list[dict[int, tuple[int, int]]] = []  # per example: word → (context, predicted id)
    num_words: list[int] = []
    windows: list[int] = []
    for feature, (word_ids, first_piece, window, n_words, predictions) in enumerate(
        zip(*(features[name] for name in columns), predicted_ids, strict=True)
    ):
        if len(predictions) < len(word_ids):
            raise ValueError(
                f"Feature {feature}: {len(predictions)} predictions for {len(word_ids)} tokens; "
                "predicted_ids must cover every token of the feature."
            )
        if window > 0 and best:
            windows[-1] += 1
        else:
            best.append({})
            num_words.append(n_words)
            windows.append(1)
        content = [position for position, word in enumerate(word_ids) if word is not None]
        for rank, position in enumerate(content):
            word = word_ids[position]
            if not 0 <= word < n_words:
                raise ValueError(f"Feature {feature}: word index {word} outside the {n_words} words.")
            if not first_piece[position]:
                continue
            context = min(rank, len(content) - 1 - rank)
            if word not in best[-1] or context > best[-1][word][0]:
                best[-1][word] = (context, int(predictions[position]))
    all_labels, empty_total = [], 0
    for chosen, n_words in zip(best, num_words, strict=True):
        empty_total += n_words - len(chosen)
        all_labels.append(
            [lookup_label(id_to_label, chosen[word][1], f"Word {word}") if word in chosen else "O" for word in range(n_words)]
        )
    return WordLabels(all_labels, sum(count > 1 for count in windows), empty_total)
