"""Writing files safely: every output of winwin (checkpoints, metrics, reports, pictures, predictions) is
written to a temporary file in the same folder and renamed onto its name, so a reader never sees a
half-written file and an interrupted run leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def atomic_write(path: str | Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def save_figure(fig: Figure, path: str | Path, tight: bool = True) -> None:
    """Render a matplotlib ``Figure`` (made without pyplot: no global state) to a PNG, atomically."""
    FigureCanvasAgg(fig)
    if tight:
        fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def atomic_save_npy(path: str | Path, array) -> None:
    """``np.save`` to ``path`` atomically (through a file handle: ``np.save`` would append ``.npy`` to a
    temporary name)."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(array))

    atomic_write(path, write)
