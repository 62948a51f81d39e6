"""``search.prune`` in ``sweeper run`` and ``sweeper plan``. In ``run``: rank each trained target's intermediate encoders (the rank
path of ``sweeper rank``, :func:`sweeper.training.ranking.rank_intermediates`) once the
intermediate phase has finished, decide the cells to train (:func:`sweeper.results.ranking.prune_cells`),
record the decision (``OUTPUT/prune.json``, the parent run's ``prune.<target>`` tags and
``rank/<target>/<intermediate>/logme`` metrics) and hand the kept cells to the target phase. In ``plan``: the same decision computed ahead when
every encoder is cached (:func:`prune_plan`), else bounds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sweeper.cache.store import CachedStage
from sweeper.config import NO_INTERMEDIATE, SweepConfig
from sweeper.results.ranking import (
    TargetPrune,
    kept_cells,
    prune_cells,
    pruning_markdown,
)
from sweeper.sweep.grid import trained_targets
from sweeper.sweep.tasks import resolve_task
from sweeper.tracking.ranking import log_pruning, log_rankings
from sweeper.tracking.runs import Tracker

logger = logging.getLogger(__name__)

#: The prune decision of a sweep in its output folder, read back by ``sweeper resume``.
PRUNE_JSON = "prune.json"


def prune_grid(
    config: SweepConfig,
    model_source: str,
    data_dir: Path | None,
    stages: Sequence[CachedStage],
    output_dir: Path,
    tracker: Tracker,
    parent_run_id: str,
    resume: bool = False,
) -> dict[str, tuple[str, ...]] | None:
    """The cells ``search.prune`` keeps: trained target → intermediate tasks to train; ``None``
    when the sweep does not prune.

    Every intermediate stage in ``stages`` must be finished. A resumed sweep reuses the decision
    its first run wrote to ``OUTPUT/prune.json`` (so the target phase's grid does not change
    under a restored experiment); otherwise the ranking is computed (forward passes of every
    encoder over ``search.prune.max_examples`` English training examples per trained target) and
    recorded.

    Raises:
        SweeperError: missing data files.
    """
    from sweeper.training.ranking import rank_intermediates, stage_encoders

    prune = config.search.prune
    if prune is None:
        return None
    path = output_dir / PRUNE_JSON
    if resume and path.exists():
        payload = json.loads(path.read_text(encoding="utf-8"))
        return kept_cells({target: TargetPrune.from_json(item) for target, item in payload.items()})
    encoders = stage_encoders(config, stages)
    rankings = rank_intermediates(config, model_source, data_dir, encoders, prune.max_examples, trained_targets(config))
    pruning = prune_cells(rankings, config.intermediate_tasks, prune.keep)
    path.write_text(json.dumps({target: item.to_json() for target, item in pruning.items()}, indent=2), encoding="utf-8")
    log_rankings(tracker, parent_run_id, rankings)
    log_pruning(tracker, parent_run_id, pruning)
    logger.info("%s", "\n".join(pruning_markdown(pruning)))
    return kept_cells(pruning)


@dataclass(frozen=True)
class PrunePlan:
    """``search.prune`` in a plan: ``cells`` (trained target → cells it trains) and ``pruning``
    (the decisions) when the ranking could be computed now; else ``pending`` says why not,
    ``pruning`` is empty and ``cells`` holds upper bounds."""

    keep: int
    cells: dict[str, int]
    pruning: dict[str, TargetPrune]
    pending: str | None = None


def prune_plan(
    config: SweepConfig, model_source: str, data_dir: Path | None, located: list[CachedStage | None], data_missing: bool
) -> PrunePlan | None:
    """What ``search.prune`` would keep (``None`` without it): the decision ``run`` would take
    (:func:`sweeper.commands.prune.prune_grid`'s ranking and rule), computed now when every
    intermediate encoder is cached and no data is missing; else per target the upper bound
    (``keep`` best + ``none``; every cell for targets LogME does not rank), ``pending``."""
    from sweeper.task_types.ranking import supports_logme

    prune = config.search.prune
    if prune is None:
        return None
    if not data_missing and all(stage is not None and stage.complete for stage in located):
        from sweeper.training.ranking import rank_intermediates, stage_encoders

        encoders = stage_encoders(config, [stage for stage in located if stage is not None])
        rankings = rank_intermediates(config, model_source, data_dir, encoders, prune.max_examples, trained_targets(config))
        pruning = prune_cells(rankings, config.intermediate_tasks, prune.keep)
        return PrunePlan(prune.keep, {target: len(item.kept) for target, item in pruning.items()}, pruning)
    bound = prune.keep + (NO_INTERMEDIATE in config.intermediate_tasks)
    cells = {
        target: bound if supports_logme(resolve_task(config, target)) else len(config.intermediate_tasks)
        for target in trained_targets(config)
    }
    why = "data missing" if data_missing else "intermediate encoders not cached yet"
    return PrunePlan(prune.keep, cells, {}, f"the prune happens at run time, after the intermediate phase ({why})")


def prune_lines(prune: PrunePlan) -> list[str]:
    """``search.prune``: why the counts are bounds, or each target's kept and pruned cells with their LogME."""
    if prune.pending:
        return [
            f"`search.prune` (LogME, keep {prune.keep}): {prune.pending}; trials are upper bounds, pruned trials lower bounds."
        ]
    lines = [
        f"`search.prune` (LogME, keep {prune.keep}), ranked now as `run` will rank:",
        "",
        "| target | kept (rank order) | pruned cells: LogME (rank) |",
        "|---|---|---|",
    ]
    for target, decision in prune.pruning.items():
        pruned = ", ".join(f"`{cell.intermediate_task}` {cell.score:.4f} ({cell.rank})" for cell in decision.pruned)
        lines.append(
            f"| {target} | {', '.join(decision.kept)} | {pruned or ('not ranked: ' + decision.note if decision.note else '–')} |"
        )
    return lines
