"""What the real-dataset readers share about folder layouts: an evenly spread subset of the items and the
error for a missing folder (which says what lies next to it and the layout expected)."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadFileError


def spread(items: list, max_items: int | None) -> list:
    """``max_items`` items spread evenly over the list (all of them if None or more than there are)."""
    if max_items is None or max_items >= len(items):
        return items
    return [items[i * len(items) // max_items] for i in range(max_items)]


def require_dir(folder: Path, dataset: str, layout: str) -> None:
    """Raise ``BadFileError`` naming ``folder`` and its sibling folders unless it exists."""
    if folder.is_dir():
        return
    parent = folder.parent
    found = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
    raise BadFileError(
        folder, f"folder is missing (folders next to it: {found}); {dataset} expects the layout\n{layout}"
    )
