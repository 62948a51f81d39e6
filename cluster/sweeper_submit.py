"""Entry script for ``ray submit``: runs the ``sweeper`` command installed on the head node.

    ray submit --tmux cluster/aws.yaml cluster/sweeper_submit.py -- \\
        run search_spaces/paper.yaml --output /mnt/efs/runs/paper tracking.tracking_uri=http://<head IP>:5000

``ray submit`` copies this one file to ``~/sweeper_submit.py`` on the head node and runs
``python ~/sweeper_submit.py ARGS`` there, so it imports nothing but the standard library. It
changes to the project checkout (``$SWEEPER_PROJECT_DIR``, default ``~/sweeper``, where the
configs in ``cluster/`` put it; relative paths such as ``search_spaces/paper.yaml`` resolve there),
sets ``RAY_ADDRESS=auto`` unless it is set (the sweep joins the Ray cluster of this node instead of
starting a Ray of its own) and replaces itself with ``sweeper ARGS`` (exit status: sweeper's; 2
when no ``sweeper`` command is installed).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PROJECT_DIR_ENV = "SWEEPER_PROJECT_DIR"
DEFAULT_PROJECT_DIR = "~/sweeper"


def main(argv: list[str]) -> int:
    """Exec ``sweeper argv`` from the project checkout; returns only when there is no ``sweeper``."""
    project = Path(os.environ.get(PROJECT_DIR_ENV, DEFAULT_PROJECT_DIR)).expanduser()
    if project.is_dir():
        os.chdir(project)
    executable = shutil.which("sweeper") or shutil.which("sweeper", path=str(Path(sys.executable).parent))
    if executable is None:
        print(
            "sweeper_submit.py: no `sweeper` command on this node: install the project first "
            f"(`pip install -e {DEFAULT_PROJECT_DIR}`, as setup_commands in cluster/*.yaml do)",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("RAY_ADDRESS", "auto")
    os.execv(executable, [executable, *argv])
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
