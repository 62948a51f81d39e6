"""bench/packing.py: aggregate optimizer steps/s of 1, 2, 4 and 8 packed trials on one GPU.

Each trial is a separate process running sweeper's trainer (``bench/trainer.py --only sweeper``)
on PAN-X English at the paper's batch, with ``cpus // N`` CPU threads (as Ray's ``cpus_per_worker``
would give it); all N processes warm up, wait for each other, then measure the same number of steps
concurrently. The aggregate is the sum of their steps/s; the speedup is against N = 1 (one trial
per GPU). Goal on a GPU: ≥ 5× at the paper's PAN-X settings.

    python bench/packing.py --model tiny --counts 1 2 --steps 3 --warmup 1     # CPU smoke (CI)
    python bench/packing.py --model xlmr-large --counts 1 2 4 8 --steps 150    # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common

TRAINER = Path(__file__).resolve().parent / "trainer.py"


def run_packed(args, count: int) -> dict:
    threads = max(1, args.cpus // count)
    with tempfile.TemporaryDirectory() as barrier:
        commands = [
            [
                sys.executable,
                str(TRAINER),
                "--only",
                "sweeper",
                "--model",
                args.model,
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
                "--batch",
                str(args.batch),
                "--train-examples",
                str(args.train_examples),
                "--threads",
                str(threads),
                "--barrier",
                barrier,
                "--workers",
                str(count),
                "--index",
                str(index),
            ]
            for index in range(count)
        ]
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "BENCH_JSON_OUT": ""}
        logs = [Path(barrier) / f"stderr-{index}.log" for index in range(count)]
        processes = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=environment)
            for command, log in zip(commands, logs)
        ]
        outputs = [process.communicate(timeout=args.timeout_s)[0] for process in processes]
        failed = [index for index, process in enumerate(processes) if process.returncode]
        if failed:
            print(logs[failed[0]].read_text()[-3000:], file=sys.stderr)
            raise SystemExit(f"{len(failed)} of {count} packed processes failed (exit {processes[failed[0]].returncode})")
    rates = [
        json.loads(line.removeprefix("BENCH_JSON "))["sweeper"]
        for output in outputs
        for line in output.splitlines()
        if line.startswith("BENCH_JSON ")
    ]
    figures = {
        "trials": count,
        "threads_per_trial": threads,
        "aggregate_steps_per_s": sum(r["steps_per_s"] for r in rates),
        "per_trial_steps_per_s": [round(r["steps_per_s"], 3) for r in rates],
        "peak_memory_gib_per_trial": max((r.get("peak_memory_gib") or 0) for r in rates),
    }
    print(
        f"{count} trial(s) per GPU, {threads} thread(s) each: aggregate {figures['aggregate_steps_per_s']:.2f} steps/s "
        f"(per trial {figures['per_trial_steps_per_s']})",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", choices=common.MODEL_CHOICES)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--train-examples", type=int, default=4000)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--timeout-s", type=float, default=600)
    args = parser.parse_args(argv)
    runs = [run_packed(args, count) for count in args.counts]
    single = next((run["aggregate_steps_per_s"] for run in runs if run["trials"] == 1), None)
    for run in runs:
        run["speedup_vs_one_per_gpu"] = None if single is None else run["aggregate_steps_per_s"] / single
    result = {"bench": "packing", "model": args.model, "gpu": _gpu(), "batch": args.batch, "steps": args.steps, "runs": runs}
    if single is not None:
        best = max(runs, key=lambda run: run["aggregate_steps_per_s"])
        print(f"best: {best['trials']} trials per GPU, {best['speedup_vs_one_per_gpu']:.2f}× one trial per GPU (goal >= 5)")
    common.emit(result)
    return result


def _gpu() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


if __name__ == "__main__":
    main()
