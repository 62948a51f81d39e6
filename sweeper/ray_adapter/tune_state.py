"""Tune's saved experiment state, checked before ``Tuner.restore`` reads it.

Tune saves an experiment's state as files at the top of its folder in Ray storage
(``experiment_state-*.json``, ``callback-states-*.pkl``, the search algorithm's state,
``tuner.pkl``) and a restore reads the newest of each kind. Tune uploads them with plain writes:
one made while the disk was full is left empty or cut short, and Tune 2.60's restore, failing on
it half-way, starts the experiment again with its trials forgotten and its search exhausted (no
trial runs). Setting such a file aside first lets the restore take the newest intact state.
"""

from __future__ import annotations

import json
import logging

import pyarrow.fs
import ray.cloudpickle

logger = logging.getLogger(__name__)

#: Suffix given to a saved state file that cannot be read back.
DAMAGED_SUFFIX = ".damaged"


def set_aside_damaged_state(experiment_path: str) -> list[str]:
    """Rename each of Tune's saved state files at the top of ``experiment_path`` (a local folder
    or a storage URI) that cannot be read back (neither JSON nor a pickle) to
    ``<name>.damaged``, so ``Tuner.restore`` takes the newest intact one of its kind (or, with no
    ``tuner.pkl`` or experiment state left, the phase starts anew). Warns for each file.

    Returns:
        The names of the files set aside (none when the folder does not exist).
    """
    filesystem, root = pyarrow.fs.FileSystem.from_uri(experiment_path)
    if filesystem.get_file_info(root).type != pyarrow.fs.FileType.Directory:
        return []
    damaged = []
    for info in filesystem.get_file_info(pyarrow.fs.FileSelector(root)):
        if info.type == pyarrow.fs.FileType.File and info.base_name.endswith((".json", ".pkl")):
            with filesystem.open_input_stream(info.path) as stream:
                content = stream.readall()
            if not _readable(content):
                filesystem.move(info.path, info.path + DAMAGED_SUFFIX)
                damaged.append(info.base_name)
                logger.warning(
                    "Tune's saved state %s in %s cannot be read back (%d bytes: written on a full disk?); "
                    "set aside as %s%s, the restore uses the newest intact state",
                    info.base_name,
                    experiment_path,
                    len(content),
                    info.base_name,
                    DAMAGED_SUFFIX,
                )
    return damaged


def _readable(content: bytes) -> bool:
    """Whether ``content`` parses as JSON (the experiment state) or as a pickle: Tune pickles its
    callbacks' and search algorithms' state, whatever the file's suffix (``basic-variant-state-*.json``)."""
    try:
        json.loads(content)
    except ValueError:
        pass
    else:
        return True
    try:
        ray.cloudpickle.loads(content)
    except (EOFError, ValueError, ray.cloudpickle.pickle.UnpicklingError):
        return False
    return True
