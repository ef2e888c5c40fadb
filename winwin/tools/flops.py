"""FLOPs of a training step and the machine's matrix-multiply peak, for the benchmarks.

``torch.utils.flop_counter.FlopCounterMode`` counts matrix products and convolutions, but 0 for the CPU
attention kernel (and its count of the GPU ones depends on the kernel). Attention is therefore counted
here from the shapes of every scaled-dot-product-attention call, the same way on every device: forward
4 * B * heads * N_q * N_k * head_dim (Q K^T and A V), backward twice that."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


def attention_flops(q_shape, k_shape, backward: bool) -> int:
    """q (B, h, Nq, D), k (B, h, Nk, D) -> FLOPs of one attention call (x2 for its backward)."""
    B, h, nq, d = q_shape
    nk = k_shape[-2]
    return (8 if backward else 4) * B * h * nq * nk * d


class _AttentionShapes(TorchDispatchMode):
    """Adds up ``attention_flops`` of the attention kernels that run under it."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if "scaled_dot_product" in name:
            backward = name.endswith("_backward")
            q, k = (args[1], args[2]) if backward else (args[0], args[1])
            self.flops += attention_flops(tuple(q.shape), tuple(k.shape), backward)
        return func(*args, **(kwargs or {}))


def step_flops(step: Callable[[], object]) -> dict[str, int]:
    """Run ``step`` once and count its FLOPs: ``total`` = what FlopCounterMode counts outside attention +
    ``attention`` (from the kernels' shapes); ``head``: the FLOPs counted inside a top-level ``head``
    module (forward and backward; a head has no attention)."""
    shapes = _AttentionShapes()
    with FlopCounterMode(display=False) as counter, shapes:
        step()
    counts = counter.get_flop_counts()
    in_attention = sum(v for op, v in counts.get("Global", {}).items() if "scaled_dot_product" in str(op))
    other = counter.get_total_flops() - in_attention
    head = sum(sum(ops.values()) for name, ops in counts.items() if name.count(".") == 1 and name.endswith(".head"))
    return {"total": other + shapes.flops, "attention": shapes.flops, "other": other, "head": head}


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int | None = None, repeats: int = 10) -> float:
    """FLOP/s of an n x n x n matrix product (8192 on a GPU, 2048 on the CPU): the machine's practical
    peak for dense work, to set a step's FLOP/s against."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        a @ b
    sync()
    tic = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    return 2 * n**3 * repeats / (time.perf_counter() - tic)
