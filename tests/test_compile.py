"""``train.compile=true``: the compiled training step (forward, loss, backward) computes what the eager
step computes, on a tiny model (this is the one compile test CI runs: compiling takes tens of seconds)."""

import copy

import torch
from engine_parts import make_loop

from helpers import TINY
from winwin.engine.step import loss_function


def test_the_compiled_step_equals_the_eager_step(tmp_path):
    eager, batches = make_loop(TINY, tmp_path / "eager")
    model = copy.deepcopy(eager.model)
    compiled = loss_function(eager.task, model, eager.cfg.model.patch_size, compile=True)
    for _ in range(2):  # the second call runs the cached graph
        batch, windows = next(batches).to(torch.device("cpu"))
        expected = eager.loss_fn(batch, windows)
        got = compiled(batch, windows)
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6), (float(got), float(expected))
        expected.backward()
        got.backward()
        for (name, a), b in zip(eager.model.named_parameters(), model.parameters()):
            assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name
            a.grad = b.grad = None
