"""Token-tagging scores in [0, 100]: chunk F1 as XTREME scores it (UD-POS, PAN-X), token accuracy (CCG).

Inputs are sentences of string tags: ``y_true[i][j]`` is the gold tag of token ``j`` of sentence
``i`` and ``y_pred[i][j]`` the predicted one. Both must have the same number of sentences and
the same number of tokens in every sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from sweeper.metrics._validation import check_non_empty, check_same_length


def _check_aligned(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> None:
    check_non_empty("y_true", y_true)
    check_same_length("y_true", y_true, "y_pred", y_pred)
    for index, (gold, predicted) in enumerate(zip(y_true, y_pred, strict=True)):
        if isinstance(gold, str) or isinstance(predicted, str):
            raise ValueError(f"sentence {index} of `y_true`/`y_pred` is a string; each sentence must be a list of tags")
        check_same_length(f"y_true[{index}]", gold, f"y_pred[{index}]", predicted)


def xtreme_chunks(sentences: Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """The chunks XTREME's scorer finds in tagged sentences: seqeval 0.0.12 ``get_entities``.

    Source: seqeval 0.0.12 (chakki-works/seqeval, ``seqeval/metrics/sequence_labeling.py``,
    ``get_entities``, ``end_of_chunk``, ``start_of_chunk`` with ``suffix=False``), the version
    behind the published XTREME results and ``evaluate_test.py``'s expected mock-submission scores.
    The sentences are concatenated with an ``"O"`` after each one; for every tag the first
    character is the chunk tag and the text after the last ``-`` is the type (``"B-PER"`` → B,
    PER; ``"SCONJ"`` → S, SCONJ; ``"X"`` → X, X). A chunk ends after a tag E or S, at a B/I → B/S/O
    transition, or where the type changes after a tag other than O or ``.``; one starts at B or S,
    at an E/S/O → E/I transition, or where the type changes at a tag other than O or ``.``. So a
    run of equal POS tags is one chunk, ``SCONJ`` is a one-word chunk, and ``SCONJ``/``CCONJ``
    keep their own types. seqeval 1.x differs (it takes ``"CONJ"`` as the type of both and drops
    a chunk tagged ``X``), which is why this function exists instead of a seqeval call; seqeval
    0.0.12 itself depends on Keras and is not installable as a plain dependency.

    Args:
        sentences: tags, one list per sentence.

    Returns:
        ``(type, first, last)`` per chunk, positions (inclusive) in the concatenation of the
        sentences with one ``"O"`` after each, in order.
    """
    sequence = [tag for sentence in sentences for tag in [*sentence, "O"]]
    chunks = []
    previous_tag, previous_type, begin = "O", "", 0
    for index, label in enumerate([*sequence, "O"]):
        tag, type_ = label[:1], label.split("-")[-1]
        if _ends_chunk(previous_tag, tag, previous_type, type_):
            chunks.append((previous_type, begin, index - 1))
        if _starts_chunk(previous_tag, tag, previous_type, type_):
            begin = index
        previous_tag, previous_type = tag, type_
    return chunks


def _ends_chunk(previous_tag: str, tag: str, previous_type: str, type_: str) -> bool:
    """seqeval 0.0.12 ``end_of_chunk``."""
    return (
        previous_tag in ("E", "S")
        or (previous_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (previous_tag not in ("O", ".") and previous_type != type_)
    )


def _starts_chunk(previous_tag: str, tag: str, previous_type: str, type_: str) -> bool:
    """seqeval 0.0.12 ``start_of_chunk``."""
    return (
        tag in ("B", "S")
        or (previous_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and previous_type != type_)
    )


def seqeval_scores(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Chunk precision, recall and F1 as XTREME ``evaluate.py`` computes them (UD-POS, PAN-X).

    Source: XTREME ``evaluate.py`` ``f1()``, which calls seqeval's ``f1_score``,
    ``precision_score`` and ``recall_score`` with default arguments and multiplies by 100; the
    chunks are those of seqeval 0.0.12 (:func:`xtreme_chunks`). A predicted chunk counts only if
    its type and both boundaries match a gold chunk (micro-average over the set of chunks of all
    sentences); a score whose denominator is 0 is 0, as in seqeval 0.0.12. An ``I-X`` tag
    without a preceding ``B-X`` starts a chunk. Minimal case of the difference to seqeval 1.x:
    gold ``DET CCONJ PUNCT PRON NOUN X``, predicted ``DET SCONJ PUNCT PRON NOUN SCONJ`` scores
    P = R = F1 = 66.67 here (and in ``evaluate.py`` with seqeval 0.0.12), but F1 90.91 with
    seqeval 1.2.2, which reads CCONJ and SCONJ as the same type and never counts the gold X.

    Args:
        y_true: gold tags, one list per sentence.
        y_pred: predicted tags, aligned with ``y_true`` token for token.

    Returns:
        ``{"precision": P, "recall": R, "f1": F1}``, each in [0, 100].

    Raises:
        ValueError: ``y_true`` is empty, or the sentence counts or the token counts of some
            sentence differ (the message names the sentence).
    """
    _check_aligned(y_true, y_pred)
    gold, predicted = set(xtreme_chunks(y_true)), set(xtreme_chunks(y_pred))
    correct = len(gold & predicted)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": 100.0 * precision, "recall": 100.0 * recall, "f1": 100.0 * f1}


def token_accuracy(y_true: list[list[str]], y_pred: list[list[str]]) -> float:
    """Share of tokens whose predicted tag equals the gold tag (CCG supertagging metric).

    Source: jiant's CCG task, which scores simple accuracy over all labelled tokens (tokens that
    carry no label, e.g. non-initial subwords, must be removed before calling).

    Args:
        y_true: gold tags, one list per sentence.
        y_pred: predicted tags, aligned with ``y_true`` token for token.

    Returns:
        Accuracy in [0, 100] over all tokens of all sentences.

    Raises:
        ValueError: ``y_true`` holds no token, or the sentence counts or the token counts of
            some sentence differ (the message names the sentence).
    """
    _check_aligned(y_true, y_pred)
    total = sum(len(sentence) for sentence in y_true)
    if total == 0:
        raise ValueError("`y_true` holds no token; accuracy needs at least one")
    correct = sum(
        gold == predicted
        for gold_sentence, predicted_sentence in zip(y_true, y_pred, strict=True)
        for gold, predicted in zip(gold_sentence, predicted_sentence, strict=True)
    )
    return 100.0 * correct / total
