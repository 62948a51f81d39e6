"""The end-of-sweep summary of failed trials (pure: built from tracked run data, no MLflow here).

A trial counts as failed when its last attempt failed (Tune retried it ``resources.max_failures``
times, each attempt continuing from the last checkpoint). Failed target trials do not stop the
report: it is built from the trials that completed. A sweep fails only when a target has trials
and every one of them failed (nothing to select from), or an intermediate trial failed (the
targets that start from its encoder cannot run; the driver stops before the target phase).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FailedTrial:
    """One failed trial as its MLflow run recorded it.

    Attributes:
        run_id: its nested MLflow run.
        stage: ``intermediate``, ``target`` or ``retrieval``.
        intermediate_task, target_task: the cell (``target_task`` is ``None`` for intermediate trials).
        learning_rate, seed: as tagged (``None`` where the stage has none).
        attempts: how many times the trial ran (1 + Tune's retries).
        error: ``ExceptionType: message`` of the last attempt.
    """

    run_id: str
    stage: str
    intermediate_task: str
    target_task: str | None
    learning_rate: float | None
    seed: int | None
    attempts: int
    error: str

    def to_json(self) -> dict:
        return asdict(self)


def targets_without_results(outcomes: Iterable[tuple[str, str]]) -> list[str]:
    """Targets with trials all of which failed, sorted.

    Args:
        outcomes: ``(target_task, asha_outcome)`` of every target / retrieval trial.
    """
    by_target: dict[str, set[str]] = {}
    for target, outcome in outcomes:
        by_target.setdefault(target, set()).add(outcome)
    return sorted(target for target, seen in by_target.items() if seen == {"failed"})


def failures_markdown(failures: Sequence[FailedTrial]) -> str:
    """A ``## Failed trials`` section: one row per failed trial with its error ("none" if empty)."""
    lines = ["## Failed trials", ""]
    if not failures:
        return "\n".join([*lines, "None.", ""])
    lines += [
        "| stage | intermediate | target | learning rate | seed | attempts | error | run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for failure in failures:
        error = failure.error.replace("|", "\\|").replace("\n", " ")
        if len(error) > 300:
            error = error[:297] + "..."
        cells = [
            failure.stage,
            failure.intermediate_task,
            failure.target_task or "–",
            "–" if failure.learning_rate is None else f"{failure.learning_rate:g}",
            "–" if failure.seed is None else str(failure.seed),
            str(failure.attempts),
            error,
            failure.run_id,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])
