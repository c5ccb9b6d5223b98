"""The two α-shift modes of ``SplitNetwork.sensitivities`` (paper B.3; issue 26.9).

Both modes must meet the paper's end points: α = 0 is the true split gradient, α = 0.5 makes ``δ^{+,g}`` a
gradient multiple (``½·∂f/∂a`` with the unit seed). ``"closed_form"`` shifts once on every path (after the topmost
shifting layer) and is affine in α, ``δ(α) = (1 − 2α)·δ(0) + 2α·δ(½)``; before issue 26.9 it shifted once at the
read-out layer, which gave ``½(δ^{+,g} − δ^{−,g})_{α=0}`` at α = 0.5 (not a gradient multiple, in exact arithmetic).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import hidden_monotonicity as hm
from decomposition_nets import mlp, small_cnn, tiny_residual
from reference import GraphNet, Node, reference_graph_split
from reference_nets import build, engine_name, residual_inputs

MODES = ("iterative", "closed_form")
FIELDS = ("delta_pos_g", "delta_neg_g", "delta_pos_h", "delta_neg_h")


def _input_gradient(model, x, targets):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).gather(1, targets[:, None]).sum(), x)
    return grad


def _shallow(name):
    generator = torch.Generator().manual_seed(3)
    if name == "mlp":  # one hidden ReLU layer: common mode O(1), exact in float64
        return mlp(widths=(6, 16, 5)), torch.randn(6, 6, dtype=torch.float64, generator=generator)
    if name == "small_cnn":
        return small_cnn(), torch.randn(4, 3, 8, 8, dtype=torch.float64, generator=generator)
    return tiny_residual(), torch.randn(4, 3, 8, 8, dtype=torch.float64, generator=generator)


@pytest.mark.parametrize("net", ["mlp", "small_cnn", "tiny_residual"])
@pytest.mark.parametrize("mode", MODES)
def test_half_alpha_gives_half_the_gradient_in_both_modes(mode, net):
    """Before issue 26.9, closed_form at α = 0.5 gave −½|W₂| at the dead units of a one-hidden-layer MLP, where
    the gradient is 0 (max error 0.19 against a gradient of max 0.16; correlation 0.07)."""
    model, x = _shallow(net)
    targets = torch.arange(x.shape[0]) % 3
    gradient = _input_gradient(model, x, targets)
    record = hm.decompose(model, stabilize="none").sensitivities(x, targets, ["input"], alpha=0.5, alpha_mode=mode)["input"]
    scale = gradient.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(record.delta_pos_g, 0.5 * gradient, rtol=0, atol=1e-12 * scale)
    torch.testing.assert_close(record.delta_neg_g, -0.5 * gradient, rtol=0, atol=1e-12 * scale)  # antisymmetric pair
    torch.testing.assert_close(record.delta_pos_h, -0.5 * gradient, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("mode", MODES)
def test_half_alpha_gives_half_the_gradient_on_a_deep_net_whose_common_mode_dwarfs_the_gradient(mode):
    """12 hidden layers: the exact (α = 0) common mode δ⁺ + δ⁻ at the input is > 10⁸ times the gradient, yet both
    modes give ½·∂f/∂x at α = 0.5 to float64 round-off relative to the gradient: neither mode subtracts two large
    numbers there (the common mode is multiplied by 1 − 2α = 0 exactly, before it reaches any Maxout), so no warning
    or refusal is needed."""
    model = mlp(widths=(6,) + (32,) * 12 + (5,), seed=1)
    x = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    targets = torch.tensor([0, 1, 2, 4])
    split = hm.decompose(model, stabilize="none")
    gradient = _input_gradient(model, x, targets)
    exact = split.sensitivities(x, targets, ["input"], alpha=0.0)["input"]
    common = (exact.delta_pos_g + exact.delta_neg_g).abs().max().item()
    scale = gradient.abs().max().item()
    assert common > 1e8 * scale, f"common mode {common:.2e}, gradient {scale:.2e}: the net is not deep enough to test"
    record = split.sensitivities(x, targets, ["input"], alpha=0.5, alpha_mode=mode)["input"]
    torch.testing.assert_close(record.delta_pos_g, 0.5 * gradient, rtol=0, atol=1e-9 * scale)
    torch.testing.assert_close(record.delta_neg_h, 0.5 * gradient, rtol=0, atol=1e-9 * scale)


def _join_net():
    """``head(cat(relu(z), z))`` with ``z = lin(x)``: with ``shift_output=False`` the path through ``cat`` reaches
    ``z`` unshifted and the path through the ReLU shifted, so closed_form must shift the first part at ``lin``."""
    torch.manual_seed(4)
    nodes = [
        Node("lin", nn.Linear(5, 6), ["input"]),
        Node("relu", nn.ReLU(), ["lin"]),
        Node("cat", "cat", ["relu", "lin"]),
        Node("head", nn.Linear(12, 3), ["cat"]),
    ]
    return nodes, GraphNet(nodes).eval().double()


@pytest.mark.parametrize("shift_output", [True, False])
@pytest.mark.parametrize("alpha", [0.2, 0.4])
@pytest.mark.parametrize("net", ["residual", "join"])
def test_closed_form_equals_the_reference_at_every_layer(net, alpha, shift_output):
    """The engine's one-pass closed form equals the reference's definition ``(1 − 2α)·δ(0) + 2α·δ(½)``, on a
    residual DAG (branch points, adds, cat) and on a graph where a shifted and an unshifted path join."""
    if net == "residual":
        nodes, model = build()
        x = residual_inputs("center")
    else:
        nodes, model = _join_net()
        x = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    targets = torch.arange(x.shape[0]) % 3
    _, _, reference, _ = reference_graph_split(nodes, x, targets, alpha=alpha, shift_output=shift_output, closed_form=True)
    split = hm.decompose(model, stabilize="none")
    result = split.sensitivities(x, targets, split.layer_names, alpha=alpha, alpha_mode="closed_form",
                                 shift_output=shift_output)
    for name in ["input"] + [node.name for node in nodes]:
        expected = reference[name]
        scale = max(e.abs().max().item() for e in expected) + 1e-300
        for field, e in zip(FIELDS, expected):
            error = (getattr(result[engine_name(name)], field) - e).abs().max().item() / scale
            assert error <= 1e-10, f"{name} {field}: relative error {error:.2e}"


def test_the_modes_differ_between_the_end_points_and_agree_at_them():
    """Guard: the two modes are different readings for 0 < α < 0.5 (else the tests above prove nothing about
    closed_form), identical at α = 0 and α = 0.5."""
    model, x = _shallow("small_cnn")
    targets = torch.tensor([0, 1, 2, 3])
    split = hm.decompose(model, stabilize="none")

    def delta(alpha, mode):
        return split.sensitivities(x, targets, ["input"], alpha=alpha, alpha_mode=mode)["input"].delta_pos_g

    for alpha in (0.0, 0.5):
        torch.testing.assert_close(delta(alpha, "closed_form"), delta(alpha, "iterative"), rtol=1e-12, atol=1e-15)
    iterative, closed = delta(0.3, "iterative"), delta(0.3, "closed_form")
    assert (iterative - closed).abs().max() > 1e-3 * closed.abs().max()


def test_an_unknown_alpha_mode_is_refused():
    model, x = _shallow("mlp")
    with pytest.raises(ValueError, match="unknown alpha_mode 'once'; choose one of iterative, closed_form"):
        hm.decompose(model).sensitivities(x, 0, alpha=0.3, alpha_mode="once")
