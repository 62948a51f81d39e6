"""Storage settings and disk accounting: Ray storage local or s3:// (a real S3-compatible server),
validated with clear errors; checkpoints of stopped trials removed; disk use measured."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs
import pytest

from sweeper.config import SweepConfig, load_config
from sweeper.errors import ConfigError
from sweeper.storage import (
    DiskUsage,
    human_bytes,
    ray_storage,
    remove_checkpoints,
    remove_storage_folder,
    storage_bytes,
    storage_child,
)

SMOKE = Path(__file__).resolve().parent.parent / "search_spaces" / "smoke.yaml"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://host/ray", "unsupported scheme 'http'; use a local folder, s3://bucket/prefix or gs://bucket/prefix"),
        ("hdfs://namenode/ray", "unsupported scheme 'hdfs'"),
        ("s3:///prefix", "names no bucket; write s3://bucket/prefix"),
        ("gs://?region=x", "names no bucket"),
    ],
)
def test_a_bad_ray_storage_location_is_refused_naming_the_field(value, message):
    with pytest.raises(ConfigError) as error:
        load_config(SMOKE, [f"storage.storage_path={value}"])
    text = " ".join(str(error.value).split())
    assert "storage.storage_path" in text and message in text


def test_the_stage_cache_must_be_a_folder():
    with pytest.raises(ConfigError, match="storage.stage_cache_dir.*not a URI"):
        load_config(SMOKE, ["storage.stage_cache_dir=s3://bucket/stages"])


def test_ray_storage_per_output_folder(tmp_path):
    config = load_config(SMOKE, [])
    assert ray_storage(config, tmp_path / "out") == str(tmp_path / "out" / "ray")
    shared = load_config(SMOKE, ["storage.storage_path=s3://bucket/sweeps?region=eu-west-1"])
    first, second = ray_storage(shared, tmp_path / "a"), ray_storage(shared, tmp_path / "b")
    assert first.startswith("s3://bucket/sweeps/smoke-") and first.endswith("?region=eu-west-1")
    assert first != second, "two output folders never share Ray experiments"
    assert storage_child(first, "train") == first.replace("?", "/train?")
    local = load_config(SMOKE, [f"storage.storage_path={tmp_path / 'ray'}"])
    assert Path(ray_storage(local, tmp_path / "a")).parent == tmp_path / "ray"


def test_checkpoints_of_a_stopped_trial_are_removed_predictions_kept(tmp_path):
    trial = tmp_path / "trial"
    (trial / "trainer" / "checkpoint-2").mkdir(parents=True)
    (trial / "trainer" / "checkpoint-2" / "model.safetensors").write_bytes(b"x" * 1000)
    (trial / "best_model").mkdir()
    (trial / "best_model" / "model.safetensors").write_bytes(b"y" * 24)
    (trial / "predictions").mkdir()
    (trial / "predictions" / "dev-de.tsv").write_text("O\n", encoding="utf-8")
    assert remove_checkpoints(trial) == 1024
    assert sorted(path.name for path in trial.iterdir()) == ["predictions"]
    assert remove_checkpoints(trial) == 0


def test_disk_use_on_a_real_s3_server(tmp_path, s3_bucket):
    location = storage_child(s3_bucket, "ray")
    filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
    with filesystem.open_output_stream(f"{path}/exp/result.json") as handle:
        handle.write(b"z" * 3000)
    assert storage_bytes(location) == 3000
    assert storage_bytes(storage_child(s3_bucket, "nothing-here")) == 0
    (tmp_path / "a.bin").write_bytes(b"a" * 10)
    assert storage_bytes(str(tmp_path)) == 10


def test_a_stopped_trial_s_train_checkpoints_are_removed_locally_and_on_s3(tmp_path, s3_bucket):
    local = tmp_path / "train" / "target-none-panx-t1"
    (local / "checkpoint_1").mkdir(parents=True)
    (local / "checkpoint_1" / "model.safetensors").write_bytes(b"c" * 500)
    assert remove_storage_folder(str(local)) == 500 and not local.exists()
    assert remove_storage_folder(str(local)) == 0, "nothing left: nothing freed"
    remote = storage_child(s3_bucket, "ray/train/target-none-panx-t1")
    filesystem, path = pyarrow.fs.FileSystem.from_uri(remote)
    with filesystem.open_output_stream(f"{path}/checkpoint_1/model.safetensors") as handle:
        handle.write(b"c" * 700)
    kept = storage_child(s3_bucket, "ray/train/target-none-panx-t2")
    _, kept_path = pyarrow.fs.FileSystem.from_uri(kept)
    with filesystem.open_output_stream(f"{kept_path}/checkpoint_1/model.safetensors") as handle:
        handle.write(b"k" * 10)
    assert remove_storage_folder(remote) == 700
    assert storage_bytes(remote) == 0 and storage_bytes(kept) == 10, "only that trial's folder is deleted"


def test_disk_usage_as_metrics_and_a_line():
    usage = DiskUsage(stage_cache=3 * 1024**3, sweep_stages=1024**3, trials=2048, ray_storage=10, mlflow_artifacts=None)
    assert usage.metrics() == {
        "disk/stage_cache_bytes": 3 * 1024.0**3,
        "disk/sweep_stages_bytes": 1024.0**3,
        "disk/trials_bytes": 2048.0,
        "disk/ray_storage_bytes": 10.0,
    }
    assert usage.line() == "Disk: stage cache 3.0 GB (this sweep's stages 1.0 GB), trials 2.0 KB, Ray storage 10 B"
    assert human_bytes(1536) == "1.5 KB"


def test_default_storage_is_unset():
    config = SweepConfig.model_validate(
        {
            "name": "s",
            "model": "tiny-xlmr",
            "intermediate_tasks": ["none"],
            "target_tasks": ["panx"],
            "param_space": {"learning_rate": [1.0e-5]},
        }
    )
    assert (config.storage.stage_cache_dir, config.storage.storage_path) == (None, None)
