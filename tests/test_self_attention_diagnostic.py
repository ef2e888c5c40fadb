"""Appendix D diagnostic: constant-qk RoPE attention rows, self-probability vs token count and temperature,
the matching temperature, the figure + JSON, and the CLI glue (HxW parsing, errors)."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch

from helpers import assert_close
from winwin.tools.self_attention import (
    add_self_attention_args,
    attention_row,
    constant_qk,
    diagnose,
    matching_temperature,
    parse_hw,
    run_self_attention,
    self_probability,
    token_count_curve,
)


def grid(h: int, w: int) -> torch.Tensor:
    """(h*w, 2) row-major (y, x) positions."""
    return torch.tensor([(y, x) for y in range(h) for x in range(w)])


def block(top: int, left: int, h: int, w: int) -> torch.Tensor:
    return torch.tensor([(top + y, left + x) for y in range(h) for x in range(w)])


# --- the attention row ----------------------------------------------------------------------------------


@pytest.mark.parametrize("head_dim, logit", [(4, 1.0), (32, 4.0), (64, 0.5)])
def test_constant_qk_gives_the_requested_self_logit(head_dim: int, logit: float) -> None:
    c = constant_qk(head_dim, logit)
    assert c.shape == (head_dim,) and bool((c == c[0]).all())
    assert float(c @ c) / math.sqrt(head_dim) == pytest.approx(logit, rel=1e-12)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_zero_logit_gives_uniform_row(temperature: float) -> None:
    pos = block(2, 3, 3, 4)
    row = attention_row(pos, 5, 16, 0.0, temperature)
    assert row.dtype == torch.float64
    assert_close(row, torch.full((12,), 1 / 12, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_hand_computed_two_tokens_head_dim_4(temperature: float) -> None:
    # D = 4: one frequency (base^0 = 1) per half; the y pair turns by y, the x pair by x. With c all equal,
    # c.c = 2 * logit (sqrt(D) = 2) and the dot product at offset (dy, dx) is (|c|^2 / 2)(cos dy + cos dx),
    # so the logit is (logit / 2)(cos dy + cos dx): logit itself at offset 0.
    logit, (dy, dx) = 1.5, (1, 2)
    pos = torch.tensor([[3, 4], [3 + dy, 4 + dx]])
    other = logit / 2 * (math.cos(dy) + math.cos(dx))
    z = math.exp(temperature * logit) + math.exp(temperature * other)
    expected = torch.tensor([math.exp(temperature * logit) / z, math.exp(temperature * other) / z], dtype=torch.float64)
    assert_close(attention_row(pos, 0, 4, logit, temperature), expected, atol=1e-6)
    assert self_probability(pos, 1, 4, logit, temperature) == pytest.approx(float(expected[0]), abs=1e-6)  # symmetric


def test_row_is_a_distribution_peaked_on_the_query_and_translation_invariant() -> None:
    pos, query = block(0, 0, 4, 6), 9
    row = attention_row(pos, query, 16, 3.0)
    assert row.shape == (24,) and float(row.sum()) == pytest.approx(1.0, abs=1e-12)
    assert int(row.argmax()) == query and float(row.min()) < float(row[query]) / 2
    assert self_probability(pos, query, 16, 3.0) == float(row[query])
    assert_close(attention_row(pos + torch.tensor([7, 30]), query, 16, 3.0), row, atol=1e-6)  # RoPE: relative only


def test_self_probability_increases_with_temperature() -> None:
    pos = block(1, 1, 4, 5)
    probs = [self_probability(pos, 7, 32, 4.0, t) for t in (0.25, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(probs, probs[1:])), probs


# --- token count curve ----------------------------------------------------------------------------------


@pytest.mark.parametrize("grid_hw, query, counts", [((5, 5), (2, 2), [1, 9, 25]), ((3, 6), (1, 2), [1, 3, 15, 18])])
def test_curve_counts_hand_computed(grid_hw, query, counts) -> None:
    # 3x6, query (1, 2): steps keep |dy| <= k*3//6 and |dx| <= k*6//6 -> 1x1, 1x3, 3x5, 3x6 (clipped).
    got, probs = token_count_curve(grid_hw, query, [1.0], 8, 2.0)
    assert got == counts and len(probs[1.0]) == len(counts)


def test_curve_decreases_with_more_tokens_and_matches_direct_rows() -> None:
    counts, probs = token_count_curve((6, 10), (2, 3), [1.0, 2.0], 16, 4.0)
    p1 = probs[1.0]
    assert counts[0] == 1 and counts[-1] == 60 and all(a < b for a, b in zip(counts, counts[1:]))
    assert p1[0] == pytest.approx(1.0) and all(a >= b for a, b in zip(p1, p1[1:])) and p1[-1] < 0.5 * p1[1]
    assert all(a > b for a, b in zip(probs[2.0][1:], p1[1:]))  # hotter softmax everywhere but at 1 token
    assert p1[-1] == pytest.approx(self_probability(grid(6, 10), 2 * 10 + 3, 16, 4.0), abs=1e-12)
    # 6x10, k = 2: |dy| <= 1, |dx| <= 2 around (2, 3) -> a 3x5 block at (1, 1); query at its centre (index 7).
    assert counts[2] == 15 and p1[2] == pytest.approx(self_probability(block(1, 1, 3, 5), 7, 16, 4.0), abs=1e-12)


# --- matching temperature -------------------------------------------------------------------------------


def test_matching_temperature_restores_training_self_probability() -> None:
    train, full = torch.cat((block(0, 0, 3, 3), block(3, 5, 3, 3))), grid(6, 10)
    target = self_probability(train, 4, 16, 4.0)  # centre of the first window, (1, 1)
    tau = matching_temperature(train, 4, full, 11, 16, 4.0)
    assert tau > 1.0
    assert self_probability(full, 11, 16, 4.0, tau) == pytest.approx(target, abs=1e-6)
    assert self_probability(full, 11, 16, 4.0) < target - 0.01  # the un-tuned full layout really differs
    # Fewer tokens at test time than in training: the temperature goes below 1.
    back = matching_temperature(full, 11, train, 4, 16, 4.0)
    assert back < 1.0 and self_probability(train, 4, 16, 4.0, back) == pytest.approx(
        self_probability(full, 11, 16, 4.0), abs=1e-6
    )


@pytest.mark.parametrize("train_temperature", [1.0, 0.7])
def test_matching_temperature_identity_on_identical_layouts(train_temperature: float) -> None:
    pos = block(2, 2, 4, 4)
    tau = matching_temperature(pos, 5, pos + 3, 5, 16, 4.0, 100.0, train_temperature)
    assert tau == pytest.approx(train_temperature, abs=1e-6)


@pytest.mark.parametrize(
    "train, full, logit",
    [
        (block(0, 0, 1, 1), grid(3, 3), 2.0),  # training self-probability 1: never reached by 9 tokens
        (block(0, 0, 2, 2), grid(3, 3), 0.0),  # constant logits: 1/4 vs 1/9 whatever the temperature
        (grid(4, 4), block(0, 0, 1, 2), 0.001),
    ],  # 2 tokens cannot go below 1/2
)
def test_matching_temperature_unattainable(train, full, logit) -> None:
    with pytest.raises(ValueError, match="unattainable"):
        matching_temperature(train, 0, full, 0, 8, logit)


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(query=4), "query index 4 out of range for 4 tokens"),
        (dict(query=-1), "out of range"),
        (dict(head_dim=6), "multiple of 4, got 6"),
        (dict(head_dim=0), "multiple of 4, got 0"),
        (dict(temperature=0.0), "temperature must be finite and > 0, got 0.0"),
        (dict(temperature=-2.0), "> 0"),
        (dict(pos=torch.zeros(4, 3, dtype=torch.long)), r"\(N, 2\).*\(4, 3\)"),
        (dict(pos=torch.zeros(4, dtype=torch.long)), r"\(N, 2\)"),
        (dict(pos=torch.zeros(4, 2)), "integer"),
        (dict(logit=-1.0), "logit"),
        (dict(logit=float("nan")), "logit"),
    ],
)
def test_attention_row_rejects_bad_inputs(kwargs: dict, message: str) -> None:
    args = dict(pos=block(0, 0, 2, 2), query=0, head_dim=8, logit=1.0, temperature=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        attention_row(**args)


def test_curve_rejects_query_outside_grid() -> None:
    with pytest.raises(ValueError, match=r"query \(3, 0\) is outside the 3x4 grid"):
        token_count_curve((3, 4), (3, 0), [1.0], 8, 1.0)


@pytest.mark.parametrize("text", ["12by24", "12x", "x24", "0x5", "12x24x3", "-3x4", "a x b"])
def test_parse_hw_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match=f"e.g. 12x24; got '{text}'"):
        parse_hw(text)


def test_parse_hw() -> None:
    assert parse_hw("12x24") == (12, 24) and parse_hw(" 5X7 ") == (5, 7)


# --- diagnose, figure and CLI glue ----------------------------------------------------------------------


def test_diagnose_small_grid() -> None:
    r = diagnose((6, 10), 2, (3, 3), head_dim=16, logit=4.0, seed=3)
    assert r["train_tokens"] == 18 and r["full_tokens"] == 60
    top, left, h, w = r["boxes"][0]
    assert r["query_yx"] == [top + 1, left + 1]
    assert r["p_self_full"] < r["p_self_train"] and r["tau_match"] > 1.0
    assert r["p_self_full_matched"] == pytest.approx(r["p_self_train"], abs=1e-6)
    m_train, m_full, m_matched = r["map_train"], r["map_full"], r["map_full_matched"]
    assert m_train.shape == m_full.shape == m_matched.shape == (6, 10)
    assert int(np.isfinite(m_train).sum()) == 18 and np.nansum(m_train) == pytest.approx(1.0)
    assert m_full.sum() == pytest.approx(1.0) and m_matched.sum() == pytest.approx(1.0)
    qy, qx = r["query_yx"]
    assert m_train[qy, qx] == pytest.approx(r["p_self_train"]) and m_full[qy, qx] == pytest.approx(r["p_self_full"])
    assert np.unravel_index(np.nanargmax(m_train), m_train.shape) == (qy, qx)
    assert r["curve_counts"][-1] == 60 and r["curve_probs"][r["tau_match"]][-1] == pytest.approx(
        r["p_self_train"], abs=1e-6
    )
    assert diagnose((6, 10), 2, (3, 3), head_dim=16, logit=4.0, seed=3)["boxes"] == r["boxes"]  # seeded


def test_run_self_attention_writes_png_and_json(tmp_path, capsys) -> None:
    from PIL import Image

    parser = argparse.ArgumentParser()
    add_self_attention_args(parser)
    out = tmp_path / "figs" / "sa.png"
    args = parser.parse_args(["--grid", "6x8", "--window-size", "2x3", "--head-dim", "8", "-o", str(out)])
    assert (args.windows, args.logit, args.rope_base, args.seed) == (2, 4.0, 100.0, 0)
    run_self_attention(args)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 300
    numbers = json.loads((tmp_path / "figs" / "sa.json").read_text())
    assert numbers["tau_match"] > 1.0 and numbers["train_tokens"] == 12 and numbers["full_tokens"] == 48
    assert not any(k.startswith("map_") for k in numbers) and len(numbers["curve_probs"]["tau_match"]) == len(
        numbers["curve_counts"]
    )
    assert sorted(p.name for p in out.parent.iterdir()) == ["sa.json", "sa.png"]  # no .tmp left behind
    text = capsys.readouterr().out
    assert "12 training tokens" in text and "48 full-grid tokens" in text and f"{numbers['tau_match']:.4f}" in text


def test_run_self_attention_rejects_bad_size(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    add_self_attention_args(parser)
    args = parser.parse_args(["--grid", "6by8", "-o", str(tmp_path / "x.png")])
    with pytest.raises(ValueError, match="6by8"):
        run_self_attention(args)
    assert not list(tmp_path.iterdir())
