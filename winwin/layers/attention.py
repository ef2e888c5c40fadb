"""Multi-head self- and cross-attention with RoPE and a first-class softmax temperature.

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

from .rope import RotaryTables
from .rope_mixed import Rotary


class AttentionBase(nn.Module):
    """What self- and cross-attention share: heads, the output projection, optional RoPE, and the softmax
    temperature (one float, or one learnable value per head). Subclasses project their inputs to q, k, v
    and call ``_attend``; calibration finds every attention layer through this class."""

    def __init__(self, dim: int, num_heads: int, rope: Rotary | None = None, attn_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = attn_drop
        self.rope = rope
        self.temperature = 1.0  # global multiplier of 1 / sqrt(head_dim); a plain float, set by calibration
        self.log_temperature: nn.Parameter | None = None  # (heads,), created by enable_head_temperature()

    def _add_output_projection(self, dim: int, proj_drop: float) -> None:
        """Called by subclasses after their input projections (keeps parameter order and init order)."""
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def rope_tables(self, pos: torch.Tensor | RotaryTables) -> RotaryTables:
        """RoPE tables of tokens at ``pos`` (B, N, 2) for this layer's heads, (B, 1, N, D) or per head (B, h, N, D)
        with ``RoPEMixed``; tables pass through unchanged."""
        return pos if isinstance(pos, RotaryTables) else self.rope.tables(pos, self.head_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, h, N, D)."""
        B, N, _ = x.shape
        return x.reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, N, D)

    def _merge(self, out: torch.Tensor) -> torch.Tensor:
        """(B, h, N, D) -> projected (B, N, C)."""
        B, h, N, D = out.shape
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, h * D)))  # (B, N, C)

    def enable_head_temperature(self, init: float | None = None) -> nn.Parameter:
        """Create (or reset) one learnable log-temperature per head, initialised to log(init); ``init=None``
        starts every head from the shared ``temperature``. From now on the per-head values are used."""
        init = self.temperature if init is None else init
        if init <= 0:
            raise ValueError(f"a temperature must be > 0, got {init}")
        value = torch.full((self.num_heads,), math.log(init), device=self.proj.weight.device)
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

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """q: (B, h, Nq, D), k, v: (B, h, Nk, D) -> (B, h, Nq, D) through SDPA (fused kernels on GPU);
        ``mask``: optional bool, broadcastable to (B, h, Nq, Nk), True where a query may attend to a key."""
        factor = self.scale_factor()
        if isinstance(factor, torch.Tensor):
            # Per-head temperature: fold it into q so SDPA keeps a single scalar scale.
            q = q * factor.to(q.dtype)[None, :, None, None]
            factor = 1.0
        scale = factor / math.sqrt(self.head_dim)
        drop = self.attn_drop if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, scale=scale)

    def extra_repr(self) -> str:
        t = "per-head" if self.log_temperature is not None else f"{self.temperature:g}"
        return f"heads={self.num_heads}, head_dim={self.head_dim}, temperature={t}"


class Attention(AttentionBase):
    """Multi-head self-attention over tokens that carry their (y, x) positions: ``forward(x, pos)``.

    ``key_bias=False`` (DINOv3's ``mask_k_bias``): the keys get no bias; the k third of ``qkv.bias`` is kept
    in the state dict but multiplied by 0 at every use, so it never acts and gets no gradient."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        rope: Rotary | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        key_bias: bool = True,
    ) -> None:
        super().__init__(dim, num_heads, rope, attn_drop)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.key_bias = key_bias or not qkv_bias
        self._add_output_projection(dim, proj_drop)

    def _qkv(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) -> (B, N, 3C): q, then k, then v."""
        if self.key_bias:
            return self.qkv(x)
        C = x.shape[-1]
        mask = torch.ones(3, C, device=x.device, dtype=self.qkv.bias.dtype)  # (3, C): q, k, v thirds
        mask[1] = 0
        return F.linear(x, self.qkv.weight, self.qkv.bias * mask.flatten())  # (B, N, 3C)

    def forward(
        self, x: torch.Tensor, pos: torch.Tensor | RotaryTables, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x: (B, N, C); pos: (B, N, 2) integer (y, x), or their RoPE tables; ``mask``: optional bool
        (B, 1, 1, N) or broadcastable to (B, h, N, N), True = may attend (e.g. not padding). Returns (B, N, C)."""
        B, N, C = x.shape
        qkv = self._qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, h, N, D)
        qk, v = qkv[:2], qkv[2]  # (2, B, h, N, D), (B, h, N, D)
        if self.rope is not None:
            qk = self.rope_tables(pos).apply(qk)  # q and k rotated in one go: (2, B, h, N, D)
        q, k = qk.unbind(0)  # each (B, h, N, D)
        return self._merge(self._attend(q, k, v, mask))  # (B, N, C)


class CrossAttention(AttentionBase):
    """Multi-head cross-attention from query tokens to memory tokens (e.g. the second frame's, CroCo's
    decoder), each with their own positions: ``forward(x, pos, mem, mem_pos)``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        rope: Rotary | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__(dim, num_heads, rope, attn_drop)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self._add_output_projection(dim, proj_drop)

    def forward(
        self, x: torch.Tensor, pos: torch.Tensor | RotaryTables, mem: torch.Tensor, mem_pos: torch.Tensor | RotaryTables
    ) -> torch.Tensor:
        """x: (B, Nq, C), pos: (B, Nq, 2); mem: (B, Nk, C), mem_pos: (B, Nk, 2) (positions or their RoPE
        tables). Returns (B, Nq, C)."""
        q = self._heads(self.q(x))  # (B, h, Nq, D)
        k, v = (self._heads(t) for t in self.kv(mem).chunk(2, dim=-1))  # each (B, h, Nk, D)
        if self.rope is not None:
            q, k = self.rope_tables(pos).apply(q), self.rope_tables(mem_pos).apply(k)  # (B, h, Nq|Nk, D)
        return self._merge(self._attend(q, k, v))  # (B, Nq, C)
