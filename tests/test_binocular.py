"""The binocular (CroCo-Flow) model: CroCo checkpoints give CroCo's own features, each side of the
cross-attention uses its own positions, windows and full pairs run through one forward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import assert_close
from winwin.errors import BadFileError, InputError
from winwin.layers import CrossAttention, DecoderBlock, RoPE2D
from winwin.models import create_model, init_from_croco, load_croco
from winwin.windows import sample_windows

CROCO = Path(__file__).parent / "fixtures" / "croco"


@pytest.fixture(scope="module")
def croco():
    return load_croco(CROCO / "croco_tiny.pth").eval()


def test_croco_fixture_agreement(croco) -> None:
    """Encoder and decoder outputs match what CroCo's own code computed for the checkpoint (1e-4)."""
    expected = torch.load(CROCO / "croco_tiny_expected.pt", weights_only=True)
    with torch.no_grad():
        enc1, pos1, _ = croco.encoder(expected["img1"])
        enc2, pos2, _ = croco.encoder(expected["img2"])
        dec = croco.decoder(enc1, pos1, enc2, pos2)[0]
    assert torch.equal(pos1, expected["pos1"])
    assert_close(enc1, expected["enc1"], atol=1e-4, rtol=0)
    assert_close(enc2, expected["enc2"], atol=1e-4, rtol=0)
    assert_close(dec, expected["dec"], atol=1e-4, rtol=0)


def test_croco_sizes_come_from_the_file(croco) -> None:
    cfg = croco.config
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == (64, 2, 4)
    assert (cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_heads) == (32, 2, 2)
    assert cfg.rope_base == 100.0 and cfg.binocular and cfg.out_channels == 3
    out = croco(torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 3, 64, 96)


def _save(tmp_path: Path, state: dict, kwargs: dict | None = None) -> Path:
    path = tmp_path / "croco.pth"
    torch.save({"model": state, "croco_kwargs": kwargs or {}}, path)
    return path


def test_croco_keys_are_mapped_strictly(tmp_path: Path) -> None:
    ckpt = torch.load(CROCO / "croco_tiny.pth", weights_only=True)
    state, kwargs = ckpt["model"], ckpt["croco_kwargs"]
    extra = {**state, "enc_blocks.0.attn.surprise": torch.zeros(3)}
    with pytest.raises(BadFileError, match=r"unexpected \['encoder.blocks.0.attn.surprise'\]"):
        load_croco(_save(tmp_path, extra, kwargs))
    lacking = {k: v for k, v in state.items() if k != "dec_blocks.1.norm3.bias"}
    with pytest.raises(BadFileError, match=r"missing \['decoder.blocks.1.norm3.bias'\]"):
        load_croco(_save(tmp_path, lacking, kwargs))
    with pytest.raises(BadFileError, match="only RoPE"):
        load_croco(_save(tmp_path, state, {**kwargs, "pos_embed": "cosine"}))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BadFileError, match="junk.pth: cannot be read"):
        load_croco(tmp_path / "junk.pth")


def test_croco_starts_a_monocular_model_from_its_encoder(croco) -> None:
    cfg = croco.config
    mono = create_model(
        "demo", embed_dim=64, depth=2, num_heads=4, patch_size=16, head="linear", out_channels=1, rope_base=100.0
    )
    assert init_from_croco(mono, CROCO / "croco_tiny.pth") == ["encoder"]
    for k, v in croco.encoder.state_dict().items():
        assert torch.equal(mono.encoder.state_dict()[k], v), k
    wrong = create_model("demo", head="linear", out_channels=1)  # width 128, not the file's 64
    with pytest.raises(InputError, match="embed_dim: file 64 vs model 128"):
        init_from_croco(wrong, CROCO / "croco_tiny.pth")
    assert cfg.embed_dim == 64


def test_cross_attention_uses_each_sides_own_positions() -> None:
    """Shifting frame 2's positions changes the output; shifting both frames' together does not (RoPE is
    relative)."""
    torch.manual_seed(0)
    block = DecoderBlock(32, 2, rope=RoPE2D(100.0)).eval()
    x, mem = torch.randn(2, 6, 32), torch.randn(2, 9, 32)
    pos = torch.randint(0, 10, (2, 6, 2))
    mem_pos = torch.randint(0, 10, (2, 9, 2))
    shift = torch.tensor([3, -2])
    with torch.no_grad():
        base = block(x, pos, mem, mem_pos)
        moved_mem = block(x, pos, mem, mem_pos + shift)
        moved_both = block(x, pos + shift, mem, mem_pos + shift)
    assert (base - moved_mem).abs().max() > 1e-3
    assert_close(moved_both, base, atol=1e-5)
    attn = CrossAttention(32, 2, rope=RoPE2D(100.0)).eval()
    with torch.no_grad():
        a = attn(x, pos, mem, mem_pos)
        b = attn(x, pos + shift, mem, mem_pos)  # only the query side moves
    assert (a - b).abs().max() > 1e-3


def test_windows_of_each_frame_and_full_pair() -> None:
    torch.manual_seed(0)
    model = create_model("demo", binocular=True, head="dpt", out_channels=3, decoder_depth=2).eval()
    img1, img2 = torch.randn(2, 3, 64, 96), torch.randn(2, 3, 64, 96)
    w1 = sample_windows((4, 6), 2, (2, 2), 2, torch.Generator().manual_seed(0))
    w2 = sample_windows((4, 6), 3, (1, 2), 2, torch.Generator().manual_seed(1))
    outs = model(img1, img2, (w1, w2))
    assert [tuple(o.shape) for o in outs] == [(2, 3, 32, 32)] * 2
    # Frame 2 keeps only its windows' tokens: changing frame 2 outside them changes nothing.
    outside = torch.ones(2, 1, 64, 96)
    for b, row in enumerate(w2.boxes.tolist()):
        for top, left, h, w in row:
            outside[b, :, top * 16 : (top + h) * 16, left * 16 : (left + w) * 16] = 0
    with torch.no_grad():
        again = model(img1, img2 + 5 * outside, (w1, w2))
        changed = model(img1, img2 * (1 - outside) + 5 * (1 - outside), (w1, w2))
    assert all(torch.equal(a, b) for a, b in zip(outs, again))
    assert max((a - b).abs().max() for a, b in zip(outs, changed)) > 1e-5
    # A window covering the whole grid in both frames is the full pair.
    full = sample_windows((4, 6), 1, (4, 6), 2)
    with torch.no_grad():
        assert_close(model(img1, img2, (full, full))[0], model(img1, img2), atol=1e-4)
    assert model(img1[..., :60, :90], img2[..., :60, :90]).shape == (2, 3, 60, 90)  # padded and cropped back


def test_binocular_heads_and_backward() -> None:
    for head in ("linear", "convnext", "dpt"):
        model = create_model("demo", binocular=True, head=head, out_channels=3)
        img = torch.randn(1, 3, 32, 48)
        out = model(img, img)
        out.mean().backward()
        assert out.shape == (1, 3, 32, 48)
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad), head
        assert len(model.attention_layers()) == 4 + 2 * 2  # encoder self-attention, decoder self + cross
    with pytest.raises(ValueError, match="decoder_depth >= 1"):
        create_model("demo", binocular=True, decoder_depth=0)


def test_rope_plus_cosine_adds_absolute_positions_to_rope():
    """``pos_embed: rope+cosine`` keeps RoPE in every attention and adds the absolute embedding to the tokens,
    so that the values carry positions too (a from-scratch flow model can then read a displacement)."""
    torch.manual_seed(0)
    rope = create_model("demo", binocular=True, head="linear", out_channels=3, decoder_depth=1).eval()
    both = create_model("demo", binocular=True, head="linear", out_channels=3, decoder_depth=1, pos_embed="rope+cosine")
    both.load_state_dict(rope.state_dict())
    both.eval()
    assert both.encoder.blocks[0].attn.rope is not None and both.decoder.blocks[0].cross_attn.rope is not None
    img = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        assert (rope(img, img) - both(img, img)).abs().max() > 1e-4
