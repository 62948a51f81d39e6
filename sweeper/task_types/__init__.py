"""Task types; importing this package registers every implementation."""

from sweeper.task_types import classification, multiple_choice, span_qa, token_tagging  # noqa: F401  (registration)
from sweeper.task_types.base import Evaluation, TaskType, get_task_type

__all__ = ["Evaluation", "TaskType", "get_task_type"]
