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


class parser_errors:  # noqa: N801 (used as a context manager, like contextlib's lower-case ones)
    """``with parser_errors(path, "what it should be"):`` around a third-party parser (Pillow, h5py):
    whatever it raises on a damaged file becomes ``BadFileError`` naming the file. Our own ``InputError``
    passes through unchanged, and so does ``MemoryError`` (a huge allocation is a bug to see, not to hide)."""

    def __init__(self, path: str | Path, what: str) -> None:
        self.path, self.what = path, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> bool:
        if error is None or not isinstance(error, Exception) or isinstance(error, (InputError, MemoryError)):
            return False
        raise BadFileError(self.path, f"{self.what} ({type(error).__name__}: {error})") from None


class Interrupted(Exception):
    """Training stopped on a signal (a cluster's pre-emption notice) or its time limit (``signum`` SIGALRM)
    after saving a checkpoint at ``step``; the command line exits with status 128 + the signal's number, as
    a shell does."""

    def __init__(self, signum: int, step: int, message: str) -> None:
        self.signum, self.step = signum, step
        super().__init__(message)
