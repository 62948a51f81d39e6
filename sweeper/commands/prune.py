"""``search.prune`` in ``sweeper run``: rank each trained target's intermediate encoders (the rank
path of ``sweeper rank``, :func:`sweeper.training.ranking.rank_intermediates`) once the
intermediate phase has finished, decide the cells to train (:func:`sweeper.results.ranking.prune_cells`),
record the decision (``OUTPUT/prune.json``, the parent run's ``prune.<target>`` tags and
``rank/<target>/<intermediate>/logme`` metrics) and hand the kept cells to the target phase.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from sweeper.cache.store import CachedStage
from sweeper.config import SweepConfig
from sweeper.results.ranking import (
    TargetPrune,
    kept_cells,
    prune_cells,
    pruning_markdown,
)
from sweeper.sweep.grid import trained_targets
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
