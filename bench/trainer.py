"""bench/trainer.py: sweeper's trainer (``sweeper.training.run_trainer``, the HF Trainer as a target
stage runs it) against a bare PyTorch loop on the same model, PAN-X English features, collator and
batch size: optimizer steps/s and model FLOPs utilisation (MFU) over ``--steps`` steps after
``--warmup`` steps. Goal on a GPU: sweeper ≥ 0.97× the bare loop.

    python bench/trainer.py --model tiny --steps 5 --warmup 2           # CPU smoke (CI)
    python bench/trainer.py --model xlmr-large --steps 200 --warmup 20  # on a GPU

``--only sweeper`` with ``--barrier DIR --workers N --index I`` is one process of bench/packing.py:
after its warm-up it waits until all N processes are warm, then measures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common


class CountingCollator:
    """The task's collator, counting padded tokens and Σ length² of the batches it builds."""

    def __init__(self, collator):
        self._collator = collator
        self.batches = self.tokens = self.squared = 0

    def __call__(self, features):
        batch = self._collator(features)
        rows, length = batch["input_ids"].shape
        self.batches += 1
        self.tokens += rows * length
        self.squared += rows * length * length
        return batch


def _wait_for_peers(barrier: Path, index: int, workers: int, timeout_s: float = 300) -> None:
    barrier.mkdir(parents=True, exist_ok=True)
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + timeout_s
    while len(list(barrier.glob("ready-*"))) < workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(list(barrier.glob('ready-*')))} of {workers} packed processes got ready")
        time.sleep(0.05)


def run_sweeper(args, model, features, collator) -> dict:
    """Steps/s of ``run_trainer`` between step ``warmup`` and ``warmup + steps`` (training stopped there)."""
    from transformers import TrainerCallback

    from sweeper.config import TrainingConfig
    from sweeper.training.trainer import TaskEvaluationTrainer, run_trainer

    marks: dict[str, float] = {}

    class Window(TrainerCallback):
        def on_step_end(self, targs, state, control, **kwargs):
            if state.global_step == args.warmup:
                if args.barrier:
                    _wait_for_peers(Path(args.barrier), args.index, args.workers)
                marks["start"] = common.now()
            elif state.global_step == args.warmup + args.steps:
                marks["end"] = common.now()
                control.should_training_stop = True

    def make_trainer(**kwargs):
        trainer = TaskEvaluationTrainer(**kwargs)
        trainer.add_callback(Window())
        return trainer

    settings = TrainingConfig(
        per_device_train_batch_size=args.batch,
        learning_rate=2e-5,
        max_steps=args.warmup + args.steps + 1,
        eval_steps=args.warmup + args.steps + 1,
        max_seq_length=args.max_seq_length,
        seed=1,
    )
    with tempfile.TemporaryDirectory() as output:
        run_trainer(
            model,
            features,
            [],
            collator,
            lambda trained: {"score": 0.0},
            settings,
            Path(output),
            lambda *report: None,
            label="panx",
            make_trainer=make_trainer,
        )
    return {"steps_per_s": args.steps / (marks["end"] - marks["start"])}


def run_bare(args, model, features, collator) -> dict:
    """The same steps in a bare loop: DataLoader (shuffled, pinned), fused AdamW, bf16 autocast on a
    GPU, gradient clipping at 1.0, linear warm-up and decay."""
    import torch

    gpu = torch.cuda.is_available()
    loader = torch.utils.data.DataLoader(
        features,
        batch_size=args.batch,
        shuffle=True,
        collate_fn=collator,
        pin_memory=gpu,
        generator=torch.Generator().manual_seed(1),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, fused=gpu)
    total = args.warmup + args.steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / (0.1 * total), (total - step) / (0.9 * total))
    )
    model.train()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=gpu and torch.cuda.is_bf16_supported())
    step, start = 0, None
    while step < total:
        for batch in loader:
            if step == args.warmup:
                start = common.now()
            batch = {key: value.to(model.device, non_blocking=True) for key, value in batch.items()}
            with autocast:
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step == total:
                break
    return {"steps_per_s": args.steps / (common.now() - start)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", choices=common.MODEL_CHOICES)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--train-examples", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", choices=["sweeper", "bare"], default=None)
    parser.add_argument("--barrier", default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForTokenClassification

    from sweeper.task_types import get_task_type
    from sweeper.task_types.base import classifier_kwargs

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = common.panx_spec()
    task_type = get_task_type(spec.task_type)
    tokenizer = common.load_tokenizer()
    from sweeper.config import TrainingConfig

    features = task_type.train_features(
        common.panx_examples("train", "en", args.train_examples),
        tokenizer,
        spec,
        TrainingConfig(max_seq_length=args.max_seq_length),
    )
    result = {
        "bench": "trainer",
        "model": args.model,
        "gpu": common.gpu_name(),
        "batch": args.batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "threads": torch.get_num_threads(),
        "features": len(features),
    }
    for side in ("sweeper", "bare"):
        if args.only not in (None, side):
            continue
        model = common.build_model(args.model, AutoModelForTokenClassification, **classifier_kwargs(spec))
        collator = CountingCollator(task_type.collator(tokenizer))
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        figures = (run_sweeper if side == "sweeper" else run_bare)(args, model, features, collator)
        tokens_per_step = collator.tokens / collator.batches
        flops_per_step = common.training_flops(model, collator.tokens, collator.squared) / collator.batches
        figures |= {
            "mean_padded_length": round(collator.tokens / collator.batches / args.batch, 1),
            "tokens_per_s": figures["steps_per_s"] * tokens_per_step,
            "mfu": common.mfu(figures["steps_per_s"] * flops_per_step),
        }
        if torch.cuda.is_available():
            figures["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result[side] = figures
        print(
            f"{side}: {figures['steps_per_s']:.2f} steps/s, {figures['tokens_per_s']:,.0f} tokens/s, MFU {figures['mfu']}",
            flush=True,
        )
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if "sweeper" in result and "bare" in result:
        result["ratio"] = result["sweeper"]["steps_per_s"] / result["bare"]["steps_per_s"]
        print(f"sweeper / bare: {result['ratio']:.3f} (goal on a GPU: >= 0.97)")
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
