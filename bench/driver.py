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
  MLflow run (sqlite store) created, every evaluation logged, the run closed with its outcome.

Both run in one process on one local Ray, one after the other. Goal: sweeper ≤ 1.20× Ray Tune.

    python bench/driver.py                      # 504 trials
    python bench/driver.py --lrs 2 --seeds 2    # CI smoke: 16 trials
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common

INTERMEDIATES = ["none", "anli"]
TARGETS = ["panx", "udpos"]


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


def tune_trainable(config: dict) -> None:
    from ray import tune

    from sweeper.config import METRIC, TIME_ATTR

    for evaluation in range(1, config["max_t"] + 1):
        tune.report({TIME_ATTR: evaluation, METRIC: synthetic_score(config["learning_rate"], config["seed"], evaluation)})


def sweeper_trainable(trial_config: dict, context) -> None:
    """A target trial as sweeper runs it, with the Ray Train run replaced by synthetic reports."""
    from ray import tune

    from sweeper.config import METRIC, TIME_ATTR
    from sweeper.ray_adapter.trials import run_trial, target_run
    from sweeper.sweep.grid import TargetTrial
    from sweeper.tracking.runs import Tracker
    from sweeper.tracking.trial_logging import log_evaluation

    trial = TargetTrial.of(context.config, trial_config)
    tracker = Tracker(context.tracking_uri)

    def work(run_id: str) -> dict[str, str]:
        for evaluation in range(1, context.config.scheduler.max_t + 1):
            score = synthetic_score(trial.settings.learning_rate, trial.settings.seed, evaluation)
            log_evaluation(tracker, run_id, "target", trial.target, evaluation, {METRIC: score, "f1": score})
            tune.report({TIME_ATTR: evaluation, METRIC: score})
        return {}

    run_trial(context, target_run(context.config, trial), work)


def run_tune(args, root: Path) -> float:
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
    }
    scheduler = ASHAScheduler(
        time_attr=TIME_ATTR, metric=METRIC, mode="max", grace_period=1, max_t=args.max_t, reduction_factor=2
    )
    tuner = tune.Tuner(
        tune.with_resources(tune_trainable, TRIAL_RESOURCES),
        param_space=space,
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=args.concurrency),
        run_config=tune.RunConfig(name="tune", storage_path=str(root / "ray"), verbose=0),
    )
    start = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - start
    if results.errors:
        raise SystemExit(f"Ray Tune alone: {len(results.errors)} trials failed: {results.errors[0]}")
    return wall


def run_sweeper(config, root: Path, trials: int) -> tuple[float, int]:
    from sweeper.cache.store import StageCache
    from sweeper.config import METRIC
    from sweeper.ray_adapter.cluster import pending_trials_limit
    from sweeper.ray_adapter.context import SweepContext
    from sweeper.ray_adapter.phases import tuner
    from sweeper.ray_adapter.scheduling import target_scheduler
    from sweeper.ray_adapter.search import tune_search
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
    start = time.perf_counter()
    with pending_trials_limit(trials, config.resources.max_concurrent_trials):  # as the target phase runs it
        results = experiment.fit()
    wall = time.perf_counter() - start
    if results.errors:
        raise SystemExit(f"sweeper: {len(results.errors)} trials failed: {results.errors[0]}")
    runs = tracker.children(experiment_id, parent_run_id)
    return wall, len(runs)


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
            tune_s = run_tune(args, root)
            sweeper_s, runs = run_sweeper(config, root, trials)
        finally:
            ray.shutdown()
    if runs != trials:
        raise SystemExit(f"sweeper tracked {runs} trial runs, expected {trials}")
    result = {
        "trials": trials,
        "max_t": args.max_t,
        "concurrency": args.concurrency,
        "tune_s": tune_s,
        "sweeper_s": sweeper_s,
        "tune_ms_per_trial": 1000 * tune_s / trials,
        "sweeper_ms_per_trial": 1000 * sweeper_s / trials,
        "ratio": sweeper_s / tune_s,
    }
    print(f"{trials} synthetic trials (max_t {args.max_t}, {args.concurrency} at a time), one local Ray")
    print(f"{'':14}{'wall (s)':>10}{'ms / trial':>12}")
    print(f"{'Ray Tune':14}{tune_s:10.1f}{result['tune_ms_per_trial']:12.0f}")
    print(f"{'sweeper':14}{sweeper_s:10.1f}{result['sweeper_ms_per_trial']:12.0f}")
    print(f"ratio sweeper / Ray Tune: {result['ratio']:.2f} (goal <= 1.20)")
    common.emit(result)


if __name__ == "__main__":
    main()
