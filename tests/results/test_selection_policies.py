"""Selection policies target_dev and mean-over-seeds, on hand-built trial records with known numbers;
which languages a target is scored in on dev, and the boundary checks of `selection`."""

import csv
import io

import pytest

from sweeper.config import TARGET_DEV, SweepConfig
from sweeper.errors import ConfigError, MissingDataError
from sweeper.registry import get_task
from sweeper.results.report import build_report
from sweeper.results.report_text import to_csv, to_markdown
from sweeper.results.selection import CellResult, TrialRecord, best_per_cell, mean_std, select_best_intermediate
from sweeper.sweep.grid import target_dev_languages
from sweeper.sweep.validation import validate_sweep


def record(intermediate, seed, dev, score, lr=1e-5, target="xnli", policy="english_dev", target_dev=None, de=None, batch="32"):
    return TrialRecord(
        run_id=f"{intermediate}-{lr}-{batch}-{seed}",
        intermediate_task=intermediate,
        target_task=target,
        learning_rate=lr,
        seed=seed,
        outcome="completed",
        english_dev=dev,
        zero_shot={"de": {"accuracy": de if de is not None else score}},
        zero_shot_score=score,
        selection_policy=policy,
        target_dev=target_dev,
        settings=(("training.learning_rate", str(lr)), ("training.per_device_train_batch_size", batch)),
        zero_shot_split="test",
        target_dev_split="dev" if target_dev is not None else None,
    )


def test_mean_std_is_the_sample_standard_deviation():
    assert mean_std([70.0, 74.0, 72.0]) == (72.0, 2.0)
    assert mean_std([70.0, None]) == (70.0, None), "one value: no spread"
    assert mean_std([None]) == (None, None)


def test_mean_over_seeds_ranks_configurations_not_single_trials():
    # lr 1e-5: seeds 80, 70 → mean 75 (best single trial 80); lr 3e-5: 77, 76 → mean 76.5.
    records = [
        record("mnli", 1, 80.0, 50.0, lr=1e-5),
        record("mnli", 2, 70.0, 40.0, lr=1e-5),
        record("mnli", 1, 77.0, 60.0, lr=3e-5),
        record("mnli", 2, 76.0, 62.0, lr=3e-5),
    ]
    best = best_per_cell(records)[("mnli", "xnli")]
    assert (best.record.learning_rate, best.record.seed, best.selection_score) == (1e-5, 1, 80.0)
    mean = best_per_cell(records, "mean")[("mnli", "xnli")]
    assert mean.record.learning_rate == 3e-5
    assert [r.seed for r in mean.seeds] == [1, 2]
    assert mean.selection == pytest.approx((76.5, 0.7071068))
    assert mean.zero_shot_score == pytest.approx((61.0, 1.4142136))
    assert mean.record.seed == 1, "the best seed represents the configuration (its checkpoint is registered)"


def test_other_settings_make_other_configurations():
    records = [record("mnli", 1, 80.0, 50.0, batch="16"), record("mnli", 2, 60.0, 50.0, batch="32")]
    mean = best_per_cell(records, "mean")[("mnli", "xnli")]
    assert len(mean.seeds) == 1 and mean.record.seed == 1, "batch 16 and 32 are not seeds of one configuration"


def test_mean_selection_per_target_and_ties_reported():
    # none: (70, 74) → 72; mnli: (72, 72) → 72: a tie, which goes to none; anli: (73, 69) → 71.
    records = [
        record("none", 1, 70.0, 40.0),
        record("none", 2, 74.0, 42.0),
        record("mnli", 1, 72.0, 50.0),
        record("mnli", 2, 72.0, 52.0),
        record("anli", 1, 73.0, 60.0),
        record("anli", 2, 69.0, 60.0),
    ]
    assert select_best_intermediate(records)["xnli"].record.intermediate_task == "none", "best single: 74"
    selection = select_best_intermediate(records, "mean")["xnli"]
    assert selection.record.intermediate_task == "none"
    assert selection.tied_with == ("mnli",)


def test_ties_of_means_compare_rounded_scores():
    # 0.1 + 0.2 != 0.3 in floating point: the means must still tie.
    records = [
        record("mnli", 1, 0.1, 1.0),
        record("mnli", 2, 0.2, 1.0),
        record("none", 1, 0.15, 1.0),
        record("none", 2, 0.15, 1.0),
    ]
    selection = select_best_intermediate(records, "mean")["xnli"]
    assert selection.record.intermediate_task == "none" and selection.tied_with == ("mnli",)


def test_ties_within_a_cell_are_counted_and_reported():
    records = [record("mnli", 1, 70.0, 50.0, lr=3e-5), record("mnli", 1, 70.0, 55.0, lr=1e-5)]
    cell = best_per_cell(records)[("mnli", "xnli")]
    assert cell.record.learning_rate == 1e-5 and cell.tied == 1
    markdown = to_markdown(build_report(records, {"xnli": "accuracy"}), "t")
    assert "Tie: `mnli`: 1 other configuration(s) of the cell had the same score" in markdown


def test_target_dev_policy_selects_on_target_dev_not_english_dev():
    records = [
        record("none", 1, dev=90.0, score=40.0, policy=TARGET_DEV, target_dev=60.0),
        record("mnli", 1, dev=70.0, score=45.0, policy=TARGET_DEV, target_dev=65.0),
    ]
    selection = select_best_intermediate(records)["xnli"]
    assert selection.record.intermediate_task == "mnli" and selection.policy == TARGET_DEV
    markdown = to_markdown(build_report(records, {"xnli": "accuracy"}), "t")
    assert "Selection: best mean dev score over the target languages that have a dev set." in markdown
    assert "Target dev split: `dev`; the zero-shot split `test` is held out." in markdown
    assert "| intermediate | selected | en dev | target dev | de | avg |" in markdown
    assert "| mnli | ✓ | 70.0 | 65.0 | 45.0 | 45.0 | +5.0 | 1e-05 | 1 |" in markdown


def test_target_dev_on_the_evaluation_set_itself_is_said_plainly():
    panx = TrialRecord(
        "r",
        "none",
        "panx",
        1e-5,
        1,
        "completed",
        english_dev=80.0,
        zero_shot={"de": {"f1": 50.0}},
        zero_shot_score=50.0,
        selection_policy=TARGET_DEV,
        target_dev=50.0,
        zero_shot_split="dev",
        target_dev_split="dev",
    )
    markdown = to_markdown(build_report([panx], {"panx": "f1"}), "t")
    assert "The dev sets of panx are its evaluation set itself" in markdown
    assert "not held out from selection" in markdown


def test_report_shows_mean_and_std_over_seeds():
    records = [
        record("none", 1, 70.0, 40.0, de=40.0),
        record("none", 2, 74.0, 44.0, de=44.0),
        record("mnli", 1, 80.0, 50.0, de=50.0),
        record("mnli", 2, 78.0, 54.0, de=54.0),
        record("mnli", 3, 79.0, 52.0, de=52.0),
    ]
    report = build_report(records, {"xnli": "accuracy"}, seeds="mean")
    rows = {row.record.intermediate_task: row for row in report.rows["xnli"]}
    assert rows["mnli"].delta_vs_none == pytest.approx(52.0 - 42.0)
    assert rows["mnli"].per_language == {"de": 52.0}
    markdown = to_markdown(report, "t")
    assert "Seeds (`selection.seeds: mean`)" in markdown
    assert "| mnli | ✓ | 79.0 ± 1.0 | 52.0 | 52.0 ± 2.0 | +10.0 | 1e-05 | 1, 2, 3 |" in markdown
    assert "| none |  | 72.0 ± 2.8 | 42.0 | 42.0 ± 2.8 | +0.0 | 1e-05 | 1, 2 |" in markdown
    averages = {
        line["intermediate_task"]: line for line in csv.DictReader(io.StringIO(to_csv(report))) if line["language"] == "avg"
    }
    assert float(averages["mnli"]["zero_shot_avg"]) == 52.0 and float(averages["mnli"]["zero_shot_avg_std"]) == 2.0
    assert averages["mnli"]["seeds"] == "1 2 3" and averages["mnli"]["seed_aggregation"] == "mean"
    aggregate = {row.label: row for row in report.aggregate.rows}
    assert aggregate["best per target"].task_scores["xnli"] == 52.0, "the aggregate uses the mean over seeds"


def test_unknown_seed_aggregation_is_rejected():
    with pytest.raises(ValueError, match="unknown seed aggregation 'median'"):
        best_per_cell([], "median")
    assert isinstance(best_per_cell([record("none", 1, 1.0, 1.0)], "mean")[("none", "xnli")], CellResult)


# --- which languages are scored on dev; checks at the boundary --------------------------------


def _config(**fields):
    return SweepConfig.model_validate(
        {
            "name": "t",
            "model": "tiny-xlmr",
            "intermediate_tasks": ["none"],
            "param_space": {"learning_rate": [1.0e-4]},
            **fields,
        }
    )


def test_target_dev_languages(data_dir):
    zero_shot = {"languages": ["ar", "en", "kk", "th"]}
    english = _config(target_tasks=["udpos"], zero_shot=zero_shot)
    target_dev = _config(target_tasks=["udpos"], zero_shot=zero_shot, selection={"policy": "target_dev"})
    udpos = get_task("udpos")
    assert target_dev_languages(english, udpos, data_dir) == [], "no extra dev evaluation under english_dev"
    assert target_dev_languages(target_dev, udpos, data_dir) == ["ar", "en"], "UD has no kk, th dev sets"
    assert target_dev_languages(target_dev, udpos, None) == ["ar", "en", "kk", "th"], "Hub data: every language"
    panx = _config(target_tasks=["panx"], zero_shot={"languages": ["de", "zh"]})
    assert target_dev_languages(panx, get_task("panx"), data_dir) == ["de", "zh"], "dev is the zero-shot split: free"
    assert target_dev_languages(panx, get_task("xquad"), data_dir) == []


def test_target_dev_policy_needs_a_target_language_dev_set(data_dir):
    with pytest.raises(ConfigError, match="target\\(s\\) xquad have no dev set in the target languages"):
        validate_sweep(_config(target_tasks=["panx", "xquad"], selection={"policy": "target_dev"}), data_dir)
    with pytest.raises(MissingDataError, match="no 'dev' file in any of the languages \\['kk', 'th'\\]"):
        validate_sweep(
            _config(target_tasks=["udpos"], zero_shot={"languages": ["kk", "th"]}, selection={"policy": "target_dev"}), data_dir
        )
    validate_sweep(
        _config(target_tasks=["udpos"], zero_shot={"languages": ["ar", "kk"]}, selection={"policy": "target_dev"}), data_dir
    )


def test_selection_config_is_validated():
    with pytest.raises(ValueError, match="selection.seeds"):
        _config(target_tasks=["panx"], selection={"seeds": "median"})
    with pytest.raises(ValueError, match="selection.polcy"):
        _config(target_tasks=["panx"], selection={"polcy": "target_dev"})


# --- published comparison rows ------------------------------------------------------------------


def _panx_tydiqa():
    return [
        TrialRecord(
            "p", "none", "panx", 1e-5, 1, "completed", english_dev=80.0, zero_shot={"de": {"f1": 60.0}}, zero_shot_score=60.0
        ),
        TrialRecord(
            "t",
            "none",
            "tydiqa",
            1e-5,
            1,
            "completed",
            english_dev=70.0,
            zero_shot={"sw": {"exact_match": 40.0, "f1": 50.0}},
            zero_shot_score=45.0,
        ),
    ]


@pytest.mark.parametrize("model", ["xlm-roberta-large", "FacebookAI/xlm-roberta-large"])
def test_xlmr_large_sweeps_get_the_published_rows(model):
    markdown = to_markdown(build_report(_panx_tydiqa(), {"panx": "f1", "tydiqa": "f1"}, model=model), "t")
    # task scores of the sweep's targets only: PAN-X F1; TyDiQA (EM + F1) / 2; all_task their mean.
    assert "| published: XLM-R Large | 65.4 | 55.0 | 2/9 | 60.2 |" in markdown
    assert "| published: X-STILTs (Phang et al. 2020, best intermediate task per target) | 64.0 | 67.8 | 2/9 | 65.9 |" in markdown
    assert "RemBERT (Chung et al. 2021, Table 16), which reports the XTREME leaderboard" in markdown
    assert (
        "Published (test split, all languages): X-STILTs (Phang et al. 2020, best intermediate task per target) 64.0 (RemBERT (Chung et al. 2021), Table 16); XLM-R Large 65.4 (RemBERT (Chung et al. 2021), Table 16)."
        in markdown
    )


def test_published_xlmr_large_row_covers_the_nine_xtreme_tasks_each_with_its_table():
    from sweeper.metrics.xtreme import TASK_GROUPS
    from sweeper.results.published import load_published

    (xlmr,) = [row for row in load_published().rows if row.label == "XLM-R Large"]
    nine = {task for tasks in TASK_GROUPS["xtreme"].values() for task in tasks}
    assert set(xlmr.metrics) == nine
    assert xlmr.task_scores()["bucc2018"] == 66.0 and xlmr.task_scores()["tatoeba"] == 57.3
    assert xlmr.sources["tatoeba"] == "XTREME (Hu et al. 2020), Table 2"


def test_other_models_and_benchmarks_get_no_published_rows():
    records, metrics = _panx_tydiqa(), {"panx": "f1", "tydiqa": "f1"}
    assert "published:" not in to_markdown(build_report(records, metrics, model="tiny-xlmr"), "t")
    assert "published:" not in to_markdown(build_report(records, metrics, benchmark="xtreme_r", model="xlm-roberta-large"), "t")
