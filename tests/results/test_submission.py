"""XTREME leaderboard submission: the zero-shot stage predicts unlabelled leaderboard inputs
(PAN-X test as XTREME writes it), and the pure planner maps the selected trials' prediction
folders to ``<task>/test-<lang>.<suffix>``, naming every task and language it cannot fill."""

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.metrics.xtreme import XTREME_LANGUAGES
from sweeper.prediction_files import trial_leaderboard_file
from sweeper.registry import get_task
from sweeper.results.submission import (
    LEADERBOARD_TASKS,
    MANIFEST_FILE,
    MISSING_FILE,
    Gap,
    plan_submission,
    write_submission,
)
from sweeper.task_types import get_task_type
from sweeper.training.inputs import StageInputs
from sweeper.training.zero_shot import evaluate_zero_shot

SETTINGS = TrainingConfig(max_seq_length=64, per_device_eval_batch_size=8)


def link(target: Path, link_path: Path) -> None:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(target)


@pytest.fixture
def panx_data(data_dir, tmp_path) -> Path:
    """The real PAN-X dev files of de and zh, and de test-de.tsv as XTREME writes it (tokens only)."""
    root = tmp_path / "data" / "xtreme" / "panx"
    for language in ("de", "zh"):
        link(data_dir / "xtreme" / "panx" / f"dev-{language}.tsv", root / f"dev-{language}.tsv")
    (root / "test-de.tsv").write_text("Angela\nMerkel\nspricht\n\nIn\nBerlin\n", encoding="utf-8")
    return tmp_path / "data"


def test_zero_shot_stage_predicts_the_unlabelled_leaderboard_split(tiny_dir, panx_data, tmp_path):
    spec = get_task("panx")
    task_type = get_task_type(spec.task_type)
    model = task_type.auto_model_class().from_pretrained(str(tiny_dir), **task_type.model_kwargs(spec))
    inputs = StageInputs(str(tiny_dir), None, spec, SETTINGS, panx_data, tmp_path / "trial")
    result = evaluate_zero_shot(
        model,
        AutoTokenizer.from_pretrained(tiny_dir),
        inputs,
        ZeroShotConfig(languages=["de", "zh"], max_examples_per_language=4),
    )
    assert set(result.per_language) == {"de", "zh"}, "dev (labelled) is what is scored"
    assert sorted(path.name for path in result.predictions_dir.iterdir()) == ["dev-de.tsv", "dev-zh.tsv", "leaderboard"]
    # de's unlabelled test file is predicted (one label per token, a blank line between sentences); zh has no test input
    leaderboard = trial_leaderboard_file(spec, result.predictions_dir, "de")
    assert leaderboard == result.predictions_dir / "leaderboard" / "test-de.tsv"
    predicted = task_type.read_predictions(leaderboard)
    assert [len(sentence) for sentence in predicted] == [3, 2]
    assert {label for sentence in predicted for label in sentence} <= set(spec.labels)
    assert not trial_leaderboard_file(spec, result.predictions_dir, "zh").exists()


def write_predictions(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"{name}\n", encoding="utf-8")
    return folder


def test_plan_maps_each_selected_trial_to_the_leaderboard_layout_and_names_the_gaps(tmp_path):
    data = tmp_path / "data" / "xtreme" / "panx"
    data.mkdir(parents=True)
    (data / "test-de.tsv").write_text("x\n", encoding="utf-8")  # fr's test input is absent
    trials = tmp_path / "trials"
    predictions = {
        "panx": write_predictions(trials / "a" / "panx", ["dev-de.tsv", "dev-fr.tsv"]),
        "tydiqa": write_predictions(trials / "b" / "tydiqa", ["dev-sw.json", "dev-ar.json"]),  # leaderboard test = GoldP dev
        "xnli": write_predictions(trials / "c" / "xnli", ["test-de.tsv"]),
    }
    (trials / "a" / "panx" / "leaderboard").mkdir(exist_ok=True)
    (trials / "a" / "panx" / "leaderboard" / "test-de.tsv").write_text("B-PER\n", encoding="utf-8")
    targets = {task: get_task(task) for task in ("panx", "tydiqa", "xnli", "tatoeba")}
    plan = plan_submission(
        targets,
        predictions,
        tmp_path / "data",
        languages={"panx": ["de", "fr"], "tydiqa": ["ar", "sw"], "xnli": list(XTREME_LANGUAGES["xnli"]), "tatoeba": ["de"]},
    )
    assert [(f.task, f.language, f.name, f.source) for f in plan.files] == [
        ("panx", "de", "test-de.tsv", predictions["panx"] / "leaderboard" / "test-de.tsv"),
        ("xnli", "de", "test-de.tsv", predictions["xnli"] / "test-de.tsv"),
        ("tydiqa", "ar", "test-ar.json", predictions["tydiqa"] / "dev-ar.json"),
        ("tydiqa", "sw", "test-sw.json", predictions["tydiqa"] / "dev-sw.json"),
    ]
    gaps = {(gap.task, gap.language): gap.reason for gap in plan.gaps}
    assert gaps[("udpos", None)] == "not a target task of this sweep"
    assert gaps[("panx", "fr")] == f"no test input: {data / 'test-fr.tsv'} does not exist"
    assert gaps[("panx", "ja")] == "not among the sweep's zero-shot languages"
    assert gaps[("tydiqa", "en")] == "not among the sweep's zero-shot languages"
    # the data folder has no XNLI-1.0 release file either: that is the reason given
    assert (
        gaps[("xnli", "fr")]
        == f"no test input: {tmp_path / 'data' / 'xtreme' / 'xnli' / 'XNLI-1.0' / 'xnli.test.tsv'} does not exist"
    )
    assert "tatoeba has no dev set, so no intermediate task is selected" in gaps[("tatoeba", None)]
    assert {task for task, _ in gaps} == set(LEADERBOARD_TASKS), "every leaderboard task is accounted for"
    panx_languages = [language for task, language in [(f.task, f.language) for f in plan.files] + list(gaps) if task == "panx"]
    assert sorted(panx_languages) == sorted(XTREME_LANGUAGES["panx"]), "each XTREME language once: a file or a gap"
    assert not plan.complete


def test_written_folder_holds_the_files_the_missing_list_and_a_manifest(tmp_path):
    source = write_predictions(tmp_path / "trial" / "tydiqa", ["dev-sw.json"])
    plan = plan_submission({"tydiqa": get_task("tydiqa")}, {"tydiqa": source}, None, max_examples_per_language=50)
    folder = tmp_path / "out" / "submission"
    (folder / "stale").mkdir(parents=True)  # a previous sweep's folder is replaced, not merged
    write_submission(plan, folder)
    assert sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) == [
        MISSING_FILE,
        MANIFEST_FILE,
        "tydiqa",
        "tydiqa/test-sw.json",
    ]
    assert (folder / "tydiqa" / "test-sw.json").read_text(encoding="utf-8") == "dev-sw.json\n"
    missing = (folder / MISSING_FILE).read_text(encoding="utf-8")
    assert "only the first 50 examples per language" in missing
    assert "- `tydiqa/test-ar`: the selected trial wrote no prediction for it" in missing
    assert "- `panx/ (all languages)`: not a target task of this sweep" in missing
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["complete"] is False and manifest["files"] == ["tydiqa/test-sw.json"]
    assert {"task": "udpos", "language": None, "reason": "not a target task of this sweep"} in manifest["missing"]
    assert Gap("tydiqa", "en", "the selected trial wrote no prediction for it") in plan.gaps


def test_sweep_folder_takes_the_selected_trials_predictions_from_mlflow(tmp_path, data_dir):
    # Real MLflow (sqlite) runs laid out as a sweep tracks them: tydiqa selects anli (dev 75 > 70).
    from _tracked import add_trials, track_sweep
    from test_selection_report import record

    from sweeper.config import load_config
    from sweeper.tracking.runs import Tracker
    from sweeper.tracking.submission_export import write_submission_folder

    output = tmp_path / "out"
    sweep = track_sweep(output, "s", [], {"tydiqa": "f1"})
    none_run, anli_run = add_trials(
        sweep, [record("none", "tydiqa", dev=70.0, score=40.0), record("anli", "tydiqa", dev=75.0, score=45.0)], {"tydiqa": "f1"}
    )
    tracker = Tracker(sweep.tracking_uri)
    for run_id, answer in ((none_run, "from none"), (anli_run, "from anli")):
        folder = write_predictions(tmp_path / run_id / "tydiqa", [])
        (folder / "dev-sw.json").write_text(json.dumps({"q": answer}), encoding="utf-8")
        tracker.log_artifacts(run_id, folder, "predictions/tydiqa")
    config_path = tmp_path / "sweep.yaml"
    config_path.write_text(
        "name: s\nmodel: tiny-xlmr\nintermediate_tasks: [none, anli]\ntarget_tasks: [tydiqa]\n"
        "param_space: {learning_rate: [1e-4]}\nzero_shot: {languages: [sw]}\n",
        encoding="utf-8",
    )
    plan = write_submission_folder(tracker, sweep, load_config(config_path, []), data_dir, output)
    assert json.loads((output / "submission" / "tydiqa" / "test-sw.json").read_text(encoding="utf-8")) == {"q": "from anli"}
    assert [(f.task, f.language) for f in plan.files] == [("tydiqa", "sw")]
    assert ("tydiqa", "ar", "not among the sweep's zero-shot languages") in [(g.task, g.language, g.reason) for g in plan.gaps]
    logged = {artifact.path for artifact in tracker.client.list_artifacts(sweep.parent_run_id, "submission")}
    assert {"submission/MISSING.md", "submission/submission.json", "submission/tydiqa"} <= logged
