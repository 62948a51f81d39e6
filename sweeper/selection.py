"""Choosing the best intermediate task per target (pure; no Ray, no MLflow).

Policy ``english_dev`` (Phang et al. 2020 and jiant's XTREME default,
``early_stop_on_xtreme_tasks=False``): for each (intermediate, target) cell the trial with the
best English dev score of the target's training task wins among learning rates and seeds; per
target, the intermediate task whose best trial has the highest English dev score is selected.
Zero-shot scores are never used to select. Ties are broken deterministically and flagged:
within a cell the lower learning rate, then the lower seed wins; across intermediate tasks the
``none`` baseline wins a tie (no evidence that intermediate training helped), then the task id
in alphabetical order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sweeper.config import NO_INTERMEDIATE


@dataclass(frozen=True)
class TrialRecord:
    """One target trial as tracked.

    Attributes:
        english_dev: best English dev selection metric (0–100); ``None`` if the trial never
            finished (early-stopped or failed).
        zero_shot: language → metric → value (0–100), empty unless the trial completed.
        zero_shot_score: the XTREME per-task score over the evaluated languages (0–100).
        outcome: ``completed``, ``early_stopped`` or ``failed``.
    """

    run_id: str
    intermediate_task: str
    target_task: str
    learning_rate: float
    seed: int
    outcome: str
    english_dev: float | None = None
    zero_shot: dict[str, dict[str, float]] = field(default_factory=dict)
    zero_shot_score: float | None = None

    @property
    def completed(self) -> bool:
        return self.outcome == "completed" and self.english_dev is not None


@dataclass(frozen=True)
class Selection:
    """The selected intermediate task of one target and whether a tie had to be broken."""

    target_task: str
    record: TrialRecord
    tied_with: tuple[str, ...] = ()


def _trial_rank(record: TrialRecord) -> tuple:
    return (-record.english_dev, record.learning_rate, record.seed)


def _intermediate_rank(record: TrialRecord) -> tuple:
    return (-record.english_dev, record.intermediate_task != NO_INTERMEDIATE, record.intermediate_task)


def best_per_cell(records: Iterable[TrialRecord]) -> dict[tuple[str, str], TrialRecord]:
    """(intermediate, target) → its best completed trial by English dev (ties: see module doc)."""
    cells: dict[tuple[str, str], TrialRecord] = {}
    for record in sorted((r for r in records if r.completed), key=_trial_rank):
        cells.setdefault((record.intermediate_task, record.target_task), record)
    return cells


def select_best_intermediate(records: Iterable[TrialRecord]) -> dict[str, Selection]:
    """target → the selected intermediate task's best trial (policy ``english_dev``)."""
    by_target: dict[str, list[TrialRecord]] = {}
    for record in best_per_cell(records).values():
        by_target.setdefault(record.target_task, []).append(record)
    selections = {}
    for target, cell_bests in sorted(by_target.items()):
        ranked = sorted(cell_bests, key=_intermediate_rank)
        best = ranked[0]
        tied = tuple(r.intermediate_task for r in ranked[1:] if r.english_dev == best.english_dev)
        selections[target] = Selection(target_task=target, record=best, tied_with=tied)
    return selections
