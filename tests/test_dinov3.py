"""DINOv3 checkpoints: winwin's encoder computes what DINOv3's own code computed for the fixture
(``tests/fixtures/dinov3``, made by facebookresearch/dinov3 on a tiny random model; see its README), on two grid
sizes; window batches keep the full image's RoPE coordinates; the loader's errors name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from winwin.errors import BadFileError, InputError
from winwin.layers import RoPE2D, grid_positions
from winwin.models import create_model, init_from_dinov3, init_from_file, load_dinov3, save_dinov3
from winwin.models.pretrained import checkpoint_format
from winwin.windows import Windows, from_boxes

FIXTURE = Path(__file__).parent / "fixtures" / "dinov3"
CKPT = FIXTURE / "dinov3_tiny.pth"
TOL = dict(atol=1e-4, rtol=0)  # the fixture README's tolerance


@pytest.fixture(scope="module")
def expected() -> dict:
    return torch.load(FIXTURE / "dinov3_tiny_expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def encoder():
    return load_dinov3(CKPT).eval()


@pytest.mark.parametrize("suffix", ["", "_b"])  # 4x6 and 5x7 grids: the coordinate normalisation
def test_final_tokens_match_dinov3(encoder, expected, suffix: str) -> None:
    with torch.no_grad():
        out = encoder.tokens(expected["img" + suffix])
        patch, pos, _ = encoder(expected["img" + suffix])
    assert_close(out.cls, expected["cls" + suffix], **TOL)
    assert_close(out.storage, expected["storage" + suffix], **TOL)
    assert_close(out.patch, expected["patch" + suffix], **TOL)
    assert_close(patch, out.patch)  # forward: the patch tokens first, then their positions
    gh, gw = (s // 16 for s in expected["img" + suffix].shape[-2:])
    assert pos.shape == (2, gh * gw, 2) and pos[0, gw + 1].tolist() == [1, 1]


def test_intermediate_layers_and_prenorm_match_dinov3(encoder, expected) -> None:
    seen = {}
    hook = encoder.blocks[-1].register_forward_hook(lambda m, i, o: seen.setdefault("prenorm", o))
    with torch.no_grad():
        out = encoder.tokens(expected["img"], return_layers=expected["inter_layers"])
    hook.remove()
    assert_close(seen["prenorm"], expected["prenorm"], **TOL)
    for j, layer in enumerate(out.layers):  # (B, 1 + 4 + 24, D) normed by the final norm, as DINOv3's norm=True
        assert_close(layer[:, 0], expected["inter_cls"][j], **TOL)
        assert_close(layer[:, 1:5], expected["inter_storage"][j], **TOL)
        assert_close(layer[:, 5:], expected["inter_patch"][j], **TOL)
    with torch.no_grad():
        _, _, layers = encoder(expected["img"], return_layers=[0])  # forward: patch tokens only
    assert_close(layers[0], expected["inter_patch"][0], **TOL)


@pytest.mark.parametrize("suffix", ["", "_b"])
def test_rope_tables_match_dinov3(expected, suffix: str) -> None:
    grid = (4, 6) if suffix == "" else (5, 7)
    tables = RoPE2D(100.0, coords="normalized", layout="dinov3").tables(grid_positions(grid)[None], 16, grid)
    rotate_half_sign = torch.tensor([-1.0] * 8 + [1.0] * 8)  # winwin's sin table carries rotate-half's sign
    assert_close(tables.cos[0, 0], expected["rope_cos" + suffix], **TOL)
    assert_close(tables.sin[0, 0] * rotate_half_sign, expected["rope_sin" + suffix], **TOL)


def test_window_batch_keeps_the_full_grid_coordinates() -> None:
    """A window's tokens are rotated as in the full image (normalised by the image grid, not the window)."""
    rope = RoPE2D(100.0, coords="normalized", layout="dinov3")
    grid = (6, 10)
    full = rope.tables(grid_positions(grid)[None], 16, grid)  # (1, 1, 60, 16)
    windows = from_boxes(torch.tensor([[[0, 0, 3, 3], [2, 6, 3, 3]]]), grid)
    part = rope.tables(windows.pos, 16, windows.grid_hw)  # (1, 1, 18, 16)
    assert_close(part.cos, full.cos[:, :, windows.index[0]])
    assert_close(part.sin, full.sin[:, :, windows.index[0]])
    alone = rope.tables(windows.pos[:, 9:] - windows.pos[:, 9:].amin(1, keepdim=True), 16, (3, 3))
    assert (alone.cos - part.cos[:, :, 9:]).abs().max() > 0.1  # normalising by the window would differ


def test_window_covering_the_grid_equals_the_full_forward(encoder, expected) -> None:
    img = expected["img_b"]
    with torch.no_grad():
        full = encoder.tokens(img)
        win = encoder.tokens(img, Windows.full((5, 7), 2))
        boxes = encoder.tokens(img, from_boxes(torch.tensor([[[0, 0, 5, 7]]] * 2), (5, 7)))
    for out in (win, boxes):
        assert_close(out.patch, full.patch, atol=1e-5, rtol=0)
        assert_close(out.prefix, full.prefix, atol=1e-5, rtol=0)


def test_class_and_storage_tokens_join_every_window() -> None:
    """With two windows, the class token attends to both; the heads only see the windows' patch tokens."""
    torch.manual_seed(0)
    model = create_model("dinov3_demo", out_channels=3, head="linear").eval()
    for p in model.encoder.parameters():  # layer scale 1e-5 at init would hide every interaction
        if p.ndim == 1 and p.shape[0] == 64:
            p.data.uniform_(0.5, 1.0)
    img = torch.randn(1, 3, 96, 160, requires_grad=True)
    windows = from_boxes(torch.tensor([[[0, 0, 2, 2], [4, 7, 2, 2]]]), (6, 10))
    out = model.encoder.tokens(img, windows)
    assert out.prefix.shape == (1, 5, 64) and out.patch.shape == (1, 8, 64)
    out.cls.sum().backward()
    grad = img.grad.abs()
    assert grad[..., :32, :32].sum() > 0 and grad[..., 64:96, 112:144].sum() > 0  # both windows reach it
    assert grad[..., 32:64, :].sum() == 0  # pixels outside the windows do not
    maps = model(img.detach(), windows)
    assert [tuple(m.shape) for m in maps] == [(1, 3, 32, 32), (1, 3, 32, 32)]


def test_keys_get_no_bias(encoder) -> None:
    attn = encoder.blocks[0].attn
    x = torch.randn(1, 7, 64)
    bias = attn.qkv.bias
    qkv = attn._qkv(x)  # (1, 7, 192)
    assert_close(qkv[..., 64:128], x @ attn.qkv.weight[64:128].T)  # k: no bias
    assert_close(qkv[..., :64], x @ attn.qkv.weight[:64].T + bias[:64])  # q: with bias
    attn.zero_grad()
    encoder.blocks[0].attn._qkv(x).sum().backward()
    assert bias.grad[64:128].abs().max() == 0 and bias.grad[:64].abs().max() > 0
    encoder.zero_grad()


def test_bare_released_state_dict_loads(tmp_path, encoder, expected) -> None:
    """Released files are flat state dicts without kwargs: sizes, heads and base come from the tensors."""
    state = torch.load(CKPT, weights_only=True)["model"]
    torch.save(state, tmp_path / "flat.pth")
    flat = load_dinov3(tmp_path / "flat.pth").eval()
    assert (flat.embed_dim, flat.depth, flat.blocks[0].attn.num_heads, len(flat.prefix)) == (64, 2, 4, 5)
    with torch.no_grad():
        assert_close(flat.tokens(expected["img"]).patch, expected["patch"], **TOL)
    assert checkpoint_format(tmp_path / "flat.pth") == "dinov3"


def test_16_bit_file_loads_with_its_base(tmp_path) -> None:
    """Weights and periods stored in bfloat16: the periods cannot give the base exactly, the sizes still hold."""
    state = {k: v.bfloat16() for k, v in torch.load(CKPT, weights_only=True)["model"].items()}
    torch.save(state, tmp_path / "bf16.pth")
    enc = load_dinov3(tmp_path / "bf16.pth")
    assert enc.rope.base == 100.0 and enc.blocks[0].attn.num_heads == 4
    assert enc.patch_embed.proj.weight.dtype == torch.float32  # loaded into the float32 model


def test_save_round_trip_has_dinov3_names(tmp_path, expected) -> None:
    torch.manual_seed(3)
    model = create_model("dinov3_demo", out_channels=4)
    save_dinov3(tmp_path / "random.pth", model.encoder, model.config)
    ckpt = torch.load(tmp_path / "random.pth", weights_only=True)
    reference = torch.load(CKPT, weights_only=True)
    shapes = {k: tuple(v.shape) for k, v in ckpt["model"].items()}
    assert shapes == {k: tuple(v.shape) for k, v in reference["model"].items()}
    assert_close(ckpt["model"]["rope_embed.periods"], reference["model"]["rope_embed.periods"])
    assert_close(ckpt["model"]["blocks.1.attn.qkv.bias_mask"], reference["model"]["blocks.1.attn.qkv.bias_mask"])
    loaded = load_dinov3(tmp_path / "random.pth").eval()
    with torch.no_grad():
        assert_close(loaded(expected["img"])[0], model.encoder.eval()(expected["img"])[0])


def test_train_init_loads_the_encoder_only(tmp_path, encoder) -> None:
    model = create_model("dinov3_demo", out_channels=5)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    assert init_from_file(model, CKPT) == ["encoder"]
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    for key, value in model.head.state_dict().items():
        assert torch.equal(value, head[key])


def test_model_that_does_not_fit_names_the_arch() -> None:
    model = create_model("dinov3_vits16", depth=2, head="linear")
    with pytest.raises(InputError, match=r"embed_dim: file 64 vs model 384.*model\.arch=dinov3_demo"):
        init_from_dinov3(model, CKPT)
    croco_style = create_model("demo")
    with pytest.raises(InputError, match="class_token: file True vs model False"):
        init_from_dinov3(croco_style, CKPT)


def _edited(tmp_path: Path, edit) -> Path:
    ckpt = torch.load(CKPT, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, tmp_path / "edited.pth")
    return tmp_path / "edited.pth"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["model"].pop("blocks.1.ls2.gamma"), r"missing \['blocks\.1\.ls2\.gamma'\]"),
        (lambda c: c["model"].update(extra=torch.zeros(2)), r"unexpected \['extra'\]"),
        (lambda c: c["model"].update({"blocks.0.mlp.w1.weight": torch.zeros(2)}), "SwiGLU"),
        (lambda c: c["model"]["blocks.0.attn.qkv.bias_mask"].fill_(1), "lets a key bias through"),
        (lambda c: c["dinov3_kwargs"].update(num_heads=8), r"disagree.*num_heads"),
        (lambda c: c["dinov3_kwargs"].update(pos_embed_rope_normalize_coords="max"), "normalize_coords"),
        (lambda c: c["model"]["rope_embed.periods"].mul_(torch.tensor([1.0, 1.0, 1.0, 2.0])), "not base"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, edit, message: str) -> None:
    with pytest.raises(BadFileError, match=message):
        load_dinov3(_edited(tmp_path, edit))


def test_other_files_are_refused(tmp_path) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(BadFileError, match="neither a CroCo nor a DINOv3"):
        checkpoint_format(tmp_path / "other.pth")
    with pytest.raises(BadFileError, match="no such DINOv3"):
        load_dinov3(tmp_path / "missing.pth")
    assert checkpoint_format(Path(__file__).parent / "fixtures" / "croco" / "croco_tiny.pth") == "croco"


def test_temperature_reaches_every_attention_layer(encoder, expected) -> None:
    model = create_model("dinov3_demo", out_channels=2)
    init_from_file(model, CKPT)
    model.eval()
    assert len(model.attention_layers()) == 2
    with torch.no_grad():
        before = model.encoder(expected["img"])[0]
        model.set_temperature(1.5)
        after = model.encoder(expected["img"])[0]
    assert (after - before).abs().max() > 1e-3


def test_prefix_tokens_in_the_lowest_lr_group_without_weight_decay() -> None:
    from winwin.engine.optim import param_groups

    model = create_model("dinov3_demo", out_channels=2)
    groups = param_groups(model, weight_decay=0.05, layer_decay=0.5)
    cls = model.encoder.prefix.cls_token
    (group,) = [g for g in groups if any(p is cls for p in g["params"])]
    assert group["weight_decay"] == 0.0 and group["lr_scale"] == 0.5 ** (model.config.depth + 1)


def test_bf16_autocast_keeps_the_tokens_close(encoder, expected) -> None:
    """train.precision=bf16: class / storage tokens join bf16 patch tokens, the float32 RoPE tables are cast once."""
    seen = []
    hook = encoder.blocks[0].attn.proj.register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.shape)))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder.tokens(expected["img_b"])
    hook.remove()
    assert seen == [(torch.bfloat16, (2, 5 + 35, 64))]  # attention ran in bf16 over prefix + patch tokens
    scale = expected["patch_b"].abs().max()
    assert (out.patch.float() - expected["patch_b"]).abs().max() < 0.05 * scale
    assert (out.cls.float() - expected["cls_b"]).abs().max() < 0.05 * scale
