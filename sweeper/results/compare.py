"""Comparing two sweeps' reports: per target the selected intermediate task and its scores, per
(intermediate, target) cell the zero-shot score; differences are B − A (pure).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sweeper.config import NO_INTERMEDIATE
from sweeper.results.report import Report


@dataclass(frozen=True)
class SelectedResult:
    """One sweep's selection for one target.

    Attributes:
        intermediate_task: the selected intermediate task.
        dev: the score it was selected on (0–100): English dev (policy ``english_dev``), or the
            mean dev score over the target's languages (``target_dev``); under ``selection.seeds:
            mean`` the mean over the chosen configuration's seeds.
        zero_shot_avg: its XTREME task score over the evaluated languages (0–100); ``None``
            without zero-shot scores.
    """

    intermediate_task: str
    dev: float | None
    zero_shot_avg: float | None


@dataclass(frozen=True)
class TargetComparison:
    """A target's selection in sweeps A and B (``None``: the sweep has no selection for it:
    not a target of that sweep, no completed trial, or Tatoeba's policy ``none``)."""

    target_task: str
    a: SelectedResult | None
    b: SelectedResult | None

    @property
    def dev_diff(self) -> float | None:
        """B − A of the selection scores (points); ``None`` unless both exist."""
        return _diff(self.a and self.a.dev, self.b and self.b.dev)

    @property
    def zero_shot_diff(self) -> float | None:
        """B − A of the selected trials' zero-shot averages (points); ``None`` unless both exist."""
        return _diff(self.a and self.a.zero_shot_avg, self.b and self.b.zero_shot_avg)


@dataclass(frozen=True)
class CellComparison:
    """One (intermediate, target) cell: the zero-shot average (0–100) of its best trial (by the
    target's selection score, as in the report) in each sweep; ``None`` where the sweep has no
    completed, scored trial in the cell."""

    intermediate_task: str
    target_task: str
    a: float | None
    b: float | None

    @property
    def diff(self) -> float | None:
        """B − A in points; ``None`` unless both exist."""
        return _diff(self.a, self.b)


@dataclass(frozen=True)
class Comparison:
    """Sweeps A and B side by side: targets and cells of either sweep, sorted by target, then
    with ``none`` first and by intermediate task."""

    name_a: str
    name_b: str
    targets: tuple[TargetComparison, ...]
    cells: tuple[CellComparison, ...]

    def to_json(self) -> dict:
        """A JSON-ready dict: ``sweeps`` (A, B names), ``targets`` and ``cells`` with their ``*_diff``/``diff``."""
        return {
            "sweeps": {"a": self.name_a, "b": self.name_b},
            "targets": [
                {**asdict(target), "dev_diff": target.dev_diff, "zero_shot_diff": target.zero_shot_diff}
                for target in self.targets
            ],
            "cells": [{**asdict(cell), "diff": cell.diff} for cell in self.cells],
        }


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _selected(report: Report) -> dict[str, SelectedResult]:
    return {
        target: SelectedResult(
            selection.record.intermediate_task, selection.cell.selection_score, selection.cell.zero_shot_score[0]
        )
        for target, selection in report.selections.items()
    }


def _cells(report: Report) -> dict[tuple[str, str], float | None]:
    return {
        (row.record.intermediate_task, target): row.cell.zero_shot_score[0]
        for target, rows in report.rows.items()
        for row in rows
    }


def compare_reports(a: Report, b: Report, name_a: str, name_b: str) -> Comparison:
    """Compare the reports of sweeps A and B (e.g. ``sweeper.commands.report.load_output_report``).

    Selections and cells are those of each report (:mod:`sweeper.results.selection`: chosen on dev
    scores, never on zero-shot); a target or cell present in only one sweep has ``None`` on the
    other side and no difference.
    """
    selected_a, selected_b = _selected(a), _selected(b)
    cells_a, cells_b = _cells(a), _cells(b)
    targets = sorted(set(selected_a) | set(selected_b))
    keys = sorted(set(cells_a) | set(cells_b), key=lambda key: (key[1], key[0] != NO_INTERMEDIATE, key[0]))
    return Comparison(
        name_a=name_a,
        name_b=name_b,
        targets=tuple(TargetComparison(target, selected_a.get(target), selected_b.get(target)) for target in targets),
        cells=tuple(
            CellComparison(intermediate, target, cells_a.get((intermediate, target)), cells_b.get((intermediate, target)))
            for intermediate, target in keys
        ),
    )
