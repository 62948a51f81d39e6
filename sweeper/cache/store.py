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
    features/<task>-<split>-<lang>-<train|predict>-<key>/  tokenized training sets and evaluation splits (sweeper.cache.features)
    fingerprints.json                        sha256 of data and model files by (path, size, mtime)

A stage folder is written under a temporary name and renamed into place (``os.replace``) only
once it is complete, its marker included, so a crash never leaves a folder that looks finished.
The lock is an OS file lock (``flock``): the kernel releases it when its holder dies, so a
crashed trial never blocks the next one, which finds no finished stage and trains it.
Only target trials that trained to their end are published: a trial ASHA stopped leaves nothing.

Pure: no Ray, no MLflow, no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sweeper.cache.fingerprints import (
    FINGERPRINTS_FILE,
    data_version,
    evaluation_data_version,
    model_identity,
    multitask_data_version,
)
from sweeper.cache.markers import ENCODER_MARKER, STAGE_MARKER
from sweeper.config import SweepConfig, TrainingConfig, stable_hash
from sweeper.models.cache import cache_root
from sweeper.registry import TaskSpec, is_retrieval
from sweeper.sweep.grid import IntermediateStage, intermediate_stages
from sweeper.sweep.multitask import MultitaskStage
from sweeper.sweep.tasks import resolve_task

#: Bumped when the layout or the meaning of a cached stage changes: older entries are not reused.
#: 2: the world size joined the keys; target, zero-shot and retrieval stages are cached.
CACHE_FORMAT = 2


INTERMEDIATE = "intermediate"


TARGET = "target"


ZERO_SHOT = "zero_shot"


RETRIEVAL = "retrieval"


def stage_cache_root(config: SweepConfig) -> Path:
    """The stage cache folder of ``config``: ``storage.stage_cache_dir`` (``~`` expanded), else
    ``<cache root>/stages`` (``$SWEEPER_CACHE_DIR`` or ``~/.cache/sweeper``). Not created."""
    if config.storage.stage_cache_dir is not None:
        return Path(config.storage.stage_cache_dir).expanduser().absolute()
    return cache_root() / "stages"


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

    def target_stage(
        self, intermediate: CachedStage | None, intermediate_name: str, task: TaskSpec, settings: TrainingConfig
    ) -> CacheEntry:
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

    def zero_shot(
        self,
        target_stage: CacheEntry,
        task: TaskSpec,
        languages: list[str],
        max_examples_per_language: int | None,
        dev_languages: list[str],
    ) -> CacheEntry:
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

    def retrieval(
        self,
        intermediate: CachedStage | None,
        intermediate_name: str,
        task: TaskSpec,
        settings: TrainingConfig,
        languages: list[str],
        max_examples_per_language: int | None,
    ) -> CacheEntry:
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
    return StageCache(
        root,
        model_identity(model_source, store),
        config.resources.num_workers,
        training,
        evaluation,
        config.storage.cache_target_stages,
    )
