"""Examples → model features for the four trainable task types.

Every function takes a list of example dicts in the schema the readers produce and a
``transformers`` *fast* tokenizer, and returns a dict of lists (one entry per feature) that
``datasets.Dataset.from_dict`` or a torch collator can take. Nothing is padded here: the
collator pads each batch dynamically. All lengths are in tokens, special tokens included.

Sources (trimmed of their file side effects and ``datasets.map`` plumbing):

* QA windows and answer labels: HF transformers ``examples/pytorch/question-answering/run_qa.py``
  (``prepare_train_features``, ``prepare_validation_features``); the question cut to
  ``max_query_length`` tokens follows the older transformers SQuAD featurizer
  (``transformers.data.processors.squad``, ``max_query_length=64``), which ``run_qa.py`` dropped.
* Tagging: ``examples/pytorch/token-classification/run_ner.py`` (``tokenize_and_align_labels``
  with ``label_all_tokens=False``).
* Multiple choice: ``examples/pytorch/multiple-choice/run_swag.py`` (``preprocess_function``).

Offsets. XLM-R's SentencePiece pre-tokenizer (Metaspace) turns each space into ``"▁"`` and glues
it to the next piece, so the character offsets of a word-initial piece include the space before
it (``" is"`` → ``(4, 7)``), and a piece may consist of ``"▁"`` alone. Characters that the
tokenizer's normalizer turns into a space or deletes (a zero-width space, some control
characters) likewise end up inside a neighbouring piece's offsets. The QA functions strip such
*blank* characters from both ends of every context token, so each token's ``(start, end)`` covers
exactly the characters its piece stands for; a token left covering nothing can neither start nor
end an answer. An answer can then be recovered exactly from its token span unless one of its
boundaries falls inside a piece (``"1995"`` in ``"▁1995."``) or on a blank character.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
"""Label of tokens the loss skips (``torch.nn.CrossEntropyLoss`` default ``ignore_index``)."""

CLS_INDEX = 0
"""Position of the CLS token (``<s>`` in XLM-R): the label of "no answer in this window"."""

_CONTEXT = 1  # sequence id of the context in a (question, context) pair


def prepare_qa_train_features(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
) -> dict[str, list]:
    """Cut QA examples into overlapping windows labelled with the answer's token span.

    The question (left-stripped, cut to ``max_query_length`` tokens) comes first, then as much
    context as fits in ``max_seq_length``; a long context gives several windows that overlap by
    ``doc_stride`` tokens. Each window is labelled with the token positions of the first gold
    answer, or with :data:`CLS_INDEX` for both when the question is unanswerable or the answer
    does not lie entirely inside the window (HF ``run_qa.py`` ``prepare_train_features``).

    Args:
        examples: SQuAD-style examples ``{"id", "context", "question", "answers": {"text":
            [...], "answer_start": [...]}}``; empty answer lists mark unanswerable questions.
        tokenizer: a fast tokenizer (offsets are needed) that puts CLS at position 0.
        max_seq_length: tokens per window, special tokens included.
        doc_stride: tokens of context shared by consecutive windows of one example.
        max_query_length: the question is cut to at most this many tokens.

    Returns:
        A dict of lists, one entry per window: the tokenizer's model inputs (``input_ids``,
        ``attention_mask``, and ``token_type_ids`` if it makes them), each of length
        ``<= max_seq_length``, plus ``start_positions`` and ``end_positions`` (token indices,
        inclusive).

    Raises:
        ValueError: if ``examples`` is empty, the tokenizer is not fast or does not start
            sequences with CLS, the lengths leave no room for a window, or a gold answer is
            blank or does not match the context at its ``answer_start``.
    """
    encoded, sample_mapping, offsets = _qa_windows(examples, tokenizer, max_seq_length, doc_stride, max_query_length)
    encoded["start_positions"] = []
    encoded["end_positions"] = []
    for sample_index, window_offsets in zip(sample_mapping, offsets, strict=True):
        start, end = _answer_token_span(examples[sample_index], window_offsets)
        encoded["start_positions"].append(start)
        encoded["end_positions"].append(end)
    return encoded


def prepare_qa_eval_features(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
) -> dict[str, list]:
    """Cut QA examples into the same windows as :func:`prepare_qa_train_features`, for prediction.

    Each window keeps the id of its example and the character span of each of its tokens, so
    that :func:`sweeper.data.qa_postprocess.postprocess_qa_predictions` can map token logits
    back to answer text (HF ``run_qa.py`` ``prepare_validation_features``).

    Args:
        examples: SQuAD-style examples with at least ``"id"``, ``"context"`` and ``"question"``.
        tokenizer: a fast tokenizer that puts CLS at position 0.
        max_seq_length: tokens per window, special tokens included.
        doc_stride: tokens of context shared by consecutive windows of one example.
        max_query_length: the question is cut to at most this many tokens.

    Returns:
        A dict of lists, one entry per window: the tokenizer's model inputs, ``example_id``
        (the example's ``"id"``), and ``offset_mapping``: per token a ``(start, end)`` character
        span of the context (``context[start:end]`` is the token's text without blank
        characters at either end), or ``None`` for question and special tokens and for context
        tokens that cover no character (a lone ``"▁"``).

    Raises:
        ValueError: if ``examples`` is empty, the tokenizer is not fast or does not start
            sequences with CLS, or the lengths leave no room for a window.
    """
    encoded, sample_mapping, offsets = _qa_windows(examples, tokenizer, max_seq_length, doc_stride, max_query_length)
    encoded["example_id"] = [examples[i]["id"] for i in sample_mapping]
    encoded["offset_mapping"] = offsets
    return encoded


def _qa_windows(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    doc_stride: int,
    max_query_length: int,
) -> tuple[dict[str, list], list[int], list[list[tuple[int, int] | None]]]:
    """Tokenize (question, context) windows; return model inputs, window → example, context offsets."""
    _check_not_empty(examples)
    _check_fast(tokenizer)
    _check_max_length(tokenizer, max_seq_length)
    if max_query_length < 1:
        raise ValueError(f"The value of `max_query_length` is {max_query_length}, but must be >= 1.")
    context_room = max_seq_length - max_query_length - tokenizer.num_special_tokens_to_add(pair=True)
    if not 0 <= doc_stride < context_room:
        raise ValueError(
            f"The value of `doc_stride` is {doc_stride}, but must be `0 <= doc_stride < max_seq_length "
            f"- max_query_length - special tokens = {context_room}` so that each window advances "
            f"(max_seq_length={max_seq_length}, max_query_length={max_query_length})."
        )
    questions = _truncate_questions([example["question"] for example in examples], tokenizer, max_query_length)
    encoded = tokenizer(
        questions,
        [example["context"] for example in examples],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    sample_mapping = encoded["overflow_to_sample_mapping"]
    is_blank = _blank_char_test(tokenizer)
    offsets = [
        _context_offsets(encoded["offset_mapping"][i], encoded.sequence_ids(i), examples[sample]["context"], is_blank)
        for i, sample in enumerate(sample_mapping)
    ]
    inputs = {name: list(encoded[name]) for name in tokenizer.model_input_names if name in encoded}
    _check_cls_first(tokenizer, inputs["input_ids"])
    return inputs, list(sample_mapping), offsets


def _truncate_questions(questions: list[str], tokenizer: PreTrainedTokenizerBase, max_query_length: int) -> list[str]:
    """Left-strip each question and cut it at a token boundary to at most ``max_query_length`` tokens."""
    questions = [question.lstrip() for question in questions]
    all_offsets = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    truncated = []
    for question, offsets in zip(questions, all_offsets, strict=True):
        # Re-tokenizing a prefix can split its last word differently; each cut is strictly
        # shorter than the last, so the loop ends.
        while len(offsets) > max_query_length:
            question = question[: offsets[max_query_length - 1][1]]
            offsets = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        truncated.append(question)
    return truncated


def _context_offsets(
    offsets: Sequence[tuple[int, int]],
    sequence_ids: Sequence[int | None],
    context: str,
    is_blank: Callable[[str], bool],
) -> list[tuple[int, int] | None]:
    """Character spans of a window's context tokens without blank edges; ``None`` elsewhere."""
    spans: list[tuple[int, int] | None] = []
    for (start, end), sequence_id in zip(offsets, sequence_ids, strict=True):
        if sequence_id != _CONTEXT:
            spans.append(None)
            continue
        while start < end and is_blank(context[start]):
            start += 1
        while end > start and is_blank(context[end - 1]):
            end -= 1
        spans.append((start, end) if start < end else None)
    return spans


def _blank_char_test(tokenizer: PreTrainedTokenizerBase) -> Callable[[str], bool]:
    """Predicate: does the tokenizer's normalizer turn this character into whitespace or nothing?

    Such characters (spaces, a zero-width space, control characters the normalizer deletes) get
    merged into the offsets of a neighbouring piece although no piece stands for them.
    """
    normalizer = tokenizer.backend_tokenizer.normalizer
    if normalizer is None:
        return str.isspace

    @functools.cache
    def is_blank(char: str) -> bool:
        return not normalizer.normalize_str(char).strip()

    return is_blank


def _answer_token_span(example: Mapping[str, Any], offsets: Sequence[tuple[int, int] | None]) -> tuple[int, int]:
    """Inclusive token span of the example's first answer in one window, or CLS twice if it is not inside."""
    answers = example["answers"]
    if not answers["answer_start"]:
        return CLS_INDEX, CLS_INDEX
    text, start_char = answers["text"][0], answers["answer_start"][0]
    end_char = start_char + len(text)
    if not text.strip() or example["context"][start_char:end_char] != text:
        raise ValueError(
            f"QA example {example['id']!r}: the answer {text!r} at answer_start={start_char} does not match "
            f"the context there ({example['context'][start_char:end_char]!r}); answers must be non-blank "
            "substrings of the context."
        )
    tokens = [(i, span) for i, span in enumerate(offsets) if span is not None]
    if not tokens or tokens[0][1][0] > start_char or tokens[-1][1][1] < end_char:
        return CLS_INDEX, CLS_INDEX
    start = next(i for i, (_, token_end) in tokens if token_end > start_char)
    end = next(i for i, (token_start, _) in reversed(tokens) if token_start < end_char)
    return start, end


def align_tagging_labels(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    label_to_id: Mapping[str, int],
    max_seq_length: int,
) -> dict[str, list]:
    """Tokenize pre-split sentences and put each word's tag on its first piece.

    Follows HF ``run_ner.py`` ``tokenize_and_align_labels`` with ``label_all_tokens=False``:
    the first piece of each word gets the word's label id, the word's other pieces and the
    special tokens get :data:`IGNORE_INDEX`. Sentences longer than ``max_seq_length`` tokens
    are cut (one feature per example); ``num_truncated_words`` says how many words were lost
    that way. A word can also yield no piece at all: the empty string, or a word of characters
    the tokenizer's normalizer deletes (with XLM-R's, control characters such as U+0001 and
    U+007F); such a word has no label here and no prediction later.

    Args:
        examples: tagging examples ``{"id", "tokens": [...], "tags": [...]}``.
        tokenizer: a fast tokenizer (``word_ids`` are needed).
        label_to_id: tag string → class index.
        max_seq_length: tokens per feature, special tokens included.

    Returns:
        A dict of lists, one entry per example: the tokenizer's model inputs, ``labels`` (same
        length as ``input_ids``), ``word_ids`` (per token the index of its word in ``tokens``,
        ``None`` for special tokens), ``num_words`` (``len(tokens)``) and ``num_truncated_words``.
        Pass the last three to :func:`predictions_to_word_labels`.

    Raises:
        ValueError: if ``examples`` is empty, the tokenizer is not fast, ``max_seq_length``
            exceeds the model's, ``tokens`` and ``tags`` differ in length, or a tag is not in
            ``label_to_id``.
    """
    _check_not_empty(examples)
    _check_fast(tokenizer)
    _check_max_length(tokenizer, max_seq_length)
    for example in examples:
        if len(example["tokens"]) != len(example["tags"]):
            raise ValueError(
                f"Tagging example {example['id']!r} has {len(example['tokens'])} tokens but "
                f"{len(example['tags'])} tags."
            )
    encoded = tokenizer(
        [list(example["tokens"]) for example in examples],
        is_split_into_words=True,
        truncation=True,
        max_length=max_seq_length,
        return_overflowing_tokens=True,
    )
    # Overflow rows only tell which sentences were cut; the first row of each example is kept.
    sample_mapping = encoded["overflow_to_sample_mapping"]
    rows_per_sample = Counter(sample_mapping)
    first_rows: dict[int, int] = {}
    for row, sample in enumerate(sample_mapping):
        first_rows.setdefault(sample, row)
    features: dict[str, list] = {name: [] for name in tokenizer.model_input_names if name in encoded}
    features.update(labels=[], word_ids=[], num_words=[], num_truncated_words=[])
    for sample, example in enumerate(examples):
        row = first_rows[sample]
        word_ids = encoded.word_ids(row)
        for name in tokenizer.model_input_names:
            if name in encoded:
                features[name].append(encoded[name][row])
        features["labels"].append(_first_piece_labels(word_ids, example, label_to_id))
        features["word_ids"].append(word_ids)
        features["num_words"].append(len(example["tokens"]))
        last_word = max((w for w in word_ids if w is not None), default=-1)
        was_cut = rows_per_sample[sample] > 1
        features["num_truncated_words"].append(len(example["tokens"]) - 1 - last_word if was_cut else 0)
    return features


def _first_piece_labels(
    word_ids: Sequence[int | None], example: Mapping[str, Any], label_to_id: Mapping[str, int]
) -> list[int]:
    """Label id on the first piece of each word, :data:`IGNORE_INDEX` elsewhere."""
    labels = []
    previous = None
    for word in word_ids:
        if word is None or word == previous:
            labels.append(IGNORE_INDEX)
        else:
            labels.append(_lookup_label(label_to_id, example["tags"][word], f"Tagging example {example['id']!r}"))
        previous = word
    return labels


class WordLabels(NamedTuple):
    """Per-word predictions of a tagging model, see :func:`predictions_to_word_labels`."""

    labels: list[list[str]]
    """One label per original word, per example."""
    num_truncated_words: int
    """Words cut off by ``max_seq_length`` (labelled ``"O"``), summed over examples."""
    num_empty_words: int
    """Words the tokenizer turned into no piece (labelled ``"O"``), summed over examples."""


def predictions_to_word_labels(
    word_ids_per_feature: Sequence[Sequence[int | None]],
    predicted_ids: Sequence[Sequence[int]],
    id_to_label: Mapping[int, str],
    num_words: Sequence[int],
    num_truncated_words: Sequence[int],
) -> WordLabels:
    """Map per-token predicted class ids back to one label per original word.

    Each word takes the prediction on its first piece (the piece that carried its label in
    training, HF ``run_ner.py``). Words with no piece in the feature get ``"O"``: the last
    ``num_truncated_words`` words of a sentence cut by ``max_seq_length``, and words the
    tokenizer turned into no piece. Both are counted so the caller can see them; to evaluate
    without truncation, pick a ``max_seq_length`` for which every ``num_truncated_words`` is 0.

    Args:
        word_ids_per_feature: the ``word_ids`` column of :func:`align_tagging_labels`.
        predicted_ids: per feature the predicted class id of each token, shape
            ``(num_features, seq_len)`` with ``seq_len >= len(word_ids)`` (padding is ignored).
        id_to_label: class index → tag string.
        num_words: the ``num_words`` column: words per example.
        num_truncated_words: the ``num_truncated_words`` column.

    Returns:
        A :class:`WordLabels` with ``len(labels[i]) == num_words[i]``.

    Raises:
        ValueError: if the inputs differ in number of features, a prediction row is shorter
            than its ``word_ids``, a word index is out of range, or an id is not in ``id_to_label``.
    """
    counts = {len(word_ids_per_feature), len(predicted_ids), len(num_words), len(num_truncated_words)}
    if len(counts) != 1:
        raise ValueError(
            f"word_ids_per_feature ({len(word_ids_per_feature)}), predicted_ids ({len(predicted_ids)}), "
            f"num_words ({len(num_words)}) and num_truncated_words ({len(num_truncated_words)}) must have one "
            "entry per feature."
        )
    all_labels, empty_total = [], 0
    for feature, (word_ids, predictions, n_words, n_truncated) in enumerate(
        zip(word_ids_per_feature, predicted_ids, num_words, num_truncated_words, strict=True)
    ):
        if len(predictions) < len(word_ids):
            raise ValueError(
                f"Feature {feature}: {len(predictions)} predictions for {len(word_ids)} tokens; "
                "predicted_ids must cover every token of the feature."
            )
        labels: list[str | None] = [None] * n_words
        for word, prediction in zip(word_ids, predictions, strict=False):
            if word is None:
                continue
            if not 0 <= word < n_words - n_truncated:
                raise ValueError(
                    f"Feature {feature}: word index {word} outside the {n_words - n_truncated} kept words."
                )
            if labels[word] is not None:
                continue
            labels[word] = _lookup_label(id_to_label, int(prediction), f"Feature {feature}")
        empty_total += labels[: n_words - n_truncated].count(None)
        all_labels.append([label if label is not None else "O" for label in labels])
    return WordLabels(all_labels, sum(num_truncated_words), empty_total)


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
    _check_not_empty(examples)
    _check_max_length(tokenizer, max_seq_length)
    labels = [_lookup_label(label_to_id, example["label"], f"Example {example['id']!r}") for example in examples]
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
    _check_not_empty(examples)
    _check_max_length(tokenizer, max_seq_length)
    firsts, seconds = [], []
    for example in examples:
        choices, label = example["choices"], example["label"]
        if not choices or not 0 <= label < len(choices):
            raise ValueError(
                f"Multiple-choice example {example['id']!r}: label {label!r} is not an index into its "
                f"{len(choices)} choices."
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


def _lookup_label(mapping: Mapping, key: Any, where: str) -> Any:
    """``mapping[key]``, or a ValueError naming the known keys and where the key came from."""
    try:
        return mapping[key]
    except KeyError:
        known = ", ".join(repr(k) for k in sorted(mapping, key=str))
        raise ValueError(f"{where}: unknown label {key!r}; known labels: {known}.") from None


def _check_not_empty(examples: Sequence[Mapping[str, Any]]) -> None:
    if not examples:
        raise ValueError("Got no examples to featurize; pass at least one example.")


def _check_fast(tokenizer: PreTrainedTokenizerBase) -> None:
    if not tokenizer.is_fast:
        raise ValueError(
            f"{type(tokenizer).__name__} is a slow tokenizer; offsets and word ids need a fast one "
            "(load it with AutoTokenizer.from_pretrained(..., use_fast=True))."
        )


def _check_max_length(tokenizer: PreTrainedTokenizerBase, max_seq_length: int) -> None:
    if not 0 < max_seq_length <= tokenizer.model_max_length:
        raise ValueError(
            f"The value of `max_seq_length` is {max_seq_length}, but must be in "
            f"[1, {tokenizer.model_max_length}] (the tokenizer's model_max_length)."
        )


def _check_cls_first(tokenizer: PreTrainedTokenizerBase, input_ids: Sequence[Sequence[int]]) -> None:
    if input_ids and (tokenizer.cls_token_id is None or input_ids[0][CLS_INDEX] != tokenizer.cls_token_id):
        raise ValueError(
            f"{type(tokenizer).__name__} does not put a CLS token at position {CLS_INDEX}; QA features "
            "label unanswerable windows with that position."
        )
