"""bench/driver.py: sweeper's own cost per trial on the Tune driver and in the trial actor, against
Ray Tune alone. Both sides run the same ≥ 500 synthetic trials, whose trainable does no training:
it reports ``--max-t`` English-dev evaluations with a made-up score (a function of the trial's
learning rate, seed and evaluation), so that ASHA stops the same trials on both sides.

- ``tune``: a plain ``tune.Tuner`` over the same grid (cell × learning rate × seed) with Tune's
  ``ASHAScheduler`` and the same concurrency; the trainable only reports.
- ``sweeper``: the target phase's own Tuner (``phases.tuner``: the sweep context shipped to every
  trial, trial resources, the progress callback), search (``tune_search``: cells and grid) and
  grouped ASHA (``target_scheduler``: its state file written before every STOP decision); each
  trial derives its settings (``TargetTrial.of``) and runs inside ``trials.run_trial``: its nested
  MLflow run (sqlite store) created, every evaluation logged, the run closed with its outcome,
  through the sweep's tracking service (one Ray actor, as in a sweep: trial actors and Train
  workers send their runs' bookkeeping and metrics there; the bench's trainable logs its
  evaluations as a Train worker would).

Both run in one process on one local Ray, one after the other. Goal: sweeper ≤ 1.20× Ray Tune.

Where the time goes, per side: the driver's CPU seconds (``time.process_time`` of this process,
which runs Tune's controller loop, the scheduler, the search and the callbacks), each trial
actor's CPU seconds when its trainable starts (the Ray worker's start and the imports that
unpickling the trainable brings) and when it ends (plus what the trial itself did), and the mean
number of trials running at once. Trial actors are not reused (Tune's ``reuse_actors`` default):
every trial is a fresh worker process, so an actor's CPU time is that trial's alone.

    python bench/driver.py                      # 504 trials
    python bench/driver.py --lrs 2 --seeds 2    # CI smoke: 16 trials
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common

INTERMEDIATES = ["none", "anli"]
TARGETS = ["panx", "udpos"]
COSTS_FILE = "trial_costs.jsonl"


def synthetic_score(learning_rate: float, seed: int, evaluation: int) -> float:
    """A made-up English-dev score in [0, 100]: rises with evaluations, peaks at lr 3e-5."""
    return 100 * (1 - math.exp(-evaluation / 2)) * math.exp(-abs(math.log10(learning_rate / 3e-5))) - 0.1 * seed


def _learning_rates(count: int) -> list[float]:
    return [1e-5 * 10 ** (index / max(1, count - 1) * 1.5) for index in range(count)]


def _config(args, root: Path):
    from sweeper.config import validate_mapping

    return validate_mapping(
        {
            "name": "driver",
            "model": "tiny-xlmr",
            "intermediate_tasks": INTERMEDIATES,
            "target_tasks": TARGETS,
            "param_space": {"learning_rate": _learning_rates(args.lrs), "seed": list(range(1, args.seeds + 1))},
            "scheduler": {"type": "asha", "grace_period": 1, "max_t": args.max_t, "reduction_factor": 2},
            "resources": {"max_concurrent_trials": args.concurrency},
            "storage": {"stage_cache_dir": str(root / "stage_cache")},
        },
        "bench/driver.py",
    )


def _record_trial_cost(costs: Path, started: float, cpu_at_start: float) -> None:
    """Append this trial's wall-clock span (s since the epoch) and its actor's CPU seconds at the
    start and end of the trainable to ``costs`` (one JSON line; appends of one short line from
    concurrent processes do not interleave)."""
    line = {"start": started, "end": time.time(), "cpu_at_start": cpu_at_start, "cpu_at_end": time.process_time()}
    with costs.open("a") as file:
        file.write(json.dumps(line) + "\n")


def tune_trainable(config: dict) -> None:
    started, cpu_at_start = time.time(), time.process_time()
    from ray import tune

    from sweeper.config import METRIC, TIME_ATTR

    try:
        for evaluation in range(1, config["max_t"] + 1):
            tune.report({TIME_ATTR: evaluation, METRIC: synthetic_score(config["learning_rate"], config["seed"], evaluation)})
    finally:
        _record_trial_cost(Path(config["costs"]), started, cpu_at_start)


def sweeper_trainable(trial_config: dict, context) -> None:
    """A target trial as sweeper runs it, with the Ray Train run replaced by synthetic reports."""
    started, cpu_at_start = time.time(), time.process_time()
    from ray import tune

    from sweeper.config import METRIC, TIME_ATTR
    from sweeper.ray_adapter.tracking_service import ServiceRunLog, service_name
    from sweeper.ray_adapter.trials import run_trial, target_run
    from sweeper.sweep.grid import TargetTrial
    from sweeper.tracking.trial_logging import log_evaluation

    trial = TargetTrial.of(context.config, trial_config)
    tracker = ServiceRunLog(service_name(context.parent_run_id), context.tracking_uri)  # as its Train worker logs

    def work(run_id: str) -> dict[str, str]:
        for evaluation in range(1, context.config.scheduler.max_t + 1):
            score = synthetic_score(trial.settings.learning_rate, trial.settings.seed, evaluation)
            log_evaluation(tracker, run_id, "target", trial.target, evaluation, {METRIC: score, "f1": score})
            tune.report({TIME_ATTR: evaluation, METRIC: score})
        return {}

    try:
        run_trial(context, target_run(context.config, trial), work)
    finally:
        _record_trial_cost(context.output_dir / COSTS_FILE, started, cpu_at_start)


def trial_costs(costs: Path, wall_s: float) -> dict[str, float]:
    """Means over the trials recorded in ``costs``: the actor's CPU seconds at the trainable's start
    and end, and the number of trials running at once (their summed spans over ``wall_s``)."""
    lines = [json.loads(line) for line in costs.read_text().splitlines()]
    return {
        "trials_recorded": len(lines),
        "actor_cpu_at_start_s": statistics.fmean(line["cpu_at_start"] for line in lines),
        "actor_cpu_at_end_s": statistics.fmean(line["cpu_at_end"] for line in lines),
        "mean_running": sum(line["end"] - line["start"] for line in lines) / wall_s,
    }


def run_tune(args, root: Path) -> dict[str, float]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from sweeper.config import METRIC, TIME_ATTR
    from sweeper.ray_adapter.trials import TRIAL_RESOURCES

    space = {
        "intermediate_task": tune.grid_search(INTERMEDIATES),
        "target_task": tune.grid_search(TARGETS),
        "learning_rate": tune.grid_search(_learning_rates(args.lrs)),
        "seed": tune.grid_search(list(range(1, args.seeds + 1))),
        "max_t": args.max_t,
        "costs": str(root / "tune" / COSTS_FILE),
    }
    (root / "tune").mkdir()
    scheduler = ASHAScheduler(
        time_attr=TIME_ATTR, metric=METRIC, mode="max", grace_period=1, max_t=args.max_t, reduction_factor=2
    )
    tuner = tune.Tuner(
        tune.with_resources(tune_trainable, TRIAL_RESOURCES),
        param_space=space,
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=args.concurrency),
        run_config=tune.RunConfig(name="tune", storage_path=str(root / "ray"), verbose=0),
    )
    start, driver_cpu = time.perf_counter(), time.process_time()
    results = tuner.fit()
    wall, driver_cpu = time.perf_counter() - start, time.process_time() - driver_cpu
    if results.errors:
        raise SystemExit(f"Ray Tune alone: {len(results.errors)} trials failed: {results.errors[0]}")
    return {"wall_s": wall, "driver_cpu_s": driver_cpu, **trial_costs(root / "tune" / COSTS_FILE, wall)}


def run_sweeper(config, root: Path, trials: int) -> dict[str, float]:
    from sweeper.cache.store import StageCache
    from sweeper.config import METRIC
    from sweeper.ray_adapter.cluster import pending_trials_limit
    from sweeper.ray_adapter.context import SweepContext
    from sweeper.ray_adapter.phases import tuner
    from sweeper.ray_adapter.scheduling import target_scheduler
    from sweeper.ray_adapter.search import tune_search
    from sweeper.ray_adapter.tracking_service import tracking_service_running
    from sweeper.sweep.grid import target_param_space
    from sweeper.tracking.runs import Tracker

    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    tracker = Tracker(tracking_uri)
    experiment_id = tracker.experiment_id("driver", root / "artifacts")
    parent_run_id = tracker.start_parent(experiment_id, config, "tiny-xlmr", config.model_dump_json())
    cache = StageCache(root / "stage_cache", {}, 1, {}, {}, enabled=False)
    output = root / "sweep"
    output.mkdir()
    context = SweepContext(
        config, None, "tiny-xlmr", output, tracking_uri, experiment_id, parent_run_id, (), str(root / "ray"), cache
    )
    search = tune_search(config, target_param_space(config), METRIC)
    scheduler = target_scheduler(config.scheduler, context.asha_state_path)
    experiment = tuner(sweeper_trainable, context, search.param_space, "target", scheduler, search)
    start, driver_cpu = time.perf_counter(), time.process_time()
    # as the target phase runs it
    with (
        tracking_service_running(tracking_uri, parent_run_id),
        pending_trials_limit(trials, config.resources.max_concurrent_trials),
    ):
        results = experiment.fit()
    wall, driver_cpu = time.perf_counter() - start, time.process_time() - driver_cpu
    if results.errors:
        raise SystemExit(f"sweeper: {len(results.errors)} trials failed: {results.errors[0]}")
    runs = len(tracker.children(experiment_id, parent_run_id))
    if runs != trials:
        raise SystemExit(f"sweeper tracked {runs} trial runs, expected {trials}")
    return {"wall_s": wall, "driver_cpu_s": driver_cpu, **trial_costs(output / COSTS_FILE, wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lrs", type=int, default=14, help="learning rates per cell")
    parser.add_argument("--seeds", type=int, default=9, help="seeds per learning rate")
    parser.add_argument("--max-t", type=int, default=4, help="evaluations per trial that runs to its end")
    parser.add_argument("--concurrency", type=int, default=8, help="resources.max_concurrent_trials")
    args = parser.parse_args()
    import ray

    trials = len(INTERMEDIATES) * len(TARGETS) * args.lrs * args.seeds
    with tempfile.TemporaryDirectory(prefix="bench-driver-") as scratch:
        root = Path(scratch)
        config = _config(args, root)
        ray.init(include_dashboard=False, logging_level="ERROR")
        try:
            sides = {"tune": run_tune(args, root), "sweeper": run_sweeper(config, root, trials)}
        finally:
            ray.shutdown()
    for side in sides.values():
        side["ms_per_trial"] = 1000 * side["wall_s"] / trials
        side["driver_cpu_ms_per_trial"] = 1000 * side["driver_cpu_s"] / trials
    result = {
        "trials": trials,
        "max_t": args.max_t,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        **sides,
        "tune_s": sides["tune"]["wall_s"],
        "sweeper_s": sides["sweeper"]["wall_s"],
        "ratio": sides["sweeper"]["wall_s"] / sides["tune"]["wall_s"],
    }
    print(f"{trials} synthetic trials (max_t {args.max_t}, {args.concurrency} at a time), one local Ray, {os.cpu_count()} CPUs")
    header = ["wall (s)", "ms / trial", "driver CPU ms / trial", "actor CPU s at start", "at end", "running"]
    print(f"{'':10}" + "".join(f"{name:>22}" for name in header))
    for name, side in (("Ray Tune", sides["tune"]), ("sweeper", sides["sweeper"])):
        values = (side["wall_s"], side["ms_per_trial"], side["driver_cpu_ms_per_trial"],
                  side["actor_cpu_at_start_s"], side["actor_cpu_at_end_s"], side["mean_running"])  # fmt: skip
        print(f"{name:10}" + "".join(f"{value:22.2f}" for value in values))
    print(f"ratio sweeper / Ray Tune: {result['ratio']:.2f} (goal <= 1.20)")
    common.emit(result)


if __name__ == "__main__":
    main()
