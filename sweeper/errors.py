"""Errors that sweeper reports to users before (or instead of) starting any trial.

Every error names the file, field or value that is wrong and says how to fix it. The CLI turns
:class:`SweeperError` into exit code 2 with the message and no traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class SweeperError(Exception):
    """Base class of user-facing errors (bad configuration, task, data or model)."""


class ConfigError(SweeperError):
    """A sweep configuration, task file or search-space value is invalid."""


class UnknownTaskError(ConfigError):
    """A task id that no file in ``tasks/`` declares."""

    def __init__(self, task: str, known: Iterable[str]):
        known = sorted(known)
        hint = did_you_mean(task, known)
        super().__init__(
            f"unknown task {task!r}.{hint} Registered tasks: {', '.join(known)}. "
            "Run `sweeper tasks` to list them with their types and languages."
        )
        self.task = task


class DataFormatError(SweeperError):
    """A data file exists but its content does not match the expected format.

    Args:
        path: the file that is corrupt.
        line: 1-based line number (or record number for JSON files) where the problem was found;
            ``None`` when the whole file is at fault.
        message: what is wrong and what was expected.
    """

    def __init__(self, path: Path | str, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line
        self.detail = message


class MissingDataError(SweeperError):
    """A data file a task needs is not where the data layout says it should be."""


class TrackingError(SweeperError):
    """The MLflow tracking server does not answer, or holds no sweep of the given name."""


class SweepFailedError(SweeperError):
    """Trials failed after their retries (``resources.max_failures``) and left the sweep without
    the results it needs: an intermediate stage, or every trial of a target. The message names
    the error and says how to continue: what the sweep finished is kept, and ``sweeper resume``
    runs the failed trials again from their last checkpoints."""


class UnlabelledDataError(SweeperError):
    """Gold data to score or train on carries no labels (e.g. an XTREME test file: XTREME's
    ``download_data.sh`` removes test labels, which only the leaderboard holds)."""


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest candidate, or ``""`` when none is close."""
    matches = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


class SweepConfigWarning(UserWarning):
    """A sweep configuration that is valid but likely to waste trials (e.g. a learning rate at
    which the model is known to diverge); shown by ``sweeper plan`` and ``sweeper run``."""
