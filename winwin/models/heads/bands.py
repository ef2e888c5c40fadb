"""Row bands: compute a large map that only depends on nearby rows of its input band by band, so that only
one band's intermediate maps are alive at a time (inference; see DPTHead). Each band is computed from a slab
of input rows, the band's own plus a halo on either side; the output rows near a cut slab edge, which saw the
cut as if it were the map's border, fall in the halo and are dropped."""

from __future__ import annotations

from collections.abc import Callable

import torch

# fn(r0, r1, a, b): the output rows of input rows [a, b), computed from the slab of input rows [r0, r1)
BandFn = Callable[[int, int, int, int], torch.Tensor]


def band_slabs(start: int, stop: int, height: int, band: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Input rows [start, stop) of a map of ``height`` rows cut into bands of ``band`` rows (the last one may
    be shorter) -> (r0, r1, a, b) for each band [a, b): its slab [r0, r1), ``halo`` rows more on either side,
    clipped to the map."""
    if band < 1 or halo < 0 or not 0 <= start <= stop <= height:
        raise ValueError(f"bad bands: rows [{start}, {stop}) of {height}, band {band}, halo {halo}")
    return [
        (max(a - halo, 0), min(min(a + band, stop) + halo, height), a, min(a + band, stop))
        for a in range(start, stop, band)
    ]


def map_row_bands(fn: BandFn, start: int, stop: int, height: int, band: int, halo: int, scale: int) -> torch.Tensor:
    """The output rows of input rows [start, stop), band by band -> (B, K, scale * (stop - start), W).

    ``fn(r0, r1, a, b)`` returns (B, K, scale * (b - a), W): the output of input rows [a, b) when the map is
    only its rows [r0, r1). It equals the output of the whole map when every cut slab edge (r0 > 0, r1 <
    height) is at least ``halo`` input rows from [a, b), i.e. when ``halo`` covers how far a cut reaches."""
    out = None
    for r0, r1, a, b in band_slabs(start, stop, height, band, halo):
        y = fn(r0, r1, a, b)  # (B, K, scale*(b - a), W)
        if out is None:  # (B, K, scale*(stop - start), W), filled band by band
            out = y.new_empty(*y.shape[:2], scale * (stop - start), y.shape[-1])
        out[:, :, scale * (a - start) : scale * (b - start)] = y
    if out is None:
        raise ValueError(f"no rows to compute: [{start}, {stop})")
    return out
