"""``sweeper score``: score a folder of prediction files against gold data (pure; no Ray, no MLflow).

Prediction files are named ``<split>-<lang>.<suffix>`` (what the zero-shot stage writes, see
:func:`sweeper.training.zero_shot.evaluate_zero_shot`) or ``test-<lang>.<suffix>`` (the XTREME leaderboard
submission layout, xtreme_reference.md §3), which predicts the task's ``submission.split``
(TyDiQA-GoldP: dev) and so counts only when that split is scored. Gold examples come through the task registry and
:func:`sweeper.data.sources.load_split`; each file is read and scored by the task type
(``read_predictions``, ``score``), so the numbers are those of the official metric that training
and zero-shot evaluation use. The average follows XTREME ``evaluate.py``: every metric is averaged
over languages (unweighted) and the task score is :func:`sweeper.metrics.xtreme.task_score`
(QA: (avg EM + avg F1) / 2). All scores are in [0, 100].

Gold may also come from a folder in the leaderboard's label layout (``--gold``: XTREME
``evaluate.py --label_folder``, ``<task>/test-<lang>.<suffix>``), read by the task type's
``read_leaderboard_gold``. Files are read as ``evaluate.py`` reads them
(:mod:`sweeper.task_types.submission_files`); what was tolerated or scores as wrong is listed
per file in :attr:`LanguageScore.warnings`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any

from sweeper.data.sources import load_split, task_split
from sweeper.errors import ConfigError, DataFormatError, MissingDataError
from sweeper.metrics.xtreme import TASK_METRICS, task_score
from sweeper.prediction_files import LEADERBOARD_PREFIX, prediction_suffix
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec, get_task

if TYPE_CHECKING:
    from sweeper.task_types.submission_files import FileIssues


@dataclass(frozen=True)
class LanguageScore:
    """The score of one prediction file.

    Attributes:
        path: the prediction file.
        num_examples: gold examples scored (one prediction each).
        metrics: metric name → value in [0, 100], as the task type's ``score`` returns them.
        warnings: one line naming what the file needed tolerated or holds that scores as wrong
            (empty: nothing), see :class:`~sweeper.task_types.submission_files.FileIssues`.
    """

    path: Path
    num_examples: int
    metrics: dict[str, float]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoreReport:
    """Per-language scores of a prediction folder and their XTREME averages.

    Attributes:
        task: the task id. split: the gold split scored against.
        languages: language → its score, in the order of :attr:`expected_languages`.
        expected_languages: every language with gold data for ``split`` (the task file's).
        average: metric name → unweighted mean over :attr:`languages` (metrics every language has).
        task_score: the XTREME task score over :attr:`languages` (``None`` for a task XTREME does
            not define, e.g. an intermediate task).
        task_score_rule: how :attr:`task_score` is formed, e.g. ``(avg exact_match + avg f1) / 2``.
    """

    task: str
    split: str
    languages: dict[str, LanguageScore]
    expected_languages: tuple[str, ...]
    average: dict[str, float]
    task_score: float | None
    task_score_rule: str | None

    @property
    def warnings(self) -> list[str]:
        """Every file's warning line, in language order."""
        return [line for score in self.languages.values() for line in score.warnings]

    @property
    def missing_languages(self) -> list[str]:
        """Languages with gold data but no prediction file scored: the average is partial."""
        return [language for language in self.expected_languages if language not in self.languages]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``sweeper score --json``)."""
        return {
            "task": self.task,
            "split": self.split,
            "languages": {
                language: {
                    "file": str(score.path),
                    "examples": score.num_examples,
                    "metrics": score.metrics,
                    "warnings": list(score.warnings),
                }
                for language, score in self.languages.items()
            },
            "average": self.average,
            "task_score": self.task_score,
            "task_score_rule": self.task_score_rule,
            "complete": not self.missing_languages,
            "missing_languages": self.missing_languages,
        }


def gold_languages(spec: TaskSpec, split: str) -> list[str]:
    """The languages with gold data in ``split``: the zero-shot languages for the zero-shot, the
    target-language dev (``zero_shot.dev_split``: XNLI ``dev``, MLQA ``target_dev``) and the
    leaderboard (``submission``) split when its files are per language (``{lang}``); English (the
    training language) for any other split (MLQA ``dev`` is SQuAD's English dev).

    Raises:
        ConfigError: the task declares no split ``split``.
    """
    per_language = any("{lang}" in pattern for pattern in task_split(spec, split).files)
    leaderboard = spec.submission.split if spec.submission is not None else None
    zero_shot = spec.zero_shot
    if zero_shot is not None and (split in (zero_shot.split, leaderboard) or (split == zero_shot.dev_split and per_language)):
        return list(zero_shot.languages)
    return [TRAIN_LANGUAGE]


def find_prediction_files(spec: TaskSpec, predictions_dir: Path, split: str) -> dict[str, Path]:
    """Language → prediction file in ``predictions_dir`` or ``predictions_dir/<task>``.

    Files named ``<split>-<lang>.<suffix>`` count, with the task type's suffix (``tsv`` or
    ``json``), and leaderboard files ``test-<lang>.<suffix>`` when ``split`` is the task's
    ``submission.split`` (what they predict: PAN-X ``test-de.tsv`` predicts the unlabelled test
    split, never dev); other files are ignored.

    Raises:
        MissingDataError: the folder does not exist or holds no prediction file of the task.
        ConfigError: two files hold predictions for the same language (``dev-de.tsv`` and
            ``test-de.tsv``).
    """
    suffix = prediction_suffix(spec.task_type)
    folder = predictions_dir / spec.task if (predictions_dir / spec.task).is_dir() else predictions_dir
    if not folder.is_dir():
        raise MissingDataError(f"predictions folder {predictions_dir} does not exist")
    leaderboard = [LEADERBOARD_PREFIX] if spec.submission is not None and spec.submission.split == split else []
    prefixes = list(dict.fromkeys([split, *leaderboard]))
    pattern = re.compile(rf"(?:{'|'.join(re.escape(prefix) for prefix in prefixes)})-(.+)\.{re.escape(suffix)}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        match = pattern.fullmatch(path.name)
        if not (match and path.is_file()):
            continue
        language = match.group(1)
        if language in found:
            raise ConfigError(
                f"both {found[language]} and {path} hold {spec.task} predictions for language {language!r}; "
                "move one of them out of the folder"
            )
        found[language] = path
    if not found:
        names = sorted(path.name for path in folder.iterdir())
        shown = ", ".join(names[:10]) + (f" ... ({len(names)} entries)" if len(names) > 10 else "") if names else "nothing"
        expected = " or ".join(f"{prefix}-<lang>.{suffix}" for prefix in prefixes)
        raise MissingDataError(
            f"no {spec.task} prediction files in {folder}: expected files named {expected} "
            f"(e.g. {prefixes[0]}-{gold_languages(spec, split)[0]}.{suffix}), found {shown}"
        )
    return found


def task_score_rule(task: str) -> str | None:
    """How XTREME forms ``task``'s score from per-language metrics (``None``: not an XTREME task)."""
    if task not in TASK_METRICS:
        return None
    metrics = TASK_METRICS[task]
    averages = " + ".join(f"avg {metric}" for metric in metrics)
    return averages if len(metrics) == 1 else f"({averages}) / {len(metrics)}"


def score_predictions(
    task: str,
    predictions_dir: Path,
    data_dir: Path | None,
    *,
    split: str | None = None,
    languages: Sequence[str] | None = None,
    max_examples_per_language: int | None = None,
    gold_dir: Path | None = None,
) -> ScoreReport:
    """Score every prediction file of ``task`` in ``predictions_dir`` against the gold data.

    Args:
        task: a registered task id.
        predictions_dir: the task's prediction folder, or its parent (``predictions_dir/<task>``).
        data_dir: local data root (as for ``sweeper run``); ``None`` loads gold data from the Hub.
            Not read when ``gold_dir`` is given.
        split: the gold split; default the task's zero-shot split (with ``gold_dir``: the split
            the leaderboard files predict, ``submission.split``).
        languages: score only these languages (each must have a prediction file); default every
            language that has one.
        max_examples_per_language: score against the first N gold examples of each language, as
            a sweep with ``zero_shot.max_examples_per_language=N`` predicted them.
        gold_dir: a folder of gold label files in the XTREME leaderboard layout
            (``test-<lang>.<suffix>``, in ``gold_dir`` or ``gold_dir/<task>``), as XTREME
            ``evaluate.py --label_folder`` reads them; the expected languages are those with a
            gold file.

    Returns:
        The per-language scores with the XTREME averages over the languages scored, and each
        file's warnings (what was tolerated or scores as wrong).

    Raises:
        UnknownTaskError: ``task`` is not registered (with did-you-mean).
        ConfigError: no ``split`` given for a task without zero-shot evaluation; unknown split;
            ``gold_dir`` for a task without a leaderboard file, or with ``split`` or
            ``max_examples_per_language``.
        MissingDataError: no prediction files; a requested language has no prediction file; a
            language has no gold data (not a language of the split, or its gold file is missing).
        DataFormatError: a prediction file is malformed, or does not match the gold examples
            (count; the message names the file and both counts).
        UnlabelledDataError: the gold files carry no labels (XTREME's test files).
    """
    spec = get_task(task)
    if gold_dir is not None:
        split = _leaderboard_split(spec, split, max_examples_per_language)
    elif split is None:
        if spec.zero_shot is None:
            raise ConfigError(f"task {task!r} has no zero-shot split; pass --split (one of {sorted(spec.splits)})")
        split = spec.zero_shot.split
    files = find_prediction_files(spec, predictions_dir, split)  # before torch loads: a wrong folder is refused at once
    from sweeper.task_types import get_task_type  # torch: only when files are scored
    from sweeper.task_types.submission_files import FileIssues

    task_type = get_task_type(spec.task_type)
    gold_files = _leaderboard_gold_files(spec, gold_dir) if gold_dir is not None else None
    expected = list(gold_files) if gold_files is not None else gold_languages(spec, split)
    if languages is not None:
        absent = [language for language in languages if language not in files]
        if absent:
            raise MissingDataError(
                f"no {task} prediction file for language(s) {', '.join(absent)} in {predictions_dir}; "
                f"files were found for {', '.join(sorted(files))}"
            )
        files = {language: files[language] for language in languages}
    without_gold = [language for language in files if language not in expected]
    if without_gold:
        where = f"in {gold_dir}" if gold_dir is not None else f"of task {task!r}, split {split!r}"
        raise MissingDataError(
            f"no gold data for language(s) {', '.join(without_gold)} {where} "
            f"(files {', '.join(str(files[language]) for language in without_gold)}); there is gold "
            f"data for: {', '.join(expected)}. Remove those files or pass --languages without them."
        )
    scores = {}
    for language in sorted(files, key=expected.index):
        path = files[language]
        if gold_files is not None:
            examples = task_type.read_leaderboard_gold(gold_files[language])
        else:
            try:
                examples = load_split(spec, split, data_dir, language, max_examples_per_language)
            except MissingDataError as error:
                raise MissingDataError(f"no gold data for {path} (language {language!r}): {error}") from error
        issues = FileIssues(path)
        predictions = task_type.read_predictions(path, issues)
        metrics = _score_file(task_type, spec, path, predictions, examples, language, issues)
        message = issues.message()
        scores[language] = LanguageScore(path, len(examples), metrics, (message,) if message else ())
    metrics = [name for name in next(iter(scores.values())).metrics if all(name in s.metrics for s in scores.values())]
    per_language = {language: score.metrics for language, score in scores.items()}
    return ScoreReport(
        task=task,
        split=split,
        languages=scores,
        expected_languages=tuple(expected),
        average={name: fmean(score.metrics[name] for score in scores.values()) for name in metrics},
        task_score=task_score(task, per_language) if task in TASK_METRICS else None,
        task_score_rule=task_score_rule(task),
    )


def _leaderboard_split(spec: TaskSpec, split: str | None, max_examples_per_language: int | None) -> str:
    """The split leaderboard files predict, for scoring against a ``--gold`` folder.

    Raises:
        ConfigError: the task has no leaderboard file; ``split`` or ``max_examples_per_language``
            was given too.
    """
    if spec.submission is None:
        raise ConfigError(f"task {spec.task!r} has no XTREME leaderboard file; score it against --data-dir instead of --gold")
    if split is not None and split != spec.submission.split:
        raise ConfigError(
            f"--gold holds the leaderboard labels, which are those of {spec.task}'s {spec.submission.split!r} "
            f"split, not {split!r}: drop --split, or score split {split!r} against --data-dir"
        )
    if max_examples_per_language is not None:
        raise ConfigError("--max-examples-per-language applies to --data-dir gold data, not to --gold label files")
    return spec.submission.split


def _leaderboard_gold_files(spec: TaskSpec, gold_dir: Path) -> dict[str, Path]:
    """Language → gold label file ``test-<lang>.<suffix>`` in ``gold_dir/<task>`` or ``gold_dir``,
    the task's zero-shot languages first.

    Raises:
        MissingDataError: the folder does not exist or holds no gold file of the task.
    """
    suffix = prediction_suffix(spec.task_type)
    folder = gold_dir / spec.task if (gold_dir / spec.task).is_dir() else gold_dir
    if not folder.is_dir():
        raise MissingDataError(f"gold folder {gold_dir} does not exist")
    pattern = re.compile(rf"{re.escape(LEADERBOARD_PREFIX)}-(.+)\.{re.escape(suffix)}")
    found = {
        match.group(1): path for path in sorted(folder.iterdir()) if (match := pattern.fullmatch(path.name)) and path.is_file()
    }
    if not found:
        raise MissingDataError(
            f"no {spec.task} gold files in {folder}: expected the leaderboard's label files "
            f"{LEADERBOARD_PREFIX}-<lang>.{suffix} (XTREME evaluate.py --label_folder layout, <folder>/{spec.task}/)"
        )
    order = list(spec.zero_shot.languages) if spec.zero_shot is not None else []
    return dict(
        sorted(found.items(), key=lambda item: (item[0] not in order, order.index(item[0]) if item[0] in order else 0, item[0]))
    )


def _score_file(
    task_type, spec: TaskSpec, path: Path, predictions: Any, examples: Any, language: str, issues: FileIssues
) -> dict[str, float]:
    """Score one file, recording in ``issues`` what scores as wrong; a count mismatch with the
    gold examples becomes a DataFormatError naming ``path``.

    Predictions keyed by question id (QA) are scored as the official SQuAD/MLQA scripts score
    them: a gold question without a prediction scores 0, an unknown id is ignored (both reported
    in ``issues``). Other predictions are aligned by position; the task type's ``score`` checks
    their count.
    """
    task_type.check_predictions(predictions, examples, spec, issues)
    try:
        with warnings.catch_warnings():
            # the QA metric's own warning about unanswered questions is already in ``issues``
            warnings.filterwarnings("ignore", message=r".*questions have no prediction and score 0", category=RuntimeWarning)
            return task_type.score(predictions, examples, spec, language)
    except ValueError as error:
        hint = ""
        if len(predictions) == 0:
            hint = ". The file is empty"
        elif len(predictions) < len(examples):
            hint = (
                f". A sweep with zero_shot.max_examples_per_language={len(predictions)} predicts only the first "
                f"{len(predictions)} examples: pass --max-examples-per-language {len(predictions)}"
            )
        raise DataFormatError(
            path,
            None,
            f"{len(predictions)} predictions do not match the {len(examples)} gold examples of "
            f"{spec.task}/{language}: {error}{hint}",
        ) from error
