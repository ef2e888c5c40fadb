"""One synthetic scene whose object classes can only be told apart with context from far away.

A scene holds a textured background (class 0), one saturated colour blob, the *cue* (class 1), whose hue
(red, green or blue) sets the scene's *mode*, and a few gray striped objects, squares or disks, placed at
least ``min_gap`` tokens from the cue. An object's class is ``2 + 3 * shape + mode``: the objects are drawn
the same way whatever the mode, so only the far-away cue tells which of the three classes a square (or a
disk) belongs to. Training on one small crop rarely sees the cue and an object together; two windows spread
over the image do, which is the situation the paper's multi-window training is built for.

Geometry is in *units*: 16 px at the reference size 192x384 (one ViT-16 token), scaled with the square root
of the image area, so a larger image shows the same scene at a higher resolution. Everything is vectorised
numpy; the only Python loops run over the handful of objects.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

REFERENCE_HW = (192, 384)  # 12x24 tokens of 16 px
NUM_MODES = 3  # cue hues: red, green, blue
SHAPES = ("square", "disk")
HUES = ("red", "green", "blue")
NUM_CLASSES = 2 + len(SHAPES) * NUM_MODES  # background, cue, 6 object classes


@dataclass(frozen=True)
class SceneSpec:
    cue_size: float = 3.0  # cue disk diameter, in units (tokens at the reference size)
    object_size: tuple[float, float] = (2.0, 4.0)  # object side / diameter drawn uniformly, in units
    num_objects: tuple[int, int] = (3, 6)  # number of objects drawn uniformly in [lo, hi]
    # Chebyshev gap between the cue's and each object's bounding boxes, in units: no k x k crop with
    # k <= min_gap + 1 tokens sees both. Relaxed only when not even one object fits at that distance.
    min_gap: float = 6.0
    object_margin: float = 0.5  # gap between two objects' bounding boxes, in units
    noise: float = 0.04  # std of the per-pixel noise, as a fraction of the 0..255 range

    def validate(self) -> None:
        lo, hi = self.object_size
        if not 0 < lo <= hi:
            raise ValueError(f"object_size must be 0 < lo <= hi units, got {self.object_size}")
        if not 0 <= self.num_objects[0] <= self.num_objects[1]:
            raise ValueError(f"num_objects must be 0 <= lo <= hi, got {self.num_objects}")
        if self.cue_size <= 0 or self.min_gap < 0 or self.object_margin < 0 or self.noise < 0:
            raise ValueError(f"cue_size must be > 0 and min_gap, object_margin, noise >= 0, got {self}")


@dataclass(frozen=True)
class SceneObject:
    shape: int  # index into SHAPES
    cy: float  # centre, pixels
    cx: float
    size: float  # side (square) or diameter (disk), pixels
    angle: float  # rotation of squares, radians
    label: int  # 2 + 3 * shape + mode

    @property
    def half_extent(self) -> float:
        """Half the side of the axis-aligned bounding box, pixels."""
        if SHAPES[self.shape] == "disk":
            return self.size / 2
        return self.size / 2 * (abs(math.cos(self.angle)) + abs(math.sin(self.angle)))


@dataclass(frozen=True)
class Scene:
    image_hw: tuple[int, int]
    unit_px: float  # pixels per unit (16 at the reference size)
    mode: int  # index into HUES
    cue_cy: float  # cue centre and diameter, pixels
    cue_cx: float
    cue_size: float
    objects: tuple[SceneObject, ...]


def unit_px(image_hw: tuple[int, int]) -> float:
    """Pixels per geometry unit: 16 at 192x384, scaled with sqrt(area)."""
    return 16.0 * math.sqrt(image_hw[0] * image_hw[1] / (REFERENCE_HW[0] * REFERENCE_HW[1]))


def check_fits(image_hw: tuple[int, int], spec: SceneSpec) -> None:
    """Raise ValueError when the cue or the smallest object cannot fit in an image of this size."""
    u, side = unit_px(image_hw), min(image_hw)
    cue, smallest = 1.1 * spec.cue_size * u, spec.object_size[0] * u * math.sqrt(2)  # largest cue, tilted square
    if max(cue, smallest) > side:
        raise ValueError(
            f"image_hw={tuple(image_hw)} is too elongated for the scene: one unit is {u:.1f} px, so the cue "
            f"({cue:.0f} px) or the smallest object ({smallest:.0f} px) does not fit in {side} px; use an "
            f"aspect ratio closer to {REFERENCE_HW[0]}x{REFERENCE_HW[1]} or a smaller spec.cue_size / object_size"
        )


def class_names() -> list[str]:
    return ["background", "cue"] + [f"{shape}-{hue}" for shape in SHAPES for hue in HUES]


def _box_gap(cy: np.ndarray, cx: np.ndarray, half: float, oy: float, ox: float, ohalf: float) -> np.ndarray:
    """Chebyshev gap between square boxes centred at (cy, cx) and (oy, ox); negative when they overlap."""
    return np.maximum(np.abs(cy - oy), np.abs(cx - ox)) - half - ohalf


def sample_scene(rng: np.random.Generator, image_hw: tuple[int, int], spec: SceneSpec) -> Scene:
    """Draw the layout: mode, cue and objects (no pixels). Object appearance never depends on the mode."""
    h, w = image_hw
    u = unit_px(image_hw)
    mode = int(rng.integers(NUM_MODES))
    cue = spec.cue_size * u * float(rng.uniform(0.9, 1.1))
    cue_cy, cue_cx = rng.uniform(cue / 2, h - cue / 2), rng.uniform(cue / 2, w - cue / 2)
    objects: list[SceneObject] = []
    for _ in range(int(rng.integers(spec.num_objects[0], spec.num_objects[1] + 1))):
        shape = int(rng.integers(len(SHAPES)))
        size = float(rng.uniform(*spec.object_size)) * u
        angle = float(rng.uniform(-math.pi / 6, math.pi / 6)) if SHAPES[shape] == "square" else 0.0
        proto = SceneObject(shape, 0.0, 0.0, size, angle, 2 + NUM_MODES * shape + mode)
        half = proto.half_extent
        if 2 * half > min(h, w):
            continue
        cy = rng.uniform(half, h - half, size=256)  # candidate centres, tried in order
        cx = rng.uniform(half, w - half, size=256)
        free = np.ones(256, dtype=bool)
        for o in objects:
            free &= _box_gap(cy, cx, half, o.cy, o.cx, o.half_extent) >= spec.object_margin * u
        cue_gap = _box_gap(cy, cx, half, cue_cy, cue_cx, cue / 2)
        # Later objects must respect the full gap; the first one may come closer when nothing fits.
        gaps = [spec.min_gap] if objects else [spec.min_gap, spec.min_gap / 2, spec.object_margin]
        for gap in gaps:
            ok = np.flatnonzero(free & (cue_gap >= gap * u))
            if ok.size:
                i = int(ok[0])
                objects.append(SceneObject(shape, float(cy[i]), float(cx[i]), size, angle, proto.label))
                break
    return Scene((h, w), u, mode, float(cue_cy), float(cue_cx), float(cue), tuple(objects))


@lru_cache(maxsize=64)
def _interp_weights(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation from n_in grid nodes to n_out pixel centres: (lo, hi, frac), each (n_out,)."""
    pos = (np.arange(n_out, dtype=np.float32) + 0.5) / n_out * (n_in - 1)
    lo = np.clip(np.floor(pos).astype(np.intp), 0, n_in - 2)
    out = lo, lo + 1, (pos - lo).astype(np.float32)
    for a in out:
        a.flags.writeable = False  # shared through the cache
    return out


def _smooth_noise(
    rng: np.random.Generator, image_hw: tuple[int, int], grid_hw: tuple[int, int], c: int, std: float
) -> np.ndarray:
    """Gaussian values of std ``std`` on a coarse grid, linearly interpolated to (c, H, W) float32.

    Gathers and lerps rather than matrix products: tiny BLAS calls are slow when other processes share
    the cores (and inside DataLoader workers).
    """
    gh, gw = max(grid_hw[0], 2), max(grid_hw[1], 2)
    h, w = image_hw
    grid = rng.standard_normal((c, gh, gw), dtype=np.float32) * np.float32(std)  # scaled before the lerp
    lo, hi, f = _interp_weights(h, gh)
    rows = grid[:, lo] + (grid[:, hi] - grid[:, lo]) * f[:, None]  # (c, H, gw)
    rows = rows.reshape(c * h, gw)
    lo, hi, f = _interp_weights(w, gw)
    out = np.take(rows, lo, axis=1)  # (c * H, W); take keeps C order, fancy indexing on the last axis does not
    step = np.take(rows, hi, axis=1)
    step -= out
    step *= f
    out += step
    return out.reshape(c, h, w)


def _local_grid(scene: Scene, cy: float, cx: float, half: float):
    """Pixel window around a centre: slices and pixel-centre offsets (dy (h, 1), dx (1, w))."""
    h, w = scene.image_hw
    y0, y1 = max(int(cy - half), 0), min(int(math.ceil(cy + half)) + 1, h)
    x0, x1 = max(int(cx - half), 0), min(int(math.ceil(cx + half)) + 1, w)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
    return (slice(y0, y1), slice(x0, x1)), dy, dx


def render_scene(rng: np.random.Generator, scene: Scene, spec: SceneSpec) -> tuple[np.ndarray, np.ndarray]:
    """Paint a layout: uint8 RGB (H, W, 3) and uint8 label (H, W). Painted channel-first, (3, H, W)."""
    h, w = scene.image_hw
    u = scene.unit_px
    # Background: a low-saturation colour field plus luminance texture at the scene and the token scale.
    coarse = (4, round(4 * w / h))
    lum = _smooth_noise(rng, (h, w), coarse, 1, 0.12)  # (1, H, W)
    lum += _smooth_noise(rng, (h, w), (round(h / u), round(w / u)), 1, 0.06)
    lum += np.float32(rng.uniform(0.35, 0.65))
    img = _smooth_noise(rng, (h, w), coarse, 3, 0.04)  # (3, H, W) float32
    img += lum
    label = np.zeros((h, w), dtype=np.uint8)

    # Cue: a saturated disk of the mode's hue, with a mild jitter of hue, saturation and value.
    hue = scene.mode / NUM_MODES + float(rng.uniform(-0.04, 0.04))
    colour = colorsys.hsv_to_rgb(hue % 1.0, float(rng.uniform(0.75, 1.0)), float(rng.uniform(0.65, 0.95)))
    (ys, xs), dy, dx = _local_grid(scene, scene.cue_cy, scene.cue_cx, scene.cue_size / 2)
    mask = dy**2 + dx**2 <= (scene.cue_size / 2) ** 2  # (h, w)
    shade = 1.0 + 0.06 * rng.standard_normal(int(mask.sum()), dtype=np.float32)  # (n,)
    img[:, ys, xs][:, mask] = np.asarray(colour, dtype=np.float32)[:, None] * shade  # (3, n)
    label[ys, xs][mask] = 1

    # Objects: gray, striped, drawn from the same distributions in every mode.
    for o in scene.objects:
        (ys, xs), dy, dx = _local_grid(scene, o.cy, o.cx, o.half_extent)
        if SHAPES[o.shape] == "disk":
            mask = dy**2 + dx**2 <= (o.size / 2) ** 2
        else:
            c, s = math.cos(o.angle), math.sin(o.angle)
            mask = (np.abs(c * dx + s * dy) <= o.size / 2) & (np.abs(c * dy - s * dx) <= o.size / 2)
        theta, period = float(rng.uniform(0, math.pi)), float(rng.uniform(0.3, 0.6)) * u
        along = math.cos(theta) * dx + math.sin(theta) * dy  # (h, w) distance along the stripe normal
        phase = (2 * math.pi / period) * along + float(rng.uniform(0, 2 * math.pi))
        gray = float(rng.uniform(0.25, 0.75)) + float(rng.uniform(0.08, 0.2)) * np.sin(phase)  # (h, w)
        img[:, ys, xs][:, mask] = gray[mask]  # broadcast over the 3 channels
        label[ys, xs][mask] = o.label

    # Global brightness / white-balance jitter, then sensor noise in 0..255 units: uniform with std
    # spec.noise and shared by the channels, which is several times cheaper to draw than Gaussian RGB noise.
    gain = 255.0 * float(rng.uniform(0.85, 1.15)) * rng.uniform(0.94, 1.06, size=3)
    img *= gain.astype(np.float32)[:, None, None]
    spread = np.float32(255.0 * spec.noise * math.sqrt(12.0))
    noise = rng.random((1, h, w), dtype=np.float32)
    noise -= np.float32(0.5)
    noise *= spread
    img += noise
    img += np.float32(0.5)  # round on the cast below
    np.maximum(img, np.float32(0.0), out=img)
    np.minimum(img, np.float32(255.0), out=img)
    rgb = np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 0))  # (H, W, 3)
    return rgb, label
