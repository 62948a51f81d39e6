"""``sweeper replay``: a finished sweep's scheduling decisions under other schedulers, without training.

The target trials' recorded English-dev curves (MLflow, :mod:`sweeper.tracking.curves`) are replayed by
:func:`sweeper.ray_adapter.replay.replay` through the sweep's own grouped ASHA code under each
schedule: the sweep's recorded ``scheduler`` settings, the settings given as ``scheduler.*``
overrides (each ``--schedule`` one more), and ``none`` (FIFO: every trial to its end). For each
it reports the optimizer steps, the trials completed / stopped / censored and each target's
selected intermediate task (:mod:`sweeper.results.replay`), and writes ``OUTPUT/replay.md`` and
``OUTPUT/replay.json``.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

from sweeper.commands.run import LAUNCH_FILE
from sweeper.config import (
    SchedulerConfig,
    SweepConfig,
    apply_overrides,
    validate_mapping,
)
from sweeper.errors import ConfigError
from sweeper.results.replay import ScheduleSummary, summarize, to_markdown
from sweeper.results.selection import select_best_intermediate
from sweeper.tracking.runs import Tracker
from sweeper.tracking.sweep_record import SweepRecord
from sweeper.tracking.uris import check_tracking_uri

REPLAY_MD = "replay.md"
REPLAY_JSON = "replay.json"
NO_ASHA = SchedulerConfig(type="fifo")


def schedule_name(settings: SchedulerConfig, recorded: SchedulerConfig) -> str:
    """``none`` for FIFO, else the settings that differ from the recorded ones (``recorded`` if none)."""
    if settings.type == "fifo":
        return "none"
    changed = {key: value for key, value in settings.model_dump().items() if value != recorded.model_dump()[key]}
    if not changed:
        return "recorded"
    return " ".join(f"{key}={','.join(value) if isinstance(value, list) else value}" for key, value in changed.items())


def schedules(output_dir: Path, config: SweepConfig, override_groups: list[list[str]]) -> list[tuple[str, SchedulerConfig]]:
    """The recorded schedule, one per group of ``scheduler.*`` overrides, and ``none``; duplicates dropped.

    Raises:
        ConfigError: an override outside ``scheduler.``, or invalid values (naming the field).
    """
    raw = config.model_dump(mode="json")
    found = [config.scheduler]
    for group in override_groups:
        outside = [item for item in group if not item.startswith("scheduler.")]
        if outside:
            raise ConfigError(f"replay overrides must set scheduler.* keys (e.g. scheduler.grace_period=2), got {outside}")
        found.append(validate_mapping(apply_overrides(raw, group), f"{output_dir / LAUNCH_FILE} with {group}").scheduler)
    found.append(NO_ASHA)
    unique: list[SchedulerConfig] = []
    for settings in found:
        if settings not in unique:
            unique.append(settings)
    return [(schedule_name(settings, config.scheduler), settings) for settings in unique]


def replay_sweep(output_dir: Path, overrides: list[str], more_schedules: list[str] = ()) -> tuple[list[ScheduleSummary], str]:
    """Replay the sweep in ``output_dir`` (see the module docstring).

    Args:
        overrides: ``scheduler.key=value`` items forming one schedule (none: only recorded and ``none``).
        more_schedules: further schedules, each a space-separated group of overrides.

    Returns:
        The summaries (recorded schedule first) and the Markdown written to ``OUTPUT/replay.md``.

    Raises:
        ConfigError: no ``sweep.json`` / ``config.json`` of a `sweeper run` in ``output_dir``, or bad overrides.
        TrackingError: the sweep's tracking server does not answer.
    """
    from sweeper.ray_adapter.replay import make_scheduler, replay
    from sweeper.tracking.curves import load_dev_curves

    launch = output_dir / LAUNCH_FILE
    record = SweepRecord.read(output_dir)
    if not launch.is_file():
        raise ConfigError(f"{launch} not found: {output_dir} was not written by `sweeper run`")
    config = validate_mapping(json.loads(launch.read_text(encoding="utf-8"))["config"], str(launch))
    groups = ([overrides] if overrides else []) + [shlex.split(group) for group in more_schedules]
    plans = schedules(output_dir, config, groups)
    check_tracking_uri(record.tracking_uri)
    curves, records = load_dev_curves(Tracker(record.tracking_uri), record)
    if not curves:
        raise ConfigError(f"sweep {record.name!r} in {output_dir} has no completed or early-stopped target trial to replay")
    seeds = config.selection.seeds
    summaries = [
        summarize(name, replay(curves, make_scheduler(settings), config.resources.max_concurrent_trials), records, seeds)
        for name, settings in plans
    ]
    recorded = {t: s.cell.record.intermediate_task for t, s in select_best_intermediate(records.values(), seeds).items()}
    recorded = {target: recorded.get(target) for target in sorted({r.target_task for r in records.values()})}
    markdown = (
        f"# sweeper replay: {record.name}\n\n{len(curves)} target trials replayed from their English-dev curves "
        f"(max_concurrent_trials={config.resources.max_concurrent_trials}); steps of censored trials are lower bounds.\n\n"
        + to_markdown(summaries, recorded)
    )
    (output_dir / REPLAY_MD).write_text(markdown, encoding="utf-8")
    payload = {
        "sweep": record.name,
        "trials": len(curves),
        "recorded_selection": recorded,
        "schedules": [
            {**dataclasses.asdict(summary), "settings": settings.model_dump()}
            for summary, (_, settings) in zip(summaries, plans, strict=True)
        ],
    }
    (output_dir / REPLAY_JSON).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return summaries, markdown
