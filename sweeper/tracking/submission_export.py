"""A finished sweep's XTREME leaderboard folder from what MLflow tracked (adapter).

Downloads the selected trial's ``predictions/<task>`` artifacts per target and writes
``OUTPUT/submission/`` with :mod:`sweeper.results.submission` (the pure part), then logs it to the
parent run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sweeper.config import SweepConfig
from sweeper.registry import zero_shot_languages
from sweeper.results.selection import select_best_intermediate
from sweeper.results.submission import SUBMISSION_DIRNAME, SubmissionPlan, plan_submission, write_submission
from sweeper.sweep.tasks import resolve_task
from sweeper.tracking.records import download_predictions, load_trial_records
from sweeper.tracking.runs import Tracker
from sweeper.tracking.sweep_record import SweepRecord


def write_submission_folder(
    tracker: Tracker, record: SweepRecord, config: SweepConfig, data_dir: Path | None, output_dir: Path
) -> SubmissionPlan:
    """Write ``output_dir/submission/`` (``<task>/test-<lang>.<suffix>``, ``MISSING.md``,
    ``submission.json``) from the selected model of each target and log it to the parent run
    under ``submission/``.

    Returns:
        The plan written: its files and every task or language left out, with the reason.
    """
    selections = select_best_intermediate(load_trial_records(tracker, record.experiment_id, record.parent_run_id))
    targets = {task: resolve_task(config, task) for task in config.target_tasks}
    with tempfile.TemporaryDirectory() as scratch:
        downloaded = {
            task: download_predictions(tracker, selection.record.run_id, task, Path(scratch))
            for task, selection in selections.items()
        }
        plan = plan_submission(
            targets,
            {task: path for task, path in downloaded.items() if path is not None},
            data_dir,
            languages={task: zero_shot_languages(spec, config.zero_shot) for task, spec in targets.items() if spec.zero_shot},
            max_examples_per_language=config.zero_shot.max_examples_per_language,
        )
        write_submission(plan, output_dir / SUBMISSION_DIRNAME)
    tracker.client.log_artifacts(record.parent_run_id, str(output_dir / SUBMISSION_DIRNAME), SUBMISSION_DIRNAME)
    return plan
