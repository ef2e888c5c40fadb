"""RoPE-Mixed: 2D rotary position embedding with learned mixed-axis frequencies (Heo et al., "Rotary Position
Embedding for Vision Transformer", ECCV 2024).

Axial 2D RoPE (``RoPE2D``) rotates the pairs of one half of the head dimension by the token's y position and
the pairs of the other half by its x position. RoPE-Mixed gives every pair t of every head h a learnable 2D
frequency (f_y, f_x)[h, t] and rotates it by the angle f_y * y + f_x * x: a pair can follow any direction of
the image (diagonals too), and each head its own. Angles stay linear in the position, so the attention score
of two tokens still depends only on their relative position.

Layout: the same as ``RoPE2D``'s tables, so ``RotaryTables.apply`` rotates with them unchanged. The D/2
pairs are t = s * D/4 + j, the pair (j, j + D/4) inside half s of D (s = 0: first half, s = 1: second half,
j < D/4). The tables are per head: (B, H, N, D).

Initialisation (the paper's, for a RoPE of base ``base``): head h draws one angle phi_h ~ U[0, 2 pi) from
torch's global generator, and

    |f[h, t]| = base ** (-4 j / D)                      (RoPE2D's inverse frequency of pair j)
    (f_y, f_x)[h, t] = |f| * (cos(phi_h + s pi/2), sin(phi_h + s pi/2))

so the first half points along phi_h and the second half across it: every head covers both image axes at
init. phi_h = 0 is ``RoPE2D`` exactly (first half along y, second along x). The paper uses base 10 for
RoPE-Mixed (100 for axial); here the base is the model's ``rope_base``.

One ``RoPEMixed`` holds the frequencies of one attention layer (the paper learns them per block); the layer
turns the token positions into its own tables when it runs. Its parameter ``freqs`` takes no weight decay
(``winwin.engine.optim``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .rope import RoPE2D, RotaryTables


def mixed_frequencies(angles: torch.Tensor, head_dim: int, base: float = 100.0) -> torch.Tensor:
    """The initial frequencies of heads rotated by ``angles`` (H,) radians -> (H, D/2, 2): (f_y, f_x) per pair
    t = s * D/4 + j; see the module docstring. ``angles`` all zero gives RoPE2D's axial frequencies."""
    if head_dim % 4 != 0:
        raise ValueError(f"RoPEMixed needs a head dimension divisible by 4, got {head_dim}")
    angles = angles.to(torch.float64)
    q = head_dim // 4  # pairs per half
    magnitude = base ** (-4.0 * torch.arange(q, dtype=torch.float64) / head_dim)  # (D/4,)
    direction = angles[:, None] + torch.tensor([0.0, math.pi / 2], dtype=torch.float64)  # (H, 2): per half
    fy = direction.cos()[:, :, None] * magnitude  # (H, 2, D/4)
    fx = direction.sin()[:, :, None] * magnitude  # (H, 2, D/4)
    return torch.stack((fy, fx), dim=-1).reshape(len(angles), 2 * q, 2).to(torch.float32)  # (H, D/2, 2)


class RoPEMixed(nn.Module):
    """Learned mixed-axis 2D RoPE of one attention layer: ``freqs`` (H, D/2, 2) holds (f_y, f_x) per head and
    pair.

    Args:
        num_heads, head_dim: of the attention layer it rotates for (H, D; D divisible by 4).
        base: base frequency of the initial magnitudes (like ``RoPE2D``'s).
    """

    def __init__(self, num_heads: int, head_dim: int, base: float = 100.0) -> None:
        super().__init__()
        if base <= 1.0:
            raise ValueError(f"RoPE base frequency must be > 1, got {base}")
        if num_heads < 1 or head_dim % 4 != 0:
            raise ValueError(f"RoPEMixed needs >= 1 heads and a head dimension divisible by 4, got {head_dim}")
        self.num_heads, self.head_dim, self.base = num_heads, head_dim, float(base)
        self.freqs = nn.Parameter(torch.empty(num_heads, head_dim // 2, 2))  # (H, D/2, (f_y, f_x))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, angles: torch.Tensor | None = None) -> None:
        """Initial frequencies for head angles ``angles`` (H,) radians; None draws them uniformly in
        [0, 2 pi) from torch's global generator (``torch.manual_seed`` makes a build reproducible)."""
        if angles is None:
            angles = torch.rand(self.num_heads) * (2 * math.pi)  # (H,)
        if angles.shape != (self.num_heads,):
            raise ValueError(f"need one angle per head ({self.num_heads}), got shape {tuple(angles.shape)}")
        self.freqs.copy_(mixed_frequencies(angles.cpu(), self.head_dim, self.base))

    def tables(self, pos: torch.Tensor, head_dim: int | None = None) -> RotaryTables:
        """pos: (B, N, 2) integer (y, x) -> per-head tables (B, H, N, D), differentiable in ``freqs``."""
        if pos.ndim != 3 or pos.shape[-1] != 2:
            raise ValueError(f"RoPEMixed expects positions (B, N, 2), got {tuple(pos.shape)}")
        H, D = self.num_heads, self.head_dim
        if head_dim is not None and head_dim != D:
            raise ValueError(f"this RoPEMixed rotates heads of size {D}, got head_dim {head_dim}")
        B, N, _ = pos.shape
        # float32 angles, element-wise (no matmul: autocast would take it to bf16): (B, H, N, D/2)
        p = pos.to(torch.float32)[:, None, :, None, :]  # (B, 1, N, 1, 2)
        f = self.freqs.to(torch.float32)[None, :, None]  # (1, H, 1, D/2, 2)
        angles = p[..., 0] * f[..., 0] + p[..., 1] * f[..., 1]  # (B, H, N, D/2): f_y * y + f_x * x per pair
        angles = angles.unflatten(-1, (2, 1, D // 4))  # (B, H, N, half, 1, D/4)
        sign = torch.tensor([-1.0, 1.0], device=pos.device)[:, None]  # (quarter, 1): rotate-half's signs
        cos = angles.cos().expand(B, H, N, 2, 2, D // 4).reshape(B, H, N, D)  # (B, H, N, D)
        sin = (angles.sin() * sign).reshape(B, H, N, D)  # (B, H, N, half, quarter, D/4) -> (B, H, N, D)
        return RotaryTables(cos, sin)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | RotaryTables) -> torch.Tensor:
        """x: (B, H, N, D) queries or keys; pos: (B, N, 2) integer (y, x), or their tables -> (B, H, N, D)."""
        if x.ndim != 4:
            raise ValueError(f"RoPEMixed expects x (B, heads, N, D), got {tuple(x.shape)}")
        tables = pos if isinstance(pos, RotaryTables) else self.tables(pos)
        return tables.apply(x)  # (B, H, N, D)

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, head_dim={self.head_dim}, base={self.base:g}"


Rotary = RoPE2D | RoPEMixed  # what an attention layer rotates its queries and keys with
