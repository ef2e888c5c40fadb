"""``GeneratedDataset``: what the embedded synthetic datasets share.

Sample ``index`` of split ``split`` is a pure function of ``(seed, split, index)``: two numpy Generators
(layout, paint) are spawned from a SeedSequence of those three numbers, so the same sample comes back in any
process, in any order, and the splits never share a scene. ``cache=True`` keeps every generated sample in
memory, so epochs after the first cost only the normalisation. With DataLoader workers each worker holds its
own cache: call ``fill_cache()`` before creating the loader (forked workers then share it) or use persistent
workers.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

SPLITS = {"train": 0, "val": 1, "test": 2}
MIN_SIDE = 64  # px; the smallest scene element must fit


class GeneratedDataset(Dataset):
    """Base of the synthetic datasets: checks, per-sample generators, the cache. Subclasses render a sample
    (``_render``) and turn it into tensors (``__getitem__``)."""

    kind = "synthetic"  # the dataset's name in messages

    def __init__(self, split: str, length: int, image_hw: tuple[int, int], seed: int, cache: bool, flip: bool) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for the {self.kind} dataset; use one of {sorted(SPLITS)}")
        if length < 1:
            raise ValueError(f"length must be a positive number of samples, got {length}")
        h, w = (int(v) for v in image_hw)
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"image_hw={tuple(image_hw)} is too small: both sides must be >= {MIN_SIDE} px")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.split, self.length, self.image_hw, self.seed, self.flip = split, int(length), (h, w), int(seed), flip
        self._cache: dict[int, tuple[np.ndarray, ...]] | None = {} if cache else None

    def __len__(self) -> int:
        return self.length

    def _check(self, index: int) -> int:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} samples")
        return index % self.length

    def _rngs(self, index: int) -> tuple[np.random.Generator, np.random.Generator]:
        """Independent (layout, paint) generators for one sample, from (seed, split, index)."""
        layout, paint = np.random.SeedSequence([self.seed, SPLITS[self.split], index]).spawn(2)
        return np.random.default_rng(layout), np.random.default_rng(paint)

    def _render(self, layout_rng: np.random.Generator, paint_rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def raw(self, index: int) -> tuple[np.ndarray, ...]:
        """The arrays of sample ``index`` (uint8 RGB (H, W, 3) first), before normalisation or flip."""
        index = self._check(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        sample = self._render(*self._rngs(index))
        if self._cache is not None:
            for a in sample:
                a.flags.writeable = False  # cached arrays are shared with every later caller
            self._cache[index] = sample
        return sample

    def fill_cache(self) -> None:
        """Generate every sample now (requires cache=True)."""
        if self._cache is None:
            raise RuntimeError("fill_cache() needs a dataset built with cache=True")
        for i in range(self.length):
            self.raw(i)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, length={self.length}, image_hw={self.image_hw}, "
            f"seed={self.seed}, cache={self._cache is not None}, flip={self.flip})"
        )
