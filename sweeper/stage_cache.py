"""The content-addressed cache of finished stages, shared by sweeps and by concurrent trials.

A stage's key hashes everything that determines its output: the stage configuration
(:attr:`sweeper.plan.IntermediateStage.key`: model name, task spec with its version, training
settings with the seed), the identity of the resolved model (a digest of a local model folder's
files, or the Hub id), the data version (a digest of every data file the stage reads, or the Hub
dataset ids), and the stage it starts from (the pretrained model for an intermediate stage). The
same key means the same encoder, so it is trained once, whichever sweep asks first.

Layout under the cache root (``storage.stage_cache_dir``, default ``$SWEEPER_CACHE_DIR/stages``
or ``~/.cache/sweeper/stages``)::

    intermediate/<name>-<key>/        encoder + tokenizer; encoder_complete.json written last
    intermediate/<name>-<key>.lock    held while a trial trains the stage
    fingerprints.json                 sha256 of data and model files by (path, size, mtime)

A stage folder is written under a temporary name and renamed into place (``os.replace``) only
once it is complete, its marker included, so a crash never leaves a folder that looks finished.
The lock is an OS file lock (``flock``): the kernel releases it when its holder dies, so a
crashed trial never blocks the next one, which finds no finished stage and trains it.

Pure: no Ray, no MLflow, no torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from sweeper.config import MLM_MEMBER, SweepConfig, stable_hash
from sweeper.data.sources import labels_path, layout_root, task_split
from sweeper.models.cache import cache_root
from sweeper.multitask import MultitaskStage, mlm_path
from sweeper.plan import ENCODER_MARKER, IntermediateStage, encoder_is_complete, intermediate_stages
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec

logger = logging.getLogger(__name__)

#: Bumped when the layout or the meaning of a cached stage changes: older entries are not reused.
CACHE_FORMAT = 1
INTERMEDIATE = "intermediate"
FINGERPRINTS_FILE = "fingerprints.json"
_CHUNK = 1 << 20


def stage_cache_root(config: SweepConfig) -> Path:
    """The stage cache folder of ``config``: ``storage.stage_cache_dir`` (``~`` expanded), else
    ``<cache root>/stages`` (``$SWEEPER_CACHE_DIR`` or ``~/.cache/sweeper``). Not created."""
    if config.storage.stage_cache_dir is not None:
        return Path(config.storage.stage_cache_dir).expanduser().absolute()
    return cache_root() / "stages"


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


def data_version(
    task: TaskSpec,
    data_dir: Path | None,
    store: Path,
    train_split: str = "train",
    languages: tuple[str, ...] = (TRAIN_LANGUAGE,),
) -> dict[str, Any]:
    """The version of the data an intermediate stage of ``task`` reads: ``train_split`` in
    ``languages`` (default English ``train``) and the English ``dev``.

    With ``data_dir``: each split's files (relative to the layout root, so a copy of the same
    files elsewhere has the same version) → sha256, and the ``labels_file`` digest (CCG). Without:
    each source's Hub dataset (path, config, split, converter; no revision is pinned).

    Raises:
        FileNotFoundError: a data file is missing (validation reports it first, naming the layout).
    """
    version: dict[str, Any] = {}
    for split, split_languages in ((train_split, languages), ("dev", (TRAIN_LANGUAGE,))):
        sources = task_split(task, split).sources
        if data_dir is None:
            version[split] = [source.hub.model_dump() if source.hub else None for source in sources]
            continue
        root = layout_root(task, data_dir)
        files = [
            root / pattern.format(lang=task.file_language(language))
            for language in split_languages for source in sources for pattern in source.files
        ]
        digests = file_digests(files, store)
        version[split] = {file.relative_to(root).as_posix(): digests[file] for file in files}
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
        for member in stage.members if member.task is not None
    }
    if stage.mlm is not None:
        files = [mlm_path(pattern, data_dir) for pattern in stage.mlm.train_files + stage.mlm.dev_files]
        digests = file_digests(files, store)
        version[MLM_MEMBER] = [digests[file] for file in files]
    return version


@dataclass(frozen=True)
class CachedStage:
    """An intermediate stage located in the stage cache.

    Attributes:
        stage: the stage (task and training settings).
        key: the cache key (hex, 16 characters), a hash of :attr:`inputs`.
        inputs: what determines the stage's output (see the module docstring); written into the
            finished stage's marker file for inspection.
        path: the stage's folder, ``<root>/intermediate/<task>-<key>``.
    """

    stage: IntermediateStage | MultitaskStage
    key: str
    inputs: dict[str, Any]
    path: Path

    @property
    def task(self) -> str:
        """The stage's name in ``intermediate_tasks`` (a task id or a ``multitask`` entry)."""
        return self.stage.name

    @property
    def complete(self) -> bool:
        """Whether the stage is finished (its marker exists): a cache hit."""
        return encoder_is_complete(self.path)

    def marker(self) -> dict[str, Any]:
        """The finished stage's ``encoder_complete.json`` (what trained it, its best score).

        Raises:
            FileNotFoundError: the stage is not finished.
        """
        return json.loads((self.path / ENCODER_MARKER).read_text(encoding="utf-8"))


def locate_stage(
    stage: IntermediateStage | MultitaskStage, root: Path, model: dict[str, str], data_dir: Path | None
) -> CachedStage:
    """Where ``stage`` lives in the stage cache ``root``, for the resolved model's
    :func:`model_identity` ``model`` and the data under ``data_dir`` (``None``: the Hub).

    Raises:
        FileNotFoundError: a data file is missing.
    """
    inputs = {
        "format": CACHE_FORMAT,
        "stage": INTERMEDIATE,
        "config_key": stage.key,
        "model": model,
        "data": (
            multitask_data_version(stage, data_dir, root / FINGERPRINTS_FILE)
            if isinstance(stage, MultitaskStage)
            else data_version(stage.task, data_dir, root / FINGERPRINTS_FILE)
        ),
        "init_from": "pretrained",  # an intermediate stage starts from the model above
    }
    key = stable_hash(inputs, length=16)
    return CachedStage(stage, key, inputs, root / INTERMEDIATE / f"{stage.name}-{key}")


def cached_intermediate_stages(config: SweepConfig, model_source: str, data_dir: Path | None) -> list[CachedStage]:
    """The intermediate stages of ``config`` (``sweeper.plan.intermediate_stages``) located in the
    stage cache of ``config`` (:func:`locate_stage`) for the resolved ``model_source``. Reads data
    and model files once to fingerprint them (afterwards only ``stat``).

    Raises:
        FileNotFoundError: a data file is missing.
    """
    root = stage_cache_root(config)
    model = model_identity(model_source, root / FINGERPRINTS_FILE)
    return [locate_stage(stage, root, model, data_dir) for stage in intermediate_stages(config)]


def lock_path(stage_dir: Path) -> Path:
    """The lock file of a stage folder: ``<stage_dir>.lock`` beside it."""
    return stage_dir.with_name(stage_dir.name + ".lock")


@contextmanager
def stage_lock(stage_dir: Path) -> Iterator[None]:
    """Hold the stage's lock: a second trial of the same stage waits here until the first one has
    published the stage (it then finds it complete and reuses it) or has died (the OS releases
    the lock; the stage is not complete, so the waiter trains it). Stale partial folders of a
    crashed holder are removed once the lock is held.

    Raises:
        filelock's errors: the lock file cannot be created or the file system has no ``flock``
            (``fallback_to_soft=False``: a soft lock would outlive a crashed holder).
    """
    stage_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(stage_dir), fallback_to_soft=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("stage %s is being trained by another trial; waiting for it", stage_dir.name)
        lock.acquire()
    try:
        for partial in stage_dir.parent.glob(f".{stage_dir.name}.partial-*"):
            shutil.rmtree(partial)  # left by a holder that died while writing
        yield
    finally:
        lock.release()


def train_once(stage_dir: Path, train: Callable[[], None]) -> bool:
    """Run ``train`` (which publishes the stage into ``stage_dir``) unless the stage is finished,
    holding the stage's lock (:func:`stage_lock`): of two trials of the same stage, in one sweep
    or two, the first trains and the second waits, then reuses it.

    Returns:
        ``True`` when this call trained the stage, ``False`` when it was finished already.

    Raises:
        RuntimeError: ``train`` returned without publishing a finished stage.
        Exception: whatever ``train`` raises (the lock is released; nothing is published).
    """
    with stage_lock(stage_dir):
        if encoder_is_complete(stage_dir):
            return False
        train()
        if not encoder_is_complete(stage_dir):
            raise RuntimeError(f"training stage {stage_dir.name} returned without publishing {stage_dir}")
        return True
