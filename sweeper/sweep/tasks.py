"""A sweep's view of a task: the registry's spec with the sweep's ``task_overrides`` merged in (pure)."""

from __future__ import annotations

from sweeper.config import (
    SweepConfig,
)
from sweeper.errors import ConfigError
from sweeper.registry import TaskSpec, get_task


def resolve_task(config: SweepConfig, task: str) -> TaskSpec:
    """The task's spec with the sweep's ``task_overrides`` merged in (top-level keys replaced)."""
    spec = get_task(task)
    overrides = config.task_overrides.get(task)
    if not overrides:
        return spec
    try:
        return TaskSpec.model_validate({**spec.model_dump(), **overrides})
    except ValueError as error:
        raise ConfigError(f"task_overrides.{task}: {error}") from error
