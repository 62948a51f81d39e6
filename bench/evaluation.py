"""bench/evaluation.py: sweeper's zero-shot evaluation against a bare inference loop, PAN-X dev.

sweeper, four ways, on the same model and languages:
- ``zero-shot``: the target stage's :func:`~sweeper.training.zero_shot.evaluate_zero_shot` on a
  warm feature cache (every trial of a target after the first): per language, read the examples and
  the cached features, infer on the device, and decode + score with seqeval + write the predictions
  in a background thread while the next language is inferred. Goal: ≥ 0.9× bare.
- ``sequential``: the same steps one language after the other, host work not overlapped (what
  the stage did before the overlap).
- ``cold``: ``TaskType.evaluate`` from raw examples (tokenize, predict, decode, seqeval), what
  the first trial of a target pays without a feature cache.
- ``predict``: ``predict_logits`` alone on the pre-tokenized features (the device part).

Bare: the same pre-tokenized features, sorted by length, in batches of the same size under
``inference_mode`` and bf16 autocast (on a GPU), argmax on the device, one synchronisation at the
end. Data files are read before timing, except by ``zero-shot`` and ``sequential``, which read them
as the stage does.

    python bench/evaluation.py --model tiny --languages de fr --examples 200       # CPU smoke (CI)
    python bench/evaluation.py --model e5-small --threads 1 --languages ar de fr zh --examples 2000   # CPU, one core left to host work
    python bench/evaluation.py --model xlmr-large --languages ar de es fr hi ja ru zh --batch 256
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common


def bare_inference(model, features: list[dict], collator, batch_size: int) -> float:
    """Seconds of a bare batched inference loop over ``features`` (predicted labels kept on the device)."""
    import torch

    from sweeper.task_types.base import inference_autocast

    model.eval()
    ordered = sorted(features, key=lambda feature: len(feature["input_ids"]))
    gpu = model.device.type == "cuda"
    start = common.now()
    predictions = []
    with torch.inference_mode(), inference_autocast(model.device):
        for index in range(0, len(ordered), batch_size):
            batch = {
                key: (value.pin_memory() if gpu else value).to(model.device, non_blocking=True)
                for key, value in collator(ordered[index : index + batch_size]).items()
                if key != "labels"
            }
            predictions.append(model(**batch).logits.argmax(-1))
    return common.now() - start


def sequential_zero_shot(task_type, model, tokenizer, inputs, languages: list[str], limit: int | None) -> None:
    """The zero-shot stage's steps one language after the other, host work not overlapped: read the
    examples and the cached features, ``TaskType.evaluate`` (infer, decode, score), write."""
    from sweeper.data.sources import load_split
    from sweeper.training.inputs import evaluation_features

    split = inputs.task.zero_shot.split
    folder = inputs.output_dir / "sequential"
    folder.mkdir(parents=True)
    for language in languages:
        examples = load_split(inputs.task, split, inputs.data_dir, language, limit)
        features = evaluation_features(inputs, task_type, tokenizer, examples, split, language, limit)
        evaluation = task_type.evaluate(model, tokenizer, examples, inputs.task, inputs.settings, language, features)
        task_type.write_predictions(evaluation.predictions, folder / f"{split}-{language}.{task_type.prediction_suffix}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", choices=common.MODEL_CHOICES)
    parser.add_argument("--languages", nargs="+", default=["de", "fr"])
    parser.add_argument("--examples", type=int, default=200, help="dev sentences per language (0: all)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default); on the CPU, fewer than the cores leave some to the host work",
    )
    args = parser.parse_args(argv)

    import tempfile

    import torch
    from transformers import AutoModelForTokenClassification

    if args.threads:
        torch.set_num_threads(args.threads)

    from sweeper.cache.features import FeatureCache
    from sweeper.config import TrainingConfig, ZeroShotConfig
    from sweeper.task_types import get_task_type
    from sweeper.task_types.base import classifier_kwargs, feature_rows, predict_logits
    from sweeper.training.inputs import StageInputs
    from sweeper.training.zero_shot import evaluate_zero_shot

    # PAN-X without its leaderboard split: every side predicts the same dev sentences
    spec = common.panx_spec().model_copy(update={"submission": None})
    task_type = get_task_type(spec.task_type)
    tokenizer = common.load_tokenizer()
    settings = TrainingConfig(per_device_eval_batch_size=args.batch, max_seq_length=256)
    model = common.build_model(args.model, AutoModelForTokenClassification, **classifier_kwargs(spec))
    limit = args.examples or None
    examples = {language: common.panx_examples("dev", language, limit) for language in args.languages}
    features = {
        language: feature_rows(task_type.prediction_features(rows, tokenizer, spec, settings, language))
        for language, rows in examples.items()
    }
    collator = task_type.collator(tokenizer)
    warm = next(iter(features.values()))[: args.batch * 2]
    bare_inference(model, warm, collator, args.batch)  # kernels, allocator and autocast caches warm for both sides

    start = common.now()
    for language, rows in examples.items():
        task_type.evaluate(model, tokenizer, rows, spec, settings, language)
    cold_s = common.now() - start
    start = common.now()
    for rows in features.values():
        predict_logits(model, rows, collator, args.batch, ("logits",), per_token=True)
    predict_s = common.now() - start

    with tempfile.TemporaryDirectory(prefix="bench-evaluation-") as scratch:
        cache = FeatureCache(root=Path(scratch) / "cache", model={"tokenizer": common.tokenizer_dir()})
        zero_shot = ZeroShotConfig(languages=args.languages, max_examples_per_language=limit)
        inputs = StageInputs(
            common.tokenizer_dir(), None, spec, settings, common.DATA_DIR, Path(scratch) / "trial", feature_cache=cache
        )
        evaluate_zero_shot(model, tokenizer, inputs, zero_shot)  # untimed: fills the feature cache
        start = common.now()
        evaluate_zero_shot(model, tokenizer, inputs, zero_shot)
        zero_shot_s = common.now() - start
        start = common.now()
        sequential_zero_shot(task_type, model, tokenizer, inputs, args.languages, limit)
        sequential_s = common.now() - start
    bare_s = sum(bare_inference(model, rows, collator, args.batch) for rows in features.values())
    sentences = sum(len(rows) for rows in examples.values())
    seconds = {"zero_shot": zero_shot_s, "sequential": sequential_s, "cold": cold_s, "predict": predict_s}
    result = {
        "bench": "evaluation",
        "model": args.model,
        "gpu": common.gpu_name(),
        "languages": args.languages,
        "sentences": sentences,
        "batch": args.batch,
        **{f"sweeper_{name}_s": value for name, value in seconds.items()},
        "bare_s": bare_s,
        **{f"ratio_{name}": bare_s / value for name, value in seconds.items()},
        "overlap_speedup": sequential_s / zero_shot_s,
        "threads": torch.get_num_threads(),
    }
    print(
        f"{sentences:,} sentences: sweeper zero-shot {zero_shot_s:.2f} s (warm feature cache, host work overlapped), "
        f"sequential {sequential_s:.2f} s, cold {cold_s:.2f} s (tokenize + predict + seqeval), "
        f"predict_logits {predict_s:.2f} s, bare loop {bare_s:.2f} s"
    )
    print(
        f"speed vs bare: zero-shot {result['ratio_zero_shot']:.2f}× (goal >= 0.9), sequential {result['ratio_sequential']:.2f}×, "
        f"cold {result['ratio_cold']:.2f}×, predict {result['ratio_predict']:.2f}×; overlap {result['overlap_speedup']:.2f}× sequential"
    )
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
