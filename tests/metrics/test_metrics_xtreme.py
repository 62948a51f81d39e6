"""XTREME / XTREME-R task scores and benchmark aggregation with known numbers."""

import subprocess
import sys

import pytest

from sweeper.metrics.xtreme import XTREME_LANGUAGES, task_score, xtreme_scores

XTREME_TASK_SCORES = {
    "pawsx": 88.0,
    "xnli": 80.0,
    "udpos": 75.0,
    "panx": 65.0,
    "xquad": 70.0,
    "mlqa": 62.0,
    "tydiqa": 67.0,
    "bucc2018": 80.0,
    "tatoeba": 75.0,
}


def test_qa_task_score_is_mean_of_average_em_and_average_f1():
    metrics = {"en": {"exact_match": 60.0, "f1": 80.0}, "de": {"exact_match": 50.0, "f1": 70.0}}
    assert task_score("xquad", metrics) == pytest.approx((55.0 + 75.0) / 2)


@pytest.mark.parametrize(
    ("task", "metric"),
    [("xnli", "accuracy"), ("tatoeba", "accuracy"), ("panx", "f1"), ("bucc2018", "f1")],
)
def test_task_score_averages_the_task_metric_over_languages(task, metric):
    metrics = {"de": {metric: 90.0, "other": 0.0}, "fr": {metric: 80.0, "other": 0.0}}
    assert task_score(task, metrics) == pytest.approx(85.0)


def test_task_score_restricted_to_official_languages_ignores_others():
    metrics = {language: {"accuracy": 50.0} for language in XTREME_LANGUAGES["tatoeba"]}
    metrics["en"] = {"accuracy": 100.0}  # not a Tatoeba evaluation language
    assert task_score("tatoeba", metrics, languages=XTREME_LANGUAGES["tatoeba"]) == 50.0


@pytest.mark.parametrize(
    ("task", "metrics", "languages", "message"),
    [
        ("xnli", {"de": {"accuracy": 1.0}}, ["de", "fr"], r"lacks languages \['fr'\]"),
        ("mlqa", {"de": {"f1": 1.0}}, None, "lacks 'exact_match'"),
        ("xstance", {"de": {"accuracy": 1.0}}, None, "unknown `task` 'xstance'"),
        ("xnli", {}, None, "no language to average"),
    ],
)
def test_task_score_rejects_incomplete_inputs(task, metrics, languages, message):
    with pytest.raises(ValueError, match=message):
        task_score(task, metrics, languages=languages)


def test_complete_xtreme_scores():
    scores = xtreme_scores(XTREME_TASK_SCORES)
    assert scores["benchmark"] == "xtreme"
    assert scores["all_task"] == pytest.approx(662 / 9)
    assert scores["complete"] is True and scores["missing"] == []
    group_scores = {group: result["score"] for group, result in scores["groups"].items()}
    assert group_scores == pytest.approx(
        {
            "classification": 84.0,
            "structured_prediction": 70.0,
            "question_answering": 199 / 3,
            "retrieval": 77.5,
        }
    )
    assert scores["mean_of_group_means"] == pytest.approx((84 + 70 + 199 / 3 + 77.5) / 4)


def test_missing_task_is_flagged_not_hidden():
    partial = {task: score for task, score in XTREME_TASK_SCORES.items() if task != "bucc2018"}
    scores = xtreme_scores(partial)
    assert scores["complete"] is False
    assert scores["missing"] == ["bucc2018"]
    assert scores["all_task"] == pytest.approx(582 / 8)
    assert scores["groups"]["retrieval"] == {
        "score": 75.0,
        "tasks": ["bucc2018", "tatoeba"],
        "missing": ["bucc2018"],
    }


def test_group_without_any_task_has_no_score():
    scores = xtreme_scores({"xnli": 80.0, "udpos": 70.0}, benchmark="xtreme_r")
    assert scores["groups"]["question_answering"]["score"] is None
    assert scores["mean_of_group_means"] == pytest.approx(75.0)
    assert scores["missing"] == [
        "xcopa",
        "panx",
        "xquad",
        "mlqa",
        "tydiqa",
        "tatoeba",
        "mewsli-x",
        "lareqa",
    ]


@pytest.mark.parametrize(
    ("task_scores", "benchmark", "message"),
    [
        ({"pawsx": 1.0}, "xtreme_r", r"tasks \['pawsx'\] that are not part of 'xtreme_r'"),
        ({}, "xtreme", "`task_scores` is empty"),
        ({"xnli": 1.0}, "xglue", "unknown `benchmark` 'xglue'"),
    ],
)
def test_xtreme_scores_rejects_bad_inputs(task_scores, benchmark, message):
    with pytest.raises(ValueError, match=message):
        xtreme_scores(task_scores, benchmark=benchmark)


def test_metrics_package_imports_neither_ray_nor_mlflow():
    modules = "qa, tagging, classification, retrieval, xtreme"
    code = (
        f"import sys; from sweeper.metrics import {modules}; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('ray', 'mlflow')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
