"""Choosing the best intermediate task per target (pure; no Ray, no MLflow).

Policy ``english_dev`` (default; Phang et al. 2020 and jiant's XTREME default,
``early_stop_on_xtreme_tasks=False``): trials are scored on the English dev set of the target's
training task. Policy ``target_dev`` (``selection.policy: target_dev``; XTREME's alternative of
selecting on the target languages' dev sets): trials are scored on the mean dev score over the
target languages that have a dev set. For PAN-X and TyDiQA, which XTREME scores on dev, that dev
set is the evaluation set itself, so the selection is not held out (the report says so).
Retrieval targets have no English training task: BUCC always uses ``target_dev`` (mean dev F1
at the threshold tuned on that dev split, as XTREME tunes it; test is never used); Tatoeba has no
dev set, policy ``none``: no intermediate task is selected, every one is reported. Zero-shot
scores of a held-out evaluation split are never used to select.

Seeds (``selection.seeds``): ``best`` (default) takes, per (intermediate, target) cell, the
single best completed trial over settings and seeds. ``mean`` groups a cell's completed trials
into *configurations* (trials equal but for the seed), ranks them by their mean score over
seeds and reports the mean ± sample standard deviation (n − 1) of the dev and zero-shot scores;
the configuration's best seed is its representative (the checkpoint that is registered).

Per target, the intermediate task whose chosen configuration scores highest is selected. Scores
are compared rounded to 6 decimals (0–100 scale), so equal scores tie however they were summed.
Ties are broken deterministically and reported: within a cell the lower learning rate, then the
other settings (in text order), then the lower seed wins; across intermediate tasks the ``none``
baseline wins a tie (no evidence that intermediate training helped), then the task id in
alphabetical order.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sweeper.config import ENGLISH_DEV, NO_INTERMEDIATE, NO_SELECTION, SEEDS_BEST, SEEDS_MEAN, TARGET_DEV

#: Decimals (of 0–100 scores) at which scores are compared; closer scores tie.
TIE_DECIMALS = 6
#: How each policy is described in the report.
POLICY_DESCRIPTIONS = {
    ENGLISH_DEV: "best English dev score of the target's training task",
    TARGET_DEV: "best mean dev score over the target languages that have a dev set",
    NO_SELECTION: "none: the target has no dev set, every intermediate task is shown and none is selected",
}
SEED_DESCRIPTIONS = {
    SEEDS_BEST: "the single best trial over settings and seeds",
    SEEDS_MEAN: "configurations (trials equal but for the seed) ranked by their mean score over seeds; "
    "scores are mean ± sample standard deviation over the completed seeds",
}


@dataclass(frozen=True)
class TrialRecord:
    """One target trial as tracked.

    Attributes:
        english_dev: best English dev selection metric (0–100); ``None`` if the trial never
            finished (early-stopped or failed), and for retrieval evaluations.
        zero_shot: language → metric → value (0–100), empty unless the trial completed.
        zero_shot_score: the XTREME per-task score over the evaluated languages (0–100).
        outcome: ``completed``, ``early_stopped`` or ``failed``.
        learning_rate, seed: ``None`` for retrieval evaluations (no training).
        selection_policy: ``english_dev``, ``target_dev`` or ``none`` (see module doc).
        target_dev: mean dev score over the target languages that have a dev set (0–100);
            ``None`` when not scored.
        settings: the trial's training settings but the seed, as sorted ``(name, value)`` text
            pairs; trials with equal settings are seeds of one configuration.
        zero_shot_split, target_dev_split: the splits the zero-shot and target-dev scores come
            from (``None`` when unknown); equal when the target is scored on dev (PAN-X, TyDiQA).
    """

    run_id: str
    intermediate_task: str
    target_task: str
    learning_rate: float | None
    seed: int | None
    outcome: str
    english_dev: float | None = None
    zero_shot: dict[str, dict[str, float]] = field(default_factory=dict)
    zero_shot_score: float | None = None
    selection_policy: str = ENGLISH_DEV
    target_dev: float | None = None
    settings: tuple[tuple[str, str], ...] = ()
    zero_shot_split: str | None = None
    target_dev_split: str | None = None

    @property
    def selection_score(self) -> float | None:
        """The score this record is selected on under its policy (``None`` for policy ``none``)."""
        return {ENGLISH_DEV: self.english_dev, TARGET_DEV: self.target_dev}.get(self.selection_policy)

    @property
    def completed(self) -> bool:
        if self.selection_policy == NO_SELECTION:
            return self.outcome == "completed" and self.zero_shot_score is not None
        return self.outcome == "completed" and self.selection_score is not None

    @property
    def configuration(self) -> tuple:
        """(intermediate, target, learning rate, other settings): equal for seeds of one configuration."""
        return (self.intermediate_task, self.target_task, self.learning_rate or 0.0, self.settings)


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n − 1) of the values that are not ``None``.

    Returns ``(None, None)`` without values, and ``std`` ``None`` with a single value.
    """
    present = [value for value in values if value is not None]
    if not present:
        return None, None
    return statistics.fmean(present), statistics.stdev(present) if len(present) > 1 else None


def _rounded(score: float | None) -> float:
    return round(score, TIE_DECIMALS) if score is not None else 0.0


@dataclass(frozen=True)
class CellResult:
    """The chosen configuration of one (intermediate, target) cell.

    Attributes:
        seeds: the configuration's completed trials by seed (under ``seeds: best`` only the best
            trial).
        seed_aggregation: ``best`` or ``mean``.
        tied: how many other configurations of the cell had the same score (the tie was broken
            by lower learning rate, other settings, then seed).

    Scores (0–100) are means over ``seeds``; ``*_std`` the sample standard deviation, ``None``
    for a single seed.
    """

    seeds: tuple[TrialRecord, ...]
    seed_aggregation: str = SEEDS_BEST
    tied: int = 0

    @property
    def record(self) -> TrialRecord:
        """The representative trial: the best seed by selection score (lower seed on ties); its
        checkpoint is the one registered."""
        return min(self.seeds, key=lambda record: (-_rounded(record.selection_score), record.seed or 0))

    @property
    def policy(self) -> str:
        return self.record.selection_policy

    @property
    def selection(self) -> tuple[float | None, float | None]:
        return mean_std(record.selection_score for record in self.seeds)

    @property
    def selection_score(self) -> float | None:
        return self.selection[0]

    @property
    def english_dev(self) -> tuple[float | None, float | None]:
        return mean_std(record.english_dev for record in self.seeds)

    @property
    def target_dev(self) -> tuple[float | None, float | None]:
        return mean_std(record.target_dev for record in self.seeds)

    @property
    def zero_shot_score(self) -> tuple[float | None, float | None]:
        return mean_std(record.zero_shot_score for record in self.seeds)

    def per_language(self, metric: str) -> dict[str, float]:
        """language → mean of ``metric`` over the seeds that scored it."""
        languages = sorted({language for record in self.seeds for language in record.zero_shot})
        return {
            language: mean_std(record.zero_shot.get(language, {}).get(metric) for record in self.seeds)[0]
            for language in languages
        }


@dataclass(frozen=True)
class Selection:
    """The selected intermediate task of one target and whether a tie had to be broken."""

    target_task: str
    cell: CellResult
    tied_with: tuple[str, ...] = ()

    @property
    def record(self) -> TrialRecord:
        return self.cell.record

    @property
    def policy(self) -> str:
        return self.cell.policy


def _configuration_rank(item: tuple[tuple, Sequence[TrialRecord]]) -> tuple:
    (_, _, learning_rate, settings), seeds = item
    mean = mean_std(record.selection_score for record in seeds)[0]
    return (-_rounded(mean), learning_rate, settings, min(record.seed or 0 for record in seeds))


def best_per_cell(records: Iterable[TrialRecord], seeds: str = SEEDS_BEST) -> dict[tuple[str, str], CellResult]:
    """(intermediate, target) → its chosen configuration among completed trials (see module doc).

    Raises:
        ValueError: ``seeds`` is not ``best`` or ``mean``.
    """
    if seeds not in (SEEDS_BEST, SEEDS_MEAN):
        raise ValueError(f"unknown seed aggregation {seeds!r}; expected {SEEDS_BEST!r} or {SEEDS_MEAN!r}")
    groups: dict[tuple, list[TrialRecord]] = {}
    for record in sorted((r for r in records if r.completed), key=lambda r: (r.seed or 0, r.run_id)):
        key = record.configuration + ((record.seed, record.run_id) if seeds == SEEDS_BEST else ())
        groups.setdefault(key, []).append(record)
    by_cell: dict[tuple[str, str], list[tuple[tuple, list[TrialRecord]]]] = {}
    for key, members in groups.items():
        by_cell.setdefault(key[:2], []).append((key[:4], members))
    cells = {}
    for cell, configurations in by_cell.items():
        ranked = sorted(configurations, key=_configuration_rank)
        best_score = _configuration_rank(ranked[0])[0]
        tied = sum(1 for item in ranked[1:] if _configuration_rank(item)[0] == best_score)
        cells[cell] = CellResult(seeds=tuple(ranked[0][1]), seed_aggregation=seeds, tied=tied)
    return cells


def select_best_intermediate(records: Iterable[TrialRecord], seeds: str = SEEDS_BEST) -> dict[str, Selection]:
    """target → the selected intermediate task's chosen configuration by its policy's score.

    Targets with policy ``none`` (Tatoeba) are absent: nothing can be selected for them.

    Raises:
        ValueError: ``seeds`` is not ``best`` or ``mean``.
    """
    by_target: dict[str, list[CellResult]] = {}
    for cell in best_per_cell(records, seeds).values():
        if cell.policy != NO_SELECTION:
            by_target.setdefault(cell.record.target_task, []).append(cell)
    selections = {}
    for target, cells in sorted(by_target.items()):

        def rank(cell: CellResult) -> tuple:
            intermediate = cell.record.intermediate_task
            return (-_rounded(cell.selection_score), intermediate != NO_INTERMEDIATE, intermediate)

        ranked = sorted(cells, key=rank)
        best = ranked[0]
        tied = tuple(c.record.intermediate_task for c in ranked[1:] if rank(c)[0] == rank(best)[0])
        selections[target] = Selection(target_task=target, cell=best, tied_with=tied)
    return selections
