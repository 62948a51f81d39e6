"""The report as text: the paper-style overview table, one table per target, the benchmark aggregate (Markdown) and the CSV."""

from __future__ import annotations

import csv
import io

from sweeper.config import NO_INTERMEDIATE, SEEDS_MEAN, TARGET_DEV
from sweeper.metrics.xtreme import TASK_GROUPS, XTREME_LANGUAGES, xtreme_scores
from sweeper.results.published import PublishedResults
from sweeper.results.ranking import TargetPrune, pruning_markdown
from sweeper.results.report import BEST_PER_TARGET, BenchmarkAggregate, Report, ReportRow
from sweeper.results.selection import (
    POLICY_DESCRIPTIONS,
    SEED_DESCRIPTIONS,
    CellResult,
    Selection,
)

CSV_COLUMNS = (
    "target_task",
    "intermediate_task",
    "selected",
    "english_dev",
    "zero_shot_avg",
    "delta_vs_none",
    "learning_rate",
    "seed",
    "language",
    "zero_shot",
    "run_id",
    "target_dev",
    "english_dev_std",
    "target_dev_std",
    "zero_shot_avg_std",
    "seeds",
    "selection_policy",
    "seed_aggregation",
)


#: Short column names of the benchmark categories (keys of ``TASK_GROUPS``) in the Markdown table.
GROUP_HEADERS = {
    "classification": "classification",
    "structured_prediction": "structured",
    "question_answering": "QA",
    "retrieval": "retrieval",
}


def _lr(value: float | None) -> str:
    """A learning rate or seed; ``–`` for retrieval evaluations, which have none."""
    return "–" if value is None else f"{value:g}"


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _mean_std(value: tuple[float | None, float | None]) -> str:
    """``mean ± std`` (one decimal), ``mean`` alone for a single seed, ``–`` without a value."""
    mean, std = value
    return _number(mean) if std is None else f"{mean:.1f} ± {std:.1f}"


def _seeds(cell: CellResult) -> str:
    return ", ".join(_lr(record.seed) for record in cell.seeds)


def _pruned_line(decision: TargetPrune | None) -> list[str]:
    """``Selected over a pruned grid: ...`` for a target ``search.prune`` pruned."""
    if decision is None or not decision.pruned:
        return []
    pruned = ", ".join(f"`{cell.intermediate_task}` (LogME {cell.score:.4f}, rank {cell.rank})" for cell in decision.pruned)
    return [f"Selected over a pruned grid (see Pruned grid): not trained {pruned}."]


def _policy_lines(target: str, rows: list[ReportRow], selection: Selection | None) -> list[str]:
    """What the target's trials were selected on, said plainly."""
    record = selection.record if selection else rows[0].record
    lines = [f"Selection: {POLICY_DESCRIPTIONS[record.selection_policy]}."]
    if record.selection_policy == TARGET_DEV and record.target_dev_split is not None:
        if record.target_dev_split == record.zero_shot_split:
            lines.append(
                f"The dev sets of {target} are its evaluation set itself (XTREME scores {target} on "
                f"`{record.zero_shot_split}`): these zero-shot scores are not held out from selection."
            )
        else:
            lines.append(
                f"Target dev split: `{record.target_dev_split}`; the zero-shot split `{record.zero_shot_split}` is held out."
            )
    return lines


def overview_markdown(report: Report) -> list[str]:
    """The paper-style table (Phang et al. 2020, Table 2): rows are the intermediate tasks, the
    ``none`` baseline first; columns are the targets; a cell is the zero-shot XTREME task score
    (0–100) of the cell's chosen configuration and its delta over the baseline. Per column the
    highest score is bold and the selected intermediate task (chosen on dev, never on these
    scores) carries ✓. Empty when no target has a row.
    """
    targets = [target for target, rows in report.rows.items() if rows]
    if not targets:
        return []
    cells = {(row.record.intermediate_task, target): row for target in targets for row in report.rows[target]}
    intermediates = sorted({intermediate for intermediate, _ in cells}, key=lambda task: (task != NO_INTERMEDIATE, task))
    best = {
        target: max(
            (row.cell.zero_shot_score[0] for row in report.rows[target] if row.cell.zero_shot_score[0] is not None), default=None
        )
        for target in targets
    }

    def cell(intermediate: str, target: str) -> str:
        row = cells.get((intermediate, target))
        score = row.cell.zero_shot_score[0] if row else None
        if score is None:
            return "–"
        text = f"{score:.1f}"
        if row.delta_vs_none is not None and intermediate != NO_INTERMEDIATE:
            text += f" ({row.delta_vs_none:+.1f})"
        if score == best[target]:
            text = f"**{text}**"
        return text + (" ✓" if row.selected else "")

    lines = [
        "## Zero-shot score per intermediate and target task",
        "",
        "XTREME task score (QA: (EM + F1) / 2) over each target's evaluated languages, (Δ vs `none`); "
        "**bold**: the best of the column; ✓: the selected intermediate task.",
        "",
        "| intermediate | " + " | ".join(targets) + " |",
        "|---|" + "---|" * len(targets),
    ]
    lines += [
        f"| {intermediate} | " + " | ".join(cell(intermediate, target) for target in targets) + " |"
        for intermediate in intermediates
    ]
    return [*lines, ""]


def to_markdown(report: Report, title: str) -> str:
    """The report as Markdown: the overview table (:func:`overview_markdown`), then one table per
    target with the selected row marked ✓, then the benchmark aggregate."""
    lines = [f"# {title}", ""]
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.outcomes.items()))
    lines += [
        f"Target trials: {counts}. Seeds (`selection.seeds: {report.seed_aggregation}`): {SEED_DESCRIPTIONS[report.seed_aggregation]}.",
        "",
    ]
    lines += pruning_markdown(report.pruning)
    lines += overview_markdown(report)
    mean = report.seed_aggregation == SEEDS_MEAN
    for target, rows in report.rows.items():
        metric = report.selection_metrics[target]
        languages = sorted({language for row in rows for language in row.per_language})
        selection = report.selections.get(target)
        if selection is None:
            heading = f"## {target}: no intermediate task selected"
        else:
            tie = f" (tied with {', '.join(selection.tied_with)}; ties go to `none`, then by name)" if selection.tied_with else ""
            heading = f"## {target}: selected intermediate task `{selection.record.intermediate_task}`{tie}"
        with_target_dev = any(row.cell.target_dev[0] is not None for row in rows)
        lines += [heading, "", *_policy_lines(target, rows, selection), *_pruned_line(report.pruning.get(target)), ""]
        lines += _published_line(report.published, target)
        lines += [
            f"Per-language zero-shot {metric}; `avg` is the XTREME task score (QA: (EM + F1) / 2); Δ is avg minus the `none` baseline"
            + ("; scores are mean ± std over seeds." if mean else "."),
            "",
            "| intermediate | selected | en dev | "
            + ("target dev | " if with_target_dev else "")
            + "".join(f"{language} | " for language in languages)
            + f"avg | Δ vs none | lr | {'seeds' if mean else 'seed'} |",
            "|---|---|---|" + ("---|" if with_target_dev else "") + "---|" * len(languages) + "---|---|---|---|",
        ]
        ties = []
        for row in rows:
            record, cell = row.record, row.cell
            cells = [_number(row.per_language.get(language)) for language in languages]
            target_dev = f"{_mean_std(cell.target_dev)} | " if with_target_dev else ""
            lines.append(
                f"| {record.intermediate_task} | {'✓' if row.selected else ''} | {_mean_std(cell.english_dev)} | {target_dev}"
                + "".join(f"{value} | " for value in cells)
                + f"{_mean_std(cell.zero_shot_score)} | {_number(row.delta_vs_none, signed=True)} | {_lr(record.learning_rate)} | {_seeds(cell)} |"
            )
            if cell.tied:
                ties.append(
                    f"`{record.intermediate_task}`: {cell.tied} other configuration(s) of the cell had the same score; "
                    "the lower learning rate, then the other settings, then the lower seed won."
                )
        lines += ["", *(f"Tie: {tie}" for tie in ties), *([""] if ties else [])]
    lines += aggregate_markdown(report.aggregate, report.published)
    return "\n".join(lines)


def _published_line(published: PublishedResults | None, target: str) -> list[str]:
    """``Published (XTREME test): X-STILTs 80.0, XLM-R Large 79.2.`` for a target with published numbers."""
    if published is None:
        return []
    scores = [
        f"{row.label} {row.task_scores()[target]:.1f} ({row.sources[target]})" for row in published.rows if target in row.metrics
    ]
    if not scores:
        return []
    return [f"Published ({published.split} split, all languages): {'; '.join(scores)}.", ""]


def aggregate_markdown(aggregate: BenchmarkAggregate, published: PublishedResults | None = None) -> list[str]:
    """The benchmark aggregate as Markdown lines: one table, partial results labelled as such.

    With ``published`` results of the same benchmark, one more line per published model, scored
    on the sweep's tasks only, and their source.
    """
    name = {"xtreme": "XTREME", "xtreme_r": "XTREME-R"}[aggregate.benchmark]
    complete = len(aggregate.targets) == len(aggregate.tasks)
    status = "complete" if complete else f"partial: {len(aggregate.targets)} of {len(aggregate.tasks)} tasks"
    lines = [f"## {name} aggregate ({status})", ""]
    if not aggregate.rows:
        outside = f" (the sweep's targets: {', '.join(aggregate.outside)})" if aggregate.outside else ""
        return lines + [f"No {name} task has a zero-shot score in this sweep{outside}.", ""]
    groups = list(TASK_GROUPS[aggregate.benchmark])
    explanation = (
        "Task score per target by XTREME's rule (`evaluate.py`): each metric averaged over the evaluated "
        "languages, QA (EM + F1) / 2. `all_task` is the mean of the task scores present, each category "
        "the mean of its tasks present (structured: structured prediction, QA: question answering), "
        "`category mean` the mean of the category means (used by some papers instead of `all_task`). "
        "The `best per target` line takes each target's selected intermediate task (selection as in the "
        "target's table, never by zero-shot score); the others one intermediate task for every target; "
        "`tasks` counts the line's tasks."
    )
    lines += [explanation, ""]
    if not complete:
        missing = [task for task in aggregate.tasks if task not in aggregate.targets]
        partial = (
            f"**Partial**: the sweep has no target {', '.join(missing)}; these averages are over the tasks "
            f"present and are not comparable with published {name} scores."
        )
        lines += [partial, ""]
    lines += [
        "| line | "
        + " | ".join(aggregate.targets)
        + " | tasks | all_task | "
        + " | ".join(GROUP_HEADERS[group] for group in groups)
        + " | category mean |",
        "|---|" + "---|" * len(aggregate.targets) + "---|---|" + "---|" * len(groups) + "---|",
    ]
    for row in aggregate.rows:
        best = row.label == BEST_PER_TARGET
        cells = [
            _number(row.task_scores.get(target))
            + (f" (`{row.intermediates[target]}`)" if best and target in row.intermediates else "")
            for target in aggregate.targets
        ]
        group_cells = [_number(row.scores["groups"][group]["score"]) for group in groups]
        lines.append(
            f"| {row.label} | "
            + " | ".join(cells)
            + f" | {len(row.task_scores)}/{len(aggregate.tasks)} | {_number(row.scores['all_task'])} | "
            + " | ".join(group_cells)
            + f" | {_number(row.scores['mean_of_group_means'])} |"
        )
    comparable = published is not None and published.benchmark == aggregate.benchmark
    for row in published.rows if comparable else ():
        task_scores = {target: score for target, score in row.task_scores().items() if target in aggregate.targets}
        scores = xtreme_scores(task_scores, aggregate.benchmark)
        cells = [_number(task_scores.get(target)) for target in aggregate.targets]
        lines.append(
            f"| published: {row.label} | "
            + " | ".join(cells)
            + f" | {len(task_scores)}/{len(aggregate.tasks)} | {_number(scores['all_task'])} | "
            + " | ".join(_number(scores["groups"][group]["score"]) for group in groups)
            + f" | {_number(scores['mean_of_group_means'])} |"
        )
    lines.append("")
    if comparable:
        lines += [
            f"`published:` lines: {published.split} results on every language of each task, from {published.source}; "
            f"averaged here over this sweep's tasks only. {published.note} This sweep's scores come from its own "
            "evaluation splits, languages and example limits, so the lines compare only when the sweep "
            "evaluates the full XTREME data (PAN-X is scored here on dev: its test labels are hidden).",
            "",
        ]
    coverage = []
    for target, languages in aggregate.languages.items():
        official = XTREME_LANGUAGES.get(target) if aggregate.benchmark == "xtreme" else None
        of = f" of XTREME's {len(official)}" if official and set(official) - set(languages) else ""
        coverage.append(f"{target} {len(languages)}{of} ({' '.join(languages)})")
    lines += [f"Languages averaged: {'; '.join(coverage)}.", ""]
    if aggregate.unselected:
        unselected = (
            f"No intermediate task is selected for {', '.join(aggregate.unselected)} (no dev set): the "
            "`best per target` line lacks it, the other lines include it."
        )
        lines += [unselected, ""]
    if aggregate.outside:
        lines += [f"Not {name} tasks, left out of the aggregate: {', '.join(aggregate.outside)}.", ""]
    return lines


def to_csv(report: Report) -> str:
    """The report as CSV, one line per (target, intermediate, language) plus an ``avg`` line;
    scores are means over the chosen configuration's seeds (``*_std``: their standard deviation)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for target, rows in report.rows.items():
        for row in rows:
            record, cell = row.record, row.cell
            (english_dev, english_std), (target_dev, target_std), (zero_shot, zero_shot_std) = (
                cell.english_dev,
                cell.target_dev,
                cell.zero_shot_score,
            )
            common = [
                target,
                record.intermediate_task,
                int(row.selected),
                _csv(english_dev),
                _csv(zero_shot),
                _csv(row.delta_vs_none),
                record.learning_rate,
                record.seed,
            ]
            extra = [
                _csv(target_dev),
                _csv(english_std),
                _csv(target_std),
                _csv(zero_shot_std),
                " ".join(_lr(r.seed) for r in cell.seeds),
                record.selection_policy,
                cell.seed_aggregation,
            ]
            for language, value in list(row.per_language.items()) + [("avg", zero_shot)]:
                writer.writerow(common + [language, _csv(value), record.run_id] + extra)
    return buffer.getvalue()


def _csv(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
