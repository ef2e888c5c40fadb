"""The reproduction report (``REPRODUCTION.md``): numbers, convergence, equal-time values, claims, missing rows
and the learning-curve picture, from hand-made results."""

from __future__ import annotations

from PIL import Image

from winwin.reproduce.report import convergence, write_report

FULL, TUNED = "full", "full, tuned T"
MACHINE = {"cpu": "Test CPU", "cores": 2, "torch": "2.13.0", "matmul_gflops": 355.0, "device": "cpu", "date": "x"}

TABLE = {
    "key": "t1",
    "title": "Table 1: windows",
    "metric": "miou",
    "higher_is_better": True,
    "scale": 100,
    "unit": "mIoU %",
    "paper_source": "BDD100k",
    "reference_row": "B",
    "rows": [
        {"name": "A", "paper": {FULL: 61.3, TUNED: 61.8}, "note": "one crop"},
        {"name": "B", "paper": {FULL: 63.6}, "note": ""},
        {"name": "C", "paper": {}, "note": ""},
        {"name": "D", "paper": {FULL: 60.0}, "note": ""},
    ],
    "claims": [
        {"text": "B beats A", "better": "B", "worse": "A", "variant": FULL},
        {"text": "A beats B", "better": "A", "worse": "B", "variant": FULL},
        {"text": "B beats D", "better": "B", "worse": "D", "variant": FULL},
    ],
}


def curve(values, walls) -> list[dict]:
    return [{"step": 100 * (i + 1), "wall_s": w, "value": v} for i, (v, w) in enumerate(zip(values, walls))]


def result(row, seed, full, tuned, values, walls, wall_s=40.0) -> dict:
    return {
        "table": "t1",
        "row": row,
        "seed": seed,
        "steps": 400,
        "train_wall_s": wall_s,
        "flops_per_step": 4.6e9,
        "tokens": 50,
        "variants": {FULL: {"miou": full, "loss": 0.1}, TUNED: {"miou": tuned, "temperature": 1.3}},
        "curve": curve(values, walls),
    }


def results() -> list[dict]:
    flat, rising = [0.30, 0.40, 0.40, 0.40], [0.10, 0.20, 0.30, 0.40]
    return [
        *(result("A", s, f, f + 0.01, flat, [10, 20, 30, 40]) for s, f in enumerate([0.40, 0.42, 0.44])),
        result("B", 0, 0.50, 0.51, rising, [10, 20, 30, 40], wall_s=25.0),
        result("B", 1, 0.52, 0.53, rising, [10, 20, 30, 40], wall_s=35.0),  # reference time T = 30 s
        result("C", 0, 0.30, 0.31, [0.20, 0.30, 0.35, 0.36], [15, 30, 45, 60], wall_s=60.0),
        result("C", 1, 0.32, 0.33, [0.22, 0.32, 0.36, 0.36], [15, 30, 45, 60], wall_s=60.0),
    ]


def line_starting(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def test_report_numbers_convergence_equal_time_and_claims(tmp_path):
    path = write_report(tmp_path, [TABLE], results(), MACHINE, "winwin reproduce --seeds 0 1 2")
    assert path == tmp_path / "REPRODUCTION.md"
    text = path.read_text()
    assert "winwin reproduce --seeds 0 1 2" in text and "Test CPU" in text
    # A, full: 40, 42, 44 % -> mean 42.0, sample std sqrt((4 + 0 + 4) / 2) = 2.0
    row_a = line_starting(text, "| A | full |")
    assert "42.0 ± 2.0 (3)" in row_a and "61.3" in row_a
    assert "| A | full, tuned T | 43.0 ± 2.0 (3) | 61.8 |" in text
    assert "| 400 | 0.7 | 0.7 | 4.6 | yes |" in row_a  # steps, minutes per run (no timing: as run), GFLOP, flat
    row_b = line_starting(text, "| B | full |")
    assert "51.0 ± 1.4 (2)" in row_b and "63.6" in row_b
    assert "(GPU)" not in text
    assert "no (still improving by 25.0%)" in row_b  # 0.4 at the end against 0.3 at 75% of the steps
    assert "| C | full | 31.0 ± 1.4 (2) | — |" in text
    assert "| D | full | not run yet | 60.0 |" in text and "Rows not run yet: D." in text
    # equal time: T = mean(25, 35) s = 30 s; C's last evaluations by then are at step 200: (0.30 + 0.32) / 2
    assert "| C | 1.0 | 31.0 (step 200, 2 seeds) | 36.0 (step 400, 2 seeds) |" in text
    assert "| A | 0.7 | 40.0 (step 300, 3 seeds) |" in text
    assert "- B beats A (B vs A, full): reproduced: ours 51.0 vs 42.0; the difference 9.0 exceeds" in text
    assert "- A beats B (A vs B, full): **NOT reproduced**: ours 42.0 vs 51.0" in text
    assert "- B beats D (B vs D, full): not run yet." in text
    assert "Orderings that do not reproduce: A beats B." in text
    assert (
        "Claims: 1 reproduced, 0 in the paper's direction but not beyond the seed spread, 1 not reproduced, 1 " in text
    )
    assert "![Table 1: windows: learning curves](images/t1_curves.png)" in text
    with Image.open(tmp_path / "images" / "t1_curves.png") as image:
        image.verify()
        assert image.format == "PNG"


def test_partial_results_one_seed(tmp_path):
    """Before any run, and with one seed: no std, claims wait, no picture until a curve exists."""
    text = write_report(tmp_path, [TABLE], [], MACHINE, "winwin reproduce").read_text()
    assert "Rows not run yet: A, B, C, D." in text and "no equal-time comparison" in text
    assert "Orderings that do not reproduce: none." in text and not (tmp_path / "images").exists()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "t1_curves.png").write_bytes(b"a picture of other runs")
    write_report(tmp_path, [TABLE], [], MACHINE, "winwin reproduce")
    assert not (tmp_path / "images" / "t1_curves.png").exists()  # no stale picture beside an empty table
    one = [r for r in results() if r["seed"] == 0]
    text = write_report(tmp_path, [TABLE], one, MACHINE, "winwin reproduce").read_text()
    assert "| A | full | 40.0 ± — (1) |" in text and "seed spread unknown" in text
    # one seed each: B over A is the paper's direction but cannot be told from the seed spread
    assert "- B beats A (B vs A, full): in the paper's direction, not beyond the seed spread: ours 50.0 vs 40.0" in text
    assert "Claims: 0 reproduced, 1 in the paper's direction but not beyond the seed spread, 1 not reproduced" in text
    assert (tmp_path / "images" / "t1_curves.png").is_file()


def test_convergence_follows_the_metric_direction():
    falling = {"curve": curve([2.0, 1.5, 1.2, 1.0], [1, 2, 3, 4])}
    assert convergence([falling], higher_is_better=False) == "no (still improving by 20.0%)"
    assert convergence([falling], higher_is_better=True) == "no (getting worse by 20.0%)"
    assert convergence([{"curve": curve([1.0, 0.995], [1, 2])}], higher_is_better=False) == "yes"
    with_loss = {"curve": [{**p, "loss": loss} for p, loss in zip(curve([0.3, 0.4], [1, 2]), [0.5, 0.4])]}
    assert convergence([with_loss], higher_is_better=True) == "no (still improving by 25.0%); val loss -25.0%"


def test_timed_step_times_set_the_training_time_and_the_equal_time_comparison(tmp_path):
    """With step times timed back to back, a row's training time is steps x step time, whatever its runs took
    as run, and the equal-time comparison reads each curve at the step reached within the reference's time."""
    timed = {"A": 0.25, "B": 0.1, "C": 0.05}  # s per step: B's 400 steps take T = 40 s
    runs = [{**r, "step_s": timed[r["row"]]} for r in results()]
    text = write_report(tmp_path, [TABLE], runs, MACHINE, "winwin reproduce").read_text()
    assert "| 400 | 1.7 | 0.7 | 4.6 | yes |" in line_starting(text, "| A | full |")  # 400 x 0.25 s; as run 40 s
    assert "T = 0.7 min" in text
    assert "| A | 1.7 | 30.0 (step 100, 3 seeds) |" in text  # within 40 s A reaches step 160: its point at 100
    assert "| C | 0.3 | 36.0 (step 400, 2 seeds) |" in text  # C's 400 steps take 20 s < T


def test_declared_variants_extra_cost_and_the_appendix_figures(tmp_path):
    """A table shows only the variants it declares for a row (a shared result file holds more), a variant's
    extra time beside its name, and draws the temperature and test-resolution figures from the results."""
    table = {
        **TABLE, "key": "t2", "figures": ["temperature", "resolution"], "reference_row": "A",
        "rows": [{"name": "A", "paper": {}, "note": "", "variants": [FULL, "full, learned T", "test crop 64x128"]}],
        "claims": [],
    }  # fmt: skip
    sweep = [{"temperature": t, "loss": 1 + (t - 1.2) ** 2, "miou": 0.4 - (t - 1.2) ** 2} for t in (0.8, 1.0, 1.2)]
    runs = []
    for seed in (0, 1):
        run = result("A", seed, 0.40, 0.41, [0.3, 0.4], [1, 2])
        run["table"] = "t2"
        run["variants"] |= {
            "full, learned T": {"miou": 0.45, "extra_s": 90.0},
            "test crop 64x128": {"miou": 0.2},
            "test crop 192x384": {"miou": 0.4},
            TUNED: {"miou": 0.41, "sweep": sweep},
        }
        runs.append(run)
    text = write_report(tmp_path, [table], runs, MACHINE, "winwin reproduce").read_text()
    assert "| A | full, learned T (+1.5 min) | 45.0 ± 0.0 (2) |" in text
    assert "| A | test crop 64x128 | 20.0 ± 0.0 (2) |" in text
    assert "| A | full, tuned T |" not in text  # in the result file, not asked by this table
    assert "At equal training time" not in text  # no learning curves in this table
    for name in ("t2_temperature", "t2_resolution"):
        assert f"(images/{name}.png)" in text
        with Image.open(tmp_path / "images" / f"{name}.png") as image:
            image.verify()


def test_a_claim_between_values_equal_at_display_precision_shows_more_decimals(tmp_path):
    close = [result("A", 0, 0.40, 0.40, [0.4] * 4, [10, 20, 30, 40]), result("B", 0, 0.4003, 0.40, [0.4] * 4, [10] * 4)]
    text = write_report(tmp_path, [TABLE], close, MACHINE, "winwin reproduce").read_text()
    assert "(B vs A, full): in the paper's direction, not beyond the seed spread: ours 40.030 vs 40.000" in text


def test_header_names_the_cpus_or_gpus_when_runs_trained_on_several(tmp_path):
    runs = results()
    assert "runs trained on" not in write_report(tmp_path, [TABLE], runs, MACHINE, "winwin reproduce").read_text()
    runs[0]["machine"] = {"cpu": "CPU one", "threads": 2}
    runs[1]["machine"] = {"cpu": "CPU two", "threads": 2}
    runs[2]["machine"] = {"cpu": "CPU two", "threads": 2}
    runs[3]["machine"] = {"cpu": "CPU two", "threads": 2, "gpu": "NVIDIA H100"}  # the GPU is named, not its CPU
    runs[4]["machine"] = {"cpu": "CPU two", "threads": 1}  # side by side with another run
    text = write_report(tmp_path, [TABLE], runs, MACHINE, "winwin reproduce").read_text()
    line = next(s for s in text.splitlines() if s.startswith("- runs trained on: "))
    assert "CPU two, 2 threads (2 runs)" in line and "CPU one, 2 threads (1 run)" in line
    assert "CPU two, 1 thread (1 run)" in line and f"not recorded ({len(runs) - 5} runs)" in line
    assert "NVIDIA H100 (GPU) (1 run)" in line


def test_header_gives_the_reports_command_and_names_the_last_call_that_trained(tmp_path):
    whole = "winwin reproduce --seeds 0 1 --out reports"
    text = write_report(tmp_path, [TABLE], results(), MACHINE, whole).read_text()
    assert line_starting(text, "- command: ") == f"- command: `{whole}`" and "the last:" not in text
    last = "winwin reproduce --tables t1 --seeds 1 --out reports --hours 2 --fill --jobs 2"
    text = write_report(tmp_path, [TABLE], results(), {**MACHINE, "command": last}, whole).read_text()
    assert line_starting(text, "- command: ") == f"- command: `{whole}`"
    assert line_starting(text, "- trained by several calls").endswith(f"the last: `{last}`")
    same = write_report(tmp_path, [TABLE], results(), {**MACHINE, "command": whole}, whole).read_text()
    assert "the last:" not in same  # the report's own call trained: nothing more to say


def test_a_row_name_with_a_bar_stays_in_its_own_cell(tmp_path):
    """Table 3's rows name both frames' windows ("2 win. 4x4 | 4 win. 3x3"): the '|' is escaped in every table,
    so each line keeps its columns."""
    name = "2 win. 4x4 | 4 win. 3x3"
    table = {**TABLE, "reference_row": name, "claims": [], "rows": [{"name": name, "paper": {FULL: 1.0}, "note": ""}]}
    one = [{**r, "row": name} for r in results() if r["row"] == "B"]
    text = write_report(tmp_path, [table], one, MACHINE, "winwin reproduce").read_text()
    escaped = name.replace("|", "\\|")
    lines = [line for line in text.splitlines() if line.startswith(f"| {escaped} |")]
    assert len(lines) == 3  # full, tuned T, and the equal-time table
    header = line_starting(text, "| row | test variant |")
    columns = header.count("|")
    assert all(line.replace("\\|", "").count("|") == columns for line in lines[:2])
    assert not [line for line in text.splitlines() if line.startswith("|") and name in line.replace(escaped, "")]


def test_rows_trained_on_a_gpu_are_marked_in_the_as_run_column(tmp_path):
    gpu = {"cpu": "Xeon", "gpu": "NVIDIA H100"}
    runs = results()
    runs[0]["machine"] = gpu  # A: one seed of three on a GPU
    runs[3]["machine"], runs[4]["machine"] = gpu, gpu  # B: both seeds
    text = write_report(tmp_path, [TABLE], runs, MACHINE, "winwin reproduce").read_text()
    assert "| 0.7 (1 of 3 on GPU) |" in line_starting(text, "| A | full |")
    assert "| 0.5 (GPU) |" in line_starting(text, "| B | full |")  # (25 + 35) / 2 s
    assert "(GPU" not in line_starting(text, "| C | full |")
