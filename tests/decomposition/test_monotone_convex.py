"""g and h are monotone in (x⁺, x⁻) and convex (paper A.2, Theorem 1), property-based."""

from __future__ import annotations

import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import hidden_monotonicity as hm
from decomposition_nets import mlp, small_cnn


def _nets():
    residual = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
                             nn.MaxPool2d(2), nn.Hardtanh(-1, 2), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
    residual.eval().double()
    return {
        "mlp": (mlp(widths=(6, 8, 8, 3), batchnorm=True), (6,)),
        "cnn_dc": (small_cnn(pool="max", classes=3), (3, 6, 6)),
        "piecewise_dc": (residual, (2, 6, 6)),
    }


NETS = _nets()
SPLITS = {name: hm.decompose(model, stabilize="none", maxpool="dc") for name, (model, _) in NETS.items()}


def _pair(shape, seed):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(1, *shape, dtype=torch.float64, generator=generator) * 2,
            torch.rand(1, *shape, dtype=torch.float64, generator=generator) * 2)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(NETS)), seed=st.integers(0, 100_000), stream=st.sampled_from(["pos", "neg"]))
def test_g_and_h_are_monotone_in_both_input_streams(name, seed, stream):
    split = SPLITS[name]
    _, shape = NETS[name]
    x_pos, x_neg = _pair(shape, seed)
    bump = torch.rand(1, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    base = split.forward_streams(x_pos, x_neg)
    up = split.forward_streams(x_pos + bump, x_neg) if stream == "pos" else split.forward_streams(x_pos, x_neg + bump)
    assert (up.g >= base.g - 1e-10).all()
    assert (up.h >= base.h - 1e-10).all()


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(NETS)), seed=st.integers(0, 100_000), t=st.floats(0.05, 0.95))
def test_g_and_h_are_convex(name, seed, t):
    split = SPLITS[name]
    _, shape = NETS[name]
    a_pos, a_neg = _pair(shape, seed)
    b_pos, b_neg = _pair(shape, seed + 7)
    mix = split.forward_streams(t * a_pos + (1 - t) * b_pos, t * a_neg + (1 - t) * b_neg)
    a = split.forward_streams(a_pos, a_neg)
    b = split.forward_streams(b_pos, b_neg)
    assert (mix.g <= t * a.g + (1 - t) * b.g + 1e-9).all()
    assert (mix.h <= t * a.h + (1 - t) * b.h + 1e-9).all()


def test_wta_maxpool_is_not_convex_in_general_but_dc_is():
    """The documented difference between the two max-pool modes: a counterexample for "wta"."""
    model = nn.Sequential(nn.MaxPool2d((1, 2)), nn.Flatten(), nn.Linear(1, 1, bias=False)).eval().double()
    model[2].weight.data.fill_(1.0)
    wta = hm.decompose(model, stabilize="none", maxpool="wta")
    dc = hm.decompose(model, stabilize="none", maxpool="dc")
    # two inputs whose winners differ; at the midpoint the wta g jumps
    # winner 0 at a (g = 0), winner 1 at b (g = 2) and at the midpoint (g = 6 > (0 + 2)/2)
    a_pos, a_neg = torch.tensor([[[[0.0, 10.0]]]], dtype=torch.float64), torch.tensor([[[[0.0, 11.0]]]], dtype=torch.float64)
    b_pos, b_neg = torch.tensor([[[[0.0, 2.0]]]], dtype=torch.float64), torch.tensor([[[[3.0, 0.0]]]], dtype=torch.float64)
    def violation(split):
        mix = split.forward_streams(0.5 * (a_pos + b_pos), 0.5 * (a_neg + b_neg))
        ga, gb = split.forward_streams(a_pos, a_neg).g, split.forward_streams(b_pos, b_neg).g
        return (mix.g - 0.5 * (ga + gb)).item()
    assert violation(wta) > 0
    assert violation(dc) <= 1e-12
