"""``WindowSpec``: a typed description of how a training batch selects its tokens.

Covers the paper's variants (Table 1 and Appendix C): N square windows of one size (the default, 2 is
Win-Win), explicit per-window sizes (e.g. 28x28 + 15x15), a single window (crop training), a total token
budget split among a random number of windows with random shares and aspect ratios, a random total budget,
extra isolated tokens, random single tokens (MAE-like) and no selection at all (full-resolution training).
Random choices are drawn once per batch, so all rows share window sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .core import Windows
from .sampler import check_fit, sample_windows

MODES = ("windows", "budget", "random_tokens", "full")


@dataclass
class WindowSpec:
    mode: str = "windows"  # windows | budget | random_tokens | full (no masking: full-resolution training)
    num_windows: int = 2  # windows: N windows
    window_size: list[int] = field(default_factory=lambda: [5, 5])  # windows: (h, w) of every window
    sizes: list[list[int]] | None = None  # windows: explicit (h, w) per window, overrides num_windows/window_size
    token_budget: int = 50  # budget / random_tokens: total tokens per image
    budget_range: list[int] | None = None  # budget: draw the total uniformly in [lo, hi] per batch
    num_windows_choices: list[int] | None = None  # budget: draw N among these per batch
    max_share_ratio: float = 1.0  # budget: largest window up to this times the average area (1 = equal)
    aspect_range: list[float] = field(default_factory=lambda: [1.0, 1.0])  # budget: h/w drawn log-uniformly
    extra_tokens: int = 0  # isolated tokens outside the windows, no head / loss (Appendix C)
    balance: bool = True  # border-balanced window positions (see sampler.py)

    def validate(self, grid_hw: tuple[int, int]) -> None:
        """Raise ValueError, before any work, when this spec cannot be met on a grid."""
        if self.mode not in MODES:
            raise ValueError(f"windows.mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "full":
            return
        if self.mode == "random_tokens":
            check_fit(grid_hw, [(1, 1)] * self.token_budget, self.extra_tokens)
            return
        if self.mode == "windows":
            check_fit(grid_hw, self.window_sizes(), self.extra_tokens)
            return
        lo, hi = self._budget_bounds()
        choices = self.num_windows_choices or [self.num_windows]
        if lo < 1 or lo > hi:
            raise ValueError(f"windows.budget_range must be 1 <= lo <= hi, got {self.budget_range}")
        if min(choices) < 1:
            raise ValueError(f"numbers of windows must be >= 1, got {choices}")
        if self.max_share_ratio < 1.0:
            raise ValueError(f"windows.max_share_ratio must be >= 1, got {self.max_share_ratio}")
        a, b = self.aspect_range
        if not 0 < a <= b:
            raise ValueError(f"windows.aspect_range must be 0 < lo <= hi, got {self.aspect_range}")
        gh, gw = grid_hw
        if hi + self.extra_tokens > gh * gw // 2:
            raise ValueError(
                f"a budget of up to {hi} tokens (+{self.extra_tokens} extra) leaves too little room to place "
                f"random windows in a {gh}x{gw} grid; use at most {gh * gw // 2 - self.extra_tokens} tokens"
            )
        gen = torch.Generator().manual_seed(0)
        for _ in range(8):  # dry runs: the random sizes must be placeable
            self.sample(grid_hw, 2, gen)

    def window_sizes(self) -> list[tuple[int, int]]:
        if self.sizes is not None:
            return [(int(h), int(w)) for h, w in self.sizes]
        h, w = self.window_size
        return [(int(h), int(w))] * self.num_windows

    def _budget_bounds(self) -> tuple[int, int]:
        if self.budget_range is None:
            return self.token_budget, self.token_budget
        return int(self.budget_range[0]), int(self.budget_range[1])

    def num_tokens(self) -> int | None:
        """Tokens per image when fixed (windows, random_tokens), None when random or full."""
        if self.mode == "windows":
            return sum(h * w for h, w in self.window_sizes()) + self.extra_tokens
        if self.mode == "random_tokens":
            return self.token_budget + self.extra_tokens
        return None

    def draw_sizes(self, grid_hw: tuple[int, int], generator: torch.Generator | None) -> list[tuple[int, int]]:
        """Budget mode: draw N, the total budget, each window's share and aspect ratio (h / w).
        ``generator=None`` draws from torch's global RNG."""
        gh, gw = grid_hw
        lo, hi = self._budget_bounds()
        budget = int(torch.randint(lo, hi + 1, (1,), generator=generator))
        choices = self.num_windows_choices or [self.num_windows]
        n = choices[int(torch.randint(len(choices), (1,), generator=generator))]
        shares = torch.ones(n) / n
        for _ in range(64):  # uniform on the simplex, rejected until the largest is <= ratio x average
            cand = -torch.log(torch.rand(n, generator=generator))
            cand = cand / cand.sum()
            if float(cand.max()) * n <= self.max_share_ratio + 1e-9:
                shares = cand
                break
        log_a, log_b = math.log(self.aspect_range[0]), math.log(self.aspect_range[1])
        aspects = torch.exp(log_a + (log_b - log_a) * torch.rand(n, generator=generator))
        sizes = []
        for share, aspect in zip(shares.tolist(), aspects.tolist()):
            area = max(1.0, share * budget)
            h = min(gh, max(1, round(math.sqrt(area * aspect))))
            w = min(gw, max(1, round(area / h)))
            sizes.append((h, w))
        return sizes

    def sample(
        self, grid_hw: tuple[int, int], batch_size: int, generator: torch.Generator | None = None
    ) -> Windows | None:
        """Windows for one batch, or None in ``full`` mode."""
        if self.mode == "full":
            return None
        if self.mode == "random_tokens":
            return sample_windows(
                grid_hw, self.token_budget, (1, 1), batch_size, generator, extra_tokens=self.extra_tokens
            )
        if self.mode == "windows":
            sizes = self.window_sizes()
        else:
            sizes = self.draw_sizes(grid_hw, generator)
        return sample_windows(
            grid_hw, len(sizes), sizes, batch_size, generator, extra_tokens=self.extra_tokens, balance=self.balance
        )
