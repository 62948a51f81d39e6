"""Hub converters on in-memory `datasets` objects shaped like the Hub's (no network needed)."""

import datasets
import pytest

from sweeper.data.hub import load_hub_split, pair_rows, tagging_rows, tydiqa_rows
from sweeper.errors import ConfigError
from sweeper.registry import HubSource


def test_panx_class_label_ids_become_tag_names():
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {"tokens": datasets.Sequence(datasets.Value("string")),
         "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
         "langs": datasets.Sequence(datasets.Value("string"))}
    )
    dataset = datasets.Dataset.from_dict(
        {"tokens": [["Angela", "Merkel", "in", "Berlin"]], "ner_tags": [[1, 2, 0, 5]], "langs": [["de"] * 4]}, features
    )
    assert tagging_rows(dataset) == [{"id": "0", "tokens": ["Angela", "Merkel", "in", "Berlin"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]}]


def test_anli_rows_keep_uid_and_label_names():
    features = datasets.Features(
        {"uid": datasets.Value("string"), "premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
         "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])}
    )
    dataset = datasets.Dataset.from_dict({"uid": ["a1"], "premise": ["p"], "hypothesis": ["h"], "label": [2]}, features)
    assert pair_rows(dataset) == [{"id": "a1", "text_a": "p", "text_b": "h", "label": "contradiction"}]


def test_snli_rows_without_gold_label_are_skipped():
    features = datasets.Features(
        {"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
         "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])}
    )
    dataset = datasets.Dataset.from_dict({"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [0, -1]}, features)
    assert [row["label"] for row in pair_rows(dataset)] == ["entailment"]


def test_tydiqa_rows_are_selected_by_language_prefix():
    answers = {"text": ["x"], "answer_start": [0]}
    dataset = datasets.Dataset.from_list(
        [{"id": f"{name}-1", "title": "t", "context": "x y", "question": "q", "answers": answers} for name in ("arabic", "swahili")]
    )
    assert [row["id"] for row in tydiqa_rows(dataset, "sw")] == ["swahili-1"]


def test_unknown_converter_is_a_config_error():
    with pytest.raises(ConfigError, match="Did you mean 'tagging'"):
        load_hub_split(HubSource(path="google/xtreme", name="PAN-X.de", split="train", converter="tagin"), "de")
