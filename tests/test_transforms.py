"""Transforms and palettes: hand-computed values, round trips, joint flips and padding, error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from winwin.data import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    IGNORE_INDEX,
    IMAGENET_MEAN,
    IMAGENET_STD,
    colorize,
    denormalize,
    hflip,
    load_image,
    load_label,
    make_palette,
    pad_to_multiple,
    to_tensor_image,
)


def _rgb(h: int = 5, w: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_to_tensor_image_hand_computed_values():
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 1] = (255, 0, 128)
    x = to_tensor_image(rgb)
    assert x.shape == (3, 2, 3) and x.dtype == torch.float32
    for c, v in enumerate((255, 0, 128)):
        assert x[c, 0, 1].item() == pytest.approx((v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], abs=1e-6)
        assert x[c, 1, 2].item() == pytest.approx(-IMAGENET_MEAN[c] / IMAGENET_STD[c], abs=1e-6)


def test_to_tensor_image_rejects_wrong_input():
    with pytest.raises(ValueError, match=r"uint8 RGB array of shape \(H, W, 3\).*float32"):
        to_tensor_image(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(3, 4, 4\)"):
        to_tensor_image(np.zeros((3, 4, 4), dtype=np.uint8))


def test_normalize_denormalize_round_trip_single_and_batched():
    rgb = _rgb()
    x = to_tensor_image(rgb)
    back = (denormalize(x) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(back, rgb)
    batch = torch.stack([x, to_tensor_image(_rgb(seed=1))])  # (2, 3, H, W)
    out = denormalize(batch)
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out[0], denormalize(x))
    extreme = denormalize(torch.tensor([-10.0, 10.0]).view(1, 2, 1).expand(3, 2, 1))  # for display: clamped
    assert extreme[:, 0].eq(0).all() and extreme[:, 1].eq(1).all()
    with pytest.raises(ValueError, match=r"\(3, H, W\) or \(B, 3, H, W\)"):
        denormalize(torch.zeros(4, 5, 6))


def test_hflip_is_joint_and_an_involution():
    image, label = torch.randn(3, 4, 6), torch.randint(0, 19, (4, 6))
    fi, fl = hflip(image, label)
    assert torch.equal(fi[:, :, 0], image[:, :, -1])
    assert torch.equal(fl[:, 0], label[:, -1])
    ii, ll = hflip(fi, fl)
    assert torch.equal(ii, image) and torch.equal(ll, label)
    only, none = hflip(image)
    assert none is None and torch.equal(only, fi)
    with pytest.raises(ValueError, match="differ in"):
        hflip(image, label[:, :5])


def test_pad_to_multiple_pads_bottom_right_and_crops_back():
    image, label = torch.randn(3, 30, 50), torch.randint(0, 19, (30, 50))
    pi, pl, (h, w) = pad_to_multiple(image, 16, label)
    assert pi.shape == (3, 32, 64) and pl.shape == (32, 64) and (h, w) == (30, 50)
    assert torch.equal(pi[:, :h, :w], image) and torch.equal(pl[:h, :w], label)
    assert (pi[:, h:, :] == 0).all() and (pi[:, :, w:] == 0).all()
    assert (pl[h:, :] == IGNORE_INDEX).all() and (pl[:, w:] == IGNORE_INDEX).all()
    assert pl.dtype == label.dtype


def test_pad_to_multiple_batched_noop_and_errors():
    image = torch.randn(2, 3, 32, 48)
    pi, pl, hw = pad_to_multiple(image, 16)
    assert pl is None and hw == (32, 48) and torch.equal(pi, image)
    pi, pl, hw = pad_to_multiple(image[..., :40], 16, torch.zeros(2, 32, 40, dtype=torch.long))
    assert pi.shape == (2, 3, 32, 48) and pl.shape == (2, 32, 48) and hw == (32, 40)
    with pytest.raises(ValueError, match="positive integer"):
        pad_to_multiple(image, 0)
    with pytest.raises(ValueError, match="differ in"):
        pad_to_multiple(image, 16, torch.zeros(2, 31, 48, dtype=torch.long))


def test_load_image_and_label_from_files(tmp_path):
    rgb = _rgb(6, 10)
    Image.fromarray(rgb).save(tmp_path / "im.png")
    back = (denormalize(load_image(tmp_path / "im.png")) * 255).round().to(torch.uint8).permute(1, 2, 0)
    np.testing.assert_array_equal(back.numpy(), rgb)
    assert load_image(tmp_path / "im.png", size_hw=(3, 5)).shape == (3, 3, 5)

    ids = np.random.default_rng(0).integers(0, 19, size=(6, 10)).astype(np.uint8)
    ids[0, :3] = IGNORE_INDEX
    Image.fromarray(ids, mode="L").save(tmp_path / "lab.png")
    lab = load_label(tmp_path / "lab.png")
    assert lab.dtype == torch.int64 and torch.equal(lab, torch.from_numpy(ids.astype(np.int64)))
    small = load_label(tmp_path / "lab.png", size_hw=(3, 5))  # nearest: no new values
    assert small.shape == (3, 5) and set(small.unique().tolist()) <= set(np.unique(ids).tolist())

    pal = Image.fromarray(ids, mode="L").convert("P")  # palette images hold the ids as indices
    pal.save(tmp_path / "lab_p.png")
    assert torch.equal(load_label(tmp_path / "lab_p.png"), lab)


def test_load_label_rejects_colour_label(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "colour.png")
    with pytest.raises(ValueError, match=r"colour\.png.*single-channel.*'RGB'"):
        load_label(tmp_path / "colour.png")


def test_cityscapes_palette_and_names():
    assert len(CITYSCAPES_CLASSES) == len(CITYSCAPES_PALETTE) == 19
    assert CITYSCAPES_CLASSES[0] == "road" and CITYSCAPES_PALETTE[0] == (128, 64, 128)
    assert CITYSCAPES_CLASSES[13] == "car" and CITYSCAPES_PALETTE[13] == (0, 0, 142)
    assert len(set(CITYSCAPES_PALETTE)) == 19


@pytest.mark.parametrize("n", [1, 8, 19, 150])
def test_make_palette_distinct_deterministic_not_black(n):
    pal = make_palette(n)
    assert len(pal) == n and pal == make_palette(n)
    assert len(set(pal)) == n
    assert all(c != (0, 0, 0) and all(0 <= v <= 255 for v in c) for c in pal)
    with pytest.raises(ValueError, match="at least one class"):
        make_palette(0)


def test_colorize_maps_ids_and_shows_ignore_black():
    palette = ((10, 20, 30), (40, 50, 60), (70, 80, 90))
    label = np.array([[0, 1], [2, IGNORE_INDEX]])
    out = colorize(label, palette)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out, [[[10, 20, 30], [40, 50, 60]], [[70, 80, 90], [0, 0, 0]]])
    np.testing.assert_array_equal(colorize(torch.from_numpy(label), palette), out)  # tensors too


def test_colorize_rejects_ids_without_colour():
    with pytest.raises(ValueError, match=r"values \[3, 7\].*ids 0\.\.2"):
        colorize(np.array([[0, 3], [7, 1]]), ((1, 1, 1),) * 3)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        colorize(np.zeros((2, 2), dtype=np.float32), CITYSCAPES_PALETTE)


def test_an_image_header_declaring_too_many_pixels_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    from winwin.data.transforms import MAX_IMAGE_PIXELS
    from winwin.errors import BadFileError

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 10_000, 10_000, 8, 2, 0, 0, 0)  # 100 Mpx RGB, one row of pixel data
    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 30)) + chunk(b"IEND", b"")
    )
    path = tmp_path / "huge.png"
    path.write_bytes(png)
    assert MAX_IMAGE_PIXELS < 10_000 * 10_000
    with pytest.raises(BadFileError, match="declares 10000x10000"):
        load_image(path)
