"""Theorem 1: g − h = f, on torchvision architectures and small nets, for every stabilisation and max-pool mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

import hidden_monotonicity as hm
from decomposition_nets import mlp, small_cnn, tiny_residual
from reference import reference_split

STRATEGIES = ["none", "shift", "scale", "threshold"]


def relative_error(out, f):
    return ((out.g - out.h) - f).abs().max().item() / f.abs().max().item()


@pytest.mark.parametrize("name", ["vgg16", "vgg11_bn", "resnet18", "resnet50", "alexnet"])
def test_torchvision_float64_reconstruction(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    size = 64 if name != "alexnet" else 96
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        f = model.double()(x.double())
    out = hm.decompose(model)(x)
    assert out.g.shape == out.h.shape == f.shape
    assert relative_error(out, f) <= 1e-10
    assert (out.g >= 0).all() and (out.h >= 0).all(), "streams of a non-negative split must be non-negative"


@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
@pytest.mark.parametrize("strategy", ["shift", "scale"])
def test_torchvision_float32_stabilised_reconstruction_224(name, strategy):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        f = model.double()(x.double())
    out = hm.decompose(model.float(), dtype=torch.float32, stabilize=strategy)(x)
    assert out.g.dtype == torch.float32
    assert relative_error(out, f) <= 1e-4


def test_without_stabilisation_float32_loses_the_difference_on_deep_nets():
    """Paper B.1: the common mode grows multiplicatively; without stabilisation g and h dwarf f."""
    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    out = hm.decompose(model, stabilize="none")(x)
    with torch.no_grad():
        f = model.double()(x.double())
    assert out.g.max().item() / f.abs().max().item() > 1e8


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("maxpool", ["wta", "dc"])
@pytest.mark.parametrize("factory", [mlp, small_cnn, tiny_residual])
def test_small_nets_every_strategy_and_maxpool_mode(factory, strategy, maxpool):
    model = factory()
    in_shape = (5, 6) if factory is mlp else (5, 3, 8, 8)
    x = torch.randn(*in_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        f = model(x)
    out = hm.decompose(model, stabilize=strategy, maxpool=maxpool)(x)
    assert relative_error(out, f) <= 1e-12


@pytest.mark.parametrize("maxpool", ["wta", "dc"])
def test_streams_equal_the_naive_four_product_reference(maxpool):
    """Without stabilisation the engine's g and h (not only g − h) equal the explicit W⁺/W⁻ streams."""
    model = small_cnn(pool="max")
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    targets = torch.tensor([0, 1, 2, 3])
    g_ref, h_ref, _ = reference_split(model, x, targets, maxpool=maxpool)
    out = hm.decompose(model, stabilize="none", maxpool=maxpool)(x)
    torch.testing.assert_close(out.g.gather(1, targets[:, None]).squeeze(1), g_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.h.gather(1, targets[:, None]).squeeze(1), h_ref, rtol=1e-12, atol=1e-12)


def test_stabilisation_keeps_streams_small_and_non_negative():
    torch.manual_seed(0)
    model = torchvision.models.vgg11_bn(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    raw = hm.decompose(model, stabilize="none")(x)
    for strategy in ("shift", "scale", "threshold"):
        out = hm.decompose(model, stabilize=strategy)(x)
        assert (out.g >= 0).all() and (out.h >= 0).all()
        assert out.g.max() < raw.g.max() * 1e-6


def test_batchnorm_fold_equals_batchnorm_output():
    from hidden_monotonicity.decomposition.rules import batchnorm_rule

    bn = nn.BatchNorm2d(5)
    generator = torch.Generator().manual_seed(0)
    bn.running_mean.copy_(torch.randn(5, generator=generator))
    bn.running_var.copy_(torch.rand(5, generator=generator) + 0.1)
    bn.weight.data.copy_(torch.randn(5, generator=generator))
    bn.bias.data.copy_(torch.randn(5, generator=generator))
    bn.eval().double()
    rule = batchnorm_rule(bn)
    rule.to(torch.device("cpu"), torch.float64)
    x = torch.randn(3, 5, 4, 4, dtype=torch.float64, generator=generator)
    torch.testing.assert_close(rule.apply(x, absolute=False), bn(x), rtol=1e-13, atol=1e-13)
    # the + and − streams of the fold are the sign-split scale and shift
    assert (rule.apply(x.abs(), absolute=True) >= 0).all()


@pytest.mark.parametrize("maxpool", ["wta", "dc"])
@pytest.mark.parametrize(
    "pool",
    [nn.MaxPool2d(2), nn.MaxPool2d(3, 2, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True), nn.MaxPool2d(3, 1)],
)
def test_both_maxpool_modes_reconstruct_exactly(pool, maxpool):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), pool, nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    x = torch.randn(2, 2, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model(x.float())
    model = model.eval().double()
    with torch.no_grad():
        f = model(x)
    out = hm.decompose(model, stabilize="none", maxpool=maxpool)(x)
    assert relative_error(out, f) <= 1e-12


@pytest.mark.parametrize(
    "activation", [nn.LeakyReLU(0.1), nn.LeakyReLU(-0.3), nn.ReLU6(), nn.Hardtanh(-0.5, 1.5), nn.Hardtanh()]
)
def test_piecewise_linear_activations(activation):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), activation, nn.Linear(8, 8), activation, nn.Linear(8, 3)).eval().double()
    x = 3 * torch.randn(16, 4, dtype=torch.float64)
    with torch.no_grad():
        f = model(x)
    for strategy in ("none", "scale"):
        out = hm.decompose(model, stabilize=strategy)(x)
        assert relative_error(out, f) <= 1e-12
        assert (out.g >= -1e-12).all() and (out.h >= -1e-12).all()


def test_positive_input_split():
    model = mlp()
    x = torch.rand(4, 6, dtype=torch.float64)
    with torch.no_grad():
        f = model(x)
    out = hm.decompose(model, input_split="positive", stabilize="none")(x)
    assert relative_error(out, f) <= 1e-12


def test_forward_streams_theorem_1_on_arbitrary_stream_pairs():
    """g(x⁺, x⁻) − h(x⁺, x⁻) = f(x⁺ − x⁻) for any non-negative pair, not only the centred split."""
    model = tiny_residual()
    generator = torch.Generator().manual_seed(7)
    x_pos = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=generator)
    x_neg = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=generator)
    out = hm.decompose(model, stabilize="none").forward_streams(x_pos, x_neg)
    with torch.no_grad():
        f = model(x_pos - x_neg)
    assert relative_error(out, f) <= 1e-12
