"""bench/asha.py: a grid in full against the same grid under grouped ASHA, and what stage reuse saves.

Runs ``sweeper run CONFIG`` twice, one after the other, each on its own fresh stage cache (so
neither reuses the other's stages): once with ``scheduler.type=fifo`` (every trial trains to its
end) and once with the config's own scheduler (grouped ASHA). For each it reports the wall time of
the command, the target trials' optimizer steps (the last evaluation's step of every trial,
stopped or not), the trials completed and early-stopped, and the intermediate task each target
selects (``sweeper.results.selection.select_best_intermediate``, as the report does).

**Reuse** (from the full run): the intermediate stages are trained once and reused by every target
trial of their task. Retraining the intermediate inside each trial (what a sweep without the
stage cache does) would cost each target trial its intermediate stage's steps again:
``Σ_intermediate steps × target trials of it``, against ``Σ_intermediate steps`` once.

    python bench/asha.py search_spaces/grid_offline.yaml --data-dir ../shared/data      # the offline grid
    python bench/asha.py search_spaces/smoke.yaml --data-dir ../shared/data \\
        --set intermediate_tasks=[none,anli] --set target_tasks=[panx]                  # CI smoke
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common


def run_sweep(config: Path, data_dir: Path, output: Path, overrides: list[str]) -> float:
    """Wall seconds of ``sweeper run CONFIG OVERRIDES`` into ``output``, its own stage cache beside it."""
    command = [
        sys.executable, "-m", "sweeper.commands.cli", "run", str(config), *overrides,
        f"storage.stage_cache_dir={output.with_name(output.name + '-cache')}",
        "--data-dir", str(data_dir), "--output", str(output),
    ]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"sweeper run ({' '.join(overrides)}) failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return wall


def summarize(output: Path, wall: float) -> dict:
    """Steps, outcomes and selections of a finished sweep, from its MLflow records."""
    import json

    from sweeper.commands.run import LAUNCH_FILE
    from sweeper.config import validate_mapping
    from sweeper.results.selection import select_best_intermediate
    from sweeper.tracking.curves import load_dev_curves
    from sweeper.tracking.runs import Tracker
    from sweeper.tracking.schema import Tag
    from sweeper.tracking.sweep_record import SweepRecord

    record = SweepRecord.read(output)
    tracker = Tracker(record.tracking_uri)
    curves, records = load_dev_curves(tracker, record)
    launch = output / LAUNCH_FILE
    seeds = validate_mapping(json.loads(launch.read_text(encoding="utf-8"))["config"], str(launch)).selection.seeds
    selection = select_best_intermediate(records.values(), seeds)
    outcomes = [trial.outcome for trial in records.values()]
    intermediate = {}
    for run in tracker.children(record.experiment_id, record.parent_run_id):
        if run.data.tags.get(Tag.STAGE) == "intermediate":
            task = run.data.tags[Tag.INTERMEDIATE_TASK]
            key = next(key for key in run.data.metrics if key.startswith(f"intermediate/{task}/en/dev/"))
            steps = max(point.step for point in tracker.client.get_metric_history(run.info.run_id, key))
            intermediate[task] = steps
    return {
        "wall_s": wall,
        "target_trials": len(curves),
        "target_steps": sum(curve.steps[-1] for curve in curves),
        "completed": outcomes.count("completed"),
        "early_stopped": outcomes.count("early_stopped"),
        "selected": {target: chosen.record.intermediate_task for target, chosen in sorted(selection.items())},
        "intermediate_steps": intermediate,
        "trials_per_intermediate": {
            task: sum(1 for trial in records.values() if trial.intermediate_task == task) for task in intermediate
        },
    }


def reuse(summary: dict) -> dict:
    """Intermediate training steps with stage reuse against retraining it inside each trial."""
    once = sum(summary["intermediate_steps"].values())
    per_trial = sum(steps * summary["trials_per_intermediate"][task] for task, steps in summary["intermediate_steps"].items())
    target = summary["target_steps"]
    return {
        "intermediate_steps_reused": once,
        "intermediate_steps_retrained": per_trial,
        "total_steps_reused": once + target,
        "total_steps_retrained": per_trial + target,
        "ratio": (per_trial + target) / (once + target),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("--data-dir", type=Path, default=common.DATA_DIR)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for both runs")
    parser.add_argument("--keep", type=Path, help="keep both sweeps' output folders here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-asha-") as scratch:
        root = args.keep or Path(scratch)
        full_wall = run_sweep(args.config, args.data_dir, root / "full", [*args.set, "scheduler.type=fifo"])
        full = summarize(root / "full", full_wall)
        asha_wall = run_sweep(args.config, args.data_dir, root / "asha", args.set)
        asha = summarize(root / "asha", asha_wall)
    result = {
        "config": str(args.config),
        "full": full,
        "asha": asha,
        "steps_ratio": asha["target_steps"] / full["target_steps"],
        "wall_ratio": asha["wall_s"] / full["wall_s"],
        "same_selection": asha["selected"] == full["selected"],
        "reuse": reuse(full),
    }
    print(f"{args.config}: {full['target_trials']} target trials")
    print(f"{'':10}{'wall (s)':>10}{'target steps':>14}{'completed':>11}{'stopped':>9}  selected")
    for name, summary in (("full", full), ("ASHA", asha)):
        chosen = ", ".join(f"{target} <- {task}" for target, task in summary["selected"].items())
        print(
            f"{name:10}{summary['wall_s']:10.0f}{summary['target_steps']:14d}{summary['completed']:11d}"
            f"{summary['early_stopped']:9d}  {chosen}"
        )
    print(
        f"ASHA / full: steps {result['steps_ratio']:.2f}, wall {result['wall_ratio']:.2f}, same selection: {result['same_selection']}"
    )
    shared = result["reuse"]
    print(
        f"reuse: {shared['total_steps_reused']} steps with the stage cache against {shared['total_steps_retrained']} "
        f"retraining each trial's intermediate ({shared['ratio']:.2f}x)"
    )
    common.emit(result)


if __name__ == "__main__":
    main()
