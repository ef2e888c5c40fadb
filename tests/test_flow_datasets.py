"""The real optical-flow datasets on miniature copies of their released folder trees, and flow augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

from winwin.data.flow_folders import FlyingChairs
from winwin.data.flow_folders_benchmarks import KITTIFlow2015, Sintel, Spring
from winwin.data.flow_folders_things import FlyingThings3D
from winwin.data.flow_io import write_flo, write_flo5, write_kitti_flow, write_pfm
from winwin.data.transforms import to_tensor_image
from winwin.errors import BadFileError, InputError

H, W = 8, 12
FLOW_DATASETS = ("flying_chairs", "flying_things", "sintel", "spring", "kitti_flow")


# -- fixture writers ------------------------------------------------------------------------------------------
def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def rgb(*key: int, hw: tuple[int, int] = (H, W)) -> np.ndarray:
    return _rng(*key).integers(0, 256, (*hw, 3), dtype=np.uint8)  # (H, W, 3)


def flow_field(*key: int, hw: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.round(_rng(*key).uniform(-5, 5, (*hw, 2)) * 8).astype(np.float32) / 8  # (H, W, 2), 1/8 px steps


def save_image(path: Path, array: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def assert_frames(sample: dict, rgb1: np.ndarray, rgb2: np.ndarray) -> None:
    assert torch.equal(sample["image1"], to_tensor_image(rgb1)) and torch.equal(sample["image2"], to_tensor_image(rgb2))


# -- FlyingChairs ---------------------------------------------------------------------------------------------
def make_chairs(root: Path, codes: str = "1211", folder: str = "data") -> dict[int, tuple]:
    pairs = {}
    for n in range(1, len(codes) + 1):
        base = root / folder / f"{n:05d}"
        flow = flow_field(1, n)
        rgb1, rgb2 = save_image(Path(f"{base}_img1.ppm"), rgb(1, n)), save_image(Path(f"{base}_img2.ppm"), rgb(2, n))
        pairs[n] = (rgb1, rgb2, flow)
        write_flo(Path(f"{base}_flow.flo"), flow)
    (root / "FlyingChairs_train_val.txt").write_text("\n".join(codes) + "\n")
    return pairs


def test_flying_chairs_reads_the_official_split(tmp_path):
    pairs = make_chairs(tmp_path)
    train, val = FlyingChairs(tmp_path, "train"), FlyingChairs(tmp_path, "val")
    assert (len(train), len(val)) == (3, 1) and train.has_flow
    sample = train[1]  # pair 3: the second "1" line
    rgb1, rgb2, flow = pairs[3]
    assert_frames(sample, rgb1, rgb2)
    assert sample["flow"].shape == (2, H, W) and sample["flow"].dtype == torch.float32
    assert torch.equal(sample["flow"], torch.from_numpy(flow).permute(2, 0, 1))  # (H, W, 2) -> (2, H, W)
    assert sample["valid"].dtype == torch.bool and bool(sample["valid"].all())
    assert sample["index"] == 1 and sample["path"].endswith("data/00003_img1.ppm")
    assert torch.equal(val[0]["flow"], torch.from_numpy(pairs[2][2]).permute(2, 0, 1))
    assert [it.files["first frame"].name for it in FlyingChairs(tmp_path, "train", max_items=2).items] == [
        "00001_img1.ppm",
        "00003_img1.ppm",
    ]


def test_flying_chairs_files_directly_in_root_and_unknown_flow(tmp_path):
    pairs = make_chairs(tmp_path, "12", folder=".")
    flow = pairs[1][2].copy()
    flow[2, 3] = (2e9, 0.0)  # Middlebury's unknown-flow mark
    write_flo(tmp_path / "00001_flow.flo", flow)
    sample = FlyingChairs(tmp_path, "train")[0]
    assert not sample["valid"][2, 3] and sample["valid"].sum() == H * W - 1
    assert torch.equal(sample["flow"][:, 2, 3], torch.zeros(2))


def test_flying_chairs_layout_errors_name_the_expected_file(tmp_path):
    make_chairs(tmp_path)
    (tmp_path / "data" / "00003_img2.ppm").unlink()
    with pytest.raises(BadFileError, match="00003_img2.ppm: is missing.*second frame.*beside 00003_img1.ppm"):
        FlyingChairs(tmp_path, "train")
    assert len(FlyingChairs(tmp_path, "val")) == 1  # the val pair is complete
    (tmp_path / "FlyingChairs_train_val.txt").write_text("1\n2\n")
    with pytest.raises(BadFileError, match="lists 2 pairs but .* holds 4"):
        FlyingChairs(tmp_path, "train")
    (tmp_path / "FlyingChairs_train_val.txt").unlink()
    with pytest.raises(BadFileError, match="FlyingChairs_train_val.txt: is missing.*1 = train, 2 = val"):
        FlyingChairs(tmp_path, "train")
    with pytest.raises(InputError, match="'train', 'val'; got 'training'"):
        FlyingChairs(tmp_path, "training")


def test_first_pair_sizes_are_checked_at_construction(tmp_path):
    make_chairs(tmp_path)
    write_flo(tmp_path / "data" / "00001_flow.flo", np.zeros((H, W + 1, 2), np.float32))
    with pytest.raises(BadFileError, match=r"00001_flow.flo: is 13x8 \(WxH\) but FlyingChairs expected 12x8"):
        FlyingChairs(tmp_path, "train")


# -- FlyingThings3D -------------------------------------------------------------------------------------------
THINGS_SEQS = (("A", "0000"), ("B", "0001"))
THINGS_FRAMES = (6, 7, 8)


def make_things(root: Path) -> dict:
    out = {}
    for letter, seq in THINGS_SEQS:
        for camera, cam in (("left", "L"), ("right", "R")):
            for t in THINGS_FRAMES:
                for pass_name in ("clean", "final"):
                    path = root / f"frames_{pass_name}pass" / "TRAIN" / letter / seq / camera / f"{t:04d}.png"
                    out[pass_name, letter, camera, t] = save_image(path, rgb(3, ord(letter), len(camera), t))
                for direction, word in (("into_future", "Future"), ("into_past", "Past")):
                    flow = flow_field(4, ord(letter), len(camera), t, len(word))
                    flow_dir = root / "optical_flow" / "TRAIN" / letter / seq / direction / camera
                    uvw = np.concatenate([flow, np.zeros((H, W, 1), np.float32)], axis=-1)  # (H, W, 3) as released
                    write_pfm(mkparent(flow_dir / f"OpticalFlowInto{word}_{t:04d}_{cam}.pfm"), uvw)
                    out["flow", letter, camera, t, direction] = flow
    return out


def test_flying_things_pairs_cameras_and_directions(tmp_path):
    files = make_things(tmp_path)
    default = FlyingThings3D(tmp_path, "train")
    assert len(default) == 2 * 2 * 2  # 2 sequences x 2 directions x 2 pairs, left camera
    assert len(FlyingThings3D(tmp_path, "train", cameras=["left", "right"])) == 16
    future = FlyingThings3D(tmp_path, "train", directions=("into_future",), pass_name="final")
    assert len(future) == 4
    sample = future[1]  # A/0000 left: (7, 8)
    assert_frames(sample, files["final", "A", "left", 7], files["final", "A", "left", 8])
    assert torch.equal(sample["flow"], torch.from_numpy(files["flow", "A", "left", 7, "into_future"]).permute(2, 0, 1))
    past = FlyingThings3D(tmp_path, "train", directions=("into_past",), cameras=("right",))
    sample = past[0]  # A/0000 right: (7, 6) with the into_past flow of 7
    assert_frames(sample, files["clean", "A", "right", 7], files["clean", "A", "right", 6])
    assert torch.equal(sample["flow"], torch.from_numpy(files["flow", "A", "right", 7, "into_past"]).permute(2, 0, 1))
    assert sample["valid"].all() and sample["path"].endswith("TRAIN/A/0000/right/0007.png")


def test_flying_things_exclude_file(tmp_path):
    make_things(tmp_path)
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("TRAIN/A/0000\n# a comment\n\nframes_cleanpass\\TRAIN\\B\\0001\\left\\0008.png\n")
    kept = FlyingThings3D(tmp_path, "train", exclude_file=exclude)
    assert len(kept) == 2 and kept.excluded_pairs == 6  # A: all 4; B: (7, 8) and (8, 7)
    assert {(it.files["first frame"].name, it.files["second frame"].name) for it in kept.items} == {
        ("0006.png", "0007.png"),
        ("0007.png", "0006.png"),
    }
    exclude.write_text("TRAIN/A\n")
    with pytest.raises(BadFileError, match="line 1 .*TRAIN/A/0004"):
        FlyingThings3D(tmp_path, "train", exclude_file=exclude)


def test_flying_things_layout_errors(tmp_path):
    make_things(tmp_path)
    flow = tmp_path / "optical_flow/TRAIN/B/0001/into_past/left/OpticalFlowIntoPast_0008_L.pfm"
    flow.unlink()
    with pytest.raises(BadFileError, match="OpticalFlowIntoPast_0008_L.pfm: is missing.*flow here, for .*0008.png"):
        FlyingThings3D(tmp_path, "train")
    with pytest.raises(BadFileError, match=r"TEST: folder is missing \(folders next to it: \['TRAIN'\]\)"):
        FlyingThings3D(tmp_path, "test")
    with pytest.raises(InputError, match="cameras must be .*'left', 'right'"):
        FlyingThings3D(tmp_path, "train", cameras="left")


# -- Sintel ---------------------------------------------------------------------------------------------------
SINTEL_SCENES = {"alley_1": 3, "bamboo_1": 2}  # scene -> frames


def make_sintel(root: Path) -> dict:
    out = {}
    for split in ("training", "test"):
        for scene, frames in SINTEL_SCENES.items():
            for n in range(1, frames + 1):
                for pass_name in ("clean", "final"):
                    path = root / split / pass_name / scene / f"frame_{n:04d}.png"
                    key = (split, pass_name, scene, n)
                    out[key] = save_image(path, rgb(5, len(split), len(pass_name), len(scene), n))
            for n in range(1, frames):
                if split == "test":
                    continue
                flow = flow_field(6, len(scene), n)
                flow[0, 0] = np.nan
                write_flo(mkparent(root / split / "flow" / scene / f"frame_{n:04d}.flo"), flow)
                occluded, invalid = _rng(7, n).random((H, W)) < 0.3, _rng(8, n).random((H, W)) < 0.2
                save_image(root / split / "occlusions" / scene / f"frame_{n:04d}.png", occluded.astype(np.uint8) * 255)
                save_image(root / split / "invalid" / scene / f"frame_{n:04d}.png", invalid.astype(np.uint8) * 255)
                out["gt", scene, n] = flow, occluded, invalid
    return out


def test_sintel_training_flow_occlusions_and_invalid(tmp_path):
    files = make_sintel(tmp_path)
    train = Sintel(tmp_path, "training", pass_name="final")
    assert len(train) == 3 and len(Sintel(tmp_path, "train")) == 3 and train.has_flow
    sample = train[1]  # alley_1 (2, 3)
    assert_frames(sample, files["training", "final", "alley_1", 2], files["training", "final", "alley_1", 3])
    flow, occluded, invalid = files["gt", "alley_1", 2]
    valid = ~invalid & np.isfinite(flow).all(-1)
    assert torch.equal(sample["valid"], torch.from_numpy(valid)) and not sample["valid"][0, 0]
    assert torch.equal(sample["occluded"], torch.from_numpy(occluded)) and sample["occluded"].dtype == torch.bool
    expected = np.where(valid[..., None], flow, 0).transpose(2, 0, 1)  # (2, H, W)
    assert torch.equal(sample["flow"], torch.from_numpy(expected)) and torch.isfinite(sample["flow"]).all()
    assert len(Sintel(tmp_path, "training", scenes=["bamboo_1"])) == 1
    with pytest.raises(InputError, match=r"scenes \['cave_2'\] are not in .*\['alley_1', 'bamboo_1'\]"):
        Sintel(tmp_path, "training", scenes=["cave_2"])


def test_sintel_test_split_has_no_flow_and_the_same_keys(tmp_path):
    files = make_sintel(tmp_path)
    test = Sintel(tmp_path, "test")
    assert len(test) == 3 and not test.has_flow
    sample = test[2]  # bamboo_1 (1, 2)
    assert_frames(sample, files["test", "clean", "bamboo_1", 1], files["test", "clean", "bamboo_1", 2])
    assert not sample["flow"].any() and not sample["valid"].any() and not sample["occluded"].any()
    batch = default_collate([test[0], test[1]])
    assert batch["flow"].shape == (2, 2, H, W) and set(batch) == set(Sintel(tmp_path, "training")[0])


def test_sintel_missing_occlusion_mask(tmp_path):
    make_sintel(tmp_path)
    (tmp_path / "training/occlusions/bamboo_1/frame_0001.png").unlink()
    with pytest.raises(BadFileError, match="occlusions/bamboo_1/frame_0001.png: is missing.*occlusion mask"):
        Sintel(tmp_path, "training")


# -- Spring ---------------------------------------------------------------------------------------------------
def make_spring(root: Path, flow_hw: tuple[int, int] = (2 * H, 2 * W)) -> dict:
    out = {}
    for split in ("train", "test"):
        for scene in ("0001", "0004"):
            for n in (1, 2, 3):
                path = root / split / scene / "frame_left" / f"frame_left_{n:04d}.png"
                out[split, scene, n] = save_image(path, rgb(9, len(split), int(scene), n))
                if split == "train" and n < 3:
                    flow = flow_field(10, int(scene), n, hw=flow_hw)
                    flow[1, 3] = np.nan  # odd row: not subsampled
                    flow[2, 4] = (np.nan, np.nan)  # even row and column: subsampled pixel (1, 2)
                    write_flo5(mkparent(root / split / scene / "flow_FW_left" / f"flow_FW_left_{n:04d}.flo5"), flow)
                    out["flow", scene, n] = flow
    return out


def test_spring_subsamples_the_2x_ground_truth(tmp_path):
    files = make_spring(tmp_path)
    train = Spring(tmp_path, "train")
    assert len(train) == 4 and len(Spring(tmp_path, "test")) == 4 and not Spring(tmp_path, "test").has_flow
    sample = train[3]  # 0004 (2, 3)
    assert_frames(sample, files["train", "0004", 2], files["train", "0004", 3])
    flow_2x = files["flow", "0004", 2]
    half = flow_2x[::2, ::2]  # (H, W, 2)
    valid = np.isfinite(half).all(-1)
    assert sample["flow"].shape == (2, H, W) and valid.sum() == H * W - 1 and not sample["valid"][1, 2]
    assert torch.equal(sample["valid"], torch.from_numpy(valid))
    assert torch.equal(sample["flow"], torch.from_numpy(np.where(valid[..., None], half, 0).transpose(2, 0, 1)))
    assert "flow_2x" not in sample
    full = Spring(tmp_path, "train", full_gt=True)[3]
    assert full["flow_2x"].shape == (2, 2 * H, 2 * W) and full["valid_2x"].shape == (2 * H, 2 * W)
    valid_2x = np.isfinite(flow_2x).all(-1)
    assert torch.equal(full["valid_2x"], torch.from_numpy(valid_2x)) and valid_2x.sum() == 4 * H * W - 2
    assert torch.equal(full["flow_2x"], torch.from_numpy(np.where(valid_2x[..., None], flow_2x, 0).transpose(2, 0, 1)))
    with pytest.raises(InputError, match="full_gt=True is for benchmark evaluation"):
        Spring(tmp_path, "train", full_gt=True, image_hw=(4, 6))


def test_spring_flow_must_be_twice_the_image(tmp_path):
    make_spring(tmp_path, flow_hw=(H, W))
    with pytest.raises(BadFileError, match=r"flow_FW_left_0001.flo5: is 12x8 \(WxH\) but Spring expected 24x16 \(2 x"):
        Spring(tmp_path, "train")


# -- KITTI 2015 -----------------------------------------------------------------------------------------------
KITTI_HW = {0: (H, W), 1: (H - 1, W - 2)}  # KITTI images differ in size between pairs


def make_kitti(root: Path) -> dict:
    out = {}
    for split in ("training", "testing"):
        for n, hw in KITTI_HW.items():
            for frame in ("10", "11"):
                path = root / split / "image_2" / f"{n:06d}_{frame}.png"
                out[split, n, frame] = save_image(path, rgb(11, len(split), n, int(frame), hw=hw))
            if split == "training":
                flow = flow_field(12, n, hw=hw)
                occ = _rng(13, n).random(hw) < 0.5  # sparse LiDAR-like ground truth
                noc = occ & (_rng(14, n).random(hw) < 0.7)
                write_kitti_flow(mkparent(root / split / "flow_occ" / f"{n:06d}_10.png"), flow, occ)
                write_kitti_flow(mkparent(root / split / "flow_noc" / f"{n:06d}_10.png"), flow, noc)
                out["gt", n] = flow, occ, noc
    return out


def test_kitti_flow_occ_noc_and_sizes(tmp_path):
    files = make_kitti(tmp_path)
    occ, noc = KITTIFlow2015(tmp_path, "training"), KITTIFlow2015(tmp_path, "train", gt="noc")
    assert len(occ) == len(noc) == 2
    flow, occ_mask, noc_mask = files["gt", 1]
    for dataset, mask in ((occ, occ_mask), (noc, noc_mask)):
        sample = dataset[1]
        assert sample["flow"].shape == (2, *KITTI_HW[1]) and torch.equal(sample["valid"], torch.from_numpy(mask))
        assert torch.equal(sample["flow"], torch.from_numpy(np.where(mask[..., None], flow, 0).transpose(2, 0, 1)))
    assert_frames(occ[1], files["training", 1, "10"], files["training", 1, "11"])
    assert occ[0]["flow"].shape == (2, H, W)  # each pair keeps its own size
    test = KITTIFlow2015(tmp_path, "testing")
    assert len(test) == 2 and not test.has_flow and not test[1]["valid"].any() and not test[1]["flow"].any()
    with pytest.raises(InputError, match="gt must be 'occ'"):
        KITTIFlow2015(tmp_path, "training", gt="all")


def test_kitti_missing_flow_and_second_frame(tmp_path):
    make_kitti(tmp_path)
    (tmp_path / "training/flow_noc/000001_10.png").unlink()
    with pytest.raises(BadFileError, match="flow_noc/000001_10.png: is missing: KITTIFlow2015 expected the flow here"):
        KITTIFlow2015(tmp_path, "training", gt="noc")
    (tmp_path / "testing/image_2/000000_11.png").unlink()
    with pytest.raises(BadFileError, match="000000_11.png: is missing.*second frame here, beside 000000_10.png"):
        KITTIFlow2015(tmp_path, "testing")


def test_resize_on_load_keeps_sparse_flow_exact(tmp_path):
    files = make_kitti(tmp_path)
    sample = KITTIFlow2015(tmp_path, "training", image_hw=(16, 6))[0]  # from 8x12: v x 2, u x 0.5
    assert sample["image1"].shape == (3, 16, 6) and sample["flow"].shape == (2, 16, 6)
    flow, mask, _ = files["gt", 0]
    rows, cols = np.arange(16) // 2, np.arange(6) * 2 + 1  # the nearest source pixels
    assert torch.equal(sample["valid"], torch.from_numpy(mask[rows][:, cols]))
    expected = np.where(mask[..., None], flow, 0)[rows][:, cols] * np.float32([0.5, 2.0])  # (16, 6, 2)
    assert torch.equal(sample["flow"], torch.from_numpy(expected.transpose(2, 0, 1)))
