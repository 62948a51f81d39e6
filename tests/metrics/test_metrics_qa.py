"""SQuAD v1.1, MLQA and SQuAD 2.0 scores on hand-computed cases."""

import pytest

from sweeper.metrics.qa import (
    mlqa_em_f1,
    normalize_mlqa_answer,
    normalize_squad_answer,
    squad_em_f1,
    squad_v2_scores,
)


def one(prediction, *golds):
    """Predictions and references for a single question 'q'."""
    return {"q": prediction}, {"q": list(golds)}


# --- SQuAD v1.1 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("an apple, a day", "apple day"),
        ("there  is\tthem", "there is them"),  # articles only as whole words
        ("¿Qué?", "¿qué"),  # only ASCII punctuation is removed
    ],
)
def test_squad_normalization(text, expected):
    assert normalize_squad_answer(text) == expected


def test_squad_articles_and_punctuation_do_not_break_exact_match():
    assert squad_em_f1(*one("the Eiffel Tower.", "Eiffel Tower")) == {
        "exact_match": 100.0,
        "f1": 100.0,
    }


def test_squad_partial_overlap_f1():
    # prediction tokens: in city of paris (4); gold: paris -> P = 1/4, R = 1, F1 = 0.4
    scores = squad_em_f1(*one("in the city of Paris", "Paris"))
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(40.0)


def test_squad_takes_max_over_gold_answers():
    # "Paris France" vs "Paris": F1 2/3; vs "Paris, France": exact
    assert squad_em_f1(*one("Paris France", "Paris", "Paris, France")) == {
        "exact_match": 100.0,
        "f1": 100.0,
    }


def test_squad_averages_over_questions():
    predictions = {"a": "Paris", "b": "in the city of Paris"}
    references = {"a": ["Paris"], "b": ["Paris"]}
    scores = squad_em_f1(predictions, references)
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(70.0)  # (1 + 0.4) / 2


def test_squad_v1_empty_normalized_answers_match_exactly_but_have_f1_zero():
    # evaluate-v1.1.py: "the" and "a" both normalize to "" -> EM 1, but no common token -> F1 0
    assert squad_em_f1(*one("the", "a")) == {"exact_match": 100.0, "f1": 0.0}


def test_squad_missing_prediction_scores_zero_and_warns():
    with pytest.warns(RuntimeWarning, match="1 of 2 questions have no prediction"):
        scores = squad_em_f1({"a": "Paris"}, {"a": ["Paris"], "b": ["Rome"]})
    assert scores == {"exact_match": 50.0, "f1": 50.0}


@pytest.mark.parametrize(
    ("references", "message"),
    [
        ({}, "`references` is empty"),
        ({"q": []}, "has no gold answer"),
        ({"q": "Paris"}, "is a string"),
    ],
)
def test_squad_rejects_bad_references(references, message):
    with pytest.raises(ValueError, match=message):
        squad_em_f1({"q": "Paris"}, references)


# --- MLQA -------------------------------------------------------------------------------------


def test_mlqa_chinese_mixed_segmentation_splits_every_cjk_character():
    assert normalize_mlqa_answer("2008年北京奥运会", "zh") == "2008 年 北 京 奥 运 会"


def test_mlqa_chinese_f1_counts_characters():
    # pred 北 京 大 学 (4 tokens), gold 北 京 (2): P = 1/2, R = 1, F1 = 2/3
    scores = mlqa_em_f1(*one("北京大学", "北京"), language="zh")
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(200 / 3)


def test_mlqa_chinese_f1_with_latin_digits():
    # pred: 2008 年 北 京 奥 运 会 (7), gold: 北 京 奥 运 会 (5): P = 5/7, R = 1, F1 = 5/6
    scores = mlqa_em_f1(*one("2008年北京奥运会", "北京奥运会"), language="zh")
    assert scores["f1"] == pytest.approx(500 / 6)


@pytest.mark.parametrize(
    ("prediction", "gold", "language"),
    [
        ("《红楼梦》。", "红楼梦", "zh"),  # CJK punctuation
        ("«Guerra y paz»", "Guerra y paz", "es"),  # guillemets
        ("¿Estados Unidos?", "Estados Unidos", "es"),  # inverted question mark
        ("भारत।", "भारत", "hi"),  # devanagari danda
    ],
)
def test_mlqa_removes_unicode_punctuation(prediction, gold, language):
    assert mlqa_em_f1(*one(prediction, gold), language=language)["exact_match"] == 100.0


@pytest.mark.parametrize(
    ("prediction", "gold", "language"),
    [
        ("der Vertrag von Versailles", "Vertrag von Versailles", "de"),
        ("dem Haus", "einem Haus", "de"),
        ("los Estados Unidos", "Estados Unidos", "es"),
        ("una casa", "la casa", "es"),
        ("những cuốn sách", "cuốn sách", "vi"),
        ("cái bàn", "chiếc bàn", "vi"),
    ],
)
def test_mlqa_removes_language_articles(prediction, gold, language):
    assert mlqa_em_f1(*one(prediction, gold), language=language) == {
        "exact_match": 100.0,
        "f1": 100.0,
    }


def test_squad_script_keeps_german_articles():
    # the same answer pair under SQuAD normalization: 3 of 4 tokens shared, F1 = 6/7
    scores = squad_em_f1(*one("der Vertrag von Versailles", "Vertrag von Versailles"))
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(600 / 7)


def test_mlqa_arabic_drops_the_al_prefix():
    assert mlqa_em_f1(*one("الكتاب", "كتاب"), language="ar")["exact_match"] == 100.0


def test_mlqa_arabic_drops_al_anywhere_in_a_word_like_the_official_regex():
    # the official pattern '\sال^|ال' removes every ال, also word-final: سؤال -> سؤ
    assert normalize_mlqa_answer("سؤال", "ar") == "سؤ"


def test_mlqa_hindi_has_no_articles():
    assert normalize_mlqa_answer("the भारत", "hi") == "the भारत"


def test_mlqa_rejects_unknown_language():
    with pytest.raises(ValueError, match="`language` 'fr' is not an MLQA answer language"):
        mlqa_em_f1(*one("a", "a"), language="fr")


# --- SQuAD 2.0 --------------------------------------------------------------------------------

# q1 answerable, exact; q2 unanswerable, null predicted; q3 answerable, F1 2/3;
# q4 unanswerable, wrongly answered.
V2_PREDICTIONS = {"q1": "Paris", "q2": "", "q3": "whale", "q4": "London"}
V2_REFERENCES = {"q1": ["Paris"], "q2": [], "q3": ["blue whale"], "q4": []}
V2_NA_PROBS = {"q1": 0.1, "q2": 0.9, "q3": 0.4, "q4": 0.7}


def test_squad_v2_scores_unanswerable_questions():
    scores = squad_v2_scores(V2_PREDICTIONS, V2_REFERENCES)
    expected = {
        "exact_match": 50.0,
        "f1": 100 * (1 + 1 + 2 / 3 + 0) / 4,
        "total": 4,
        "HasAns_exact_match": 50.0,
        "HasAns_f1": 100 * (1 + 2 / 3) / 2,
        "HasAns_total": 2,
        "NoAns_exact_match": 50.0,
        "NoAns_f1": 50.0,
        "NoAns_total": 2,
    }
    assert scores == pytest.approx(expected)


def test_squad_v2_best_thresholds():
    # find_best_thresh: start at 2 (all null); by na_prob q1 +1 -> 3 (0.1), q3 +0 / +2/3,
    # q4 -1, q2 0. Best EM 3/4 at 0.1; best F1 (3 + 2/3)/4 at 0.4.
    scores = squad_v2_scores(V2_PREDICTIONS, V2_REFERENCES, na_probs=V2_NA_PROBS)
    assert scores["best_exact_match"] == pytest.approx(75.0)
    assert scores["best_exact_match_threshold"] == 0.1
    assert scores["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 4)
    assert scores["best_f1_threshold"] == 0.4


def test_squad_v2_applying_the_best_threshold_reproduces_the_best_score():
    scores = squad_v2_scores(V2_PREDICTIONS, V2_REFERENCES, na_probs=V2_NA_PROBS, na_prob_threshold=0.4)
    assert scores["f1"] == pytest.approx(100 * (3 + 2 / 3) / 4)


def test_squad_v2_questions_above_threshold_get_the_null_answer():
    scores = squad_v2_scores(V2_PREDICTIONS, V2_REFERENCES, na_probs=V2_NA_PROBS, na_prob_threshold=0.05)
    assert scores["HasAns_f1"] == 0.0
    assert scores["NoAns_exact_match"] == 100.0
    assert scores["exact_match"] == 50.0


def test_squad_v2_without_na_probs_has_no_best_keys():
    assert not any(key.startswith("best_") for key in squad_v2_scores(*one("x", "x")))


def test_squad_v2_gold_normalizing_to_empty_means_null_answer():
    scores = squad_v2_scores(*one("", "the"))
    assert scores["exact_match"] == 100.0
    assert scores["HasAns_total"] == 1  # still counted as answerable, as in the script


@pytest.mark.parametrize(
    ("predictions", "na_probs", "message"),
    [
        ({"q1": "Paris"}, None, "`predictions` lacks 3 question ids"),
        (V2_PREDICTIONS, {"q1": 0.5}, "`na_probs` lacks 3 question ids"),
    ],
)
def test_squad_v2_requires_predictions_and_probs_for_every_question(predictions, na_probs, message):
    with pytest.raises(ValueError, match=message):
        squad_v2_scores(predictions, V2_REFERENCES, na_probs=na_probs)
