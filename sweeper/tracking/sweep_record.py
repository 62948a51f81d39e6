"""``sweep.json``: what an output folder remembers about its tracked sweep (no MLflow import, so
``resume``, ``report`` and ``compare`` can refuse a wrong folder at once)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sweeper.errors import ConfigError
from sweeper.redaction import strip_credentials

SWEEP_FILE = "sweep.json"


@dataclass(frozen=True)
class SweepRecord:
    """What ``sweep.json`` in the output folder remembers about the tracked sweep."""

    name: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str

    def write(self, output_dir: Path) -> None:
        saved = {**self.__dict__, "tracking_uri": strip_credentials(self.tracking_uri)}  # credentials: from the environment
        (output_dir / SWEEP_FILE).write_text(json.dumps(saved, indent=2), encoding="utf-8")

    @classmethod
    def read(cls, output_dir: Path) -> SweepRecord:
        """Raises:
        ConfigError: naming the file, when ``output_dir`` holds no ``sweep.json``, or one that is
            not a sweep record (damaged, or another program's file)."""
        path = output_dir / SWEEP_FILE
        if not path.is_file():
            raise ConfigError(f"{path} not found: {output_dir} is not the output folder of a `sweeper run`")
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path} is not a sweep record written by `sweeper run` ({error}); it is damaged") from None
