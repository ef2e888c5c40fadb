"""How close winwin's DINOv3 encoder comes to DINOv3's own outputs on the fixture (the tests assert 1e-4): the
largest absolute difference of every tensor in ``dinov3_tiny_expected.pt``, and the same for a window batch that
covers the whole grid against the full forward.

    python experiments/dinov3_fixture_check.py [tests/fixtures/dinov3]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from winwin.layers import RoPE2D, grid_positions
from winwin.models import load_dinov3
from winwin.windows import Windows


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/dinov3")
    enc = load_dinov3(folder / "dinov3_tiny.pth").eval()
    e = torch.load(folder / "dinov3_tiny_expected.pt", weights_only=True)
    rows = []
    with torch.no_grad():
        for suffix in ("", "_b"):
            img = e["img" + suffix]
            out = enc.tokens(img, return_layers=e["inter_layers"] if suffix == "" else ())
            rows += [(f"cls{suffix}", out.cls, e["cls" + suffix]),
                     (f"storage{suffix}", out.storage, e["storage" + suffix]),
                     (f"patch{suffix}", out.patch, e["patch" + suffix])]  # fmt: skip
            if suffix == "":
                for j, layer in enumerate(out.layers):
                    rows += [(f"inter_cls[{j}]", layer[:, 0], e["inter_cls"][j]),
                             (f"inter_storage[{j}]", layer[:, 1:5], e["inter_storage"][j]),
                             (f"inter_patch[{j}]", layer[:, 5:], e["inter_patch"][j])]  # fmt: skip
            grid = (img.shape[-2] // 16, img.shape[-1] // 16)
            t = RoPE2D(100.0, "normalized", "dinov3").tables(grid_positions(grid)[None], 16, grid)
            sign = torch.tensor([-1.0] * 8 + [1.0] * 8)
            rows += [(f"rope_cos{suffix}", t.cos[0, 0], e["rope_cos" + suffix]),
                     (f"rope_sin{suffix}", t.sin[0, 0] * sign, e["rope_sin" + suffix])]  # fmt: skip
            win = enc.tokens(img, Windows.full(grid, img.shape[0]))
            rows.append((f"window covering the grid vs full{suffix}", win.patch, out.patch))
    print("| tensor | max abs difference |\n|---|---|")
    for name, ours, theirs in rows:
        print(f"| {name} | {(ours - theirs).abs().max().item():.2e} |")


if __name__ == "__main__":
    main()
