"""XTREME chunk scores (seqeval 0.0.12 rule) and token accuracy on hand-computed cases."""

import pytest

from sweeper.metrics.tagging import seqeval_scores, token_accuracy, xtreme_chunks


def test_wrongly_split_span_is_two_false_positives():
    # gold spans PER(0-1), LOC(3); predicted PER(0), PER(1), LOC(3): 1 of 3 right, 1 of 2 found
    scores = seqeval_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "B-PER", "O", "B-LOC"]])
    assert scores == pytest.approx({"precision": 100 / 3, "recall": 50.0, "f1": 40.0})


def test_type_error_counts_as_wrong_span():
    scores = seqeval_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    assert scores == pytest.approx({"precision": 50.0, "recall": 50.0, "f1": 50.0})


def test_scores_are_micro_averaged_over_sentences():
    # gold spans: PER, LOC; predicted: PER -> P 1/1, R 1/2, F1 2/3
    scores = seqeval_scores([["B-PER", "O"], ["B-LOC"]], [["B-PER", "O"], ["O"]])
    assert scores == pytest.approx({"precision": 100.0, "recall": 50.0, "f1": 200 / 3})


def test_default_mode_lets_an_inside_tag_start_a_span():
    assert seqeval_scores([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])["f1"] == 100.0


def test_pos_tags_runs_of_the_same_tag_form_one_span():
    # XTREME scores UD-POS with seqeval: NOUN NOUN is one span, so no span matches here
    # although 2 of 3 tokens are right.
    y_true, y_pred = [["NOUN", "NOUN", "VERB"]], [["NOUN", "VERB", "VERB"]]
    assert seqeval_scores(y_true, y_pred)["f1"] == 0.0
    assert token_accuracy(y_true, y_pred) == pytest.approx(200 / 3)


def test_token_accuracy_counts_all_tokens():
    assert token_accuracy([["a", "b"], ["c"]], [["a", "x"], ["c"]]) == pytest.approx(200 / 3)


def test_six_token_sentence_scores_as_evaluate_py_with_seqeval_0_0_12():
    # The minimal case of issue 12: seqeval 1.2.2 gives F1 90.91 (P 83.33, R 100) because it
    # reads CCONJ/SCONJ as prefix C/S + type "CONJ" (so confusing them costs nothing) and never
    # counts a gold X. seqeval 0.0.12 (evaluate.py's published numbers): 6 gold chunks, 6
    # predicted, 4 shared (DET, PUNCT, PRON, NOUN) -> P = R = F1 = 66.67.
    y_true = [["DET", "CCONJ", "PUNCT", "PRON", "NOUN", "X"]]
    y_pred = [["DET", "SCONJ", "PUNCT", "PRON", "NOUN", "SCONJ"]]
    assert seqeval_scores(y_true, y_pred) == pytest.approx({"precision": 200 / 3, "recall": 200 / 3, "f1": 200 / 3})


def test_pos_tags_keep_their_whole_name_as_type():
    assert xtreme_chunks([["SCONJ", "CCONJ", "X"]]) == [("SCONJ", 0, 0), ("CCONJ", 1, 1), ("X", 2, 2)]
    # a run of equal tags is one chunk; positions count an "O" after each sentence
    assert xtreme_chunks([["NOUN", "NOUN"], ["ADJ"]]) == [("NOUN", 0, 1), ("ADJ", 3, 3)]


def test_iobes_and_bio_chunks_as_seqeval_0_0_12_reads_them():
    assert xtreme_chunks([["B-PER", "E-PER", "S-LOC", "I-ORG", "O", "B-MISC"]]) == [
        ("PER", 0, 1),
        ("LOC", 2, 2),
        ("ORG", 3, 3),
        ("MISC", 5, 5),
    ]


def test_nothing_predicted_scores_zero_without_error():
    assert seqeval_scores([["B-PER"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


@pytest.mark.parametrize("metric", [seqeval_scores, token_accuracy])
@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([["O"], ["O"]], [["O"]], "`y_true` has 2 items but `y_pred` has 1"),
        ([["O", "O"]], [["O"]], r"`y_true\[0\]` has 2 items but `y_pred\[0\]` has 1"),
        ([], [], "`y_true` is empty"),
        (["O"], ["O"], "sentence 0 .* is a string"),
    ],
)
def test_misaligned_inputs_are_rejected(metric, y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metric(y_true, y_pred)
