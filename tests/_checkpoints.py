"""A :class:`~sweeper.training.trainer.CheckpointCallback` for stage tests: keeps copies of chosen
checkpoints and records every call in order."""

from __future__ import annotations

import shutil
from pathlib import Path


class KeptCheckpoints:
    """Copies the checkpoint of each evaluation in ``keep`` (evaluation number → folder) and
    records the calls: ``(evaluation, step, metrics, file names)`` per checkpoint in
    ``checkpoints``, and every call's kind (``"checkpoint"`` / ``"flush"``) in ``calls``."""

    def __init__(self, keep: dict[int, Path]):
        self.keep = keep
        self.checkpoints: list[tuple[int, int, dict[str, float], list[str]]] = []
        self.calls: list[str] = []

    def __call__(self, evaluation: int, step: int, metrics: dict[str, float], checkpoint_dir: Path) -> None:
        self.calls.append("checkpoint")
        self.checkpoints.append((evaluation, step, metrics, sorted(path.name for path in checkpoint_dir.iterdir())))
        if evaluation in self.keep:
            shutil.copytree(checkpoint_dir, self.keep[evaluation])

    def flush(self) -> None:
        self.calls.append("flush")
