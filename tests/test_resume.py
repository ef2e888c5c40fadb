"""Exact resume: a run killed with SIGKILL mid-training and resumed ends with the same weights, bit for bit,
as the uninterrupted run; a damaged newest checkpoint is reported and the one before it used."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from winwin.engine.config import load_config
from winwin.engine.train import train
from winwin.errors import BadFileError

# flips (per-image augmentation seeds), random window sizes (budget mode), an evaluation every 4 steps
SETUP = [
    "model.arch=demo", "model.embed_dim=32", "model.num_heads=2", "model.depth=2", "model.head_width=8",
    "model.drop_path=0.1", "task.num_classes=8", "windows.mode=budget", "windows.token_budget=8",
    "windows.num_windows=2", "data.image_size=[64, 96]", "data.train_length=6", "data.val_length=2",
    "data.flip=true", "train.batch_size=2", "train.log_every=1", "train.threads=1", "train.device=cpu",
    "train.eval_every=4", "optim.warmup_steps=2", "optim.lr=0.001",
]  # fmt: skip


def _weights(run) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / "last.safetensors")


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def _steps(run) -> list[int]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if "lr" in r]  # training records (evaluation ones hold val_*)


LONG = ["train.steps=60", "train.ckpt_every=5"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 60-step run."""
    out = tmp_path_factory.mktemp("ref")
    return train(load_config("configs/demo.yaml", [*SETUP, *LONG, f"out_dir={out}", "name=ref"]), False)


def _start_and_signal(out, name: str, signum: int, after: str) -> subprocess.Popen:
    """``winwin train`` in a subprocess, sent ``signum`` once its checkpoint folder ``after`` exists."""
    cmd = [sys.executable, "-m", "winwin", "train", "configs/demo.yaml", *SETUP, *LONG]
    cmd += [f"out_dir={out}", f"name={name}", "--quiet"]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / name / "checkpoints" / after).exists() and proc.poll() is None:
        assert time.monotonic() < deadline, f"no checkpoint {after} after 120 s"
        time.sleep(0.01)
    proc.send_signal(signum)
    proc.wait()
    return proc


def test_a_run_killed_with_sigkill_resumes_bit_for_bit(tmp_path, reference):
    steps = LONG
    proc = _start_and_signal(tmp_path, "killed", signal.SIGKILL, "step-00000010")
    run = tmp_path / "killed"
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (run / "eval.json").exists()
    killed_at = max(_steps(run))
    assert 10 <= killed_at < 60

    resumed = train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=killed",
                                                      "train.resume=true"]), False)  # fmt: skip
    assert resumed == run
    _assert_same_weights(_weights(reference), _weights(run))
    assert _steps(run) == list(range(1, 61))  # each step logged once, the killed process's extra ones dropped
    # the logged curves too (throughput aside): loss average, lr, gradient norm, evaluations
    logs = [[json.loads(x) for x in (r / "log.jsonl").read_text().splitlines()] for r in (reference, run)]
    for r in logs[0] + logs[1]:
        r.pop("images_per_s", None)
    assert logs[0] == logs[1]


def test_sigterm_saves_a_checkpoint_and_stops_and_the_resumed_run_is_exact(tmp_path, reference):
    proc = _start_and_signal(tmp_path, "stopped", signal.SIGTERM, "step-00000005")
    run = tmp_path / "stopped"
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read()[-2000:]
    message = proc.stderr.read()
    assert "stopped: SIGTERM at step" in message and "train.resume=true" in message
    stopped_at = int(message.split("SIGTERM at step ")[1].split(":")[0])
    assert 5 <= stopped_at < 60 and (run / "checkpoints" / f"step-{stopped_at:08d}").is_dir()
    assert max(_steps(run)) == stopped_at  # nothing trained past the saved step
    train(load_config("configs/demo.yaml", [*SETUP, *LONG, f"out_dir={tmp_path}", "name=stopped",
                                            "train.resume=true"]), False)  # fmt: skip
    _assert_same_weights(_weights(reference), _weights(run))


def test_a_truncated_checkpoint_is_reported_and_the_previous_one_used(tmp_path, capsys):
    steps = ["train.steps=6", "train.ckpt_every=2", "train.keep_checkpoints=3"]
    reference = train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=ref"]), False)
    run = train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=cut"]), False)
    newest = run / "checkpoints" / "step-00000006" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    capsys.readouterr()
    train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=cut", "train.resume=true"]),
          False)  # fmt: skip
    out = capsys.readouterr().out
    assert "step-00000006 is damaged" in out and "resuming from" in out and "step 4" in out
    assert "differs" not in out  # the same config (train.resume aside)
    _assert_same_weights(_weights(reference), _weights(run))


@pytest.mark.parametrize("workers", [2])
def test_loader_workers_do_not_change_the_run(tmp_path, workers):
    steps = ["train.steps=4", "train.ckpt_every=4", "train.eval_every=0"]
    plain = train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=w0"]), False)
    more = train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=w",
                                                   f"train.num_workers={workers}"]), False)  # fmt: skip
    _assert_same_weights(_weights(plain), _weights(more))


def test_evaluations_during_training_do_not_change_the_run(tmp_path):
    steps = ["train.steps=4", "train.ckpt_every=4"]
    quiet = train(
        load_config("configs/demo.yaml", [*SETUP, *steps, "train.eval_every=0", f"out_dir={tmp_path}"]), False
    )
    watched = train(
        load_config("configs/demo.yaml", [*SETUP, *steps, "train.eval_every=1", f"out_dir={tmp_path}"]), False
    )
    _assert_same_weights(_weights(quiet), _weights(watched))


def test_resume_refuses_when_every_checkpoint_is_damaged(tmp_path):
    steps = ["train.steps=2", "train.ckpt_every=1", "train.eval_every=0"]
    run = train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=bad"]), False)
    for folder in (run / "checkpoints").glob("step-*"):
        (folder / "manifest.json").unlink()
    with pytest.raises(BadFileError, match="every step checkpoint here is damaged"):
        train(load_config("configs/demo.yaml", [*SETUP, *steps, f"out_dir={tmp_path}", "name=bad",
                                                "train.resume=true"]), False)  # fmt: skip
    assert (run / "log.jsonl").read_text()  # the logs were left alone


def test_workers_give_the_batches_of_the_in_process_path_from_a_resume_position(tmp_path):
    from winwin.engine.distributed import Dist
    from winwin.engine.train import build_datasets, check_against_data, train_loader
    from winwin.tasks import build_task

    cfg = load_config("configs/demo.yaml", [*SETUP, "train.steps=9", f"out_dir={tmp_path}"])
    task = build_task(cfg.task)
    train_set, _ = build_datasets(task, cfg)
    grid = check_against_data(cfg, task, train_set)
    plain = list(train_loader(cfg, task, train_set, grid, 5, Dist(), torch.device("cpu")))
    workers = load_config("configs/demo.yaml", [*SETUP, "train.steps=9", "train.num_workers=2", f"out_dir={tmp_path}"])
    more = list(train_loader(workers, task, train_set, grid, 5, Dist(), torch.device("cpu")))
    assert [b.step for b in plain] == [b.step for b in more] == [5, 6, 7, 8]
    for a, b in zip(plain, more):
        assert torch.equal(a.batch.inputs[0], b.batch.inputs[0]) and torch.equal(a.batch.target, b.batch.target)
        assert torch.equal(a.windows.boxes, b.windows.boxes) and a.windows.hw == b.windows.hw


def test_a_time_limit_saves_and_stops_like_a_signal_and_the_resumed_run_is_exact(tmp_path, reference):
    from winwin.engine.stop import TIME_LIMIT
    from winwin.errors import Interrupted

    limited = [*SETUP, *LONG, f"out_dir={tmp_path}", "name=limited", "train.time_limit_s=0.000001"]
    with pytest.raises(Interrupted, match="train.time_limit_s=1e-06 at step 1: saved") as stopped:
        train(load_config("configs/demo.yaml", limited), False)
    run = tmp_path / "limited"
    assert (stopped.value.signum, stopped.value.step) == (TIME_LIMIT, 1)
    assert (run / "checkpoints" / "step-00000001").is_dir() and not (run / "eval.json").exists()
    resumed = train(load_config("configs/demo.yaml", [*limited[:-1], "train.resume=true"]), False)
    assert resumed == run and max(_steps(run)) == 60
    _assert_same_weights(_weights(reference), _weights(run))


def test_a_negative_time_limit_is_refused_before_work_starts():
    from winwin.engine.config import ConfigError

    with pytest.raises(ConfigError, match=r"train.time_limit_s must be >= 0 seconds \(0: no limit\), got -1"):
        load_config("configs/demo.yaml", [*SETUP, "train.time_limit_s=-1"])
