"""The paper's Tables 1 and 2 at small scale on the embedded segmentation data (``configs/demo.yaml``: 192x384
px = 12x24 tokens of 16 px). The paper's setting (BDD100k, 1280x720 = 45x80 tokens, a 968-token budget) maps to a
budget of about 50 tokens (17% of the grid; the paper's is 27%). Each row is a set of config overrides on its
table's base config; each test variant a way to evaluate the trained model; ``paper`` holds the paper's numbers
for them. ``tables_flow`` has Table 3, ``tables_studies`` the other studies, ``catalog`` all of them.

Rows with the same overrides (and base config) are the same runs: Table 2's Win-Win row reuses Table 1's
2-window runs. Rows with the same name share one result file, whatever variants each table asks of them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FULL, TUNED, RESIZE, TILING = "full", "full, tuned T", "resize", "tiling"
LEARNED = "full, learned T"  # one temperature per head learned on training images, every weight frozen
CROP_VARIANT = "test crop {h}x{w}"  # Appendix A: crops of the test images of this size (px)


def crop_variant(h: int, w: int) -> str:
    """The name of the test variant that evaluates on h x w px crops of the test images."""
    return CROP_VARIANT.format(h=h, w=w)


def crop_size(variant: str) -> tuple[int, int] | None:
    """(h, w) of a test-crop variant's name (``crop_variant``'s inverse), None for other variants."""
    match = re.fullmatch(r"test crop (\d+)x(\d+)", variant)
    return None if match is None else (int(match[1]), int(match[2]))


@dataclass(frozen=True)
class Row:
    name: str
    overrides: tuple[str, ...]
    variants: tuple[str, ...] = (FULL,)
    paper: dict[str, float] = field(default_factory=dict)
    note: str = ""
    tile: tuple[int, int] | None = None  # resize / tiling: the training crop in pixels
    step_scale: float = 1.0  # the row's training steps: this times its table's


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    rows: tuple[Row, ...]
    reference_row: str
    claims: tuple[dict, ...] = ()
    metric: str = "miou"
    higher_is_better: bool = True
    scale: float = 100.0
    unit: str = "mIoU %"
    paper_source: str = "BDD100k val, ViT-Base from CroCo v2, 1280x720 (45x80 tokens), 968-token budget"
    base_config: str = "demo.yaml"  # under configs/
    step_scale: float = 1.0  # the table's training steps: this times the budget's
    pretrain: str | None = None  # a config under configs/ whose cross-view pretraining every row starts from
    figures: tuple[str, ...] = ("curves",)  # curves | temperature (App. D) | resolution (App. A)
    intro: str = ""  # what the table is, when it is not one of the paper's
    seeds: tuple[int, ...] | None = None  # a check, not a result: only these of the reproduction's seeds

    def seeds_of(self, seeds: list[int]) -> list[int]:
        """The reproduction's seeds this table runs: all of them, or those among its own ``seeds``."""
        return list(seeds) if self.seeds is None else [s for s in seeds if s in self.seeds]

    def as_dict(self) -> dict:
        """What the report reads."""
        return {
            "key": self.key, "title": self.title, "metric": self.metric, "higher_is_better": self.higher_is_better,
            "scale": self.scale, "unit": self.unit, "paper_source": self.paper_source,
            "reference_row": self.reference_row, "claims": list(self.claims), "figures": list(self.figures),
            "intro": self.intro, "seeds": self.seeds,
            "rows": [{"name": r.name, "paper": dict(r.paper), "note": r.note, "variants": list(r.variants)}
                     for r in self.rows],
        }  # fmt: skip


def _windows(n: int, h: int, w: int) -> tuple[str, ...]:
    return ("windows.mode=windows", f"windows.num_windows={n}", f"windows.window_size=[{h}, {w}]")


WIN_WIN = Row(
    "2 win. 5x5", _windows(2, 5, 5), (FULL, TUNED), {FULL: 63.6, TUNED: 63.6}, "paper: 2 win. 22x22 (968 tokens)"
)
CROP = (112, 112)  # one 7x7-token crop in pixels: the tile of the crop baselines

TABLE1 = Table(
    "table1",
    "Table 1 (left): number of windows at a fixed token budget, with and without the tuned temperature",
    (
        Row("1 win. 7x7", _windows(1, 7, 7), (FULL, TUNED), {FULL: 61.3, TUNED: 61.8}, "49 tokens; paper: 32x32"),
        WIN_WIN,
        Row("3 win. 4x4", _windows(3, 4, 4), (FULL, TUNED), {FULL: 63.0, TUNED: 63.2}, "48 tokens; paper: 18x18"),
        Row("4 win. 4x3", _windows(4, 4, 3), (FULL, TUNED), {FULL: 63.0, TUNED: 63.2}, "48 tokens; paper: 16x16"),
        Row("6 win. 3x3", _windows(6, 3, 3), (FULL, TUNED), {FULL: 62.3, TUNED: 62.5}, "54 tokens; paper: 13x13"),
    ),
    reference_row=WIN_WIN.name,
    figures=("curves", "temperature"),
    claims=(
        {"text": "2 windows beat 1 window (a crop)", "better": "2 win. 5x5", "worse": "1 win. 7x7", "variant": FULL},
        {"text": "2 windows beat 6 windows", "better": "2 win. 5x5", "worse": "6 win. 3x3", "variant": FULL},
        {
            "text": "the tuned temperature helps the crop",
            "better": "1 win. 7x7",
            "worse": "1 win. 7x7",
            "variant": TUNED,
            "worse_variant": FULL,
        },
    ),  # fmt: skip
)

TABLE2 = Table(
    "table2",
    "Table 2 (left): baselines: full-resolution training, ViTDet, one crop tested three ways, Win-Win",
    (
        Row("Full-res. ViT", ("windows.mode=full",), (FULL,), {FULL: 63.2}, "288 tokens"),
        Row(
            "Full-res. ViT-Det",
            ("windows.mode=full", "model.attention=vitdet", "model.vitdet_window=6", "model.vitdet_global_blocks=2"),
            (FULL,),
            {FULL: 63.3},
            "local 6x6 windows, 2 of the 4 blocks global (ViTDet: 4 of 12)",
        ),
        Row(
            "crop 7x7",
            _windows(1, 7, 7),
            (FULL, RESIZE, TILING),
            {FULL: 61.8, RESIZE: 56.1, TILING: 62.6},
            "49 tokens; tiles of 112x112 px, overlap 0.5",
            tile=CROP,
        ),
        WIN_WIN,
    ),  # fmt: skip
    reference_row=WIN_WIN.name,
    claims=(
        {
            "text": "Win-Win matches full-resolution training (within 1 mIoU point)",
            "better": "2 win. 5x5",
            "worse": "Full-res. ViT",
            "variant": FULL,
            "tolerance": 1.0,
        },
        {
            "text": "Win-Win beats the crop tested by tiling",
            "better": "2 win. 5x5",
            "worse": "crop 7x7",
            "variant": FULL,
            "worse_variant": TILING,
        },
        {
            "text": "tiling is the crop's best test",
            "better": "crop 7x7",
            "worse": "crop 7x7",
            "variant": TILING,
            "worse_variant": RESIZE,
        },
    ),  # fmt: skip
)
