"""The FLOP count of a training step: matrix products from FlopCounterMode, attention from its shapes
(the CPU kernel counts 0 there), checked against a hand count."""

import torch
import torch.nn.functional as F

from winwin.data import DataConfig
from winwin.tasks import task_class
from winwin.tools.flops import attention_flops, step_flops


def test_step_flops_match_a_hand_count():
    q = torch.randn(2, 4, 64, 32, requires_grad=True)  # (B, h, N, D)
    w = torch.randn(32, 32, requires_grad=True)
    kv = torch.randn(2, 4, 80, 32)  # 80 keys: cross-attention shapes

    def step():
        x = q @ w  # (2*4*64) x 32 x 32
        out = F.scaled_dot_product_attention(x, kv, kv)
        out.sum().backward()

    got = step_flops(step)
    matmul = 2 * (2 * 4 * 64) * 32 * 32 * 3  # forward, and twice that backward (grad of q and of w)
    attention = 4 * 2 * 4 * 64 * 80 * 32 * 3  # Q K^T and A V forward, twice that backward
    assert got == {"total": matmul + attention, "attention": attention, "other": matmul, "head": 0}
    assert attention_flops((2, 4, 64, 32), (2, 4, 80, 32), backward=False) == attention // 3


def test_a_task_with_default_settings_fits_its_embedded_data():
    task = task_class("segmentation")()
    data = task.build_dataset(
        DataConfig(name=task.default_dataset, image_size=[64, 96], train_length=2), "train", train=True
    )
    fitted = task.fitted_to(data)
    assert fitted.bind(data) is not None and fitted.out_channels() == data.num_classes != task.out_channels()


def test_the_head_share_is_the_head_modules_flops():
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = nn.Linear(8, 16, bias=False), nn.Linear(16, 4, bias=False)

        def forward(self, x):
            return self.head(self.body(x))

    net, x = Net(), torch.randn(5, 8)
    got = step_flops(lambda: net(x).sum().backward())
    # forward 2*m*k*n per linear; backward: the weight gradient for both, the input gradient for the head only
    body, head = 2 * 5 * 8 * 16, 2 * 5 * 16 * 4
    assert got["head"] == 3 * head and got["total"] == 2 * body + 3 * head
