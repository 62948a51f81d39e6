"""End to end: `sweeper run search_spaces/smoke.yaml` through Ray Tune + Ray Train + MLflow, tracked
on a real `mlflow server` (sqlite backend, proxied artifact storage) that the module starts.

Asserts on what landed in MLflow (run tree, tags, metric histories, artifacts, registry) and on the
report; that the MLflow UI, in headless Chromium, shows the trial runs nested under the sweep's
parent run; and that bad input (an unreachable tracking server too) fails before anything starts,
with exit code 2 and nothing written. The sqlite store of a sweep without a tracking URI is covered
by test_retrieval_sweep.py.
"""

import csv
import json
import socket
from pathlib import Path

import pytest
from _mlflow_server import free_port, mlflow_server
from _sweep_cli import SMOKE, run_sweep, runner

from sweeper.cache.markers import ENCODER_MARKER, encoder_is_complete
from sweeper.cache.store import cached_intermediate_stages, sweep_stage_cache
from sweeper.commands.cli import app
from sweeper.config import load_config
from sweeper.errors import ConfigError, TrackingError
from sweeper.models.sources import resolve_model
from sweeper.ray_adapter.context import SweepContext
from sweeper.ray_adapter.phases import run_intermediate_phase
from sweeper.tracking.uris import check_tracking_uri

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1: (its URI, its folder with mlflow.db and artifacts/)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(root) as uri:
        yield uri, root


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, data_dir, tiny_dir, server):
    uri, _ = server
    return run_sweep(SMOKE, tmp_path_factory.mktemp("smoke") / "out", data_dir, [f"tracking.tracking_uri={uri}"])


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
        for r in children
        if r.data.tags["stage"] == "target"
    }
    assert len(cells) == 8
    for run in children:
        assert run.info.status in ("FINISHED", "KILLED")
        assert run.data.tags["asha_outcome"] in ("completed", "early_stopped")
        assert "error" not in run.data.tags, "an early stop is not a failure"


@pytest.mark.slow
def test_every_outcome_agrees_with_the_schedulers_record(smoke):
    """Issue 16: one source of truth. A trial grouped ASHA stopped (asha_state.json) is early-stopped
    in MLflow, absent from failures.json and counted early-stopped in the progress view; no other is."""
    output, _, _, _, children = smoke
    stopped = set(json.loads((output / "asha_state.json").read_text(encoding="utf-8"))["stopped"])
    targets = [run for run in children if run.data.tags["stage"] == "target"]
    for run in targets:
        expected = ("early_stopped", "KILLED") if run.data.tags["ray_trial_id"] in stopped else ("completed", "FINISHED")
        assert (run.data.tags["asha_outcome"], run.info.status) == expected
    assert json.loads((output / "failures.json").read_text(encoding="utf-8")) == []


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
    assert logged == {
        "report/report.md",
        "report/report.csv",
        "report/report.html",
        "report/report_deltas.png",
        "report/failures.json",
    }
    for target in ("panx", "tydiqa"):
        selected = next(row for row in averages_of(rows, target) if row["selected"] == "1")
        version = client.get_model_version_by_alias(f"smoke-{target}", "best")
        assert version.run_id == selected["run_id"], "the registry's best model is the selected trial's checkpoint"
        flags = [r.data.tags["selected"] for r in children if r.data.tags.get("target_task") == target]
        assert sorted(flags) == ["false"] * (len(flags) - 1) + ["true"]


@pytest.mark.slow
def test_the_sweep_is_tracked_on_the_server(smoke, server):
    uri, root = server
    output, _, record, client, children = smoke
    assert record.tracking_uri == uri
    assert not (output / "mlflow.db").exists() and not (output / "mlartifacts").exists(), "nothing tracked locally"
    stored = {path.name for path in (root / "artifacts").rglob("*") if path.is_file()}
    assert {"model.safetensors", "resolved_config.json", "report.md", "dev-sw.json"} <= stored, (
        "artifacts proxied to the server's store"
    )
    targets = [run for run in children if run.data.tags["stage"] == "target"]
    for run in targets:
        tags = run.data.tags
        assert (tags["selection_policy"], tags["selection_seeds"]) == ("english_dev", "best")
        assert tags["zero_shot_split"] == tags["target_dev_split"] == "dev", "PAN-X and TyDiQA are scored on dev"
    for run in (r for r in targets if r.data.tags["asha_outcome"] == "completed"):
        target, metrics = run.data.tags["target_task"], run.data.metrics
        languages = {"panx": ["ar", "de", "en", "fi", "sw", "zh"], "tydiqa": ["ar", "en", "fi", "sw"]}[target]
        mean = sum(metrics[f"zero_shot/{target}/{language}/dev/f1"] for language in languages) / len(languages)
        assert metrics["selection/target_dev"] == pytest.approx(mean), "target dev: the mean over the evaluated dev sets"
    parent = client.get_run(record.parent_run_id)
    assert parent.data.params["selection.policy"] == "english_dev" and parent.data.params["tracking.tracking_uri"] == uri


@pytest.mark.slow
def test_the_selected_checkpoint_of_every_target_opens_from_the_registry(smoke, server, tmp_path, xlmr_tokenizer, monkeypatch):
    import mlflow.artifacts
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoModelForTokenClassification

    uri, _ = server
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)  # `models:/` URIs resolve against the registry URI
    loaders = {"panx": AutoModelForTokenClassification, "tydiqa": AutoModelForQuestionAnswering}
    for target, loader in loaders.items():
        folder = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/smoke-{target}@best", tracking_uri=uri, dst_path=str(tmp_path / target)
        )
        model = loader.from_pretrained(folder).eval()
        inputs = xlmr_tokenizer(["Angela Merkel besuchte Paris ."], return_tensors="pt")
        with torch.no_grad():
            output = model(**inputs)
        if target == "panx":
            assert output.logits.shape == (1, inputs["input_ids"].shape[1], 7), "the PAN-X head: 7 BIO tags"
        else:
            assert output.start_logits.shape == output.end_logits.shape == inputs["input_ids"].shape


@pytest.mark.slow
def test_report_and_compare_find_the_sweep_by_name(smoke, server):
    uri, _ = server
    output = smoke.output
    by_name = runner.invoke(app, ["report", "--sweep", "smoke", "--tracking-uri", uri], terminal_width=200)
    assert by_name.exit_code == 0, by_name.output
    assert by_name.output == runner.invoke(app, ["report", str(output)], terminal_width=200).output
    compared = runner.invoke(app, ["compare", "--sweep", "smoke", "--sweep", "smoke", "--tracking-uri", uri, "--json"])
    assert compared.exit_code == 0, compared.output
    assert '"zero_shot_diff": 0.0' in compared.output


@pytest.mark.slow
@pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_mlflow_ui_shows_the_trials_nested_under_the_parent(smoke, server, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    uri, _ = server
    record, children = smoke.record, smoke.children
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1600,1200",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.get(f"{uri}/#/experiments/{record.experiment_id}/runs")
        wait = WebDriverWait(driver, 120)

        def row(run_id):
            rows = driver.find_elements(By.CSS_SELECTOR, f"[role=row][row-id='{run_id}']")
            return rows[0] if rows else None

        def name_cell(run_id):
            return row(run_id).find_element(By.CSS_SELECTOR, "[role=gridcell][col-id='attributes.`Run Name`']")

        wait.until(lambda _: row(record.parent_run_id) is not None and name_cell(record.parent_run_id).text.endswith("smoke"))
        child_ids = [run.info.run_id for run in children]
        assert all(row(run_id) is None for run_id in child_ids), "trial runs are collapsed under their parent"
        name_cell(record.parent_run_id).find_element(By.CSS_SELECTOR, "button").click()  # the parent's expander
        wait.until(lambda _: all(row(run_id) is not None for run_id in child_ids))

        def indent(run_id):  # the nesting depth, drawn as the width of the cell's leading spacer
            return int(
                name_cell(run_id)
                .find_element(By.CSS_SELECTOR, "div[style*='width']")
                .value_of_css_property("width")
                .removesuffix("px")
            )

        for run in children:
            cell = name_cell(run.info.run_id)
            assert cell.text.splitlines()[-1] == run.info.run_name
            assert cell.find_element(By.TAG_NAME, "a").get_attribute("href").endswith(f"/runs/{run.info.run_id}")
            assert indent(run.info.run_id) > indent(record.parent_run_id), f"{run.info.run_name} is indented under the parent"
        shot = tmp_path / "mlflow_ui_nested_runs.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_an_unreachable_tracking_server_fails_fast():
    refused = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingError, match=f"MLflow tracking server {refused} cannot be reached"):
        check_tracking_uri(refused)
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(TrackingError, match="waited at most 0.5 s"):
            check_tracking_uri(uri, timeout_s=0.5)
    with pytest.raises(ConfigError, match="folder nowhere does not exist"):
        check_tracking_uri("sqlite:///nowhere/mlflow.db")  # a relative path
    check_tracking_uri(f"sqlite:///{Path.cwd()}/mlflow.db")  # an existing folder: fine


def test_unreachable_tracking_server_fails_before_launch(tmp_path, data_dir):
    uri = f"http://127.0.0.1:{free_port()}"
    _fails_before_launch(tmp_path, data_dir, [f"tracking.tracking_uri={uri}"], f"MLflow tracking server {uri} cannot be reached")


@pytest.mark.slow
def test_encoders_live_in_the_shared_stage_cache_and_a_second_sweep_reuses_them(smoke, tmp_path, data_dir):
    output, printed, record, client, _ = smoke
    parent = client.get_run(record.parent_run_id)
    cache = Path(parent.data.tags["stage_cache"])
    encoder = Path(parent.data.tags["intermediate_dir.anli"])
    assert encoder.parent == cache / "intermediate" and encoder_is_complete(encoder)
    marker = json.loads((encoder / ENCODER_MARKER).read_text(encoding="utf-8"))
    assert marker["parent_run_id"] == record.parent_run_id and marker["key"] == encoder.name.split("-", 1)[1]
    assert (output / "stages" / "intermediate" / encoder.name).resolve() == encoder.resolve(), "the output links to it"
    assert parent.data.metrics["disk/sweep_stages_bytes"] > 0 and parent.data.metrics["disk/trials_bytes"] > 0
    assert "disk/mlflow_artifacts_bytes" not in parent.data.metrics, "tracked on the server: no local artifact store"
    assert "Disk: stage cache" in " ".join(printed.split())
    leftovers = [path for path in (output / "trials" / "target").glob("*/*") if path.name in ("trainer", "best_model")]
    assert not leftovers, "finished trials delete their checkpoints, ASHA-stopped ones are cleaned up"

    # a second sweep with another output folder: the planner and the intermediate phase find the encoder
    overrides = [f"storage.stage_cache_dir={cache}"]
    planned = runner.invoke(app, ["plan", str(SMOKE), *overrides, "--data-dir", str(data_dir), "--output", str(tmp_path / "b")])
    assert "1. Intermediate stages: 1 (0 to train, 1 cached)" in " ".join(planned.output.split())
    config = load_config(SMOKE, overrides)
    stages = cached_intermediate_stages(config, resolve_model(config.model), data_dir)
    assert [stage.path for stage in stages] == [encoder]
    model = resolve_model(config.model)
    second = SweepContext(
        config,
        data_dir,
        model,
        tmp_path / "b",
        record.tracking_uri,
        record.experiment_id,
        "another-parent-run",
        tuple(stages),
        str(tmp_path / "b" / "ray"),
        sweep_stage_cache(config, model, data_dir),
    )
    assert run_intermediate_phase(second) == {"anli": "cached"}, "nothing to train: no Tune experiment is started"


@pytest.mark.slow
def test_progress_view_ends_each_stage_with_counts_matching_mlflow(smoke):
    _, printed, _, _, children = smoke
    finals = [line for line in printed.splitlines() if line.endswith(" elapsed, finished")]
    assert [line.split(":")[0] for line in finals] == ["intermediate", "target"]
    assert finals[0].startswith("intermediate: 0 pending, 0 running, 1 done, 0 early-stopped, 0 failed | best dev: anli ")
    counts = {
        status: int(number)
        for number, status in (part.split(" ", 1) for part in finals[1].split(" | ")[0].removeprefix("target: ").split(", "))
    }
    outcomes = [run.data.tags["asha_outcome"] for run in children if run.data.tags["stage"] == "target"]
    assert counts == {
        "pending": 0,
        "running": 0,
        "done": outcomes.count("completed"),
        "early-stopped": outcomes.count("early_stopped"),
        "failed": 0,
    }
    assert "best dev: panx " in finals[1] and " · tydiqa " in finals[1]
    assert "Trial status" not in printed, "Tune's own trial table is replaced by the progress view"


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
