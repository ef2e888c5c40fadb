"""A training run's resumable checkpoints: one folder per saved step, complete or absent.

A save writes the model, optimizer and engine state into a temporary folder, records each file's size and
sha256 in ``manifest.json`` (written last), fsyncs and renames the folder onto ``step-00000120``. A process
killed at any instant (or a full disk) therefore leaves the previous complete step in place, and the
manifest tells a damaged folder from a good one when the run resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .checkpoint import save_checkpoint

FORMAT = "winwin-train-checkpoint-1"
MANIFEST = "manifest.json"
STATE = "state.json"
REQUIRED = ("model.safetensors", "model.json", STATE)  # model.optim.pt only when there is an optimizer
_STEP_DIR = re.compile(r"step-(\d{8,})")
_TMP_PREFIX = ".tmp-step-"


def model_path(step_folder: str | Path) -> Path:
    """The checkpoint stem inside a step folder, for ``load_checkpoint`` and ``load_optimizer_state``."""
    return Path(step_folder) / "model"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` the content of ``src`` atomically: a hard link under a temporary name (a copy where the
    file system has no hard links), renamed onto ``dst``."""
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
            _fsync(tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class CheckpointStore:
    """A training run's resumable checkpoints in ``folder`` (``<run>/checkpoints``): one sub-folder per
    saved step, ``step-00000120/``, complete or absent (``model.safetensors``, ``model.json``,
    ``model.optim.pt``, ``state.json`` and ``manifest.json``). ``last.safetensors`` / ``last.json`` follow the
    newest step for the tools (eval, predict, calibrate). The newest ``keep`` steps are kept."""

    def __init__(self, folder: str | Path, keep: int = 2) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1 (checkpoints to keep), got {keep!r}")
        self.folder = Path(folder)
        self.keep = keep

    def step_folder(self, step: int) -> Path:
        return self.folder / f"step-{step:08d}"

    def steps(self) -> list[int]:
        """Steps that have a (renamed, so complete-looking) step folder, newest first; ``latest`` verifies."""
        if not self.folder.is_dir():
            return []
        found = [int(m.group(1)) for p in self.folder.iterdir() if (m := _STEP_DIR.fullmatch(p.name)) and p.is_dir()]
        return sorted(found, reverse=True)

    def save(self, step: int, model, optimizer, task, extra: dict, state: dict) -> Path:
        """Write step ``step`` (model, optimizer, task settings, ``extra`` in the model JSON, the engine's
        JSON-able ``state``) as a complete folder, point ``last.*`` at it, prune old steps. Returns the folder."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an integer >= 0, got {step!r}")
        state_text = json.dumps(state, indent=2)  # not JSON-able: fail before writing anything
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.step_folder(step)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{step:08d}-", dir=self.folder))
        try:
            save_checkpoint(model_path(tmp), model, step, extra, optimizer, task)
            (tmp / STATE).write_text(state_text)
            files = {}
            for path in sorted(tmp.iterdir()):
                _fsync(path)
                files[path.name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
            manifest = {"format": FORMAT, "step": step, "files": files}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
            _fsync(tmp / MANIFEST)
            _fsync(tmp)
            aside = None
            if final.exists():  # from an earlier attempt at this step: set aside now that the new one is complete
                aside = self.folder / f"{_TMP_PREFIX}{step:08d}-old-{secrets.token_hex(4)}"
                final.rename(aside)
            try:
                tmp.rename(final)
            except BaseException:
                if aside is not None:
                    aside.rename(final)
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(self.folder)
        _link_or_copy(final / "model.safetensors", self.folder / "last.safetensors")  # weights first, JSON last
        _link_or_copy(final / "model.json", self.folder / "last.json")
        _fsync(self.folder)
        self._prune(step)
        return final

    def _prune(self, saved: int) -> None:
        """Remove leftover temporary folders and the steps before the newest ``keep`` (counting ``saved``).
        Folders of later steps (a damaged newer checkpoint this run resumed before) are left for a later save
        to replace or prune."""
        for p in self.folder.glob(f"{_TMP_PREFIX}*"):
            shutil.rmtree(p, ignore_errors=True)
        older = [s for s in self.steps() if s < saved]
        for s in older[self.keep - 1 :]:
            shutil.rmtree(self.step_folder(s), ignore_errors=True)

    def verify(self, step_folder: Path) -> dict:
        """The folder's ``state`` after checking its manifest (sizes, sha256) and ``state.json``; ValueError
        with the reason when it is damaged."""
        try:
            manifest = json.loads((step_folder / MANIFEST).read_text())
        except FileNotFoundError:
            raise ValueError(f"no {MANIFEST}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{MANIFEST} is not readable JSON: {e}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
            raise ValueError(f"{MANIFEST} should have format {FORMAT!r}, found {found!r}")
        expected_step = int(_STEP_DIR.fullmatch(step_folder.name).group(1))
        if manifest.get("step") != expected_step:
            raise ValueError(f"{MANIFEST} should be for step {expected_step}, found {manifest.get('step')!r}")
        files = manifest.get("files")
        if not isinstance(files, dict) or not all(name in files for name in REQUIRED):
            raise ValueError(f"{MANIFEST} should list {', '.join(REQUIRED)}, found {sorted(files or {})}")
        for name, entry in files.items():
            if not isinstance(entry, dict):
                raise ValueError(f"{MANIFEST} entry for {name} should be an object, found {entry!r}")
            path = step_folder / name
            if not path.is_file():
                raise ValueError(f"{name} is missing")
            size = path.stat().st_size
            if size != entry.get("bytes"):
                raise ValueError(f"{name} should have {entry.get('bytes')} bytes, found {size}")
            if file_sha256(path) != entry.get("sha256"):
                raise ValueError(f"{name} does not match its sha256 in {MANIFEST}")
        try:
            state = json.loads((step_folder / STATE).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{STATE} is not readable JSON: {e}") from None
        if not isinstance(state, dict):
            raise ValueError(f"{STATE} should hold a JSON object, found {type(state).__name__}")
        return state

    def latest(self, *, report: Callable[[str], object] = print) -> tuple[Path, dict] | None:
        """(step folder, state) of the newest step whose files check out, or None. Damaged folders are reported
        and skipped (kept, to look at); temporary folders of a save killed midway are ignored."""
        damaged = 0
        for step in self.steps():
            path = self.step_folder(step)
            try:
                return path, self.verify(path)
            except (OSError, ValueError) as e:
                damaged += 1
                report(f"checkpoint {path} is damaged ({e}); trying the previous one")
        if damaged:
            report(f"no usable checkpoint in {self.folder}: all {damaged} step folders are damaged")
        return None
