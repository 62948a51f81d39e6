"""Storage settings and disk accounting: Ray storage local or s3:// (a real S3-compatible server),
validated with clear errors; checkpoints of stopped trials removed; disk use measured."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.fs
import pytest

from sweeper.commands.preflight import check_disk_space
from sweeper.config import SweepConfig, load_config
from sweeper.errors import ConfigError
from sweeper.models.availability import weight_bytes
from sweeper.storage import (
    CHECKPOINT_BYTES_PER_WEIGHT_BYTE,
    DiskUsage,
    SpaceNeed,
    check_free_space,
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


def test_free_space_is_checked_per_file_system_with_the_needs_on_it_added_up(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    half = free // 2 + 2**30  # two of them do not fit (room for the disk to change meanwhile)
    check_free_space([SpaceNeed(tmp_path / "a", free // 4, "Ray storage")], "fix it")
    with pytest.raises(ConfigError) as error:
        check_free_space(
            [
                SpaceNeed(tmp_path / "not" / "yet", half, "Ray storage: 2 trials"),
                SpaceNeed(tmp_path / "b", half, "trial folders"),
            ],
            "Free space there.",
        )
    message = str(error.value)
    assert f"the file system of {tmp_path / 'not' / 'yet'} has" in message
    assert f"needs at least {human_bytes(2 * half)}" in message
    assert "Ray storage: 2 trials under" in message and f"trial folders under {tmp_path / 'b'}" in message
    assert message.endswith("Free space there.")


def test_model_weights_are_measured_once_per_format(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert weight_bytes(str(tmp_path)) is None
    (tmp_path / "pytorch_model.bin").write_bytes(b"x" * 300)
    assert weight_bytes(str(tmp_path)) == 300
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"x" * 100)
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"x" * 50)
    assert weight_bytes(str(tmp_path)) == 150, "safetensors first, as from_pretrained loads them"


def test_model_weights_of_a_hub_id_are_measured_in_the_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--org--encoder"
    blob = repo / "blobs" / "abc"
    snapshot = repo / "snapshots" / "0123"
    blob.parent.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    blob.write_bytes(b"x" * 1000)
    (snapshot / "model.safetensors").symlink_to(blob)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123")
    assert weight_bytes("org/encoder") == 1000
    assert weight_bytes("org/not-downloaded") is None


def test_a_sweep_whose_first_checkpoints_cannot_fit_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    free = shutil.disk_usage(tmp_path).free
    weights = free // CHECKPOINT_BYTES_PER_WEIGHT_BYTE + 1  # one checkpoint is larger than the disk
    with (model / "model.safetensors").open("wb") as file:
        file.truncate(weights)  # sparse: takes no space
    config = load_config(SMOKE, ["resources.max_concurrent_trials=1"])
    with pytest.raises(ConfigError, match="not enough free disk space .* 1 trial.* at once × 1 checkpoint of") as error:
        check_disk_space(config, str(model), tmp_path / "out", local_ray=False)
    assert "Ray storage" in str(error.value) and "trial folders" not in str(error.value)
    assert not (tmp_path / "out").exists()
    (model / "model.safetensors").unlink()
    with (model / "model.safetensors").open("wb") as file:
        file.truncate(1000)
    check_disk_space(config, str(model), tmp_path / "out", local_ray=True)
