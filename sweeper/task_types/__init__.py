"""Task types; importing this package registers every implementation."""

from sweeper.task_types import (  # noqa: F401  (registration)
    classification,
    multiple_choice,
    retrieval,
    span_qa,
    token_tagging,
)
from sweeper.task_types.base import Evaluation, ModelOutputs, TaskType, get_task_type

__all__ = ["Evaluation", "ModelOutputs", "TaskType", "get_task_type"]
