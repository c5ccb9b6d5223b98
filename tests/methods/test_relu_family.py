"""Baselines on the whole ReLU family (issue 24, case 11): ReLU6, Hardtanh and LeakyReLU networks.

captum's Guided Backprop modified only ``nn.ReLU`` and its DeepLift had no rule for ``nn.ReLU6``/``nn.Hardtanh``, so on
EfficientNet-Lite0 (all ReLU6) Guided Backprop equalled Saliency bit for bit. Every baseline must now either apply
its rule to the whole family or refuse with a message naming the module type.

The central check: ``ReLU6(x) == ReLU(x)`` wherever ``x < 6``, so on a net whose pre-activations all stay below 6 every
method must give the same map with ReLU6 (or Hardtanh(0, 6)) as with ReLU. Tiny nets (3 -> 4 -> 4 channels, 8 x 8 px).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import hidden_monotonicity as hm

#: cheap settings for the slow baselines (the defaults are tested in test_baselines.py)
CHEAP = {
    "integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_samples": 4},
    "occlusion": {"window": 4, "stride": 2},
    "feature_ablation": {"patch_size": 4},
}
TARGETS = [0, 3]


def _baselines() -> list[str]:
    return [name for name, spec in hm.methods().items() if spec.family != "split"]


def _tiny_net(
    activation: type[nn.Module] | nn.Module, seed: int = 0, scale: float = 1.0, pool: bool = True
) -> nn.Module:
    """conv(3->4) act conv(4->4) act [maxpool] flatten linear(->5); ``scale`` multiplies the conv weights (large
    values drive ReLU6 into saturation). ``activation``: a class or a module instance, copied per use."""
    torch.manual_seed(seed)
    make = (lambda: copy.deepcopy(activation)) if isinstance(activation, nn.Module) else activation
    layers = [nn.Conv2d(3, 4, 3, padding=1), make(), nn.Conv2d(4, 4, 3, padding=1), make()]
    layers += [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 5)] if pool else [nn.Flatten(), nn.Linear(4 * 64, 5)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for index in (0, 2):
            model[index].weight.mul_(scale)
    return model.eval()


def _with_activation(model: nn.Module, activation: nn.Module) -> nn.Module:
    """A copy of ``model`` with the same weights and each activation replaced by a copy of ``activation``."""
    swapped = copy.deepcopy(model)
    for index in (1, 3):
        swapped[index] = copy.deepcopy(activation)
    return swapped.eval()


def _x(seed: int = 1) -> torch.Tensor:
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def _pre_activations(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        first = model[0](x)
        return torch.cat([first.flatten(), model[2](model[1](first)).flatten()])


@pytest.mark.parametrize("activation", [nn.ReLU6(), nn.Hardtanh(0.0, 6.0)], ids=["ReLU6", "Hardtanh(0,6)"])
@pytest.mark.parametrize("method", _baselines())
def test_every_baseline_gives_the_relu_map_on_a_relu6_net_that_never_saturates(method, activation) -> None:
    relu_net = _tiny_net(nn.ReLU)
    x = _x()
    assert _pre_activations(relu_net, x).max() < 6, "the comparison needs a net whose activations never saturate"
    family_net = _with_activation(relu_net, activation)
    expected = hm.explain(relu_net, x, TARGETS, method, **CHEAP.get(method, {}))
    try:
        maps = hm.explain(family_net, x, TARGETS, method, **CHEAP.get(method, {}))
    except ValueError as error:  # a refusal must name the module type
        assert type(activation).__name__ in str(error)
        return
    scale = expected.abs().amax().clamp_min(1e-12)
    torch.testing.assert_close(maps / scale, expected / scale, rtol=0, atol=1e-5)


class _GuidedClamp(torch.autograd.Function):
    """clamp(x, 0, 6) whose backward is Guided Backprop's rule: relu(grad) where 0 < x < 6, else 0."""

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x)
        return x.clamp(0.0, 6.0)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * ((x > 0) & (x < 6)).to(grad.dtype)


def test_guided_backprop_applies_its_rule_at_saturated_relu6_units() -> None:
    """On a ReLU6 net that does saturate, Guided Backprop is the gradient of the net whose ReLU6 backward is
    "positive gradients only, only where 0 < x < 6" - and no longer equals Saliency (the EfficientNet-Lite0 symptom)."""
    model = _tiny_net(nn.ReLU6, scale=6.0)
    x = 2 * _x()
    pre = _pre_activations(model, x)
    assert (pre > 6).any() and (pre < 0).any()

    def guided_forward(inputs: torch.Tensor) -> torch.Tensor:
        hidden = _GuidedClamp.apply(model[0](inputs))
        hidden = _GuidedClamp.apply(model[2](hidden))
        return model[6](model[5](model[4](hidden)))

    inputs = x.clone().requires_grad_(True)
    logits = guided_forward(inputs)
    (gradient,) = torch.autograd.grad(logits[torch.arange(2), torch.tensor(TARGETS)].sum(), inputs)
    guided = hm.explain(model, x, TARGETS, "guided_backprop")
    torch.testing.assert_close(guided, gradient.sum(dim=1, keepdim=True), rtol=1e-5, atol=1e-7)
    assert (guided - hm.explain(model, x, TARGETS, "saliency")).abs().max() > 1e-3 * guided.abs().max()


def test_guided_backprop_differs_from_saliency_on_efficientnet_lite0() -> None:
    """The reported case: EfficientNet-Lite0 (ReLU6 throughout; random weights, 32 px, one image)."""
    from hidden_monotonicity.models.efficientnet_lite import EfficientNetLite

    torch.manual_seed(0)
    model = EfficientNetLite(num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    guided = hm.explain(model, x, 3, "guided_backprop")
    saliency = hm.explain(model, x, 3, "saliency")
    assert (guided - saliency).abs().max() > 1e-2 * saliency.abs().max()


@pytest.mark.parametrize(
    "activation",
    [nn.ReLU6(), nn.Hardtanh(0.0, 6.0), nn.Hardtanh(), nn.LeakyReLU(0.1), nn.GELU(), nn.SiLU(), nn.ReLU()],
    ids=lambda module: repr(module),
)
def test_deeplift_sums_to_the_logit_difference_on_every_activation(activation) -> None:
    """DeepLIFT's summation-to-delta: sum of the map = f_t(x) - f_t(baseline), which needs the Rescale rule at every
    activation (captum passed plain gradients at ReLU6 and Hardtanh, which breaks it where they saturate)."""
    model = _with_activation(_tiny_net(nn.ReLU, scale=6.0, pool=False), activation)
    x = 2 * _x()
    maps = hm.explain(model, x, TARGETS, "deeplift", baseline=0.0)
    with torch.no_grad():
        delta = model(x)[torch.arange(2), TARGETS] - model(torch.zeros_like(x))[torch.arange(2), TARGETS]
    torch.testing.assert_close(maps.sum(dim=(1, 2, 3)), delta, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["lrp_epsilon", "lrp_gamma", "lrp_epsilon_plus_flat"])
@pytest.mark.parametrize("activation", [nn.ReLU6(), nn.Hardtanh(0.0, 6.0), nn.LeakyReLU(0.1)], ids=repr)
def test_zennit_relevance_is_conserved_through_saturated_and_leaky_units(method, activation) -> None:
    """zennit gives every activation module zennit's Pass rule (``zennit.types.Activation`` holds ReLU6, Hardtanh and
    LeakyReLU), so with zero biases the relevance still sums to the target logit where ReLU6 saturates."""
    model = _with_activation(_tiny_net(nn.ReLU, scale=6.0, pool=False), activation)
    with torch.no_grad():
        for module in model:
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
    x = 2 * _x()
    assert (_pre_activations(model, x) > 6).any()
    maps = hm.explain(model, x, TARGETS, method, zero_bias=True)
    with torch.no_grad():
        logits = model(x)[torch.arange(2), TARGETS]
    torch.testing.assert_close(maps.sum(dim=(1, 2, 3)), logits, rtol=1e-3, atol=1e-4)


#: baselines whose rule is not defined on LeakyReLU-like activations and that therefore refuse them
REFUSED_ON_RELU_LIKE = {"guided_backprop"}


@pytest.mark.parametrize(
    "activation",
    [nn.LeakyReLU(0.1), nn.Hardtanh(), nn.PReLU(), nn.GELU(), nn.SiLU()],
    ids=lambda module: type(module).__name__ + ("(-1,1)" if isinstance(module, nn.Hardtanh) else ""),
)
@pytest.mark.parametrize("method", _baselines())
def test_every_baseline_on_a_relu_like_net_either_runs_or_refuses_naming_the_module_type(method, activation) -> None:
    model = _with_activation(_tiny_net(nn.ReLU), activation)
    x = _x()
    if method in REFUSED_ON_RELU_LIKE:
        with pytest.raises(ValueError, match=rf"{method}: .*rule.*{type(activation).__name__} .*'1'"):
            hm.explain(model, x, TARGETS, method, **CHEAP.get(method, {}))
        return
    maps = hm.explain(model, x, TARGETS, method, **CHEAP.get(method, {}))
    assert maps.shape == (2, 1, 8, 8) and torch.isfinite(maps).all() and maps.abs().sum() > 0


class _FunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.nn.functional.relu6(self.conv(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", ["guided_backprop", "deeplift"])
def test_module_rules_refuse_activations_applied_as_functions(method) -> None:
    """F.relu6 in forward: no module hook can see it, so the rule would silently not be applied there."""
    with pytest.raises(ValueError, match=rf"{method}: _FunctionalRelu applies an activation as a function.*'relu6'"):
        hm.explain(_FunctionalRelu().eval(), _x(), TARGETS, method)
