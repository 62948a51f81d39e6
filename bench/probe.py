"""bench/probe.py: the memory probe of a PAN-X target stage and the packing it gives.

On a GPU: :func:`sweeper.training.memory_probe.probe_memory` (two training steps' peaks → per-example and
fixed bytes) for a token-classification head at ``--max-seq-length``, its wall time, and
:func:`sweeper.sweep.packing.plan_packing` for the paper's batch (32, ``gradient_accumulation_steps:
auto``, ``gpus_per_worker: auto``), next to the analytic estimate ``sweeper plan`` uses without a GPU.
On the CPU (smoke): the estimate and its packing only.

    python bench/probe.py --model tiny                      # CPU smoke (CI): estimate only
    python bench/probe.py --model xlmr-large --max-seq-length 256
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", choices=common.MODEL_CHOICES)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForTokenClassification

    from sweeper.sweep.packing import GIB, XLMR_LARGE, estimate_memory, plan_packing
    from sweeper.task_types.base import classifier_kwargs

    spec = common.panx_spec()
    estimate = estimate_memory(XLMR_LARGE, args.max_seq_length, "bf16")
    result = {
        "bench": "probe",
        "model": args.model,
        "gpu": common.gpu_name(),
        "max_seq_length": args.max_seq_length,
        "estimate_xlmr_large": dataclasses.asdict(estimate),
        "estimate_packing": dataclasses.asdict(plan_packing(estimate, args.batch, None, None)),
    }
    del result["estimate_packing"]["memory"]
    if torch.cuda.is_available():
        from sweeper.training.memory_probe import probe_memory

        start = time.perf_counter()
        memory = probe_memory(
            lambda: common.build_model(args.model, AutoModelForTokenClassification, **classifier_kwargs(spec)),
            args.max_seq_length,
            "bf16",
        )
        result["probe_s"] = time.perf_counter() - start
        result["probe"] = dataclasses.asdict(memory)
        packing = {}
        for label, accumulation, trials in (("auto_auto", None, None), ("batch32_auto", 1, None), ("auto_8", None, 8)):
            try:
                plan = dataclasses.asdict(plan_packing(memory, args.batch, accumulation, trials))
                del plan["memory"]
                packing[label] = plan
            except ValueError as error:
                packing[label] = {"error": str(error)}
        result["probe_packing"] = packing
        print(
            f"probe ({result['probe_s']:.1f} s): fixed {memory.static_bytes / GIB:.2f} GiB + "
            f"{memory.per_example_bytes / GIB:.3f} GiB per example at {args.max_seq_length} tokens; "
            f"estimate: {estimate.static_bytes / GIB:.2f} GiB + {estimate.per_example_bytes / GIB:.3f} GiB"
        )
        for label, plan in packing.items():
            print(f"  {label}: {plan}")
    else:
        print(
            f"no GPU: estimate for XLM-R Large at {args.max_seq_length} tokens: {estimate.static_bytes / GIB:.2f} GiB + "
            f"{estimate.per_example_bytes / GIB:.3f} GiB per example; packing {result['estimate_packing']}"
        )
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
