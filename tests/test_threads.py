"""CPU threads per process: the share of the cores, the registry of running processes, the warning."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import torch

from winwin.engine import threads
from winwin.engine.runtime import setup_runtime
from winwin.engine.threads import choose_threads, claim_threads, live_processes, oversubscription, thread_registry

posix_only = pytest.mark.skipif(os.name != "posix", reason="the registry needs os.kill(pid, 0)")


@pytest.mark.parametrize(
    "cores, others, local_world, requested, expected",
    [
        (16, 0, 1, 0, 16),  # alone: every core
        (16, 5, 1, 0, 2),  # the sixth run beside five others
        (16, 0, 8, 0, 2),  # rank 0 of torchrun --nproc_per_node=8, no rank registered yet
        (16, 3, 8, 0, 2),  # ... some registered: still 8 processes
        (16, 9, 8, 0, 1),  # ... and another run beside them: 10 processes, 1 each
        (16, 2, 2, 0, 5),  # more registered than torchrun's ranks: 3 processes
        (2, 5, 1, 0, 1),  # more processes than cores: at least one thread
        (1, 0, 1, 0, 1),
        (2, 5, 1, 3, 3),  # asked for: as given
        (16, 0, 8, 4, 4),
    ],
)
def test_choose_threads(cores, others, local_world, requested, expected):
    assert choose_threads(cores, others, local_world, requested) == expected


def test_oversubscription_message():
    assert oversubscription(16, [2, 2], 1, 2) is None  # 6 threads on 16 cores
    assert oversubscription(2, [1], 1, 1) is None  # exactly the cores
    assert oversubscription(2, [2, 2], 1, 2) == (
        "winwin: 3 training processes on this machine use 6 threads on 2 cores; "
        "set train.threads=1 (or OMP_NUM_THREADS=1) to avoid slowing them all down"
    )
    # torchrun's 8 ranks asking for 4 threads each on 16 cores, none registered yet: counted all the same
    assert oversubscription(16, [], 8, 4).startswith("winwin: 8 training processes on this machine use 32 threads")
    assert "train.threads=2 " in oversubscription(16, [], 8, 4)
    # one thread each already: nothing to set, too many processes
    assert "more processes than cores" in oversubscription(2, [1, 1], 1, 1)


@pytest.fixture
def sleeper():
    """A live pid that is not this process."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def fresh(monkeypatch):
    """No warning given yet in this process; 2 cores whatever the machine."""
    monkeypatch.setattr(threads, "_warned", False)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)


@posix_only
def test_the_registry_counts_live_processes_and_removes_stale_files(tmp_path, sleeper, dead_pid):
    (tmp_path / str(sleeper)).write_text("3 -\n")
    (tmp_path / str(dead_pid)).write_text("4 -\n")
    (tmp_path / f".{sleeper}.tmp").write_text("half")  # not an entry
    assert live_processes(tmp_path) == {sleeper: 3}
    assert not (tmp_path / str(dead_pid)).exists()
    assert (tmp_path / str(sleeper)).exists() and (tmp_path / f".{sleeper}.tmp").exists()
    assert live_processes(tmp_path, exclude=sleeper) == {}


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process start times come from /proc")
def test_a_reused_pid_is_not_the_registered_process(tmp_path, sleeper):
    start = threads._start_time(sleeper)
    assert start is not None
    (tmp_path / str(sleeper)).write_text(f"2 {start}\n")
    assert live_processes(tmp_path) == {sleeper: 2}
    (tmp_path / str(sleeper)).write_text(f"2 {int(start) - 1}\n")  # the pid of a process that started earlier
    assert live_processes(tmp_path) == {}
    assert not (tmp_path / str(sleeper)).exists()


@posix_only
def test_claim_takes_its_share_registers_and_warns_once(tmp_path, sleeper, dead_pid, fresh, capsys):
    (tmp_path / str(sleeper)).write_text("2 -\n")
    (tmp_path / str(os.getppid())).write_text("2 -\n")
    (tmp_path / str(dead_pid)).write_text("2 -\n")
    assert claim_threads(0, tmp_path, env={}) == 1  # 2 cores among 3 processes
    assert (tmp_path / str(os.getpid())).read_text().split()[0] == "1"
    assert not (tmp_path / str(dead_pid)).exists()
    err = capsys.readouterr().err
    assert err == (
        "winwin: 3 training processes on this machine use 5 threads on 2 cores; "
        "set train.threads=1 (or OMP_NUM_THREADS=1) to avoid slowing them all down\n"
    )
    assert claim_threads(0, tmp_path, env={}) == 1
    assert capsys.readouterr().err == ""  # one line per process
    threads.unregister(tmp_path)
    assert not (tmp_path / str(os.getpid())).exists()


@posix_only
def test_asked_for_threads_are_used_registered_and_warned_about(tmp_path, sleeper, fresh, monkeypatch, capsys):
    (tmp_path / str(sleeper)).write_text("1 -\n")
    with thread_registry(3, tmp_path) as n:
        assert n == 3
        assert (tmp_path / str(os.getpid())).read_text().split()[0] == "3"
        assert live_processes(tmp_path, exclude=sleeper) == {os.getpid(): 3}
    assert not (tmp_path / str(os.getpid())).exists()
    assert "2 training processes on this machine use 4 threads on 2 cores" in capsys.readouterr().err
    monkeypatch.setattr(threads, "_warned", False)
    out = io.StringIO()
    assert claim_threads(0, tmp_path, env={"OMP_NUM_THREADS": "2"}, out=out) == 2  # the variable asks too
    assert "2 training processes on this machine use 3 threads on 2 cores" in out.getvalue()
    threads.unregister(tmp_path)


@posix_only
def test_torchrun_ranks_share_the_cores_and_only_local_rank_0_warns(tmp_path, fresh):
    out = io.StringIO()
    assert claim_threads(0, tmp_path, env={"LOCAL_WORLD_SIZE": "4", "LOCAL_RANK": "1"}, out=out) == 1
    assert claim_threads(2, tmp_path, env={"LOCAL_WORLD_SIZE": "4", "LOCAL_RANK": "1"}, out=out) == 2
    assert out.getvalue() == ""  # 4 ranks x 2 threads on 2 cores, but rank 1 leaves the warning to rank 0
    assert claim_threads(2, tmp_path, env={"LOCAL_WORLD_SIZE": "4", "LOCAL_RANK": "0"}, out=out) == 2
    assert out.getvalue().startswith("winwin: 4 training processes on this machine use 8 threads on 2 cores")
    threads.unregister(tmp_path)


def test_an_unusable_registry_is_left_out(tmp_path, fresh):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert claim_threads(0, not_a_folder, env={}) == 2
    assert live_processes(not_a_folder) == {}


@posix_only
def test_setup_runtime_sets_and_returns_the_threads(tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("WINWIN_REGISTRY_DIR", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    previous = torch.get_num_threads()
    try:
        assert setup_runtime(0, threads=0) == 2 == torch.get_num_threads()
        assert (tmp_path / str(os.getpid())).read_text().split()[0] == "2"
        assert setup_runtime(0, threads=1) == 1 == torch.get_num_threads()
        assert (tmp_path / str(os.getpid())).read_text().split()[0] == "1"
    finally:
        torch.set_num_threads(previous)
        threads.unregister()
    assert not (tmp_path / str(os.getpid())).exists()


@posix_only
def test_a_process_that_exits_removes_its_entry(tmp_path):
    code = (
        "import os, sys; from winwin.engine.threads import claim_threads; claim_threads(); "
        "print(os.listdir(sys.argv[1]) == [str(os.getpid())])"
    )
    env = {**os.environ, "WINWIN_REGISTRY_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code, tmp_path], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "True"  # registered while it ran
    assert list(tmp_path.iterdir()) == []  # and gone when it stopped


def test_loader_workers_auto_is_none_on_the_cpu_and_a_few_on_a_gpu(monkeypatch):
    from winwin.engine import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 16)
    assert threads.loader_workers(3, "cpu") == 3  # as asked
    assert threads.loader_workers(-1, "cpu") == 0  # the cores train
    assert threads.loader_workers(-1, "cuda", env={}) == 4
    assert threads.loader_workers(-1, "cuda", env={"LOCAL_WORLD_SIZE": "8"}) == 1  # 2 cores each, one for data
