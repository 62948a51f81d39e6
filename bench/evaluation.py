"""bench/evaluation.py: sweeper's zero-shot evaluation against a bare inference loop, PAN-X dev.

sweeper: ``TaskType.evaluate`` per language, as a target stage's zero-shot runs it (tokenize,
predict with ``predict_logits``, map to word labels, seqeval); also ``predict_logits`` alone on the
pre-tokenized features. Bare: the same pre-tokenized features, sorted by length, in batches of the
same size under ``inference_mode`` and bf16 autocast (on a GPU), argmax on the device, one
synchronisation at the end. Data files are read before timing. Goal: sweeper ≥ 0.9× bare.

    python bench/evaluation.py --model tiny --languages de fr --examples 200       # CPU smoke (CI)
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", choices=["tiny", "xlmr-large"])
    parser.add_argument("--languages", nargs="+", default=["de", "fr"])
    parser.add_argument("--examples", type=int, default=200, help="dev sentences per language (0: all)")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForTokenClassification

    from sweeper.config import TrainingConfig
    from sweeper.data.features import align_tagging_labels
    from sweeper.task_types import get_task_type
    from sweeper.task_types.base import classifier_kwargs, feature_rows, label_maps, predict_logits

    spec = common.panx_spec()
    task_type = get_task_type(spec.task_type)
    tokenizer = common.load_tokenizer()
    settings = TrainingConfig(per_device_eval_batch_size=args.batch, max_seq_length=256)
    model = common.build_model(args.model, AutoModelForTokenClassification, **classifier_kwargs(spec))
    examples = {language: common.panx_examples("dev", language, args.examples or None) for language in args.languages}
    label_to_id, _ = label_maps(spec)
    features = {
        language: feature_rows(align_tagging_labels(rows, tokenizer, label_to_id, settings.max_seq_length))
        for language, rows in examples.items()
    }
    collator = task_type.collator(tokenizer)
    warm = next(iter(features.values()))[: args.batch * 2]
    bare_inference(model, warm, collator, args.batch)  # kernels, allocator and autocast caches warm for both sides

    start = common.now()
    for language, rows in examples.items():
        task_type.evaluate(model, tokenizer, rows, spec, settings, language)
    sweeper_s = common.now() - start
    start = common.now()
    for rows in features.values():
        predict_logits(model, rows, collator, args.batch, ("logits",), per_token=True)
    predict_s = common.now() - start
    bare_s = sum(bare_inference(model, rows, collator, args.batch) for rows in features.values())
    sentences = sum(len(rows) for rows in examples.values())
    result = {
        "bench": "evaluation",
        "model": args.model,
        "gpu": common.gpu_name(),
        "languages": args.languages,
        "sentences": sentences,
        "batch": args.batch,
        "sweeper_evaluate_s": sweeper_s,
        "sweeper_predict_s": predict_s,
        "bare_s": bare_s,
        "ratio_evaluate": bare_s / sweeper_s,
        "ratio_predict": bare_s / predict_s,
        "threads": torch.get_num_threads(),
    }
    print(
        f"{sentences:,} sentences: sweeper evaluate {sweeper_s:.2f} s (tokenize + predict + seqeval), "
        f"predict_logits {predict_s:.2f} s, bare loop {bare_s:.2f} s"
    )
    print(f"speed vs bare: evaluate {result['ratio_evaluate']:.2f}×, predict {result['ratio_predict']:.2f}× (goal >= 0.9)")
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
