"""Selection (policy english_dev) and the report, on hand-built trial records with known numbers."""

import csv
import io

from sweeper.report import build_report, to_csv, to_markdown
from sweeper.selection import TrialRecord, best_per_cell, select_best_intermediate


def record(intermediate, target, dev, score=None, lr=1e-5, seed=1, outcome="completed", zero_shot=None, run_id=None):
    return TrialRecord(
        run_id=run_id or f"{intermediate}-{target}-{lr}-{seed}",
        intermediate_task=intermediate,
        target_task=target,
        learning_rate=lr,
        seed=seed,
        outcome=outcome,
        english_dev=dev if outcome == "completed" else None,
        zero_shot=zero_shot or {},
        zero_shot_score=score,
    )


def test_best_per_cell_uses_english_dev_not_zero_shot():
    records = [
        record("mnli", "panx", dev=80.0, score=50.0, lr=1e-5),
        record("mnli", "panx", dev=78.0, score=70.0, lr=3e-5),  # better zero-shot, worse dev: not chosen
    ]
    assert best_per_cell(records)[("mnli", "panx")].learning_rate == 1e-5


def test_early_stopped_and_failed_trials_are_never_selected():
    records = [
        record("mnli", "panx", dev=None, outcome="early_stopped"),
        record("squad_v1", "panx", dev=None, outcome="failed"),
        record("none", "panx", dev=60.0, score=40.0),
    ]
    assert select_best_intermediate(records)["panx"].record.intermediate_task == "none"


def test_selection_is_per_target():
    records = [
        record("none", "panx", dev=60.0),
        record("mnli", "panx", dev=65.0),
        record("none", "tydiqa", dev=50.0),
        record("mnli", "tydiqa", dev=45.0),
    ]
    selections = select_best_intermediate(records)
    assert selections["panx"].record.intermediate_task == "mnli"
    assert selections["tydiqa"].record.intermediate_task == "none"


def test_ties_go_to_the_baseline_and_are_reported():
    records = [record("anli", "panx", dev=70.0), record("none", "panx", dev=70.0), record("mnli", "panx", dev=70.0)]
    selection = select_best_intermediate(records)["panx"]
    assert selection.record.intermediate_task == "none"
    assert selection.tied_with == ("anli", "mnli")


def test_ties_within_a_cell_go_to_the_lower_learning_rate_then_seed():
    records = [
        record("mnli", "panx", dev=70.0, lr=3e-5, seed=1),
        record("mnli", "panx", dev=70.0, lr=1e-5, seed=2),
        record("mnli", "panx", dev=70.0, lr=1e-5, seed=1),
    ]
    best = best_per_cell(records)[("mnli", "panx")]
    assert (best.learning_rate, best.seed) == (1e-5, 1)


def test_report_deltas_languages_and_selection():
    zero = {"de": {"f1": 60.0}, "zh": {"f1": 40.0}}
    better = {"de": {"f1": 70.0}, "zh": {"f1": 46.0}}
    records = [
        record("none", "panx", dev=80.0, score=50.0, zero_shot=zero),
        record("mnli", "panx", dev=82.0, score=58.0, zero_shot=better),
        record("mnli", "panx", dev=None, outcome="early_stopped", lr=3e-5),
    ]
    report = build_report(records, {"panx": "f1"})
    rows = {row.record.intermediate_task: row for row in report.rows["panx"]}
    assert [row.record.intermediate_task for row in report.rows["panx"]] == ["none", "mnli"], "baseline first"
    assert rows["mnli"].delta_vs_none == 8.0
    assert rows["none"].delta_vs_none == 0.0
    assert rows["mnli"].selected and not rows["none"].selected
    assert rows["mnli"].per_language == {"de": 70.0, "zh": 46.0}
    assert report.outcomes == {"completed": 2, "early_stopped": 1}

    markdown = to_markdown(report, "t")
    assert "## panx: selected intermediate task `mnli`" in markdown
    assert "| mnli | ✓ | 82.0 | 70.0 | 46.0 | 58.0 | +8.0 | 1e-05 | 1 |" in markdown

    lines = list(csv.DictReader(io.StringIO(to_csv(report))))
    averages = {line["intermediate_task"]: line for line in lines if line["language"] == "avg"}
    assert float(averages["mnli"]["delta_vs_none"]) == 8.0
    assert averages["mnli"]["selected"] == "1"
    assert {line["language"] for line in lines} == {"de", "zh", "avg"}


def test_report_without_baseline_has_no_delta():
    report = build_report([record("mnli", "panx", dev=82.0, score=58.0)], {"panx": "f1"})
    assert report.rows["panx"][0].delta_vs_none is None
    assert "| – |" in to_markdown(report, "t")
