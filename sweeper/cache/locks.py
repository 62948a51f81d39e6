"""Stage locks: an OS file lock per stage folder, so a stage is trained once across trials and sweeps (a crashed holder's lock dies with it; pure)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from sweeper.cache.store import CacheEntry

logger = logging.getLogger(__name__)


def lock_path(stage_dir: Path) -> Path:
    """The lock file of a stage folder: ``<stage_dir>.lock`` beside it."""
    return stage_dir.with_name(stage_dir.name + ".lock")


@contextmanager
def stage_lock(stage_dir: Path) -> Iterator[None]:
    """Hold the stage's lock: a second trial of the same stage waits here until the first one has
    published the stage (it then finds it complete and reuses it) or has died (the OS releases
    the lock; the stage is not complete, so the waiter trains it). Stale partial folders of a
    crashed holder are removed once the lock is held.

    Raises:
        filelock's errors: the lock file cannot be created or the file system has no ``flock``
            (``fallback_to_soft=False``: a soft lock would outlive a crashed holder).
    """
    stage_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(stage_dir), fallback_to_soft=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("stage %s is being trained by another trial; waiting for it", stage_dir.name)
        lock.acquire()
    try:
        for partial in stage_dir.parent.glob(f".{stage_dir.name}.partial-*"):
            shutil.rmtree(partial)  # left by a holder that died while writing
        yield
    finally:
        lock.release()


def train_once(stage: CacheEntry, train: Callable[[], None]) -> bool:
    """Run ``train`` (which publishes ``stage``) unless the stage is finished, holding the
    stage's lock (:func:`stage_lock`): of two trials of the same stage, in one sweep or two, the
    first trains and the second waits, then reuses it.

    Returns:
        ``True`` when this call trained the stage, ``False`` when it was finished already.

    Raises:
        RuntimeError: ``train`` returned without publishing a finished stage.
        Exception: whatever ``train`` raises (the lock is released; nothing is published).
    """
    with stage_lock(stage.path):
        if stage.complete:
            return False
        train()
        if not stage.complete:
            raise RuntimeError(f"training stage {stage.path.name} returned without publishing {stage.path}")
        return True
