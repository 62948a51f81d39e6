"""MLflow records of intermediate-task rankings (``sweeper rank``) and of ``search.prune``'s
decisions (a pruned sweep's parent run), read back by the report."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sweeper.results.ranking import TargetPrune, TargetRanking
from sweeper.tracking.runs import Tracker
from sweeper.tracking.schema import PRUNE_TAG_PREFIX, rank_metric_key


def log_rankings(tracker: Tracker, run_id: str, rankings: Mapping[str, TargetRanking]) -> None:
    """Log every ranked cell's score as a metric of ``run_id`` (unranked targets log nothing)."""
    tracker.log_metrics(
        run_id,
        {
            rank_metric_key(target, cell.intermediate_task, ranking.method): cell.score
            for target, ranking in rankings.items()
            if ranking.method is not None
            for cell in ranking.cells
        },
    )


def log_pruning(tracker: Tracker, run_id: str, pruning: Mapping[str, TargetPrune]) -> None:
    """Tag the sweep's parent run with each target's prune decision (``prune.<target>``)."""
    tracker.set_tags(run_id, {PRUNE_TAG_PREFIX + target: json.dumps(decision.to_json()) for target, decision in pruning.items()})


def load_pruning(tracker: Tracker, run_id: str) -> dict[str, TargetPrune]:
    """The prune decisions :func:`log_pruning` recorded on ``run_id`` (empty: the grid was not pruned)."""
    tags = tracker.run_tags(run_id)
    return {
        key[len(PRUNE_TAG_PREFIX) :]: TargetPrune.from_json(json.loads(value))
        for key, value in sorted(tags.items())
        if key.startswith(PRUNE_TAG_PREFIX)
    }
