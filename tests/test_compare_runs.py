"""The seed-comparison table: mean, sample standard deviation and every run's value per metric."""

import json

import pytest

from winwin.tools.compare_runs import read_group, table


def test_table_has_mean_spread_and_values(tmp_path):
    for name, value in (("a0", 0.2), ("a1", 0.4), ("b0", 0.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.json").write_text(json.dumps({"abs_rel": value, "d1": 1 - value}))
    groups = [read_group(f"A={tmp_path / 'a0'},{tmp_path / 'a1'}"), read_group(f"B={tmp_path / 'b0'}")]
    text = table(groups, ["abs_rel", "d1"])
    assert "| A | 2 | 0.3000 +- 0.1414 (0.2000, 0.4000) | 0.7000 +- 0.1414 (0.8000, 0.6000) |" in text
    assert "| B | 1 | 0.5000 +- nan (0.5000) |" in text
    with pytest.raises(SystemExit, match="has no 'miou'"):
        table(groups, ["miou"])
    with pytest.raises(SystemExit, match="does not exist"):
        read_group(f"C={tmp_path / 'nowhere'}")
