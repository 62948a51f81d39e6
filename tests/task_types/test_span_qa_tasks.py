"""The extractive-QA tasks (squad_v1, squad_v2, mlqa): task files, SQuAD 2.0 scoring and files,
and one tiny training + evaluation step each through ``sweeper.training.stages`` (tiny XLM-R, real rows).

The data directory is written per module in the XTREME ``download/`` layout: SQuAD v1.1 files
from the first XQuAD article (XQuAD's English file is a subset of SQuAD v1.1 dev), SQuAD 2.0 files
that add each paragraph's neighbour's questions as unanswerable ones (``is_impossible`` with
``plausible_answers``, as in the release), and MLQA test files (``MLQA_V1`` release layout and
fields) holding XQuAD's Arabic, German and Chinese rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from sweeper.cache.markers import encoder_is_complete
from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.data.formats import read_examples
from sweeper.data.hub import load_dataset_arguments, squad_rows
from sweeper.data.sources import check_split_files, load_split, split_files
from sweeper.errors import ConfigError, DataFormatError, MissingDataError
from sweeper.registry import get_task, load_task_file
from sweeper.task_types import get_task_type
from sweeper.task_types.span_qa import (
    NULL_SCORE_DIFF_THRESHOLD,
    UnanswerablePredictions,
    na_probs_path,
)
from sweeper.training.inputs import StageInputs
from sweeper.training.stages import run_intermediate_stage, run_target_stage

SETTINGS = TrainingConfig(
    learning_rate=1e-3,
    per_device_train_batch_size=8,
    max_seq_length=96,
    doc_stride=32,
    max_query_length=32,
    max_steps=2,
    eval_steps=2,
    max_train_examples=24,
    max_dev_examples=8,
    warmup_ratio=0.0,
)
SPAN_QA = get_task_type("span_qa")
MLQA_LANGUAGES = ["ar", "de", "zh"]
V2_PERCENT_KEYS = {
    "exact_match",
    "f1",
    "HasAns_exact_match",
    "HasAns_f1",
    "NoAns_exact_match",
    "NoAns_f1",
    "best_exact_match",
    "best_f1",
}


def _first_article(data_dir: Path, language: str, paragraphs: int) -> dict:
    document = json.loads((data_dir / f"xtreme/xquad/xquad.{language}.json").read_text(encoding="utf-8"))
    article = document["data"][0]
    return {"title": article["title"], "paragraphs": article["paragraphs"][:paragraphs]}


def _with_unanswerable(article: dict) -> dict:
    """SQuAD 2.0 form: each paragraph also gets the next paragraph's questions, unanswerable here."""
    paragraphs = article["paragraphs"]
    result = []
    for index, paragraph in enumerate(paragraphs):
        borrowed = paragraphs[(index + 1) % len(paragraphs)]["qas"][:4]
        # Unanswerable first, so that a dev subset of the first few questions has both kinds.
        qas = [
            {
                "question": qa["question"],
                "id": f"{qa['id']}-impossible-{index}",
                "answers": [],
                "plausible_answers": qa["answers"][:1],
                "is_impossible": True,
            }
            for qa in borrowed
        ]
        qas += [{**qa, "is_impossible": False} for qa in paragraph["qas"]]
        result.append({"context": paragraph["context"], "qas": qas})
    return {"title": article["title"], "paragraphs": result}


def _as_mlqa(article: dict) -> dict:
    """MLQA_V1 fields: one answer per question, ``answer_start`` before ``text``."""
    return {
        "title": article["title"],
        "paragraphs": [
            {
                "context": paragraph["context"],
                "qas": [
                    {
                        "question": qa["question"],
                        "answers": [{"answer_start": qa["answers"][0]["answer_start"], "text": qa["answers"][0]["text"]}],
                        "id": qa["id"],
                    }
                    for qa in paragraph["qas"]
                ],
            }
            for paragraph in article["paragraphs"]
        ],
    }


def _write(path: Path, articles: list[dict], version) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": articles, "version": version}, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def qa_data(data_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("qa-data")
    english = _first_article(data_dir, "en", paragraphs=3)
    for split in ("train", "dev"):
        _write(root / f"xtreme/squad/{split}-v1.1.json", [english], "1.1")
        _write(root / f"xtreme/squad/{split}-v2.0.json", [_with_unanswerable(english)], "v2.0")
    for language in MLQA_LANGUAGES:
        path = root / f"xtreme/mlqa/MLQA_V1/test/test-context-{language}-question-{language}.json"
        _write(path, [_as_mlqa(_first_article(data_dir, language, paragraphs=1))], 1.0)
    return root


# --------------------------------------------------------------------------------------------
# Task files and readers


def test_qa_task_files_point_at_the_xtreme_download_layout(tmp_path):
    assert split_files(get_task("squad_v1"), "train", tmp_path) == [tmp_path / "squad/train-v1.1.json"]
    assert split_files(get_task("squad_v2"), "dev", tmp_path) == [tmp_path / "squad/dev-v2.0.json"]
    assert split_files(get_task("mlqa"), "test", tmp_path, "zh") == [
        tmp_path / "mlqa/MLQA_V1/test/test-context-zh-question-zh.json"
    ]
    mlqa = get_task("mlqa")
    assert mlqa.splits["train"] == get_task("xquad").splits["train"], "trained on SQuAD v1.1 like XQuAD"
    assert (mlqa.answer_normalization, mlqa.zero_shot.split) == ("mlqa", "test")
    assert mlqa.zero_shot.languages == ["ar", "de", "en", "es", "hi", "vi", "zh"]
    assert get_task("squad_v2").unanswerable and not get_task("squad_v1").unanswerable
    hub = mlqa.splits["test"].sources[0].hub  # facebook/mlqa's Parquet export (the repo had a loading script)
    assert load_dataset_arguments(hub.model_copy(update={"data_dir": hub.data_dir.format(lang="de")}), "de") == {
        "path": "facebook/mlqa",
        "name": None,
        "split": "test",
        "revision": "refs/convert/parquet",
        "data_dir": "mlqa.de.de",
    }


def test_squad_v2_format_reads_the_release_sample_and_unanswerable_questions(data_dir, qa_data):
    spec = get_task("squad_v2")
    sample = read_examples(spec.splits["dev"].sources[0].format, data_dir / "samples/squad_v2/dev-v2.0.json")
    assert [example["answers"]["text"][0] for example in sample] == ["France", "10th and 11th centuries"]
    examples = load_split(spec, "dev", qa_data, "en")
    unanswerable = [example for example in examples if not example["answers"]["text"]]
    assert len(unanswerable) == 12 and all(example["id"].count("-impossible-") for example in unanswerable)
    assert all(example["answers"] == {"text": [], "answer_start": []} for example in unanswerable)


def test_mlqa_test_files_load_per_language(qa_data):
    spec = get_task("mlqa")
    chinese = load_split(spec, "test", qa_data, "zh")
    assert chinese and all(len(example["answers"]["text"]) == 1 for example in chinese)
    assert chinese[0]["title"] and any("\u4e00" <= char <= "\u9fa5" for char in chinese[0]["context"])


def test_squad_hub_converter_fits_mlqa_rows_without_title_and_squad_v2_unanswerables():
    import datasets

    mlqa = datasets.Dataset.from_list(
        [
            {
                "context": "Der Rhein fließt.",
                "question": "Was fließt?",
                "id": "a1",
                "answers": {"answer_start": [4], "text": ["Rhein"]},
            }
        ]
    )
    squad_v2 = datasets.Dataset.from_list(
        [{"id": "q", "title": "T", "context": "c", "question": "?", "answers": {"text": [], "answer_start": []}}]
    )
    assert squad_rows(mlqa) == [
        {
            "id": "a1",
            "title": "",
            "context": "Der Rhein fließt.",
            "question": "Was fließt?",
            "answers": {"text": ["Rhein"], "answer_start": [4]},
        }
    ]
    assert squad_rows(squad_v2)[0]["answers"] == {"text": [], "answer_start": []}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("task_type: classification\nlabels: [a]\nanswer_normalization: squad\n", "task_type 'classification'"),
        ("task_type: span_qa\nanswer_normalization: mlqa\n", "answer_normalization 'mlqa'"),
    ],
)
def test_unanswerable_flag_is_only_for_squad_scored_span_qa(tmp_path, fields, message):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "task: bad\ndescription: d\nlayout: xtreme\nmetric: f1\nunanswerable: true\n"
        + fields
        + "splits:\n  train: {format: squad_json, files: [a.json]}\n  dev: {format: squad_json, files: [b.json]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=message):
        load_task_file(path)


# --------------------------------------------------------------------------------------------
# Scoring through SpanQA.score (hand-computed)

REFERENCES = [
    {"id": "q1", "answers": {"text": ["France"], "answer_start": [0]}},
    {"id": "q2", "answers": {"text": [], "answer_start": []}},
    {"id": "q3", "answers": {"text": ["10th century"], "answer_start": [0]}},
]


def test_squad_v2_score_picks_the_null_threshold_on_the_scored_set():
    predictions = UnanswerablePredictions(
        answers={"q1": "France", "q2": "Normandy", "q3": ""}, na_probs={"q1": -2.0, "q2": -1.0, "q3": 0.5}
    )
    scores = SPAN_QA.score(predictions, REFERENCES, get_task("squad_v2"), "en")
    assert set(scores) == V2_PERCENT_KEYS, "question counts and logit thresholds are left out"
    # As predicted: q1 right, q2 answered though unanswerable, q3 null though answerable.
    assert scores["exact_match"] == pytest.approx(100 / 3) and scores["f1"] == pytest.approx(100 / 3)
    assert (scores["HasAns_exact_match"], scores["NoAns_exact_match"]) == (50.0, 0.0)
    # find_best_thresh: all null = 1 right (q2); answering q1 (na -2) = 2; then q2 (na -1) loses one.
    assert scores["best_exact_match"] == pytest.approx(200 / 3) and scores["best_f1"] == pytest.approx(200 / 3)


def test_squad_v2_score_without_null_scores_has_no_best_keys():
    scores = SPAN_QA.score({"q1": "France", "q2": "", "q3": ""}, REFERENCES, get_task("squad_v2"), "en")
    assert scores["exact_match"] == pytest.approx(200 / 3) and "best_f1" not in scores


def test_answerable_only_tasks_reject_unanswerable_data_and_null_scores():
    with pytest.raises(ValueError, match="set `unanswerable: true`"):
        SPAN_QA.score({"q1": "France", "q2": "", "q3": ""}, REFERENCES, get_task("squad_v1"), "en")
    predictions = UnanswerablePredictions({"q1": "France"}, {"q1": 0.0})
    with pytest.raises(TypeError, match="no `unanswerable: true`"):
        SPAN_QA.score(predictions, REFERENCES[:1], get_task("squad_v1"), "en")


def test_mlqa_score_uses_the_answer_language():
    german = [{"id": "d", "answers": {"text": ["Rhein"], "answer_start": [0]}}]
    assert SPAN_QA.score({"d": "der Rhein"}, german, get_task("mlqa"), "de")["exact_match"] == 100.0
    assert SPAN_QA.score({"d": "der Rhein"}, german, get_task("xquad"), "de")["exact_match"] == 0.0
    chinese = [{"id": "z", "answers": {"text": ["北京大学"], "answer_start": [0]}}]
    assert SPAN_QA.score({"z": "北京"}, chinese, get_task("mlqa"), "zh")["f1"] == pytest.approx(100 * 2 / 3)


# --------------------------------------------------------------------------------------------
# Prediction files


def test_squad_v1_prediction_files_stay_plain_objects(tmp_path):
    path = tmp_path / "test-zh.json"
    SPAN_QA.write_predictions({"q": "北京"}, path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"q": "北京"}
    assert not na_probs_path(path).exists()
    assert SPAN_QA.read_predictions(path) == {"q": "北京"}


def test_squad_v2_prediction_files_round_trip_with_the_official_na_prob_file(tmp_path):
    path = tmp_path / "dev-en.json"
    predictions = UnanswerablePredictions({"a": "", "b": "France"}, {"a": math.inf, "b": -1.5})
    SPAN_QA.write_predictions(predictions, path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": "", "b": "France"}
    assert na_probs_path(path) == tmp_path / "na_probs_dev-en.json"
    assert json.loads(na_probs_path(path).read_text(encoding="utf-8")) == {"a": math.inf, "b": -1.5}
    assert SPAN_QA.read_predictions(path) == predictions

    na_probs_path(path).write_text(json.dumps({"a": 1.0}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="na_probs_dev-en.json: does not match the predictions in dev-en.json"):
        SPAN_QA.read_predictions(path)
    na_probs_path(path).write_text(json.dumps({"a": "high", "b": 0}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="question ids to null-score numbers"):
        SPAN_QA.read_predictions(path)


# --------------------------------------------------------------------------------------------
# One tiny training + evaluation step per task, through sweeper.training.stages


def _intermediate(task_id: str, tiny_dir: Path, qa_data: Path, out: Path):
    evaluations = []
    inputs = StageInputs(str(tiny_dir), None, get_task(task_id), SETTINGS, qa_data, out / "work")
    result = run_intermediate_stage(inputs, out / "encoder", lambda *args: evaluations.append(args))
    return out / "encoder", result, evaluations


def test_squad_v1_intermediate_stage(tiny_dir, qa_data, tmp_path):
    encoder_dir, result, evaluations = _intermediate("squad_v1", tiny_dir, qa_data, tmp_path)
    assert encoder_is_complete(encoder_dir)
    [(_, step, metrics)] = evaluations
    assert step == 2 and set(metrics) == {"score", "exact_match", "f1"}
    assert metrics["score"] == metrics["f1"] == result.best_score
    assert 0.0 <= metrics["exact_match"] <= 100.0 and 0.0 <= metrics["f1"] <= 100.0


def test_squad_v2_intermediate_stage_scores_with_the_best_null_threshold(tiny_dir, qa_data, tmp_path):
    encoder_dir, result, evaluations = _intermediate("squad_v2", tiny_dir, qa_data, tmp_path)
    assert encoder_is_complete(encoder_dir)
    [(_, _, metrics)] = evaluations
    assert set(metrics) == V2_PERCENT_KEYS | {"score"}
    assert metrics["score"] == metrics["best_f1"] == result.best_score
    assert all(0.0 <= value <= 100.0 for value in metrics.values())
    # Some threshold reproduces the predictions as made, so the best is never below them.
    assert metrics["best_f1"] >= metrics["f1"] - 1e-9 and metrics["best_exact_match"] >= metrics["exact_match"] - 1e-9

    # The trained encoder with a fresh head: predictions, files and scores agree.
    spec = get_task("squad_v2")
    model = AutoModelForQuestionAnswering.from_pretrained(encoder_dir, **SPAN_QA.model_kwargs(spec))
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    examples = load_split(spec, "dev", qa_data, "en")
    predictions = SPAN_QA.predict(model, tokenizer, examples, spec, SETTINGS, "en")
    assert isinstance(predictions, UnanswerablePredictions) and set(predictions) == {e["id"] for e in examples}
    for qid, answer in predictions.items():  # the null answer wins exactly where it beats the best span
        assert (answer == "") == (predictions.na_probs[qid] > NULL_SCORE_DIFF_THRESHOLD)
    path = tmp_path / "dev-en.json"
    SPAN_QA.write_predictions(predictions, path)
    read_back = SPAN_QA.read_predictions(path)
    assert read_back == predictions
    assert SPAN_QA.score(read_back, examples, spec, "en") == SPAN_QA.score(predictions, examples, spec, "en")


def test_mlqa_target_stage_zero_shot_in_arabic_german_chinese(tiny_dir, qa_data, tmp_path):
    inputs = StageInputs(str(tiny_dir), None, get_task("mlqa"), SETTINGS, qa_data, tmp_path)
    result, zero_shot, _ = run_target_stage(
        inputs, ZeroShotConfig(languages=MLQA_LANGUAGES, max_examples_per_language=4), lambda *args: None
    )
    assert result.best_step == 2
    assert set(zero_shot.per_language) == set(MLQA_LANGUAGES)
    spec = get_task("mlqa")
    for language, scores in zero_shot.per_language.items():
        assert set(scores) == {"exact_match", "f1"}
        assert all(0.0 <= value <= 100.0 for value in scores.values())
        path = zero_shot.predictions_dir / f"test-{language}.json"
        predictions = SPAN_QA.read_predictions(path)
        examples = load_split(spec, "test", qa_data, language, limit=4)
        assert list(predictions) == [example["id"] for example in examples]
        assert all(isinstance(text, str) for text in predictions.values())
        assert SPAN_QA.score(predictions, examples, spec, language) == scores
        assert not na_probs_path(path).exists()


def test_a_missing_mlqa_language_file_names_the_expected_path(qa_data):
    with pytest.raises(MissingDataError, match="mlqa/MLQA_V1/test/test-context-en-question-en.json"):
        check_split_files(get_task("mlqa"), "test", qa_data, ["en"])
