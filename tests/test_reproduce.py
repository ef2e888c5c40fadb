"""``winwin reproduce --quick``: every row of Tables 1 and 2 trains (a tiny model, 2 steps), is evaluated
in its test variants and reported; a second call finds everything cached and trains nothing."""

from pathlib import Path

from winwin.reproduce.main import reproduce
from winwin.reproduce.runner import QUICK, result_path, run_dir
from winwin.reproduce.tables import TABLE1, TABLE2, TILING, TUNED


def test_quick_reproduction_runs_every_row_and_caches_them(tmp_path):
    said: list[str] = []
    report = reproduce([TABLE1, TABLE2], [0], QUICK, tmp_path, say=said.append)
    text = Path(report).read_text()
    for table in (TABLE1, TABLE2):
        for row in table.rows:
            assert row.name in text
            assert result_path(run_dir(tmp_path, row, 0, QUICK), row).is_file(), row.name
    assert "not run yet" not in text and "## Table 2" in text and (tmp_path / "images" / "table1_curves.png").is_file()
    crop = next(r for r in TABLE2.rows if TILING in r.variants)
    one_window = next(r for r in TABLE1.rows if r.name.startswith("1 win."))
    assert run_dir(tmp_path, crop, 0, QUICK) == run_dir(tmp_path, one_window, 0, QUICK)  # one run, two rows
    assert TUNED in one_window.variants
    trained = [s for s in said if s.startswith("reproduce: ") and "->" in s and "report" not in s]
    assert len(trained) == len({r.name for t in (TABLE1, TABLE2) for r in t.rows})

    said.clear()
    reproduce([TABLE1, TABLE2], [0], QUICK, tmp_path, say=said.append)
    assert [s for s in said if "seed" in s] == []  # everything cached
