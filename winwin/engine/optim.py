"""AdamW with layer-wise lr decay and no weight decay on norms/biases, temperatures and RoPE-Mixed frequencies;
warm-up + cosine schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

# Parameters that take no weight decay whatever their shape (besides every 1-D one), by name: learned attention
# temperatures, and RoPE-Mixed's frequencies (an attention's ``rope.freqs``, (heads, D/2, 2): decay would pull them
# towards 0, i.e. towards no position information), and the class / storage tokens (as timm and DINOv3 do).
NO_DECAY_NAMES = ("temperature", "rope.freqs", "cls_token", "storage_tokens")


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float) -> list[dict]:
    """One group per (depth, decay?) pair. Depth comes from the module structure (``model.layer_groups()``),
    not parameter names: patch embedding 0, encoder block i -> i + 1, then the decoder's blocks if any; the
    last group (final norm and head) has lr scale 1."""
    groups = model.layer_groups()
    top = len(groups) - 1
    seen: set[int] = set()
    out = []
    for depth, modules in enumerate(groups):
        scale = layer_decay ** (top - depth)
        decay, no_decay = [], []
        for module in modules:
            for name, p in module.named_parameters():
                if not p.requires_grad or id(p) in seen:
                    continue
                seen.add(id(p))
                (no_decay if p.ndim <= 1 or any(k in name for k in NO_DECAY_NAMES) else decay).append(p)
        for params, wd in ((decay, weight_decay), (no_decay, 0.0)):
            if params:
                out.append({"params": params, "weight_decay": wd, "lr_scale": scale})
    leftover = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if leftover:
        raise ValueError(f"parameters outside the model's layer groups are not optimised: {leftover[:5]}")
    return out


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float, layer_decay: float, betas: tuple[float, float]
) -> torch.optim.AdamW:
    """AdamW over the layer-decay groups; the fused kernel (one launch for all tensors) when the parameters
    are on a GPU."""
    groups = param_groups(model, weight_decay, layer_decay)
    for g in groups:
        g["lr"] = lr * g["lr_scale"]
    on_gpu = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True if on_gpu else None)


def lr_at(step: int, total: int, base_lr: float, warmup: int, min_lr: float) -> float:
    """Linear warm-up to ``base_lr`` over ``warmup`` steps, then half-cosine down to ``min_lr`` at ``total``."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def clip_gradients(model: nn.Module, max_norm: float) -> torch.Tensor:
    """Clip the gradients' global norm to ``max_norm`` (<= 0: no clipping) and return the norm before
    clipping, a 0-d tensor on the parameters' device (read it when logging: reading it is a host sync). It
    is always measured: a non-finite norm is how the engine detects a diverged step."""
    limit = max_norm if max_norm > 0 else math.inf
    return torch.nn.utils.clip_grad_norm_(model.parameters(), limit)
