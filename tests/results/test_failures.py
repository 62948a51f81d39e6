"""The failed-trial summary: read from real MLflow runs, in the report, in failures.json; and which
targets have nothing but failures."""

import json

from _records import record
from _tracked import track_sweep

from sweeper.commands.report import report_from_output, write_report
from sweeper.results.failures import FailedTrial, failures_markdown, targets_without_results
from sweeper.tracking.records import load_failed_trials
from sweeper.tracking.runs import Tracker

PANX = {"de": {"f1": 60.0}}


def test_targets_with_only_failed_trials():
    outcomes = [("panx", "completed"), ("panx", "failed"), ("xnli", "failed"), ("xnli", "failed"), ("tydiqa", "early_stopped")]
    assert targets_without_results(outcomes) == ["xnli"], "tydiqa has a trial that did not fail"
    assert targets_without_results([]) == []


def test_the_section_lists_each_failure_and_says_none_when_there_is_none():
    failure = FailedTrial("r1", "target", "anli", "panx", 3e-5, 2, 2, "RuntimeError: worker | died\nbadly")
    section = failures_markdown([failure])
    assert "| target | anli | panx | 3e-05 | 2 | 2 | RuntimeError: worker \\| died badly | r1 |" in section
    assert failures_markdown([]) == "## Failed trials\n\nNone.\n"


def test_failed_trials_are_read_from_mlflow_and_reported_beside_the_others(tmp_path):
    output = tmp_path / "out"
    sweep = track_sweep(
        output,
        "demo",
        [
            record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX),
            record("anli", "panx", dev=None, outcome="failed", lr=3e-5),
        ],
        {"panx": "f1"},
    )
    tracker = Tracker(sweep.tracking_uri)
    (failed_run,) = tracker.client.search_runs([sweep.experiment_id], filter_string="tags.asha_outcome = 'failed'")
    tracker.set_tags(failed_run.info.run_id, {"error": "ActorDiedError: out of memory", "attempts": "3"})

    (failure,) = load_failed_trials(tracker, sweep.experiment_id, sweep.parent_run_id)
    assert failure == FailedTrial(failed_run.info.run_id, "target", "anli", "panx", 3e-5, 1, 3, "ActorDiedError: out of memory")
    markdown = write_report(tracker, sweep, output, "xtreme")
    assert "## panx: selected intermediate task `none`" in markdown, "the failed trial does not stop the report"
    assert "ActorDiedError: out of memory" in markdown.split("## Failed trials")[1]
    assert json.loads((output / "failures.json").read_text()) == [failure.to_json()]
    assert "ActorDiedError: out of memory" in report_from_output(output)
