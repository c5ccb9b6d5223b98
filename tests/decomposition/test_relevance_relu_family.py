"""SplitLRP through every ReLU-family activation the split supports (ReLU6, LeakyReLU, Hardtanh; issue 14 item 4).

Independent cross-check: LeakyReLU written with its DC pieces as an explicit sum ``ν·y + (1 − ν)·relu(y)`` is split
by the engine's generic rules (scalar product, sum, ReLU Maxout), so SplitLRP of the two networks must agree. ReLU6 and
Hardtanh have constants (thresholds) in their DC form, which keep no relevance (as ReLU has no constant), so the
conservation tests of ReLU hold for all three: Σ(R⁺ + R⁻) = g at every layer of a bias-free network.
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
def test_leaky_relu_splitlrp_equals_splitlrp_of_its_explicit_dc_pieces(maxpool, bias):
    kind = "LeakyReLU"
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


@pytest.mark.parametrize("maxpool", ["wta", "dc"])
@pytest.mark.parametrize("stabilize", ["none", "scale", "shift"])
@pytest.mark.parametrize("kind", list(ACTIVATIONS))
def test_splitlrp_conserves_the_targets_g_without_biases(kind, stabilize, maxpool):
    """As for ReLU: Σ(R⁺ + R⁻) at every layer = g of the target up to ε, R⁺, R⁻ >= 0; the map is Σ_c R⁺ − R⁻."""
    build, _ = ACTIVATIONS[kind]
    model = _net(build(), bias=False)
    x, targets = _x(), [0, 3, 4]
    result = hm.decompose(model, stabilize=stabilize, maxpool=maxpool).relevance(
        x, targets, ["input", "1", "4", "8"], epsilon=1e-12
    )
    for layer in ("input", "1", "4", "8"):
        total = (result[layer].pos + result[layer].neg).flatten(1).sum(1)
        torch.testing.assert_close(total, result.g, rtol=1e-8, atol=1e-9)
        assert (result[layer].pos >= 0).all() and (result[layer].neg >= 0).all()
    maps = hm.explain(model, x, targets, "splitlrp", stabilize=stabilize, maxpool=maxpool, epsilon=1e-12)
    signed = (result["input"].pos - result["input"].neg).sum(1, keepdim=True)
    torch.testing.assert_close(maps.double(), signed, rtol=1e-5, atol=1e-6 * signed.abs().max().item())


def test_biases_absorb_relevance_through_the_relu_family_too():
    model = _net(nn.ReLU6(), bias=True)
    with torch.no_grad():
        for module in model:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.bias.abs_()
    result = hm.decompose(model, stabilize="none").relevance(_x(), [0, 1, 2], ["input"], epsilon=1e-12)
    total = (result["input"].pos + result["input"].neg).flatten(1).sum(1)
    assert (total >= 0).all() and (total < result.g).all()


@pytest.mark.parametrize("kind", list(ACTIVATIONS))
def test_splitlrp_through_hm_explain_gives_finite_non_zero_maps(kind):
    build, _ = ACTIVATIONS[kind]
    model = _net(build(), bias=True).float()
    maps = hm.explain(model, _x().float(), [0, 1, 2], "splitlrp")
    assert maps.shape == (3, 1, 8, 8) and torch.isfinite(maps).all() and (maps.abs().flatten(1).sum(1) > 0).all()
