"""Extractive-QA exact match and token F1, both in [0, 100], as the official scripts compute them.

Three scorers share one normalization pipeline (lowercase → drop punctuation → drop articles →
re-tokenize and join with single spaces) and one token-overlap F1 core:

* :func:`squad_em_f1`: SQuAD v1.1 ``evaluate-v1.1.py`` (copied by XTREME as
  ``third_party/evaluate_squad.py``). XTREME uses it for XQuAD and TyDiQA-GoldP.
* :func:`mlqa_em_f1`: MLQA ``mlqa_evaluation_v1.py`` (copied by XTREME as
  ``third_party/evaluate_mlqa.py``), with per-language punctuation, articles and tokenization.
* :func:`squad_v2_scores`: SQuAD 2.0 ``evaluate-v2.0.py``, with unanswerable questions, the
  no-answer probability threshold and ``find_all_best_thresh``.

Inputs are plain mappings: ``predictions`` maps a question id to the predicted answer text;
``references`` maps a question id to its gold answer texts.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from sweeper.metrics._validation import check_non_empty

_ASCII_PUNCTUATION = frozenset(string.punctuation)

_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Article patterns of mlqa_evaluation_v1.py, copied verbatim. Arabic: the official pattern is
# '\sال^|ال'. Its first alternative can never match (`^` after two characters), so the rule in
# effect replaces EVERY occurrence of the two letters ال with a space — word-initial (the
# article) but also inside or at the end of a word (e.g. سؤال → "سؤ"). We keep that behaviour.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _ENGLISH_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "ar": re.compile(r"\sال^|ال"),
    "hi": None,
    "zh": None,
}

MLQA_LANGUAGES: frozenset[str] = frozenset(_MLQA_ARTICLES)
"""Answer languages the MLQA script accepts (it raises on any other)."""


def _is_ascii_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION


def _is_unicode_punctuation(char: str) -> bool:
    # mlqa_evaluation_v1.py: PUNCT = {every char whose Unicode category starts with "P"}
    # ∪ string.punctuation (the union adds ASCII symbols such as $ + < = > ^ ` | ~).
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    """Split each CJK character (U+4E00–U+9FA5) into its own token, the rest on whitespace.

    mlqa_evaluation_v1.py's ``mixed_segmentation`` also isolates punctuation characters, but it
    runs after punctuation removal, so only the CJK rule can take effect.
    """
    tokens: list[str] = []
    run: list[str] = []
    for char in text:
        if "\u4e00" <= char <= "\u9fa5":
            tokens.extend("".join(run).split())
            run = []
            tokens.append(char)
        else:
            run.append(char)
    tokens.extend("".join(run).split())
    return tokens


def _normalize(
    text: str,
    is_punctuation: Callable[[str], bool],
    articles: re.Pattern[str] | None,
    tokenize: Callable[[str], list[str]],
) -> str:
    """Apply the official pipeline: lower, drop punctuation, drop articles, tokenize, join."""
    text = "".join(char for char in text.lower() if not is_punctuation(char))
    if articles is not None:
        text = articles.sub(" ", text)
    return " ".join(tokenize(text))


def normalize_squad_answer(text: str) -> str:
    """Normalize an answer as SQuAD v1.1/v2.0 ``normalize_answer`` does.

    Lowercase, remove ASCII punctuation (``string.punctuation``), remove the English articles
    a/an/the (as whole words), collapse whitespace.

    Args:
        text: a predicted or gold answer.

    Returns:
        The normalized answer; its tokens are separated by single spaces.
    """
    return _normalize(text, _is_ascii_punctuation, _ENGLISH_ARTICLES, str.split)


def _check_mlqa_language(language: str) -> None:
    if language not in _MLQA_ARTICLES:
        raise ValueError(f"`language` {language!r} is not an MLQA answer language; expected one of {sorted(MLQA_LANGUAGES)}")


def normalize_mlqa_answer(text: str, language: str) -> str:
    """Normalize an answer as MLQA's ``normalize_answer(s, lang)`` does.

    Lowercase; remove every Unicode punctuation character (category ``P*``) and ASCII
    punctuation; remove the language's articles (en: a an the; es: un una unos unas el la los las;
    de: ein eine einen einem eines einer der die das den dem des; vi: của là cái chiếc những;
    ar: every occurrence of ال, see the module source; hi, zh: none); tokenize on whitespace,
    except zh, where each CJK character U+4E00–U+9FA5 is its own token.

    Args:
        text: a predicted or gold answer.
        language: ISO 639-1 code of the answer language, one of :data:`MLQA_LANGUAGES`.

    Returns:
        The normalized answer; its tokens are separated by single spaces.

    Raises:
        ValueError: ``language`` is not an MLQA language.
    """
    _check_mlqa_language(language)
    tokenize = _mixed_segmentation if language == "zh" else str.split
    return _normalize(text, _is_unicode_punctuation, _MLQA_ARTICLES[language], tokenize)


def _token_f1(prediction_tokens: Sequence[str], gold_tokens: Sequence[str]) -> float:
    """Bag-of-tokens F1 in [0, 1] (the ``f1_score`` core of all three official scripts).

    Returns 0 when no token is shared, including when either side is empty.
    """
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _check_references(references: Mapping[str, Sequence[str]], allow_unanswerable: bool) -> None:
    check_non_empty("references", references)
    for qid, golds in references.items():
        if isinstance(golds, str):
            raise ValueError(f"`references[{qid!r}]` is a string; it must be a sequence of gold answer texts")
        if not golds and not allow_unanswerable:
            raise ValueError(
                f"`references[{qid!r}]` has no gold answer; the SQuAD v1.1/MLQA scripts need at "
                "least one (score unanswerable questions with squad_v2_scores)"
            )


def _em_f1(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    normalize: Callable[[str], str],
) -> dict[str, float]:
    """``evaluate()`` of evaluate-v1.1.py / mlqa_evaluation_v1.py with a given normalizer."""
    _check_references(references, allow_unanswerable=False)
    exact_match = f1 = 0.0
    unanswered = [qid for qid in references if qid not in predictions]
    for qid, golds in references.items():
        if qid not in predictions:
            continue
        prediction = normalize(predictions[qid])
        normalized_golds = [normalize(gold) for gold in golds]
        exact_match += max(float(prediction == gold) for gold in normalized_golds)
        f1 += max(_token_f1(prediction.split(), gold.split()) for gold in normalized_golds)
    if unanswered:
        warnings.warn(
            f"{len(unanswered)} of {len(references)} questions have no prediction and score 0 "
            f"(as in the official script), e.g. {unanswered[:3]}",
            RuntimeWarning,
            stacklevel=3,
        )
    total = len(references)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def squad_em_f1(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and token F1, each the max over a question's gold answers.

    Source: ``evaluate-v1.1.py`` (XTREME ``third_party/evaluate_squad.py``); the scorer XTREME
    uses for XQuAD and TyDiQA-GoldP. Normalization: :func:`normalize_squad_answer`. A question
    without a prediction scores 0 on both metrics and counts in the total, as in the official
    script (a ``RuntimeWarning`` lists such questions). Predictions for ids absent from
    ``references`` are ignored.

    Args:
        predictions: question id → predicted answer text.
        references: question id → gold answer texts (at least one per question).

    Returns:
        ``{"exact_match": EM, "f1": F1}``, both in [0, 100], averaged over ``references``.

    Raises:
        ValueError: ``references`` is empty, or a question has no gold answer or a bare string
            instead of a sequence of answers.
    """
    return _em_f1(predictions, references, normalize_squad_answer)


def mlqa_em_f1(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], language: str) -> dict[str, float]:
    """MLQA exact match and token F1 with per-language normalization, max over gold answers.

    Source: ``mlqa_evaluation_v1.py`` (XTREME ``third_party/evaluate_mlqa.py``), called with the
    *answer* (context) language. Normalization: :func:`normalize_mlqa_answer`. Missing
    predictions score 0, as in :func:`squad_em_f1`.

    Args:
        predictions: question id → predicted answer text.
        references: question id → gold answer texts (at least one per question).
        language: ISO 639-1 code of the answer language, one of :data:`MLQA_LANGUAGES`.

    Returns:
        ``{"exact_match": EM, "f1": F1}``, both in [0, 100], averaged over ``references``.

    Raises:
        ValueError: unknown ``language``; ``references`` empty; a question has no gold answer or a
            bare string instead of a sequence of answers.
    """
    _check_mlqa_language(language)
    return _em_f1(predictions, references, lambda text: normalize_mlqa_answer(text, language))


def _v2_f1(prediction_tokens: Sequence[str], gold_tokens: Sequence[str]) -> float:
    """evaluate-v2.0.py ``compute_f1``: if either side is empty (no answer), 1 if both are."""
    if not prediction_tokens or not gold_tokens:
        return float(prediction_tokens == gold_tokens)
    return _token_f1(prediction_tokens, gold_tokens)


def _percent(scores: Mapping[str, float], qids: Iterable[str]) -> float:
    values = [scores[qid] for qid in qids]
    return 100.0 * sum(values) / len(values)


def _best_threshold(
    predictions: Mapping[str, str],
    raw_scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    has_answer: Mapping[str, bool],
) -> tuple[float, float]:
    """evaluate-v2.0.py ``find_best_thresh``: the no-answer threshold maximizing the score.

    Start from "every question answered null" (score = number of unanswerable questions), then
    walk the questions by increasing no-answer probability, switching each to its predicted
    answer: an answerable question gains its raw score; an unanswerable one loses 1 if the
    prediction is non-empty. The threshold is the probability at which the running score last
    strictly improved (0.0 if it never did).
    """
    score = best_score = float(sum(not answerable for answerable in has_answer.values()))
    best_threshold = 0.0
    for qid in sorted((qid for qid in na_probs if qid in raw_scores), key=na_probs.__getitem__):
        if has_answer[qid]:
            score += raw_scores[qid]
        elif predictions[qid]:
            score -= 1
        if score > best_score:
            best_score, best_threshold = score, na_probs[qid]
    return 100.0 * best_score / len(raw_scores), best_threshold


def squad_v2_scores(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    na_probs: Mapping[str, float] | None = None,
    na_prob_threshold: float = 1.0,
) -> dict[str, float | int]:
    """SQuAD 2.0 scores with unanswerable questions, as ``evaluate-v2.0.py`` computes them.

    An empty gold list marks an unanswerable question; a predicted ``""`` is the null answer.
    Gold answers that normalize to ``""`` are dropped; when none is left the only correct answer
    is ``""`` (official rule). F1 of an empty vs a non-empty answer is 0, of two empty answers 1.
    A question whose ``na_probs`` value exceeds ``na_prob_threshold`` is scored as if the null
    answer had been predicted.

    Args:
        predictions: question id → predicted answer text (``""`` = no answer). Must cover every
            id in ``references``; other ids are ignored.
        references: question id → gold answer texts; ``[]`` = unanswerable.
        na_probs: question id → model probability of "no answer" (any real score works). When
            ``None`` every question gets 0.0 (the script's default) and no ``best_*`` keys are
            returned, as in the script without ``--na-prob-file``.
        na_prob_threshold: the script's ``--na-prob-thresh``.

    Returns:
        ``exact_match``, ``f1`` (in [0, 100]) and ``total`` (question count); the same three
        prefixed ``HasAns_`` / ``NoAns_`` for answerable / unanswerable questions, present only
        when such questions exist; with ``na_probs`` also ``best_exact_match``, ``best_f1`` (in
        [0, 100]) and ``best_exact_match_threshold``, ``best_f1_threshold`` (no-answer
        probability thresholds, ``find_all_best_thresh``).

    Raises:
        ValueError: ``references`` is empty or holds a bare string; ``predictions`` or
            ``na_probs`` lack a question id of ``references``.
    """
    _check_references(references, allow_unanswerable=True)
    for name, mapping in (("predictions", predictions), ("na_probs", na_probs)):
        missing = [] if mapping is None else [qid for qid in references if qid not in mapping]
        if missing:
            raise ValueError(f"`{name}` lacks {len(missing)} question ids of `references`, e.g. {missing[:3]}")
    probs = na_probs if na_probs is not None else {qid: 0.0 for qid in references}
    has_answer = {qid: bool(golds) for qid, golds in references.items()}

    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    for qid, golds in references.items():
        normalized_golds = [gold for gold in map(normalize_squad_answer, golds) if gold] or [""]
        prediction = normalize_squad_answer(predictions[qid])
        exact_raw[qid] = max(float(prediction == gold) for gold in normalized_golds)
        f1_raw[qid] = max(_v2_f1(prediction.split(), gold.split()) for gold in normalized_golds)

    def thresholded(raw: Mapping[str, float]) -> dict[str, float]:
        return {qid: float(not has_answer[qid]) if probs[qid] > na_prob_threshold else score for qid, score in raw.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    result: dict[str, float | int] = {}
    subsets = {
        "": list(references),
        "HasAns_": [qid for qid in references if has_answer[qid]],
        "NoAns_": [qid for qid in references if not has_answer[qid]],
    }
    for prefix, qids in subsets.items():
        if qids:
            result[f"{prefix}exact_match"] = _percent(exact, qids)
            result[f"{prefix}f1"] = _percent(f1, qids)
            result[f"{prefix}total"] = len(qids)
    if na_probs is not None:
        for name, raw in (("exact_match", exact_raw), ("f1", f1_raw)):
            best, threshold = _best_threshold(predictions, raw, na_probs, has_answer)
            result[f"best_{name}"] = best
            result[f"best_{name}_threshold"] = threshold
    return result
