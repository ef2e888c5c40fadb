import pytest

from winwin.engine.optim import build_optimizer, lr_at, param_groups
from winwin.models import create_model


def test_schedule_warmup_then_cosine():
    assert lr_at(0, 100, 1.0, 10, 0.0) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10, 0.0) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, 10, 0.0) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 10, 0.1) == pytest.approx(0.55)
    assert lr_at(100, 100, 1.0, 10, 0.1) == pytest.approx(0.1)
    values = [lr_at(s, 100, 1.0, 10, 0.0) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_layer_decay_groups_follow_depth():
    model = create_model("demo", embed_dim=32, num_heads=2, depth=3, head="linear")
    groups = param_groups(model, weight_decay=0.05, layer_decay=0.5)
    ids = {id(p): g for g in groups for p in g["params"]}
    assert len(ids) == sum(1 for _ in model.parameters())  # every parameter exactly once
    scale = lambda p: ids[id(p)]["lr_scale"]  # noqa: E731
    top = 3 + 1
    assert scale(model.encoder.patch_embed.proj.weight) == pytest.approx(0.5**top)
    assert scale(model.encoder.blocks[0].attn.qkv.weight) == pytest.approx(0.5 ** (top - 1))
    assert scale(model.encoder.blocks[2].mlp.fc1.weight) == pytest.approx(0.5)
    assert scale(model.head.proj.weight) == 1.0 and scale(model.encoder.norm.weight) == 1.0
    # no weight decay on biases and norms
    assert ids[id(model.encoder.blocks[0].attn.qkv.bias)]["weight_decay"] == 0.0
    assert ids[id(model.encoder.blocks[0].norm1.weight)]["weight_decay"] == 0.0
    assert ids[id(model.encoder.blocks[0].attn.qkv.weight)]["weight_decay"] == 0.05
    opt = build_optimizer(model, 1e-3, 0.05, 0.5, (0.9, 0.95))
    assert max(g["lr"] for g in opt.param_groups) == pytest.approx(1e-3)
