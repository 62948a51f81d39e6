"""Search algorithms of the target phase: configuration, Tune search spaces, real Tune runs."""

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import interrupted_search
import pytest
import ray
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator

from sweeper.config import Distribution, SweepConfig, load_config
from sweeper.errors import ConfigError
from sweeper.ray_adapter.phases import restored_or_new_tuner
from sweeper.ray_adapter.search import CellSearcher, tune_search
from sweeper.sweep.grid import grid_trial_configs, target_param_space, target_settings, trials_per_cell

BASE = """
name: t
model: tiny-xlmr
intermediate_tasks: [none, anli]
target_tasks: [panx]
target: {learning_rate: 1.0e-5, warmup_ratio: 0.1}
"""


def load(tmp_path: Path, text: str, overrides: list[str] = ()) -> SweepConfig:
    path = tmp_path / "sweep.yaml"
    path.write_text(BASE + text, encoding="utf-8")
    return load_config(path, overrides)


RANDOM = """
search: {algorithm: random, num_samples: 3, seed: 7}
param_space:
  learning_rate: {loguniform: [1e-6, 1e-4]}
  per_device_train_batch_size: {randint: [8, 32]}
  num_train_epochs: [2, 3]
  warmup_ratio: {uniform: [0, 0.2]}
  seed: [1, 2]
"""


# --- configuration --------------------------------------------------------------------------


def test_grid_is_the_default_and_keeps_the_lr_seed_grid(tmp_path):
    config = load(tmp_path, "param_space: {learning_rate: [1e-5, 3e-5], seed: [1, 2]}\n")
    assert config.search.algorithm == "grid" and config.search.num_samples == 1
    assert target_param_space(config) == {
        "cell": [("none", "panx"), ("anli", "panx")],
        "learning_rate": [1e-5, 3e-5],
        "seed": [1, 2],
    }
    assert trials_per_cell(config) == 4


def test_distributions_are_parsed_and_yaml_exponent_strings_converted(tmp_path):
    config = load(tmp_path, RANDOM)
    space = config.param_space
    # PyYAML reads 1e-6 (no dot) as a string: converted like every other number of the config
    assert space.learning_rate == Distribution(kind="loguniform", low=1e-6, high=1e-4)
    assert space.per_device_train_batch_size == Distribution(kind="randint", low=8, high=32)
    assert space.num_train_epochs == [2.0, 3.0]
    assert trials_per_cell(config) == 3 * 2
    # dumped back in the written form (the parent run's params)
    assert config.model_dump()["param_space"]["learning_rate"] == {"loguniform": [1e-6, 1e-4]}


@pytest.mark.parametrize(
    ("param_space", "message"),
    [
        ("{learning_rate: {loguniform: [1e-4, 1e-6]}}", "low < high, got [0.0001, 1e-06]"),
        ("{learning_rate: {loguniform: [1e-5, 1e-5]}}", "low < high"),
        ("{learning_rate: {logunifrom: [1e-6, 1e-4]}}", "unknown distribution 'logunifrom'. Did you mean 'loguniform'?"),
        ("{learning_rate: {loguniform: [1e-6]}}", "takes two bounds [low, high]"),
        ("{learning_rate: {loguniform: [fast, 1e-4]}}", "write floats with a dot, e.g. 1.0e-5"),
        ("{learning_rate: {uniform: [-1, 1e-4]}}", "low bound -1 is not a number learning_rate allows"),
        ("{learning_rate: [1e-5], warmup_ratio: {loguniform: [0, 0.1]}}", "loguniform needs low > 0"),
        ("{learning_rate: [1e-5], warmup_ratio: {uniform: [0, 1]}}", "high bound 1 is not a number warmup_ratio allows"),
        ("{learning_rate: [1e-5], per_device_train_batch_size: {uniform: [8, 32]}}", "integer setting"),
        ("{learning_rate: [1e-5], per_device_train_batch_size: {randint: [8.5, 32]}}", "is not an integer"),
        ("{learning_rate: {loguniform: [1e-6, 1e-4], uniform: [0, 1]}}", "exactly one key"),
        ("{learning_rate: [1e-5], seed: {randint: [1, 5]}}", "seeds are repeats"),
        ("{learning_rate: [1e-5], batch_size: [8]}", "param_space.batch_size: unknown key."),
        ("{learning_rate: [1e-5, 0]}", "param_space.learning_rate.1"),
    ],
)
def test_bad_search_values_are_rejected_with_their_field(tmp_path, param_space, message):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, f"search: {{algorithm: optuna, num_samples: 2}}\nparam_space: {param_space}\n")
    assert message in str(error.value)


def test_a_distribution_under_grid_search_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="param_space.learning_rate is a distribution.*set search.algorithm to random"):
        load(tmp_path, "param_space: {learning_rate: {loguniform: [1e-6, 1e-4]}}\n")


def test_num_samples_needs_random_or_optuna(tmp_path):
    with pytest.raises(ConfigError, match=r"search.num_samples \(4\) needs search.algorithm random or optuna"):
        load(tmp_path, "search: {num_samples: 4}\nparam_space: {learning_rate: [1e-5]}\n")


def test_unknown_search_key_and_algorithm(tmp_path):
    with pytest.raises(ConfigError, match="search.num_sample: unknown key. Did you mean 'num_samples'?"):
        load(tmp_path, "search: {algorithm: random, num_sample: 4}\nparam_space: {learning_rate: [1e-5]}\n")
    with pytest.raises(ConfigError, match="search.algorithm"):
        load(tmp_path, "search: {algorithm: bayes}\nparam_space: {learning_rate: [1e-5]}\n")


def test_search_is_settable_by_overrides(tmp_path):
    config = load(
        tmp_path,
        "param_space: {learning_rate: [1e-5]}\n",
        ["search.algorithm=optuna", "search.num_samples=5", "param_space.learning_rate={uniform: [1e-6, 1e-5]}"],
    )
    assert config.search.algorithm == "optuna" and trials_per_cell(config) == 5


def test_target_settings_apply_every_sampled_value(tmp_path):
    config = load(tmp_path, RANDOM + "training_overrides: {panx: {max_seq_length: 64}}\n")
    trial = {
        "intermediate_task": "anli",
        "target_task": "panx",
        "learning_rate": 3e-5,
        "per_device_train_batch_size": 16,
        "num_train_epochs": 2,
        "warmup_ratio": 0.05,
        "seed": 2,
    }
    settings = target_settings(config, trial)
    assert (
        settings.learning_rate,
        settings.per_device_train_batch_size,
        settings.num_train_epochs,
        settings.warmup_ratio,
        settings.seed,
        settings.max_seq_length,
    ) == (3e-5, 16, 2.0, 0.05, 2, 64)


# --- Tune search spaces (no trial runs) ----------------------------------------------------


def test_grid_search_space(tmp_path):
    config = load(tmp_path, "param_space: {learning_rate: [1e-5, 3e-5], seed: [1, 2]}\nresources: {max_concurrent_trials: 3}\n")
    search = tune_search(config, target_param_space(config), "score")
    assert search.param_space["learning_rate"] == tune.grid_search([1e-5, 3e-5])
    assert search.param_space["cell"] == tune.grid_search(["none->panx", "anli->panx"])
    assert isinstance(search.search_alg, BasicVariantGenerator) and search.num_samples == 1
    assert search.search_alg.max_concurrent == 3


def test_random_search_space(tmp_path):
    config = load(tmp_path, RANDOM)
    search = tune_search(config, target_param_space(config), "score")
    space = search.param_space
    assert space["seed"] == tune.grid_search([1, 2]) and space["cell"] == tune.grid_search(["none->panx", "anli->panx"])
    assert isinstance(space["learning_rate"], tune.search.sample.Float)
    assert (space["learning_rate"].lower, space["learning_rate"].upper) == (1e-6, 1e-4)
    # randint's written upper bound is inclusive; tune.randint's is exclusive
    assert (space["per_device_train_batch_size"].lower, space["per_device_train_batch_size"].upper) == (8, 33)
    assert space["num_train_epochs"].categories == [2.0, 3.0]
    assert search.num_samples == 3


def test_optuna_search_space(tmp_path):
    config = load(tmp_path, RANDOM.replace("random", "optuna"))
    search = tune_search(config, target_param_space(config), "score")
    assert search.param_space == {}
    assert isinstance(search.search_alg, ConcurrencyLimiter)
    assert isinstance(search.search_alg.searcher, CellSearcher)
    assert search.num_samples == 2 * 3 * 2  # cells × num_samples × seeds


def test_cell_searcher_keeps_cells_a_grid_and_seeds_repeats():
    space = {"learning_rate": tune.loguniform(1e-6, 1e-4), "num_train_epochs": tune.choice([2.0, 3.0])}
    cells = [("none", "panx"), ("anli", "panx")]
    searcher = CellSearcher(cells, [1, 2], space, num_samples=2, metric="score", seed=0)
    configs = []
    for index in range(8):
        configs.append(searcher.suggest(f"t{index}"))
    assert searcher.suggest("t8") == Searcher.FINISHED
    assert Counter((c["intermediate_task"], c["target_task"]) for c in configs) == {cell: 4 for cell in cells}
    # consecutive pairs are one configuration with seeds 1 and 2
    for first, second in zip(configs[::2], configs[1::2]):
        assert (first["seed"], second["seed"]) == (1, 2)
        assert {k: v for k, v in first.items() if k != "seed"} == {k: v for k, v in second.items() if k != "seed"}
    assert all(1e-6 <= c["learning_rate"] <= 1e-4 and c["num_train_epochs"] in (2.0, 3.0) for c in configs)
    # the cell's TPE hears the mean over seeds of each trial's best score, once both seeds finished
    searcher.on_trial_result("t0", {"score": 40.0})
    searcher.on_trial_complete("t0", {"score": 30.0})
    cell_study = searcher._searchers[cells[0]]._ot_study
    assert not [t for t in cell_study.trials if t.state.is_finished()]
    searcher.on_trial_complete("t1", {"score": 50.0})
    (finished,) = [t for t in cell_study.trials if t.state.is_finished()]
    assert finished.value == pytest.approx(45.0)
    # a configuration without any score is told as failed
    searcher.on_trial_complete("t2", None, error=True)
    searcher.on_trial_complete("t3", None, error=True)
    # cell 1 asked TPE twice (t2/t3 and t6/t7): the first is told failed, the second not yet told
    assert [t.state.name for t in searcher._searchers[cells[1]]._ot_study.trials] == ["FAIL", "RUNNING"]


# --- real Tune runs with a function trainable -------------------------------------------------


def _score(config: dict) -> None:
    """A trivial trainable: a score (0–100) peaked at learning rate 1e-5, reported twice."""
    base = 100 - 10 * abs(math.log10(config["learning_rate"]) + 5)
    for evaluation in (1, 2):
        tune.report({"evaluation": evaluation, "score": base - 2 + evaluation})


@pytest.mark.parametrize("algorithm", ["random", "optuna"])
def test_real_tune_run_proposes_valid_configs_per_cell(tmp_path, local_ray, algorithm):
    config = load(tmp_path, RANDOM.replace("random", algorithm))
    search = tune_search(config, target_param_space(config), "score")
    results = tune.Tuner(
        tune.with_resources(_score, {"cpu": 0.5}),
        param_space=search.param_space,
        tune_config=tune.TuneConfig(search_alg=search.search_alg, num_samples=search.num_samples),
        run_config=tune.RunConfig(name=algorithm, storage_path=str(tmp_path / "ray"), verbose=0),
    ).fit()
    assert not results.errors
    configs = [result.config for result in results]
    cells = Counter((c["intermediate_task"], c["target_task"]) for c in configs)
    assert cells == {("none", "panx"): 3 * 2, ("anli", "panx"): 3 * 2}  # num_samples × seeds per cell
    for c in configs:
        assert 1e-6 <= c["learning_rate"] <= 1e-4
        assert 8 <= c["per_device_train_batch_size"] <= 32 and isinstance(c["per_device_train_batch_size"], int)
        assert c["num_train_epochs"] in (2.0, 3.0) and 0 <= c["warmup_ratio"] <= 0.2
        target_settings(config, c)  # every proposed config is a valid stage setting
    # each configuration of a cell runs once per seed
    per_config = Counter(
        (c["intermediate_task"], c["learning_rate"], c["per_device_train_batch_size"], c["warmup_ratio"]) for c in configs
    )
    assert set(per_config.values()) == {2}
    assert all(
        result.metrics["score"] == pytest.approx(100 - 10 * abs(math.log10(result.config["learning_rate"]) + 5))
        for result in results
    )


# --- search.prune: only the kept cells are trials ----------------------------------------------


PRUNED = """
intermediate_tasks: [none, anli, xnli]
target_tasks: [panx, udpos]
search: {prune: {method: logme, keep: 1}}
"""


def test_prune_is_validated_at_the_boundary(tmp_path):
    for prune, message in [
        ("{method: logme, keep: 0}", "keep"),
        ("{method: logme, keep: 2}", "keeps all 2 intermediate task"),
        ("{method: embedding, keep: 1}", "method"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load(tmp_path, PRUNED.replace("{method: logme, keep: 1}", prune) + "param_space: {learning_rate: [1e-5]}\n")
    config = load(tmp_path, PRUNED + "param_space: {learning_rate: [1e-5]}\n")
    assert (config.search.prune.method, config.search.prune.keep, config.search.prune.max_examples) == ("logme", 1, 2000)


@pytest.mark.parametrize("algorithm", ["grid", "random"])  # optuna's CellSearcher takes the cells as they are
def test_real_tune_run_of_a_pruned_grid_creates_no_trial_of_a_pruned_cell(tmp_path, local_ray, algorithm):
    sampled = "" if algorithm == "grid" else f"  algorithm: {algorithm}\n  num_samples: 2\n"
    text = PRUNED.replace("search: {prune: {method: logme, keep: 1}}\n", "search:\n  prune: {method: logme, keep: 1}\n" + sampled)
    config = load(tmp_path, text + "param_space: {learning_rate: [1e-5, 3e-5], seed: [1, 2]}\n")
    kept = {"panx": ("none", "xnli"), "udpos": ("none", "anli")}
    space = target_param_space(config, kept)
    assert space["cell"] == [("none", "panx"), ("xnli", "panx"), ("none", "udpos"), ("anli", "udpos")]
    search = tune_search(config, space, "score")
    results = tune.Tuner(
        tune.with_resources(_score, {"cpu": 0.5}),
        param_space=search.param_space,
        tune_config=tune.TuneConfig(search_alg=search.search_alg, num_samples=search.num_samples),
        run_config=tune.RunConfig(name=f"pruned-{algorithm}", storage_path=str(tmp_path / "ray"), verbose=0),
    ).fit()
    assert not results.errors
    configs = [result.config for result in results]
    per_cell = 2 * 2  # (two learning rates | two samples) × two seeds
    assert Counter((c["intermediate_task"], c["target_task"]) for c in configs) == {cell: per_cell for cell in space["cell"]}
    if algorithm == "grid":  # plan's expansion of the pruned grid is Tune's
        expected = grid_trial_configs(config, kept)
        assert sorted(sorted(c.items()) for c in expected) == sorted(
            sorted((k, v) for k, v in c.items() if k != "cell") for c in configs
        )
    else:  # random: every cell sees the same draws (paired), each with both seeds
        assert all(count % (len(space["cell"]) * 2) == 0 for count in Counter(c["learning_rate"] for c in configs).values())


# --- sweeper resume: trials created after a restore get their cell's tasks ---------------------


def test_a_resumed_grid_gives_trials_created_after_the_restore_their_cells_tasks(tmp_path, local_ray):
    """Tune saves no search space: the trials that a restored search creates must still get their
    ``intermediate_task``/``target_task`` from their ``cell`` (CI once saw Tune's ``("__fn_ph",
    hash)`` placeholders reach the trials of a resumed sweep). The first driver is killed (-9)
    while its first trial runs, before the search created any other trial."""
    config_path = tmp_path / "sweep.yaml"
    config_path.write_text(BASE + interrupted_search.SPACE, encoding="utf-8")
    storage, flag = tmp_path / "ray", tmp_path / "first-trial-started"
    driver = subprocess.Popen(
        [
            sys.executable,
            interrupted_search.__file__,
            ray.get_runtime_context().gcs_address,
            str(config_path),
            str(storage),
            str(flag),
        ],
        env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0"},  # the experiment state is saved at every step
    )
    try:
        interrupted_search.wait_for_running_trial(driver, storage / "target", flag)
    finally:
        driver.kill()
        driver.wait()
    config = load_config(config_path)
    trainable, new_tuner = interrupted_search.experiment(config, storage, flag)
    param_space = tune_search(config, target_param_space(config), "score").param_space
    ray.cloudpickle.register_pickle_by_value(interrupted_search)  # trial actors cannot import it
    try:
        results = restored_or_new_tuner(str(storage / "target"), trainable, param_space, new_tuner, resume=True).fit()
    finally:
        ray.cloudpickle.unregister_pickle_by_value(interrupted_search)
    assert not results.errors
    assert sorted(result.metrics["tasks"] for result in results) == sorted(
        f"{intermediate}|panx" for intermediate in ("none", "anli") for _ in ("1e-5", "3e-5")
    )
