"""QA examples → overlapping (question, context) windows with answer labels or character offsets.

Source: HF transformers ``examples/pytorch/question-answering/run_qa.py``
(``prepare_train_features``, ``prepare_validation_features``), trimmed of its ``datasets.map``
plumbing; the question cut to ``max_query_length`` tokens follows the older transformers SQuAD
featurizer (``transformers.data.processors.squad``, ``max_query_length=64``), which ``run_qa.py``
dropped.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from transformers import PreTrainedTokenizerBase

from sweeper.data.features._common import check_fast, check_max_length, check_not_empty

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
    check_not_empty(examples)
    check_fast(tokenizer)
    check_max_length(tokenizer, max_seq_length)
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


def _check_cls_first(tokenizer: PreTrainedTokenizerBase, input_ids: Sequence[Sequence[int]]) -> None:
    if input_ids and (tokenizer.cls_token_id is None or input_ids[0][CLS_INDEX] != tokenizer.cls_token_id):
        raise ValueError(
            f"{type(tokenizer).__name__} does not put a CLS token at position {CLS_INDEX}; QA features "
            "label unanswerable windows with that position."
        )
