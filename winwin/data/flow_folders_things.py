"""FlyingThings3D (Mayer et al. 2016) optical flow in its released layout ("FlyingThings3D subset" excluded).

    ROOT/frames_cleanpass|frames_finalpass/{TRAIN,TEST}/{A,B,C}/{seq:04d}/{left,right}/{t:04d}.png
    ROOT/optical_flow/{TRAIN,TEST}/{A,B,C}/{seq}/into_future/{left,right}/OpticalFlowIntoFuture_{t:04d}_{L,R}.pfm
    ROOT/optical_flow/{TRAIN,TEST}/{A,B,C}/{seq}/into_past/{left,right}/OpticalFlowIntoPast_{t:04d}_{L,R}.pfm

A pair is two consecutive frames of one camera in one sequence: into_future gives (t, t + 1) with the flow
of frame t towards t + 1, into_past (t, t - 1) with the flow of frame t towards t - 1 (as RAFT lists them).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import BadFileError, InputError
from .flow_augment import FlowAugment
from .flow_folders import FLOW, FRAME1, FRAME2, FlowFolder, FlowItem, _names

CAMERAS = {"left": "L", "right": "R"}
DIRECTIONS = {"into_future": ("Future", 1), "into_past": ("Past", -1)}  # name in the file, frame step
PASSES = ("clean", "final")


def read_exclusions(path: str | Path) -> frozenset[str]:
    """The keys of an exclusion list: one entry per line, blank lines and ``#`` comments skipped.

    An entry is a sequence ``TRAIN/A/0004``, one camera of it ``TRAIN/A/0004/left``, or one frame
    ``TRAIN/A/0004/left/0006.png`` (every pair with that frame as its first or second frame goes). Anything
    before TRAIN / TEST is ignored (``frames_cleanpass/TRAIN/...`` works) and \\ separators are accepted, so
    the dataset's own ``all_unused_files.txt`` can be given as it is.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise BadFileError(path, f"cannot be read as an exclusion list ({e.strerror})") from None
    keys = set()
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        parts = [p for p in re.split(r"[\\/]+", entry) if p]
        start = next((i for i, p in enumerate(parts) if p in ("TRAIN", "TEST")), None)
        parts = parts[start:] if start is not None else parts
        if start is not None and len(parts) == 5:
            stem = parts[4].rsplit(".", 1)[0]
            parts[4] = f"{int(stem):04d}" if stem.isdigit() else parts[4]
        ok = start is not None and 3 <= len(parts) <= 5 and (len(parts) < 4 or parts[3] in CAMERAS)
        if not ok or (len(parts) == 5 and not parts[4].isdigit()):
            raise BadFileError(
                path,
                f"line {number} ({line.strip()!r}) is not an exclusion entry: expected a sequence like "
                "TRAIN/A/0004, a camera like TRAIN/A/0004/left or a frame like TRAIN/A/0004/left/0006.png",
            )
        keys.add("/".join(parts))
    return frozenset(keys)


class FlyingThings3D(FlowFolder):
    """FlyingThings3D frame pairs with dense flow (540x960); ``split`` "train" (TRAIN) or "test" (TEST; "val"
    is an alias, the usual validation set).

    pass_name: "clean" or "final" renderings. cameras: any of ("left", "right") (default left, as RAFT).
    directions: any of ("into_future", "into_past") (default both, as RAFT). exclude_file: a text file of
    sequences / cameras / frames to leave out (format: ``read_exclusions``), for the filtered subsets of
    CroCo-Flow and others; ``excluded_pairs`` counts the pairs it removed.
    """

    name = "FlyingThings3D"
    layout = (
        "  ROOT/frames_{pass_name}pass/{TRAIN,TEST}/{A,B,C}/{seq:04d}/{left,right}/{t:04d}.png\n"
        "  ROOT/optical_flow/{TRAIN,TEST}/{A,B,C}/{seq}/{into_future,into_past}/{left,right}/"
        "OpticalFlowInto{Future,Past}_{t:04d}_{L,R}.pfm"
    )
    splits = {"train": "TRAIN", "test": "TEST", "val": "TEST"}

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        pass_name: str = "clean",
        cameras: tuple[str, ...] | list[str] = ("left",),
        directions: tuple[str, ...] | list[str] = ("into_future", "into_past"),
        exclude_file: str | Path | None = None,
        flip: bool = False,
        max_items: int | None = None,
        image_hw: tuple[int, int] | None = None,
        augment: FlowAugment | None = None,
    ) -> None:
        if pass_name not in PASSES:
            raise InputError(f"{self.name} pass_name must be 'clean' or 'final', got {pass_name!r}")
        for what, given, known in (("cameras", cameras, CAMERAS), ("directions", directions, DIRECTIONS)):
            if (
                isinstance(given, str)
                or not given
                or any(v not in known for v in given)
                or len(set(given)) < len(given)
            ):
                raise InputError(
                    f"{self.name} {what} must be a non-empty list of distinct values among {list(known)}, got {given!r}"
                )
        self.pass_name, self.cameras, self.directions = pass_name, tuple(cameras), tuple(directions)
        self.exclude_file = None if exclude_file is None else Path(exclude_file)
        self.exclusions = frozenset() if exclude_file is None else read_exclusions(exclude_file)
        self.excluded_pairs = 0
        super().__init__(root, split, flip=flip, max_items=max_items, image_hw=image_hw, augment=augment)

    def _excluded(self, seq_key: str, camera: str, t: int, other: int) -> bool:
        keys = (seq_key, f"{seq_key}/{camera}", f"{seq_key}/{camera}/{t:04d}", f"{seq_key}/{camera}/{other:04d}")
        return any(k in self.exclusions for k in keys)

    def _list_items(self) -> list[FlowItem]:
        frames = self.root / f"frames_{self.pass_name}pass" / self.folder
        flows = self.root / "optical_flow" / self.folder
        for folder in (frames.parent, frames, flows.parent, flows):
            self._require_dir(folder)
        sequences = sorted(d for d in frames.glob("*/*") if d.is_dir())  # {A,B,C}/{seq}
        if not sequences:
            raise self._none_found(frames, "sequence folders {A,B,C}/{seq:04d}")
        items = []
        for seq in sequences:
            seq_key = f"{self.folder}/{seq.parent.name}/{seq.name}"
            for camera in self.cameras:
                names = _names(seq / camera)
                ts = sorted(int(n[:-4]) for n in names if n.endswith(".png") and n[:-4].isdigit())
                if not ts:
                    raise self._none_found(seq / camera, "frames {t:04d}.png (every sequence has both cameras)")
                present = set(ts)
                for direction in self.directions:
                    word, step = DIRECTIONS[direction]
                    flow_dir = flows / seq.parent.name / seq.name / direction / camera
                    for t in ts:
                        if t + step not in present:
                            continue
                        if self._excluded(seq_key, camera, t, t + step):
                            self.excluded_pairs += 1
                            continue
                        files = {
                            FRAME1: seq / camera / f"{t:04d}.png",
                            FRAME2: seq / camera / f"{t + step:04d}.png",
                            FLOW: flow_dir / f"OpticalFlowInto{word}_{t:04d}_{CAMERAS[camera]}.pfm",
                        }
                        items.append(FlowItem(files, str(files[FRAME1])))
        if not items and not self.excluded_pairs:
            raise self._none_found(frames, f"pairs of consecutive frames {{t:04d}}.png in {list(self.cameras)}")
        return items
