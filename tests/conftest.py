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


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
