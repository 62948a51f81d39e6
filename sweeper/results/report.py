"""The sweep report: per target, every intermediate task's English dev score, zero-shot score
per language and averaged, delta over the ``none`` baseline, and the selected one; then the
benchmark aggregate (XTREME or XTREME-R: task scores, ``all_task``, category means) of the
best-per-target selection and of each intermediate task (pure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeper.config import NO_INTERMEDIATE, SEEDS_BEST
from sweeper.metrics.xtreme import TASK_GROUPS, xtreme_scores
from sweeper.results.published import PublishedResults, published_for_model
from sweeper.results.ranking import TargetPrune
from sweeper.results.selection import (
    CellResult,
    Selection,
    TrialRecord,
    best_per_cell,
    select_best_intermediate,
)

BEST_PER_TARGET = "best per target"


@dataclass(frozen=True)
class ReportRow:
    """One (target, intermediate) line: the cell's chosen configuration and its delta over ``none``.

    ``per_language`` holds the target's selection metric per language (0–100, mean over the
    configuration's seeds); the cell's zero-shot score is the XTREME per-task score (QA:
    (EM + F1) / 2), ``delta_vs_none`` its difference to the ``none`` baseline's (``None``
    without a baseline).
    """

    cell: CellResult
    selected: bool
    per_language: dict[str, float]
    delta_vs_none: float | None

    @property
    def record(self) -> TrialRecord:
        """The cell's representative trial (see :attr:`sweeper.results.selection.CellResult.record`)."""
        return self.cell.record


@dataclass(frozen=True)
class AggregateRow:
    """One line of the benchmark aggregate.

    Attributes:
        label: :data:`BEST_PER_TARGET` or an intermediate task id.
        task_scores: target → XTREME task score (0–100) of the line's trial for that target
            (the selected one, or the intermediate task's best by English dev); targets without a
            completed, zero-shot-scored trial are absent.
        intermediates: target → the intermediate task behind its score (the selection's, or
            ``label`` itself).
        scores: :func:`sweeper.metrics.xtreme.xtreme_scores` of ``task_scores``: ``all_task``,
            ``groups`` (category means), ``mean_of_group_means``, ``complete`` and ``missing``.
    """

    label: str
    task_scores: dict[str, float]
    intermediates: dict[str, str]
    scores: dict[str, Any]


@dataclass(frozen=True)
class BenchmarkAggregate:
    """The sweep's targets scored as an XTREME / XTREME-R submission would be.

    Attributes:
        benchmark: ``xtreme`` or ``xtreme_r`` (keys of ``sweeper.metrics.xtreme.TASK_GROUPS``).
        tasks: the benchmark's tasks in its order; ``targets``: those the sweep has as targets.
        outside: the sweep's targets that are not tasks of the benchmark (left out).
        rows: the best-per-target line first, then one per intermediate task (``none`` first);
            a line without any scored benchmark target is left out.
        languages: target → the languages its task scores average over.
        unselected: benchmark targets with scores but no selected intermediate task (selection
            policy ``none``: Tatoeba has no dev set); the best-per-target line lacks them.
    """

    benchmark: str
    tasks: tuple[str, ...]
    targets: tuple[str, ...]
    outside: tuple[str, ...]
    rows: tuple[AggregateRow, ...]
    languages: dict[str, tuple[str, ...]]
    unselected: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """Rows per target in display order, the selections, counts of trial outcomes, and the
    benchmark aggregate; ``pruning``: ``search.prune``'s decision per target (empty: the whole
    grid ran)."""

    rows: dict[str, list[ReportRow]]
    selections: dict[str, Selection]
    outcomes: dict[str, int]
    selection_metrics: dict[str, str]
    aggregate: BenchmarkAggregate
    seed_aggregation: str = SEEDS_BEST
    published: PublishedResults | None = None
    pruning: Mapping[str, TargetPrune] = field(default_factory=dict)


def build_aggregate(records: Sequence[TrialRecord], benchmark: str = "xtreme", seeds: str = SEEDS_BEST) -> BenchmarkAggregate:
    """The benchmark aggregate of tracked trial records.

    Each target's task score is the trial's ``zero_shot_score``: XTREME's per-task score over the
    languages evaluated (``sweeper.metrics.xtreme.task_score``: every metric averaged over
    languages, QA (avg EM + avg F1) / 2). Trials are chosen as ``sweeper.results.selection`` chooses them
    (English dev; mean target dev for BUCC), never by zero-shot score: the best-per-target line
    takes each target's selection, a target without one (policy ``none``) is missing from it.

    Args:
        benchmark: ``xtreme`` or ``xtreme_r``.
        seeds: ``best`` or ``mean`` (:func:`sweeper.results.selection.best_per_cell`); under ``mean`` a
            task score is the mean over the chosen configuration's seeds.

    Raises:
        ValueError: unknown ``benchmark`` or ``seeds``.
    """
    if benchmark not in TASK_GROUPS:
        raise ValueError(f"unknown `benchmark` {benchmark!r}; expected one of {sorted(TASK_GROUPS)}")
    tasks = tuple(task for group in TASK_GROUPS[benchmark].values() for task in group)
    sweep_targets = sorted({record.target_task for record in records})
    cells = {
        key: cell
        for key, cell in best_per_cell(records, seeds).items()
        if key[1] in tasks and cell.zero_shot_score[0] is not None
    }
    selections = select_best_intermediate(records, seeds)
    lines: list[tuple[str, dict[str, CellResult]]] = [
        (BEST_PER_TARGET, {t: s.cell for t, s in selections.items() if (s.record.intermediate_task, t) in cells})
    ]
    for intermediate in sorted({key[0] for key in cells}, key=lambda task: (task != NO_INTERMEDIATE, task)):
        lines.append((intermediate, {target: cell for (inter, target), cell in cells.items() if inter == intermediate}))
    rows = tuple(
        AggregateRow(
            label=label,
            task_scores={target: by_target[target].zero_shot_score[0] for target in tasks if target in by_target},
            intermediates={target: by_target[target].record.intermediate_task for target in tasks if target in by_target},
            scores=xtreme_scores({target: cell.zero_shot_score[0] for target, cell in by_target.items()}, benchmark),
        )
        for label, by_target in lines
        if by_target
    )
    languages: dict[str, set[str]] = {}
    for (_, target), cell in cells.items():
        languages.setdefault(target, set()).update(language for record in cell.seeds for language in record.zero_shot)
    return BenchmarkAggregate(
        benchmark=benchmark,
        tasks=tasks,
        targets=tuple(task for task in tasks if task in sweep_targets),
        outside=tuple(target for target in sweep_targets if target not in tasks),
        rows=rows,
        languages={target: tuple(sorted(languages[target])) for target in tasks if target in languages},
        unselected=tuple(target for target in tasks if target in languages and target not in selections),
    )


def build_report(
    records: Sequence[TrialRecord],
    selection_metrics: dict[str, str],
    benchmark: str = "xtreme",
    seeds: str = SEEDS_BEST,
    model: str | None = None,
    pruning: Mapping[str, TargetPrune] | None = None,
) -> Report:
    """Assemble the report from tracked trial records.

    Args:
        selection_metrics: target → its metric name (e.g. ``f1``), used for per-language cells.
        benchmark: the benchmark of the aggregate (see :func:`build_aggregate`).
        seeds: ``best`` or ``mean``, the ``selection.seeds`` aggregation (:mod:`sweeper.results.selection`).
        model: the sweep's ``model``; for XLM-R Large the report adds the published XLM-R Large
            and X-STILTs rows (:func:`sweeper.results.published.published_for_model`).
        pruning: ``search.prune``'s decisions (:func:`sweeper.results.ranking.prune_cells`), when
            the selection ran over a pruned grid.

    Raises:
        ValueError: unknown ``benchmark`` or ``seeds``.
    """
    cells = best_per_cell(records, seeds)
    selections = select_best_intermediate(records, seeds)
    rows: dict[str, list[ReportRow]] = {}
    for (_intermediate, target), cell in sorted(
        cells.items(), key=lambda item: (item[0][1], item[0][0] != NO_INTERMEDIATE, item[0][0])
    ):
        baseline = cells.get((NO_INTERMEDIATE, target))
        delta = None
        if baseline is not None and baseline.zero_shot_score[0] is not None and cell.zero_shot_score[0] is not None:
            delta = cell.zero_shot_score[0] - baseline.zero_shot_score[0]
        rows.setdefault(target, []).append(
            ReportRow(
                cell=cell,
                selected=target in selections and selections[target].record.run_id == cell.record.run_id,
                per_language=cell.per_language(selection_metrics[target]),
                delta_vs_none=delta,
            )
        )
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    return Report(
        rows=rows,
        selections=selections,
        outcomes=outcomes,
        selection_metrics=dict(selection_metrics),
        aggregate=build_aggregate(records, benchmark, seeds),
        seed_aggregation=seeds,
        published=published_for_model(model),
        pruning=dict(pruning or {}),
    )
