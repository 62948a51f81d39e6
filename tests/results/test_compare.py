"""`sweeper compare`: the pure comparison on hand-built records, and the command on two output
folders with real MLflow runs."""

import json

import pytest
from _records import record
from _tracked import track_sweep
from typer.testing import CliRunner

from sweeper.commands.cli import app
from sweeper.results.compare import compare_reports
from sweeper.results.report import build_report

METRICS = {"panx": "f1", "tydiqa": "f1"}
PANX = {"de": {"f1": 60.0}}
TYDIQA = {"sw": {"f1": 50.0, "exact_match": 30.0}}


def sweep_a():
    """panx: anli selected (dev 82, zero-shot 58); tydiqa: none selected (dev 70, zero-shot 40)."""
    return [
        record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX),
        record("anli", "panx", dev=82.0, score=58.0, zero_shot=PANX),
        record("none", "tydiqa", dev=70.0, score=40.0, zero_shot=TYDIQA),
        record("anli", "tydiqa", dev=60.0, score=45.0, zero_shot=TYDIQA),
    ]


def sweep_b():
    """panx: none selected (dev 85, zero-shot 52); anli 54; mnli only here; no tydiqa target."""
    return [
        record("none", "panx", dev=85.0, score=52.0, zero_shot=PANX),
        record("anli", "panx", dev=81.0, score=54.0, zero_shot=PANX),
        record("mnli", "panx", dev=79.0, score=49.0, zero_shot=PANX),
    ]


def test_comparison_of_selections_and_cells():
    comparison = compare_reports(build_report(sweep_a(), METRICS), build_report(sweep_b(), METRICS), "a", "b")
    panx, tydiqa = comparison.targets
    assert (panx.a.intermediate_task, panx.a.dev, panx.a.zero_shot_avg) == ("anli", 82.0, 58.0)
    assert (panx.b.intermediate_task, panx.b.dev, panx.b.zero_shot_avg) == ("none", 85.0, 52.0)
    assert (panx.dev_diff, panx.zero_shot_diff) == (3.0, -6.0), "B − A"
    assert tydiqa.a.intermediate_task == "none" and tydiqa.b is None
    assert tydiqa.dev_diff is None and tydiqa.zero_shot_diff is None
    cells = {(cell.intermediate_task, cell.target_task): (cell.a, cell.b, cell.diff) for cell in comparison.cells}
    assert [(c.target_task, c.intermediate_task) for c in comparison.cells] == [
        ("panx", "none"),
        ("panx", "anli"),
        ("panx", "mnli"),
        ("tydiqa", "none"),
        ("tydiqa", "anli"),
    ]
    assert cells[("none", "panx")] == (50.0, 52.0, 2.0)
    assert cells[("anli", "panx")] == (58.0, 54.0, -4.0)
    assert cells[("mnli", "panx")] == (None, 49.0, None)
    assert cells[("anli", "tydiqa")] == (45.0, None, None)


@pytest.fixture
def outputs(tmp_path):
    track_sweep(tmp_path / "a", "sweep-a", sweep_a(), METRICS)
    track_sweep(tmp_path / "b", "sweep-b", sweep_b(), METRICS)
    return tmp_path / "a", tmp_path / "b"


def test_compare_command_json(outputs):
    result = CliRunner().invoke(app, ["compare", *map(str, outputs), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["sweeps"] == {"a": "sweep-a", "b": "sweep-b"}
    panx = data["targets"][0]
    assert panx["target_task"] == "panx"
    assert panx["a"] == {"intermediate_task": "anli", "dev": 82.0, "zero_shot_avg": 58.0}
    assert (panx["dev_diff"], panx["zero_shot_diff"]) == (3.0, -6.0)
    assert data["targets"][1] == {
        "target_task": "tydiqa",
        "a": {"intermediate_task": "none", "dev": 70.0, "zero_shot_avg": 40.0},
        "b": None,
        "dev_diff": None,
        "zero_shot_diff": None,
    }
    assert {"intermediate_task": "anli", "target_task": "panx", "a": 58.0, "b": 54.0, "diff": -4.0} in data["cells"]


def test_compare_command_tables(outputs):
    result = CliRunner().invoke(app, ["compare", *map(str, outputs)], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "panx anli 82.0 58.0 none 85.0 52.0 +3.0 -6.0" in lines
    assert "tydiqa none 70.0 40.0 – – – – –" in lines
    assert "panx anli 58.0 54.0 -4.0" in lines


def test_compare_names_a_folder_that_is_no_sweep(outputs, tmp_path):
    result = CliRunner().invoke(app, ["compare", str(outputs[0]), str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "sweep.json not found" in result.output


# --- sweeps found by name in MLflow -----------------------------------------------------------


@pytest.fixture(scope="module")
def one_store(tmp_path_factory):
    """Sweeps a and b (twice: the later run of b wins) in one sqlite store; its tracking URI."""
    output = tmp_path_factory.mktemp("store")
    track_sweep(output, "sweep-a", sweep_a(), METRICS)
    track_sweep(output, "sweep-b", sweep_a(), METRICS)
    return track_sweep(output, "sweep-b", sweep_b(), METRICS).tracking_uri


def test_compare_two_sweep_names(one_store, outputs):
    by_name = CliRunner().invoke(
        app, ["compare", "--sweep", "sweep-a", "--sweep", "sweep-b", "--tracking-uri", one_store, "--json"]
    )
    assert by_name.exit_code == 0, by_name.output
    by_folder = CliRunner().invoke(app, ["compare", *map(str, outputs), "--json"])
    assert json.loads(by_name.output) == json.loads(by_folder.output), "the latest run of sweep-b is the one compared"


def test_report_of_a_sweep_name(one_store):
    result = CliRunner().invoke(app, ["report", "--sweep", "sweep-a"], env={"MLFLOW_TRACKING_URI": one_store})
    assert result.exit_code == 0, result.output
    assert "sweeper report: sweep-a" in result.output and "panx: selected intermediate task anli" in result.output


def test_unknown_sweep_name_lists_the_sweeps_there(one_store):
    result = CliRunner().invoke(app, ["report", "--sweep", "sweep-c", "--tracking-uri", one_store])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "no sweep named 'sweep-c'" in message and "Sweeps there: sweep-a, sweep-b." in message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["report"], "give an output folder or --sweep NAME"),
        (["compare", "--sweep", "a"], "give two output folders, or --sweep NAME_A --sweep NAME_B"),
        (["compare", "somewhere", "--sweep", "a"], "give two output folders"),
        (["report", "--sweep", "a"], "--sweep needs the MLflow tracking URI"),
    ],
)
def test_sweeps_must_be_given_as_folders_or_names(arguments, expected):
    result = CliRunner().invoke(app, arguments, env={"MLFLOW_TRACKING_URI": None})
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
