"""Train and evaluate every (row, seed) of the tables once. A training run lives in ``OUT/runs/<key>/s<seed>``
(checkpoints: working files, not kept in git) and resumes exactly when interrupted (``train.resume``). Its
finished result is a small JSON file, ``OUT/results/<key>/s<seed>/result-<row>.json``, kept apart so that it
can be committed: a reproduction continued from a fresh clone of the repository retrains nothing that is in
it. The report is rewritten after every finished pair."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..engine.checkpoint import load_checkpoint, load_task
from ..engine.config import ExperimentConfig, load_config
from ..engine.pretrain import pretrain
from ..engine.train import train
from ..engine.train_checkpoints import CheckpointStore
from ..files import atomic_write_text
from .machine import run_machine
from .tables import FULL, Row, Table
from .timing import step_flops_of
from .variants import evaluate_variants, has_variant

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_BASE = "demo.yaml"


@dataclass(frozen=True)
class Budget:
    """How every run of a reproduction trains: the same steps and batch for every row (equal epochs)."""

    # 128 epochs of the 2000 embedded images. 8000 failed the budget's check: twice the steps moved the 2- and
    # 6-window rows by 7.5 and 17.3 points (docs/results.md); 4000 left every row still improving
    steps: int = 16000
    eval_every: int = 1000
    calib_images: int = 100
    learn_steps: int = 200  # learned per-head temperatures: optimisation steps
    overrides: tuple[str, ...] = ()
    pretrain_steps: int | None = None  # None: the pretraining config's own

    def schedule(self, table: Table, row: Row) -> tuple[int, int]:
        """(steps, eval_every) of a row's runs: the budget's, times the table's and the row's ``step_scale``."""
        scale = table.step_scale * row.step_scale
        return max(1, round(self.steps * scale)), max(1, round(self.eval_every * scale))

    def key(self, row: Row, table: Table) -> str:
        """The run's identity: what it trains (the base config is named only when it is not the default)."""
        return self._hash(row, table, list(self.schedule(table, row)))

    def step_key(self, row: Row, table: Table) -> str:
        """What one training step of the row computes, however many steps its runs take (``timing``'s key)."""
        return self._hash(row, table, [])

    def _hash(self, row: Row, table: Table, schedule: list[int]) -> str:
        parts: list = [list(row.overrides), list(self.overrides), *schedule]
        if table.base_config != DEFAULT_BASE or table.pretrain:
            parts += [table.base_config, table.pretrain]
        return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:10]


# a few steps of a tiny model on the embedded images: checks that everything runs (the test suite's)
QUICK = Budget(
    steps=2, eval_every=1, calib_images=2, learn_steps=2, pretrain_steps=2,
    overrides=("model.embed_dim=32", "model.num_heads=2", "model.depth=2", "model.head_width=8",
               "data.train_length=8", "data.val_length=2", "train.batch_size=2", "train.log_every=1"),
)  # fmt: skip


def steps_done(folder: Path) -> int:
    """The step of the newest checkpoint of the run in ``folder`` (where a resumed run starts), 0 if none."""
    return max(CheckpointStore(folder / "checkpoints").steps(), default=0)


def run_dir(out: Path, row: Row, seed: int, budget: Budget, table: Table) -> Path:
    """The training run of (row, seed): keyed by what it trains, so rows of two tables with the same
    overrides share it (their test variants are cached apart, one result file per row name)."""
    return out / "runs" / budget.key(row, table) / f"s{seed}"


def results_dir(out: Path, row: Row, seed: int, budget: Budget, table: Table) -> Path:
    """Where the finished results of (row, seed) are kept: beside ``runs``, without checkpoints."""
    return out / "results" / budget.key(row, table) / f"s{seed}"


def result_path(folder: Path, row: Row) -> Path:
    return folder / f"result-{re.sub(r'[^a-z0-9]+', '-', row.name.lower()).strip('-')}.json"


def _config_file(name: str) -> Path:
    path = CONFIGS / name
    if not path.is_file():
        raise FileNotFoundError(f"winwin reproduce needs {path} (run it from a source checkout)")
    return path


def _pretrain_folder(table: Table, budget: Budget, out: Path, device: str) -> tuple[Path, list[str]]:
    """(the folder of the table's pretraining, its config overrides): one per pretraining config and budget."""
    steps = [] if budget.pretrain_steps is None else [f"train.steps={budget.pretrain_steps}"]
    overrides = [*budget.overrides, *steps, "train.seed=0", f"train.device={device}"]
    key = hashlib.sha1(json.dumps([table.pretrain, overrides]).encode()).hexdigest()[:10]
    return out / "pretrain" / key, overrides


def pretraining_to_do(table: Table, budget: Budget, out: Path, device: str) -> Path | None:
    """The folder of the table's pretraining while it is not done in this checkout (two runs must not both
    train it), else None."""
    if table.pretrain is None:
        return None
    folder, _ = _pretrain_folder(table, budget, out, device)
    return None if (folder / "done").is_file() else folder


def pretrain_seconds(table: Table, budget: Budget, out: Path, device: str) -> float | None:
    """What the table's pretraining still costs before its rows can train: 0 when it is done here, its wall
    time when it ran before (in another checkout), None when unknown (or the table has none: 0)."""
    if table.pretrain is None:
        return 0.0
    folder, _ = _pretrain_folder(table, budget, out, device)
    if (folder / "done").is_file():
        return 0.0
    record = out / "results" / "pretrain" / f"{folder.name}.json"
    return float(json.loads(record.read_text())["wall_s"]) if record.is_file() else None


def pretrained(table: Table, budget: Budget, out: Path, device: str, say=print) -> Path | None:
    """The cross-view pretraining the table's rows start from (trained once, then reused), or None; an
    interrupted one resumes from its checkpoint. Its training time (the steps' time in ``log.jsonl``, so over
    every call that trained it) is kept beside the results (``results/pretrain/<key>.json``) for
    ``pretrain_seconds``."""
    if table.pretrain is None:
        return None
    folder, overrides = _pretrain_folder(table, budget, out, device)
    if not (folder / "done").is_file():
        say(f"reproduce: pretraining {table.pretrain} for {table.key} -> {folder}")
        where = [f"out_dir={folder.parent}", f"name={folder.name}", "train.resume=true"]  # not in the folder's key
        cfg = load_config(_config_file(table.pretrain), [*overrides, *where])
        if pretrain(cfg, progress=False, say=say) != folder / "croco.pth":
            raise RuntimeError(f"pretraining did not write {folder / 'croco.pth'}")
        record = {"config": table.pretrain, "overrides": overrides, "wall_s": steps_seconds(folder / "log.jsonl")}
        atomic_write_text(out / "results" / "pretrain" / f"{folder.name}.json", json.dumps(record, indent=2))
        atomic_write_text(folder / "done", "complete\n")
    return folder / "croco.pth"


def steps_seconds(log: Path) -> float:
    """The training time logged in ``log`` (``log.jsonl`` records with ``s_per_step``): each record's steps
    since the one before times its seconds per step."""
    total, last = 0.0, 0
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if "s_per_step" in record:
            total += (record["step"] - last) * record["s_per_step"]
            last = record["step"]
    return total


def row_config(
    table: Table,
    row: Row,
    seed: int,
    budget: Budget,
    folder: Path,
    device: str,
    init: Path | None = None,
    time_limit_s: float = 0.0,
) -> ExperimentConfig:
    """The run's config; ``time_limit_s`` > 0 stops this call's training then, with a checkpoint (the run's
    identity, its folder, does not depend on it)."""
    steps, eval_every = budget.schedule(table, row)
    limit = [f"train.time_limit_s={time_limit_s}"] if time_limit_s > 0 else []
    return load_config(
        _config_file(table.base_config),
        [*budget.overrides, *row.overrides, f"train.seed={seed}", f"train.steps={steps}",
         f"train.eval_every={eval_every}", f"train.ckpt_every={eval_every}", f"train.device={device}",
         f"out_dir={folder.parent}", f"name={folder.name}", "train.resume=true",
         *([] if init is None else [f"train.init={init}"]), *limit],
    )  # fmt: skip


def training_curve(folder: Path, metric: str, batch: int) -> tuple[float, list[dict]]:
    """(training wall time in s, validation curve) from ``log.jsonl``: an interval of training takes its
    steps x ``batch`` / images_per_s, so evaluations and interruptions are not counted."""
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    wall, last_step, curve = 0.0, 0, []
    for r in records:
        if "images_per_s" in r:
            wall += (r["step"] - last_step) * batch / r["images_per_s"]
            last_step = r["step"]
        if f"val_{metric}" in r:
            point = {"step": r["step"], "wall_s": wall, "value": r[f"val_{metric}"]}
            curve.append({**point, "loss": r["val_loss"]} if "val_loss" in r else point)
    return wall, curve


def cached_result(table: Table, row: Row, seed: int, budget: Budget, out: Path) -> dict | None:
    """The finished result of (row, seed) as cached (some of the row's variants may still be missing), or None.
    A row without its own result file takes the training's result from another row's file of the same run
    (same overrides: the same training), its test variants apart from the full-image one left to evaluate."""
    folder = results_dir(out, row, seed, budget, table)
    path = result_path(folder, row)
    if path.is_file():
        return json.loads(path.read_text())
    other = next(iter(sorted(folder.glob("result-*.json"))), None)
    if other is None:
        return None
    shared = json.loads(other.read_text())  # session_s 0: not trained by this row's call (``recorded_pace``)
    return {**shared, "row": row.name, "session_s": 0.0, "variants": {FULL: shared["variants"][FULL]}}


def result_metric(folder: Path) -> str:
    """The primary metric of the trained run in ``folder``."""
    return load_task(load_checkpoint(folder / "checkpoints" / "last")[1]).metric().primary


def missing_variants(result: dict | None, row: Row) -> list[str]:
    """The test variants of ``row`` that ``result`` lacks (all when there is no result yet)."""
    return [v for v in row.variants if v != FULL and (result is None or not has_variant(result, v))]


def run_row(
    table: Table, row: Row, seed: int, budget: Budget, out: Path, device: str = "cpu", say=print, time_limit_s=0.0
) -> dict:
    """The result of (row, seed): cached, or trained and evaluated now (resuming an interrupted run). A cached
    result that lacks some of the row's variants gets them evaluated and added. ``time_limit_s`` > 0: the
    training stops then with a checkpoint and ``Interrupted`` (``engine.stop.TIME_LIMIT``) if not done."""
    folder = run_dir(out, row, seed, budget, table)
    cached = result_path(results_dir(out, row, seed, budget, table), row)
    result = cached_result(table, row, seed, budget, out)
    missing = missing_variants(result, row)
    if result is not None and not missing:
        if not cached.is_file():  # taken from another row's result of the same run
            atomic_write_text(cached, json.dumps(result, indent=2))
        return result
    if result is not None and not (folder / "eval.json").is_file():
        say(f"reproduce: {row.name}, seed {seed}: {', '.join(missing)} asked, its checkpoint is gone: trained again")
        result = None  # a result from another checkout: the variants need the trained model
    init = pretrained(table, budget, out, device, say)
    cfg = row_config(table, row, seed, budget, folder, device, init, time_limit_s)
    if result is None:
        say(f"reproduce: {row.name}, seed {seed} -> {folder}")
        tic, start = time.perf_counter(), steps_done(folder)  # a resumed run trains its steps after ``start``
        if not (folder / "eval.json").is_file():  # written when a training run is complete
            train(cfg, progress=False, say=say)
        wall, curve = training_curve(folder, result_metric(folder), cfg.train.batch_size)
        result = {
            "row": row.name, "seed": seed, "steps": cfg.train.steps, "train_wall_s": wall,
            "flops_per_step": step_flops_of(cfg), "session_s": time.perf_counter() - tic, "start_step": start,
            "variants": {FULL: json.loads((folder / "eval.json").read_text())}, "curve": curve,
            "overrides": list(row.overrides), "machine": run_machine(),
        }  # fmt: skip
    else:
        say(f"reproduce: {row.name}, seed {seed}: evaluating {', '.join(missing)}")
    new = evaluate_variants(row, missing, cfg, folder, budget.calib_images, budget.learn_steps, device)
    result["variants"] = {**result["variants"], **new}
    atomic_write_text(cached, json.dumps(result, indent=2))
    return result
