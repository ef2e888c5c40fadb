"""``winwin reproduce --jobs N``: runs side by side in spawned processes give the results one process gives,
and two rows that share a training run never train it at the same time."""

import json
import sys
from dataclasses import replace

import pytest

from winwin.reproduce import parallel
from winwin.reproduce.main import reproduce
from winwin.reproduce.parallel import threads_per_job
from winwin.reproduce.runner import QUICK, result_path, results_dir, run_dir
from winwin.reproduce.schedule import recorded_pace
from winwin.reproduce.tables import TABLE1

# two rows of Table 1, and a table whose only row trains what the first one does under another name
FIRST, SECOND = TABLE1.rows[0], TABLE1.rows[1]
PLAIN = (FIRST, SECOND)
TABLES = [
    replace(TABLE1, rows=tuple(replace(r, variants=("full",)) for r in PLAIN), claims=()),
    replace(TABLE1, key="again", rows=(replace(FIRST, name="same run", variants=("full",)),), claims=()),
]


def _results(out):
    rows = [(t, r) for t in TABLES for r in t.rows]
    return {r.name: json.loads(result_path(results_dir(out, r, 0, QUICK, t), r).read_text()) for t, r in rows}


def test_side_by_side_runs_give_the_in_order_results_and_share_no_run(tmp_path, monkeypatch):
    assert run_dir(tmp_path, TABLES[0].rows[0], 0, QUICK, TABLES[0]) == run_dir(
        tmp_path, TABLES[1].rows[0], 0, QUICK, TABLES[1]
    )
    said: list[str] = []
    reproduce(TABLES, [0], QUICK, tmp_path / "jobs", say=said.append, jobs=2)
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads_per_job(2)))  # what each of the two runs had
    in_order: list[str] = []
    reproduce(TABLES, [0], QUICK, tmp_path / "one", say=in_order.append)
    # the training's own lines go to the caller's ``say`` too (a worker marks them by its run)
    assert sum(line.startswith("full-resolution validation") for line in in_order) == 2
    side, alone = _results(tmp_path / "jobs"), _results(tmp_path / "one")
    assert set(side) == {FIRST.name, SECOND.name, "same run"}
    for name, result in side.items():
        assert result["variants"]["full"] == alone[name]["variants"]["full"], name
        assert result["machine"]["threads"] == threads_per_job(2)
    # the shared run trained once: the second of its rows took the first one's result (session_s 0)
    assert sorted(side[n]["session_s"] == 0.0 for n in (FIRST.name, "same run")) == [False, True]
    assert (tmp_path / "jobs" / "REPRODUCTION.md").is_file()


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="--jobs must be a positive number"):
        reproduce(TABLES, [0], QUICK, tmp_path, jobs=0)
    assert not (tmp_path / "REPRODUCTION.md").exists()


def test_the_pace_of_runs_side_by_side_is_kept_apart_by_their_threads():
    def run(session_s, threads):
        machine = {"cpu": "A", "threads": threads}
        return {"row": "w", "steps": 100, "session_s": session_s, "train_wall_s": 100.0, "machine": machine}

    kept = [run(1000.0, 2), run(1400.0, 1), run(1500.0, 1)]  # 2x alone; 2.8x and 3x side by side
    assert recorded_pace(kept, {"w": 5.0}, "A", threads=2) == (2.0, 1)
    assert recorded_pace(kept, {"w": 5.0}, "A", threads=1) == (2.9, 2)
    assert recorded_pace(kept, {"w": 5.0}, "A") == (2.8, 3)
    assert recorded_pace(kept, {"w": 5.0}, "A", threads=4) is None


class Recorder:
    """A stdout that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_workers_line_reaches_the_shared_log_in_one_write(monkeypatch):
    """Two workers print into one log: a line written as text and newline apart could be split by the other's."""
    recorder = Recorder()

    def fake_run_row(table, row, seed, budget, out, device, say, time_limit_s):
        say("resuming from here")
        return {"done": True}

    monkeypatch.setattr(parallel, "run_row", fake_run_row)
    monkeypatch.setattr(sys, "stdout", recorder)
    assert parallel._train(TABLE1, FIRST, 3, QUICK, None, "cpu", 0.0) == {"done": True}
    assert [w for w in recorder.writes if w] == [f"[{FIRST.name}, seed 3] resuming from here\n"]


def test_the_main_processs_lines_reach_the_shared_log_in_one_write_each(monkeypatch, tmp_path):
    """Under ``--jobs`` the main process prints into the log its workers share: its lines too go in one write."""
    recorder = Recorder()
    monkeypatch.setattr(sys, "stdout", recorder)
    reproduce(TABLES, [0], QUICK, tmp_path, report_only=True)
    lines = [w for w in recorder.writes if w]
    assert lines, "the call printed nothing"
    assert all(w.endswith("\n") and w.count("\n") == 1 for w in lines), lines
    assert any(w.startswith("reproduce: report -> ") for w in lines), lines
