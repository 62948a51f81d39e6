"""The smaller sections of a sweep configuration: zero-shot evaluation, resources, tracking, storage, report and selection."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from sweeper.config.base import _Strict
from sweeper.errors import ConfigError, did_you_mean
from sweeper.metrics.xtreme import TASK_GROUPS


class ZeroShotConfig(_Strict):
    """Zero-shot evaluation budget: a language subset and/or examples per language (``None``: all)."""

    languages: list[str] | None = None
    max_examples_per_language: PositiveInt | None = None


class ResourcesConfig(_Strict):
    """Ray resources per trial: ``num_workers`` data-parallel Ray Train workers, each with
    ``cpus_per_worker`` and ``gpus_per_worker``. At least one worker: Train V2 refuses
    ``ray.train.report`` from worker-less training inside a Tune trial.

    Trial packing (one worker per trial only): ``trials_per_gpu: N`` runs N trials on each GPU
    (Ray ``num_gpus`` 1/N); ``gpus_per_worker: auto`` packs as many as fit by the memory probe of
    the target stages (:mod:`sweeper.sweep.packing`). Data-parallel workers of one trial never
    share a GPU: NCCL refuses two ranks on one device ("Duplicate GPU detected",
    ray-project/ray#48012).
    """

    num_workers: PositiveInt = 1
    use_gpu: bool = False
    cpus_per_worker: PositiveFloat = 1
    gpus_per_worker: NonNegativeFloat | Literal["auto"] = 0.0
    trials_per_gpu: PositiveInt | None = None
    max_concurrent_trials: PositiveInt = 2
    controller_failure_limit: NonNegativeInt = 1
    #: Tune retries of a failed trial (Tune ``FailureConfig(max_failures)``); each retry resumes
    #: training from the trial's last checkpoint. 0: a failed trial stays failed.
    max_failures: NonNegativeInt = 1
    #: how long a trial's Train worker group may wait for resources (seconds); Ray's 60 s default
    #: fails trials that start while a trial stopped by ASHA still releases its workers.
    worker_group_start_timeout_s: PositiveFloat = 600

    @model_validator(mode="after")
    def _packing_possible(self) -> ResourcesConfig:
        if (self.packed or self.trials_per_gpu is not None) and not self.use_gpu:
            raise ValueError("trial packing (trials_per_gpu, gpus_per_worker: auto or < 1) needs resources.use_gpu: true")
        if self.trials_per_gpu is not None and self.gpus_per_worker not in (0, 1):
            raise ValueError(
                f"set either trials_per_gpu ({self.trials_per_gpu}) or gpus_per_worker ({self.gpus_per_worker}), not both"
            )
        if self.packed and self.num_workers > 1:
            raise ValueError(
                f"num_workers {self.num_workers} with packed trials: data-parallel workers of one trial would share a GPU, "
                'which NCCL refuses ("Duplicate GPU detected", ray-project/ray#48012); use num_workers: 1 with packing, '
                "or whole GPUs (gpus_per_worker: 1, no trials_per_gpu) for data-parallel trials"
            )
        return self

    @property
    def packed(self) -> bool:
        """Whether trials share GPUs (``trials_per_gpu`` > 1, ``gpus_per_worker`` ``auto`` or < 1)."""
        return self.gpus_per_worker == "auto" or (self.trials_per_gpu or 1) > 1 or 0 < self.gpus_per_worker < 1


class TrackingConfig(_Strict):
    """MLflow: ``tracking_uri`` ``None`` means ``sqlite:///<output>/mlflow.db``; an ``http(s)://``
    server must answer before a sweep starts (``sweeper.tracking.runs.check_tracking_uri``)."""

    tracking_uri: str | None = None
    experiment_name: str | None = None


#: URI schemes ``storage.storage_path`` accepts besides a local folder: Ray Tune writes there
#: through pyarrow's file systems (``s3://bucket/prefix?region=...``, ``gs://bucket/prefix``).
REMOTE_STORAGE_SCHEMES = ("s3", "gs")


def check_storage_path(value: str) -> str:
    """Return ``value`` if it is a local folder or an ``s3://`` / ``gs://`` URI naming a bucket.

    Raises:
        ValueError: another scheme (``http://``, ``hdfs://``...), or a remote URI without a bucket.
    """
    scheme, separator, rest = value.partition("://")
    if not separator:
        return value  # a local folder
    if scheme not in REMOTE_STORAGE_SCHEMES:
        raise ValueError(
            f"{value!r}: unsupported scheme {scheme!r}; use a local folder, s3://bucket/prefix or gs://bucket/prefix"
        )
    if not rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]:  # the bucket follows any user-info
        raise ValueError(f"{value!r} names no bucket; write {scheme}://bucket/prefix")
    return value


class StorageConfig(_Strict):
    """Where a sweep keeps what it writes besides MLflow.

    ``stage_cache_dir``: the content-addressed cache of finished stages (intermediate encoders,
    target models, evaluations), shared by every sweep that points at it, so a second sweep
    reuses the first's stages
    (``sweeper.cache``). ``None``: ``$SWEEPER_CACHE_DIR/stages`` or
    ``~/.cache/sweeper/stages``. A local or network (NFS) folder, never a URI: trials load the
    encoders with ``from_pretrained`` and lock stages with OS file locks. On a multi-node cluster
    it must be a folder every node mounts.

    ``cache_target_stages``: also cache target stages (each completed target trial's best model
    and English-dev evaluations), their zero-shot evaluations and the retrieval evaluations, so
    a later sweep with the same trial replays it instead of training it again. Each cached
    target model is a second copy of the trial's MLflow ``best_checkpoint`` artifact: set
    ``false`` to keep only the MLflow one (target trials then always train).

    ``cache_features``: keep each stage's tokenized English training set and zero-shot evaluation
    splits in the stage cache (``features/``, Arrow files, :mod:`sweeper.cache.features`), so the
    trials of a target tokenize them once, not once each. Costs disk: about 4 bytes per token of each column
    (MNLI at ``max_seq_length`` 128: about 0.5 GB). ``false``: every trial tokenizes its own.

    ``storage_path``: Ray Tune's and Ray Train's experiment storage (``RunConfig(storage_path)``):
    a local folder or ``s3://bucket/prefix`` / ``gs://bucket/prefix`` (pyarrow file systems;
    query parameters such as ``?region=...&endpoint_override=...`` are passed on). ``None``:
    ``<output>/ray``. On more than one node it must be shared storage.

    ``shared_filesystem``: the local paths of the sweep (output folder, stage cache, a folder
    ``storage_path``) are mounted at the same path on every node of the cluster. Needed only where
    sweeper cannot see it: a sweep on a multi-node cluster is refused when one of them is not
    under an NFS, SMB or FUSE mount (``sweeper.sweep.shared_state``).
    """

    stage_cache_dir: str | None = None
    cache_target_stages: bool = True
    cache_features: bool = True
    storage_path: str | None = None
    shared_filesystem: bool = False

    @field_validator("stage_cache_dir")
    @classmethod
    def _local_folder(cls, value: str | None) -> str | None:
        if value is not None and "://" in value:
            raise ValueError(
                f"{value!r}: the stage cache must be a local or network-mounted folder (encoders are loaded "
                "with from_pretrained and locked with OS file locks), not a URI"
            )
        return value

    @field_validator("storage_path")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        return None if value is None else check_storage_path(value)


def _unknown_benchmark(benchmark: str) -> str | None:
    """The error message for a benchmark name :data:`sweeper.metrics.xtreme.TASK_GROUPS` lacks."""
    if benchmark in TASK_GROUPS:
        return None
    return f"unknown benchmark {benchmark!r}.{did_you_mean(benchmark, TASK_GROUPS)} Known: {', '.join(TASK_GROUPS)}"


def check_benchmark(benchmark: str) -> str:
    """Return ``benchmark`` if it is ``xtreme`` or ``xtreme_r`` (e.g. ``sweeper report --benchmark``).

    Raises:
        ConfigError: any other name (with a did-you-mean).
    """
    message = _unknown_benchmark(benchmark)
    if message:
        raise ConfigError(message)
    return benchmark


class ReportConfig(_Strict):
    """The report's benchmark aggregate after the per-target tables.

    ``benchmark``: ``xtreme`` (Hu et al. 2020: 9 tasks, 4 categories) or ``xtreme_r`` (Ruder et
    al. 2021: 10 tasks), the task list and categories of ``sweeper.metrics.xtreme.TASK_GROUPS``.
    """

    benchmark: str = "xtreme"

    @field_validator("benchmark")
    @classmethod
    def _known_benchmark(cls, benchmark: str) -> str:
        message = _unknown_benchmark(benchmark)
        if message:
            raise ValueError(message)
        return benchmark


class SelectionConfig(_Strict):
    """How the best intermediate task per trained target is chosen (``sweeper.results.selection``).

    ``policy``: ``english_dev`` (default; Phang et al. 2020: the English dev set of the target's
    training task) or ``target_dev`` (the mean over the target languages' dev sets, where the task
    declares them: ``zero_shot.dev_split`` in its task file; PAN-X and TyDiQA are scored on dev,
    so there it is the evaluation set itself). Retrieval targets keep their own policy (BUCC:
    ``target_dev``, Tatoeba: none). ``seeds``: ``best`` (default: the single best trial over
    settings and seeds) or ``mean`` (configurations, i.e. trials equal but for the seed, ranked by
    their mean score over seeds; the report shows mean ± standard deviation).
    """

    policy: Literal["english_dev", "target_dev"] = "english_dev"
    seeds: Literal["best", "mean"] = "best"
