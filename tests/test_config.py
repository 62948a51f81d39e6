"""Sweep configuration: validation at the boundary, overrides, YAML's 1e-5 trap."""

import warnings
from pathlib import Path

import pytest

from sweeper.config import SweepConfig, apply_overrides, check_benchmark, load_config
from sweeper.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
MINIMAL = """
name: t
model: tiny-xlmr
intermediate_tasks: [none]
target_tasks: [panx]
param_space: {learning_rate: [1e-5, 3e-5]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_exponent_strings_become_floats(tmp_path):
    # PyYAML reads 1e-5 (no dot) as the string "1e-5"; the config must still see a float.
    config = load_config(write(tmp_path, MINIMAL))
    assert config.param_space.learning_rate == [1e-5, 3e-5]


def test_non_positive_learning_rate_is_rejected_with_its_location(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, MINIMAL.replace("[1e-5, 3e-5]", "[1e-5, -3]")))
    assert "param_space.learning_rate.1" in str(error.value)
    assert "greater than 0" in str(error.value)


def test_non_numeric_learning_rate_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="param_space.learning_rate.0"):
        load_config(write(tmp_path, MINIMAL.replace("[1e-5, 3e-5]", "[fast]")))


def test_unknown_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, MINIMAL + "targt: {learning_rate: 1e-5}\n"))
    assert "targt: unknown key. Did you mean 'target'?" in str(error.value)


def test_unknown_nested_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'warmup_ratio'"):
        load_config(write(tmp_path, MINIMAL + "target: {warmup_ration: 0.1}\n"))


def test_overrides_are_parsed_as_yaml_and_nested(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), ["target.max_seq_length=64", "param_space.seed=[1, 2]"])
    assert config.target.max_seq_length == 64
    assert config.param_space.seed == [1, 2]


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["target.learning_rate"])


def test_training_overrides_apply_per_task(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "training_overrides: {panx: {num_train_epochs: 10}}\n"))
    assert config.stage_training("target", "panx").num_train_epochs == 10
    assert config.stage_training("target", "tydiqa").num_train_epochs == config.target.num_train_epochs


def test_training_override_with_unknown_setting_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'num_train_epochs'"):
        load_config(write(tmp_path, MINIMAL + "training_overrides: {panx: {num_train_epoch: 10}}\n"))


def test_asha_must_group_by_target_task(tmp_path):
    with pytest.raises(ConfigError, match="target_task"):
        load_config(write(tmp_path, MINIMAL + "scheduler: {group_by: [intermediate_task]}\n"))


@pytest.mark.parametrize("path", sorted((REPO / "search_spaces").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_search_spaces_are_valid(path):
    assert isinstance(load_config(path), SweepConfig)


def test_report_benchmark_defaults_to_xtreme_and_takes_xtreme_r(tmp_path):
    assert load_config(write(tmp_path, MINIMAL)).report.benchmark == "xtreme"
    assert load_config(write(tmp_path, MINIMAL + "report: {benchmark: xtreme_r}\n")).report.benchmark == "xtreme_r"
    assert load_config(write(tmp_path, MINIMAL), ["report.benchmark=xtreme_r"]).report.benchmark == "xtreme_r"


def test_unknown_report_benchmark_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, MINIMAL + "report: {benchmark: xtreme-r}\n"))
    message = str(error.value)
    assert "report.benchmark" in message
    assert "unknown benchmark 'xtreme-r'. Did you mean 'xtreme_r'? Known: xtreme, xtreme_r" in message


def test_unknown_report_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError, match="report.benchmak: unknown key. Did you mean 'benchmark'?"):
        load_config(write(tmp_path, MINIMAL + "report: {benchmak: xtreme}\n"))


def test_check_benchmark_for_the_report_command():
    assert check_benchmark("xtreme_r") == "xtreme_r"
    with pytest.raises(ConfigError, match="Did you mean 'xtreme'"):
        check_benchmark("xtrme")


def test_a_default_config_serializes_without_pydantic_warnings():
    """Every sweep dumps its configuration (config.json, MLflow params): a default whose type is not
    the field's (``gpus_per_worker = 0``, an int) made pydantic warn in every run's console."""
    config = load_config(REPO / "search_spaces" / "smoke.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config.model_dump()
        config.model_dump(mode="json")
