"""The CPU smoke form of the GPU benchmarks in bench/ (tiny-xlmr, a few steps): each runs to the end
and prints its final machine-readable line with the figures it promises. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench(name: str, *arguments: str, cache: Path, data_dir: Path, model: str | None = "tiny") -> dict:
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SWEEPER_CACHE_DIR": str(cache),
        "SWEEPER_DATA_DIR": str(data_dir),
        "BENCH_JSON_OUT": "",
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{name}.py"), *(["--model", model] if model else []), *arguments],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    assert lines == [result.stdout.strip().splitlines()[-1]], "the JSON line must be the last line"
    return json.loads(lines[0].removeprefix("BENCH_JSON "))


@pytest.fixture(scope="module")
def bench_cache(model_cache: Path, tiny_dir: Path) -> Path:
    return model_cache


def test_trainer_bench_compares_sweeper_with_a_bare_loop(bench_cache, data_dir):
    result = _bench("trainer", "--steps", "2", "--warmup", "1", "--train-examples", "128", cache=bench_cache, data_dir=data_dir)
    assert result["sweeper"]["steps_per_s"] > 0 and result["bare"]["steps_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["sweeper"]["steps_per_s"] / result["bare"]["steps_per_s"])
    assert result["sweeper"]["mfu"] is None  # no GPU peak to compare with on the CPU


def test_evaluation_bench_times_sweeper_and_bare_inference(bench_cache, data_dir):
    result = _bench("evaluation", "--languages", "de", "--examples", "64", cache=bench_cache, data_dir=data_dir)
    assert result["sentences"] == 64
    sides = ("zero_shot", "sequential", "cold", "predict")
    assert min(result["bare_s"], *(result[f"sweeper_{side}_s"] for side in sides)) > 0
    assert result["ratio_zero_shot"] == pytest.approx(result["bare_s"] / result["sweeper_zero_shot_s"])


def test_packing_bench_runs_packed_processes(bench_cache, data_dir):
    result = _bench(
        "packing",
        "--counts",
        "1",
        "2",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--train-examples",
        "64",
        cache=bench_cache,
        data_dir=data_dir,
    )
    assert [run["trials"] for run in result["runs"]] == [1, 2]
    assert len(result["runs"][1]["per_trial_steps_per_s"]) == 2
    assert result["runs"][0]["speedup_vs_one_per_gpu"] == 1.0


def test_probe_bench_prints_the_estimate_without_a_gpu(bench_cache, data_dir):
    result = _bench("probe", cache=bench_cache, data_dir=data_dir)
    assert result["estimate_xlmr_large"]["source"] == "estimate"
    assert result["estimate_packing"]["trials_per_gpu"] >= 1


def test_bad_input_refusal_bench_times_the_catalogue_cases(data_dir):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bad_input_refusal.py"), "--data-dir", str(data_dir), "--cases"]
        + ["run-target-typo", "resume-folder-missing", "score-predictions-missing"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "resume-folder-missing" in result.stdout
    assert "3 cases: median" in result.stdout.splitlines()[-1]


def test_overhead_bench_times_one_trial_through_sweeper_run_and_directly(bench_cache, data_dir):
    arguments = ("--max-steps", "4", "--eval-steps", "2", "--train-examples", "64")
    result = _bench("overhead", *arguments, cache=bench_cache, data_dir=data_dir, model="tiny-xlmr")
    assert result["evaluations"] == 2, "the trial's two English-dev evaluations, read back from MLflow"
    assert result["sweeper"]["command_s"] > result["sweeper"]["trial_run_s"] > 0
    assert result["direct"]["command_s"] > result["direct"]["stage_s"] > result["direct"]["training_s"] > 0
    assert result["ratio_command"] == pytest.approx(result["sweeper"]["command_s"] / result["direct"]["command_s"])


def test_driver_bench_runs_the_same_synthetic_trials_through_tune_and_sweeper(bench_cache, data_dir):
    result = _bench("driver", "--lrs", "2", "--seeds", "2", cache=bench_cache, data_dir=data_dir, model=None)
    assert result["trials"] == 16, "2 intermediate x 2 target cells x 2 learning rates x 2 seeds, each tracked by sweeper"
    assert result["ratio"] == pytest.approx(result["sweeper_s"] / result["tune_s"])
    for side in ("tune", "sweeper"):
        costs = result[side]
        # a trial's line is lost if Tune kills its actor before the trainable's `finally` runs
        assert 0 < costs["trials_recorded"] <= 16
        assert costs["actor_cpu_at_end_s"] >= costs["actor_cpu_at_start_s"] > 0, "a fresh worker process per trial"
        assert costs["driver_cpu_s"] > 0 and costs["mean_running"] > 0


@pytest.mark.slow
def test_asha_bench_compares_a_full_grid_with_grouped_asha_and_counts_reuse(bench_cache, data_dir):
    overrides = ["--set", "intermediate_tasks=[none,anli]", "--set", "target_tasks=[panx]"]
    result = _bench("asha", str(REPO / "search_spaces" / "smoke.yaml"), "--data-dir", str(data_dir), *overrides,
                    cache=bench_cache, data_dir=data_dir, model=None)  # fmt: skip
    full, asha = result["full"], result["asha"]
    assert full["target_trials"] == 4 and full["completed"] == 4 and full["early_stopped"] == 0
    # how many ASHA stops depends on the order trials reach a rung: only the bounds are certain
    assert asha["completed"] + asha["early_stopped"] == 4 and asha["completed"] >= 2, "a trial per cell runs to its end"
    assert asha["target_steps"] <= full["target_steps"]
    assert set(full["selected"]) == {"panx"}
    reuse = result["reuse"]
    assert full["trials_per_intermediate"] == {"anli": 2}
    assert (
        reuse["intermediate_steps_retrained"] == 2 * reuse["intermediate_steps_reused"] == 2 * full["intermediate_steps"]["anli"]
    )
