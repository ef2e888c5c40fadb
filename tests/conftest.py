"""Shared test settings: one intra-op thread (the tests use tiny tensors) and a fixed global seed per test."""

from __future__ import annotations

import pytest
import torch

from depth_fixtures import kitti, nyu, png_folder  # noqa: F401  (fixtures of the depth reader tests)


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def _own_thread_registry(tmp_path_factory):
    """Training in a test (train.threads=0, auto) takes one thread, and winwin runs elsewhere on this machine
    are neither counted nor warned about on the stderr the tests read."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("WINWIN_REGISTRY_DIR", str(tmp_path_factory.mktemp("winwin_registry")))
        yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz", type=int, default=0, metavar="N", help="malformed inputs per file reader (test_fuzz_readers)"
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001 (pytest hook)
    import sys

    fuzz = sys.modules.get("test_fuzz_readers")
    if fuzz is None or not fuzz.OUTCOMES or not config.getoption("--fuzz"):
        return
    terminalreporter.section("malformed inputs per reader")
    for name, outcomes in sorted(fuzz.OUTCOMES.items()):
        terminalreporter.write_line(f"{name:16s} {sum(outcomes.values()):7d} inputs: {dict(outcomes)}")
