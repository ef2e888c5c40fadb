"""``FlowScores``: the flow metrics of an evaluation, with the benchmarks' own variants where the data allows.

- Always: ``FlowMetric`` at the image's resolution (``epe``, ``1px`` ... ``s40+``; KITTI's Fl-all is ``fl_all``
  over the valid pixels, that is over ``flow_occ`` when the dataset reads it).
- Sintel (samples with an ``occluded`` mask): the EPE over all valid pixels, over the matched (visible in
  both frames) and over the unmatched (occluded) ones: ``epe_matched``, ``epe_unmatched``.
- Spring (samples with ``flow_2x`` / ``valid_2x``, the ground truth at twice the resolution): the benchmark's
  comparison, each prediction pixel against the best of its 2 x 2 ground-truth block: ``2x_epe``, ``2x_1px``,
  ``2x_fl_all`` ... (``FlowMetric(gt_scale=2)``).
"""

from __future__ import annotations

import copy

import torch

from ..base import check_mergeable
from .metric import NAMES, FlowMetric

SPRING_PREFIX = "2x_"


class FlowScores:
    primary = "epe"
    higher_is_better = False

    def __init__(self, per_image: bool = False) -> None:
        self.per_image = per_image
        self.reset()

    def reset(self) -> None:
        self.main = FlowMetric(self.per_image)
        self.matched: FlowMetric | None = None  # created by the first batch with an occlusion mask
        self.unmatched: FlowMetric | None = None
        self.spring: FlowMetric | None = None  # created by the first batch with 2x ground truth

    def update(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor | None = None,
        extras: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """pred, target (B, 2, H, W), valid (B, H, W); extras: ``occluded`` (B, H, W) bool, ``flow_2x``
        (B, 2, 2H, 2W) with ``valid_2x`` (B, 2H, 2W) bool."""
        extras = extras or {}
        self.main.update(pred, target, valid)
        if "occluded" in extras:
            occluded = extras["occluded"].bool().to(pred.device)  # (B, H, W)
            keep = torch.ones_like(occluded) if valid is None else valid.to(pred.device)  # (B, H, W)
            if self.matched is None or self.unmatched is None:
                self.matched, self.unmatched = FlowMetric(self.per_image), FlowMetric(self.per_image)
            self.matched.update(pred, target, keep & ~occluded)
            self.unmatched.update(pred, target, keep & occluded)
        if "flow_2x" in extras:
            if self.spring is None:
                self.spring = FlowMetric(self.per_image, gt_scale=2)
            self.spring.update(pred, extras["flow_2x"], extras.get("valid_2x"))

    def merge(self, other: FlowScores) -> None:
        """Add ``other``'s scores (another shard of the dataset) to these; a variant only ``other`` has is copied."""
        check_mergeable(self, other, ("per_image",))
        self.main.merge(other.main)
        for name in ("matched", "unmatched", "spring"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is None:
                setattr(self, name, copy.deepcopy(theirs))
            elif theirs is not None:
                mine.merge(theirs)

    def compute(self) -> dict:
        out = self.main.compute()
        if self.matched is not None and self.unmatched is not None:
            out["epe_matched"] = self.matched.compute()["epe"]
            out["epe_unmatched"] = self.unmatched.compute()["epe"]
        if self.spring is not None:
            spring = self.spring.compute()
            out.update({SPRING_PREFIX + k: spring[k] for k in (*NAMES, "count")})
        return out


def benchmark_lines(metrics: dict) -> list[str]:
    """Markdown tables as the benchmarks report them, for the variants ``metrics`` holds."""
    lines = [
        "| EPE | >1px % | >3px % | >5px % | Fl-all % | s0-10 | s10-40 | s40+ |",
        "|---|---|---|---|---|---|---|---|",
        "| " + " | ".join(f"{metrics[k]:.3f}" for k in NAMES) + " |",
    ]
    if "epe_matched" in metrics:
        lines += [
            "",
            "Sintel (occlusion masks):",
            "",
            "| EPE all | EPE matched | EPE unmatched | s0-10 | s10-40 | s40+ |",
            "|---|---|---|---|---|---|",
            "| " + " | ".join(f"{metrics[k]:.3f}" for k in ("epe", "epe_matched", "epe_unmatched")) + " | "
            + " | ".join(f"{metrics[k]:.3f}" for k in ("s0-10", "s10-40", "s40+")) + " |",
        ]  # fmt: skip
    if SPRING_PREFIX + "epe" in metrics:
        keys = ("1px", "epe", "fl_all")
        lines += [
            "",
            "Spring (ground truth at 2x, each pixel scored by the best of its 2x2 block):",
            "",
            "| 1px % | EPE | Fl % |",
            "|---|---|---|",
            "| " + " | ".join(f"{metrics[SPRING_PREFIX + k]:.3f}" for k in keys) + " |",
        ]
    return lines
