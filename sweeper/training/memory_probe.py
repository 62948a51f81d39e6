"""The memory probe: one training step's peak GPU memory at two micro-batches (needs a CUDA GPU).

A step is forward, backward and a fused AdamW step under the stage's autocast precision (as the
HF Trainer runs it: fp32 weights, bf16/fp16 autocast), on random token ids of the full
``max_seq_length`` (dynamic padding never exceeds it), measured with
``torch.cuda.max_memory_allocated`` after a first step has created the optimizer states. The two
peaks give :class:`sweeper.sweep.packing.MemoryModel`, cached on disk by
:func:`sweeper.sweep.packing.probe_key`. torch is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sweeper.sweep.packing import MemoryModel, probe_key, read_cached_probe, write_cached_probe

#: Micro-batches probed: the line through both gives the per-example bytes.
PROBE_BATCHES = (1, 8)


def _step_peak(model, optimizer, batch: int, seq_length: int, choices: int | None, dtype) -> int:
    import torch

    shape = (batch, choices, seq_length) if choices else (batch, seq_length)
    vocab = model.get_input_embeddings().num_embeddings
    input_ids = torch.randint(5, vocab, shape, device="cuda")
    attention_mask = torch.ones_like(input_ids)
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


def probe_memory(build_model: Callable[[], object], seq_length: int, precision: str, choices: int | None = None,
                 batches: tuple[int, int] = PROBE_BATCHES) -> MemoryModel:
    """Measure the :class:`MemoryModel` of training ``build_model()`` at ``seq_length`` tokens.

    Args:
        build_model: returns the model with its head (on the CPU or the GPU; moved to the GPU).
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
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)
    peaks = [_step_peak(model, optimizer, batch, seq_length, choices, dtype) for batch in batches]
    name = torch.cuda.get_device_name()
    total = torch.cuda.get_device_properties(0).total_memory
    del model, optimizer
    torch.cuda.empty_cache()
    return MemoryModel.from_two_points(batches[0], peaks[0], batches[1], peaks[1], name, total)


def cached_probe(cache_root: Path, model: str, task_type: str, seq_length: int, precision: str,
                 build_model: Callable[[], object], choices: int | None = None) -> MemoryModel:
    """:func:`probe_memory` once per (model, head type, sequence length, precision): read from
    ``cache_root`` when cached, else measured and stored there."""
    key = probe_key(model, task_type, seq_length, precision)
    cached = read_cached_probe(cache_root, key)
    if cached is not None:
        return cached
    memory = probe_memory(build_model, seq_length, precision, choices)
    write_cached_probe(cache_root, key, memory)
    return memory
