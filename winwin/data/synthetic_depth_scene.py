"""One synthetic street-like scene whose metric depth can only be read from context far away.

Camera: a pinhole ``camera_height`` metres above a flat ground, optical axis horizontal, focal length
``f = focal * W`` pixels, principal point at the centre column and at a random *horizon* row ``y_h`` (a
pitched camera, modelled as a vertical lens shift so that walls stay fronto-parallel and Z, the depth along
the optical axis, stays simple). By similar triangles a ground point seen at row y lies at
``Z = f * h / (y - y_h)``. A fronto-parallel wall at distance D closes the scene: its base meets the ground
at row ``y_h + f * h / D`` and every pixel above that is wall, so the horizon itself is hidden. Objects are
fronto-parallel billboards standing on the ground: one whose base is at row ``y_b`` has the depth of the
ground there, ``f * h / (y_b - y_h)``, over its whole surface; they are painted back to front.

Nothing local gives metric depth: objects' apparent sizes and the texture periods of walls and objects are
drawn in pixels, independently of depth (real-world sizes follow from them), the checker tile of the ground
has a random size, and brightness never depends on depth. Depth is fixed by where an object touches the
ground and by the ground's perspective, often many tokens below the top of a tall object or the wall above
it: a small crop of the wall or of an object's top cannot know its depth, two windows far apart can.

Pixel row i has its centre at y = i + 0.5. Sizes are in *units* (16 px at 192x384, ``synthetic_scene.unit_px``).
Vectorised numpy; Python loops run only over the objects. Measured on one core: about 2 ms to lay out and
render 192x384 (0.03 ms of it the layout), 7 to 12 ms for 384x768 (a shared machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .synthetic_scene import _smooth_noise, unit_px

BASE_MARGIN = 0.25  # units between an object's base and the wall base / the bottom edge: the base stays visible


@dataclass(frozen=True)
class DepthSceneSpec:
    camera_height: float = 1.6  # metres above the ground
    focal: float = 0.5  # focal length / image width (a 90 degree horizontal field of view)
    horizon: tuple[float, float] = (0.15, 0.45)  # horizon row / image height, drawn uniformly
    wall_depth: tuple[float, float] = (8.0, 40.0)  # metres, log-uniform; raised on wide images (min_ground)
    min_ground: float = 0.3  # the ground keeps at least this fraction of the image height below the wall
    num_objects: tuple[int, int] = (2, 6)  # drawn uniformly in [lo, hi]
    object_width: tuple[float, float] = (0.5, 6.0)  # apparent width, units, log-uniform (independent of depth)
    object_height: tuple[float, float] = (1.0, 8.0)  # apparent height, units, log-uniform
    tile_size: tuple[float, float] = (0.3, 2.0)  # ground checker tile side, metres, log-uniform
    depth_range: tuple[float, float] = (0.5, 50.0)  # metres; every pixel's depth lies inside
    noise: float = 0.03  # std of the per-pixel noise, as a fraction of the 0..255 range

    def validate(self) -> None:
        pairs = {
            "horizon": self.horizon,
            "wall_depth": self.wall_depth,
            "object_width": self.object_width,
            "object_height": self.object_height,
            "tile_size": self.tile_size,
            "depth_range": self.depth_range,
        }
        for name, (lo, hi) in pairs.items():
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be 0 < lo <= hi, got {(lo, hi)}")
        if not 0 <= self.num_objects[0] <= self.num_objects[1]:
            raise ValueError(f"num_objects must be 0 <= lo <= hi, got {self.num_objects}")
        if not self.horizon[1] + self.min_ground < 1:
            raise ValueError(
                f"horizon[1] + min_ground must be < 1 (room for the wall base above the ground), got "
                f"{self.horizon[1]} + {self.min_ground}; lower one of them"
            )
        if self.camera_height <= 0 or self.focal <= 0 or self.min_ground <= 0 or self.noise < 0:
            raise ValueError(f"camera_height, focal, min_ground must be > 0 and noise >= 0, got {self}")
        if self.wall_depth[1] > self.depth_range[1]:
            raise ValueError(f"wall_depth {self.wall_depth} must lie within depth_range {self.depth_range}")


@dataclass(frozen=True)
class DepthObject:
    depth: float  # metres, the ground's depth at the base row
    top: float  # box in pixels; covers the pixels whose centres lie in [top, bottom) x [left, right)
    bottom: float  # the base row, where the object touches the ground
    left: float
    right: float
    width_m: float  # real-world size, metres (follows from the apparent size and the depth)
    height_m: float


@dataclass(frozen=True)
class DepthScene:
    image_hw: tuple[int, int]
    unit_px: float  # pixels per unit (16 at the reference size)
    focal: float  # pixels
    camera_height: float  # metres
    horizon: float  # row of the horizon, pixels (usually above the wall base, hence hidden)
    wall_depth: float  # metres
    objects: tuple[DepthObject, ...]  # back to front: the painting order

    @property
    def wall_base(self) -> float:
        """Row where the wall meets the ground; pixels with centres above it are wall."""
        return self.horizon + self.focal * self.camera_height / self.wall_depth

    @property
    def first_ground_row(self) -> int:
        """Index of the first pixel row whose centre lies below the wall base."""
        return min(max(math.floor(self.wall_base + 0.5), 0), self.image_hw[0])

    def background_depth(self) -> np.ndarray:
        """(H,) float32 depth of each row without objects: the ground below the wall base, the wall above."""
        h, first = self.image_hw[0], self.first_ground_row
        rows = np.arange(h, dtype=np.float64) + 0.5
        depth = np.full(h, self.wall_depth)
        depth[first:] = self.focal * self.camera_height / (rows[first:] - self.horizon)
        return depth.astype(np.float32)


def _aspect_limits(h: int, spec: DepthSceneSpec) -> tuple[float, float]:
    """Range of W / H where the worst case fits: the bottom row no nearer than depth_range[0] (lowest
    horizon) and a wall within wall_depth[1] that leaves min_ground of the height to the ground (highest)."""
    fh = spec.focal * spec.camera_height  # focal * camera height, per pixel of width
    lo = spec.depth_range[0] * (1 - spec.horizon[0] - 0.5 / h) / fh
    hi = spec.wall_depth[1] * (1 - spec.min_ground - spec.horizon[1]) / fh
    return lo, hi


def check_fits(image_hw: tuple[int, int], spec: DepthSceneSpec) -> None:
    """Raise ValueError when the camera of ``spec`` cannot see a valid scene at this aspect ratio."""
    h, w = image_hw
    lo, hi = _aspect_limits(h, spec)
    ground = (1 - spec.min_ground - spec.horizon[1]) * h  # fewest rows below the wall base (worst case)
    if not lo <= w / h <= hi or min(spec.min_ground * h, ground) <= 2 * BASE_MARGIN * unit_px(image_hw):
        raise ValueError(
            f"image_hw={tuple(image_hw)} is too elongated for the depth scene: with a focal length of "
            f"{spec.focal} * width, the ground at the bottom edge would come nearer than {spec.depth_range[0]} m "
            f"or the wall would have to stand beyond {spec.wall_depth[1]} m to leave the ground in view; use a "
            f"width / height ratio between {lo:.2f} and {hi:.2f} (e.g. {h}x{2 * h}) or change spec.focal"
        )


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]), size=n))


def sample_depth_scene(rng: np.random.Generator, image_hw: tuple[int, int], spec: DepthSceneSpec) -> DepthScene:
    """Draw the layout (camera, wall, objects), no pixels. Object bases are uniform in rows between the
    wall base and the bottom edge (uniform in inverse depth); apparent sizes are drawn apart from depth."""
    h, w = image_hw
    u = unit_px(image_hw)
    f = spec.focal * w
    fh = f * spec.camera_height
    horizon = float(rng.uniform(*spec.horizon)) * h
    wall = float(_log_uniform(rng, spec.wall_depth, 1)[0])
    wall = max(wall, fh / ((1 - spec.min_ground) * h - horizon))  # binds on wide images only
    wall_base = horizon + fh / wall
    n = int(rng.integers(spec.num_objects[0], spec.num_objects[1] + 1))
    base = rng.uniform(wall_base + BASE_MARGIN * u, h - BASE_MARGIN * u, size=n)  # (n,) rows
    width = _log_uniform(rng, spec.object_width, n) * u  # (n,) pixels
    height = _log_uniform(rng, spec.object_height, n) * u
    centre = rng.uniform(0, w, size=n)
    depth = fh / (base - horizon)  # (n,) metres
    objects = [
        DepthObject(float(z), float(b - ht), float(b), float(c - wd / 2), float(c + wd / 2), float(wd * z / f),
                    float(ht * z / f))
        for z, b, ht, c, wd in zip(depth, base, height, centre, width)
    ]  # fmt: skip
    objects.sort(key=lambda o: -o.depth)
    return DepthScene((h, w), u, f, spec.camera_height, horizon, wall, tuple(objects))


def _box_slices(o: DepthObject, image_hw: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns whose pixel centres lie inside the object's box, clipped to the image."""
    h, w = image_hw

    def span(a: float, b: float, n: int) -> slice:
        return slice(min(max(math.ceil(a - 0.5), 0), n), min(max(math.ceil(b - 0.5), 0), n))

    return span(o.top, o.bottom, h), span(o.left, o.right, w)


def _colour(rng: np.random.Generator, lo: float = 0.2, hi: float = 0.85) -> np.ndarray:
    return rng.uniform(lo, hi, size=3).astype(np.float32)[:, None, None]  # (3, 1, 1)


def _stripes(rng: np.random.Generator, dy: np.ndarray, dx: np.ndarray, period: float) -> np.ndarray:
    """Sine stripes of random direction, phase and contrast; dy (h, 1), dx (1, w) in pixels -> (h, w)."""
    theta = float(rng.uniform(0, math.pi))
    k = np.float32(2 * math.pi / period)
    phase = (k * math.cos(theta)) * dx + (k * math.sin(theta)) * dy + np.float32(rng.uniform(0, 2 * math.pi))
    return np.float32(rng.uniform(0.05, 0.2)) * np.sin(phase)


def _paint_ground(rng: np.random.Generator, scene: DepthScene, first: int, tile: tuple[float, float]) -> np.ndarray:
    """(3, H - first, W) checkerboard laid on the ground in world coordinates, seen in perspective.

    The tile side, the board's rotation and colours are random per image, so the checker density alone does
    not give metric depth. Where a tile spans fewer than two rows its contrast fades to the mean colour (what
    a camera pixel averages) instead of aliasing.
    """
    h, w = scene.image_hw
    f, ch = scene.focal, scene.camera_height
    rows = np.arange(first, h, dtype=np.float32) + np.float32(0.5)  # (Hg,)
    z = (np.float32(f * ch) / (rows - np.float32(scene.horizon)))[:, None]  # (Hg, 1) metres ahead
    x = (np.arange(w, dtype=np.float32) + np.float32(0.5 - w / 2))[None, :] * (z / np.float32(f))  # (Hg, W)
    side = float(_log_uniform(rng, tile, 1)[0])
    theta = float(rng.uniform(0, math.pi / 2))
    c, s = np.float32(math.cos(theta) / side), np.float32(math.sin(theta) / side)
    board = np.floor(c * x + s * z + np.float32(rng.uniform(0, 1)))  # (Hg, W) tile index along u
    board += np.floor(c * z - s * x + np.float32(rng.uniform(0, 1)))  # + tile index along v
    board = np.remainder(board, np.float32(2)) - np.float32(0.5)  # (Hg, W) -0.5 / +0.5
    rows_per_tile = side * (rows - scene.horizon) ** 2 / (f * ch)  # (Hg,) a tile's depth side, dZ/dy = Z^2/(f h)
    board *= np.clip(rows_per_tile - 1, 0, 1).astype(np.float32)[:, None]
    dark, light = _colour(rng, 0.1, 0.5), _colour(rng, 0.45, 0.95)
    return (dark + light) / 2 + (light - dark) * board[None]  # (3, Hg, W)


def _paint_wall(rng: np.random.Generator, scene: DepthScene, first: int) -> np.ndarray:
    """(3, first, W) wall: a colour, stripes whose period is drawn in pixels (units), not in metres, so
    their apparent scale says nothing of the wall's distance, and smooth colour noise."""
    w, u = scene.image_hw[1], scene.unit_px
    dy = np.arange(first, dtype=np.float32)[:, None]  # (Hw, 1)
    dx = np.arange(w, dtype=np.float32)[None, :]  # (1, W)
    stripes = _stripes(rng, dy, dx, float(rng.uniform(0.3, 2.0)) * u)  # (Hw, W)
    noise = _smooth_noise(rng, (first, w), (max(round(first / (2 * u)), 2), max(round(w / (2 * u)), 2)), 3, 0.05)
    noise += _colour(rng)
    noise += stripes[None]
    return noise  # (3, Hw, W)


def _paint_object(rng: np.random.Generator, o: DepthObject, ys: slice, xs: slice) -> np.ndarray:
    """(3, h, w) texture of the visible part of an object's box: a colour and stripes in the object's own
    coordinates (2 to 8 periods across its smaller side, whatever its depth), plus smooth colour noise."""
    dy = np.arange(ys.start, ys.stop, dtype=np.float32)[:, None] + np.float32(0.5 - o.top)  # (h, 1)
    dx = np.arange(xs.start, xs.stop, dtype=np.float32)[None, :] + np.float32(0.5 - o.left)  # (1, w)
    period = min(o.bottom - o.top, o.right - o.left) / float(rng.uniform(2.0, 8.0))
    tex = _smooth_noise(rng, (dy.shape[0], dx.shape[1]), (3, 3), 3, 0.04)  # (3, h, w)
    tex += _colour(rng)
    tex += _stripes(rng, dy, dx, period)[None]
    return tex


def render_depth_scene(
    rng: np.random.Generator, scene: DepthScene, spec: DepthSceneSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Paint a layout: uint8 RGB (H, W, 3) and float32 depth (H, W) in metres. Painted as (3, H, W)."""
    h, w = scene.image_hw
    background = scene.background_depth()  # (H,)
    first = scene.first_ground_row
    img = np.empty((3, h, w), dtype=np.float32)
    img[:, :first] = _paint_wall(rng, scene, first)
    img[:, first:] = _paint_ground(rng, scene, first, spec.tile_size)
    depth = np.repeat(background[:, None], w, axis=1)  # (H, W)
    for o in scene.objects:  # back to front: nearer objects cover farther ones
        ys, xs = _box_slices(o, scene.image_hw)
        if ys.start < ys.stop and xs.start < xs.stop:
            img[:, ys, xs] = _paint_object(rng, o, ys, xs)
            depth[ys, xs] = o.depth

    # Global brightness / white-balance jitter and sensor noise (uniform, shared by the channels: cheap);
    # nothing here depends on depth, which would be a local cue.
    gain = 255.0 * float(rng.uniform(0.8, 1.2)) * rng.uniform(0.94, 1.06, size=3)
    img *= gain.astype(np.float32)[:, None, None]
    noise = rng.random((1, h, w), dtype=np.float32)
    noise -= np.float32(0.5)
    noise *= np.float32(255.0 * spec.noise * math.sqrt(12.0))
    img += noise
    img += np.float32(0.5)  # round on the cast below
    np.clip(img, np.float32(0.0), np.float32(255.0), out=img)
    rgb = np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 0))  # (H, W, 3)
    return rgb, depth
