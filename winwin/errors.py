"""Errors about what the user gave us (a setting, a file): the command line prints their message on one
line and exits with status 2. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """A user-supplied setting or file is wrong; the message says what was expected and what was given."""


class BadFileError(InputError):
    """A file that cannot be used: missing, unreadable, truncated, of the wrong format, size or type.

    The message always starts with the file's path.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
