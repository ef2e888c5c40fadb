"""``winwin reproduce --quick``: every row of every table trains (a tiny model, 2 steps), is evaluated in its
test variants and reported; a second call finds everything cached and trains nothing."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from winwin.reproduce.catalog import TABLES
from winwin.reproduce.main import reproduce, step_times, training_left
from winwin.reproduce.runner import QUICK, Budget, result_path, results_dir, run_dir
from winwin.reproduce.schedule import kept_results, longest_first, recorded_pace
from winwin.reproduce.tables import LEARNED, TABLE1, TABLE2, TILING, TUNED, crop_size, crop_variant
from winwin.reproduce.tables_studies import APPENDIX_A, CONVERGENCE, LEARNED_T
from winwin.reproduce.variants import SWEEP, CroppedSet, has_variant


def test_quick_reproduction_runs_every_row_and_caches_them(tmp_path):
    tables = list(TABLES.values())
    said: list[str] = []
    report = reproduce(tables, [0], QUICK, tmp_path, say=said.append)
    step_s = step_times(tables, QUICK, tmp_path, "cpu")  # timed once, at the start
    assert set(step_s) == {r.name for t in tables for r in t.rows} and all(v > 0 for v in step_s.values())
    assert any("training runs to go" in s for s in said)
    assert training_left(tables, [0], QUICK, tmp_path, step_s) == (0, 0.0)
    runs, seconds = training_left(tables, [0, 1], QUICK, tmp_path, step_s)  # seed 1 is all to do ...
    second = {run_dir(tmp_path, r, 1, QUICK, t) for t in tables for r in t.rows if t is not CONVERGENCE}
    assert runs == len(second) and seconds > 0  # ... but the budget's check, which runs the first seed only
    twice = CONVERGENCE.rows[1]  # Table 1's first row, trained twice as long: its own run, the same step time
    assert twice.name == f"{TABLE1.rows[0].name}, 2x steps" and step_s[twice.name] == step_s[TABLE1.rows[0].name]
    result = json.loads(result_path(results_dir(tmp_path, twice, 0, QUICK, CONVERGENCE), twice).read_text())
    assert result["steps"] == 2 * QUICK.steps and [p["step"] for p in result["curve"]] == [2, 4]
    text = Path(report).read_text()
    for table in tables:
        assert f"## {table.title}" in text
        for row in table.rows:
            assert row.name in text
            result = result_path(results_dir(tmp_path, row, 0, QUICK, table), row)
            assert result.is_file(), (table.key, row.name)
    assert "not run yet" not in text
    assert "- training steps timed on (cost columns): " in text
    for image in ("table1_curves", "table1_temperature", "appendixA_resolution", "table3_curves", "convergence_curves"):
        assert (tmp_path / "images" / f"{image}.png").is_file(), image
    crop = next(r for r in TABLE2.rows if TILING in r.variants)
    one_window = next(r for r in TABLE1.rows if r.name.startswith("1 win."))
    assert run_dir(tmp_path, crop, 0, QUICK, TABLE2) == run_dir(tmp_path, one_window, 0, QUICK, TABLE1)
    assert TUNED in one_window.variants
    trained = [
        s for s in said if s.startswith("reproduce: ") and "->" in s and "pretraining" not in s and "report" not in s
    ]
    # one training per run: a row that shares another row's run takes that row's result (and adds variants)
    assert len(trained) == len({run_dir(tmp_path, r, 0, QUICK, t) for t in tables for r in t.rows}), trained
    same = CONVERGENCE.rows[0]  # Table 1's first row under another name: Table 1's run, its result file copied
    assert run_dir(tmp_path, same, 0, QUICK, CONVERGENCE) == run_dir(tmp_path, TABLE1.rows[0], 0, QUICK, TABLE1)
    copied = json.loads(result_path(results_dir(tmp_path, same, 0, QUICK, CONVERGENCE), same).read_text())
    assert copied["row"] == same.name and copied["session_s"] == 0.0 and set(copied["variants"]) == {"full"}
    assert len([s for s in said if "pretraining" in s]) == 1  # Table 3's rows share one pretraining
    # a row shared by several tables: the variants a later table asks for are added to the cached result
    assert any(s.endswith(f"evaluating {LEARNED}") for s in said)
    win_win = LEARNED_T.rows[0]
    result = json.loads(result_path(results_dir(tmp_path, win_win, 0, QUICK, LEARNED_T), win_win).read_text())
    assert {"full", TUNED, LEARNED} <= set(result["variants"]) and result["variants"][LEARNED]["extra_s"] > 0
    assert len(result["variants"][TUNED]["sweep"]) > 1
    assert result["machine"]["cpu"] and result["machine"]["threads"] >= 1  # where it trained
    assert all(v in result["variants"] for v in APPENDIX_A.rows[-1].variants)  # the crops, same file

    said.clear()
    reproduce(tables, [0], QUICK, tmp_path, say=said.append)
    assert [s for s in said if "seed" in s or "pretraining" in s] == []  # everything cached

    said.clear()  # the report alone, from the cached runs (as while another process trains)
    (tmp_path / "REPRODUCTION.md").unlink()
    reproduce(tables, [0, 1], QUICK, tmp_path, say=said.append, report_only=True)
    again = (tmp_path / "REPRODUCTION.md").read_text()
    assert [s for s in said if "seed" in s or "to go" in s or "timing" in s] == []
    assert all(row.name in again for t in tables for row in t.rows) and "not run yet" not in again

    # a fresh clone holds the committed results but no run folder: nothing is trained again ...
    shutil.rmtree(tmp_path / "runs")
    shutil.rmtree(tmp_path / "pretrain")
    assert list((tmp_path / "results" / "pretrain").glob("*.json"))  # the pretraining's time, for --hours
    said.clear()
    reproduce(tables, [0], QUICK, tmp_path, say=said.append)
    assert [s for s in said if "seed" in s or "pretraining" in s] == []
    # ... except a row whose result lacks a variant: the variant needs the trained model, so it trains again
    path = result_path(results_dir(tmp_path, win_win, 0, QUICK, LEARNED_T), win_win)
    result = json.loads(path.read_text())
    del result["variants"][LEARNED]
    path.write_text(json.dumps(result))
    said.clear()
    reproduce([LEARNED_T], [0], QUICK, tmp_path, say=said.append)
    assert any("checkpoint is gone: trained again" in s for s in said), said
    assert LEARNED in json.loads(path.read_text())["variants"]


def test_hours_leave_runs_that_do_not_fit_for_a_later_call(tmp_path):
    said: list[str] = []
    reproduce([TABLE1, TABLE2], [0], QUICK, tmp_path, say=said.append, hours=1e-6)  # no run fits in 3.6 ms
    later = [s for s in said if "left for later" in s]
    names = {r.name for t in (TABLE1, TABLE2) for r in t.rows}  # a row in both tables is said once
    assert len(names) < len(TABLE1.rows) + len(TABLE2.rows) and len(later) == len(names)
    assert "min expected" in later[0]
    assert len([s for s in said if "x the timed steps" in s]) == 1  # the machine's pace, timed once
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()
    assert f"({len(names)} runs left for a later call: --hours)" in said[-1]
    said.clear()
    reproduce([TABLE1], [0], QUICK, tmp_path, say=said.append, hours=1.0)  # 2 steps each: all fit
    assert not [s for s in said if "left for later" in s]
    assert [s for s in said if "x its timed steps: the next estimates use it" in s]  # the pace, as observed
    assert all(result_path(results_dir(tmp_path, r, 0, QUICK, TABLE1), r).is_file() for r in TABLE1.rows)
    with pytest.raises(ValueError, match="positive number of hours, got 0"):
        reproduce([TABLE1], [0], QUICK, tmp_path, hours=0)


def test_a_budget_change_keeps_the_step_timings_but_not_the_runs():
    """The timing's key names what a step computes; a run's key, also how many steps it takes."""
    once, twice = CONVERGENCE.rows[0], CONVERGENCE.rows[1]  # Table 1's first row at 1x and 2x the steps
    short, long = Budget(steps=8000, eval_every=500), Budget(steps=16000, eval_every=1000)
    assert short.step_key(once, CONVERGENCE) == long.step_key(twice, CONVERGENCE) == long.step_key(once, TABLE1)
    assert short.key(once, TABLE1) != long.key(once, TABLE1)
    assert short.key(twice, CONVERGENCE) == long.key(once, TABLE1)  # 16 000 steps either way: one run
    rows = [(r, t) for t in (TABLE1, TABLE2) for r in t.rows]  # 8 names, 7 runs (a crop is 1 window)
    assert len({long.step_key(r, t) for r, t in rows}) == len({long.key(r, t) for r, t in rows}) == 7


def test_under_a_time_budget_the_longest_run_of_a_seed_goes_first():
    need = {"crop": 600.0, "full": 5000.0, "flow": None, "vitdet": 4800.0, "2 win": 600.0}
    pairs = [("t", row, seed) for seed in (0, 1) for row in need]
    ordered = longest_first(pairs, lambda p: need[p[1]])
    assert [p[2] for p in ordered] == [0] * 5 + [1] * 5  # seed after seed still
    assert [p[1] for p in ordered[:5]] == ["full", "vitdet", "crop", "2 win", "flow"]  # ties keep their order
    assert ordered[5:] == [(t, r, 1) for t, r, _ in ordered[:5]]


def test_the_pace_of_kept_runs_counts_only_whole_runs_on_this_cpu_not_on_a_gpu():
    def run(row, session_s, train_s=1000.0, cpu="A"):
        return {"row": row, "steps": 100, "session_s": session_s, "train_wall_s": train_s, "machine": {"cpu": cpu}}

    step_s = {"w": 5.0, "full": 20.0}
    kept = [
        run("w", 1000.0),  # 2x its 100 x 5 s
        run("full", 6000.0, 5000.0),  # 3x
        run("w", 5000.0, cpu="B"),  # another CPU
        run("w", 10.0),  # a result made from another row's finished run: its training was not in this call
        run("w", 600.0, 4000.0),  # resumed: most of its training was in an earlier call
        {**run("w", 900.0, 800.0), "start_step": 50},  # resumed halfway: its evaluations hide that in its time
        {**run("w", 1000.0), "start_step": 10},  # resumed within the first tenth: counts (2x)
        run("untimed", 9000.0),
        {**run("w", 100.0), "machine": {"cpu": "A", "gpu": "H100"}},  # on a GPU: says nothing of this CPU
    ]
    assert recorded_pace(kept, step_s, "A") == (2.0, 3)
    assert recorded_pace(kept, step_s, "B") == (10.0, 1)
    assert recorded_pace(kept, step_s, "C") is None


def test_the_pace_reads_every_kept_run_under_the_name_it_was_trained_under(tmp_path):
    def write(key, name, session_s):
        path = tmp_path / "results" / key / "s0" / f"result-{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        run = {"row": name, "steps": 100, "session_s": session_s, "train_wall_s": 1000.0, "machine": {"cpu": "A"}}
        path.write_text(json.dumps(run))

    write("k1", "w-2x", 1500.0)  # trained by the check row: 3x its 100 x 5 s
    write("k1", "w", 0.0)  # the table's row, reached through the check row's run
    write("k2", "v", 1000.0)  # 2x
    (tmp_path / "results" / "pretrain").mkdir()
    (tmp_path / "results" / "pretrain" / "abc.json").write_text("{}")  # not a run's result
    kept = kept_results(tmp_path)
    assert sorted(r["row"] for r in kept) == ["v", "w", "w-2x"]
    assert recorded_pace(kept, {"w": 5.0, "w-2x": 5.0, "v": 5.0}, "A") == (2.5, 2)


class Coordinates(torch.utils.data.Dataset):
    """Samples whose maps hold their pixel's coordinates, so a crop's position can be read back."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> dict:
        y, x = torch.meshgrid(torch.arange(12.0), torch.arange(20.0), indexing="ij")  # (H, W) each
        return {"image": torch.stack([y, x, y + x]), "label": (y * 100 + x).long(), "index": index, "k": torch.ones(4)}


def test_test_crops_cut_every_map_at_one_position_drawn_from_the_index():
    crops = CroppedSet(Coordinates(), (4, 6))
    a, b = crops[1], crops[1]
    assert a["image"].shape == (3, 4, 6) and a["label"].shape == (4, 6) and a["k"].shape == (4,)
    assert torch.equal(a["image"], b["image"])  # the same crop every time
    y0, x0 = int(a["image"][0, 0, 0]), int(a["image"][1, 0, 0])
    assert torch.equal(a["label"], (a["image"][0] * 100 + a["image"][1]).long())  # image and label aligned
    assert a["index"] == 1 and 0 <= y0 <= 8 and 0 <= x0 <= 14
    positions = {(int(crops[i]["image"][0, 0, 0]), int(crops[i]["image"][1, 0, 0])) for i in range(3)}
    assert len(positions) > 1  # positions differ between images
    with pytest.raises(ValueError, match="does not fit"):
        CroppedSet(Coordinates(), (13, 6))[0]


def test_crop_variant_names_round_trip():
    assert crop_size(crop_variant(64, 128)) == (64, 128)
    assert crop_size(TUNED) is None and crop_size("test crop 64x") is None


def test_a_cached_tuned_variant_counts_only_with_the_whole_sweep():
    """A result swept on another grid (an older version's) is evaluated again; other variants only need to be
    there."""
    whole = [{"temperature": t, "loss": 1.0} for t in SWEEP]
    assert has_variant({"variants": {TUNED: {"miou": 0.5, "sweep": whole}}}, TUNED)
    assert not has_variant({"variants": {TUNED: {"miou": 0.5, "sweep": whole[3:]}}}, TUNED)
    assert not has_variant({"variants": {TUNED: {"miou": 0.5}}}, TUNED)
    assert has_variant({"variants": {LEARNED: {"miou": 0.5}}}, LEARNED) and not has_variant({"variants": {}}, LEARNED)


def test_a_failing_row_is_said_and_raised_after_the_others_ran(tmp_path, monkeypatch):
    """One row that fails does not stop the rows after it; the failure is reported at the end. A pre-emption
    (``Interrupted``) stops everything at once."""
    import winwin.reproduce.main as main
    from winwin.errors import Interrupted

    tables = [TABLE1]
    broken = TABLE1.rows[1].name
    monkeypatch.setattr(main, "step_times", lambda *a, **k: {})
    monkeypatch.setattr(main, "machine_of", lambda *a: {"cpu": "test"})

    def fake_run_row(table, row, seed, budget, out, device, say, time_limit_s=0.0):
        if row.name == broken:
            raise ValueError("no such window size")
        return {"row": row.name, "seed": seed, "steps": 2, "variants": {"full": {"miou": 0.5}}, "curve": []}

    monkeypatch.setattr(main, "run_row", fake_run_row)
    said: list[str] = []
    with pytest.raises(main.ReproductionFailed, match=f"1 run\\(s\\) failed: {broken}, seed 0 \\(ValueError: no such"):
        main.reproduce(tables, [0], QUICK, tmp_path, say=said.append)
    assert any("FAILED" in s for s in said)
    text = (tmp_path / "REPRODUCTION.md").read_text()
    assert all(f"| {r.name} | full | 50.0" in text for r in TABLE1.rows if r.name != broken)  # the rows after it ran

    def preempted(*args):
        raise Interrupted(15, 3, "SIGTERM at step 3")

    monkeypatch.setattr(main, "run_row", preempted)
    with pytest.raises(Interrupted):
        main.reproduce(tables, [1], QUICK, tmp_path, say=said.append)


def test_a_call_for_some_tables_times_the_steps_of_every_table(tmp_path, monkeypatch):
    import winwin.reproduce.main as main

    timed: list[str] = []

    def fake_step_times(tables, *args, **kwargs):
        timed.extend(t.key for t in tables)
        return {}

    monkeypatch.setattr(main, "step_times", fake_step_times)
    main.reproduce([TABLE1], [0], QUICK, tmp_path, say=lambda _: None, hours=1e-6)  # no run fits: none trains
    assert sorted(timed) == sorted(TABLES)  # timing.json keeps one set for all rows, measured at one time


def test_an_interrupted_pretraining_resumes_in_the_next_call_and_its_time_counts_every_call(tmp_path):
    from winwin.engine.config import load_config
    from winwin.engine.pretrain import pretrain
    from winwin.errors import Interrupted
    from winwin.reproduce.runner import CONFIGS, _pretrain_folder, pretrained
    from winwin.reproduce.tables_flow import TABLE3

    folder, overrides = _pretrain_folder(TABLE3, QUICK, tmp_path, "cpu")
    where = [f"out_dir={folder.parent}", f"name={folder.name}", "train.time_limit_s=0.000001"]
    with pytest.raises(Interrupted):  # stopped after its first step of 2, as by a pre-emption notice
        pretrain(load_config(CONFIGS / TABLE3.pretrain, [*overrides, *where]), progress=False, say=lambda _: None)
    first = json.loads((folder / "log.jsonl").read_text().splitlines()[0])
    said: list[str] = []
    assert pretrained(TABLE3, QUICK, tmp_path, "cpu", said.append) == folder / "croco.pth"
    assert any(s.startswith(f"resuming from {folder / 'checkpoints' / 'step-00000001'}") for s in said), said
    assert (folder / "done").is_file()
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and records[0] == first  # the first call's record kept
    record = json.loads((tmp_path / "results" / "pretrain" / f"{folder.name}.json").read_text())
    assert record["wall_s"] == pytest.approx(sum(r["s_per_step"] for r in records))  # both calls' steps
