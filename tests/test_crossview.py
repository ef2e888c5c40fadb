"""Cross-view completion pretraining (CroCo's pretext task) and the CroCo files it writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import TINY_FLOW, assert_close
from winwin.errors import InputError
from winwin.models import create_model, load_croco
from winwin.models.croco import croco_to_winwin, read_croco, save_croco, winwin_to_croco
from winwin.models.crossview import CrossViewCompletion
from winwin.windows import sample_windows

CROCO = Path(__file__).parent / "fixtures" / "croco" / "croco_tiny.pth"


def tiny() -> CrossViewCompletion:
    torch.manual_seed(0)
    model = create_model("demo", embed_dim=32, num_heads=2, depth=2, binocular=True, decoder_dim=32,
                         decoder_heads=2, decoder_depth=1, head="linear", out_channels=3)  # fmt: skip
    return CrossViewCompletion(model)


def test_croco_names_round_trip():
    state, _ = read_croco(CROCO)
    ours = croco_to_winwin(state)
    back = winwin_to_croco(ours)
    kept = {k: v for k, v in state.items() if k not in ("mask_token",) and not k.startswith("prediction_head")}
    assert set(back) == set(kept)
    assert all(torch.equal(back[k], kept[k]) for k in kept)


def test_saved_file_loads_as_croco(tmp_path):
    module = tiny()
    save_croco(tmp_path / "c.pth", module, module.model.config)
    state, kwargs = read_croco(tmp_path / "c.pth")
    assert {"mask_token", "prediction_head.weight", "enc_norm.weight", "dec_blocks.0.cross_attn.projk.weight"} <= set(
        state
    )
    assert kwargs["pos_embed"] == "RoPE100" and kwargs["dec_depth"] == 1
    loaded = load_croco(tmp_path / "c.pth").eval()
    img = torch.randn(1, 3, 32, 48)
    module.model.eval()
    with torch.no_grad():
        a, pa, _ = module.model.encoder(img)
        b, pb, _ = loaded.encoder(img)
        assert_close(b, a, atol=1e-6)
        assert_close(loaded.decoder(b, pb, b, pb)[0], module.model.decoder(a, pa, a, pa)[0], atol=1e-6)
    cosine = create_model("demo", binocular=True, pos_embed="rope+cosine", head="linear", out_channels=3)
    with pytest.raises(InputError, match="binocular RoPE"):
        save_croco(tmp_path / "x.pth", cosine, cosine.config)


def test_loss_counts_masked_patches_only():
    from winwin.layers import patchify

    module = tiny()
    img1, img2 = torch.randn(2, 3, 32, 48), torch.randn(2, 3, 32, 48)
    visible = sample_windows((2, 3), 2, (1, 1), 2, torch.Generator().manual_seed(0), balance=False)
    loss = module.loss(img1, img2, visible)
    pred = module(img1, img2, visible)
    assert pred.shape == (2, 6, 3 * 16 * 16)
    target = patchify(img1, 16)  # (2, 6, 768), each patch normalised by its own mean and variance
    norm = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    masked = torch.ones(2, 6, dtype=torch.bool)
    masked.scatter_(1, visible.index, False)  # 4 of 6 tokens hidden per row
    assert_close(loss, ((pred - norm) ** 2).mean(-1)[masked].mean(), atol=1e-6)
    loss.backward()
    assert module.mask_token.grad is not None and module.prediction_head.weight.grad is not None


def test_pretrain_command_writes_a_file_that_train_init_reads(tmp_path):
    from winwin.cli import main

    over = [o for o in TINY_FLOW if not o.startswith(("windows.", "task.frame2"))] + [f"out_dir={tmp_path}"]
    assert main(["pretrain", "configs/flow_pretrain.yaml", *over, "name=pt", "--quiet"]) == 0
    croco = tmp_path / "pt" / "croco.pth"
    assert croco.is_file() and (tmp_path / "pt" / "log.jsonl").is_file()
    # with a loader worker (what a GPU gets by default): the cached samples and the pair survive the worker
    assert main(["pretrain", "configs/flow_pretrain.yaml", *over, "train.num_workers=1", "name=pw", "--quiet"]) == 0
    assert read_croco(tmp_path / "pw" / "croco.pth")[0].keys() == read_croco(croco)[0].keys()
    assert main(["train", "configs/flow_demo.yaml", *TINY_FLOW, f"train.init={croco}", f"out_dir={tmp_path}",
                 "name=ft", "--quiet"]) == 0  # fmt: skip
    depth = ["pretrain", "configs/depth_demo.yaml", f"out_dir={tmp_path}", "name=d", "--quiet"]
    assert main(depth) == 2  # a one-frame task: refused before any work
    assert not (tmp_path / "d").exists()
    assert main(["pretrain", "--mask-ratio", "1.5", "configs/flow_pretrain.yaml", *over, "--quiet"]) == 2
