"""Our MATLAB v5 reader against files scipy writes (plain and compressed), and damaged files."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from winwin.data.mat5 import read_mat5_numeric
from winwin.errors import BadFileError


@pytest.mark.parametrize("compressed", [False, True])
def test_reads_what_scipy_writes(tmp_path, compressed):
    variables = {
        "trainNdxs": np.array([[1.0], [5.0], [3.0]]),  # a double column, MATLAB's n x 1
        "small": np.arange(6, dtype=np.uint8).reshape(2, 3),  # column-major on disk
        "int": np.array([[-7, 70000]], dtype=np.int32),
        "text": "not numbers",  # a char array: skipped
    }
    path = tmp_path / "a.mat"
    scipy.io.savemat(path, variables, do_compression=compressed)
    found = read_mat5_numeric(path)
    assert sorted(found) == ["int", "small", "trainNdxs"]
    for key in found:
        np.testing.assert_array_equal(found[key], variables[key])
        assert found[key].shape == variables[key].shape


def test_damaged_files_name_themselves(tmp_path):
    path = tmp_path / "a.mat"
    scipy.io.savemat(path, {"x": np.arange(100.0)[:, None]})
    data = path.read_bytes()
    cases = {
        data[:60]: "not a MATLAB v5",
        data[:200]: "truncated|only",
        data[:128] + b"\x0e\x00\x00\x00\xff\xff\xff\x7f" + data[136:]: "declares",
        data[:128] + b"\x0f\x00\x00\x00\x08\x00\x00\x00" + b"junkjunk": "does not inflate",
    }
    for i, (raw, message) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.mat"
        bad.write_bytes(raw)
        with pytest.raises(BadFileError, match=message) as info:
            read_mat5_numeric(bad)
        assert str(info.value).startswith(str(bad))
