"""Progress bars of long loops: log lines off a terminal, chunked tokenization, zero-shot languages."""

import io
import time

import pytest

from sweeper.config import TrainingConfig
from sweeper.data.sources import load_split
from sweeper.progress.bars import Progress
from sweeper.registry import get_task
from sweeper.task_types import base, get_task_type


def test_interval_zero_prints_a_line_per_step_with_its_note():
    stream = io.StringIO()
    with Progress("zero-shot panx test", 3, "language", interval_s=0, stream=stream) as progress:
        for language, score in (("de", 41.2), ("fi", 38.0), ("zh", 12.5)):
            progress.advance(note=f"{language} f1 {score}")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, "close adds nothing after the last step's line"
    assert lines[0].startswith("zero-shot panx test:  33%|") and "| 1/3 [" in lines[0] and lines[0].endswith("de f1 41.2]")
    assert lines[2].startswith("zero-shot panx test: 100%|") and "| 3/3 [" in lines[2] and lines[2].endswith("zh f1 12.5]")


def test_a_loop_quicker_than_the_interval_prints_nothing():
    stream = io.StringIO()
    with Progress("tokenizing panx", 10_000, "example", interval_s=30, stream=stream) as progress:
        for _ in range(10):
            progress.advance(1000)
    assert stream.getvalue() == ""


def test_a_slow_loop_prints_at_most_one_line_per_interval_and_a_last_one():
    stream = io.StringIO()
    with Progress("tokenizing mnli", 6, "example", interval_s=0.2, stream=stream) as progress:
        for _ in range(6):
            time.sleep(0.06)
            progress.advance()
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 3, lines  # after ~0.24 s (and maybe ~0.48 s), then the end
    assert lines[-1].startswith("tokenizing mnli: 100%|") and "| 6/6 [" in lines[-1]


@pytest.mark.parametrize(
    ("task_id", "split", "language"),
    [("tydiqa", "dev", "sw"), ("panx", "dev", "de"), ("anli", "dev", "en"), ("hellaswag", "dev", "en")],
)
def test_tokenizing_in_chunks_gives_the_same_features(monkeypatch, xlmr_tokenizer, data_dir, task_id, split, language):
    spec = get_task(task_id)
    examples = load_split(spec, split, data_dir, language, limit=30)
    settings = TrainingConfig(max_seq_length=64, doc_stride=16, max_query_length=16)
    task_type = get_task_type(spec.task_type)
    whole = task_type.train_features(examples, xlmr_tokenizer, spec, settings)
    monkeypatch.setattr(base, "CHUNK_EXAMPLES", 7)
    chunked = task_type.train_features(examples, xlmr_tokenizer, spec, settings)
    assert len(whole) > len(examples) if task_id == "tydiqa" else len(whole) == len(examples)  # QA: several windows
    assert chunked == whole
