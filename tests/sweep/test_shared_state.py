"""Multi-node sweeps are refused when their state is on one node's disk (sweeper.sweep.shared_state)."""

from pathlib import Path

import pytest

from sweeper.errors import ConfigError
from sweeper.sweep.shared_state import (
    Mount,
    NodeLocalStateError,
    check_shared_state,
    is_shared_location,
    mount_of,
    parse_mounts,
    read_mounts,
)

PROC_MOUNTS = """\
overlay / overlay rw,relatime,lowerdir=/a:/b 0 0
tmpfs /tmp tmpfs rw,nosuid 0 0
10.0.0.5:/export /mnt/shared nfs4 rw,vers=4.1 0 0
//files/runs /mnt/smb\\040share cifs rw 0 0
gcsfuse-bucket /mnt/gcs fuse.gcsfuse rw 0 0
/dev/sdb1 /mnt/shared/local ext4 rw 0 0
"""
MOUNTS = parse_mounts(PROC_MOUNTS)
SERVER = "http://10.0.0.2:5000"


def test_proc_mounts_are_parsed_with_escaped_spaces():
    assert MOUNTS[3] == Mount(Path("/mnt/smb share"), "cifs")
    assert [mount.is_network for mount in MOUNTS] == [False, False, True, True, True, False]
    assert read_mounts(Path("/nonexistent/mounts")) == []
    assert any(mount.point == Path("/") for mount in read_mounts())


@pytest.mark.parametrize(
    ("path", "point"),
    [
        ("/mnt/shared/runs/x", "/mnt/shared"),
        ("/mnt/shared/local/x", "/mnt/shared/local"),
        ("/mnt/sharedx", "/"),
        ("/tmp", "/tmp"),
        ("/mnt/smb share/out", "/mnt/smb share"),
    ],
)
def test_a_path_lies_on_its_deepest_mount(path, point):
    assert mount_of(Path(path), MOUNTS).point == Path(point)


@pytest.mark.parametrize(
    ("location", "shared"),
    [
        ("s3://bucket/runs?region=eu-west-1", True),
        ("gs://bucket/ray", True),
        ("/mnt/shared/runs", True),
        ("/mnt/gcs/cache", True),
        ("/mnt/smb share/out", True),
        ("/mnt/shared/local/runs", False),
        ("/tmp/runs", False),
        ("/home/ray/runs", False),
    ],
)
def test_uris_and_network_mounts_are_shared(location, shared):
    assert is_shared_location(location, MOUNTS, shared_filesystem=False) is shared
    assert is_shared_location(location, MOUNTS, shared_filesystem=True), "declared shared"


def test_one_node_accepts_anything():
    check_shared_state(1, Path("/tmp/out"), Path("/tmp/cache"), "/tmp/out/ray", None, False, MOUNTS)


def test_shared_state_on_several_nodes_is_accepted():
    check_shared_state(4, Path("/mnt/shared/out"), Path("/mnt/gcs/stages"), "s3://b/ray", SERVER, False, MOUNTS)
    check_shared_state(2, Path("/tmp/out"), Path("/tmp/cache"), "/tmp/out/ray", "https://mlflow.example", True, MOUNTS)


def test_every_node_local_setting_is_named_with_its_fix():
    with pytest.raises(NodeLocalStateError) as error:
        check_shared_state(3, Path("/tmp/out"), Path("/home/ray/.cache/sweeper/stages"), "/tmp/out/ray", None, False, MOUNTS)
    message = str(error.value)
    assert isinstance(error.value, ConfigError), "the CLI maps it to exit code 2"
    assert "3 nodes" in message
    for setting in (
        "--output = /tmp/out (on tmpfs at /tmp)",
        "storage.stage_cache_dir = /home/ray/.cache/sweeper/stages",
        "storage.storage_path",
        "tracking.tracking_uri is unset",
    ):
        assert setting in message
    for fix in (
        "storage.shared_filesystem=true",
        "s3://bucket/prefix",
        "gs://bucket/prefix",
        "tracking.tracking_uri=http://<head>:5000",
        "NFS",
    ):
        assert fix in message


@pytest.mark.parametrize("uri", ["sqlite:////mnt/shared/mlflow.db", "file:///mnt/shared/mlruns", "/mnt/shared/mlruns"])
def test_a_file_tracking_store_is_refused_even_on_a_shared_folder(uri):
    with pytest.raises(NodeLocalStateError, match="tracking.tracking_uri = .* is a local file store"):
        check_shared_state(2, Path("/mnt/shared/out"), Path("/mnt/shared/c"), "/mnt/shared/out/ray", uri, True, MOUNTS)


def test_only_the_node_local_settings_are_named():
    with pytest.raises(NodeLocalStateError) as error:
        check_shared_state(2, Path("/mnt/shared/out"), Path("/tmp/cache"), "s3://b/ray", SERVER, False, MOUNTS)
    assert "storage.stage_cache_dir = /tmp/cache" in str(error.value)
    assert "--output =" not in str(error.value) and "tracking.tracking_uri =" not in str(error.value)
