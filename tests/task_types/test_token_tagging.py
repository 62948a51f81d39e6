"""Zero-shot tagging predicts every word, also of sentences longer than max_seq_length (tiny XLM-R,
real PAN-X Japanese dev sentences, which XTREME tokenises into characters)."""

from __future__ import annotations

import logging

from transformers import AutoTokenizer

from sweeper.config import TrainingConfig
from sweeper.data.sources import load_split
from sweeper.registry import get_task
from sweeper.task_types import get_task_type


def test_long_sentences_get_a_label_for_every_word_and_the_run_logs_them(tiny_dir, data_dir, caplog):
    spec = get_task("panx")
    task_type = get_task_type("token_tagging")
    examples = load_split(spec, "dev", data_dir, "ja", 40)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    model = task_type.auto_model_class().from_pretrained(tiny_dir, **task_type.model_kwargs(spec))
    settings = TrainingConfig(max_seq_length=24, doc_stride=8, per_device_eval_batch_size=8)
    pieces = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    long_sentences = sum(len(ids) > 22 for ids in pieces)  # 24 tokens = <s> + 22 pieces + </s>
    assert long_sentences > 5
    with caplog.at_level(logging.WARNING, logger="sweeper.task_types.token_tagging"):
        predictions = task_type.predict(model, tokenizer, examples, spec, settings, "ja")
    assert [len(labels) for labels in predictions] == [len(e["tokens"]) for e in examples]
    assert all(label in spec.labels for labels in predictions for label in labels)
    assert f"panx/ja: {long_sentences} of {len(examples)} sentence(s) longer than max_seq_length=24" in caplog.text
