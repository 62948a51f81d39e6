"""Names of prediction files: XTREME's ``<split>-<lang>.<tsv|json>`` and the leaderboard's ``test-<lang>``.

A trial writes its zero-shot predictions as ``predictions/<task>/<split>-<lang>.<suffix>`` (the
task type's suffix); predictions of a split it does not score (PAN-X's unlabelled test files)
go to ``predictions/<task>/leaderboard/test-<lang>.<suffix>``, the name the XTREME leaderboard
expects whatever split it predicts (``evaluate.py`` reads ``<task>/test-<lang>.<suffix>``).
"""

from __future__ import annotations

from pathlib import Path

from sweeper.registry import TaskSpec

#: File suffix of each task type's prediction files (XTREME's: labels one per line, QA answers as JSON).
PREDICTION_SUFFIXES = {
    "classification": "tsv",
    "multiple_choice": "tsv",
    "retrieval": "tsv",
    "span_qa": "json",
    "token_tagging": "tsv",
}


def prediction_suffix(task_type: str) -> str:
    """``tsv`` or ``json``: the suffix of a task type's prediction files."""
    return PREDICTION_SUFFIXES[task_type]


#: File-name prefix of leaderboard files (``test-<lang>.<suffix>``), whatever split they predict.
LEADERBOARD_PREFIX = "test"
#: Sub-folder of a trial's ``predictions/<task>/`` for predictions of a split it does not score.
LEADERBOARD_DIRNAME = "leaderboard"


def leaderboard_predictions_dir(predictions_dir: Path) -> Path:
    """Where a trial writes leaderboard predictions of a split it does not score."""
    return predictions_dir / LEADERBOARD_DIRNAME


def leaderboard_file_name(spec: TaskSpec, language: str) -> str:
    """``test-<lang>.<tsv|json>``, the task type's suffix."""
    return f"{LEADERBOARD_PREFIX}-{language}.{prediction_suffix(spec.task_type)}"


def trial_leaderboard_file(spec: TaskSpec, predictions_dir: Path, language: str) -> Path:
    """The file of a trial's ``predictions/<task>`` folder that holds the leaderboard predictions
    of ``language`` (see module doc).

    Raises:
        ValueError: the task declares no ``submission`` split or no zero-shot evaluation.
    """
    if spec.submission is None or spec.zero_shot is None:
        raise ValueError(f"task {spec.task!r} is not a leaderboard task (no `submission` and `zero_shot` in its task file)")
    if spec.submission.split == spec.zero_shot.split:
        suffix = prediction_suffix(spec.task_type)
        return predictions_dir / f"{spec.zero_shot.split}-{language}.{suffix}"
    return leaderboard_predictions_dir(predictions_dir) / leaderboard_file_name(spec, language)
