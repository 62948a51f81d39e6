"""What the target, zero-shot and retrieval stages leave in the stage cache, written and read back.

A finished target stage folder holds ``best_model/`` (encoder, head, tokenizer) and its marker
:data:`~sweeper.cache.markers.STAGE_MARKER` with every English-dev evaluation (``history``), the
best score and step; a finished evaluation folder (zero-shot or retrieval) holds
``predictions/<task>/`` and a marker with the per-language scores. Both are published atomically
(:func:`sweeper.models.cache.build_once`, marker written last), so a reader either finds a whole
stage or none; a replaying trial reads them without torch (:func:`read_target_history`,
:func:`read_evaluation`).

Pure: no Ray, no MLflow, no torch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.cache.markers import STAGE_MARKER
from sweeper.models.cache import build_once
from sweeper.storage import BEST_MODEL_DIR

#: One English-dev evaluation: (optimizer step, metrics 0–100 with ``score`` the selection metric).
Evaluation = tuple[int, dict[str, float]]


@dataclass(frozen=True)
class ZeroShotResult:
    """Per-language metrics (0–100) of the zero-shot stage and where predictions were written.

    Attributes:
        per_language: language → metric → value on the task's zero-shot split.
        predictions_dir: ``<folder>/predictions/<task>``.
        dev_per_language: language → metric on the target languages' dev split, what policy
            ``target_dev`` selects on: BUCC at the threshold tuned there; trained targets in
            ``target_dev_languages``; empty otherwise.
        thresholds: BUCC only: language → the ratio-margin threshold tuned on dev.
    """

    per_language: dict[str, dict[str, float]]
    predictions_dir: Path
    dev_per_language: dict[str, dict[str, float]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)


def _marker(folder: Path) -> dict[str, Any]:
    return json.loads((folder / STAGE_MARKER).read_text(encoding="utf-8"))


def publish_target_stage(
    stage_dir: Path,
    save_model: Callable[[Path], None],
    history: list[Evaluation],
    best_score: float,
    best_step: int,
    record: Mapping[str, Any],
) -> Path:
    """Publish a finished target stage: ``save_model(folder)`` writes the best model (with its
    head and tokenizer) into ``<stage_dir>/best_model``; the marker holds ``record`` (key,
    inputs, who trained it), ``history`` (every English-dev evaluation) and the best score
    (0–100) and step. A stage another trial published first is kept.

    Returns:
        The published best model folder.

    Raises:
        ValueError: ``history`` is empty (a trained stage evaluates at least once).
    """
    if not history:
        raise ValueError(f"target stage {stage_dir.name}: no English-dev evaluation to publish")

    def write(folder: Path) -> None:
        save_model(folder / BEST_MODEL_DIR)
        payload = {
            **record,
            "history": [[step, metrics] for step, metrics in history],
            "best_score": best_score,
            "best_step": best_step,
        }
        (folder / STAGE_MARKER).write_text(json.dumps(payload), encoding="utf-8")

    build_once(stage_dir, write)
    return stage_dir / BEST_MODEL_DIR


def read_target_history(stage_dir: Path) -> tuple[list[Evaluation], float]:
    """A finished target stage's English-dev evaluations, in order, and its best score (0–100).

    Raises:
        FileNotFoundError: the stage is not finished.
    """
    marker = _marker(stage_dir)
    return [(step, metrics) for step, metrics in marker["history"]], marker["best_score"]


def publish_evaluation(evaluation_dir: Path, result: ZeroShotResult, task: str, record: Mapping[str, Any]) -> ZeroShotResult:
    """Publish a finished zero-shot or retrieval evaluation: a copy of ``result.predictions_dir``
    as ``<evaluation_dir>/predictions/<task>`` and the scores in the marker (with ``record``).
    An evaluation another trial published first is kept.

    Returns:
        The published result (:func:`read_evaluation`), predictions inside ``evaluation_dir``.
    """

    def write(folder: Path) -> None:
        shutil.copytree(result.predictions_dir, folder / "predictions" / task)
        payload = {
            **record,
            "per_language": result.per_language,
            "dev_per_language": result.dev_per_language,
            "thresholds": result.thresholds,
        }
        (folder / STAGE_MARKER).write_text(json.dumps(payload), encoding="utf-8")

    build_once(evaluation_dir, write)
    return read_evaluation(evaluation_dir, task)


def read_evaluation(evaluation_dir: Path, task: str) -> ZeroShotResult:
    """A finished evaluation of ``task`` in the stage cache.

    Raises:
        FileNotFoundError: the evaluation is not finished.
    """
    marker = _marker(evaluation_dir)
    return ZeroShotResult(
        marker["per_language"], evaluation_dir / "predictions" / task, marker["dev_per_language"], marker["thresholds"]
    )
