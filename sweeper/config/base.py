"""What every configuration model shares: strict, frozen pydantic models, and the stable content hash of settings."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def stable_hash(payload: Any, length: int = 12) -> str:
    """A short content hash of a JSON-serialisable payload (sorted keys), for cache keys."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
