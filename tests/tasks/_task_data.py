"""Helpers of the task tests: small data files written in each data set's original format, into a
temporary data directory laid out as the task files say, and a tiny training configuration."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sweeper.config import TrainingConfig

#: A tiny stage: 2 optimizer steps, one English-dev evaluation at step 2.
TINY = TrainingConfig(
    learning_rate=1e-3,
    per_device_train_batch_size=4,
    per_device_eval_batch_size=8,
    max_seq_length=48,
    max_steps=2,
    eval_steps=2,
    max_train_examples=16,
    max_dev_examples=8,
    warmup_ratio=0.0,
)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    return write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def write_xtreme_tsv(path: Path, rows: list[list[str]]) -> Path:
    """Rows as google-research/xtreme's utils_preprocess.py writes them (csv.writer, tab)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(rows)
    return path


def link(target: Path, link_path: Path) -> None:
    """Expose a read-only shared folder inside a temporary layout (never copied, never modified)."""
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(target, target_is_directory=target.is_dir())
