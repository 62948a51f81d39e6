"""Tokenized features cached beside the stage cache, so a data set is tokenized once per stage
rather than once per trial (pure: no Ray, no MLflow, no torch).

Every target trial of a sweep trains on the same English training set and is evaluated zero-shot
on the same evaluation splits; without this cache each one tokenizes them again (XNLI's 393k MNLI
pairs: tens of seconds of host work per trial before its first optimizer step, for trials ASHA may
stop at their first evaluation; PAN-X's evaluation: 40 languages of up to 10,000 sentences).

A feature set's key hashes what determines it, as the stage keys do (:mod:`sweeper.cache.store`):
its purpose, the model's identity (its tokenizer), the task spec (labels included: they become label ids),
the split, language and example budget, the featurization settings
(:data:`sweeper.config.FEATURIZATION_SETTINGS`) and the sha256 of the split's data files. Layout::

    <stage cache root>/features/<task>-<split>-<lang>-<purpose>-<key>/arrow/     the features (Arrow)
    <stage cache root>/features/<task>-<split>-<lang>-<purpose>-<key>/features_complete.json   written last
    <stage cache root>/features/<task>-<split>-<lang>-<purpose>-<key>.lock       held while one trial builds it

(``purpose``: ``train`` or ``predict``.)

Features are stored with the ``datasets`` library (Arrow). Training sets are read memory-mapped:
trials that share a node (trial packing) share one copy in the page cache instead of a Python list
each; prediction features are read into columns (QA and tagging post-processing index them).
A set is built under its lock and published by atomic rename (:func:`sweeper.models.cache.build_once`),
so concurrent trials tokenize it once and a crash never leaves a set that looks finished.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sweeper.cache.fingerprints import FINGERPRINTS_FILE, splits_version
from sweeper.cache.locks import stage_lock
from sweeper.config import FEATURIZATION_SETTINGS, TrainingConfig, stable_hash
from sweeper.models.cache import build_once
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec

#: Bumped when the features a task type builds change meaning: older sets are not reused.
FEATURES_FORMAT = 1
FEATURES = "features"
#: Written last into a finished feature set's folder.
FEATURES_MARKER = "features_complete.json"
_ARROW = "arrow"
#: What a feature set is for: training (rows with targets) or prediction (columns with offsets, word ids).
Purpose = Literal["train", "predict"]


@dataclass(frozen=True)
class FeatureCache:
    """Where one sweep's tokenized features live (built by the driver, sent to every trial's
    workers in its :class:`~sweeper.ray_adapter.job.StageJob`; they locate a set by hashing and a
    ``stat`` per data file).

    Attributes:
        root: the stage cache folder (features go to ``root/features``).
        model: :func:`sweeper.cache.fingerprints.model_identity` of the resolved model, whose
            tokenizer every stage uses.
    """

    root: Path
    model: dict[str, str]

    def folder(
        self,
        purpose: Purpose,
        task: TaskSpec,
        split: str,
        language: str,
        limit: int | None,
        settings: TrainingConfig,
        data_dir: Path | None,
    ) -> tuple[Path, dict[str, Any]]:
        """The folder of one feature set and the inputs its key hashes.

        Args:
            purpose: ``train`` (a task type's ``train_features``) or ``predict`` (its
                ``prediction_features``: evaluation windows, offsets, word ids).
            task: the task, its labels resolved.
            split / language / limit: what :func:`sweeper.data.sources.load_split` reads.
            settings: of these, only :data:`~sweeper.config.FEATURIZATION_SETTINGS` count.
            data_dir: the local data root (``None``: the Hub sources, by their ids).

        Raises:
            FileNotFoundError: a data file of the split is missing.
        """
        inputs = {
            "format": FEATURES_FORMAT,
            "purpose": purpose,
            "model": self.model,
            "task": task.model_dump(mode="json"),
            "split": split,
            "language": language,
            "limit": limit,
            "featurization": {name: getattr(settings, name) for name in FEATURIZATION_SETTINGS},
            "data": splits_version(task, data_dir, self.root / FINGERPRINTS_FILE, {split: (language,)}),
        }
        key = stable_hash(inputs, length=16)
        return self.root / FEATURES / f"{task.task}-{split}-{language}-{purpose}-{key}", inputs

    def training_features(
        self,
        task: TaskSpec,
        settings: TrainingConfig,
        data_dir: Path | None,
        build: Callable[[], list[dict]],
    ) -> Sequence[dict]:
        """The tokenized training set of ``task`` (``settings.max_train_examples`` examples of its
        English ``train`` split): loaded from the cache, or built with ``build()`` (which loads
        and tokenizes the examples: one dict per feature), stored, then loaded. Of two trials
        asking at once, one builds and the other waits for it.

        Returns:
            A memory-mapped ``datasets.Dataset`` whose rows are the dicts ``build`` returns (tuples
            read back as lists); ``len`` and indexing as on a list.

        Raises:
            FileNotFoundError: a data file of the split is missing.
            Exception: whatever ``build`` raises (nothing is stored).
        """
        folder, inputs = self.folder("train", task, "train", TRAIN_LANGUAGE, settings.max_train_examples, settings, data_dir)
        _build_once(folder, inputs, lambda: _from_rows(build()))
        return _read(folder)

    def prediction_features(
        self,
        task: TaskSpec,
        split: str,
        language: str,
        limit: int | None,
        settings: TrainingConfig,
        data_dir: Path | None,
        build: Callable[[], dict[str, list]],
    ) -> dict[str, list]:
        """The features a task type predicts ``split`` in ``language`` on (the first ``limit``
        examples), column-wise as ``build()`` returns them (:meth:`TaskType.prediction_features`),
        from the cache or built and stored as :meth:`training_features` does.

        Returns:
            ``{key: [value per feature]}`` (tuples read back as lists).

        Raises:
            FileNotFoundError: a data file of the split is missing.
            Exception: whatever ``build`` raises (nothing is stored).
        """
        folder, inputs = self.folder("predict", task, split, language, limit, settings, data_dir)
        _build_once(folder, inputs, lambda: _from_columns(build()))
        return _read(folder).to_dict()


def _build_once(folder: Path, inputs: dict[str, Any], build) -> None:
    """Under the set's lock: unless it is finished, ``build()`` a ``datasets.Dataset`` and publish it."""
    with stage_lock(folder):
        if not (folder / FEATURES_MARKER).is_file():
            dataset = build()
            build_once(folder, lambda partial: _write(partial, dataset, inputs))


def _from_rows(rows: list[dict]):
    import datasets

    return datasets.Dataset.from_list(rows)


def _from_columns(columns: dict[str, list]):
    import datasets

    return datasets.Dataset.from_dict(columns)


@contextmanager
def _quiet_datasets():
    """``datasets`` without its progress bars (they would fill every trial's log), then as before."""
    from datasets.utils import logging as datasets_logging

    enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            datasets_logging.enable_progress_bar()


def _write(folder: Path, dataset, inputs: dict[str, Any]) -> None:
    with _quiet_datasets():
        dataset.save_to_disk(str(folder / _ARROW))
    marker = {"key_inputs": inputs, "num_features": len(dataset)}
    (folder / FEATURES_MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")


def _read(folder: Path) -> Sequence[dict]:
    import datasets

    with _quiet_datasets():
        return datasets.Dataset.load_from_disk(str(folder / _ARROW), keep_in_memory=False)
