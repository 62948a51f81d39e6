"""Hand-built :class:`TrialRecord` objects for the selection, report and comparison tests."""

from __future__ import annotations

from sweeper.results.selection import TrialRecord


def record(intermediate, target, dev, score=None, lr=1e-5, seed=1, outcome="completed", zero_shot=None, run_id=None):
    """A target trial as tracked: ``dev`` is its English dev score (kept only when completed), 0–100."""
    return TrialRecord(
        run_id=run_id or f"{intermediate}-{target}-{lr}-{seed}",
        intermediate_task=intermediate,
        target_task=target,
        learning_rate=lr,
        seed=seed,
        outcome=outcome,
        english_dev=dev if outcome == "completed" else None,
        zero_shot=zero_shot or {},
        zero_shot_score=score,
    )
