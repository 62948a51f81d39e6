"""The progress callback driven by a real (tiny) Ray Tune run of a trivial function trainable, and
the restore of such a run whose saved callback state a full disk left unreadable."""

import errno
from pathlib import Path

from ray import tune

from sweeper.config import METRIC, TIME_ATTR
from sweeper.ray_adapter.phases import restored_or_new_tuner
from sweeper.ray_adapter.progress_callback import ProgressCallback
from sweeper.ray_adapter.scheduling import GroupedASHAScheduler
from sweeper.ray_adapter.tune_state import DAMAGED_SUFFIX, set_aside_damaged_state

LEARNING_RATES = [2e-4, 1e-4, 5e-4]  # run one at a time, in this order


def _trainable(config: dict) -> None:
    """No training: 2e-4 reports 21, 22, 23; 1e-4 reports 11 first (ASHA stops it); 5e-4 raises."""
    if config["learning_rate"] == 5e-4:
        raise RuntimeError("diverged")
    for evaluation in (1, 2, 3):
        tune.report({TIME_ATTR: evaluation, METRIC: config["learning_rate"] * 1e5 + evaluation})


def _tuner(tmp_path, callback: ProgressCallback) -> tune.Tuner:
    scheduler = GroupedASHAScheduler(("target_task",), TIME_ATTR, METRIC, "max", grace_period=1, max_t=3, reduction_factor=2)
    return tune.Tuner(
        tune.with_resources(_trainable, {"cpu": 0.5}),
        param_space={"intermediate_task": "none", "target_task": "panx", "learning_rate": tune.grid_search(LEARNING_RATES)},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=1),
        run_config=tune.RunConfig(name="target", storage_path=str(tmp_path), verbose=0, callbacks=[callback]),
    )


def test_callback_shows_outcomes_bests_and_replaces_tunes_table(tmp_path, local_ray, capsys):
    callback = ProgressCallback("target", max_t=3)
    results = _tuner(tmp_path, callback).fit()
    assert len(results.errors) == 1
    printed = capsys.readouterr()
    lines = [line for line in printed.err.splitlines() if line.startswith("target:")]
    assert lines[0].startswith("target: 3 pending, 0 running, 0 done, 0 early-stopped, 0 failed | 0s elapsed")
    ended = [line for line in lines if line.startswith("target: trial ")]
    assert len(ended) == 3
    assert "(none → panx, lr 0.0002) done after 3 evaluation(s), best dev 23.00" in ended[0]
    assert "(none → panx, lr 0.0001) early-stopped after 1 evaluation(s), best dev 11.00" in ended[1]
    assert "(none → panx, lr 0.0005) failed after 0 evaluation(s)" in ended[2]
    final = lines[-1]
    assert final.startswith(
        "target: 0 pending, 0 running, 1 done, 1 early-stopped, 1 failed | best dev: panx 23.00 (none, lr 0.0002) |"
    )
    assert final.endswith("s elapsed, finished")
    assert "Trial status" not in printed.out + printed.err, "verbose=0: Tune's own table stays silent"

    # the callback's state is saved with the experiment: a restored run shows the same counts
    restored = tune.Tuner.restore(str(tmp_path / "target"), tune.with_resources(_trainable, {"cpu": 0.5}))
    restored.fit()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("target:")]
    assert lines[-1].startswith("target: 0 pending, 0 running, 1 done, 1 early-stopped, 1 failed | best dev: panx 23.00")


def _fails_until_freed(config: dict) -> None:
    """Raises a full disk's error until ``config["freed"]`` exists, then reports one evaluation."""
    if not Path(config["freed"]).exists():
        raise OSError(errno.ENOSPC, "No space left on device")
    tune.report({TIME_ATTR: 1, METRIC: config["learning_rate"] * 1e5})


def test_a_restore_sets_aside_the_state_a_full_disk_left_unreadable_and_reruns_the_failed_trials(tmp_path, local_ray, caplog):
    """Tune 2.60, failing to read its callbacks' state half-way through a restore, starts again
    with its trials forgotten and no trial to run; with the unreadable file set aside the restore
    goes on: the failed trials run again, under their ids."""
    freed, experiment = tmp_path / "freed", tmp_path / "target"
    trainable = tune.with_resources(_fails_until_freed, {"cpu": 0.5})
    param_space = {"freed": str(freed), "learning_rate": tune.grid_search(LEARNING_RATES[:2])}

    def new_tuner() -> tune.Tuner:
        return tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(max_concurrent_trials=1),
            run_config=tune.RunConfig(
                name="target", storage_path=str(tmp_path), verbose=0, callbacks=[ProgressCallback("target", max_t=1)]
            ),
        )

    failed = new_tuner().fit()
    assert len(failed.errors) == 2
    saved = sorted(path.name for path in experiment.iterdir() if path.suffix in (".json", ".pkl"))
    newest_callback_state = max(name for name in saved if name.startswith("callback-states-"))
    assert any(name.startswith("basic-variant-state-") for name in saved), "the search's state (a pickle) is kept"
    (experiment / newest_callback_state).write_bytes(b"")  # what an upload to a full disk leaves
    freed.touch()

    with caplog.at_level("WARNING", logger="sweeper.ray_adapter.tune_state"):
        assert set_aside_damaged_state(str(experiment)) == [newest_callback_state], "only the unreadable file"
        assert set(saved) - {newest_callback_state} <= {path.name for path in experiment.iterdir()}, "intact files stay"
        results = restored_or_new_tuner(str(experiment), trainable, param_space, new_tuner, resume=True).fit()
    assert not results.errors and len(results) == 2, "the failed trials ran again"
    assert sorted(result.metrics["trial_id"] for result in results) == sorted(result.metrics["trial_id"] for result in failed), (
        "the same trials, restored"
    )
    assert sorted(result.metrics[METRIC] for result in results) == [10.0, 20.0]
    assert (experiment / f"{newest_callback_state}{DAMAGED_SUFFIX}").read_bytes() == b""
    assert f"{newest_callback_state} in {experiment} cannot be read back (0 bytes" in caplog.text
