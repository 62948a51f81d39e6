"""Selection (policy english_dev) and the report, on hand-built trial records with known numbers."""

import csv
import io

import pytest
from _records import record
from typer.testing import CliRunner

from sweeper.commands.cli import app
from sweeper.results.report import BEST_PER_TARGET, build_report
from sweeper.results.report_text import to_csv, to_markdown
from sweeper.results.selection import TrialRecord, best_per_cell, select_best_intermediate


def test_best_per_cell_uses_english_dev_not_zero_shot():
    records = [
        record("mnli", "panx", dev=80.0, score=50.0, lr=1e-5),
        record("mnli", "panx", dev=78.0, score=70.0, lr=3e-5),  # better zero-shot, worse dev: not chosen
    ]
    assert best_per_cell(records)[("mnli", "panx")].record.learning_rate == 1e-5


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
    best = best_per_cell(records)[("mnli", "panx")].record
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


def test_overview_table_has_baseline_first_deltas_best_and_selection_marked():
    records = [
        record("none", "panx", dev=80.0, score=50.0),
        record("mnli", "panx", dev=82.0, score=48.0),
        record("squad_v1", "panx", dev=81.0, score=58.5),
        record("none", "tydiqa", dev=60.0, score=40.0),
        record("squad_v1", "tydiqa", dev=70.0, score=47.25),
    ]
    markdown = to_markdown(build_report(records, {"panx": "f1", "tydiqa": "f1"}), "t")
    table = markdown.split("## Zero-shot score per intermediate and target task", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows == [
        "| intermediate | panx | tydiqa |",
        "| none | 50.0 | 40.0 |",
        "| mnli | 48.0 (-2.0) ✓ | – |",
        "| squad_v1 | **58.5 (+8.5)** | **47.2 (+7.2)** ✓ |",
    ], "selected on dev (mnli for panx), best zero-shot in bold; a cell without trials is –"


def test_report_without_baseline_has_no_delta():
    report = build_report([record("mnli", "panx", dev=82.0, score=58.0)], {"panx": "f1"})
    assert report.rows["panx"][0].delta_vs_none is None
    assert "| – |" in to_markdown(report, "t")


# --- the benchmark aggregate -------------------------------------------------------------------

PANX = {"de": {"f1": 60.0}, "zh": {"f1": 40.0}}
TYDIQA = {"sw": {"exact_match": 30.0, "f1": 50.0}}


def aggregate_records():
    """panx: anli selected (dev 82 > 80); tydiqa: none selected (dev 70 > 60), though anli scores better zero-shot."""
    return [
        record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX),
        record("anli", "panx", dev=82.0, score=58.0, zero_shot=PANX),
        record("none", "tydiqa", dev=70.0, score=40.0, zero_shot=TYDIQA),
        record("anli", "tydiqa", dev=60.0, score=45.0, zero_shot=TYDIQA),
        record("anli", "tydiqa", dev=None, outcome="early_stopped", lr=3e-5),
    ]


def test_aggregate_of_the_best_per_target_selection_and_each_intermediate():
    aggregate = build_report(aggregate_records(), {"panx": "f1", "tydiqa": "f1"}).aggregate
    assert aggregate.benchmark == "xtreme"
    assert aggregate.targets == ("panx", "tydiqa") and aggregate.outside == ()
    rows = {row.label: row for row in aggregate.rows}
    assert [row.label for row in aggregate.rows] == [BEST_PER_TARGET, "none", "anli"]
    best = rows[BEST_PER_TARGET]
    assert best.task_scores == {"panx": 58.0, "tydiqa": 40.0}, "selected on English dev, not on zero-shot"
    assert best.intermediates == {"panx": "anli", "tydiqa": "none"}
    assert best.scores["all_task"] == 49.0
    assert best.scores["groups"]["structured_prediction"]["score"] == 58.0
    assert best.scores["groups"]["question_answering"]["score"] == 40.0
    assert best.scores["groups"]["classification"]["score"] is None
    assert best.scores["mean_of_group_means"] == 49.0
    assert not best.scores["complete"]
    assert best.scores["missing"] == ["pawsx", "xnli", "udpos", "xquad", "mlqa", "bucc2018", "tatoeba"]
    assert rows["none"].scores["all_task"] == 45.0
    assert rows["anli"].scores["all_task"] == 51.5
    assert aggregate.languages == {"panx": ("de", "zh"), "tydiqa": ("sw",)}


def test_aggregate_markdown_is_labelled_partial():
    markdown = to_markdown(build_report(aggregate_records(), {"panx": "f1", "tydiqa": "f1"}), "t")
    section = markdown[markdown.index("## XTREME aggregate") :]
    assert section.startswith("## XTREME aggregate (partial: 2 of 9 tasks)")
    assert "**Partial**: the sweep has no target pawsx, xnli, udpos, xquad, mlqa, bucc2018, tatoeba" in section
    assert "not comparable with published XTREME scores" in section
    assert "| line | panx | tydiqa | tasks | all_task | classification | structured | QA | retrieval | category mean |" in section
    assert "| best per target | 58.0 (`anli`) | 40.0 (`none`) | 2/9 | 49.0 | – | 58.0 | 40.0 | – | 49.0 |" in section
    assert "| none | 50.0 | 40.0 | 2/9 | 45.0 | – | 50.0 | 40.0 | – | 45.0 |" in section
    assert "| anli | 58.0 | 45.0 | 2/9 | 51.5 | – | 58.0 | 45.0 | – | 51.5 |" in section
    assert "Languages averaged: panx 2 of XTREME's 40 (de zh); tydiqa 1 of XTREME's 9 (sw)." in section


def test_a_line_without_some_target_counts_only_its_tasks():
    records = [
        record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX),
        record("none", "tydiqa", dev=70.0, score=40.0, zero_shot=TYDIQA),
        record("anli", "panx", dev=70.0, score=56.0, zero_shot=PANX),
        record("anli", "tydiqa", dev=None, outcome="failed"),
    ]
    rows = {row.label: row for row in build_report(records, {"panx": "f1", "tydiqa": "f1"}).aggregate.rows}
    assert rows["anli"].task_scores == {"panx": 56.0}
    assert rows["anli"].scores["all_task"] == 56.0
    assert "| anli | 56.0 | – | 1/9 | 56.0 |" in to_markdown(build_report(records, {"panx": "f1", "tydiqa": "f1"}), "t")


def test_xtreme_r_leaves_out_tasks_it_dropped():
    records = [
        record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX),
        record("none", "bucc2018", dev=0.0, score=70.0, zero_shot={"de": {"f1": 70.0}}),
        record("none", "tydiqa", dev=70.0, score=40.0, zero_shot=TYDIQA),
    ]
    metrics = {"panx": "f1", "bucc2018": "f1", "tydiqa": "f1"}
    xtreme = build_report(records, metrics).aggregate
    assert xtreme.rows[0].scores["all_task"] == pytest.approx((50.0 + 70.0 + 40.0) / 3)
    assert xtreme.rows[0].scores["groups"]["retrieval"]["score"] == 70.0
    xtreme_r = build_report(records, metrics, benchmark="xtreme_r").aggregate
    assert xtreme_r.outside == ("bucc2018",), "XTREME-R drops BUCC"
    assert xtreme_r.rows[0].task_scores == {"panx": 50.0, "tydiqa": 40.0}
    assert xtreme_r.rows[0].scores["all_task"] == 45.0
    assert len(xtreme_r.rows[0].scores["missing"]) == 8
    markdown = to_markdown(build_report(records, metrics, benchmark="xtreme_r"), "t")
    assert "## XTREME-R aggregate (partial: 2 of 10 tasks)" in markdown
    assert "Not XTREME-R tasks, left out of the aggregate: bucc2018." in markdown
    assert "Languages averaged: panx 2 (de zh); tydiqa 1 (sw)." in markdown


def test_complete_xtreme_aggregate():
    scores = {
        "pawsx": 88.0,
        "xnli": 80.0,
        "udpos": 75.0,
        "panx": 65.0,
        "xquad": 70.0,
        "mlqa": 62.0,
        "tydiqa": 68.0,
        "bucc2018": 80.0,
        "tatoeba": 78.0,
    }
    records = [record("none", task, dev=50.0, score=value, zero_shot={"en": {"f1": value}}) for task, value in scores.items()]
    aggregate = build_report(records, dict.fromkeys(scores, "f1")).aggregate
    best = aggregate.rows[0].scores
    assert best["complete"] and best["missing"] == []
    assert best["all_task"] == pytest.approx(sum(scores.values()) / 9)
    means = [(88 + 80) / 2, (75 + 65) / 2, (70 + 62 + 68) / 3, (80 + 78) / 2]
    assert best["mean_of_group_means"] == pytest.approx(sum(means) / 4)
    markdown = to_markdown(build_report(records, dict.fromkeys(scores, "f1")), "t")
    assert "## XTREME aggregate (complete)" in markdown and "**Partial**" not in markdown


def test_no_benchmark_target_is_said_so():
    markdown = to_markdown(build_report([record("none", "anli", dev=70.0)], {"anli": "accuracy"}), "t")
    assert "No XTREME task has a zero-shot score in this sweep (the sweep's targets: anli)." in markdown


def test_unknown_benchmark_is_rejected():
    with pytest.raises(ValueError, match="xtreme_r"):
        build_report(aggregate_records(), {"panx": "f1", "tydiqa": "f1"}, benchmark="xtreme-r")


def test_report_command_rejects_an_unknown_benchmark_before_reading_anything(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--benchmark", "xtreme-r"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "unknown benchmark 'xtreme-r'. Did you mean 'xtreme_r'?" in " ".join(result.stderr.split())


def test_a_target_without_selection_is_missing_from_the_best_line_only():
    # Tatoeba has no dev set (selection policy none): every intermediate task is reported, none selected.
    def tatoeba(intermediate, score):
        return TrialRecord(
            run_id=f"{intermediate}-tatoeba",
            intermediate_task=intermediate,
            target_task="tatoeba",
            learning_rate=None,
            seed=None,
            outcome="completed",
            zero_shot={"de": {"accuracy": score}},
            zero_shot_score=score,
            selection_policy="none",
        )

    records = [record("none", "panx", dev=80.0, score=50.0, zero_shot=PANX), tatoeba("none", 30.0), tatoeba("anli", 40.0)]
    aggregate = build_report(records, {"panx": "f1", "tatoeba": "accuracy"}).aggregate
    rows = {row.label: row for row in aggregate.rows}
    assert aggregate.unselected == ("tatoeba",)
    assert rows[BEST_PER_TARGET].task_scores == {"panx": 50.0}
    assert rows["none"].task_scores == {"panx": 50.0, "tatoeba": 30.0}
    assert rows["anli"].task_scores == {"tatoeba": 40.0}
    markdown = to_markdown(build_report(records, {"panx": "f1", "tatoeba": "accuracy"}), "t")
    assert "No intermediate task is selected for tatoeba (no dev set)" in markdown
