"""Multi-head attention with RoPE and a first-class softmax temperature.

The paper (Sec. 3, Appendix D) re-tunes the softmax temperature when the token count grows from training
windows to the full image. Here the temperature is a multiplier of the default 1/sqrt(D) scale of the
attention logits: ``logits = temperature * q.k / sqrt(D)``. It is either one float shared by the heads
(``temperature``, the swept value) or, once per-head temperatures are enabled, one learnable factor per head
``exp(log_temperature[h])`` (the learned calibration), which then replaces the shared float.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .rope import RoPE2D


class Attention(nn.Module):
    """Multi-head self-attention over tokens that carry their (y, x) positions: ``forward(x, pos)``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        rope: RoPE2D | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)
        self.rope = rope
        self.temperature = 1.0  # global multiplier of 1 / sqrt(head_dim); a plain float, set by calibration
        self.log_temperature: nn.Parameter | None = None  # (heads,), created by enable_head_temperature()

    def enable_head_temperature(self, init: float | None = None) -> nn.Parameter:
        """Create (or reset) one learnable log-temperature per head, initialised to log(init); ``init=None``
        starts every head from the shared ``temperature``. From now on the per-head values are used."""
        init = self.temperature if init is None else init
        if init <= 0:
            raise ValueError(f"a temperature must be > 0, got {init}")
        value = torch.full((self.num_heads,), math.log(init), device=self.qkv.weight.device)
        self.log_temperature = nn.Parameter(value)
        return self.log_temperature

    def disable_head_temperature(self) -> nn.Parameter | None:
        """Drop the per-head temperatures (back to the shared float); returns them."""
        param = self.log_temperature
        self.log_temperature = None
        return param

    def scale_factor(self) -> torch.Tensor | float:
        """The multiplier of 1/sqrt(D): the shared float, or (heads,) when per-head temperatures are enabled."""
        if self.log_temperature is None:
            return self.temperature
        return self.log_temperature.exp()

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C); pos: (B, N, 2) integer (y, x). Returns (B, N, C)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, h, N, D)
        q, k, v = qkv.unbind(0)  # each (B, h, N, D)
        if self.rope is not None:
            q, k = self.rope(q, pos), self.rope(k, pos)
        out = self._attend(q, k, v)  # (B, h, N, D)
        out = out.transpose(1, 2).reshape(B, N, C)  # (B, N, C)
        return self.proj_drop(self.proj(out))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q: (B, h, Nq, D), k, v: (B, h, Nk, D) -> (B, h, Nq, D) through SDPA (fused kernels on GPU)."""
        factor = self.scale_factor()
        if isinstance(factor, torch.Tensor):
            # Per-head temperature: fold it into q so SDPA keeps a single scalar scale.
            q = q * factor.to(q.dtype)[None, :, None, None]
            factor = 1.0
        scale = factor / math.sqrt(self.head_dim)
        drop = self.attn_drop if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=scale)

    def extra_repr(self) -> str:
        t = "per-head" if self.log_temperature is not None else f"{self.temperature:g}"
        return f"heads={self.num_heads}, head_dim={self.head_dim}, temperature={t}"
