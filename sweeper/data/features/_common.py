"""Checks and constants shared by the featurizers of :mod:`sweeper.data.features`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
"""Label of tokens the loss skips (``torch.nn.CrossEntropyLoss`` default ``ignore_index``)."""


def lookup_label(mapping: Mapping, key: Any, where: str) -> Any:
    """``mapping[key]``, or a ValueError naming the known keys and where the key came from."""
    try:
        return mapping[key]
    except KeyError:
        known = ", ".join(repr(k) for k in sorted(mapping, key=str))
        raise ValueError(f"{where}: unknown label {key!r}; known labels: {known}.") from None


def check_not_empty(examples: Sequence[Mapping[str, Any]]) -> None:
    if not examples:
        raise ValueError("Got no examples to featurize; pass at least one example.")


def check_fast(tokenizer: PreTrainedTokenizerBase) -> None:
    if not tokenizer.is_fast:
        raise ValueError(
            f"{type(tokenizer).__name__} is a slow tokenizer; offsets and word ids need a fast one "
            "(load it with AutoTokenizer.from_pretrained(..., use_fast=True))."
        )


def check_max_length(tokenizer: PreTrainedTokenizerBase, max_seq_length: int) -> None:
    if not 0 < max_seq_length <= tokenizer.model_max_length:
        raise ValueError(
            f"The value of `max_seq_length` is {max_seq_length}, but must be in "
            f"[1, {tokenizer.model_max_length}] (the tokenizer's model_max_length)."
        )
