"""Studies beyond Tables 1-3, on the embedded segmentation data like Tables 1 and 2 (their runs are shared
where the overrides are the same):

- positional embeddings at full-resolution test (Sec. 4.1: cosine absolute 57.0 against RoPE 63.6), plus RoPE
  with learnable mixed-axis frequencies (Heo et al., ECCV 2024), which the paper does not have;
- Appendix A: accuracy against the test resolution, crops of the test images of several sizes, for window,
  crop and full-resolution training;
- beyond the paper: 2 windows + one learned temperature per head against full-resolution training, with what
  each costs to train.

Appendix D's temperature curve is a figure of Table 1 (its tuned-temperature sweeps)."""

from __future__ import annotations

from dataclasses import replace

from .tables import FULL, LEARNED, TUNED, WIN_WIN, Row, Table, crop_variant

POS_EMBED = Table(
    "posembed",
    "Positional embeddings at full-resolution test (Sec. 4.1), and RoPE-Mixed",
    (
        replace(WIN_WIN, paper={FULL: 63.6}, note="axial RoPE with fixed frequencies (CroCo's)"),
        Row(
            "2 win. 5x5, cosine",
            (*WIN_WIN.overrides, "model.pos_embed=cosine"),
            (FULL, TUNED),
            {FULL: 57.0},
            "cosine absolute embeddings added to the patch tokens; the paper: a tuned temperature did not help",
        ),
        Row(
            "2 win. 5x5, RoPE-Mixed",
            (*WIN_WIN.overrides, "model.pos_embed=rope_mixed"),
            (FULL, TUNED),
            {},
            "learnable mixed-axis RoPE frequencies per block and head (Heo et al. 2024); not in the paper",
        ),
    ),
    reference_row=WIN_WIN.name,
    claims=(
        {
            "text": "RoPE beats cosine absolute embeddings",
            "better": WIN_WIN.name,
            "worse": "2 win. 5x5, cosine",
            "variant": FULL,
        },
    ),  # fmt: skip
    intro="Every row trains 2 windows of 5x5 tokens; only the positional embedding differs.",
)

# test crops from 4x8 tokens up to the whole 12x24-token image
CROP_SIZES = ((64, 128), (96, 192), (128, 256), (160, 320), (192, 384))
CROPS = tuple(crop_variant(h, w) for h, w in CROP_SIZES)
SMALLEST, WHOLE = CROPS[0], CROPS[-1]

APPENDIX_A = Table(
    "appendixA",
    "Appendix A: accuracy against test resolution (crops of the test images)",
    (
        Row("Full-res. ViT", ("windows.mode=full",), CROPS, {}, "trained on the whole 192x384 images"),
        Row(
            "crop 7x7",
            ("windows.mode=windows", "windows.num_windows=1", "windows.window_size=[7, 7]"),
            CROPS,
            {},
            "trained on one 112x112 px crop",
        ),
        replace(WIN_WIN, variants=CROPS, paper={}, note="trained on 2 windows of 80x80 px"),
    ),  # fmt: skip
    reference_row=WIN_WIN.name,
    claims=(
        {
            "text": "on small test crops, window training beats full-resolution training",
            "better": WIN_WIN.name,
            "worse": "Full-res. ViT",
            "variant": SMALLEST,
        },
        {
            "text": "on the whole image, window training beats the crop",
            "better": WIN_WIN.name,
            "worse": "crop 7x7",
            "variant": WHOLE,
        },
    ),  # fmt: skip
    figures=("resolution",),
    paper_source="BDD100k val, Figure 5 (a plot, no numbers)",
    intro="The paper's Figure 5: full-resolution training drops on small test crops, crop training on small "
    "and large ones, window training drops least. Crops are taken at one position per test image, drawn from "
    "the image's index (the same crops for every model).",
)

LEARNED_T = Table(
    "learnedT",
    "Beyond the paper: 2 windows + learned per-head temperature against full-resolution training",
    (
        replace(WIN_WIN, variants=(FULL, TUNED, LEARNED), paper={}),
        Row("Full-res. ViT", ("windows.mode=full",), (FULL,), {}, "trained on the whole images"),
    ),
    reference_row=WIN_WIN.name,
    claims=(
        {
            "text": "2 windows with learned temperatures match full-resolution training (within 1 mIoU point)",
            "better": WIN_WIN.name,
            "worse": "Full-res. ViT",
            "variant": LEARNED,
            "worse_variant": FULL,
            "tolerance": 1.0,
        },
    ),  # fmt: skip
    paper_source="not in the paper (its flow models learn per-head temperatures, Sec. 4.2 and App. D)",
    intro="Learned T: one temperature per head of every attention layer, learned on full-resolution training "
    "images with every weight frozen (`winwin calibrate --learn`); its cost is given beside the variant.",
)
