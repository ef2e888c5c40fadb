"""``SyntheticDepth``: a high-resolution monocular-depth dataset generated on the fly (see synthetic_depth_scene).

Sample ``index`` of split ``split`` is a pure function of ``(seed, split, index)``, seeded exactly like
``SyntheticSegmentation``: the same sample comes back in any process, in any order, and the splits never
share a scene. Metric depth here is fixed by far-away context (where an object meets the ground, the
ground's perspective), so numbers measured on it exaggerate the gap between window and crop training;
report them next to real-data results.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .synthetic import MIN_SIDE, SPLITS
from .synthetic_depth_scene import DepthScene, DepthSceneSpec, check_fits, render_depth_scene, sample_depth_scene
from .transforms import hflip, to_tensor_image


class SyntheticDepth(Dataset):
    """Synthetic ground / wall / billboard scenes; ``__getitem__`` -> {"image" (3, H, W), "depth" (H, W), "index"}.

    Depth is in metres along the optical axis, finite and inside [min_depth, max_depth] at every pixel (no
    invalid pixels). cache=True keeps every sample in memory (7 bytes per pixel); with DataLoader workers
    call ``fill_cache()`` before creating the loader (forked workers then share it) or use persistent workers.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        length: int = 1000,
        image_hw: tuple[int, int] = (192, 384),
        seed: int = 0,
        cache: bool = False,
        flip: bool = False,
        spec: DepthSceneSpec = DepthSceneSpec(),
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for the synthetic depth dataset; use one of {sorted(SPLITS)}")
        if length < 1:
            raise ValueError(f"length must be a positive number of samples, got {length}")
        h, w = (int(v) for v in image_hw)
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"image_hw={tuple(image_hw)} is too small: both sides must be >= {MIN_SIDE} px")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        spec.validate()
        check_fits((h, w), spec)
        self.split, self.length, self.image_hw, self.seed = split, int(length), (h, w), int(seed)
        self.flip, self.spec = flip, spec
        self.min_depth, self.max_depth = (float(v) for v in spec.depth_range)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

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

    def scene(self, index: int) -> DepthScene:
        """The layout of sample ``index`` (camera, wall, objects) without drawing any pixel."""
        return sample_depth_scene(self._rngs(self._check(index))[0], self.image_hw, self.spec)

    def raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (H, W, 3) and float32 depth (H, W) in metres of sample ``index``, before normalisation
        or flip."""
        index = self._check(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        layout_rng, paint_rng = self._rngs(index)
        scene = sample_depth_scene(layout_rng, self.image_hw, self.spec)
        sample = render_depth_scene(paint_rng, scene, self.spec)
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

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        rgb, depth = self.raw(index)
        image = to_tensor_image(rgb)  # (3, H, W) float32
        target = torch.from_numpy(depth.copy())  # (H, W) float32; a copy: cached arrays are read-only
        if self.flip and bool(torch.rand(()) < 0.5):
            image, target = hflip(image, target)
        return {"image": image, "depth": target, "index": self._check(index)}

    def __repr__(self) -> str:
        return (
            f"SyntheticDepth(split={self.split!r}, length={self.length}, image_hw={self.image_hw}, "
            f"seed={self.seed}, cache={self._cache is not None}, flip={self.flip})"
        )
