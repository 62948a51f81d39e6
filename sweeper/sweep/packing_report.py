"""The GPU packing section of ``sweeper plan`` (pure: no torch, no Ray).

Per trained target: the micro-batch × accumulation it will run, the peak memory of a training
step (a cached probe from :mod:`sweeper.training.memory_probe`, or the analytic estimate of
:func:`sweeper.sweep.packing.estimate_memory` where none is cached: what a laptop without a GPU
sees), trials per GPU, Ray's ``num_gpus`` and the trials an 8-GPU node runs at once; and the
GPU-hours of the targets' training against one trial per GPU, scaled by training tokens from the
throughput measured on an H200 (:data:`sweeper.sweep.packing.H200_XLMR_LARGE`).
"""

from __future__ import annotations

from collections.abc import Mapping

from sweeper.config import SweepConfig
from sweeper.sweep.packing import GIB, H200_XLMR_LARGE, Packing, Throughput

#: GPUs per node the plan counts concurrent trials for (the paper's setting: one 8-GPU node).
NODE_GPUS = 8


def packing_lines(
    config: SweepConfig,
    packings: Mapping[str, Packing | str],
    target_tokens: Mapping[str, int | None],
    throughput: Throughput = H200_XLMR_LARGE,
) -> list[str]:
    """Markdown lines of the packing section.

    Args:
        packings: trained target → its packing or why it has none (:func:`sweeper.sweep.packing.target_packings`).
        target_tokens: trained target → training tokens of all its trials still to train (upper
            bound), ``None`` when data-dependent.
    """
    resources = config.resources
    mode = (
        f"trials_per_gpu: {resources.trials_per_gpu}"
        if resources.trials_per_gpu
        else "gpus_per_worker: auto"
        if resources.gpus_per_worker == "auto"
        else f"gpus_per_worker: {resources.gpus_per_worker or 1} (no packing)"
    )
    lines = [
        "",
        f"## GPU packing ({mode})",
        "",
        (
            f"| target | micro-batch × accumulation | peak per trial | trials per GPU | Ray num_gpus | trials per {NODE_GPUS}-GPU node "
            "| GPU-hours packed | GPU-hours at 1 trial/GPU |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    packed_total = single_total = 0.0
    unknown = []
    for target, packing in packings.items():
        if isinstance(packing, str):
            lines.append(f"| {target} | – | – | – | – | – | {packing} | – |")
            continue
        tokens = target_tokens.get(target)
        if tokens is None:
            unknown.append(target)
            hours = ("data-dependent", "data-dependent")
        else:
            packed, single = throughput.gpu_hours(tokens, packing.trials_per_gpu), throughput.gpu_hours(tokens, 1)
            packed_total, single_total = packed_total + packed, single_total + single
            hours = (f"{packed:,.1f}", f"{single:,.1f}")
        lines.append(
            f"| {target} | {packing.micro_batch} × {packing.accumulation} | {packing.peak_bytes / GIB:.1f} GiB "
            f"({packing.memory.source}) | {packing.trials_per_gpu} | {packing.num_gpus:g} | "
            f"{packing.trials_per_gpu * NODE_GPUS} | {hours[0]} | {hours[1]} |"
        )
    known = [target for target in packings if target not in unknown and not isinstance(packings[target], str)]
    lines += [
        "",
        (
            f"**GPU-hours of the target trials** ({len(known)} of {len(packings)} targets counted"
            f"{'; data-dependent: ' + ', '.join(unknown) if unknown else ''}): {packed_total:,.1f} packed against "
            f"{single_total:,.1f} at one trial per GPU (upper bound: tokens at max_seq_length)."
        ),
        "",
        (
            "Peak: one training step at max_seq_length; `probe` = measured on a GPU and cached, `estimate` = analytic "
            "(no probe cached; a GPU run of the sweep probes and caches it). GPU-hours scale training tokens by the "
            f"throughput measured by bench/packing.py ({throughput.source}); packed trials share that GPU's speedup."
        ),
    ]
    return lines
