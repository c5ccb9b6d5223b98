"""SplitLRP through every ReLU-family activation the split supports (ReLU6, LeakyReLU, Hardtanh; issue 14 item 4).

Independent cross-check: each activation written with its DC pieces as explicit ReLUs, sums and constants
(``ReLU6(y) = relu(y) − relu(y − 6)``, ...) is split by the engine's generic rules (Maxout, linear combination,
constant), so SplitLRP of the two networks must agree; plus the conservation properties the ReLU tests check.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import hidden_monotonicity as hm


class Explicit(nn.Module):
    """An activation written with its pieces as explicit ReLUs, sums and constants."""

    def __init__(self, kind: str, **params):
        super().__init__()
        self.kind, self.params = kind, params

    def forward(self, y):
        if self.kind == "ReLU6":
            return torch.relu(y) - torch.relu(y - 6.0)
        if self.kind == "LeakyReLU":
            slope = self.params["negative_slope"]
            return slope * y + (1.0 - slope) * torch.relu(y)
        low, high = self.params["min_val"], self.params["max_val"]
        return low + torch.relu(y - low) - torch.relu(y - high)


ACTIVATIONS = {
    "ReLU6": (lambda: nn.ReLU6(), {}),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), {"negative_slope": 0.2}),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 1.5), {"min_val": -0.5, "max_val": 1.5}),
}


def _net(activation: nn.Module, bias: bool, seed: int = 0, scale: float = 4.0) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=bias), activation, nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, bias=bias), type(activation)(*_args(activation)), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Linear(32, 16, bias=bias), type(activation)(*_args(activation)), nn.Linear(16, 5, bias=bias),
    )
    with torch.no_grad():  # large enough pre-activations that every piece of the activation is used
        for module in model:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.mul_(scale)
    return model.eval().double()


def _args(activation: nn.Module) -> tuple:
    if isinstance(activation, nn.LeakyReLU):
        return (activation.negative_slope,)
    if type(activation) is nn.Hardtanh:
        return (activation.min_val, activation.max_val)
    return ()


def _explicit_twin(model: nn.Sequential, kind: str, params: dict) -> nn.Sequential:
    twin = nn.Sequential(*[Explicit(kind, **params) if isinstance(m, (nn.ReLU6, nn.LeakyReLU, nn.Hardtanh)) else m
                           for m in model])
    return twin.eval()


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randn(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", list(ACTIVATIONS))
def test_every_piece_is_used_by_the_test_inputs(kind):
    """Guard of the tests below: the pre-activations cross every threshold of the activation."""
    build, params = ACTIVATIONS[kind]
    model = _net(build(), bias=True)
    seen = []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o))
    model(_x())
    low, high = {"ReLU6": (0.0, 6.0), "LeakyReLU": (0.0, 0.0), "Hardtanh": (-0.5, 1.5)}[kind]
    assert (seen[0] < low).any() and (seen[0] > high).any() and ((seen[0] > low) & (seen[0] < high)).any() | (low == high)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("maxpool", ["wta", "dc"])
@pytest.mark.parametrize("kind", list(ACTIVATIONS))
def test_splitlrp_equals_splitlrp_of_the_explicit_dc_pieces(kind, maxpool, bias):
    build, params = ACTIVATIONS[kind]
    model = _net(build(), bias=bias)
    twin = _explicit_twin(model, kind, params)
    x, targets = _x(), [0, 3, 4]
    torch.testing.assert_close(model(x), twin(x), rtol=0, atol=1e-12)
    split = hm.decompose(model, stabilize="none", maxpool=maxpool)
    reference = hm.decompose(twin, stabilize="none", maxpool=maxpool)
    got = split.relevance(x, targets, ["input", "3"], epsilon=1e-12)
    expected = reference.relevance(x, targets, ["input", "3"], epsilon=1e-12)
    torch.testing.assert_close(got.g, expected.g, rtol=1e-12, atol=1e-12)
    for layer in ("input", "3"):
        for stream in ("pos", "neg"):
            value, want = getattr(got[layer], stream), getattr(expected[layer], stream)
            torch.testing.assert_close(value, want, rtol=1e-8, atol=1e-9 * want.abs().max().item())


@pytest.mark.parametrize("stabilize", ["none", "scale", "shift"])
def test_leaky_relu_splitlrp_conserves_the_targets_g_without_biases(stabilize):
    """LeakyReLU has no constants: as for ReLU, Σ(R⁺ + R⁻) at the input = g of the target up to ε."""
    model = _net(nn.LeakyReLU(0.2), bias=False)
    x, targets = _x(), [0, 3, 4]
    result = hm.decompose(model, stabilize=stabilize).relevance(x, targets, ["input", "4"], epsilon=1e-12)
    for layer in ("input", "4"):
        total = (result[layer].pos + result[layer].neg).flatten(1).sum(1)
        torch.testing.assert_close(total, result.g, rtol=1e-8, atol=1e-9)
    assert (result["input"].pos >= 0).all() and (result["input"].neg >= 0).all()


@pytest.mark.parametrize("stabilize", ["none", "scale"])
@pytest.mark.parametrize("kind", ["ReLU6", "Hardtanh"])
def test_thresholds_absorb_relevance_like_biases(kind, stabilize):
    """The thresholds of ReLU6/Hardtanh enter the streams as constants and keep their share (as biases do):
    0 <= Σ(R⁺ + R⁻) at the input < g, all relevance non-negative and finite."""
    build, _ = ACTIVATIONS[kind]
    model = _net(build(), bias=False)
    x, targets = _x(), [0, 3, 4]
    result = hm.decompose(model, stabilize=stabilize).relevance(x, targets, ["input"], epsilon=1e-12)
    total = (result["input"].pos + result["input"].neg).flatten(1).sum(1)
    assert torch.isfinite(total).all() and (total > 0).all() and (total < result.g).all()
    assert (result["input"].pos >= 0).all() and (result["input"].neg >= 0).all()


@pytest.mark.parametrize("kind", list(ACTIVATIONS))
def test_splitlrp_through_hm_explain_gives_finite_non_zero_maps(kind):
    build, _ = ACTIVATIONS[kind]
    model = _net(build(), bias=True).float()
    maps = hm.explain(model, _x().float(), [0, 1, 2], "splitlrp")
    assert maps.shape == (3, 1, 8, 8) and torch.isfinite(maps).all() and (maps.abs().flatten(1).sum(1) > 0).all()
