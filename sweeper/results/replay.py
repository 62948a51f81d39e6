"""What a replayed schedule would have cost and selected (pure; ``sweeper replay``).

A finished sweep's target trials are replayed from their recorded English-dev curves
(:class:`DevCurve`) under other schedulers by :mod:`sweeper.ray_adapter.replay`; this module holds
the curves, the replayed outcomes, and their summary: optimizer steps per schedule and per target,
and the intermediate task each target would select (:func:`sweeper.results.selection.select_best_intermediate`,
the report's own rule, on the trials that schedule lets finish), compared with the sweep's
recorded selection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sweeper.results.selection import TrialRecord, select_best_intermediate

COMPLETED, STOPPED, CENSORED = "completed", "early_stopped", "censored"


@dataclass(frozen=True)
class DevCurve:
    """One target trial as recorded by a finished sweep.

    Attributes:
        trial_id: the sweep's id of the trial (its MLflow run id).
        config: the trial config keys the scheduler groups by (``intermediate_task``,
            ``target_task``, ...).
        scores: English-dev score (0–100) at each evaluation, in order.
        steps: the optimizer step of each evaluation.
        seconds: seconds from the previous evaluation (the trial's start for the first) to each.
        finished: the trial ran to its end in the sweep (its curve is whole); ``False``: the sweep
            stopped it after its last recorded evaluation.
    """

    trial_id: str
    config: dict
    scores: tuple[float, ...]
    steps: tuple[int, ...]
    seconds: tuple[float, ...]
    finished: bool

    def __post_init__(self) -> None:
        if not self.scores or not (len(self.scores) == len(self.steps) == len(self.seconds)):
            raise ValueError(f"trial {self.trial_id}: scores, steps and seconds must be non-empty and of one length")


@dataclass(frozen=True)
class ReplayedTrial:
    """What a trial did under a replayed schedule.

    Attributes:
        outcome: ``completed``, ``early_stopped`` or ``censored`` (the schedule would let it go on
            past its recorded curve, whose rest is unknown). evaluations: evaluations it reached.
        steps: optimizer steps up to its last reached evaluation (for a censored trial a lower
            bound). best_score: its best English-dev score (0–100) so far.
        end_seconds: when it ended on the replay's clock.
    """

    curve: DevCurve
    outcome: str
    evaluations: int
    steps: int
    best_score: float
    end_seconds: float


@dataclass(frozen=True)
class ScheduleSummary:
    """One schedule's replay.

    Attributes:
        name: e.g. ``recorded``, ``none``, ``grace_period=2 reduction_factor=3``.
        steps: optimizer steps of every trial (censored trials: a lower bound); per_target likewise.
        outcomes: outcome → trial count.
        selected: target → the intermediate task it would select (``None``: no trial finished).
        changed: targets whose selection differs from the recorded sweep's.
        uncertain: targets with a censored trial (the selection could change with its unknown rest).
        seconds: the replay clock when the last trial ended (recorded durations, concurrency).
    """

    name: str
    steps: int
    per_target_steps: dict[str, int]
    outcomes: dict[str, int]
    selected: dict[str, str | None]
    changed: tuple[str, ...]
    uncertain: tuple[str, ...]
    seconds: float


def replayed_records(replayed: Sequence[ReplayedTrial], recorded: Mapping[str, TrialRecord]) -> list[TrialRecord]:
    """Trial records as the replayed schedule would have left them: its outcome, the best English-dev
    score over the evaluations it reached; zero-shot scores are the recorded ones (a trial the sweep
    stopped has none, so a censored trial cannot be selected). ``recorded``: trial id → record."""
    records = []
    for trial in replayed:
        original = recorded[trial.curve.trial_id]
        outcome = COMPLETED if trial.outcome in (COMPLETED, CENSORED) else trial.outcome
        english_dev = trial.best_score if outcome == COMPLETED and trial.curve.finished else None
        records.append(dataclasses.replace(original, outcome=outcome, english_dev=english_dev))
    return records


def summarize(name: str, replayed: Sequence[ReplayedTrial], recorded: Mapping[str, TrialRecord], seeds: str) -> ScheduleSummary:
    """The :class:`ScheduleSummary` of one replay, its selections compared with those the recorded
    records give (``seeds``: the sweep's ``selection.seeds``)."""
    per_target: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for trial in replayed:
        target = recorded[trial.curve.trial_id].target_task
        per_target[target] = per_target.get(target, 0) + trial.steps
        outcomes[trial.outcome] = outcomes.get(trial.outcome, 0) + 1
    before = select_best_intermediate(recorded.values(), seeds)
    after = select_best_intermediate(replayed_records(replayed, recorded), seeds)
    selected = {target: (after[target].cell.record.intermediate_task if target in after else None) for target in per_target}
    original = {target: (before[target].cell.record.intermediate_task if target in before else None) for target in per_target}
    uncertain = sorted({recorded[t.curve.trial_id].target_task for t in replayed if t.outcome == CENSORED})
    return ScheduleSummary(
        name=name,
        steps=sum(per_target.values()),
        per_target_steps=per_target,
        outcomes=outcomes,
        selected=selected,
        changed=tuple(target for target in sorted(per_target) if selected[target] != original[target]),
        uncertain=tuple(uncertain),
        seconds=max((trial.end_seconds for trial in replayed), default=0.0),
    )


def to_markdown(summaries: Sequence[ScheduleSummary], recorded_selection: Mapping[str, str | None]) -> str:
    """The replay as Markdown: one row per schedule (steps, share of the most expensive schedule,
    outcomes, targets whose selection changes), then each target's selection per schedule."""
    most = max((summary.steps for summary in summaries), default=0) or 1
    lines = [
        "| schedule | optimizer steps | share | completed | early-stopped | censored | selection changes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for summary in summaries:
        changes = ", ".join(summary.changed) or "none"
        if summary.uncertain:
            changes += f" (uncertain: {', '.join(summary.uncertain)})"
        lines.append(
            f"| {summary.name} | {summary.steps:,} | {100 * summary.steps / most:.0f}% | "
            f"{summary.outcomes.get(COMPLETED, 0)} | {summary.outcomes.get(STOPPED, 0)} | "
            f"{summary.outcomes.get(CENSORED, 0)} | {changes} |"
        )
    targets = sorted(recorded_selection)
    lines += [
        "",
        "| target | recorded | " + " | ".join(summary.name for summary in summaries) + " |",
        "|---|---|" + "---|" * len(summaries),
    ]
    for target in targets:
        cells = [str(summary.selected.get(target)) for summary in summaries]
        lines.append(f"| {target} | {recorded_selection[target]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
