"""Flow-aware augmentation of a frame pair and its ground truth, on numpy arrays (before normalisation).

A random crop cuts both frames, the flow and every per-pixel mask at the same place (the flow of a pixel does
not change when the picture around it is cut). A horizontal mirror maps column x to W - 1 - x, so an end
point x + u goes to W - 1 - x - u: u changes sign; a vertical flip likewise negates v. Colour jitter draws
one set of brightness / contrast / saturation factors per sample and applies the same function to both
frames (the contrast pivots on the mean grey of the two frames together), so brightness constancy between
the frames is kept.

The random draws come from a ``numpy.random.Generator`` that the dataset seeds from ``torch.randint``: the
DataLoader seeds torch differently in each worker, and ``torch.manual_seed`` makes a run reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError

# RGB -> luma weights (ITU-R BT.601), as torchvision's rgb_to_grayscale.
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class FlowArrays:
    """One sample as arrays: rgb1, rgb2 uint8 (H, W, 3), flow float32 (H, W, 2) (u, v) pixels, valid bool
    (H, W), and masks: other per-pixel maps (H, W) (e.g. Sintel's "occluded") that move with the pixels."""

    rgb1: np.ndarray
    rgb2: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def hw(self) -> tuple[int, int]:
        return self.rgb1.shape[0], self.rgb1.shape[1]

    def map_pixels(self, fn) -> FlowArrays:
        """Apply the same spatial indexing ``fn`` (array -> array over the first two axes) to every array."""
        return FlowArrays(
            fn(self.rgb1), fn(self.rgb2), fn(self.flow), fn(self.valid), {k: fn(m) for k, m in self.masks.items()}
        )


@dataclass(frozen=True)
class FlowAugment:
    """Training augmentation of a flow sample.

    crop_hw: random crop (h, w) px of both frames and the ground truth at the same place (None: no crop).
    hflip: mirror left-right with probability ``hflip_prob`` (u negated). vflip: flip upside down with
    probability ``vflip_prob`` (v negated; RAFT's 0.1 by default: upside-down scenes are rare).
    color_jitter: strength s of brightness, contrast and saturation jitter, each factor uniform in
    [max(0, 1 - s), 1 + s], one draw for both frames (0 = off; RAFT uses about 0.4).
    """

    crop_hw: tuple[int, int] | None = None
    hflip: bool = False
    vflip: bool = False
    color_jitter: float = 0.0
    hflip_prob: float = 0.5
    vflip_prob: float = 0.1

    def __post_init__(self) -> None:
        if self.crop_hw is not None:
            if len(self.crop_hw) != 2 or min(int(v) for v in self.crop_hw) < 1:
                raise InputError(f"crop size must be a positive (h, w) in pixels or None (no crop), got {self.crop_hw}")
            object.__setattr__(self, "crop_hw", (int(self.crop_hw[0]), int(self.crop_hw[1])))
        if not 0.0 <= self.color_jitter <= 1.0:
            raise InputError(f"color_jitter must be a strength in [0, 1] (0 = off, RAFT ~0.4), got {self.color_jitter}")
        for name in ("hflip_prob", "vflip_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")

    @property
    def active(self) -> bool:
        return self.crop_hw is not None or self.hflip or self.vflip or self.color_jitter > 0

    def with_hflip(self, hflip: bool) -> FlowAugment:
        return replace(self, hflip=self.hflip or hflip)

    def __call__(self, sample: FlowArrays, rng: np.random.Generator) -> FlowArrays:
        """The augmented sample; the draws are made in a fixed order (crop, hflip, vflip, jitter)."""
        if self.crop_hw is not None:
            sample = self.crop(sample, rng)
        if self.hflip and rng.random() < self.hflip_prob:
            sample = sample.map_pixels(lambda a: a[:, ::-1])  # mirror columns
            sample.flow = sample.flow * np.array([-1.0, 1.0], dtype=np.float32)  # (H, W, 2): negate u
        if self.vflip and rng.random() < self.vflip_prob:
            sample = sample.map_pixels(lambda a: a[::-1])  # flip rows
            sample.flow = sample.flow * np.array([1.0, -1.0], dtype=np.float32)  # (H, W, 2): negate v
        if self.color_jitter > 0:
            sample.rgb1, sample.rgb2 = self.jitter(sample.rgb1, sample.rgb2, rng)
        return sample.map_pixels(np.ascontiguousarray)

    def crop(self, sample: FlowArrays, rng: np.random.Generator) -> FlowArrays:
        """Cut (h, w) at a random place, the same for every array of the sample."""
        h, w = self.crop_hw
        H, W = sample.hw
        if h > H or w > W:
            raise InputError(
                f"the training crop {h}x{w} (HxW) is larger than the image {H}x{W}: set data.crop_size to at most "
                f"{min(h, H)}x{min(w, W)}, or resize on load (data.image_size) to at least {h}x{w}"
            )
        top, left = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        return sample.map_pixels(lambda a: a[top : top + h, left : left + w])  # (h, w, ...)

    def jitter(self, rgb1: np.ndarray, rgb2: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Both frames through one brightness, contrast and saturation change (uint8 (H, W, 3) each)."""
        s = self.color_jitter
        brightness, contrast, saturation = rng.uniform(max(0.0, 1.0 - s), 1.0 + s, size=3)
        x = np.stack([rgb1, rgb2]).astype(np.float32) * np.float32(brightness / 255.0)  # (2, H, W, 3) in [0, ~2]
        x = np.clip(x, 0.0, 1.0)
        mean = np.float32((x @ _GREY).mean())  # mean grey of both frames: one contrast pivot for the pair
        x = np.clip((x - mean) * np.float32(contrast) + mean, 0.0, 1.0)
        grey = (x @ _GREY)[..., None]  # (2, H, W, 1)
        x = np.clip((x - grey) * np.float32(saturation) + grey, 0.0, 1.0)
        out = np.round(x * 255.0).astype(np.uint8)  # (2, H, W, 3)
        return out[0], out[1]


def make_augment(augment: FlowAugment | None, flip: bool) -> FlowAugment | None:
    """The datasets' augmentation: ``augment`` with the legacy ``flip`` (horizontal) folded in; None if nothing."""
    if augment is not None and not isinstance(augment, FlowAugment):
        raise InputError(f"augment must be a FlowAugment or None, got {type(augment).__name__}")
    merged = (augment or FlowAugment()).with_hflip(flip)
    return merged if merged.active else None
