"""Tasks: one folder per dense-prediction task (loss, metric, prediction writer, report), all driven by the
engine through the ``Task`` interface of ``base.py``."""

from .base import Metric, Panel, Task, TaskSettings
from .registry import DEFAULT_TASK, build_task, list_tasks, register_task, task_class

__all__ = [
    "DEFAULT_TASK",
    "Metric",
    "Panel",
    "Task",
    "TaskSettings",
    "build_task",
    "list_tasks",
    "register_task",
    "task_class",
]
