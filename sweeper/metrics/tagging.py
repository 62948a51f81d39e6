"""Token-tagging scores in [0, 100]: entity-span F1 (UD-POS, PAN-X) and token accuracy (CCG).

Inputs are sentences of string tags: ``y_true[i][j]`` is the gold tag of token ``j`` of sentence
``i`` and ``y_pred[i][j]`` the predicted one. Both must have the same number of sentences and
the same number of tokens in every sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqeval.metrics import f1_score, precision_score, recall_score

from sweeper.metrics._validation import check_non_empty, check_same_length


def _check_aligned(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> None:
    check_non_empty("y_true", y_true)
    check_same_length("y_true", y_true, "y_pred", y_pred)
    for index, (gold, predicted) in enumerate(zip(y_true, y_pred, strict=True)):
        if isinstance(gold, str) or isinstance(predicted, str):
            raise ValueError(
                f"sentence {index} of `y_true`/`y_pred` is a string; each sentence must be a "
                "list of tags"
            )
        check_same_length(f"y_true[{index}]", gold, f"y_pred[{index}]", predicted)


def seqeval_scores(y_true: list[list[str]], y_pred: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 of seqeval's default (conlleval-like) mode.

    Source: XTREME ``evaluate.py`` ``f1()``, which calls ``seqeval.metrics.f1_score``,
    ``precision_score`` and ``recall_score`` with default arguments and multiplies by 100. A
    predicted span counts only if its type and both boundaries match a gold span. In the default
    mode an ``I-X`` tag without a preceding ``B-X`` still starts a span. Tags without a
    ``B-``/``I-`` prefix (UD-POS) are parsed as they are by XTREME: seqeval takes the first
    character as the chunk tag and the rest as the type, so a run of identical POS tags forms one
    span (and seqeval warns "seems not to be NE tag"). When nothing is predicted (or nothing is
    gold) the affected score is 0 and seqeval warns.

    Args:
        y_true: gold tags, one list per sentence.
        y_pred: predicted tags, aligned with ``y_true`` token for token.

    Returns:
        ``{"precision": P, "recall": R, "f1": F1}``, each in [0, 100], micro-averaged over all
        entity spans of all sentences.

    Raises:
        ValueError: ``y_true`` is empty, or the sentence counts or the token counts of some
            sentence differ (the message names the sentence).
    """
    _check_aligned(y_true, y_pred)
    return {
        "precision": 100.0 * precision_score(y_true, y_pred),
        "recall": 100.0 * recall_score(y_true, y_pred),
        "f1": 100.0 * f1_score(y_true, y_pred),
    }


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
