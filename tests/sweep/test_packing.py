"""Trial packing arithmetic, its configuration checks and the plan's packing section (CPU only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweeper.config import TrainingConfig, load_config
from sweeper.errors import ConfigError
from sweeper.sweep.packing import (
    CONTEXT_BYTES,
    GIB,
    XLMR_LARGE_CONFIG,
    MemoryModel,
    Throughput,
    architecture_key,
    gpu_fraction,
    plan_packing,
    probe_key,
    read_cached_probe,
    split_batch,
    stage_memory,
    target_packings,
    trials_per_gpu,
    worker_gpus,
    write_cached_probe,
)

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "search_spaces" / "paper.yaml"
#: What bench/probe.py measured on an H200 for XLM-R Large at 256 tokens (docs/benchmarks.md).
H200_PROBE = MemoryModel(8_930_243_072, 80_751_616, "NVIDIA H200", 150_109_880_320, "probe")


def test_two_probe_points_give_the_line_through_them():
    memory = MemoryModel.from_two_points(1, 10 * GIB + GIB, 8, 10 * GIB + 8 * GIB, "gpu", 80 * GIB)
    assert (memory.static_bytes, memory.per_example_bytes) == (10 * GIB, GIB)
    assert memory.peak_bytes(32) == 42 * GIB
    with pytest.raises(ValueError, match="increase"):
        MemoryModel.from_two_points(8, GIB, 8, GIB, "gpu", GIB)


def test_trials_per_gpu_is_the_floor_of_usable_over_footprint():
    # 0.95 × 100 GiB = 95 GiB usable; each trial 10 GiB × 1.5 + 0.75 GiB context = 15.75 GiB → 6 trials
    assert trials_per_gpu(100 * GIB, 10 * GIB) == 6
    assert trials_per_gpu(100 * GIB, 10 * GIB, margin=1.0) == 8
    assert trials_per_gpu(10 * GIB, 10 * GIB) == 0
    assert CONTEXT_BYTES < GIB


@pytest.mark.parametrize(("trials", "fraction"), [(1, 1.0), (2, 0.5), (3, 0.3333), (8, 0.125), (9, 0.1111)])
def test_ray_fraction_never_overcommits_a_gpu(trials, fraction):
    assert gpu_fraction(trials) == fraction
    assert gpu_fraction(trials) * trials <= 1
    with pytest.raises(ValueError):
        gpu_fraction(0)


def test_auto_accumulation_keeps_the_batch_and_takes_the_largest_micro_batch_that_fits():
    memory = MemoryModel(10 * GIB, GIB, "gpu", 100 * GIB, "probe")
    # budget 40 GiB: footprint(b) = (10 + b) × 1.5 + 0.75 ≤ 40 → b ≤ 16.2; largest divisor of 32 is 16
    assert split_batch(32, 40 * GIB, memory) == (16, 2)
    assert split_batch(32, 100 * GIB, memory) == (32, 1)
    with pytest.raises(ValueError, match="one example needs"):
        split_batch(32, 12 * GIB, memory)


def test_h200_probe_packs_seven_paper_trials_and_refuses_too_many():
    packing = plan_packing(H200_PROBE, 32, None, None)
    assert (packing.trials_per_gpu, packing.micro_batch, packing.accumulation, packing.num_gpus) == (7, 32, 1, 0.1428)
    assert plan_packing(H200_PROBE, 32, 8, 4).micro_batch == 4
    with pytest.raises(ValueError, match="lower resources.trials_per_gpu"):
        plan_packing(H200_PROBE, 32, 1, 12)


def test_probe_cache_round_trip_and_plan_prefers_a_cached_probe(tmp_path):
    key = probe_key(architecture_key(XLMR_LARGE_CONFIG), "train", 256, "bf16")
    assert read_cached_probe(tmp_path, key) is None
    assert stage_memory(tmp_path, XLMR_LARGE_CONFIG, 256, "bf16").source == "estimate"
    write_cached_probe(tmp_path, key, H200_PROBE)
    assert read_cached_probe(tmp_path, key) == H200_PROBE
    assert stage_memory(tmp_path, XLMR_LARGE_CONFIG, 256, "bf16") == H200_PROBE
    assert probe_key(architecture_key(XLMR_LARGE_CONFIG), "train", 384, "bf16") != key


def test_paper_sweep_packs_every_trained_target(tmp_path):
    config = load_config(PAPER)
    assert config.target.gradient_accumulation_steps == "auto" and config.target.optimizer_batch == 32
    packings = target_packings(config, "xlm-roberta-large", tmp_path)
    assert set(packings) == {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"}
    for target, packing in packings.items():
        assert packing.trials_per_gpu >= 2, target
        assert packing.micro_batch * packing.accumulation == (16 if target in ("xquad", "mlqa", "tydiqa") else 32)
    assert worker_gpus(config, "xlm-roberta-large", tmp_path) == gpu_fraction(min(p.trials_per_gpu for p in packings.values()))
    fixed = load_config(PAPER, ["resources.gpus_per_worker=0", "resources.trials_per_gpu=4"])
    assert worker_gpus(fixed, "xlm-roberta-large", tmp_path) == 0.25


def test_unknown_architecture_cannot_be_packed_automatically(tmp_path):
    config = load_config(PAPER)
    with pytest.raises(ConfigError, match="architecture"):
        worker_gpus(config, str(tmp_path / "no-such-model"), tmp_path)


def test_packed_throughput_scales_gpu_hours():
    throughput = Throughput(1000.0, {1: 1.0, 4: 3.0}, "test")
    assert throughput.gpu_hours(3_600_000, 1) == 1.0
    assert throughput.gpu_hours(3_600_000, 6) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["resources.num_workers=2", "resources.gpus_per_worker=0", "resources.trials_per_gpu=2"], "Duplicate GPU detected"),
        (["resources.num_workers=2"], "ray-project/ray#48012"),
        (
            [
                "resources.use_gpu=false",
                "resources.gpus_per_worker=0",
                "target.mixed_precision=auto",
                "resources.trials_per_gpu=2",
            ],
            "needs resources.use_gpu",
        ),
        (["resources.trials_per_gpu=2"], "not both"),
    ],
)
def test_impossible_packing_is_a_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(PAPER, overrides)


def test_gradient_accumulation_auto_counts_the_optimizer_batch():
    assert TrainingConfig(per_device_train_batch_size=32, gradient_accumulation_steps="auto").optimizer_batch == 32
    assert TrainingConfig(per_device_train_batch_size=4, gradient_accumulation_steps=8).optimizer_batch == 32


def test_plan_refuses_data_parallel_packing_with_exit_2():
    command = [sys.executable, "-m", "sweeper.commands.cli", "plan", str(PAPER), "resources.num_workers=2"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Duplicate GPU" in result.stdout + result.stderr
