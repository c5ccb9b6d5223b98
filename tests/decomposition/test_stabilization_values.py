"""Exact stream values of the forward stabilisation (paper B.2, ``stabilize.py``'s table) with non-default θ and Θ,
against the independent reference: ``c = min(a⁺, a⁻)`` ("shift"), ``(1 − θ)·min`` ("scale"), the "scale" shift
only where ``max(a⁺, a⁻) > Θ`` ("threshold"), after every layer but Flatten, cat and the output."""

from __future__ import annotations

import pytest
import torch

import hidden_monotonicity as hm
from reference import reference_graph_split
from reference_nets import build, engine_name, residual_inputs as _inputs

THETA = 0.3  # not the paper's 0.1
THRESHOLD = 2.0  # splits the units of several layers of this net (see the guard below)
TARGETS = torch.tensor([0, 2, 1])


def _reference(strategy: str, theta: float = THETA, threshold: float = THRESHOLD):
    nodes, _ = build()
    return reference_graph_split(nodes, _inputs("center"), TARGETS, stabilize=strategy, theta=theta, threshold=threshold)


@pytest.mark.parametrize("strategy", ["shift", "scale", "threshold"])
def test_stabilised_streams_equal_the_reference_at_every_layer(strategy):
    nodes, model = build()
    x = _inputs("center")
    g_ref, h_ref, _, streams = _reference(strategy)
    split = hm.decompose(model, stabilize=strategy, theta=THETA, threshold=THRESHOLD)
    out = split(x)
    torch.testing.assert_close(out.g.gather(1, TARGETS[:, None]).squeeze(1), g_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.h.gather(1, TARGETS[:, None]).squeeze(1), h_ref, rtol=1e-12, atol=1e-12)
    names = [node.name for node in nodes[:-1]]
    activations = split.activations(x, [engine_name(name) for name in names])
    for name in names:
        p, n = streams[name]
        kept = activations[engine_name(name)]
        scale = max(p.abs().max().item(), n.abs().max().item())
        for actual, expected, which in ((kept.pos, p, "a+"), (kept.neg, n, "a-")):
            error = (actual - expected).abs().max().item() / scale
            assert error <= 1e-12, f"{strategy} {name} {which}: relative error {error:.2e}"


def test_the_constants_matter_on_this_net():
    """Guard: θ, Θ and the strategy each change the streams by far more than the tolerance above, and Θ splits the
    units (threshold differs from both "scale" and "none", i.e. some units are shifted and some are not)."""
    g = {strategy: _reference(strategy)[0] for strategy in ("none", "shift", "scale", "threshold")}
    g_default_theta = _reference("scale", theta=0.1)[0]
    g_other_threshold = _reference("threshold", threshold=5.0)[0]

    def differs(a, b):
        return ((a - b).abs() > 1e-3 * b.abs()).all()

    assert differs(g["scale"], g_default_theta)
    assert differs(g["threshold"], g["scale"]) and differs(g["threshold"], g["none"])
    assert differs(g["threshold"], g_other_threshold)
    assert differs(g["shift"], g["scale"])
