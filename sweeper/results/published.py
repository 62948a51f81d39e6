"""Published results a sweep is compared against in its report (pure).

The numbers are data, kept in ``published_xtreme.yaml`` next to this module (XLM-R Large and
X-STILTs on the XTREME test sets, as the XTREME leaderboard reports them); this module only reads
them and turns each row into XTREME task scores.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from sweeper.metrics.xtreme import TASK_GROUPS, task_score

PUBLISHED_FILE = Path(__file__).with_name("published_xtreme.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublishedRow(_Strict):
    """One published model: task → metric → value (0–100), averaged over the task's languages."""

    label: str
    metrics: dict[str, dict[str, float]]

    def task_scores(self) -> dict[str, float]:
        """task → XTREME task score (``sweeper.metrics.xtreme.task_score``: QA (EM + F1) / 2)."""
        return {task: task_score(task, {"avg": metrics}) for task, metrics in self.metrics.items()}


class PublishedResults(_Strict):
    """Published rows with their source.

    Attributes:
        source: where the numbers come from (stated in the report).
        benchmark: the benchmark whose tasks and scoring they follow (``xtreme``).
        split: the evaluation split of the published numbers (``test``).
        note: caveats of the source, e.g. other figures published elsewhere.
        models: model ids (compared case-insensitively) whose sweeps get the comparison rows.
    """

    source: str
    benchmark: str
    split: str
    note: str = ""
    models: list[str] = Field(min_length=1)
    rows: list[PublishedRow] = Field(min_length=1)


@cache
def load_published(path: Path = PUBLISHED_FILE) -> PublishedResults:
    """Read and validate a published-results file.

    Raises:
        pydantic.ValidationError: a field is missing, unknown or not a number.
        ValueError: an unknown benchmark, or a task without the metrics its task score needs.
    """
    results = PublishedResults.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    if results.benchmark not in TASK_GROUPS:
        raise ValueError(f"{path}: unknown benchmark {results.benchmark!r}")
    for row in results.rows:
        row.task_scores()  # raises on an unknown task or missing metric
    return results


def published_for_model(model: str | None, path: Path = PUBLISHED_FILE) -> PublishedResults | None:
    """The published results to compare a sweep of ``model`` against, or ``None`` when the file
    names no such model (only XLM-R Large has published XTREME rows here)."""
    if model is None:
        return None
    results = load_published(path)
    return results if model.lower() in {name.lower() for name in results.models} else None
