"""Fingerprints of what a stage reads: sha256 digests of data and model files, remembered by (path, size, mtime), and the data versions that go into stage keys (pure)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from sweeper.config import MLM_MEMBER, SweepConfig
from sweeper.data.sources import labels_path, layout_root, task_split
from sweeper.registry import THRESHOLD_SPLIT, TRAIN_LANGUAGE, TaskSpec, is_retrieval, zero_shot_languages
from sweeper.sweep.grid import target_dev_languages
from sweeper.sweep.multitask import MultitaskStage, mlm_path

FINGERPRINTS_FILE = "fingerprints.json"


_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json_atomically(path: Path, payload: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def file_digests(files: list[Path], store: Path) -> dict[Path, str]:
    """The sha256 (hex) of each file, remembered in ``store`` by (absolute path, size, mtime).

    A file whose size and modification time are unchanged is not read again, so fingerprinting a
    data set costs one ``stat`` per file after the first time. ``store`` is updated under a file
    lock and replaced atomically (concurrent sweeps may fingerprint at the same time).

    Raises:
        FileNotFoundError: a file does not exist.
    """
    known: dict[str, str] = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
    stamps = {}
    for file in files:
        stat = file.stat()
        stamps[file] = f"{file.absolute()}|{stat.st_size}|{stat.st_mtime_ns}"
    new = {stamp: _sha256(file) for file, stamp in stamps.items() if stamp not in known}
    if new:
        store.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(store.with_name(store.name + ".lock"), fallback_to_soft=False):
            current = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
            _write_json_atomically(store, {**current, **new})
    return {file: new.get(stamp) or known[stamp] for file, stamp in stamps.items()}


def model_identity(model_source: str, store: Path) -> dict[str, str]:
    """What identifies the resolved model: ``{"folder_sha256": ...}`` (a digest of every file's
    relative path and sha256) for a local folder, ``{"hub": id}`` for a Hub model id (its revision
    is not pinned: a changed Hub model under the same id is not noticed)."""
    folder = Path(model_source)
    if not folder.is_dir():
        return {"hub": model_source}
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    digests = file_digests(files, store)
    listing = "\n".join(f"{file.relative_to(folder).as_posix()}:{digests[file]}" for file in files)
    return {"folder_sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest()}


def splits_version(
    task: TaskSpec, data_dir: Path | None, store: Path, splits: Mapping[str, Sequence[str]], optional: Collection[str] = ()
) -> dict[str, Any]:
    """The version of the data of ``splits`` (split → languages) of ``task``.

    With ``data_dir``: per split, each file (relative to the layout root, so a copy of the same
    files elsewhere has the same version) → sha256; the missing files of the ``optional`` splits
    are skipped (an unlabelled leaderboard split that exists only in some languages). Without:
    each source's Hub dataset (path, config, split, converter; no revision is pinned).

    Raises:
        FileNotFoundError: a data file is missing (validation reports it first, naming the layout).
    """
    version: dict[str, Any] = {}
    for split, languages in splits.items():
        sources = task_split(task, split).sources
        if data_dir is None:
            version[split] = [source.hub.model_dump() if source.hub else None for source in sources]
            continue
        root = layout_root(task, data_dir)
        files = [
            root / pattern.format(lang=task.file_language(language))
            for language in languages
            for source in sources
            for pattern in source.files
        ]
        if split in optional:
            files = [file for file in files if file.is_file()]
        digests = file_digests(files, store)
        version[split] = {file.relative_to(root).as_posix(): digests[file] for file in files}
    return version


def data_version(
    task: TaskSpec,
    data_dir: Path | None,
    store: Path,
    train_split: str = "train",
    languages: tuple[str, ...] = (TRAIN_LANGUAGE,),
) -> dict[str, Any]:
    """The version of the data a training stage of ``task`` reads (:func:`splits_version`):
    ``train_split`` in ``languages`` (default English ``train``), the English ``dev``, and the
    ``labels_file`` digest (CCG) with ``data_dir``.

    Raises:
        FileNotFoundError: a data file is missing (validation reports it first, naming the layout).
    """
    version = splits_version(task, data_dir, store, {train_split: languages, "dev": (TRAIN_LANGUAGE,)})
    if task.labels_file is not None and data_dir is not None:
        path = labels_path(task, data_dir)
        version["labels_file"] = file_digests([path], store)[path]
    return version


def multitask_data_version(stage: MultitaskStage, data_dir: Path | None, store: Path) -> dict[str, Any]:
    """The data version of a multi-task stage: each member's :func:`data_version` (its
    ``train_split`` in its languages) and the sha256 of every MLM text file.

    Raises:
        FileNotFoundError: a data or MLM file is missing.
        ConfigError: a relative MLM file without ``data_dir``.
    """
    version: dict[str, Any] = {
        member.name: data_version(member.task, data_dir, store, member.train_split, member.languages)
        for member in stage.members
        if member.task is not None
    }
    if stage.mlm is not None:
        files = [mlm_path(pattern, data_dir) for pattern in stage.mlm.train_files + stage.mlm.dev_files]
        digests = file_digests(files, store)
        version[MLM_MEMBER] = [digests[file] for file in files]
    return version


def evaluation_data_version(config: SweepConfig, task: TaskSpec, data_dir: Path | None, store: Path) -> dict[str, Any]:
    """The :func:`splits_version` of what evaluating target ``task`` reads: its zero-shot split in
    the evaluated languages; a trained target's dev split in
    :func:`sweeper.sweep.grid.target_dev_languages` and its leaderboard split (PAN-X's unlabelled test,
    where its files exist); a mining task's threshold split (BUCC dev).

    Raises:
        FileNotFoundError: a file of a split other than the leaderboard one is missing.
    """
    languages = zero_shot_languages(task, config.zero_shot)
    splits = {task.zero_shot.split: languages}
    optional = set()
    if is_retrieval(task):
        if THRESHOLD_SPLIT in task.splits and THRESHOLD_SPLIT != task.zero_shot.split:
            splits[THRESHOLD_SPLIT] = languages
    else:
        dev_languages = target_dev_languages(config, task, data_dir)
        if dev_languages and task.zero_shot.dev_split != task.zero_shot.split:
            splits[task.zero_shot.dev_split] = dev_languages
        if task.submission is not None and task.submission.split not in splits:
            splits[task.submission.split] = languages
            optional.add(task.submission.split)
    return splits_version(task, data_dir, store, splits, optional)
