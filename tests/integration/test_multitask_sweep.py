"""End to end: a multi-task intermediate stage (ANLI + continued MLM) through Ray Tune + Ray Train
+ MLflow, its encoder starting a target trial.

The smoke sweep with ``intermediate_tasks=[mix]`` (no ``none``, one learning rate, one target):
one intermediate trial trains both heads on one encoder and logs each member's English-dev
metrics; the TyDiQA trial starts from that encoder. The only test that runs the Ray worker's
multi-task path and its MLflow metric layout.
"""

import pytest
from _sweep_cli import SMOKE, run_sweep

MIX = (
    "multitask={mix: {tasks: [anli, mlm], sampling: uniform, mlm: {train_files: [xtreme/tatoeba/tatoeba.deu-eng.deu], "
    "dev_files: [xtreme/tatoeba/tatoeba.fra-eng.fra]}}}"
)


@pytest.mark.slow
def test_a_multitask_stage_trains_once_and_starts_its_target_trial(tmp_path, data_dir, tiny_dir):
    overrides = [
        "intermediate_tasks=[mix]",
        MIX,
        "target_tasks=[tydiqa]",
        "param_space.learning_rate=[3.0e-4]",
        "zero_shot.languages=[en, sw]",
    ]
    sweep = run_sweep(SMOKE, tmp_path / "out", data_dir, overrides)
    by_stage = {run.data.tags["stage"]: run for run in sweep.children}
    assert sorted(run.data.tags["stage"] for run in sweep.children) == ["intermediate", "target"]
    intermediate, target = by_stage["intermediate"], by_stage["target"]
    assert intermediate.info.status == "FINISHED" and intermediate.data.tags["intermediate_task"] == "mix"
    assert intermediate.data.tags["multitask_members"] == "anli,mlm"
    assert intermediate.data.tags["multitask_sampling"] == "uniform"
    metrics = intermediate.data.metrics
    for key in ("intermediate/anli/en/dev/accuracy", "intermediate/mlm/en/dev/accuracy", "intermediate/mix/en/dev/mean_score"):
        assert 0.0 <= metrics[key] <= 100.0, key
    probabilities = {name: float(intermediate.data.params[f"multitask.probability.{name}"]) for name in ("anli", "mlm")}
    assert probabilities == {"anli": 0.5, "mlm": 0.5}, "uniform sampling"
    assert metrics["intermediate/mix/en/dev/best_mean_score"] >= metrics["intermediate/mix/en/dev/mean_score"]
    (encoder,) = (sweep.output / "stages" / "intermediate").iterdir()
    assert encoder.name == f"mix-{intermediate.data.tags['stage_key']}"
    assert target.info.status == "FINISHED" and target.data.tags["intermediate_task"] == "mix"
    assert 0.0 <= target.data.metrics["zero_shot/tydiqa/sw/dev/f1"] <= 100.0
