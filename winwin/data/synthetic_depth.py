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

from .generated import GeneratedDataset
from .synthetic_depth_scene import DepthScene, DepthSceneSpec, check_fits, render_depth_scene, sample_depth_scene
from .transforms import hflip, to_tensor_image


class SyntheticDepth(GeneratedDataset):
    """Synthetic ground / wall / billboard scenes; ``__getitem__`` -> {"image" (3, H, W), "depth" (H, W), "index"}.

    Depth is in metres along the optical axis, finite and inside [min_depth, max_depth] at every pixel (no
    invalid pixels). cache=True keeps every sample in memory (7 bytes per pixel); see ``GeneratedDataset`` for
    determinism and DataLoader workers.
    """

    kind = "synthetic depth"
    report_note = (
        "Synthetic scenes whose metric depth is fixed by far-away context (where objects meet the ground, the "
        "ground's perspective): they exaggerate the gap between window and crop training."
    )

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
        super().__init__(split, length, image_hw, seed, cache, flip)
        spec.validate()
        check_fits(self.image_hw, spec)
        self.spec = spec
        self.min_depth, self.max_depth = (float(v) for v in spec.depth_range)

    def scene(self, index: int) -> DepthScene:
        """The layout of sample ``index`` (camera, wall, objects) without drawing any pixel."""
        return sample_depth_scene(self._rngs(self._check(index))[0], self.image_hw, self.spec)

    def _render(self, layout_rng: np.random.Generator, paint_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (H, W, 3) and float32 depth (H, W) in metres."""
        return render_depth_scene(paint_rng, sample_depth_scene(layout_rng, self.image_hw, self.spec), self.spec)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        rgb, depth = self.raw(index)
        image = to_tensor_image(rgb)  # (3, H, W) float32
        target = torch.from_numpy(depth.copy())  # (H, W) float32; a copy: cached arrays are read-only
        if self.flip and bool(torch.rand(()) < 0.5):
            image, target = hflip(image, target)
        return {"image": image, "depth": target, "index": self._check(index)}
