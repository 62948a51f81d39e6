"""Mixed precision: the Trainer flags per setting and device, and the config check at the boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeper.config import load_config
from sweeper.errors import ConfigError
from sweeper.training.trainer import precision_arguments

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"


@pytest.mark.parametrize(
    ("setting", "cuda", "bf16_ok", "expected"),
    [
        ("auto", False, False, {"bf16": False, "fp16": False}),
        ("auto", True, True, {"bf16": True, "fp16": False}),
        ("auto", True, False, {"bf16": False, "fp16": True}),
        ("fp16", True, True, {"bf16": False, "fp16": True}),
        ("bf16", True, True, {"bf16": True, "fp16": False}),
        ("no", True, True, {"bf16": False, "fp16": False}),
    ],
)
def test_precision_flags_follow_setting_and_device(setting, cuda, bf16_ok, expected):
    assert precision_arguments(setting, cuda, bf16_ok) == expected


def test_forced_precision_without_a_usable_gpu_is_refused():
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        precision_arguments("fp16", False, False)
    with pytest.raises(ValueError, match="does not support bf16"):
        precision_arguments("bf16", True, False)


def test_config_refuses_forced_precision_on_cpu_resources():
    with pytest.raises(ConfigError, match=r"target\.mixed_precision is bf16.*resources\.use_gpu"):
        load_config(SMOKE, ["target.mixed_precision=bf16"])
    with pytest.raises(ConfigError, match=r"training_overrides\.panx\.mixed_precision is fp16"):
        load_config(SMOKE, ["training_overrides.panx.mixed_precision=fp16"])
    config = load_config(SMOKE, ["target.mixed_precision=bf16", "resources.use_gpu=true", "resources.gpus_per_worker=0.5"])
    assert config.stage_training("target", "panx").mixed_precision == "bf16"
