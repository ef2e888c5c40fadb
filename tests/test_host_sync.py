"""A training step that does not log makes no host synchronisation of winwin's own: no ``.item()``,
``float()``/``bool()`` of a tensor, ``.tolist()``, ``.numpy()``, ``nonzero`` or boolean-mask indexing in
winwin's code (each would wait for the GPU). Counted on the CPU, attributed to the caller: torch's own
bookkeeping (AdamW's step counters on CPU) does not count."""

import traceback
from pathlib import Path

import pytest
import torch
from engine_parts import make_loop
from torch.utils._python_dispatch import TorchDispatchMode

import winwin
from helpers import TINY, TINY_DEPTH, TINY_FLOW
from winwin.engine.run_log import RunLog

PACKAGE = str(Path(winwin.__file__).parent)
SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "is_nonzero", "unique_consecutive", "_unique2"}


# frames of the dispatch machinery between a caller and the mode
MACHINERY = ("/torch/_compile.py", "/torch/_dynamo/", "/torch/utils/_python_dispatch.py")


def _winwin_caller() -> str | None:
    """The code that asked for the read: the innermost frame outside this file and the dispatch machinery.
    Its ``file:line`` when it is winwin's; None when it is torch's own code (or anyone else's)."""
    for frame in reversed(traceback.extract_stack()):
        if frame.filename == __file__ or any(m in frame.filename for m in MACHINERY):
            continue
        return f"{frame.filename}:{frame.lineno}" if frame.filename.startswith(PACKAGE) else None
    return None


class HostSyncs(TorchDispatchMode):
    """Records winwin's calls that read a tensor back to the host."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in SYNC_OPS and (where := _winwin_caller()):
            self.found.append(f"{func.overloadpacket.__name__} at {where}")
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        self._patched = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy")}
        for name, method in self._patched.items():
            setattr(torch.Tensor, name, self._watch(name, method))
        return super().__enter__()

    def __exit__(self, *exc):
        for name, method in self._patched.items():
            setattr(torch.Tensor, name, method)
        return super().__exit__(*exc)

    def _watch(self, name, method):
        def watched(tensor, *args, **kwargs):
            if where := _winwin_caller():
                self.found.append(f"{name} at {where}")
            return method(tensor, *args, **kwargs)

        return watched


@pytest.mark.parametrize("overrides", [TINY, TINY_DEPTH, TINY_FLOW], ids=["segmentation", "depth", "flow"])
def test_a_step_that_does_not_log_reads_nothing_back(overrides, tmp_path):
    loop, batches = make_loop(overrides, tmp_path)
    loop.step(0, next(batches))  # the first step creates AdamW's state (torch's code, not counted either way)
    item = next(batches)
    with HostSyncs() as syncs:
        loop.step(1, item)
    assert syncs.found == []
    # the counter sees what it should: the log read is a host synchronisation of winwin's
    with HostSyncs() as syncs, RunLog(tmp_path, enabled=False) as log:
        loop.record(2, 1e-3, 4, 1.0, log)
    assert syncs.found and all("loop.py" in s for s in syncs.found)
