"""The attention softmax temperature of a whole model (paper Sec. 3 "Feature distribution changes", App. D).

A model's temperature is a multiplier of the default 1/sqrt(D) attention scale, applied to every attention
layer it has (encoder, and decoder when there is one). It is either one float for all layers and heads
(``ModelConfig.temperature``, set by the sweep) or one value per head of every layer
(``ModelConfig.head_temperatures``, learned), which then takes precedence. 1.0 is the untuned model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from ..layers import AttentionBase


def attention_layers(model: nn.Module) -> list[AttentionBase]:
    """Every attention module of ``model``, in module order (self- and cross-attention alike)."""
    return [m for m in model.modules() if isinstance(m, AttentionBase)]


def set_temperature(model: nn.Module, value: float) -> None:
    """One temperature for every head of every attention layer; drops per-head temperatures."""
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"a temperature must be a finite number > 0, got {value}")
    for attn in attention_layers(model):
        attn.disable_head_temperature()
        attn.temperature = float(value)


def set_head_temperatures(model: nn.Module, values: list[list[float]]) -> None:
    """Per-head temperatures, one row per attention layer (``attention_layers`` order)."""
    layers = attention_layers(model)
    if len(values) != len(layers):
        raise ValueError(f"{len(values)} rows of per-head temperatures for a model with {len(layers)} attention layers")
    for i, (attn, row) in enumerate(zip(layers, values)):
        if len(row) != attn.num_heads:
            raise ValueError(f"attention layer {i} has {attn.num_heads} heads but got {len(row)} temperatures")
        if not all(v > 0 and math.isfinite(v) for v in row):
            raise ValueError(f"temperatures must be finite numbers > 0, got {row} for attention layer {i}")
    for attn, row in zip(layers, values):
        param = attn.enable_head_temperature()
        param.data.copy_(param.new_tensor(row).log())


def enable_head_temperatures(model: nn.Module) -> list[nn.Parameter]:
    """Make every head's temperature a learnable parameter, each starting from its layer's shared value."""
    return [attn.enable_head_temperature() for attn in attention_layers(model)]


def head_temperatures(model: nn.Module) -> list[list[float]] | None:
    """The per-head temperatures (layers x heads), or None when the model uses one shared value."""
    layers = attention_layers(model)
    if not layers or any(a.log_temperature is None for a in layers):
        return None
    return [a.log_temperature.detach().exp().cpu().tolist() for a in layers]


def describe_temperature(model: nn.Module) -> dict:
    """What the attention layers use now: ``{"mode": "shared", "temperature": t}`` or the per-head values
    with their mean / min / max."""
    heads = head_temperatures(model)
    if heads is None:
        values = sorted({a.temperature for a in attention_layers(model)})
        return {"mode": "shared", "temperature": values[0] if len(values) == 1 else values}
    flat = [v for row in heads for v in row]
    return {
        "mode": "per_head",
        "mean": sum(flat) / len(flat),
        "min": min(flat),
        "max": max(flat),
        "head_temperatures": heads,
    }


def format_temperature(description: dict) -> str:
    if description["mode"] == "shared":
        return f"temperature {description['temperature']:g}"
    return (
        f"per-head temperatures (mean {description['mean']:.3f}, "
        f"range {description['min']:.3f}-{description['max']:.3f})"
    )


@contextmanager
def temperature_override(model: nn.Module, value: float | None) -> Iterator[None]:
    """Temporarily use one temperature everywhere (per-head values set aside); None leaves the model as is."""
    if value is None:
        yield
        return
    layers = attention_layers(model)
    saved = [(a.temperature, a.log_temperature) for a in layers]
    set_temperature(model, value)
    try:
        yield
    finally:
        for attn, (t, log_t) in zip(layers, saved):
            attn.temperature = t
            attn.log_temperature = log_t
