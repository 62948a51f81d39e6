"""Trial packing and micro-batches from a memory probe: the arithmetic (pure: no torch, no Ray).

One training step's peak GPU memory grows linearly with the micro-batch at a fixed sequence
length: weights, gradients and AdamW states are fixed, activations are per example. The memory
probe (:mod:`sweeper.training.memory_probe`, on a GPU) measures the peak at two micro-batches, which gives
a :class:`MemoryModel`; this module turns it into

- trials per GPU: ``floor(usable / (peak × margin + context))`` where ``usable`` is the GPU's
  memory less :data:`USABLE_FRACTION`'s headroom and ``context`` the CUDA context every process
  holds outside PyTorch's allocator; Ray's fractional ``num_gpus`` is ``1 / trials``
  (:func:`gpu_fraction`);
- the micro-batch of ``gradient_accumulation_steps: auto``: the largest divisor of the batch of
  one optimizer step that fits the trial's share of the GPU (:func:`split_batch`), with the
  accumulation that keeps that batch (the optimisation is the same).

Without a GPU (a laptop running ``sweeper plan``) :func:`estimate_memory` gives a documented
analytic estimate from the model's shape instead (Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models", §4.1: ``s·b·h·(34 + 5·a·s/h)`` bytes of 16-bit
activations per layer; 16 bytes per parameter for fp32 weights, gradients and AdamW's two moments).
Probe results are cached on disk as JSON keyed by model, head type, sequence length and precision
(:func:`probe_key`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from sweeper.config import SweepConfig, stable_hash
from sweeper.errors import ConfigError

GIB = 1024**3
#: Safety factor on the probed peak: dynamic padding, allocator fragmentation, the evaluation. 1.5
#: because sweeper's trainer peaked at 15.0 GiB where the probe measured 10.8 GiB at full length
#: (XLM-R Large, PAN-X batch 32, H200; docs/benchmarks.md): 1.2 would have overcommitted the GPU.
DEFAULT_MARGIN = 1.5
#: Share of the GPU's memory trials may plan with (the rest: other processes, driver reservations).
USABLE_FRACTION = 0.95
#: Memory a CUDA process holds outside PyTorch's allocator (context, cuBLAS/cuDNN workspaces), bytes.
CONTEXT_BYTES = int(0.75 * GIB)
#: Ray rounds fractional resources to 4 decimals; fractions are rounded down to that grid.
RAY_RESOURCE_PRECISION = 10_000
#: The GPU assumed when none is visible and no probe is cached (NVIDIA H200: 141 GB, about 139 GiB usable by CUDA).
REFERENCE_GPU = ("NVIDIA H200", 139 * GIB)


@dataclass(frozen=True)
class MemoryModel:
    """Peak GPU memory of one training step at micro-batch ``b``: ``static_bytes + b × per_example_bytes``.

    Attributes:
        static_bytes: weights, gradients and optimizer states (bytes).
        per_example_bytes: activations of one example at the probed sequence length (bytes).
        gpu_name: the GPU probed (or :data:`REFERENCE_GPU` for an estimate).
        gpu_total_bytes: that GPU's memory (bytes).
        source: ``"probe"`` (measured with ``torch.cuda.max_memory_allocated``) or ``"estimate"``.
    """

    static_bytes: int
    per_example_bytes: int
    gpu_name: str
    gpu_total_bytes: int
    source: str

    def peak_bytes(self, micro_batch: int) -> int:
        """Peak bytes of one training step at ``micro_batch`` examples."""
        return self.static_bytes + micro_batch * self.per_example_bytes

    @classmethod
    def from_two_points(
        cls, batch_a: int, peak_a: int, batch_b: int, peak_b: int, gpu_name: str, gpu_total_bytes: int
    ) -> MemoryModel:
        """The line through two probed ``(micro-batch, peak bytes)`` points (``batch_a < batch_b``).

        Raises:
            ValueError: the batches are not increasing.
        """
        if batch_b <= batch_a:
            raise ValueError(f"probe batches must increase, got {batch_a} then {batch_b}")
        per_example = max(0, math.ceil((peak_b - peak_a) / (batch_b - batch_a)))
        return cls(max(0, peak_a - batch_a * per_example), per_example, gpu_name, gpu_total_bytes, "probe")


def usable_bytes(gpu_total_bytes: int) -> int:
    """Bytes of a GPU that packed trials may plan with (:data:`USABLE_FRACTION`)."""
    return int(gpu_total_bytes * USABLE_FRACTION)


def trial_footprint(peak_bytes: int, margin: float = DEFAULT_MARGIN) -> int:
    """Bytes one trial is planned to hold: its peak × ``margin`` plus the CUDA context."""
    return math.ceil(peak_bytes * margin) + CONTEXT_BYTES


def trials_per_gpu(gpu_total_bytes: int, peak_bytes: int, margin: float = DEFAULT_MARGIN) -> int:
    """How many trials with this peak fit one GPU: ``floor(usable / footprint)``; 0 when not even one fits."""
    return usable_bytes(gpu_total_bytes) // trial_footprint(peak_bytes, margin)


def gpu_fraction(trials: int) -> float:
    """Ray's fractional ``num_gpus`` for ``trials`` per GPU: ``1 / trials`` rounded down to Ray's 4 decimals.

    Raises:
        ValueError: ``trials`` < 1.
    """
    if trials < 1:
        raise ValueError(f"trials per GPU must be >= 1, got {trials}")
    return math.floor(RAY_RESOURCE_PRECISION / trials) / RAY_RESOURCE_PRECISION


def split_batch(batch: int, budget_bytes: int, memory: MemoryModel, margin: float = DEFAULT_MARGIN) -> tuple[int, int]:
    """``(per_device_train_batch_size, gradient_accumulation_steps)`` for ``gradient_accumulation_steps: auto``.

    The largest divisor of ``batch`` (examples of one optimizer step on one device) whose
    :func:`trial_footprint` fits ``budget_bytes``, and the accumulation that keeps the product
    equal to ``batch`` (HF Trainer averages the loss over accumulated micro-batches).

    Raises:
        ValueError: not even a micro-batch of 1 fits ``budget_bytes`` (the message gives both sizes).
    """
    for micro in sorted((d for d in range(1, batch + 1) if batch % d == 0), reverse=True):
        if trial_footprint(memory.peak_bytes(micro), margin) <= budget_bytes:
            return micro, batch // micro
    needed = trial_footprint(memory.peak_bytes(1), margin)
    raise ValueError(
        f"one example needs {needed / GIB:.1f} GiB with margin ({memory.source}), more than the "
        f"{budget_bytes / GIB:.1f} GiB a trial may use: shorten max_seq_length or use a GPU with more memory"
    )


@dataclass(frozen=True)
class ModelShape:
    """What the analytic estimate needs of a transformer encoder (from its ``config.json``)."""

    parameters: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int


#: XLM-R Large (Conneau et al. 2020): 24 layers, hidden 1024, 16 heads, 560M parameters.
XLMR_LARGE = ModelShape(parameters=560_000_000, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16)


def estimate_memory(shape: ModelShape, seq_length: int, precision: str, gpu: tuple[str, int] = REFERENCE_GPU) -> MemoryModel:
    """An analytic :class:`MemoryModel` where no probe was run (see the module docstring).

    ``precision`` ``no`` (fp32 activations) doubles the 16-bit activation bytes.
    """
    static = 16 * shape.parameters
    s, h, a = seq_length, shape.hidden_size, shape.num_attention_heads
    per_layer = s * h * (34 + 5 * a * s / h)
    per_example = math.ceil(per_layer * shape.num_hidden_layers * (2 if precision == "no" else 1))
    return MemoryModel(static, per_example, gpu[0], gpu[1], "estimate")


def probe_key(model: str, task_type: str, seq_length: int, precision: str) -> str:
    """The cache key of a probe: model (name or folder), head type, sequence length, precision (the
    micro-batch is no part of it: the :class:`MemoryModel` covers every micro-batch)."""
    return stable_hash({"model": model, "task_type": task_type, "seq": seq_length, "precision": precision})


def probe_cache_file(cache_root: Path, key: str) -> Path:
    """Where a probe's :class:`MemoryModel` is kept: ``<cache root>/gpu_memory/<key>.json``."""
    return cache_root / "gpu_memory" / f"{key}.json"


def read_cached_probe(cache_root: Path, key: str) -> MemoryModel | None:
    """The cached probe under ``key``, or ``None`` when there is none."""
    path = probe_cache_file(cache_root, key)
    if not path.is_file():
        return None
    return MemoryModel(**json.loads(path.read_text(encoding="utf-8")))


def write_cached_probe(cache_root: Path, key: str, memory: MemoryModel) -> Path:
    """Store ``memory`` under ``key`` (written to a temporary name, then renamed)."""
    path = probe_cache_file(cache_root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(memory)), encoding="utf-8")
    partial.replace(path)
    return path


@dataclass(frozen=True)
class Packing:
    """How one stage's trials share GPUs.

    Attributes:
        trials_per_gpu: trials sharing one GPU.
        num_gpus: Ray's ``num_gpus`` per worker (:func:`gpu_fraction`).
        micro_batch: ``per_device_train_batch_size`` actually run.
        accumulation: ``gradient_accumulation_steps`` actually run.
        peak_bytes: the memory model's peak at ``micro_batch``.
        memory: the memory model it was computed from.
    """

    trials_per_gpu: int
    num_gpus: float
    micro_batch: int
    accumulation: int
    peak_bytes: int
    memory: MemoryModel


def plan_packing(
    memory: MemoryModel, batch: int, accumulation: int | None, trials: int | None, margin: float = DEFAULT_MARGIN
) -> Packing:
    """The :class:`Packing` of a stage whose optimizer step sees ``batch`` examples per device.

    Args:
        accumulation: the configured ``gradient_accumulation_steps`` (the micro-batch is then
            ``batch / accumulation``), or ``None`` for ``auto`` (:func:`split_batch`).
        trials: ``resources.trials_per_gpu``, or ``None`` for ``gpus_per_worker: auto`` (as many
            as fit; with ``auto`` accumulation, the largest micro-batch that lets one trial use the whole GPU).

    Raises:
        ValueError: the configured packing does not fit the GPU (names the trials, the peak and the GPU).
    """
    usable = usable_bytes(memory.gpu_total_bytes)
    share = usable // (trials or 1)
    if accumulation is None:
        micro, accumulation = split_batch(batch, share, memory, margin)
    else:
        micro = batch // accumulation
    peak = memory.peak_bytes(micro)
    fit = trials_per_gpu(memory.gpu_total_bytes, peak, margin)
    if fit < (trials or 1):
        raise ValueError(
            f"{trials or 1} trial(s) per GPU at micro-batch {micro} need {(trials or 1) * trial_footprint(peak, margin) / GIB:.1f} GiB "
            f"({memory.source}: {peak / GIB:.1f} GiB peak each, ×{margin} margin) but the {memory.gpu_name} offers "
            f"{usable / GIB:.1f} GiB: lower resources.trials_per_gpu or use gradient_accumulation_steps: auto"
        )
    count = trials or fit
    return Packing(count, gpu_fraction(count), micro, accumulation, peak, memory)


#: ``config.json`` fields the memory of training an encoder depends on (the head adds little).
ARCHITECTURE_FIELDS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
#: xlm-roberta-large's ``config.json`` (the paper's model), for plans where its weights are not on disk.
XLMR_LARGE_CONFIG = {
    "model_type": "xlm-roberta",
    "vocab_size": 250002,
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
}


def model_architecture(model_source: str) -> dict | None:
    """The :data:`ARCHITECTURE_FIELDS` of ``model_source``: its folder's ``config.json``, or
    :data:`XLMR_LARGE_CONFIG` for the Hub id ``xlm-roberta-large``; ``None`` when unknown."""
    config_file = Path(model_source) / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        return {name: config.get(name) for name in ARCHITECTURE_FIELDS}
    return dict(XLMR_LARGE_CONFIG) if model_source.rstrip("/").endswith("xlm-roberta-large") else None


def architecture_key(architecture: Mapping, choices: int | None = None) -> str:
    """The model part of a probe's cache key: its architecture (not its weights: target stages from
    different intermediate encoders share one probe) and, for multiple choice, the choices per example."""
    return stable_hash({**{name: architecture.get(name) for name in ARCHITECTURE_FIELDS}, "choices": choices})


def shape_of(architecture: Mapping) -> ModelShape:
    """:class:`ModelShape` of an architecture (parameters: embeddings + 4h² + 2·h·ffn per layer)."""
    h, layers = architecture["hidden_size"], architecture["num_hidden_layers"]
    parameters = architecture["vocab_size"] * h + layers * (4 * h * h + 2 * h * architecture["intermediate_size"])
    return ModelShape(parameters, h, layers, architecture["num_attention_heads"])


def stage_memory(cache_root: Path, architecture: Mapping, seq_length: int, precision: str) -> MemoryModel:
    """The cached probe of this architecture, sequence length and precision, else :func:`estimate_memory`."""
    cached = read_cached_probe(cache_root, probe_key(architecture_key(architecture), "train", seq_length, precision))
    return cached or estimate_memory(shape_of(architecture), seq_length, precision)


@dataclass(frozen=True)
class Throughput:
    """Training throughput of one trial alone on a GPU, and the aggregate of packed trials over it.

    Attributes:
        tokens_per_s: padded tokens per second of one trial on one GPU.
        packed_speedup: trials per GPU → aggregate throughput over one trial alone.
        source: where the figures were measured (docs/benchmarks.md).
    """

    tokens_per_s: float
    packed_speedup: Mapping[int, float]
    source: str

    def speedup(self, trials: int) -> float:
        """The measured speedup of the largest measured packing ≤ ``trials`` (1.0 for one trial)."""
        measured = [count for count in self.packed_speedup if count <= trials]
        return self.packed_speedup[max(measured)] if measured else 1.0

    def gpu_hours(self, tokens: int, trials_per_gpu: int) -> float:
        """GPU-hours of training ``tokens`` tokens with ``trials_per_gpu`` trials sharing each GPU."""
        return tokens / (self.tokens_per_s * self.speedup(trials_per_gpu)) / 3600


#: XLM-R-Large-shaped model, PAN-X English, batch 32, bf16 on one NVIDIA H200 (bench/trainer.py and
#: bench/packing.py, 2026-12-04; docs/benchmarks.md): 17,315 padded tokens/s for one trial, and the
#: aggregate of 2, 4, 8 packed trials over one. The plan scales GPU-hours from these by tokens.
H200_XLMR_LARGE = Throughput(17_315, {1: 1.0, 2: 2.08, 4: 3.71, 8: 4.81}, "H200, XLM-R Large, bench/packing.py 2026-12-04")


def _precision(setting: str) -> str:
    """The precision a stage trains in on a current GPU (``auto``: bf16)."""
    return "bf16" if setting == "auto" else setting


def target_packings(config: SweepConfig, model_source: str, cache_root: Path) -> dict[str, Packing | str]:
    """Trained target → its :class:`Packing` under ``config.resources`` (cached probe or estimate),
    or the reason it cannot be packed (unknown architecture, does not fit)."""
    from sweeper.sweep.grid import trained_targets

    architecture = model_architecture(model_source)
    resources = config.resources
    packings: dict[str, Packing | str] = {}
    for target in trained_targets(config):
        if architecture is None:
            packings[target] = f"architecture of {model_source!r} unknown (no config.json)"
            continue
        settings = config.stage_training("target", target)
        memory = stage_memory(cache_root, architecture, settings.max_seq_length, _precision(settings.mixed_precision))
        accumulation = None if settings.gradient_accumulation_steps == "auto" else settings.gradient_accumulation_steps
        try:
            packings[target] = plan_packing(
                memory,
                settings.optimizer_batch,
                accumulation,
                resources.trials_per_gpu or (None if resources.gpus_per_worker == "auto" else 1),
            )
        except ValueError as error:
            packings[target] = str(error)
    return packings


def worker_gpus(config: SweepConfig, model_source: str, cache_root: Path) -> float:
    """Ray ``num_gpus`` of each Train worker: ``1 / trials_per_gpu``; under ``gpus_per_worker: auto``
    the fraction of the target stage that fits fewest trials per GPU (:func:`target_packings`); else
    ``gpus_per_worker`` (1 when 0).

    Raises:
        ConfigError: ``gpus_per_worker: auto`` and some target cannot be packed (the reason is named).
    """
    resources = config.resources
    if resources.trials_per_gpu:
        return gpu_fraction(resources.trials_per_gpu)
    if resources.gpus_per_worker != "auto":
        return resources.gpus_per_worker or 1
    packings = target_packings(config, model_source, cache_root)
    problems = {target: packing for target, packing in packings.items() if isinstance(packing, str)}
    if problems:
        target, reason = next(iter(problems.items()))
        raise ConfigError(f"resources.gpus_per_worker: auto cannot pack target {target!r}: {reason}")
    return gpu_fraction(min((packing.trials_per_gpu for packing in packings.values()), default=1))
