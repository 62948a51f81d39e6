"""The XTREME leaderboard submission folder of a sweep (pure; no Ray, no MLflow).

The leaderboard takes one folder with a sub-folder per task (``udpos panx xnli pawsx xquad mlqa
tydiqa bucc2018 tatoeba``) holding ``test-<lang>.<tsv|json>`` for every language of the task
(google-research/xtreme README, "Leaderboard Submission"; ``evaluate.py`` reads
``<task>/test-<lang>.<suffix>`` for each language of ``TASK2LANGS``). Each file holds the
predictions of the task's ``submission.split`` (the test files; TyDiQA-GoldP: its dev set, as
``scripts/predict_qa.sh`` does) by the model selected for that target.

A trial's prediction folder ``predictions/<task>/`` holds them as ``<split>-<lang>.<suffix>``
when the leaderboard split is the scored zero-shot split, and as
``leaderboard/test-<lang>.<suffix>`` when it is another one (PAN-X: scored on dev, submitted on
its unlabelled test files; :func:`sweeper.training.zero_shot.leaderboard_languages`).
:func:`plan_submission` maps the selected trials' folders to the leaderboard layout and lists
every task and language it cannot fill, with the reason; :func:`write_submission` writes the
folder (``OUTPUT/submission/``) with ``MISSING.md`` and ``submission.json``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sweeper.data.sources import split_files
from sweeper.metrics.xtreme import XTREME_LANGUAGES
from sweeper.prediction_files import LEADERBOARD_PREFIX, leaderboard_file_name, trial_leaderboard_file
from sweeper.registry import TaskSpec

#: The sweep's submission folder under its output folder.
SUBMISSION_DIRNAME = "submission"
MISSING_FILE = "MISSING.md"
MANIFEST_FILE = "submission.json"
#: The XTREME leaderboard's tasks, in the README's order.
LEADERBOARD_TASKS = ("udpos", "panx", "xnli", "pawsx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")


@dataclass(frozen=True)
class SubmissionFile:
    """One leaderboard file: ``source`` (a selected trial's prediction file) → ``<task>/<name>``."""

    task: str
    language: str
    source: Path
    name: str


@dataclass(frozen=True)
class Gap:
    """A task (``language`` ``None``: all of it) or a task's language without a leaderboard file."""

    task: str
    language: str | None
    reason: str


@dataclass(frozen=True)
class SubmissionPlan:
    """What the submission folder will hold and what it lacks.

    Attributes:
        files: every leaderboard file that can be written, task by task.
        gaps: every task or language without a file, with the reason.
        max_examples_per_language: the sweep's zero-shot limit; when set the files hold only
            the first N examples of each language and are not a valid submission.
    """

    files: tuple[SubmissionFile, ...]
    gaps: tuple[Gap, ...]
    max_examples_per_language: int | None = None

    @property
    def complete(self) -> bool:
        """Every leaderboard task and language has a file of all its examples."""
        return not self.gaps and self.max_examples_per_language is None


def _unselected_reason(spec: TaskSpec) -> str:
    if spec.task_type == "retrieval" and "dev" not in spec.splits:
        return (
            f"{spec.task} has no dev set, so no intermediate task is selected for it (selection policy none); "
            "pick one from the report and predict with it"
        )
    return "no completed trial of this target, so no selected model"


def _language_gap(spec: TaskSpec, language: str, data_dir: Path | None, swept: set[str]) -> str:
    if language not in swept:
        return "not among the sweep's zero-shot languages"
    if data_dir is not None:
        absent = [path for path in split_files(spec, spec.submission.split, data_dir, language) if not path.is_file()]
        if absent:
            return f"no {spec.submission.split} input: {absent[0]} does not exist"
    return "the selected trial wrote no prediction for it"


def plan_submission(
    targets: Mapping[str, TaskSpec],
    predictions: Mapping[str, Path],
    data_dir: Path | None,
    *,
    languages: Mapping[str, list[str]] | None = None,
    max_examples_per_language: int | None = None,
) -> SubmissionPlan:
    """Map the selected trials' prediction folders to the leaderboard layout.

    Args:
        targets: target id → its task spec (with the sweep's ``task_overrides``).
        predictions: target id → the selected trial's ``predictions/<task>`` folder (local copy);
            targets without a selected model are absent.
        data_dir: the sweep's local data root (names the missing input file), or ``None`` (Hub).
        languages: target id → the languages the sweep evaluated; default the task file's.
        max_examples_per_language: the sweep's ``zero_shot.max_examples_per_language``.

    Returns:
        The files to write and the gaps, over every leaderboard task and every language of
        XTREME's ``TASK2LANGS``.
    """
    files: list[SubmissionFile] = []
    gaps: list[Gap] = []
    for task in LEADERBOARD_TASKS:
        spec = targets.get(task)
        if spec is None:
            gaps.append(Gap(task, None, "not a target task of this sweep"))
            continue
        if spec.submission is None or spec.zero_shot is None:
            gaps.append(Gap(task, None, "its task file declares no `submission` split"))
            continue
        if task not in predictions:
            gaps.append(Gap(task, None, _unselected_reason(spec)))
            continue
        swept = set((languages or {}).get(task, spec.zero_shot.languages))
        for language in XTREME_LANGUAGES[task]:
            source = trial_leaderboard_file(spec, predictions[task], language)
            if source.is_file():
                files.append(SubmissionFile(task, language, source, leaderboard_file_name(spec, language)))
            else:
                gaps.append(Gap(task, language, _language_gap(spec, language, data_dir, swept)))
    return SubmissionPlan(tuple(files), tuple(gaps), max_examples_per_language)


def missing_markdown(plan: SubmissionPlan) -> str:
    """``MISSING.md``: what the folder lacks for a complete XTREME submission, per task."""
    lines = ["# XTREME leaderboard submission", ""]
    if plan.max_examples_per_language is not None:
        lines += [
            f"**Not a valid submission:** the sweep predicted only the first {plan.max_examples_per_language} "
            "examples per language (zero_shot.max_examples_per_language).",
            "",
        ]
    if not plan.gaps:
        lines.append(
            "Every task and language has its file."
            if plan.max_examples_per_language is None
            else "No task or language is missing."
        )
        return "\n".join(lines) + "\n"
    lines += ["Missing files:", ""]
    for gap in plan.gaps:
        where = f"{gap.task}/{LEADERBOARD_PREFIX}-{gap.language}" if gap.language else f"{gap.task}/ (all languages)"
        lines.append(f"- `{where}`: {gap.reason}")
    return "\n".join(lines) + "\n"


def write_submission(plan: SubmissionPlan, folder: Path) -> None:
    """Write the submission folder: ``<task>/test-<lang>.<suffix>`` copies, ``MISSING.md`` and
    ``submission.json`` (files with their sources, gaps, ``complete``).

    The folder is built under a temporary name and then replaces any previous one, so it never
    mixes two sweeps' files or stays half-written.
    """
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for entry in plan.files:
        (staging / entry.task).mkdir(exist_ok=True)
        shutil.copyfile(entry.source, staging / entry.task / entry.name)
    (staging / MISSING_FILE).write_text(missing_markdown(plan), encoding="utf-8")
    manifest = {
        "complete": plan.complete,
        "max_examples_per_language": plan.max_examples_per_language,
        "files": [f"{entry.task}/{entry.name}" for entry in plan.files],
        "missing": [{"task": gap.task, "language": gap.language, "reason": gap.reason} for gap in plan.gaps],
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
