"""`sweeper resume` without Ray: what it needs from the output folder, a finished sweep's report,
and the MLflow helpers a restored trial uses to continue its own run."""

import json
from pathlib import Path

import pytest
from _records import record
from _tracked import track_sweep
from typer.testing import CliRunner

from sweeper.commands.cli import app
from sweeper.commands.run import LAUNCH_FILE, resume_sweep
from sweeper.config import load_config
from sweeper.errors import ConfigError
from sweeper.tracking.runs import Tracker

PANX = {"de": {"f1": 60.0}}


@pytest.fixture
def sweep(tmp_path):
    output = tmp_path / "out"
    return output, track_sweep(output, "demo", [record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX)], {"panx": "f1"})


def test_an_output_folder_without_a_sweep_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="sweep.json not found"):
        resume_sweep(tmp_path)
    result = CliRunner().invoke(app, ["resume", str(tmp_path)])
    assert result.exit_code == 2 and "sweep.json not found" in result.output


def test_a_sweep_without_its_saved_config_is_a_clear_error(sweep):
    output, _ = sweep
    with pytest.raises(ConfigError, match=f"{LAUNCH_FILE} not found"):
        resume_sweep(output)


def test_a_finished_sweep_only_prints_its_report(sweep):
    output, record_ = sweep
    config = load_config(Path(__file__).parents[2] / "search_spaces" / "smoke.yaml")
    (output / LAUNCH_FILE).write_text(json.dumps({"config": config.model_dump(mode="json"), "data_dir": None}))
    tracker = Tracker(record_.tracking_uri)
    tracker.finish(record_.parent_run_id)
    outcome = resume_sweep(output)  # no Ray, no data: nothing is run
    assert "## panx: selected intermediate task `none`" in outcome.report_markdown
    assert outcome.record == record_
    assert tracker.client.get_run(record_.parent_run_id).info.status == "FINISHED"


def test_a_trial_finds_and_reopens_its_own_run(sweep):
    _, record_ = sweep
    tracker = Tracker(record_.tracking_uri)
    run_id = tracker.start_child(record_.experiment_id, record_.parent_run_id, "t", {"ray_trial_id": "abc_00001"}, {})
    tracker.start_child(record_.experiment_id, record_.parent_run_id, "u", {"ray_trial_id": "abc_00002"}, {})
    tracker.finish(run_id, "FAILED")
    assert tracker.find_child(record_.experiment_id, record_.parent_run_id, "abc_00001").info.run_id == run_id
    assert tracker.find_child(record_.experiment_id, record_.parent_run_id, "abc_00003") is None
    tracker.reopen(run_id)
    assert tracker.client.get_run(run_id).info.status == "RUNNING"
