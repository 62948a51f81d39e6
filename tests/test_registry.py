"""Contract suite over every task file in tasks/, plus sweep validation before launch."""

from pathlib import Path

import pytest

from sweeper.config import load_config
from sweeper.data.sources import load_split, split_files
from sweeper.errors import ConfigError, MissingDataError, UnknownTaskError
from sweeper.registry import all_tasks, get_task
from sweeper.sweep.grid import intermediate_stages
from sweeper.sweep.validation import validate_sweep
from sweeper.task_types import get_task_type

TASKS = sorted(all_tasks())


@pytest.mark.parametrize("task_id", TASKS)
def test_task_file_contract(task_id):
    spec = get_task(task_id)
    task_type = get_task_type(spec.task_type)
    if spec.zero_shot:
        assert spec.zero_shot.languages == sorted(spec.zero_shot.languages), "languages sorted (ISO 639-1)"
        assert all(len(language) == 2 for language in spec.zero_shot.languages)
    for split, source in spec.splits.items():
        assert source.files, split
    assert task_type.trainable or spec.zero_shot is not None


@pytest.mark.parametrize("task_id", TASKS)
def test_english_dev_loads_from_real_data_when_present(task_id, data_dir):
    spec = get_task(task_id)
    if "dev" not in spec.splits:
        pytest.skip(f"{task_id} is a retrieval task without an English dev split")
    if not all(path.is_file() for path in split_files(spec, "dev", data_dir, "en")):
        pytest.skip(f"{task_id} dev data is not available offline")
    examples = load_split(spec, "dev", data_dir, "en", limit=5)
    assert len(examples) == 5
    assert all("id" in example for example in examples)


def test_unknown_task_has_did_you_mean():
    with pytest.raises(UnknownTaskError, match="Did you mean 'tydiqa'"):
        get_task("tydiq")


def sweep(tmp_path: Path, body: str, overrides=()):
    path = tmp_path / "sweep.yaml"
    path.write_text("name: t\nmodel: tiny-xlmr\nparam_space: {learning_rate: [1e-4]}\n" + body, encoding="utf-8")
    return load_config(path, list(overrides))


def test_validation_names_missing_language_files_and_the_layout(tmp_path, data_dir):
    # PAN-X dev-th.tsv is absent from the offline data: asking for all 40 languages must fail early.
    config = sweep(tmp_path, "intermediate_tasks: [none]\ntarget_tasks: [panx]\n")
    with pytest.raises(MissingDataError) as error:
        validate_sweep(config, data_dir)
    message = str(error.value)
    assert "panx/dev-th.tsv" in message
    assert "Expected layout: <data-dir>/xtreme/panx/dev-{lang}.tsv" in message


def test_validation_rejects_missing_training_data(tmp_path, data_dir):
    # ANLI's train files are not available offline (only the dev rounds).
    config = sweep(tmp_path, "intermediate_tasks: [anli]\ntarget_tasks: [tydiqa]\n")
    with pytest.raises(MissingDataError, match="anli/R1/train.jsonl"):
        validate_sweep(config, data_dir)


def test_validation_rejects_an_intermediate_only_task_as_target(tmp_path, data_dir):
    config = sweep(tmp_path, "intermediate_tasks: [none]\ntarget_tasks: [anli]\n")
    with pytest.raises(ConfigError, match="no zero_shot languages"):
        validate_sweep(config, data_dir)


def test_validation_rejects_unknown_language_codes(tmp_path, data_dir):
    config = sweep(tmp_path, "intermediate_tasks: [none]\ntarget_tasks: [tydiqa]\nzero_shot: {languages: [en, sww]}\n")
    with pytest.raises(ConfigError, match="'sww'.*Did you mean 'sw'"):
        validate_sweep(config, data_dir)


def test_intermediate_stage_key_changes_with_its_settings(tmp_path):
    body = "intermediate_tasks: [none, anli]\ntarget_tasks: [tydiqa]\n"
    first = intermediate_stages(sweep(tmp_path, body))
    same = intermediate_stages(sweep(tmp_path, body, ["target.learning_rate=1e-3"]))
    other = intermediate_stages(sweep(tmp_path, body, ["intermediate.learning_rate=1e-3"]))
    assert [stage.task.task for stage in first] == ["anli"]
    assert first[0].key == same[0].key, "target settings must not change the intermediate cache key"
    assert first[0].key != other[0].key
