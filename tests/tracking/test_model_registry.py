"""`driver.write_report` on a real sqlite MLflow store: report files logged to the parent run,
`selected` tags, and the selected checkpoints in the Model Registry (alias `best`, no duplicates)."""

from dataclasses import replace

import pytest
from _records import record
from _tracked import add_trials, track_sweep
from mlflow.tracking import MlflowClient

from sweeper.commands.report import write_report
from sweeper.tracking.runs import Tracker, register_selection
from sweeper.tracking.schema import MODEL_ALIAS

PANX = {"de": {"f1": 60.0}, "zh": {"f1": 40.0}}
TATOEBA = {"de": {"accuracy": 70.0}}


def sweep_records():
    """panx: anli selected (dev 82 > 80); tatoeba (retrieval, no selection); one early-stopped trial."""
    return [
        record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX),
        record("anli", "panx", dev=82.0, score=58.0, zero_shot=PANX),
        record("anli", "panx", dev=None, outcome="early_stopped", lr=3e-5),
        replace(record("none", "tatoeba", dev=None, score=70.0, zero_shot=TATOEBA, lr=None, seed=None), selection_policy="none"),
    ]


@pytest.fixture
def sweep(tmp_path):
    output = tmp_path / "out"
    return output, track_sweep(output, "demo", sweep_records(), {"panx": "f1", "tatoeba": "accuracy"})


def selected_run_id(client, sweep_record, intermediate, target):
    runs = client.search_runs(
        [sweep_record.experiment_id],
        filter_string=f"tags.intermediate_task = '{intermediate}' and tags.target_task = '{target}' and tags.asha_outcome = 'completed'",
    )
    assert len(runs) == 1
    return runs[0].info.run_id


def test_write_report_logs_the_files_and_registers_the_selected_checkpoint(sweep):
    output, sweep_record = sweep
    tracker = Tracker(sweep_record.tracking_uri)
    markdown = write_report(tracker, sweep_record, output, "xtreme")
    assert "## panx: selected intermediate task `anli`" in markdown
    for name in ("report.md", "report.csv", "report.html", "report_deltas.png"):
        assert (output / name).stat().st_size > 0
    client = MlflowClient(sweep_record.tracking_uri)
    logged = {a.path for a in client.list_artifacts(sweep_record.parent_run_id, "report")}
    assert logged == {
        "report/report.md",
        "report/report.csv",
        "report/report.html",
        "report/report_deltas.png",
        "report/failures.json",
    }

    anli = selected_run_id(client, sweep_record, "anli", "panx")
    version = client.get_model_version_by_alias("demo-panx", MODEL_ALIAS)
    assert version.run_id == anli
    assert version.source == f"runs:/{anli}/best_checkpoint"
    assert version.tags["intermediate_task"] == "anli"
    names = {model.name for model in client.search_registered_models()}
    assert names == {"demo-panx"}, "tatoeba is a retrieval target: no checkpoint, nothing selected"

    children = client.search_runs(
        [sweep_record.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{sweep_record.parent_run_id}'"
    )
    selected = {run.info.run_id: run.data.tags["selected"] for run in children}
    assert selected.pop(anli) == "true"
    assert set(selected.values()) == {"false"} and len(selected) == 3


def test_registration_adds_a_version_only_when_the_selection_changes(sweep):
    output, sweep_record = sweep
    tracker = Tracker(sweep_record.tracking_uri)
    client = tracker.client
    write_report(tracker, sweep_record, output, "xtreme")
    write_report(tracker, sweep_record, output, "xtreme")
    assert [v.version for v in client.search_model_versions("name = 'demo-panx'")] == [1], "same selection: no new version"

    (mnli,) = add_trials(sweep_record, [record("mnli", "panx", dev=90.0, score=55.0, zero_shot=PANX)], {"panx": "f1"})
    write_report(tracker, sweep_record, output, "xtreme")
    moved = client.get_model_version_by_alias("demo-panx", MODEL_ALIAS)
    assert (moved.version, moved.run_id) == (2, mnli)
    assert client.get_run(mnli).data.tags["selected"] == "true"
    assert client.get_run(selected_run_id(client, sweep_record, "anli", "panx")).data.tags["selected"] == "false"


def test_a_selected_trial_without_checkpoint_is_a_clear_error(sweep):
    _, sweep_record = sweep
    tracker = Tracker(sweep_record.tracking_uri)
    bare = tracker.start_child(sweep_record.experiment_id, sweep_record.parent_run_id, "bare", {"stage": "target"}, {})
    with pytest.raises(RuntimeError, match=f"selected run {bare} \\(panx\\) has no `best_checkpoint` artifact"):
        register_selection(tracker, "demo", {"panx": bare}, [bare])
