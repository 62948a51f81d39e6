"""Sentence-retrieval scores: Tatoeba accuracy and BUCC 2018 bitext-mining F1, both in [0, 100].

Sentence embeddings are mean-pooled hidden states (:func:`mean_pool`); every similarity is the
cosine, i.e. the dot product of L2-normalized rows. Nearest neighbours are searched exactly by
brute force with numpy, in blocks of query rows so that memory stays near
``_BLOCK_ELEMENTS`` similarity values whatever the corpus size; time is O(n · m · dim) for n
queries against m database rows. That replaces the exact ``faiss.IndexFlatIP`` search of
XTREME's ``third_party/utils_retrieve.py`` (LASER's ``mine_bitexts.py``) without the
dependency; only the order of exactly tied neighbours may differ.

BUCC pipeline (XTREME ``evaluate_retrieval.py`` + ``utils_retrieve.py``)::

    dev_pairs = mine_pairs(dev_src, dev_tgt)               # margin-scored, one-to-one
    threshold = best_threshold(dev_pairs, dev_gold)         # F1-optimal on dev
    test_pred = apply_threshold(mine_pairs(test_src, test_tgt), threshold)
    scores = bucc_f1(test_pred, test_gold)

Pairs are identified by row indices here; mapping rows to BUCC sentence ids (and dropping
sentences that occur more than once, as the official ``read_sent2id`` does) is the caller's job.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

_BLOCK_ELEMENTS = 1 << 25
"""Similarity values held at once by the blocked nearest-neighbour search (128 MiB in float32)."""

BUCC_NEIGHBOURHOOD = 4
"""k of the ratio margin (``neighborhood=4`` in ``mine_bitext``)."""


def mean_pool(hidden_states: Any, attention_mask: Any) -> Any:
    """Average the hidden states of the non-padding tokens of each sequence.

    Source: ``mean_pool_embedding`` of XTREME ``third_party/evaluate_retrieval.py``
    (``sum(h * mask) / sum(mask)``). XTREME passes the attention mask itself, so the ``<s>`` and
    ``</s>`` positions are averaged too. Works on numpy arrays and on torch tensors (both
    arguments from the same library); the result has the type of the input.

    Args:
        hidden_states: shape (batch, seq, dim), one layer's hidden states.
        attention_mask: shape (batch, seq), 1 (or True) for real tokens, 0 for padding.

    Returns:
        Shape (batch, dim): the mean over the unmasked positions of each sequence.

    Raises:
        ValueError: the shapes are not (batch, seq, dim) and (batch, seq), or some sequence has
            no unmasked token.
    """
    if hidden_states.ndim != 3 or attention_mask.ndim != 2:
        raise ValueError(
            "`hidden_states` must have shape (batch, seq, dim) and `attention_mask` (batch, seq); "
            f"got {tuple(hidden_states.shape)} and {tuple(attention_mask.shape)}"
        )
    if tuple(hidden_states.shape[:2]) != tuple(attention_mask.shape):
        raise ValueError(
            f"`attention_mask` shape {tuple(attention_mask.shape)} does not match the (batch, seq) "
            f"of `hidden_states` {tuple(hidden_states.shape[:2])}"
        )
    counts = attention_mask.sum(axis=1, keepdims=True)
    if (counts == 0).any():
        empty = [index for index, count in enumerate(counts.reshape(-1).tolist()) if count == 0]
        raise ValueError(f"`attention_mask` rows {empty} mask every token; cannot mean-pool them")
    return (hidden_states * attention_mask[..., None]).sum(axis=1) / counts


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
    """Scale each row to unit Euclidean norm (``faiss.normalize_L2`` in the official code).

    Args:
        embeddings: shape (n, dim), real values (integers are converted to float32).

    Returns:
        Shape (n, dim), a new array whose rows have norm 1.

    Raises:
        ValueError: ``embeddings`` is not 2-D or has an all-zero row (no direction).
    """
    array = np.asarray(embeddings)
    if array.ndim != 2:
        raise ValueError(f"`embeddings` must have shape (n, dim); got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"`embeddings` rows {np.flatnonzero(norms[:, 0] == 0).tolist()} are zero")
    return array / norms


def _unit_rows(name: str, embeddings: np.ndarray) -> np.ndarray:
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"`{name}` must have shape (n, dim) with n >= 1; got {array.shape}")
    return l2_normalize(array)


def _check_same_dim(source: np.ndarray, target: np.ndarray) -> None:
    if source.shape[1] != target.shape[1]:
        raise ValueError(f"`source_embeddings` have dim {source.shape[1]} but `target_embeddings` {target.shape[1]}")


def _nearest_neighbours(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by dot product, best first: (similarities, indices), each (n_queries, k)."""
    k = min(k, database.shape[0])
    rows_per_block = max(1, _BLOCK_ELEMENTS // database.shape[0])
    similarities = np.empty((queries.shape[0], k), dtype=np.result_type(queries, database))
    indices = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], rows_per_block):
        block = queries[start : start + rows_per_block] @ database.T
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        top_similarities = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-top_similarities, axis=1, kind="stable")
        stop = start + block.shape[0]
        indices[start:stop] = np.take_along_axis(top, order, axis=1)
        similarities[start:stop] = np.take_along_axis(top_similarities, order, axis=1)
    return similarities, indices


@dataclass(frozen=True)
class TatoebaResult:
    """Outcome of :func:`tatoeba_accuracy`.

    Attributes:
        accuracy: share of source sentences whose nearest target is the gold one, in [0, 100].
        predictions: shape (n_source,), int64 index of the nearest target of each source row.
    """

    accuracy: float
    predictions: np.ndarray


def tatoeba_accuracy(
    source_embeddings: np.ndarray,
    target_embeddings: np.ndarray,
    gold: Sequence[int] | None = None,
) -> TatoebaResult:
    """For each source sentence retrieve the nearest target sentence by cosine; score accuracy.

    Source: ``similarity_search`` in XTREME ``third_party/utils_retrieve.py`` (exact search on
    L2-normalized vectors) and ``accuracy()`` in ``evaluate.py``. Note that XTREME's
    ``evaluate_retrieval.py`` passes the English side as the *queries* (one prediction per English
    sentence); pass English as ``source_embeddings`` to reproduce that direction.

    Args:
        source_embeddings: shape (n_source, dim), the query sentences.
        target_embeddings: shape (n_target, dim), the sentences searched.
        gold: length n_source, index of the correct target of each source sentence; default
            ``range(n_source)`` (row i ↔ row i, as in the Tatoeba files).

    Returns:
        The accuracy in [0, 100] and the predicted target index of every source sentence.

    Raises:
        ValueError: an embedding matrix is not 2-D, is empty or has a zero row; the dims differ;
            ``gold`` has the wrong length or an index outside ``[0, n_target)``.
    """
    source = _unit_rows("source_embeddings", source_embeddings)
    target = _unit_rows("target_embeddings", target_embeddings)
    _check_same_dim(source, target)
    expected = np.arange(source.shape[0]) if gold is None else np.asarray(gold, dtype=np.int64)
    if expected.shape != (source.shape[0],):
        raise ValueError(f"`gold` must hold one target index per source sentence ({source.shape[0]}); got shape {expected.shape}")
    if ((expected < 0) | (expected >= target.shape[0])).any():
        raise ValueError(f"`gold` indices must lie in [0, {target.shape[0]}) (n_target)")
    _, nearest = _nearest_neighbours(source, target, k=1)
    predictions = nearest[:, 0]
    return TatoebaResult(float(100.0 * np.mean(predictions == expected)), predictions)


class MarginCandidates(NamedTuple):
    """The k cosine nearest neighbours of each query row and their ratio-margin scores.

    Attributes:
        indices: shape (n_queries, k), row indices in the other language, by decreasing cosine.
        scores: shape (n_queries, k), ratio-margin score of each (query, neighbour) pair.
    """

    indices: np.ndarray
    scores: np.ndarray


def ratio_margin_scores(
    source_embeddings: np.ndarray, target_embeddings: np.ndarray, k: int = BUCC_NEIGHBOURHOOD
) -> tuple[MarginCandidates, MarginCandidates]:
    """Ratio-margin scores of each sentence's k nearest neighbours, in both directions.

    Source: ``mine_bitext(..., margin='ratio', neighborhood=4)`` and ``score_candidates`` of
    XTREME ``third_party/utils_retrieve.py`` (LASER ``mine_bitexts.py``)::

        margin(x, y) = cos(x, y) / ((knn_mean(x, Y) + knn_mean(y, X)) / 2)

    where ``knn_mean(x, Y)`` is the mean cosine of x to its k nearest neighbours in Y

    with k capped at the size of the other side, as in the official code.

    Args:
        source_embeddings: shape (n_source, dim), e.g. the non-English BUCC sentences.
        target_embeddings: shape (n_target, dim), e.g. the English BUCC sentences.
        k: neighbourhood size.

    Returns:
        ``(forward, backward)``: forward holds each source row's k nearest target rows with
        their margins, shape (n_source, k); backward each target row's k nearest source rows,
        shape (n_target, k).

    Raises:
        ValueError: ``k < 1``; an embedding matrix is not 2-D, is empty or has a zero row; the
            dims differ.
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1; got {k}")
    source = _unit_rows("source_embeddings", source_embeddings)
    target = _unit_rows("target_embeddings", target_embeddings)
    _check_same_dim(source, target)
    forward_sim, forward_idx = _nearest_neighbours(source, target, k)
    backward_sim, backward_idx = _nearest_neighbours(target, source, k)
    source_mean = forward_sim.mean(axis=1)  # (n_source,)
    target_mean = backward_sim.mean(axis=1)  # (n_target,)
    forward_scores = forward_sim / ((source_mean[:, None] + target_mean[forward_idx]) / 2)
    backward_scores = backward_sim / ((target_mean[:, None] + source_mean[backward_idx]) / 2)
    return (
        MarginCandidates(forward_idx, forward_scores),
        MarginCandidates(backward_idx, backward_scores),
    )


class ScoredPair(NamedTuple):
    """A mined sentence pair: source row, target row and ratio-margin score."""

    source: int
    target: int
    score: float


def mine_pairs(
    source_embeddings: np.ndarray,
    target_embeddings: np.ndarray,
    k: int = BUCC_NEIGHBOURHOOD,
    min_score: float = 0.0,
) -> list[ScoredPair]:
    """Mine one-to-one sentence pairs with ratio-margin scores (LASER ``retrieval='max'``).

    Source: ``mine_bitext(mode='mine', retrieval='max', margin='ratio', threshold=0)`` of XTREME
    ``third_party/utils_retrieve.py``, the settings XTREME's ``evaluate_retrieval.py`` uses for
    BUCC. Each source row proposes the candidate among its k cosine neighbours with the highest
    margin (forward) and each target row likewise (backward). All forward and backward proposals
    are sorted by decreasing score and accepted greedily when neither sentence has been used yet
    (so the result is one-to-one; a pair found in both directions appears once). A proposal
    whose score is not above ``min_score`` still uses up its two sentences but is not output, as
    in the official loop. Exactly tied scores are taken in a fixed order (forward proposals in
    source order, then backward in target order); the official unstable sort leaves it open.

    Args:
        source_embeddings: shape (n_source, dim).
        target_embeddings: shape (n_target, dim).
        k: neighbourhood size of the margin.
        min_score: the official ``threshold`` argument of ``mine_bitext`` (0).

    Returns:
        The accepted pairs by decreasing score.

    Raises:
        ValueError: as :func:`ratio_margin_scores`.
    """
    forward, backward = ratio_margin_scores(source_embeddings, target_embeddings, k)
    n_source, n_target = forward.indices.shape[0], backward.indices.shape[0]
    forward_pick = forward.scores.argmax(axis=1)
    backward_pick = backward.scores.argmax(axis=1)
    sources = np.concatenate([np.arange(n_source), backward.indices[np.arange(n_target), backward_pick]])
    targets = np.concatenate([forward.indices[np.arange(n_source), forward_pick], np.arange(n_target)])
    scores = np.concatenate([forward.scores.max(axis=1), backward.scores.max(axis=1)])
    used_sources: set[int] = set()
    used_targets: set[int] = set()
    mined: list[ScoredPair] = []
    for position in np.argsort(-scores, kind="stable"):
        source, target = int(sources[position]), int(targets[position])
        if source in used_sources or target in used_targets:
            continue
        used_sources.add(source)
        used_targets.add(target)
        if scores[position] > min_score:
            mined.append(ScoredPair(source, target, float(scores[position])))
    return mined


def bucc_f1(
    mined_pairs: Iterable[tuple[Hashable, Hashable]],
    gold_pairs: Iterable[tuple[Hashable, Hashable]],
) -> dict[str, float]:
    """Precision, recall and F1 of mined pairs against gold pairs (duplicates count once).

    Source: ``bucc_f1`` of XTREME ``evaluate.py`` (same formula as ``bucc_eval`` in
    ``utils_retrieve.py``); all three are 0 when no mined pair is correct.

    Args:
        mined_pairs: (source id, target id) pairs, e.g. from :func:`apply_threshold`.
        gold_pairs: the gold (source id, target id) pairs, identified the same way.

    Returns:
        ``{"precision": P, "recall": R, "f1": F1}``, each in [0, 100].

    Raises:
        ValueError: ``gold_pairs`` is empty.
    """
    mined = set(mined_pairs)
    gold = set(gold_pairs)
    if not gold:
        raise ValueError("`gold_pairs` is empty; recall is undefined")
    correct = len(mined & gold)
    if correct == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision = correct / len(mined)
    recall = correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"precision": 100.0 * precision, "recall": 100.0 * recall, "f1": 100.0 * f1}


def _best_score_per_pair(
    scored_pairs: Iterable[tuple[Hashable, Hashable, float]],
) -> dict[tuple[Hashable, Hashable], float]:
    """Pair → highest score, as ``read_candidate2score`` merges repeated candidates."""
    best: dict[tuple[Hashable, Hashable], float] = {}
    for source, target, score in scored_pairs:
        pair = (source, target)
        best[pair] = max(score, best.get(pair, score))
    return best


def best_threshold(
    scored_pairs: Iterable[tuple[Hashable, Hashable, float]],
    gold_pairs: Collection[tuple[Hashable, Hashable]],
) -> float:
    """Score threshold that maximizes F1 of the pairs kept (score >= threshold) on dev.

    Source: ``bucc_optimize`` of XTREME ``third_party/utils_retrieve.py``. Candidates are taken
    by decreasing score; after each one, F1 of the candidates so far is computed, and at every
    strict improvement the threshold becomes the midpoint between that candidate's score and the
    next one's. Deviation: when the best prefix is the whole list the official code indexes past
    the end (``IndexError``); here the threshold is then the last candidate's score, which keeps
    every candidate. With no correct candidate the threshold is 0, as in the official code.

    Args:
        scored_pairs: (source id, target id, score) triples, e.g. :class:`ScoredPair` from
            :func:`mine_pairs`; a pair listed twice keeps its highest score.
        gold_pairs: the gold (source id, target id) pairs.

    Returns:
        The threshold, on the scale of the scores.

    Raises:
        ValueError: ``gold_pairs`` is empty.
    """
    gold = set(gold_pairs)
    if not gold:
        raise ValueError("`gold_pairs` is empty; F1 is undefined")
    ranked = sorted(_best_score_per_pair(scored_pairs).items(), key=lambda item: -item[1])
    threshold = 0.0
    best_f1 = 0.0
    correct = 0
    for extracted, (pair, score) in enumerate(ranked, start=1):
        correct += pair in gold
        if correct == 0:
            continue
        precision = correct / extracted
        recall = correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            next_score = ranked[extracted][1] if extracted < len(ranked) else score
            threshold = (score + next_score) / 2
    return threshold


def apply_threshold(scored_pairs: Iterable[tuple[Hashable, Hashable, float]], threshold: float) -> set[tuple[Hashable, Hashable]]:
    """Keep the pairs whose score is at least ``threshold`` (``bucc_extract``, ``>=``).

    Args:
        scored_pairs: (source id, target id, score) triples; a pair listed twice keeps its
            highest score.
        threshold: e.g. from :func:`best_threshold` on the dev split.

    Returns:
        The kept (source id, target id) pairs.
    """
    return {pair for pair, score in _best_score_per_pair(scored_pairs).items() if score >= threshold}
