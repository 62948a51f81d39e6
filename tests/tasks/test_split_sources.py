"""A split with one or several sources (format, files, Hub source each): the task-file forms,
their validation, and that every existing task file still loads unchanged."""

from __future__ import annotations

import pytest
import yaml

from sweeper.errors import ConfigError
from sweeper.registry import Split, SplitSource, TaskSpec, get_task, load_task_file

ANLI = {"format": "anli_jsonl", "files": ["anli/R1/dev.jsonl"]}
SNLI = {
    "format": "snli_jsonl",
    "files": ["snli_1.0/snli_1.0_dev.jsonl"],
    "hub": {"path": "stanfordnlp/snli", "split": "validation", "converter": "pair"},
}


def nli_task(**splits) -> dict:
    return {
        "task": "t",
        "task_type": "classification",
        "description": "d",
        "layout": "english",
        "metric": "accuracy",
        "labels": ["entailment", "neutral", "contradiction"],
        "splits": splits,
    }


def test_one_source_mapping_and_a_list_of_sources_are_both_splits():
    spec = TaskSpec.model_validate(nli_task(train=[ANLI, SNLI], dev=ANLI))
    assert [source.format for source in spec.splits["train"].sources] == ["anli_jsonl", "snli_jsonl"]
    assert spec.splits["train"].files == ["anli/R1/dev.jsonl", "snli_1.0/snli_1.0_dev.jsonl"]
    assert spec.splits["dev"] == Split(sources=[SplitSource(**ANLI)])
    assert TaskSpec.model_validate(spec.model_dump()) == spec, "a dumped spec validates back (task_overrides, Ray)"


def test_existing_task_files_keep_their_one_source_form():
    spec = get_task("panx")
    assert [len(split.sources) for split in spec.splits.values()] == [1, 1, 1]
    assert spec.splits["dev"].sources[0].hub.name == "PAN-X.{lang}"


@pytest.mark.parametrize(
    ("splits", "fragment"),
    [
        ({"train": [], "dev": ANLI}, "at least 1 item"),
        ({"train": [ANLI, {"format": "snli_jsonl"}], "dev": ANLI}, "files"),
        ({"train": [ANLI, {**ANLI, "extra": 1}], "dev": ANLI}, "extra"),
    ],
)
def test_bad_sources_are_rejected_naming_the_field(tmp_path, splits, fragment):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(nli_task(**splits)), encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load_task_file(path)


def test_labels_come_inline_or_from_a_labels_file_not_both():
    task = nli_task(train=ANLI, dev=ANLI)
    with pytest.raises(ValueError, match="either `labels` or `labels_file`"):
        TaskSpec.model_validate({**task, "labels_file": "nli/labels.json"})
    with pytest.raises(ValueError, match="needs a `labels` list or a `labels_file`"):
        TaskSpec.model_validate({**task, "labels": None})
    assert TaskSpec.model_validate({**task, "labels": None, "labels_file": "nli/labels.json"}).labels is None
