"""LRP relevance at an intermediate layer (``layer`` of lrp_gamma, lrp_epsilon, lrp_epsilon_plus_flat; issue 26).

Independent checks, exact up to the rules' stabiliser (1e-6 added to every denominator, float64):

* LRP-0 (``lrp_gamma`` with gamma = 0; epsilon on the linear head, 1e-6) on a bias-free ReLU net propagates
  ``R^(l) = a^(l) * d f_t / d a^(l)`` at every layer above the first convolution: compared with plain autograd;
* the same relevance sums, at every layer, to the target logit (conservation of LRP-0 without biases);
* ``layer="input"`` (the default) is the map zennit's ``Gradient`` attributor returns for the same composite.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hidden_monotonicity as hm
from hidden_monotonicity.methods.layers import layer_candidates, method_default_layer
from hidden_monotonicity.methods.registry import get_method

LRP_METHODS = ("lrp_gamma", "lrp_epsilon", "lrp_epsilon_plus_flat")


def _tiny_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 5, 3, padding=1, bias=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(5 * 4 * 4, 3, bias=False),
    )
    with torch.no_grad():  # logits of order 1-10, so the stabiliser's 1e-6 stays small next to every pre-activation
        for parameter in net.parameters():
            parameter.mul_(3.0)
    return net.double().eval()


@pytest.fixture(scope="module")
def setup():
    net = _tiny_net()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    targets = net(x).argmax(dim=1)
    return net, x, targets


def _activation_times_gradient(net: nn.Module, x: torch.Tensor, targets: torch.Tensor, layer: str) -> torch.Tensor:
    """``sum_c a_c * d f_t / d a_c`` at ``layer``'s output, at the layer's resolution (plain autograd)."""
    captured = {}
    handle = dict(net.named_modules())[layer].register_forward_hook(lambda m, i, o: captured.setdefault("a", o))
    try:
        logits = net(x.clone().requires_grad_(True))
    finally:
        handle.remove()
    activation = captured["a"]
    (gradient,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), activation)
    return (activation * gradient).sum(dim=1, keepdim=True).detach()


def _raw_lrp0(net, x, targets, layer):
    """The library's raw (not upsampled) map: lrp_gamma's function with gamma = 0 (LRP-0 on the convolutions)."""
    spec = get_method("lrp_gamma")
    return spec.function(net, x, targets, **{**spec.defaults, "gamma": 0.0, "layer": layer})


@pytest.mark.parametrize("layer", ["1", "2", "3", "4", "5", "6"])
def test_lrp0_relevance_at_a_layer_is_activation_times_gradient(setup, layer) -> None:
    net, x, targets = setup
    relevance = _raw_lrp0(net, x, targets, layer)
    expected = _activation_times_gradient(net, x, targets, layer)
    assert relevance.shape == expected.shape
    scale = float(expected.abs().max())
    assert scale > 1e-3  # not a vacuous comparison of zeros
    # the rules' stabiliser (1e-6 added to every denominator) moves a value by ~1e-6 / |z| of the map's scale
    torch.testing.assert_close(relevance, expected, rtol=1e-5, atol=1e-4 * scale)


@pytest.mark.parametrize("layer", ["2", "4", "5", "6"])
def test_lrp0_relevance_at_every_layer_sums_to_the_target_logit(setup, layer) -> None:
    net, x, targets = setup
    relevance = _raw_lrp0(net, x, targets, layer)
    with torch.no_grad():
        logit = net(x).gather(1, targets[:, None])[:, 0]
    torch.testing.assert_close(relevance.sum(dim=(1, 2, 3)), logit, rtol=1e-5, atol=1e-7)


def test_explain_upsamples_the_layer_map_like_a_cam(setup) -> None:
    net, x, targets = setup
    maps = hm.explain(net, x, targets, "lrp_gamma", layer="5")  # 4 x 4 after the max-pool
    raw = get_method("lrp_gamma").function(net, x, targets, **{**get_method("lrp_gamma").defaults, "layer": "5"})
    assert raw.shape == (2, 1, 4, 4) and maps.shape == (2, 1, 8, 8)
    expected = torch.nn.functional.interpolate(raw, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(maps, expected.float())


@pytest.mark.parametrize("method", LRP_METHODS)
def test_the_input_layer_is_the_zennit_attribution_unchanged(setup, method) -> None:
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.types import Linear

    net, x, targets = setup
    composites = {
        "lrp_gamma": lambda: EpsilonGammaBox(low=x.amin(dim=(2, 3), keepdim=True), high=x.amax(dim=(2, 3), keepdim=True),
                                             epsilon=1e-6, gamma=0.25),
        "lrp_epsilon": lambda: LayerMapComposite(layer_map=layer_map_base() + [(Linear, Epsilon(epsilon=1e-6))]),
        "lrp_epsilon_plus_flat": lambda: EpsilonPlusFlat(epsilon=1e-6),
    }
    one_hot = torch.nn.functional.one_hot(targets, 3).double()
    with Gradient(model=net, composite=composites[method]()) as attributor:
        _, relevance = attributor(x, lambda output: output * one_hot)
    reference = relevance.sum(dim=1, keepdim=True).float()
    default = hm.explain(net, x, targets, method)
    assert reference.abs().max() > 1e-3
    torch.testing.assert_close(default, reference)
    torch.testing.assert_close(hm.explain(net, x, targets, method, layer="input"), reference)


@pytest.mark.parametrize("method", LRP_METHODS)
def test_every_lrp_method_reads_a_layer_and_defaults_to_the_input(setup, method) -> None:
    net, x, targets = setup
    spec = get_method(method)
    assert spec.needs_layer and spec.defaults["layer"] == "input"
    assert method_default_layer(net, method) == "input"
    assert layer_candidates(net, spec, x)[0] == "input" and "6" in layer_candidates(net, spec, x)
    at_layer = hm.explain(net, x, targets, method, layer="4")
    assert at_layer.shape == (2, 1, 8, 8) and torch.isfinite(at_layer).all()
    assert not torch.allclose(at_layer, hm.explain(net, x, targets, method))


def test_layer_errors_say_what_to_do(setup) -> None:
    net, x, targets = setup
    with pytest.raises(ValueError, match=r"lrp_gamma: unknown layer 'features\.9'.*'input'"):
        hm.explain(net, x, targets, "lrp_gamma", layer="features.9")
    with pytest.raises(ValueError, match=r"lrp_gamma at layer '8'.*not a \(N, C, h, w\) feature map; choose a convolutional"):
        hm.explain(net, x, targets, "lrp_gamma", layer="8")
