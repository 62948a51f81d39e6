"""Marker files that say a stage folder in the stage cache is finished (written last, read first; pure)."""

from __future__ import annotations

from pathlib import Path

#: Written last into a finished intermediate encoder folder (sweeper.training.stages.run_intermediate_stage).
ENCODER_MARKER = "encoder_complete.json"


def encoder_is_complete(encoder_dir: Path) -> bool:
    """Whether ``encoder_dir`` holds a finished intermediate encoder (a cache hit)."""
    return (encoder_dir / ENCODER_MARKER).is_file()


#: Written last into a finished target, zero-shot or retrieval stage folder.
STAGE_MARKER = "stage_complete.json"
