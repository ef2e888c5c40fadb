"""``SyntheticSegmentation``: a high-resolution segmentation dataset generated on the fly (see synthetic_scene).

Sample ``index`` of split ``split`` is a pure function of ``(seed, split, index)``: a numpy Generator is
seeded from those three numbers, so the same sample comes back in any process, in any order, and the splits
never share a scene. Numbers measured with this data exaggerate the gap between window and crop training
(the cue is deliberately far from the objects); report them next to the paper's real-data results.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .palette import RGB
from .synthetic_scene import NUM_CLASSES, Scene, SceneSpec, check_fits, class_names, render_scene, sample_scene
from .transforms import hflip, to_tensor_image

SPLITS = {"train": 0, "val": 1, "test": 2}
MIN_SIDE = 64  # px; the cue and one object must fit

# One colour per class: background dark gray, cue white, objects tinted by the mode their class encodes.
SYNTHETIC_PALETTE: tuple[RGB, ...] = (
    (60, 60, 60), (255, 255, 255),
    (230, 60, 60), (60, 200, 60), (70, 110, 240),  # squares: red / green / blue mode
    (250, 160, 160), (160, 240, 160), (160, 190, 255),  # disks: lighter tints
)  # fmt: skip


class SyntheticSegmentation(Dataset):
    """Synthetic scenes with a long-range cue; ``__getitem__`` -> {"image" (3, H, W), "label" (H, W), "index"}.

    cache=True keeps every generated sample in memory as uint8 (about 4 bytes per pixel), so epochs after
    the first cost only the normalisation. With DataLoader workers each worker holds its own cache: call
    ``fill_cache()`` before creating the loader (forked workers then share it) or use persistent workers.
    """

    classes: list[str] = class_names()
    palette: tuple[RGB, ...] = SYNTHETIC_PALETTE
    num_classes: int = NUM_CLASSES

    def __init__(
        self,
        split: str = "train",
        *,
        length: int = 1000,
        image_hw: tuple[int, int] = (192, 384),
        seed: int = 0,
        cache: bool = False,
        flip: bool = False,
        spec: SceneSpec = SceneSpec(),
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for the synthetic dataset; use one of {sorted(SPLITS)}")
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

    def scene(self, index: int) -> Scene:
        """The layout of sample ``index`` (mode, cue, objects) without drawing any pixel."""
        return sample_scene(self._rngs(self._check(index))[0], self.image_hw, self.spec)

    def raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (H, W, 3) and uint8 label (H, W) of sample ``index``, before normalisation or flip."""
        index = self._check(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        layout_rng, paint_rng = self._rngs(index)
        sample = render_scene(paint_rng, sample_scene(layout_rng, self.image_hw, self.spec), self.spec)
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
        rgb, label = self.raw(index)
        image = to_tensor_image(rgb)  # (3, H, W) float32
        target = torch.from_numpy(label.astype(np.int64))  # (H, W) int64
        if self.flip and bool(torch.rand(()) < 0.5):
            image, target = hflip(image, target)
        return {"image": image, "label": target, "index": self._check(index)}

    def __repr__(self) -> str:
        return (
            f"SyntheticSegmentation(split={self.split!r}, length={self.length}, image_hw={self.image_hw}, "
            f"seed={self.seed}, cache={self._cache is not None}, flip={self.flip})"
        )
