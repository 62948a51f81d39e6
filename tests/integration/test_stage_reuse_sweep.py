"""End to end: a second sweep over the same stage cache trains nothing it finds there.

Three sweeps of the smoke configuration (one learning rate, FIFO: every trial trains to its end)
with a trained target (PAN-X) and a retrieval target (Tatoeba), through real Ray Tune + Ray Train
+ MLflow, share one stage cache:

1. ``first`` trains the ``anli`` encoder and every target trial, evaluates every encoder;
2. ``again`` (the same sweep, another output folder) reuses every stage: no Ray Train run of a
   target or retrieval trial, the same metric histories, scores, checkpoints and selections;
3. ``more_languages`` evaluates one more language: the target stages are reused, their zero-shot
   evaluations (a new key) run again on the cached best models, with the same scores where the
   languages overlap.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from _sweep_cli import SMOKE, TrackedSweep, run_sweep

from sweeper.cache.features import FEATURES, FEATURES_MARKER

LANGUAGES = ["de", "fi"]
BASE = ["target_tasks=[panx, tatoeba]", "param_space.learning_rate=[1.0e-4]", "scheduler.type=fifo"]


def _sweep(root: Path, name: str, data_dir: Path, languages: list[str]) -> TrackedSweep:
    """A sweep in ``root/<name>``; every sweep under ``root`` shares ``root/stage_cache``."""
    return run_sweep(SMOKE, root / name, data_dir, [*BASE, f"zero_shot.languages=[{', '.join(languages)}]"])


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, data_dir, tiny_dir) -> dict[str, TrackedSweep]:
    root = tmp_path_factory.mktemp("reuse")
    return {
        "first": _sweep(root, "first", data_dir, LANGUAGES),
        "again": _sweep(root, "again", data_dir, LANGUAGES),
        "more_languages": _sweep(root, "more_languages", data_dir, [*LANGUAGES, "sw"]),
    }


def _trials(sweep: TrackedSweep) -> dict[tuple[str, str], object]:
    """(stage, intermediate task) → the run of each target / retrieval trial."""
    runs = [run for run in sweep.children if run.data.tags["stage"] in ("target", "retrieval")]
    trials = {(run.data.tags["stage"], run.data.tags["intermediate_task"]): run for run in runs}
    assert len(trials) == len(runs) == 4, "none and anli, each with one panx trial and one tatoeba evaluation"
    return trials


def _scores(run, prefix: str) -> dict[str, float]:
    return {key: value for key, value in run.data.metrics.items() if key.startswith(prefix)}


@pytest.mark.slow
def test_the_first_sweep_trains_and_evaluates_every_stage(sweeps):
    first = sweeps["first"]
    assert first.client.get_run(first.record.parent_run_id).data.tags["intermediate.anli"] == "trained"
    for (stage, _), run in _trials(first).items():
        assert run.data.tags["asha_outcome"] == "completed"
        assert run.data.tags["evaluation"] == "evaluated"
        if stage == "target":
            assert run.data.tags["target_stage"] == "trained"


@pytest.mark.slow
def test_every_data_set_was_tokenized_once_into_the_feature_cache(sweeps):
    """The intermediate stage and both PAN-X trials (from ``none`` and from ``anli``) each found or
    left their English training set in the stage cache's ``features/``, and the zero-shot
    evaluations their evaluation splits: one set per task and split, whichever sweep asked first."""
    cache = sweeps["first"].output.parent / "stage_cache" / FEATURES
    finished = sorted(folder.name.rsplit("-", 1)[0] for folder in cache.iterdir() if (folder / FEATURES_MARKER).is_file())
    assert finished == [
        "anli-train-en-train",
        "panx-dev-de-predict",
        "panx-dev-fi-predict",
        "panx-dev-sw-predict",
        "panx-train-en-train",
    ]


@pytest.mark.slow
def test_the_same_sweep_again_reuses_every_stage_with_the_same_results(sweeps, tmp_path):
    first, again = sweeps["first"], sweeps["again"]
    assert again.client.get_run(again.record.parent_run_id).data.tags["intermediate.anli"] == "cached"
    assert sorted(run.data.tags["stage"] for run in again.children) == ["retrieval"] * 2 + ["target"] * 2, "no intermediate run"
    before, after = _trials(first), _trials(again)
    for cell, run in after.items():
        assert run.data.tags["asha_outcome"] == "completed" and run.data.tags["evaluation"] == "reused"
        assert run.data.tags["stage_key"] == before[cell].data.tags["stage_key"]
        assert _scores(run, "zero_shot/") == _scores(before[cell], "zero_shot/")
        if cell[0] == "target":
            assert run.data.tags["target_stage"] == "reused"
            assert run.data.metrics["selection/english_dev"] == before[cell].data.metrics["selection/english_dev"]
            key = "target/panx/en/dev/f1"
            replayed = [(m.step, m.value) for m in again.client.get_metric_history(run.info.run_id, key)]
            assert replayed == [(m.step, m.value) for m in first.client.get_metric_history(before[cell].info.run_id, key)]
            assert [m.step for m in again.client.get_metric_history(run.info.run_id, key)] == [2, 4, 6]
            mlflow.set_tracking_uri(again.record.tracking_uri)
            checkpoint = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run.info.run_id, artifact_path="best_checkpoint", dst_path=str(tmp_path / cell[1])
                )
            )
            assert (checkpoint / "config.json").is_file(), "the cached best model is logged as the run's checkpoint"
        predictions = [
            artifact.path for artifact in again.client.list_artifacts(run.info.run_id, f"predictions/{cell_task(cell)}")
        ]
        assert predictions, "the cached predictions are logged"
    trained = (
        [path.name for path in (again.output / "ray" / "train").iterdir()] if (again.output / "ray" / "train").exists() else []
    )
    assert not [name for name in trained if name.startswith(("target-", "retrieval-"))], "no Ray Train run replays a cached stage"
    assert not (again.output / "trials").exists(), "nothing was trained or evaluated"
    first_report = (first.output / "report.md").read_text(encoding="utf-8")
    again_report = (again.output / "report.md").read_text(encoding="utf-8")
    assert _selection_lines(again_report) == _selection_lines(first_report) and _selection_lines(first_report)


def cell_task(cell: tuple[str, str]) -> str:
    return "panx" if cell[0] == "target" else "tatoeba"


def _selection_lines(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("## ")]


@pytest.mark.slow
def test_a_new_language_evaluates_the_cached_target_models_again(sweeps):
    first, more = sweeps["first"], sweeps["more_languages"]
    before, after = _trials(first), _trials(more)
    for cell, run in after.items():
        assert run.data.tags["evaluation"] == "evaluated", "another evaluation key: evaluated, not read from the cache"
        task = cell_task(cell)
        split = "dev" if task == "panx" else "test"
        metric = "f1" if task == "panx" else "accuracy"
        for language in LANGUAGES:
            key = f"zero_shot/{task}/{language}/{split}/{metric}"
            assert run.data.metrics[key] == pytest.approx(before[cell].data.metrics[key], abs=1e-9), "the same model"
        assert f"zero_shot/{task}/sw/{split}/{metric}" in run.data.metrics
        if cell[0] == "target":
            assert run.data.tags["target_stage"] == "reused" and run.data.tags["stage_key"] == before[cell].data.tags["stage_key"]
            assert run.data.metrics["selection/english_dev"] == before[cell].data.metrics["selection/english_dev"]
