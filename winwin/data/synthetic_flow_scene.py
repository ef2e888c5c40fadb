"""One synthetic optical-flow scene: textured layers in affine motion, in the spirit of AutoFlow (Sun et al. 2021).

A scene is a stack of layers: a background that covers the whole image, then 3 to 8 foreground shapes
(ellipses, rectangles and star-shaped polygons), each later layer in front of the earlier ones. Every layer
owns a texture, an array in its own coordinates (texture pixels, origin at the texture's centre), and one
affine pose per frame mapping texture coordinates to image coordinates: ``x = A_t p + c_t``. Frame 1's pose
places and turns the shape; frame 2's adds the layer's motion, a translation of its centre, a rotation and a
scaling about it: ``A_2 = s R(phi) A_1``, ``c_2 = c_1 + d``. Foreground translations reach
``spec.translation`` of the image width (46 px at 384 px wide), the background moves less.

Image pixel (row i, column j) has its centre at (x, y) = (j, i). Rendering frame t: every layer's coverage is
tested by mapping the pixels of its bounding box back into texture coordinates, ``p = A_t^-1 (x - c_t)``, and
checking the shape there; the last layer covering a pixel owns it (``layer_index``). Each pixel then samples
its owner's texture bilinearly at p (one gather over all pixels: the textures are packed into one atlas).
Ground truth: a frame-1 pixel owned by layer k shows texture point p = A_1^-1 (x - c_1), which frame 2 shows at
``A_2 p + c_2``, so the flow is ``(A_2 A_1^-1 - I) x + c_2 - A_2 A_1^-1 c_1``, affine per layer. Pixels occluded in
frame 2 keep the flow of the surface they show (as in Sintel's and FlyingChairs' ground truth); ``valid`` marks
the end points inside frame 2 (0 <= x + u <= W - 1, 0 <= y + v <= H - 1).

Textures (the paint generator) are rich enough for matching: value noise in octaves from a random period
(0.5 to 4 units) down to 3 px, mapped through a random ramp of 2 to 4 colours, plus low-frequency colour noise
and, on three layers in four, stripes, checks or spots in another random colour (``render_flow_scene`` takes
another painter, e.g. crops of photographs). Both frames share one global gain and get independent sensor
noise. Sizes are in units (16 px at 192x384, ``synthetic_scene.unit_px``). Vectorised numpy; Python loops run
over the layers only. Measured on one shared core: about 20 ms per 192x384 pair, 37 ms at 256x512.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .synthetic_scene import _smooth_noise, unit_px

SHAPES = ("background", "ellipse", "rectangle", "polygon")
Painter = Callable[[np.random.Generator, tuple[int, int], float], np.ndarray]  # (rng, (h, w), unit) -> (3, h, w)


@dataclass(frozen=True)
class FlowSceneSpec:
    num_shapes: tuple[int, int] = (3, 8)  # foreground shapes, drawn uniformly in [lo, hi]
    shape_size: tuple[float, float] = (1.5, 6.0)  # a shape's larger half-extent, units, log-uniform
    translation: float = 0.12  # foreground shift between the frames: up to this fraction of the width
    rotation: float = 10.0  # foreground rotation between the frames, up to +- degrees
    scale: float = 0.1  # foreground scaling between the frames: a factor in [exp(-scale), exp(scale)]
    background_translation: float = 0.03  # the background's shift, fraction of the width
    background_rotation: float = 2.0  # degrees
    background_scale: float = 0.03
    noise: float = 0.01  # std of the sensor noise (independent per frame), as a fraction of the 0..255 range

    def validate(self) -> None:
        if not 0 <= self.num_shapes[0] <= self.num_shapes[1]:
            raise ValueError(f"num_shapes must be 0 <= lo <= hi, got {self.num_shapes}")
        if not 0 < self.shape_size[0] <= self.shape_size[1]:
            raise ValueError(f"shape_size must be 0 < lo <= hi units, got {self.shape_size}")
        motion = (self.translation, self.rotation, self.scale, self.background_translation,
                  self.background_rotation, self.background_scale, self.noise)  # fmt: skip
        if min(motion) < 0:
            raise ValueError(f"motion ranges and noise must be >= 0, got {self}")
        if max(self.rotation, self.background_rotation) > 90 or max(self.scale, self.background_scale) > 1:
            raise ValueError(
                f"rotation must be <= 90 degrees and scale <= 1 (a factor e), got rotation={self.rotation}, "
                f"background_rotation={self.background_rotation}, scale={self.scale}, "
                f"background_scale={self.background_scale}"
            )


@dataclass(frozen=True)
class FlowLayer:
    shape: str  # one of SHAPES
    extent: tuple[float, float]  # (x, y) half-extents of the shape in texture px: it lies within |x|, |y| <= extent
    outline: tuple[tuple[float, float], ...]  # polygon vertices (angle, radius), angles ascending in (-pi, pi]
    poses: tuple[tuple[float, ...], tuple[float, ...]]  # per frame (a, b, c, d, tx, ty): x = [[a, b], [c, d]] p + t

    def pose(self, t: int) -> np.ndarray:
        """(2, 3) float64 texture -> image affine map of frame t (0 or 1)."""
        return np.asarray(self.poses[t], dtype=np.float64).reshape(2, 3)

    @property
    def texture_hw(self) -> tuple[int, int]:
        """(th, tw) of the texture array: the extent plus a pixel of margin on each side."""
        return 2 * math.ceil(self.extent[1]) + 3, 2 * math.ceil(self.extent[0]) + 3


@dataclass(frozen=True)
class FlowScene:
    image_hw: tuple[int, int]
    unit_px: float  # pixels per unit (16 at the reference size)
    layers: tuple[FlowLayer, ...]  # back to front; layers[0] is the background


def _inverse(pose: np.ndarray) -> np.ndarray:
    """(2, 3) inverse of an affine map given as (2, 3)."""
    inv = np.linalg.inv(pose[:, :2])
    return np.concatenate([inv, -inv @ pose[:, 2:]], axis=1)


def _pose(scale: float, angle: float, centre: tuple[float, float]) -> tuple[float, ...]:
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return (c, -s, centre[0], s, c, centre[1])


def _motion(rng: np.random.Generator, w: int, shift: float, degrees: float, scale: float) -> tuple[float, ...]:
    """(dx, dy, angle, scale factor): a shift of uniform length in [0, shift * w] in a uniform direction."""
    length, direction = rng.uniform(0, shift * w), rng.uniform(-math.pi, math.pi)
    angle = math.radians(rng.uniform(-degrees, degrees))
    return length * math.cos(direction), length * math.sin(direction), angle, math.exp(rng.uniform(-scale, scale))


def sample_flow_scene(rng: np.random.Generator, image_hw: tuple[int, int], spec: FlowSceneSpec) -> FlowScene:
    """Draw the layers' shapes and poses in both frames (no pixels)."""
    h, w = image_hw
    u = unit_px(image_hw)
    centre = ((w - 1) / 2, (h - 1) / 2)
    dx, dy, angle, scale = _motion(rng, w, spec.background_translation, spec.background_rotation,
                                   spec.background_scale)  # fmt: skip
    poses = (_pose(1.0, 0.0, centre), _pose(scale, angle, (centre[0] + dx, centre[1] + dy)))
    # The background texture must hold the image's corners mapped back through both poses.
    corners = np.array([[-0.5, -0.5, w - 0.5, w - 0.5], [-0.5, h - 0.5, -0.5, h - 0.5]])  # (2, 4) x, y
    back = [_inverse(np.reshape(p, (2, 3))) for p in poses]
    reach = np.max([np.abs(b[:, :2] @ corners + b[:, 2:]).max(axis=1) for b in back], axis=0)  # (2,) x, y
    layers = [FlowLayer("background", (float(reach[0]), float(reach[1])), (), poses)]
    for _ in range(int(rng.integers(spec.num_shapes[0], spec.num_shapes[1] + 1))):
        shape = SHAPES[int(rng.integers(1, len(SHAPES)))]
        size = math.exp(rng.uniform(math.log(spec.shape_size[0]), math.log(spec.shape_size[1]))) * u
        extent, outline = (size, size * rng.uniform(0.4, 1.0)), ()
        if shape == "polygon":  # star-shaped about its centre: n vertices at jittered, evenly spread angles
            n = int(rng.integers(3, 9))
            angles = rng.uniform(-math.pi, math.pi) + 2 * math.pi * (np.arange(n) + rng.uniform(-0.2, 0.2, n)) / n
            angles = np.sort(np.angle(np.exp(1j * angles)))  # (n,) wrapped to (-pi, pi]
            radii = size * rng.uniform(0.4, 1.0, n)
            outline = tuple((float(a), float(r)) for a, r in zip(angles, radii))
            extent = (float(np.abs(radii * np.cos(angles)).max()), float(np.abs(radii * np.sin(angles)).max()))
        orientation = rng.uniform(-math.pi, math.pi)
        cx, cy = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        dx, dy, angle, scale = _motion(rng, w, spec.translation, spec.rotation, spec.scale)
        poses = (_pose(1.0, orientation, (cx, cy)), _pose(scale, orientation + angle, (cx + dx, cy + dy)))
        layers.append(FlowLayer(shape, (float(extent[0]), float(extent[1])), outline, poses))
    return FlowScene((h, w), u, tuple(layers))


def _inside(layer: FlowLayer, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Bool mask of the texture points (px, py) inside the layer's shape; same shape as px."""
    ex, ey = layer.extent
    if layer.shape == "ellipse":
        return (px / ex) ** 2 + (py / ey) ** 2 <= 1.0
    if layer.shape == "rectangle":
        return (np.abs(px) <= ex) & (np.abs(py) <= ey)
    angle, radius = np.asarray(layer.outline).T  # (n,) each
    vx, vy = radius * np.cos(angle), radius * np.sin(angle)
    k = (np.searchsorted(angle, np.arctan2(py, px), side="right") - 1) % len(angle)  # sector: between k and k + 1
    k1 = (k + 1) % len(angle)
    ax, ay = vx[k], vy[k]
    return (vx[k1] - ax) * (py - ay) - (vy[k1] - ay) * (px - ax) >= 0  # on the inner side of edge k -> k + 1


def layer_index(scene: FlowScene, t: int) -> np.ndarray:
    """(H, W) int16 index into ``scene.layers`` of the top-most layer at each pixel of frame t (0 or 1)."""
    h, w = scene.image_hw
    owner = np.zeros((h, w), dtype=np.int16)  # the background covers everything
    for k, layer in enumerate(scene.layers[1:], 1):
        pose = layer.pose(t)
        ex, ey = layer.extent
        box = pose[:, :2] @ np.array([[-ex, -ex, ex, ex], [-ey, ey, -ey, ey]]) + pose[:, 2:]  # (2, 4) corners x, y
        x0, y0 = (max(math.floor(v), 0) for v in box.min(axis=1))
        x1, y1 = min(math.ceil(box[0].max()) + 1, w), min(math.ceil(box[1].max()) + 1, h)
        if x0 >= x1 or y0 >= y1:
            continue  # outside the image in this frame
        inv = _inverse(pose)
        xs, ys = np.arange(x0, x1, dtype=np.float64)[None, :], np.arange(y0, y1, dtype=np.float64)[:, None]
        px = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]  # (y1 - y0, x1 - x0) texture coordinates
        py = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
        owner[y0:y1, x0:x1][_inside(layer, px, py)] = k
    return owner


def _grid(hw: tuple[int, int], dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates x (1, W) and y (H, 1)."""
    return np.arange(hw[1], dtype=dtype)[None, :], np.arange(hw[0], dtype=dtype)[:, None]


def _apply(table: np.ndarray, owner: np.ndarray, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's own affine map at its position: the two rows of ``table[owner] @ (x, y, 1)``, (H, W) each.

    table (L, 2, 3) holds one map per layer; gathered one coefficient at a time (``np.take`` on a small table
    is several times faster than fancy indexing and leaves contiguous arrays).
    """
    x, y = _grid(owner.shape, dtype)
    a, b, c, d, e, f = (np.take(k, owner) for k in table.astype(dtype).reshape(len(table), 6).T)  # (H, W) each
    return a * x + b * y + c, d * x + e * y + f


def _flow(scene: FlowScene, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow (H, W, 2) float32 and valid (H, W) bool of frame 1, given its layer index."""
    h, w = scene.image_hw
    to_frame2 = [layer.pose(1) @ np.vstack([_inverse(layer.pose(0)), [0, 0, 1]]) for layer in scene.layers]
    table = np.stack(to_frame2)  # (L, 2, 3): frame-1 position -> frame-2 position of the same texture point
    table[:, :, :2] -= np.eye(2)  # displacement = (M - I) x + b
    u, v = _apply(table, owner, np.float64)  # (H, W) each
    x, y = _grid((h, w))
    valid = np.isfinite(u) & np.isfinite(v) & (x + u >= 0) & (x + u <= w - 1) & (y + v >= 0) & (y + v <= h - 1)
    return np.stack([u, v], axis=-1).astype(np.float32), valid  # (H, W, 2)


def scene_flow(scene: FlowScene) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of a layout: flow (H, W, 2) float32 (u, v) of frame 1 and valid (H, W) bool."""
    return _flow(scene, layer_index(scene, 0))


def _octaves(rng: np.random.Generator, hw: tuple[int, int], period: float, persistence: float) -> np.ndarray:
    """(h, w) value noise of unit std: octaves of period ``period`` / 2^o down to 3 px (at least one)."""
    out, total, amp = np.zeros(hw, dtype=np.float32), 0.0, 1.0
    while True:
        grid = (math.ceil(hw[0] / period) + 1, math.ceil(hw[1] / period) + 1)
        out += _smooth_noise(rng, hw, grid, 1, amp)[0]
        total, amp, period = total + amp**2, amp * persistence, period / 2
        if period < 3.0:
            return out / np.float32(math.sqrt(total))


def _pattern(rng: np.random.Generator, hw: tuple[int, int], u: float) -> np.ndarray | None:
    """(h, w) float32 in [0, 1]: stripes, checks or spots of random period and direction; None for a plain layer."""
    kind, period = int(rng.integers(4)), np.float32(rng.uniform(0.3, 2.0) * u)
    if kind == 0:
        return None
    x, y = _grid(hw, np.float32)
    x /= period  # in periods
    y /= period
    theta = rng.uniform(0, math.pi)
    c, s = np.float32(math.cos(theta)), np.float32(math.sin(theta))
    if kind == 1:  # stripes, from soft to hard edged
        out = np.sin((c * np.float32(2 * math.pi)) * x + (s * np.float32(2 * math.pi)) * y)  # (h, w)
        out *= np.float32(rng.uniform(0.5, 4.0))
        out += np.float32(0.5)
        return np.clip(out, 0, 1, out=out)
    if kind == 2:  # checks, turned by theta
        return np.remainder(np.floor(c * x + s * y) + np.floor(c * y - s * x), np.float32(2))
    cells = (math.ceil(hw[0] / period) + 1, math.ceil(hw[1] / period) + 1)  # spots: one per cell of a grid
    centre_y, centre_x = rng.uniform(0.25, 0.75, (2, cells[0] * cells[1])).astype(np.float32)
    radius = rng.uniform(0.1, 0.35, cells[0] * cells[1]).astype(np.float32)
    i, j = np.floor(y), np.floor(x)  # (h, 1), (1, w) cell rows and columns
    cell = i.astype(np.intp) * cells[1] + j.astype(np.intp)  # (h, w) flat cell index
    dy = y - i - np.take(centre_y, cell)  # (h, w) offset from the cell's spot centre, in periods
    dx = x - j - np.take(centre_x, cell)
    return (dy * dy + dx * dx <= np.take(radius, cell) ** 2).astype(np.float32)


def _texture(rng: np.random.Generator, hw: tuple[int, int], u: float) -> np.ndarray:
    """(3, h, w) float32 texture in about [0, 1]: value noise through a random colour ramp, colour noise, pattern."""
    n = _octaves(rng, hw, rng.uniform(0.5, 4.0) * u, rng.uniform(0.5, 0.85))
    n *= np.float32(64.0)
    n += np.float32(128.0)
    level = np.clip(n, 0, 255, out=n).astype(np.intp)  # (h, w) in 256 steps: +-2 std of the noise span them
    stops = int(rng.integers(2, 5))
    colours = rng.uniform(0, 1, (stops, 3))  # (stops, 3) the ramp's colours, evenly spaced along it
    where, steps = np.linspace(0, 255, stops), np.arange(256)
    ramp = np.stack([np.interp(steps, where, colours[:, c]) for c in range(3)]).astype(np.float32)  # (3, 256)
    tex = np.take(ramp, level, axis=1)  # (3, h, w)
    tex += _smooth_noise(rng, hw, (4, 4), 3, 0.05)
    alpha = _pattern(rng, hw, u)
    if alpha is not None:  # tex (1 - a) + a colour, in place
        colour = rng.uniform(0, 1, (3, 1, 1)).astype(np.float32)
        alpha *= np.float32(-rng.uniform(0.4, 1.0))
        alpha += np.float32(1.0)
        tex -= colour
        tex *= alpha
        tex += colour
    return tex


def _render_frame(scene: FlowScene, atlas: np.ndarray, owner: np.ndarray, t: int) -> np.ndarray:
    """(3, H, W) float32 frame t: each pixel samples its owner's texture bilinearly at its texture point.

    atlas (3, N) holds the layers' flattened (3, th, tw) textures one after the other."""
    sizes = np.array([layer.texture_hw for layer in scene.layers])  # (L, 2) th, tw
    base = np.concatenate([[0], np.cumsum(sizes[:, 0] * sizes[:, 1])[:-1]])  # (L,) first texel of each texture
    # Image -> texture-array coordinates per layer: the inverse pose, shifted to the array's corner.
    table = np.stack([_inverse(layer.pose(t)) for layer in scene.layers])  # (L, 2, 3)
    table[:, :, 2] += (sizes[:, ::-1] - 1) / 2
    col, row = _apply(table, owner, np.float32)  # (H, W) each, float32 (sub-millipixel at these sizes)
    last = np.take((sizes - 2).astype(np.float32), owner, axis=0)  # (H, W, 2) the last texel with a neighbour
    c0 = np.clip(np.floor(col), 0, last[..., 1])  # (H, W) float32: the texel left of and above the point
    r0 = np.clip(np.floor(row), 0, last[..., 0])
    fc = np.clip(col - c0, 0, 1, out=col)  # (H, W) the point's offset from it, 0..1 (clamped at the edges)
    fr = np.clip(row - r0, 0, 1, out=row)
    tw = np.take(sizes[:, 1], owner)  # (H, W)
    i00 = np.take(base, owner) + r0.astype(np.intp) * tw + c0.astype(np.intp)  # (H, W) texel index in the atlas
    p00, p01 = np.take(atlas, i00, axis=1), np.take(atlas, i00 + 1, axis=1)  # (3, H, W) each
    p10, p11 = np.take(atlas, i00 + tw, axis=1), np.take(atlas, i00 + tw + 1, axis=1)
    p01 -= p00
    p01 *= fc
    p00 += p01  # the top row, interpolated along x
    p11 -= p10
    p11 *= fc
    p10 += p11  # the bottom row
    p10 -= p00
    p10 *= fr
    p00 += p10
    return p00


def render_flow_scene(
    rng: np.random.Generator, scene: FlowScene, spec: FlowSceneSpec, paint: Painter | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paint a layout: rgb1, rgb2 uint8 (H, W, 3), flow float32 (H, W, 2) (u, v) and valid bool (H, W).

    paint(rng, (th, tw), unit_px) -> (3, th, tw) float32 in about [0, 1] makes each layer's texture; default
    the procedural one."""
    h, w = scene.image_hw
    paint = _texture if paint is None else paint
    textures = [paint(rng, layer.texture_hw, scene.unit_px).reshape(3, -1) for layer in scene.layers]
    atlas = np.concatenate(textures, axis=1)  # (3, sum of th * tw)
    owner1 = layer_index(scene, 0)
    flow, valid = _flow(scene, owner1)
    gain = (255.0 * rng.uniform(0.8, 1.2) * rng.uniform(0.94, 1.06, size=3)).astype(np.float32)
    frames = []
    for t, owner in ((0, owner1), (1, layer_index(scene, 1))):
        img = _render_frame(scene, atlas, owner, t)
        img *= gain[:, None, None]
        noise = rng.random((1, h, w), dtype=np.float32)  # uniform, shared by the channels: cheap
        noise -= np.float32(0.5)
        noise *= np.float32(255.0 * spec.noise * math.sqrt(12.0))
        img += noise
        img += np.float32(0.5)  # round on the cast below
        np.clip(img, np.float32(0.0), np.float32(255.0), out=img)
        frames.append(np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 0)))  # (H, W, 3)
    return frames[0], frames[1], flow, valid
