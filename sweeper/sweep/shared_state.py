"""Shared state on a multi-node cluster: where a sweep keeps state must be reachable from every node.

Trials run wherever the Ray scheduler puts them, and a trial retried after a node loss runs on
another node than the one that wrote its checkpoint. So on a cluster of more than one node, the
output folder (trial folders, ``config.json``/``sweep.json`` for ``sweeper resume``), the stage
cache (intermediate encoders every target trial loads), Ray Tune / Train storage (checkpoints a
retried trial resumes from) and the MLflow store must be one store every node sees. Ray's
documentation states the same for ``storage_path`` and MLflow's ``tracking_uri``.

A location counts as shared when it is an ``s3://`` / ``gs://`` URI, when it lies under a mount
of a network or FUSE file system (:data:`NETWORK_FILESYSTEMS`, read from ``/proc/mounts``), or
when the sweep declares its local paths shared (``storage.shared_filesystem: true``: every node
mounts them at the same path, e.g. a disk image or a mount sweeper cannot recognise). An MLflow
store in a local ``sqlite:`` or ``file:`` URI never counts (sqlite's locks are unreliable over
NFS, and each node would write its own copy): a multi-node sweep needs an ``mlflow server``.

No Ray here: the Ray adapter counts the nodes (``sweeper.ray_adapter.cluster``) and calls
:func:`check_shared_state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sweeper.errors import ConfigError

#: File system types (``/proc/mounts``, third field) that every node of a cluster can mount:
#: NFS (AWS EFS, GCP Filestore), SMB/CIFS, cluster file systems; any ``fuse.<name>`` type
#: (s3fs, gcsfuse, mountpoint-s3, sshfs, JuiceFS) counts too.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "fuse", "9p"}
)
#: MLflow tracking URI schemes whose store is a file on the node that runs the driver.
LOCAL_TRACKING_SCHEMES = frozenset({"sqlite", "file", ""})
PROC_MOUNTS = Path("/proc/mounts")


class NodeLocalStateError(ConfigError):
    """A sweep on a multi-node Ray cluster would keep state on one node's local disk."""


@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/mounts``: the mount point and the file system type."""

    point: Path
    fstype: str

    @property
    def is_network(self) -> bool:
        return self.fstype in NETWORK_FILESYSTEMS or self.fstype.startswith("fuse.")


def parse_mounts(text: str) -> list[Mount]:
    """The mounts of a ``/proc/mounts`` text (``device point fstype options 0 0`` per line;
    spaces and tabs in ``point`` are written as ``\\040`` / ``\\011`` octal escapes)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            point = fields[1].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
            mounts.append(Mount(Path(point), fields[2]))
    return mounts


def read_mounts(path: Path = PROC_MOUNTS) -> list[Mount]:
    """This machine's mounts (:func:`parse_mounts` of ``/proc/mounts``); none where it does not exist."""
    return parse_mounts(path.read_text(encoding="utf-8")) if path.is_file() else []


def mount_of(path: Path, mounts: list[Mount]) -> Mount | None:
    """The mount ``path`` lies on: the one with the longest mount point above it (the last one
    listed wins among equal points, as the kernel stacks them)."""
    best = None
    for mount in mounts:
        above = path == mount.point or mount.point in path.parents
        if above and (best is None or len(mount.point.parts) >= len(best.point.parts)):
            best = mount
    return best


def is_shared_location(location: str, mounts: list[Mount], shared_filesystem: bool) -> bool:
    """Whether every node of a cluster reaches ``location`` (a folder or a URI), as the module
    docstring defines it. A relative folder is taken relative to the current directory."""
    if "://" in location:
        return True  # s3:// or gs:// (the only schemes storage settings accept)
    if shared_filesystem:
        return True
    mount = mount_of(Path(location).expanduser().absolute(), mounts)
    return mount is not None and mount.is_network


def _describe(location: str, mounts: list[Mount]) -> str:
    mount = mount_of(Path(location).expanduser().absolute(), mounts)
    return f"{location} (on {mount.fstype} at {mount.point})" if mount else location


def check_shared_state(
    nodes: int,
    output_dir: Path,
    stage_cache_dir: Path,
    ray_storage: str,
    tracking_uri: str | None,
    shared_filesystem: bool,
    mounts: list[Mount],
) -> None:
    """Refuse a sweep on a cluster of ``nodes`` > 1 nodes that keeps state on one node's disk.

    Args:
        nodes: the Ray nodes trials may run on (``sweeper.ray_adapter.cluster.cluster_nodes``).
        output_dir: ``--output``; ``stage_cache_dir``: ``storage.stage_cache_dir`` (or its default);
            ``ray_storage``: Ray Tune / Train storage (``storage.ray_storage``: a folder or URI).
        tracking_uri: ``tracking.tracking_uri``; ``None``: sqlite in the output folder.
        shared_filesystem: ``storage.shared_filesystem``: local paths are mounted on every node.
        mounts: this machine's mounts (:func:`read_mounts`).

    Raises:
        NodeLocalStateError: one line per node-local setting, naming it, its value and the fix.
    """
    if nodes <= 1:
        return
    problems = []
    folders = [
        ("--output", str(output_dir)),
        ("storage.stage_cache_dir", str(stage_cache_dir)),
        ("storage.storage_path (Ray Tune / Train storage; default <output>/ray)", ray_storage),
    ]
    for setting, location in folders:
        if not is_shared_location(location, mounts, shared_filesystem):
            problems.append(f"{setting} = {_describe(location, mounts)} is on this node's local disk")
    if tracking_uri is None:
        problems.append("tracking.tracking_uri is unset: MLflow would write an sqlite file in the output folder")
    elif urlparse(tracking_uri).scheme in LOCAL_TRACKING_SCHEMES:
        problems.append(f"tracking.tracking_uri = {tracking_uri} is a local file store")
    if not problems:
        return
    raise NodeLocalStateError(
        f"this Ray cluster has {nodes} nodes and trials (and their retries) run on any of them, but:\n  - "
        + "\n  - ".join(problems)
        + "\nFix: put --output and storage.stage_cache_dir on a folder every node mounts at the same path "
        "(NFS, AWS EFS, GCP Filestore; add storage.shared_filesystem=true when it is not an nfs/cifs/fuse mount "
        "in /proc/mounts), Ray storage on storage.storage_path=s3://bucket/prefix or gs://bucket/prefix "
        "(or that shared folder), and track in an MLflow server: tracking.tracking_uri=http://<head>:5000 "
        "(see docs/cluster.md)."
    )
