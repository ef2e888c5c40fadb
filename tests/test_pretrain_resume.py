"""``winwin pretrain`` stops and resumes like training: a run stopped by its time limit (the pre-emption path)
and resumed with ``train.resume=true`` ends with the weights, the CroCo file and the log of the uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import TINY_FLOW
from winwin.engine.config import load_config
from winwin.engine.pretrain import pretrain
from winwin.errors import BadFileError, Interrupted
from winwin.models.croco import read_croco

BASE = [o for o in TINY_FLOW if not o.startswith(("windows.", "task.frame2", "train.steps", "train.ckpt_every"))]
LONG = [*BASE, "train.steps=5", "train.ckpt_every=2", "train.log_every=1"]


def _run(tmp_path, name: str, *more: str):
    cfg = load_config("configs/flow_pretrain.yaml", [*LONG, f"out_dir={tmp_path}", f"name={name}", *more])
    return pretrain(cfg, progress=False, say=lambda _: None)


def _losses(folder) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in records if "loss" in r]


def test_a_pretraining_stopped_by_its_time_limit_resumes_exactly(tmp_path):
    whole = _run(tmp_path, "whole")
    with pytest.raises(Interrupted, match="train.time_limit_s=1e-06 at step 1: saved") as stopped:
        _run(tmp_path, "cut", "train.time_limit_s=0.000001")
    assert stopped.value.step == 1
    assert (tmp_path / "cut" / "checkpoints" / "step-00000001").is_dir()
    resumed = _run(tmp_path, "cut", "train.resume=true")
    assert resumed == tmp_path / "cut" / "croco.pth"
    a, b = read_croco(whole)[0], read_croco(resumed)[0]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _losses(tmp_path / "cut") == _losses(tmp_path / "whole")  # one record per step, none twice
    assert [s for s, _ in _losses(tmp_path / "whole")] == [1, 2, 3, 4, 5]


def test_resume_of_a_pretraining_refuses_when_every_checkpoint_is_damaged(tmp_path):
    with pytest.raises(Interrupted):
        _run(tmp_path, "cut", "train.time_limit_s=0.000001")
    (tmp_path / "cut" / "checkpoints" / "step-00000001" / "state.json").write_text("{}")
    with pytest.raises(BadFileError, match="every step checkpoint here is damaged"):
        _run(tmp_path, "cut", "train.resume=true")


def test_a_training_checkpoint_is_not_resumed_as_a_pretraining(tmp_path):
    from winwin.engine.train import train

    cfg = load_config("configs/flow_demo.yaml", [*TINY_FLOW, f"out_dir={tmp_path}", "name=run"])
    train(cfg, progress=False, say=lambda _: None)
    with pytest.raises(BadFileError, match="not a cross-view completion checkpoint"):
        _run(tmp_path, "run", "train.resume=true")


def test_a_pretraining_checkpoint_is_refused_by_the_model_loader_with_what_to_do(tmp_path):
    from winwin.engine.checkpoint import load_checkpoint

    _run(tmp_path, "whole")
    croco = tmp_path / "whole" / "croco.pth"
    for saved in ("last.json", "step-00000004/model.json"):
        with pytest.raises(BadFileError, match=rf"a cross-view completion checkpoint.*train.init={croco}"):
            load_checkpoint(tmp_path / "whole" / "checkpoints" / saved)


def test_a_batch_larger_than_the_pairs_is_refused_before_the_run_folder_exists(tmp_path):
    from winwin.engine.config import ConfigError

    with pytest.raises(ConfigError, match=r"train.batch_size 5 is larger than the training set \(4 pairs\)"):
        _run(tmp_path, "big", "train.batch_size=5")
    assert not (tmp_path / "big").exists()
