"""End to end: a retrieval target (Tatoeba) through Ray Tune + Ray Train + MLflow.

The smoke sweep with ``target_tasks=[tatoeba]``: the anli intermediate stage is trained once, then
each encoder (``none`` = the pretrained model, ``anli``) is evaluated directly, one tracked run
per intermediate task, with no target training and no learning-rate grid. Predictions logged to
MLflow must re-score through ``sweeper score`` to the metrics that were logged.
"""

import json
from pathlib import Path

import mlflow
import pyarrow.fs
import pytest
from _sweep_cli import SMOKE, run_sweep, runner

from sweeper.commands.cli import app
from sweeper.storage import storage_bytes, storage_child

LANGUAGES = ("ar", "de", "fi", "sw", "zh")  # smoke's zero-shot languages that Tatoeba has


@pytest.fixture(scope="module")
def retrieval_sweep(tmp_path_factory, data_dir, tiny_dir, s3_bucket):
    """The sweep keeps its Ray storage in a real S3-compatible server (moto on 127.0.0.1)."""
    overrides = [
        "target_tasks=[tatoeba]",
        f"zero_shot.languages=[{', '.join(LANGUAGES)}]",
        f"storage.storage_path={storage_child(s3_bucket, 'sweeps')}",
    ]
    sweep = run_sweep(SMOKE, tmp_path_factory.mktemp("retrieval") / "out", data_dir, overrides)
    return sweep.output, sweep.record, sweep.client, sweep.children


@pytest.mark.slow
def test_ray_storage_is_written_to_s3_and_measured(retrieval_sweep, s3_bucket):
    output, record, client, _ = retrieval_sweep
    parent = client.get_run(record.parent_run_id)
    location = parent.data.tags["ray_storage"]
    assert location.startswith("s3://sweeper-test/sweeps/smoke-") and not (output / "ray").exists()
    filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
    experiments = {info.base_name for info in filesystem.get_file_info(pyarrow.fs.FileSelector(path))}
    assert {"intermediate", "retrieval", "train"} <= experiments, "Tune experiments and Train runs"
    assert 0 < parent.data.metrics["disk/ray_storage_bytes"] <= storage_bytes(location), "measured at the end of the sweep"


@pytest.mark.slow
def test_each_encoder_is_evaluated_once_without_target_training(retrieval_sweep):
    _, _, _, children = retrieval_sweep
    assert sorted(run.data.tags["stage"] for run in children) == ["intermediate", "retrieval", "retrieval"]
    retrieval = [run for run in children if run.data.tags["stage"] == "retrieval"]
    assert {run.data.tags["intermediate_task"] for run in retrieval} == {"none", "anli"}
    for run in retrieval:
        assert run.info.status == "FINISHED"
        assert run.data.tags["target_task"] == "tatoeba" and run.data.tags["selection_policy"] == "none"
        for language in LANGUAGES:
            assert 0.0 <= run.data.metrics[f"zero_shot/tatoeba/{language}/test/accuracy"] <= 100.0


@pytest.mark.slow
def test_logged_predictions_rescore_to_the_logged_metrics(retrieval_sweep, data_dir, tmp_path):
    _, record, _, children = retrieval_sweep
    run = next(
        run for run in children if run.data.tags.get("intermediate_task") == "anli" and run.data.tags["stage"] == "retrieval"
    )
    mlflow.set_tracking_uri(record.tracking_uri)
    downloaded = Path(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="predictions", dst_path=str(tmp_path))
    )
    assert {path.name for path in (downloaded / "tatoeba").iterdir()} == {f"test-{language}.tsv" for language in LANGUAGES}
    scored = runner.invoke(
        app,
        [
            "score",
            "--task",
            "tatoeba",
            "--predictions",
            str(downloaded),
            "--data-dir",
            str(data_dir),
            "--languages",
            ",".join(LANGUAGES),
            "--max-examples-per-language",
            "16",
            "--json",
        ],
    )
    assert scored.exit_code == 0, scored.output
    languages = json.loads(scored.output)["languages"]
    for language in LANGUAGES:
        logged = run.data.metrics[f"zero_shot/tatoeba/{language}/test/accuracy"]
        assert languages[language]["metrics"]["accuracy"] == pytest.approx(logged, abs=1e-6)


@pytest.mark.slow
def test_report_shows_every_encoder_and_no_selection(retrieval_sweep):
    output, _, _, _ = retrieval_sweep
    markdown = (output / "report.md").read_text(encoding="utf-8")
    assert "## tatoeba: no intermediate task selected" in markdown
    table = markdown.split("## tatoeba", 1)[1]
    assert "| none |" in table and "| anli |" in table
