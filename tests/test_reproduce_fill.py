"""``winwin reproduce --hours H --fill``: when no run left fits, one trains until the budget ends and stops
with a checkpoint, and the estimates of a started run count only the steps it has left."""

import signal
from dataclasses import replace

import pytest

import winwin.reproduce.main as main
from winwin.cli import main as cli_main
from winwin.engine.stop import TIME_LIMIT
from winwin.errors import Interrupted
from winwin.reproduce.runner import QUICK, cached_result, run_dir, steps_done
from winwin.reproduce.schedule import expected_seconds, to_fill
from winwin.reproduce.tables import TABLE1
from winwin.reproduce.tables_flow import TABLE3


def _started(out, table, row, seed, step: int) -> None:
    """A run stopped at ``step``: its checkpoint folder (all that ``steps_done`` reads)."""
    (run_dir(out, row, seed, QUICK, table) / "checkpoints" / f"step-{step:08d}").mkdir(parents=True)


def test_a_started_run_is_expected_to_take_only_the_steps_after_its_checkpoint(tmp_path):
    row = TABLE1.rows[0]
    step_s = {row.name: 10.0}
    fresh = expected_seconds(TABLE1, row, 0, QUICK, tmp_path, "cpu", step_s, 1.5)
    assert fresh == QUICK.steps * 10.0 * 1.5
    _started(tmp_path, TABLE1, row, 0, 1)
    assert steps_done(run_dir(tmp_path, row, 0, QUICK, TABLE1)) == 1
    assert expected_seconds(TABLE1, row, 0, QUICK, tmp_path, "cpu", step_s, 1.5) == (QUICK.steps - 1) * 10.0 * 1.5


def test_the_run_to_fill_is_a_started_one_first_and_never_one_waiting_for_its_pretraining(tmp_path):
    flow = (TABLE3, TABLE3.rows[0], 0)  # its pretraining has not run here: no time limit stops it, so never a filler
    first, second = ((TABLE1, r, 0) for r in TABLE1.rows[:2])
    assert to_fill([flow, first, second], QUICK, tmp_path, "cpu") == first  # the first in the given order
    _started(tmp_path, *second, step=1)
    assert to_fill([flow, first, second], QUICK, tmp_path, "cpu") == second  # it ends sooner
    assert to_fill([flow], QUICK, tmp_path, "cpu") is None


@pytest.fixture
def nothing_fits(monkeypatch):
    """Every run too long for the budget, no machine timing; returns the calls of a fake ``run_row``."""
    monkeypatch.setattr(main, "step_times", lambda *a, **k: {})
    monkeypatch.setattr(main, "machine_of", lambda *a: {"cpu": "test"})
    monkeypatch.setattr(main, "too_long", lambda *a: "about 99 min expected, 60 min left")
    calls: list[tuple[str, float]] = []
    return calls


def test_fill_trains_the_first_waiting_run_until_the_budget_ends(tmp_path, monkeypatch, nothing_fits):
    def stopped_by_its_limit(table, row, seed, budget, out, device, say, time_limit_s=0.0):
        nothing_fits.append((row.name, time_limit_s))
        raise Interrupted(TIME_LIMIT, 7, f"train.time_limit_s={time_limit_s} at step 7")

    monkeypatch.setattr(main, "run_row", stopped_by_its_limit)
    said: list[str] = []
    main.reproduce([TABLE1], [0], QUICK, tmp_path, say=said.append, hours=1.0, fill=True)
    assert len(nothing_fits) == 1  # one run fills the budget; the others wait
    name, limit = nothing_fits[0]
    assert name == TABLE1.rows[0].name and 3600 - main.FILL_RESERVE_S - 5 < limit <= 3600 - main.FILL_RESERVE_S
    assert f"reproduce: {name}, seed 0 stopped at step 7 with a checkpoint: the next call resumes it" in said
    assert f"({len(TABLE1.rows)} runs left for a later call: --hours)" in said[-1]

    nothing_fits.clear()
    main.reproduce([TABLE1], [0], QUICK, tmp_path, say=said.append, hours=1.0)  # without --fill: nothing trains
    assert nothing_fits == []


def test_a_filling_run_that_ends_in_time_is_a_result_and_other_signals_still_stop_everything(
    tmp_path, monkeypatch, nothing_fits
):
    def finished(table, row, seed, budget, out, device, say, time_limit_s=0.0):
        nothing_fits.append((row.name, time_limit_s))
        return {"row": row.name, "seed": seed, "steps": 2, "variants": {"full": {"miou": 0.5}}, "curve": []}

    monkeypatch.setattr(main, "run_row", finished)
    said: list[str] = []
    only_full = replace(TABLE1, rows=tuple(replace(r, variants=("full",)) for r in TABLE1.rows), claims=())
    main.reproduce([only_full], [0], QUICK, tmp_path, say=said.append, hours=1.0, fill=True)
    assert f"| {TABLE1.rows[0].name} | full | 50.0" in (tmp_path / "REPRODUCTION.md").read_text()
    # each filling run that ends in time frees its slot for the next waiting one, with the time left then
    assert sorted(name for name, _ in nothing_fits) == sorted(r.name for r in TABLE1.rows)
    limits = [limit for _, limit in nothing_fits]
    assert limits == sorted(limits, reverse=True) and limits[0] <= 3600 - main.FILL_RESERVE_S
    assert "left for a later call" not in said[-1]
    nothing_fits.clear()  # a run that comes back without all its row's variants is not filled again and again
    main.reproduce([TABLE1], [0], QUICK, tmp_path / "variants", say=said.append, hours=1.0, fill=True)
    assert sorted(name for name, _ in nothing_fits) == sorted(r.name for r in TABLE1.rows)

    def preempted(*args, **kwargs):
        raise Interrupted(int(signal.SIGTERM), 3, "SIGTERM at step 3")

    monkeypatch.setattr(main, "run_row", preempted)
    with pytest.raises(Interrupted, match="SIGTERM"):
        main.reproduce([TABLE1], [1], QUICK, tmp_path, say=said.append, hours=1.0, fill=True)


def test_side_by_side_every_free_slot_fills_and_no_two_fill_one_run(tmp_path, nothing_fits):
    # two rows, and a third table whose row trains the first one's run under another name
    rows = tuple(replace(r, variants=("full",)) for r in TABLE1.rows[:2])
    tables = [replace(TABLE1, rows=rows, claims=()), replace(TABLE1, key="again", rows=rows[:1], claims=())]
    said: list[str] = []
    main.reproduce(tables, [0], QUICK, tmp_path, say=said.append, hours=1.0, fill=True, jobs=2)
    filled = [line for line in said if line.endswith("then stopped")]
    assert len(filled) == 2, said  # both slots filled at once; the shared run trained once
    assert all(cached_result(t, r, 0, QUICK, tmp_path) is not None for t in tables for r in t.rows)
    assert "left for a later call" not in said[-1]


def test_fill_without_a_time_budget_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(SystemExit, match="--fill trains a run until the time budget ends: give it one with --hours"):
        cli_main(["reproduce", "--fill", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--hours must be a positive number of hours, got -2"):
        cli_main(["reproduce", "--hours", "-2", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="--fill trains a run until the time budget ends"):
        main.reproduce([TABLE1], [0], QUICK, tmp_path, fill=True)
    assert not list(tmp_path.iterdir())
