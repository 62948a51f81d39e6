"""The Ray wing. Ray's usage statistics are off unless the user turns them on (``RAY_USAGE_STATS_ENABLED=1``):
set here, before any module of this package imports Ray."""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
