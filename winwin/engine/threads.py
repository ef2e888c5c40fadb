"""CPU threads per process: the winwin processes running on one machine share its cores.

Each training process registers itself in a per-user folder (``$WINWIN_REGISTRY_DIR``, else
``$XDG_RUNTIME_DIR/winwin``, else ``<tmp>/winwin-<uid>``): one file named by its pid that holds its thread count,
removed when it stops (atexit, or :func:`unregister` / :func:`thread_registry`); files of processes that died
without removing theirs are ignored and removed. With ``train.threads=0`` (auto) a process takes
``cores // processes`` threads, where ``processes`` counts the live registered ones, itself, and at least
``torchrun``'s ``LOCAL_WORLD_SIZE`` (its other ranks may not have registered yet). Without this, every process
takes one thread per core, and N runs side by side on the same cores slow each other down far more than N times.

A thread count asked for (``train.threads > 0``, else ``OMP_NUM_THREADS``; note that ``torchrun`` sets
``OMP_NUM_THREADS=1`` when it starts more than one process and the variable is unset) is used as given, and
registered like any other. When the registered processes' threads plus this one's exceed the cores, local rank 0
prints one warning line to stderr (once per process).

The registry is a hint, never a reason to fail: an unusable folder (not writable, not ours) leaves it out, and it
is off where ``os.kill(pid, 0)`` cannot test for a live process (Windows, where it would end the process)."""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

_SUPPORTED = os.name == "posix"
_registered: set[Path] = set()  # the files this process wrote (removed at exit)
_atexit_installed = False
_warned = False


def choose_threads(cores: int, others: int, local_world: int, requested: int) -> int:
    """Threads for a new process: ``requested`` when > 0, else its share of ``cores`` among ``others`` running
    processes plus itself, counting at least ``local_world`` processes (``torchrun``'s ranks on this machine)."""
    if requested > 0:
        return requested
    return max(1, cores // max(others + 1, local_world, 1))


def oversubscription(cores: int, others: list[int], local_world: int, threads: int) -> str | None:
    """The warning line when ``others`` (the thread counts of the other registered processes) plus this process
    (``threads``; its ``torchrun`` siblings not registered yet assumed to take as many) exceed ``cores``, else None."""
    missing = max(0, local_world - 1 - len(others))
    processes = len(others) + 1 + missing
    total = sum(others) + threads * (1 + missing)
    if total <= cores:
        return None
    fair = max(1, cores // processes)
    if total > fair * processes:
        advice = f"set train.threads={fair} (or OMP_NUM_THREADS={fair}) to avoid slowing them all down"
    else:  # one thread each already: more processes than cores
        advice = "more processes than cores: run fewer at once to avoid slowing them all down"
    return f"winwin: {processes} training processes on this machine use {total} threads on {cores} cores; {advice}"


def available_cores() -> int:
    """The CPUs this process may use: its affinity mask (else the machine's count), capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_cpu_limit() -> int | None:
    """CPUs a container's quota allows (``docker --cpus``), rounded up; None when there is no quota."""
    v1 = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    for files in (("/sys/fs/cgroup/cpu.max",), v1):
        try:
            words = " ".join(Path(f).read_text() for f in files).split()
            quota, period = words[0], words[1]
            if quota in ("max", "-1"):
                return None
            return max(1, math.ceil(int(quota) / int(period)))
        except (OSError, IndexError, ValueError, ZeroDivisionError):
            continue
    return None


def local_world_size(env: Mapping[str, str] = os.environ) -> int:
    """``torchrun``'s number of processes on this machine (1 outside ``torchrun``)."""
    return _positive(env.get("LOCAL_WORLD_SIZE")) or 1


def requested_threads(threads: int, env: Mapping[str, str] = os.environ) -> int:
    """The thread count asked for: ``threads`` when > 0, else ``OMP_NUM_THREADS`` when set, else 0 (auto)."""
    return threads if threads > 0 else _positive(env.get("OMP_NUM_THREADS")) or 0


def _positive(value: str | None) -> int | None:
    try:
        n = int(value) if value is not None else 0
    except ValueError:
        return None
    return n if n > 0 else None


def registry_dir() -> Path:
    """The per-user folder of the registry (``WINWIN_REGISTRY_DIR`` when set: tests keep theirs apart)."""
    if os.environ.get("WINWIN_REGISTRY_DIR"):
        return Path(os.environ["WINWIN_REGISTRY_DIR"])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "winwin"
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"winwin-{uid}"


def _usable(folder: Path | None) -> Path | None:
    """``folder`` (default :func:`registry_dir`), created private; None when it cannot be used safely."""
    if not _SUPPORTED:
        return None
    folder = Path(folder) if folder is not None else registry_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return None  # a symlink, or another user's folder: not ours to write into
    return folder


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (Linux: clock ticks since boot), to tell a reused pid from the registered process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2 :].split()[19]  # field 22; the name in parentheses may hold spaces
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    except OSError:
        return False
    return start is None or _start_time(pid) in (None, start)


def live_processes(folder: Path | None = None, exclude: int | None = None) -> dict[int, int]:
    """pid -> threads of the registered processes still running, other than ``exclude``; the files of processes
    that are gone are removed."""
    folder = _usable(folder)
    if folder is None:
        return {}
    live = {}
    try:
        paths = list(folder.iterdir())
    except OSError:
        return {}
    for path in paths:
        if not path.name.isdigit() or int(path.name) == exclude:
            continue
        pid = int(path.name)
        try:
            words = path.read_text().split()
        except OSError:
            continue  # removed meanwhile
        threads = _positive(words[0]) if words else None
        start = words[1] if len(words) > 1 and words[1] != "-" else None
        if _alive(pid, start):
            live[pid] = threads or 1
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return live


def register(threads: int, folder: Path | None = None) -> Path | None:
    """Record that this process trains with ``threads`` threads (again: updates the count); removed at exit.
    Returns the file, or None where the registry cannot be used."""
    global _atexit_installed
    folder = _usable(folder)
    if folder is None:
        return None
    pid = os.getpid()
    path, tmp = folder / str(pid), folder / f".{pid}.tmp"
    try:
        tmp.write_text(f"{threads} {_start_time(pid) or '-'}\n")
        os.replace(tmp, path)  # readers see the old content or the new, never half of it
    except OSError:
        return None
    _registered.add(path)
    if not _atexit_installed:
        atexit.register(_unregister_all)
        _atexit_installed = True
    return path


def unregister(folder: Path | None = None) -> None:
    """Remove this process's entry from the registry (``folder``, default :func:`registry_dir`)."""
    path = Path(folder if folder is not None else registry_dir()) / str(os.getpid())
    _registered.discard(path)
    with contextlib.suppress(OSError):
        path.unlink()


def _unregister_all() -> None:
    for path in list(_registered):
        if path.name == str(os.getpid()):  # a forked child inherits the set, not the registration
            _registered.discard(path)
            with contextlib.suppress(OSError):
                path.unlink()


def claim_threads(
    threads: int = 0, folder: Path | None = None, env: Mapping[str, str] = os.environ, out: TextIO | None = None
) -> int:
    """The threads this process should use (see the module's description), registered under ``folder``;
    warns on ``out`` (default stderr) when the machine's cores are oversubscribed. Sets nothing in torch."""
    global _warned
    requested = requested_threads(threads, env)
    cores, local_world = available_cores(), local_world_size(env)
    # register first (with the most we would take), then count: two processes starting together see each other
    register(choose_threads(cores, 0, local_world, requested), folder)
    others = live_processes(folder, exclude=os.getpid())
    chosen = choose_threads(cores, len(others), local_world, requested)
    register(chosen, folder)
    message = oversubscription(cores, list(others.values()), local_world, chosen)
    if message and not _warned and env.get("LOCAL_RANK", "0") == "0":
        print(message, file=out if out is not None else sys.stderr, flush=True)
        _warned = True
    return chosen


@contextlib.contextmanager
def thread_registry(threads: int = 0, folder: Path | None = None) -> Iterator[int]:
    """Claim threads (:func:`claim_threads`) for the block, yielding the count; unregistered when it ends."""
    try:
        yield claim_threads(threads, folder)
    finally:
        unregister(folder)


def loader_workers(requested: int, device_type: str, env: Mapping[str, str] = os.environ) -> int:
    """DataLoader workers: ``requested`` when >= 0; auto (-1): none when training on the CPU (its cores do
    the training), on a GPU up to 4 per process, from this process's share of the cores less one."""
    if requested >= 0:
        return requested
    if device_type != "cuda":
        return 0
    share = available_cores() // max(1, local_world_size(env))
    return max(1, min(4, share - 1))
