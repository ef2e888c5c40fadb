"""The task registry: task name -> ``Task`` subclass. Built-in tasks are registered on first use; a new
task registers itself with ``register_task`` (e.g. from a plugin module or a test)."""

from __future__ import annotations

from .base import Task, TaskSettings

_TASKS: dict[str, type[Task]] = {}
DEFAULT_TASK = "segmentation"  # the task of an experiment without a ``task:`` section


def register_task(cls: type[Task]) -> type[Task]:
    """Add a task class under ``cls.name`` (usable as a decorator). Re-registering a name replaces it."""
    if not (isinstance(cls, type) and issubclass(cls, Task)) or not getattr(cls, "name", None):
        raise TypeError(f"register_task takes a Task subclass with a name, got {cls!r}")
    _TASKS[cls.name] = cls
    return cls


def _builtins() -> None:
    if "segmentation" in _TASKS:
        return
    from .depth import DepthTask
    from .flow import FlowTask
    from .segmentation import SegmentationTask

    _TASKS.setdefault("segmentation", SegmentationTask)
    _TASKS.setdefault("depth", DepthTask)
    _TASKS.setdefault("flow", FlowTask)


def list_tasks() -> list[str]:
    _builtins()
    return sorted(_TASKS)


def task_class(name: str) -> type[Task]:
    _builtins()
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def build_task(settings: TaskSettings, info: dict | None = None) -> Task:
    """The task object for an experiment's ``task:`` settings (and a checkpoint's dataset facts)."""
    return task_class(settings.name)(settings, info)
