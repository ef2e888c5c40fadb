"""Optical flow as a colour picture: the Middlebury colour wheel (Baker et al., IJCV 2011, Sec. 4.1 and Fig. 4).

The wheel holds 55 colours on six ramps between the primaries and secondaries: red -> yellow in 15 steps,
yellow -> green in 6, green -> cyan in 4, cyan -> blue in 11, blue -> magenta in 13, magenta -> red in 6
(the steps are chosen so that perceptually similar hues get similar angles). Ramp entry i of n steps has its
rising channel at floor(255 i / n) and its falling channel at 255 - floor(255 i / n).

A flow vector (u, v) gets its hue from the angle a = atan2(-v, -u) / pi in [-1, 1], placed linearly on the
wheel at k = (a + 1) / 2 * 54 and interpolated between the two nearest entries (so +u is red, -u cyan-blue,
+v, downwards, orange-yellow, -v, upwards, violet). Its saturation comes from the magnitude r normalised by
``max_flow``: for r <= 1 each channel is 1 - r (1 - colour), white at zero flow and the pure wheel colour at
r = 1; vectors longer than ``max_flow`` keep the wheel colour, darkened to 75 %. Non-finite vectors and
Middlebury's unknown flow (a component above 1e9) are black.
"""

from __future__ import annotations

import numpy as np

from .flow_io import UNKNOWN_FLOW

RAMPS = (15, 6, 4, 11, 13, 6)  # RY, YG, GC, CB, BM, MR: 55 colours in all


def colour_wheel() -> np.ndarray:
    """(55, 3) float64 wheel colours in 0..255, red first, going red -> yellow -> green -> cyan -> blue -> magenta."""
    ry, yg, gc, cb, bm, mr = RAMPS
    wheel = np.zeros((sum(RAMPS), 3))
    rise = lambda n: np.floor(255 * np.arange(n) / n)  # (n,) 0 .. 255 (n - 1) / n
    k = 0
    # (ramp length, channel held at 255, channel that changes, rising?)
    for n, full, moving, rising in ((ry, 0, 1, True), (yg, 1, 0, False), (gc, 1, 2, True),
                                    (cb, 2, 1, False), (bm, 2, 0, True), (mr, 0, 2, False)):  # fmt: skip
        wheel[k : k + n, full] = 255
        wheel[k : k + n, moving] = rise(n) if rising else 255 - rise(n)
        k += n
    return wheel


def flow_to_color(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """Float (H, W, 2) flow (u, v) -> uint8 (H, W, 3) RGB picture on the Middlebury colour wheel.

    max_flow: the magnitude shown fully saturated; default the largest finite known magnitude in ``flow``
    (pass the same value to compare pictures of several fields).
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"expected a flow field of shape (H, W, 2), got {tuple(flow.shape)}")
    if max_flow is not None and not (np.isfinite(max_flow) and max_flow > 0):
        raise ValueError(f"max_flow must be a positive finite number of pixels, got {max_flow}")
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)  # (H, W) each
    known = np.isfinite(u) & np.isfinite(v) & (np.abs(u) <= UNKNOWN_FLOW) & (np.abs(v) <= UNKNOWN_FLOW)
    u, v = np.where(known, u, 0.0), np.where(known, v, 0.0)
    rad = np.hypot(u, v)  # (H, W)
    if max_flow is None:
        max_flow = float(rad.max()) if rad.size else 0.0
    rad = rad / (max_flow + np.finfo(np.float64).eps)

    wheel = colour_wheel() / 255.0  # (55, 3)
    n = len(wheel)
    a = np.arctan2(-v, -u) / np.pi  # (H, W) in [-1, 1]
    a = np.where(a >= 1.0, -1.0, a)  # +u with v = -0.0: the same angle as -1, keep it red
    k = (a + 1.0) / 2.0 * (n - 1)  # (H, W) in [0, n - 1)
    k0 = np.floor(k).astype(np.intp)
    k1 = (k0 + 1) % n
    f = (k - k0)[..., None]  # (H, W, 1)
    col = (1.0 - f) * wheel[k0] + f * wheel[k1]  # (H, W, 3)
    inside = (rad <= 1.0)[..., None]
    col = np.where(inside, 1.0 - rad[..., None] * (1.0 - col), 0.75 * col)
    col *= known[..., None]
    return np.floor(255.0 * col).astype(np.uint8)
