"""Hub converters on in-memory `datasets` objects shaped like the Hub's (no network needed)."""

import datasets
import pytest

from sweeper.data.hub import (
    copa_rows,
    load_dataset_arguments,
    load_hub_split,
    pair_rows,
    qqp_rows,
    tagging_rows,
    tydiqa_rows,
)
from sweeper.errors import ConfigError
from sweeper.registry import HubSource, all_tasks


def test_panx_class_label_ids_become_tag_names():
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
            "langs": datasets.Sequence(datasets.Value("string")),
        }
    )
    dataset = datasets.Dataset.from_dict(
        {"tokens": [["Angela", "Merkel", "in", "Berlin"]], "ner_tags": [[1, 2, 0, 5]], "langs": [["de"] * 4]}, features
    )
    assert tagging_rows(dataset) == [
        {"id": "0", "tokens": ["Angela", "Merkel", "in", "Berlin"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]}
    ]


def test_anli_rows_keep_uid_and_label_names():
    features = datasets.Features(
        {
            "uid": datasets.Value("string"),
            "premise": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    dataset = datasets.Dataset.from_dict({"uid": ["a1"], "premise": ["p"], "hypothesis": ["h"], "label": [2]}, features)
    assert pair_rows(dataset) == [{"id": "a1", "text_a": "p", "text_b": "h", "label": "contradiction"}]


def test_snli_rows_without_gold_label_are_skipped():
    features = datasets.Features(
        {
            "premise": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    dataset = datasets.Dataset.from_dict({"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [0, -1]}, features)
    assert [row["label"] for row in pair_rows(dataset)] == ["entailment"]


def test_tydiqa_rows_are_selected_by_language_prefix():
    answers = {"text": ["x"], "answer_start": [0]}
    dataset = datasets.Dataset.from_list(
        [
            {"id": f"{name}-1", "title": "t", "context": "x y", "question": "q", "answers": answers}
            for name in ("arabic", "swahili")
        ]
    )
    assert [row["id"] for row in tydiqa_rows(dataset, "sw")] == ["swahili-1"]


def test_unknown_converter_is_a_config_error():
    with pytest.raises(ConfigError, match="Did you mean 'tagging'"):
        load_hub_split(HubSource(path="google/xtreme", name="PAN-X.de", split="train", converter="tagin"), "de")


def test_qqp_rows_use_glue_is_duplicate_values_and_skip_the_unlabelled_test():
    features = datasets.Features(
        {
            "question1": datasets.Value("string"),
            "question2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["not_duplicate", "duplicate"]),
            "idx": datasets.Value("int32"),
        }
    )
    dataset = datasets.Dataset.from_dict(
        {"question1": ["a?", "b?", "c?"], "question2": ["x?", "y?", "z?"], "label": [1, 0, -1], "idx": [7, 8, 9]}, features
    )
    assert qqp_rows(dataset) == [
        {"id": "7", "text_a": "a?", "text_b": "x?", "label": "1"},
        {"id": "8", "text_a": "b?", "text_b": "y?", "label": "0"},
    ]


def test_pawsx_rows_keep_the_release_label_names():
    features = datasets.Features(
        {
            "id": datasets.Value("int32"),
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["0", "1"]),
        }
    )
    dataset = datasets.Dataset.from_dict(
        {"id": [1, 2], "sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [1, -1]}, features
    )
    assert pair_rows(dataset) == [{"id": "0", "text_a": "a", "text_b": "c", "label": "1"}]


@pytest.mark.parametrize(
    "label_feature", [datasets.ClassLabel(names=["choice1", "choice2"]), datasets.Value("int32")], ids=["super_glue", "xcopa"]
)
def test_copa_rows_match_the_xcopa_reader_schema(label_feature):
    features = datasets.Features(
        {name: datasets.Value("string") for name in ("premise", "choice1", "choice2", "question")}
        | {"idx": datasets.Value("int32"), "label": label_feature}
    )
    dataset = datasets.Dataset.from_dict(
        {
            "premise": ["p", "q"],
            "choice1": ["a", "c"],
            "choice2": ["b", "d"],
            "question": ["cause", "effect"],
            "idx": [0, 1],
            "label": [1, -1],
        },
        features,
    )
    assert copa_rows(dataset) == [{"id": "0", "context": "p", "question": "cause", "choices": ["a", "b"], "label": 1}]


# --- load_dataset arguments and script-based Hub datasets ----------------------------------------


def test_load_dataset_arguments_name_revision_and_data_dir():
    plain = HubSource(path="facebook/xnli", name="{lang}", split="test", converter="pair")
    assert load_dataset_arguments(plain, "de") == {"path": "facebook/xnli", "name": "de", "split": "test"}
    parquet = HubSource(
        path="facebook/mlqa", revision="refs/convert/parquet", data_dir="mlqa.{lang}.{lang}", split="test", converter="squad"
    )
    assert load_dataset_arguments(parquet, "hi") == {
        "path": "facebook/mlqa",
        "name": None,
        "split": "test",
        "revision": "refs/convert/parquet",
        "data_dir": "mlqa.hi.hi",
    }


def test_every_hub_source_of_a_script_era_repository_reads_a_parquet_export():
    # Repositories whose Hub copy had a loading script (refused by `datasets` >= 4) are read from
    # the Hub's refs/convert/parquet export, one config folder each, with no `name`.
    for task in all_tasks().values():
        for split in task.splits.values():
            for source in split.sources:
                hub = source.hub
                if hub is not None and hub.path in ("facebook/mlqa", "aps/super_glue"):
                    assert (hub.revision, hub.name) == ("refs/convert/parquet", None), (task.task, hub)
                    assert hub.data_dir, (task.task, hub)


def test_local_parquet_and_jsonl_folders_load_through_the_hub_code_path(tmp_path):
    # The same `datasets.load_dataset(**arguments)` call as for a Hub id, on a local folder laid out
    # like refs/convert/parquet (<config>/<split>/0000.parquet) and one of JSON Lines files.
    rows = {"premise": ["Ein Hund rennt.", "Ein Mann schläft."], "hypothesis": ["Ein Tier.", "Er singt."], "label": [0, 2]}
    features = datasets.Features(
        {
            "premise": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    (tmp_path / "parquet" / "de" / "test").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features).to_parquet(str(tmp_path / "parquet" / "de" / "test" / "0000.parquet"))
    source = HubSource(path=str(tmp_path / "parquet"), data_dir="{lang}", split="test", converter="pair")
    assert load_hub_split(source, "de") == [
        {"id": "0", "text_a": "Ein Hund rennt.", "text_b": "Ein Tier.", "label": "entailment"},
        {"id": "1", "text_a": "Ein Mann schläft.", "text_b": "Er singt.", "label": "contradiction"},
    ]
    (tmp_path / "jsonl").mkdir()
    (tmp_path / "jsonl" / "validation.jsonl").write_text('{"premise": "P", "hypothesis": "H", "label": 1}\n', encoding="utf-8")
    jsonl = HubSource(path=str(tmp_path / "jsonl"), split="validation", converter="pair")
    assert load_hub_split(jsonl, "en") == [{"id": "0", "text_a": "P", "text_b": "H", "label": "1"}]
