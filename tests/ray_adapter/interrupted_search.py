"""A target search whose driver a test kills while its first trial runs (``python
interrupted_search.py GCS_ADDRESS SWEEP_YAML STORAGE FLAG``), and the same experiment again for
the test to restore."""

import json
import subprocess
import sys
import time
from pathlib import Path

import ray
from ray import tune

from sweeper.config import SweepConfig, load_config
from sweeper.ray_adapter.search import tune_search
from sweeper.sweep.grid import target_param_space

#: Appended to a sweep of cells ``none->panx`` and ``anli->panx``: 4 trials, one at a time.
SPACE = "resources: {max_concurrent_trials: 1}\nparam_space: {learning_rate: [1e-5, 3e-5], seed: [1]}\n"


def report_tasks(config: dict, flag: Path) -> None:
    """The first trial raises ``flag`` and waits to be killed with its driver; later trials (and
    the first one restored) report their cell's tasks as ``intermediate|target``."""
    if not flag.exists():
        flag.touch()
        time.sleep(3600)
    tune.report({"score": 1.0, "tasks": f"{config['intermediate_task']}|{config['target_task']}"})


def experiment(config: SweepConfig, storage: Path, flag: Path):
    """(trainable, new_tuner): the target search of ``config`` over :func:`report_tasks`."""
    trainable = tune.with_resources(tune.with_parameters(report_tasks, flag=flag), {"cpu": 0.5})
    search = tune_search(config, target_param_space(config), "score")

    def new_tuner() -> tune.Tuner:
        return tune.Tuner(
            trainable,
            param_space=search.param_space,
            tune_config=tune.TuneConfig(search_alg=search.search_alg, num_samples=search.num_samples),
            run_config=tune.RunConfig(name="target", storage_path=str(storage), verbose=0),
        )

    return trainable, new_tuner


def wait_for_running_trial(driver: subprocess.Popen, experiment_dir: Path, flag: Path, timeout_s: float = 300) -> None:
    """Wait until the first trial runs and the saved experiment state says so.

    Raises:
        AssertionError: the driver ended, or ``timeout_s`` seconds passed first.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert driver.poll() is None, f"the driver ended with exit code {driver.returncode}"
        states = sorted(experiment_dir.glob("experiment_state-*.json")) if flag.exists() else []
        if states and _running_trials(states[-1]):
            return
        time.sleep(0.2)
    raise AssertionError(f"no running trial saved in {experiment_dir} within {timeout_s} s")


def _running_trials(state_file: Path) -> int:
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError:  # caught while Tune writes it
        return 0
    return sum(json.loads(trial)["status"] == "RUNNING" for trial, _ in state["trial_data"])


if __name__ == "__main__":
    address, config_path, storage, flag = sys.argv[1:]
    ray.init(address=address, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    experiment(load_config(Path(config_path)), Path(storage), Path(flag))[1]().fit()
