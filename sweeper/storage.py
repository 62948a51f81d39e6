"""What a sweep keeps on disk: Ray storage location, checkpoint clean-up, disk use (no Ray here).

A trial keeps at most its best checkpoint: the HF ``Trainer`` saves one every evaluation with
``save_total_limit=1`` (the best and the latest survive), and a finished trial restores the best,
logs it to MLflow (``best_checkpoint``) and deletes both local folders. A trial ASHA stops is
killed mid-training and leaves them behind: :func:`remove_checkpoints` deletes them. Stage
outputs that later stages read (intermediate encoders) live in the stage cache and are kept.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sweeper.config import SweepConfig, stable_hash
from sweeper.errors import ConfigError

#: Sub-folders of a trial's output folder that hold model checkpoints.
TRAINER_DIR = "trainer"  # HF Trainer checkpoints (checkpoint-<step>/)
BEST_MODEL_DIR = "best_model"  # the restored best model of a target trial, before MLflow logs it
UPLOAD_DIR = "checkpoint_uploads"  # hard-linked snapshots of checkpoints Ray Train is uploading


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (no bytes copied; the file lives on while either
    name does), or a copy where the file system has no hard links (across devices, or none at all)."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(source, target)


def snapshot(folder: Path, target: Path) -> Path:
    """``target``: a copy of the tree ``folder`` made of hard links (:func:`link_or_copy`), which
    later deletions or rewrites under ``folder`` by name do not touch. Returns ``target``."""
    shutil.copytree(folder, target, copy_function=link_or_copy)
    return target


def remove_checkpoints(trial_dir: Path) -> int:
    """Delete the model checkpoints a trial left in ``trial_dir`` (``trainer/``, ``best_model/``,
    ``checkpoint_uploads/``);
    predictions and logs stay. Returns the bytes freed (0 when there were none)."""
    freed = 0
    for name in (TRAINER_DIR, BEST_MODEL_DIR, UPLOAD_DIR):
        folder = trial_dir / name
        if folder.is_dir():
            freed += local_bytes(folder)
            shutil.rmtree(folder)
    return freed


def ray_storage(config: SweepConfig, output_dir: Path) -> str:
    """Where Ray Tune and Ray Train keep this sweep's experiments: ``<output>/ray`` by default,
    else ``<storage.storage_path>/<name>-<hash of the output folder>`` (one folder per output
    folder, so sweeps sharing a bucket never mix their experiments).
    """
    if config.storage.storage_path is None:
        return str(output_dir.absolute() / "ray")
    return storage_child(config.storage.storage_path, f"{config.name}-{stable_hash(str(output_dir.absolute()), 8)}")


def storage_child(location: str, name: str) -> str:
    """``location/name`` for a local folder (``~`` expanded, made absolute) or a URI, whose query
    parameters (``?region=...``) stay at the end."""
    base, separator, query = location.partition("?")
    if "://" not in base:
        return str(Path(base).expanduser().absolute() / name)
    return f"{base.rstrip('/')}/{name}{separator}{query}"


def local_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (symbolic links not followed); 0 when it is missing."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(root, name)).st_size for name in files)
    return total


def storage_bytes(location: str) -> int:
    """Bytes under a local folder or an ``s3://`` / ``gs://`` URI (pyarrow file systems, the ones
    Ray uses); 0 when nothing is there."""
    if "://" not in location:
        return local_bytes(Path(location))
    import pyarrow.fs

    filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
    infos = filesystem.get_file_info(pyarrow.fs.FileSelector(path, recursive=True, allow_not_found=True))
    return sum(info.size or 0 for info in infos if info.type == pyarrow.fs.FileType.File)


def remove_storage_folder(location: str) -> int:
    """Delete a folder under Ray storage (a local folder or an ``s3://`` / ``gs://`` URI, pyarrow
    file systems), e.g. the Ray Train checkpoints of a trial ASHA stopped. Returns the bytes freed
    (0 when nothing was there)."""
    freed = storage_bytes(location)
    if freed == 0:
        return 0
    if "://" not in location:
        shutil.rmtree(location)
        return freed
    import pyarrow.fs

    filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
    filesystem.delete_dir(path)
    return freed


@dataclass(frozen=True)
class DiskUsage:
    """Disk used by a sweep, in bytes.

    Attributes:
        stage_cache: the whole stage cache folder (every sweep's stages).
        sweep_stages: the stages this sweep reads (its intermediate encoders).
        trials: ``<output>/trials`` (predictions, checkpoints of unfinished trials).
        ray_storage: the sweep's Ray Tune / Train storage (local or remote).
        mlflow_artifacts: ``<output>/mlartifacts`` (best checkpoints, predictions, report) with
            the default local store; ``None`` with a remote tracking server.
    """

    stage_cache: int
    sweep_stages: int
    trials: int
    ray_storage: int
    mlflow_artifacts: int | None

    def metrics(self) -> dict[str, float]:
        """As MLflow metrics ``disk/<part>_bytes``."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {f"disk/{name}_bytes": float(value) for name, value in values.items() if value is not None}

    def line(self) -> str:
        """One line for the console, e.g. ``Disk: stage cache 1.2 GB (this sweep's stages 0.4 GB), ...``."""
        parts = [
            f"stage cache {human_bytes(self.stage_cache)} (this sweep's stages {human_bytes(self.sweep_stages)})",
            f"trials {human_bytes(self.trials)}",
            f"Ray storage {human_bytes(self.ray_storage)}",
        ]
        if self.mlflow_artifacts is not None:
            parts.append(f"MLflow artifacts {human_bytes(self.mlflow_artifacts)}")
        return "Disk: " + ", ".join(parts)


def human_bytes(count: int) -> str:
    """``1536`` → ``"1.5 KB"`` (powers of 1024, one decimal)."""
    units = ("B", "KB", "MB", "GB", "TB")
    value, unit = float(count), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{count} B" if unit == 0 else f"{value:.1f} {units[unit]}"


#: Below this many free bytes a file system counts as full (a checkpoint of the smallest model
#: sweeper trains is larger).
FULL_DISK_BYTES = 64 * 2**20


def _existing(folder: Path) -> Path:
    """``folder``, or its nearest parent that exists."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def full_folder(locations: list[str | Path]) -> tuple[Path, int] | None:
    """The first local folder among ``locations`` (URIs such as ``s3://`` are skipped) whose file
    system has fewer than :data:`FULL_DISK_BYTES` free bytes, with its free bytes; ``None`` when
    none is full. A folder not created yet is judged by its nearest existing parent."""
    for location in locations:
        if "://" in str(location):
            continue
        free = shutil.disk_usage(_existing(Path(location))).free
        if free < FULL_DISK_BYTES:
            return Path(location), free
    return None


#: Bytes of one HF ``Trainer`` checkpoint per byte of model weights: the weights and AdamW's two
#: moment estimates, all float32 (``model.safetensors`` and ``optimizer.pt``).
CHECKPOINT_BYTES_PER_WEIGHT_BYTE = 3


@dataclass(frozen=True)
class SpaceNeed:
    """At least ``bytes`` must be free under the local folder ``folder`` (which may not exist yet)
    for ``what`` (e.g. ``"Ray storage: 2 trials at once × 1 checkpoint of 96.0 MB"``)."""

    folder: Path
    bytes: int
    what: str


def check_free_space(needs: list[SpaceNeed], fix: str) -> None:
    """Refuse a sweep whose checkpoints cannot fit: the needs on one file system are added up and
    compared with its free bytes (``shutil.disk_usage`` of each folder's nearest existing parent).

    Args:
        fix: what the user can change, appended to the message.

    Raises:
        ConfigError: naming the file system's folder, its free bytes, every need on it and ``fix``.
    """
    by_device: dict[int, list[SpaceNeed]] = {}
    for need in needs:
        by_device.setdefault(_existing(need.folder).stat().st_dev, []).append(need)
    for group in by_device.values():
        needed = sum(need.bytes for need in group)
        free = shutil.disk_usage(_existing(group[0].folder)).free
        if free < needed:
            parts = "; ".join(f"{need.what} under {need.folder}" for need in group)
            raise ConfigError(
                f"not enough free disk space for the sweep's checkpoints: the file system of {group[0].folder} has "
                f"{human_bytes(free)} free and needs at least {human_bytes(needed)} ({parts}). {fix}"
            )
