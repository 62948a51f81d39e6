"""Choosing the best intermediate task per target (pure; no Ray, no MLflow).

Policy ``english_dev`` (Phang et al. 2020 and jiant's XTREME default,
``early_stop_on_xtreme_tasks=False``): for each (intermediate, target) cell the trial with the
best English dev score of the target's training task wins among learning rates and seeds; per
target, the intermediate task whose best trial has the highest English dev score is selected.
Zero-shot scores are never used to select. Ties are broken deterministically and flagged:
within a cell the lower learning rate, then the lower seed wins; across intermediate tasks the
``none`` baseline wins a tie (no evidence that intermediate training helped), then the task id
in alphabetical order.

Retrieval targets have no English training task, so no English dev score. Policy
``target_dev`` (BUCC): the intermediate task with the highest mean dev F1 over the target's
languages (at the threshold tuned on that dev split, as XTREME tunes it) is selected; test is
never used. Policy ``none`` (Tatoeba, which has no dev set): no intermediate task is selected;
every one is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sweeper.config import NO_INTERMEDIATE

ENGLISH_DEV = "english_dev"
TARGET_DEV = "target_dev"
NO_SELECTION = "none"
#: How each policy is described in the report.
POLICY_DESCRIPTIONS = {
    ENGLISH_DEV: "best English dev score of the target's training task",
    TARGET_DEV: "best mean dev score over the target's languages (retrieval target without English dev)",
    NO_SELECTION: "none: the target has no dev set, every intermediate task is shown and none is selected",
}


@dataclass(frozen=True)
class TrialRecord:
    """One target trial as tracked.

    Attributes:
        english_dev: best English dev selection metric (0–100); ``None`` if the trial never
            finished (early-stopped or failed).
        zero_shot: language → metric → value (0–100), empty unless the trial completed.
        zero_shot_score: the XTREME per-task score over the evaluated languages (0–100).
        outcome: ``completed``, ``early_stopped`` or ``failed``.
        learning_rate, seed: ``None`` for retrieval evaluations (no training).
        selection_policy: ``english_dev``, ``target_dev`` or ``none`` (see module doc).
        target_dev: policy ``target_dev``: mean dev score over the target's languages (0–100).
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

    @property
    def selection_score(self) -> float | None:
        """The score this record is selected on under its policy (``None`` for policy ``none``)."""
        return {ENGLISH_DEV: self.english_dev, TARGET_DEV: self.target_dev}.get(self.selection_policy)

    @property
    def completed(self) -> bool:
        if self.selection_policy == NO_SELECTION:
            return self.outcome == "completed" and self.zero_shot_score is not None
        return self.outcome == "completed" and self.selection_score is not None


@dataclass(frozen=True)
class Selection:
    """The selected intermediate task of one target and whether a tie had to be broken."""

    target_task: str
    record: TrialRecord
    tied_with: tuple[str, ...] = ()

    @property
    def policy(self) -> str:
        return self.record.selection_policy


def _trial_rank(record: TrialRecord) -> tuple:
    score = record.selection_score
    return (-score if score is not None else 0.0, record.learning_rate or 0.0, record.seed or 0)


def _intermediate_rank(record: TrialRecord) -> tuple:
    return (-record.selection_score, record.intermediate_task != NO_INTERMEDIATE, record.intermediate_task)


def best_per_cell(records: Iterable[TrialRecord]) -> dict[tuple[str, str], TrialRecord]:
    """(intermediate, target) → its best completed trial by English dev (ties: see module doc)."""
    cells: dict[tuple[str, str], TrialRecord] = {}
    for record in sorted((r for r in records if r.completed), key=_trial_rank):
        cells.setdefault((record.intermediate_task, record.target_task), record)
    return cells


def select_best_intermediate(records: Iterable[TrialRecord]) -> dict[str, Selection]:
    """target → the selected intermediate task's best trial by its policy's score.

    Targets with policy ``none`` (Tatoeba) are absent: nothing can be selected for them.
    """
    by_target: dict[str, list[TrialRecord]] = {}
    for record in best_per_cell(records).values():
        if record.selection_policy != NO_SELECTION:
            by_target.setdefault(record.target_task, []).append(record)
    selections = {}
    for target, cell_bests in sorted(by_target.items()):
        ranked = sorted(cell_bests, key=_intermediate_rank)
        best = ranked[0]
        tied = tuple(r.intermediate_task for r in ranked[1:] if r.selection_score == best.selection_score)
        selections[target] = Selection(target_task=target, record=best, tied_with=tied)
    return selections
