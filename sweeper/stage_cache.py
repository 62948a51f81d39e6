"""The content-addressed cache of finished stages, shared by sweeps and by concurrent trials.

A stage's key hashes everything that determines its output, and the stage it starts from:

- intermediate training (:func:`locate_stage`): the stage configuration
  (:attr:`sweeper.sweep.grid.IntermediateStage.key`: model name, task spec with its version, training
  settings with the seed), the world size (data-parallel workers: the effective batch), the
  identity of the resolved model (a digest of a local model folder's files, or the Hub id) and
  the data version (a digest of every data file the stage reads, or the Hub dataset ids);
- target training (:meth:`StageCache.target_stage`): the intermediate stage's key (or the
  pretrained model's identity for ``none``), the target task spec, the trial's settings (its
  learning rate and seed included), the world size and the target's English train + dev data;
- zero-shot evaluation (:meth:`StageCache.zero_shot`): the target stage's key, the evaluated
  languages and example budget, the target-language dev languages and every evaluation file;
- retrieval evaluation (:meth:`StageCache.retrieval`): the encoder's key (intermediate stage or
  pretrained model), the retrieval task, the encoding settings, languages, budget and files.

The same key means the same output, so it is computed once, whichever sweep asks first.

Layout under the cache root (``storage.stage_cache_dir``, default ``$SWEEPER_CACHE_DIR/stages``
or ``~/.cache/sweeper/stages``)::

    intermediate/<name>-<key>/               encoder + tokenizer; encoder_complete.json written last
    intermediate/<name>-<key>.lock           held while a trial trains the stage
    target/<intermediate>__<target>-<key>/   best_model/ (encoder + head + tokenizer);
                                             stage_complete.json: every English-dev evaluation
    target/<intermediate>__<target>-<key>.lock
    zero_shot/<target>-<key>/                predictions/<task>/; stage_complete.json: the scores
    retrieval/<intermediate>__<target>-<key>/  as zero_shot/ (BUCC: and the tuned thresholds)
    fingerprints.json                        sha256 of data and model files by (path, size, mtime)

A stage folder is written under a temporary name and renamed into place (``os.replace``) only
once it is complete, its marker included, so a crash never leaves a folder that looks finished.
The lock is an OS file lock (``flock``): the kernel releases it when its holder dies, so a
crashed trial never blocks the next one, which finds no finished stage and trains it.
Only target trials that trained to their end are published: a trial ASHA stopped leaves nothing.

Pure: no Ray, no MLflow, no torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock, Timeout

from sweeper.config import MLM_MEMBER, SweepConfig, TrainingConfig, stable_hash
from sweeper.data.sources import labels_path, layout_root, task_split
from sweeper.models.cache import cache_root
from sweeper.sweep.multitask import MultitaskStage, mlm_path
from sweeper.cache.markers import ENCODER_MARKER
from sweeper.sweep.grid import IntermediateStage, intermediate_stages, target_dev_languages
from sweeper.sweep.tasks import resolve_task
from sweeper.registry import THRESHOLD_SPLIT, is_retrieval, zero_shot_languages
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec

logger = logging.getLogger(__name__)

#: Bumped when the layout or the meaning of a cached stage changes: older entries are not reused.
#: 2: the world size joined the keys; target, zero-shot and retrieval stages are cached.
CACHE_FORMAT = 2
INTERMEDIATE = "intermediate"
TARGET = "target"
ZERO_SHOT = "zero_shot"
RETRIEVAL = "retrieval"
#: Written last into a finished target, zero-shot or retrieval stage folder.
STAGE_MARKER = "stage_complete.json"
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
            for language in languages for source in sources for pattern in source.files
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
        for member in stage.members if member.task is not None
    }
    if stage.mlm is not None:
        files = [mlm_path(pattern, data_dir) for pattern in stage.mlm.train_files + stage.mlm.dev_files]
        digests = file_digests(files, store)
        version[MLM_MEMBER] = [digests[file] for file in files]
    return version


@dataclass(frozen=True)
class CacheEntry:
    """A stage's folder in the stage cache (target training, zero-shot or retrieval evaluation).

    Attributes:
        key: the cache key (hex, 16 characters), a hash of :attr:`inputs`.
        inputs: what determines the stage's output (see the module docstring); written into the
            finished stage's marker file for inspection.
        path: the stage's folder, ``<root>/<kind>/<name>-<key>``.
    """

    key: str
    inputs: dict[str, Any]
    path: Path
    #: the file written last into a finished stage's folder
    marker_file: ClassVar[str] = STAGE_MARKER

    @property
    def complete(self) -> bool:
        """Whether the stage is finished (its marker exists): a cache hit."""
        return (self.path / self.marker_file).is_file()

    def marker(self) -> dict[str, Any]:
        """The finished stage's marker (what produced it, its results).

        Raises:
            FileNotFoundError: the stage is not finished.
        """
        return json.loads((self.path / self.marker_file).read_text(encoding="utf-8"))

    def record(self, **extra: Any) -> dict[str, Any]:
        """What a stage's marker records besides its results: the key, the inputs and ``extra``
        (e.g. the sweep and parent run that produced it)."""
        return {"key": self.key, "inputs": self.inputs, **extra}


def _entry(cls, root: Path, kind: str, name: str, inputs: dict[str, Any], **fields: Any):
    full = {"format": CACHE_FORMAT, "stage": kind, **inputs}
    key = stable_hash(full, length=16)
    return cls(key=key, inputs=full, path=root / kind / f"{name}-{key}", **fields)


@dataclass(frozen=True)
class CachedStage(CacheEntry):
    """An intermediate stage located in the stage cache (its encoder folder).

    Attributes:
        stage: the stage (task and training settings).
    """

    stage: IntermediateStage | MultitaskStage | None = None
    marker_file: ClassVar[str] = ENCODER_MARKER

    @property
    def task(self) -> str:
        """The stage's name in ``intermediate_tasks`` (a task id or a ``multitask`` entry)."""
        return self.stage.name


def locate_stage(
    stage: IntermediateStage | MultitaskStage, root: Path, model: dict[str, str], data_dir: Path | None, world_size: int
) -> CachedStage:
    """Where ``stage`` lives in the stage cache ``root``, for the resolved model's
    :func:`model_identity` ``model``, the data under ``data_dir`` (``None``: the Hub) and
    ``world_size`` data-parallel workers.

    Raises:
        FileNotFoundError: a data file is missing.
    """
    inputs = {
        "config_key": stage.key,
        "model": model,
        "world_size": world_size,
        "data": (
            multitask_data_version(stage, data_dir, root / FINGERPRINTS_FILE)
            if isinstance(stage, MultitaskStage)
            else data_version(stage.task, data_dir, root / FINGERPRINTS_FILE)
        ),
        "init_from": "pretrained",  # an intermediate stage starts from the model above
    }
    return _entry(CachedStage, root, INTERMEDIATE, stage.name, inputs, stage=stage)


def cached_intermediate_stages(config: SweepConfig, model_source: str, data_dir: Path | None) -> list[CachedStage]:
    """The intermediate stages of ``config`` (``sweeper.sweep.grid.intermediate_stages``) located in the
    stage cache of ``config`` (:func:`locate_stage`) for the resolved ``model_source``. Reads data
    and model files once to fingerprint them (afterwards only ``stat``).

    Raises:
        FileNotFoundError: a data file is missing.
    """
    root = stage_cache_root(config)
    model = model_identity(model_source, root / FINGERPRINTS_FILE)
    world_size = config.resources.num_workers
    return [locate_stage(stage, root, model, data_dir, world_size) for stage in intermediate_stages(config)]


def _encoder_identity(intermediate: CachedStage | None, model: dict[str, str]) -> dict[str, Any]:
    """What a target or retrieval stage starts from: an intermediate stage's key, or the pretrained model."""
    return {"intermediate": intermediate.key} if intermediate is not None else {"pretrained": model}


@dataclass(frozen=True)
class StageCache:
    """Where one sweep's target, zero-shot and retrieval stages live in the stage cache.

    Built once by the driver (:func:`sweep_stage_cache`, which fingerprints the data files), then
    sent to every trial, which locates its stages by hashing alone (no file is read).

    Attributes:
        root: the stage cache folder.
        model: :func:`model_identity` of the resolved model.
        world_size: data-parallel workers per trial (``resources.num_workers``).
        training_data: trained target → :func:`data_version` (English train + dev).
        evaluation_data: target → :func:`evaluation_data_version`.
        enabled: ``storage.cache_target_stages``: ``False`` looks nothing up and publishes nothing
            (intermediate stages are always cached).
    """

    root: Path
    model: dict[str, str]
    world_size: int
    training_data: dict[str, dict[str, Any]]
    evaluation_data: dict[str, dict[str, Any]]
    enabled: bool = True

    def target_stage(self, intermediate: CachedStage | None, intermediate_name: str, task: TaskSpec, settings: TrainingConfig) -> CacheEntry:
        """The target training of ``task`` with ``settings`` (a trial's: learning rate, seed, ...)
        from ``intermediate``'s encoder (``None``: the pretrained model, ``intermediate_name`` ``none``)."""
        inputs = {
            "init_from": _encoder_identity(intermediate, self.model),
            "model": self.model,
            "task": task.model_dump(),
            "settings": settings.model_dump(),
            "world_size": self.world_size,
            "data": self.training_data[task.task],
        }
        return _entry(CacheEntry, self.root, TARGET, f"{intermediate_name}__{task.task}", inputs)

    def zero_shot(self, target_stage: CacheEntry, task: TaskSpec, languages: list[str], max_examples_per_language: int | None,
                  dev_languages: list[str]) -> CacheEntry:
        """The zero-shot evaluation of ``target_stage``'s best model in ``languages`` (and on the
        target-language dev split in ``dev_languages``), ``max_examples_per_language`` each."""
        inputs = {
            "target_stage": target_stage.key,
            "languages": languages,
            "max_examples_per_language": max_examples_per_language,
            "target_dev_languages": dev_languages,
            "data": self.evaluation_data[task.task],
        }
        return _entry(CacheEntry, self.root, ZERO_SHOT, task.task, inputs)

    def retrieval(self, intermediate: CachedStage | None, intermediate_name: str, task: TaskSpec, settings: TrainingConfig,
                  languages: list[str], max_examples_per_language: int | None) -> CacheEntry:
        """The retrieval evaluation (BUCC, Tatoeba) of ``intermediate``'s encoder (``None``: the
        pretrained model); of ``settings`` only the encoding ones count."""
        inputs = {
            "encoder": _encoder_identity(intermediate, self.model),
            "model": self.model,
            "task": task.model_dump(),
            "settings": {name: getattr(settings, name) for name in ("max_seq_length", "per_device_eval_batch_size")},
            "languages": languages,
            "max_examples_per_language": max_examples_per_language,
            "data": self.evaluation_data[task.task],
        }
        return _entry(CacheEntry, self.root, RETRIEVAL, f"{intermediate_name}__{task.task}", inputs)


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


def sweep_stage_cache(config: SweepConfig, model_source: str, data_dir: Path | None) -> StageCache:
    """The :class:`StageCache` of ``config``'s targets for the resolved ``model_source`` and the
    data under ``data_dir`` (``None``: the Hub). Reads every training and evaluation file of the
    targets once to fingerprint it (afterwards only ``stat``; a leaderboard file that exists in
    some languages only is fingerprinted where it exists).

    Raises:
        FileNotFoundError: a data file the sweep reads is missing.
    """
    root = stage_cache_root(config)
    store = root / FINGERPRINTS_FILE
    training, evaluation = {}, {}
    for target in config.target_tasks:
        task = resolve_task(config, target)
        if not is_retrieval(task):
            training[target] = data_version(task, data_dir, store)
        evaluation[target] = evaluation_data_version(config, task, data_dir, store)
    return StageCache(root, model_identity(model_source, store), config.resources.num_workers, training, evaluation,
                      config.storage.cache_target_stages)


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


def train_once(stage: CacheEntry, train: Callable[[], None]) -> bool:
    """Run ``train`` (which publishes ``stage``) unless the stage is finished, holding the
    stage's lock (:func:`stage_lock`): of two trials of the same stage, in one sweep or two, the
    first trains and the second waits, then reuses it.

    Returns:
        ``True`` when this call trained the stage, ``False`` when it was finished already.

    Raises:
        RuntimeError: ``train`` returned without publishing a finished stage.
        Exception: whatever ``train`` raises (the lock is released; nothing is published).
    """
    with stage_lock(stage.path):
        if stage.complete:
            return False
        train()
        if not stage.complete:
            raise RuntimeError(f"training stage {stage.path.name} returned without publishing {stage.path}")
        return True
