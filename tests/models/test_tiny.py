"""Tests of the tiny random XLM-R used by unit and CI tests (real builds, no mocks)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer, PreTrainedTokenizerFast

from sweeper.models.tiny import build_tiny_xlmr, tiny_model_dir_name


def test_tiny_config_and_folder(model_cache: Path, tiny_dir: Path) -> None:
    assert tiny_dir == model_cache / "models" / "tiny-xlmr-h32-l2"
    config = AutoConfig.from_pretrained(tiny_dir)
    assert config.model_type == "xlm-roberta"
    assert (config.vocab_size, config.max_position_embeddings, config.type_vocab_size) == (250002, 514, 1)
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (1, 0, 2)
    sizes = (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size)
    assert sizes == (32, 2, 2, 64)


def test_tiny_is_deterministic_for_a_seed(model_cache: Path, tiny_dir: Path, tmp_path: Path) -> None:
    first = load_file(tiny_dir / "model.safetensors")
    shutil.move(tiny_dir, tmp_path / "first")  # force a rebuild into the same place
    start = time.perf_counter()
    assert build_tiny_xlmr(model_cache) == tiny_dir
    rebuild_s = time.perf_counter() - start
    second = load_file(tiny_dir / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert rebuild_s < 20, f"tiny rebuild took {rebuild_s:.1f} s"

    other = build_tiny_xlmr(model_cache, seed=1)
    assert other.name == tiny_model_dir_name(seed=1) == "tiny-xlmr-h32-l2-a2-i64-s1"
    other_weights = load_file(other / "model.safetensors")
    key = "embeddings.word_embeddings.weight"
    assert not torch.equal(first[key], other_weights[key])


def test_tiny_build_leaves_global_rng_alone(model_cache: Path, e5_dir: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_xlmr(model_cache, hidden_size=16, num_hidden_layers=1, num_attention_heads=4)
    assert torch.equal(torch.rand(3), expected)


def test_tiny_forward_with_real_tokenizer(tiny_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer("Hello world")["input_ids"] == [0, 35378, 8999, 2]
    model = AutoModelForTokenClassification.from_pretrained(tiny_dir, num_labels=7).eval()
    texts = ["Hello world", "Guten Morgen, wie geht's?", "你好，世界", "<mask> مرحبا بالعالم"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert int(batch["input_ids"].max()) == 250001  # <mask>, the largest id, is a valid embedding row
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (len(texts), batch["input_ids"].shape[1], 7)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_size": 30, "num_attention_heads": 4}, "multiple of num_attention_heads"),
        ({"num_hidden_layers": 0}, "positive"),
    ],
)
def test_tiny_rejects_bad_sizes(model_cache: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_tiny_xlmr(model_cache, **kwargs)
