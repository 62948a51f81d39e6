"""``sweeper rank CONFIG``: rank each target's intermediate encoders by LogME before any target trial.

Validates the sweep as ``run`` does, creates an MLflow run (tag ``stage=rank``), trains the
intermediate stages the stage cache lacks with ``run``'s own intermediate phase
(:func:`sweeper.ray_adapter.phases.run_intermediate_phase`, nested under that run), then scores every
(intermediate, target) cell (:func:`sweeper.training.ranking.rank_intermediates`), writes
``OUTPUT/ranking.json`` and ``OUTPUT/ranking.md`` and logs them with one metric per cell
(``rank/<target>/<intermediate>/logme``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sweeper.config import RANK_EXAMPLES, SweepConfig
from sweeper.results.ranking import TargetRanking, to_json, to_markdown

RANKING_JSON = "ranking.json"
RANKING_MD = "ranking.md"
RANK_STAGE = "rank"


@dataclass(frozen=True)
class RankOutcome:
    rankings: dict[str, TargetRanking]
    markdown: str
    trained: tuple[str, ...]
    run_id: str


def rank_sweep(
    config: SweepConfig,
    data_dir: Path | None,
    output_dir: Path,
    max_examples: int | None = None,
    ray_address: str | None = None,
) -> RankOutcome:
    """Rank the intermediate tasks of ``config`` per target (see the module docstring).

    Args:
        max_examples: English training examples per target (default :data:`sweeper.config.RANK_EXAMPLES`).

    Raises:
        SweeperError: invalid configuration, task, data or model, or an unreachable tracking server
            (nothing written).
        RuntimeError: an intermediate trial failed.
    """
    from sweeper.cache.store import cached_intermediate_stages
    from sweeper.commands.run import link_stages, sweep_context
    from sweeper.models.sources import resolve_model
    from sweeper.sweep.validation import validate_sweep
    from sweeper.tracking.ranking import log_rankings
    from sweeper.tracking.runs import Tracker, default_tracking_uri
    from sweeper.tracking.sweep_record import SweepRecord
    from sweeper.tracking.uris import check_tracking_uri
    from sweeper.training.ranking import rank_intermediates, stage_encoders

    validate_sweep(config, data_dir)
    if config.tracking.tracking_uri is not None:
        check_tracking_uri(config.tracking.tracking_uri)
    model_source = resolve_model(config.model)
    stages = cached_intermediate_stages(config, model_source, data_dir.resolve() if data_dir else None)
    max_examples = max_examples or RANK_EXAMPLES
    output_dir.mkdir(parents=True, exist_ok=True)
    tracking_uri = config.tracking.tracking_uri or default_tracking_uri(output_dir)
    tracker = Tracker(tracking_uri)
    local_store = config.tracking.tracking_uri is None
    experiment_id = tracker.experiment_id(
        config.tracking.experiment_name or config.name, output_dir / "mlartifacts" if local_store else None
    )
    run_id = tracker.start_parent(experiment_id, config, model_source, json.dumps(config.model_dump(), indent=2))
    tracker.set_tags(run_id, {"stage": RANK_STAGE})
    record = SweepRecord(name=config.name, tracking_uri=tracking_uri, experiment_id=experiment_id, parent_run_id=run_id)
    try:
        missing = tuple(stage.task for stage in stages if not stage.complete)
        if missing:
            from sweeper.ray_adapter.cluster import ensure_ray
            from sweeper.ray_adapter.phases import run_intermediate_phase

            ensure_ray(config, ray_address)
            run_intermediate_phase(sweep_context(config, data_dir, output_dir, model_source, stages, record), False)
        link_stages(output_dir, stages)
        rankings = rank_intermediates(
            config, model_source, data_dir, stage_encoders(config, stages), max_examples, output_dir=output_dir
        )
        markdown = f"# sweeper rank: {config.name}\n\n" + to_markdown(rankings)
        (output_dir / RANKING_JSON).write_text(json.dumps(to_json(rankings), indent=2), encoding="utf-8")
        (output_dir / RANKING_MD).write_text(markdown, encoding="utf-8")
        log_rankings(tracker, run_id, rankings)
        for name in (RANKING_JSON, RANKING_MD):
            tracker.log_artifact(run_id, output_dir / name, RANK_STAGE)
    except BaseException:
        tracker.finish(run_id, "FAILED")
        raise
    tracker.finish(run_id)
    return RankOutcome(rankings=rankings, markdown=markdown, trained=missing, run_id=run_id)
