"""The memory probe: one training step's peak GPU memory at two micro-batches (needs a CUDA GPU).

A step is forward, backward and a fused AdamW step under the stage's autocast precision (as the
HF Trainer runs it: fp32 weights, bf16/fp16 autocast), on random token ids of the full
``max_seq_length`` (dynamic padding never exceeds it), every other row padded from half its
length (so attention takes the masked kernel path real batches take), measured with
``torch.cuda.max_memory_allocated`` after a first step has created the optimizer states. The two
peaks give :class:`sweeper.sweep.packing.MemoryModel`, cached on disk by
:func:`sweeper.sweep.packing.probe_key`. torch is imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sweeper.config import TrainingConfig
from sweeper.models.cache import cache_root
from sweeper.sweep.packing import (
    ARCHITECTURE_FIELDS,
    MemoryModel,
    architecture_key,
    probe_key,
    read_cached_probe,
    split_batch,
    usable_bytes,
    write_cached_probe,
)

#: The share of its GPU a trial holds (Ray's fractional ``num_gpus``), set by the Ray adapter for
#: the training process; absent: the whole GPU.
GPU_FRACTION_ENV = "SWEEPER_GPU_FRACTION"

#: Choices per example a multiple-choice head is probed with (CommonsenseQA has 5, the most of the tasks).
MULTIPLE_CHOICE_PROBE_CHOICES = 5
#: Micro-batches probed: the line through both gives the per-example bytes.
PROBE_BATCHES = (1, 8)


def _step_peak(model, optimizer, batch: int, seq_length: int, choices: int | None, dtype) -> int:
    import torch

    shape = (batch, choices, seq_length) if choices else (batch, seq_length)
    vocab = model.get_input_embeddings().num_embeddings
    input_ids = torch.randint(5, vocab, shape, device="cuda")
    # a padded batch, as dynamic padding gives: attention takes the masked (not the flash) kernel path,
    # which keeps more for the backward pass
    attention_mask = torch.ones_like(input_ids)
    attention_mask[..., seq_length // 2 :] = torch.arange(batch, device="cuda").remainder(2).view(-1, *[1] * (len(shape) - 1))
    for measured in (False, True):  # the first step creates AdamW's states
        if measured:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            outputs = model(input_ids=input_ids, attention_mask=attention_mask)
            logits = [value for key, value in outputs.items() if key.endswith("logits")]
            loss = sum(value.float().mean() for value in logits)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def probe_memory(
    build_model: Callable[[], object],
    seq_length: int,
    precision: str,
    choices: int | None = None,
    batches: tuple[int, int] = PROBE_BATCHES,
) -> MemoryModel:
    """Measure the :class:`MemoryModel` of training ``build_model()`` at ``seq_length`` tokens.

    Args:
        build_model: returns the model with its head (on the CPU or the GPU; moved to the GPU). Its
            weights are left unchanged (optimizer steps at learning rate 0), and so is the RNG.
        precision: ``bf16``, ``fp16`` or ``no`` (fp32), as resolved for the GPU.
        choices: multiple-choice heads: choices per example (inputs ``(batch, choices, seq)``).

    Raises:
        RuntimeError: no CUDA device is visible.
        torch.cuda.OutOfMemoryError: the larger probe batch does not fit (lower ``batches``).
    """
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("the memory probe needs a CUDA GPU; none is visible")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "no": None}[precision]
    model = build_model().to("cuda").train()
    # lr 0 and no weight decay: the steps leave the weights as they were (the model may be the one to train)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.0, weight_decay=0.0, fused=True)
    with torch.random.fork_rng(devices=[torch.cuda.current_device()]):  # dropout draws leave the RNG untouched
        peaks = [_step_peak(model, optimizer, batch, seq_length, choices, dtype) for batch in batches]
    name = torch.cuda.get_device_name()
    total = torch.cuda.get_device_properties(0).total_memory
    del optimizer
    torch.cuda.empty_cache()
    return MemoryModel.from_two_points(batches[0], peaks[0], batches[1], peaks[1], name, total)


def cached_probe(
    cache_root: Path,
    model: str,
    task_type: str,
    seq_length: int,
    precision: str,
    build_model: Callable[[], object],
    choices: int | None = None,
) -> MemoryModel:
    """:func:`probe_memory` once per (model, head type, sequence length, precision): read from
    ``cache_root`` when cached, else measured and stored there."""
    key = probe_key(model, task_type, seq_length, precision)
    cached = read_cached_probe(cache_root, key)
    if cached is not None:
        return cached
    memory = probe_memory(build_model, seq_length, precision, choices)
    write_cached_probe(cache_root, key, memory)
    return memory


def auto_micro_batch(model, settings: TrainingConfig, precision: str, choices: int | None = None) -> tuple[int, int]:
    """``(per_device_train_batch_size, gradient_accumulation_steps)`` for ``gradient_accumulation_steps: auto``.

    On a GPU: the memory probe of ``model`` at ``max_seq_length`` (cached under the sweeper cache
    root, :func:`sweeper.models.cache.cache_root`), then :func:`sweeper.sweep.packing.split_batch`
    of ``per_device_train_batch_size`` within this process's share of the GPU
    (:data:`GPU_FRACTION_ENV` × usable memory). On the CPU: the whole batch, no accumulation.

    Raises:
        ValueError: not even one example fits the share (the message says what to change).
    """
    import torch

    if not torch.cuda.is_available():
        return settings.per_device_train_batch_size, 1
    architecture = {name: getattr(model.config, name, None) for name in ARCHITECTURE_FIELDS}
    memory = cached_probe(
        cache_root(), architecture_key(architecture, choices), "train", settings.max_seq_length, precision, lambda: model, choices
    )
    share = int(usable_bytes(torch.cuda.get_device_properties(0).total_memory) * float(os.environ.get(GPU_FRACTION_ENV, "1")))
    return split_batch(settings.per_device_train_batch_size, share, memory)
