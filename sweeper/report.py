"""The sweep report: per target, every intermediate task's English dev score, zero-shot score
per language and averaged, delta over the ``none`` baseline, and the selected one (pure).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sweeper.config import NO_INTERMEDIATE
from sweeper.selection import Selection, TrialRecord, best_per_cell, select_best_intermediate

CSV_COLUMNS = (
    "target_task", "intermediate_task", "selected", "english_dev", "zero_shot_avg", "delta_vs_none",
    "learning_rate", "seed", "language", "zero_shot", "run_id",
)


@dataclass(frozen=True)
class ReportRow:
    """One (target, intermediate) line: the cell's best trial and its delta over ``none``.

    ``per_language`` holds the target's selection metric per language (0–100); ``zero_shot_avg``
    is the XTREME per-task score (QA: (EM + F1) / 2), ``delta_vs_none`` its difference to the
    ``none`` baseline's (``None`` without a baseline).
    """

    record: TrialRecord
    selected: bool
    per_language: dict[str, float]
    delta_vs_none: float | None


@dataclass(frozen=True)
class Report:
    """Rows per target in display order, the selections, and counts of trial outcomes."""

    rows: dict[str, list[ReportRow]]
    selections: dict[str, Selection]
    outcomes: dict[str, int]
    selection_metrics: dict[str, str]


def build_report(records: Sequence[TrialRecord], selection_metrics: dict[str, str]) -> Report:
    """Assemble the report from tracked trial records.

    Args:
        selection_metrics: target → its metric name (e.g. ``f1``), used for per-language cells.
    """
    cells = best_per_cell(records)
    selections = select_best_intermediate(records)
    rows: dict[str, list[ReportRow]] = {}
    for (intermediate, target), record in sorted(cells.items(), key=lambda item: (item[0][1], item[0][0] != NO_INTERMEDIATE, item[0][0])):
        baseline = cells.get((NO_INTERMEDIATE, target))
        delta = None
        if baseline is not None and baseline.zero_shot_score is not None and record.zero_shot_score is not None:
            delta = record.zero_shot_score - baseline.zero_shot_score
        metric = selection_metrics[target]
        rows.setdefault(target, []).append(
            ReportRow(
                record=record,
                selected=selections[target].record.run_id == record.run_id,
                per_language={language: scores[metric] for language, scores in sorted(record.zero_shot.items())},
                delta_vs_none=delta,
            )
        )
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    return Report(rows=rows, selections=selections, outcomes=outcomes, selection_metrics=dict(selection_metrics))


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def to_markdown(report: Report, title: str) -> str:
    """The report as Markdown: one table per target, selected row marked with ✓."""
    lines = [f"# {title}", ""]
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.outcomes.items()))
    lines += [f"Target trials: {counts}. Selection: best English dev score of the target's training task.", ""]
    for target, rows in report.rows.items():
        metric = report.selection_metrics[target]
        languages = sorted({language for row in rows for language in row.per_language})
        selection = report.selections[target]
        tie = f" (tied on English dev with {', '.join(selection.tied_with)}; ties go to `none`, then by name)" if selection.tied_with else ""
        lines += [
            f"## {target}: selected intermediate task `{selection.record.intermediate_task}`{tie}",
            "",
            f"Per-language zero-shot {metric}; `avg` is the XTREME task score (QA: (EM + F1) / 2); Δ is avg minus the `none` baseline.",
            "",
            "| intermediate | selected | en dev | " + " | ".join(languages) + " | avg | Δ vs none | lr | seed |",
            "|---|---|---|" + "---|" * len(languages) + "---|---|---|---|",
        ]
        for row in rows:
            record = row.record
            cells = [_number(row.per_language.get(language)) for language in languages]
            lines.append(
                f"| {record.intermediate_task} | {'✓' if row.selected else ''} | {_number(record.english_dev)} | "
                + " | ".join(cells)
                + f" | {_number(record.zero_shot_score)} | {_number(row.delta_vs_none, signed=True)} | {record.learning_rate:g} | {record.seed} |"
            )
        lines.append("")
    return "\n".join(lines)


def to_csv(report: Report) -> str:
    """The report as CSV, one line per (target, intermediate, language) plus an ``avg`` line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for target, rows in report.rows.items():
        for row in rows:
            record = row.record
            common = [target, record.intermediate_task, int(row.selected), _csv(record.english_dev), _csv(record.zero_shot_score),
                      _csv(row.delta_vs_none), record.learning_rate, record.seed]
            for language, value in list(row.per_language.items()) + [("avg", record.zero_shot_score)]:
                writer.writerow(common + [language, _csv(value), record.run_id])
    return buffer.getvalue()


def _csv(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
