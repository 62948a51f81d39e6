"""End to end: `sweeper run search_spaces/smoke.yaml` through Ray Tune + Ray Train + MLflow.

Asserts on what landed in MLflow (run tree, tags, metric histories, artifacts) and on the report;
and that bad input fails before anything starts, with exit code 2 and nothing written.
"""

import csv

import pytest
from _sweep_cli import SMOKE, run_sweep, runner

from sweeper.cli import app


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, data_dir, tiny_dir):
    return run_sweep(SMOKE, tmp_path_factory.mktemp("smoke") / "out", data_dir)


@pytest.mark.slow
def test_one_parent_run_with_nested_trial_runs(smoke):
    _, _, record, client, children = smoke
    parent = client.get_run(record.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["stage"] == "sweep"
    assert parent.data.params["param_space.learning_rate"] == "[0.0001, 0.0003]"
    assert parent.data.tags["intermediate.anli"] == "trained"
    stages = sorted(run.data.tags["stage"] for run in children)
    assert stages == ["intermediate"] + ["target"] * 8, "anli trained once; 2 × 2 × 2 target trials"
    cells = {
        (r.data.tags["intermediate_task"], r.data.tags["target_task"], float(r.data.tags["learning_rate"]))
        for r in children if r.data.tags["stage"] == "target"
    }
    assert len(cells) == 8
    for run in children:
        assert run.info.status in ("FINISHED", "KILLED")
        assert run.data.tags["asha_outcome"] in ("completed", "early_stopped")
        assert "error" not in run.data.tags, "an early stop is not a failure"


@pytest.mark.slow
def test_completed_target_runs_hold_metric_histories_and_artifacts(smoke):
    _, _, _, client, children = smoke
    completed = [r for r in children if r.data.tags["stage"] == "target" and r.data.tags["asha_outcome"] == "completed"]
    assert completed, "ASHA lets at least the best trial of each target finish"
    for run in completed:
        target = run.data.tags["target_task"]
        metric = run.data.tags["selection_metric"]
        history = client.get_metric_history(run.info.run_id, f"target/{target}/en/dev/{metric}")
        assert [m.step for m in history] == [2, 4, 6], "one English-dev evaluation every eval_steps=2"
        assert run.data.metrics["selection/english_dev"] == max(m.value for m in history)
        languages = {"panx": {"ar", "de", "en", "fi", "sw", "zh"}, "tydiqa": {"ar", "en", "fi", "sw"}}[target]
        for language in languages:
            assert 0.0 <= run.data.metrics[f"zero_shot/{target}/{language}/dev/f1"] <= 100.0
        assert 0.0 <= run.data.metrics[f"zero_shot/{target}/avg/dev/xtreme_score"] <= 100.0
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "best_checkpoint")}
        assert "best_checkpoint/model.safetensors" in artifacts
        suffix = "tsv" if target == "panx" else "json"
        predictions = {a.path for a in client.list_artifacts(run.info.run_id, f"predictions/{target}")}
        assert {f"predictions/{target}/dev-{lang}.{suffix}" for lang in languages} == predictions
        assert run.data.params["training.learning_rate"] == run.data.tags["learning_rate"]


@pytest.mark.slow
def test_report_matches_what_mlflow_tracked(smoke):
    output, printed, record, client, children = smoke
    rows = list(csv.DictReader((output / "report.csv").open(encoding="utf-8")))
    for target in ("panx", "tydiqa"):
        averages = averages_of(rows, target)
        assert {row["intermediate_task"] for row in averages} == {"none", "anli"}
        assert sum(int(row["selected"]) for row in averages) == 1
        for row in averages:
            run = client.get_run(row["run_id"])
            assert float(row["english_dev"]) == pytest.approx(run.data.metrics["selection/english_dev"], abs=1e-4)
            assert run.data.tags["asha_outcome"] == "completed"
        baseline = next(row for row in averages if row["intermediate_task"] == "none")
        assert float(baseline["delta_vs_none"]) == 0.0
    markdown = (output / "report.md").read_text(encoding="utf-8")
    assert "## panx: selected intermediate task" in markdown and "## tydiqa: selected intermediate task" in markdown
    assert "panx: selected intermediate task" in printed
    assert "## XTREME aggregate (partial: 2 of 9 tasks)" in markdown
    reprinted = runner.invoke(app, ["report", str(output)])
    assert reprinted.exit_code == 0
    assert "tydiqa: selected intermediate task" in reprinted.output
    logged = {a.path for a in client.list_artifacts(record.parent_run_id, "report")}
    assert logged == {"report/report.md", "report/report.csv", "report/report.html", "report/report_deltas.png", "report/failures.json"}
    for target in ("panx", "tydiqa"):
        selected = next(row for row in averages_of(rows, target) if row["selected"] == "1")
        version = client.get_model_version_by_alias(f"smoke-{target}", "best")
        assert version.run_id == selected["run_id"], "the registry's best model is the selected trial's checkpoint"
        flags = [r.data.tags["selected"] for r in children if r.data.tags.get("target_task") == target]
        assert sorted(flags) == ["false"] * (len(flags) - 1) + ["true"]


def averages_of(rows: list[dict], target: str) -> list[dict]:
    return [row for row in rows if row["target_task"] == target and row["language"] == "avg"]


def _fails_before_launch(tmp_path, data_dir, overrides, expected):
    output = tmp_path / "out"
    result = runner.invoke(app, ["run", str(SMOKE), *overrides, "--data-dir", str(data_dir), "--output", str(output)])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert not output.exists(), "nothing written: no output folder, no MLflow store"


def test_unknown_task_fails_before_launch(tmp_path, data_dir):
    _fails_before_launch(tmp_path, data_dir, ["target_tasks=[panx, tydiqaa]"], "unknown task 'tydiqaa'. Did you mean 'tydiqa'?")


def test_missing_data_file_fails_before_launch(tmp_path, data_dir):
    _fails_before_launch(tmp_path, data_dir, ["zero_shot.languages=[en, th]"], "panx/dev-th.tsv")


def test_invalid_learning_rate_fails_before_launch(tmp_path, data_dir):
    _fails_before_launch(tmp_path, data_dir, ["param_space.learning_rate=[1e-4, -1]"], "param_space.learning_rate.1")


def test_missing_data_dir_fails_before_launch(tmp_path):
    _fails_before_launch(tmp_path, tmp_path / "nowhere", [], "does not exist")
