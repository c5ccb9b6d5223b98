"""SplitCAM, SplitGrad, SplitLRP (paper section C) behind hm.explain, checked against autograd and conservation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import quantus
import torch
import torch.nn as nn

import hidden_monotonicity as hm

SPLIT_METHODS = ["splitcam", "splitgrad", "splitlrp"]


def _input_gradient(model, x, targets):
    x = x.clone().requires_grad_(True)
    out = model(x)
    (grad,) = torch.autograd.grad(out.gather(1, torch.as_tensor(targets)[:, None]).sum(), x)
    return grad


@pytest.mark.parametrize("method", SPLIT_METHODS)
def test_every_split_method_gives_finite_maps_of_the_input_size(method, any_net, targets):
    name, model, x = any_net
    maps = hm.explain(model, x, targets, method)
    assert maps.shape == (x.shape[0], 1, *x.shape[-2:]) and maps.dtype == torch.float32
    assert torch.isfinite(maps).all() and maps.abs().sum() > 0


def test_splitgrad_at_the_input_with_alpha_half_is_half_the_gradient(any_net, targets):
    _, model, x = any_net
    model = model.double()
    x = x.double()
    grad = _input_gradient(model, x, targets)
    maps = hm.explain(model, x, targets, "splitgrad", layer="input", alpha=0.5)
    expected = 0.5 * grad.mean(1, keepdim=True)
    torch.testing.assert_close(maps.double(), expected, rtol=1e-5, atol=1e-6 * expected.abs().max().item())


def test_splitcam_with_alpha_half_and_full_recentering_is_half_gradient_times_activation(vgg, inputs_for, targets):
    """At a post-ReLU layer a⁺ = a after full recentering, δ^{+,g} = ½ ∂f/∂a at α = 0.5:
    SplitCAM = ½ Σ_c ∂f/∂a_c ⊙ a_c (LayerCAM without its ReLUs)."""
    model = vgg.double()
    x = inputs_for("vgg").double()
    layer = "features.4"  # a ReLU output
    module = dict(model.named_modules())[layer]
    captured = {}
    handle = module.register_forward_hook(lambda m, i, o: captured.__setitem__("a", o))
    try:
        model.features[4].inplace = False
        out = model(x)
        activation = captured["a"]
        (grad,) = torch.autograd.grad(out.gather(1, torch.tensor(targets)[:, None]).sum(), activation)
    finally:
        handle.remove()
        model.features[4].inplace = True
    expected = 0.5 * (grad * activation).sum(1, keepdim=True)
    small = hm.explain(model, x, targets, "splitcam", layer=layer, alpha=0.5, stabilize="shift")
    upsampled = torch.nn.functional.interpolate(expected, size=x.shape[-2:], mode="bilinear", align_corners=False)
    torch.testing.assert_close(small.double(), upsampled, rtol=1e-5, atol=1e-6 * upsampled.abs().max().item())


def _bias_free_vgg():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Linear(32, 16, bias=False), nn.ReLU(), nn.Linear(16, 5, bias=False),
    )
    return model.eval().double()


@pytest.mark.parametrize("stabilize", ["none", "scale", "shift"])
def test_splitlrp_conserves_the_targets_g_without_biases(stabilize):
    """Documented rule: Σ(R⁺ + R⁻) at the input = g of the target, up to ε (no biases to absorb relevance)."""
    model = _bias_free_vgg()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    targets = [0, 3, 4]
    split = hm.decompose(model, stabilize=stabilize)
    result = split.relevance(x, targets, ["input", "4"], epsilon=1e-9)
    for layer in ("input", "4"):
        total = (result[layer].pos + result[layer].neg).flatten(1).sum(1)
        torch.testing.assert_close(total, result.g, rtol=1e-6, atol=1e-9)
    assert (result["input"].pos >= 0).all() and (result["input"].neg >= 0).all()
    maps = hm.explain(model, x, targets, "splitlrp", stabilize=stabilize, epsilon=1e-9)
    signed = (result["input"].pos - result["input"].neg).sum(1, keepdim=True)
    torch.testing.assert_close(maps.double(), signed, rtol=1e-5, atol=1e-6 * signed.abs().max().item())


def test_splitlrp_with_biases_loses_exactly_the_bias_share_at_the_first_layer():
    """With biases, relevance is absorbed: Σ(R⁺ + R⁻) at the input is below g (and non-negative)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval().double()
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.bias.abs_()
    x = torch.randn(2, 4, dtype=torch.float64)
    result = hm.decompose(model, stabilize="none").relevance(x, [0, 1], ["input"], epsilon=1e-12)
    total = (result["input"].pos + result["input"].neg).sum(1)
    assert (total < result.g).all() and (total >= 0).all()


def test_split_method_layers_are_split_layer_names(resnet, inputs_for, targets):
    x = inputs_for("resnet")
    split = hm.decompose(resnet)
    assert "layer2.0.relu#2" in split.layer_names
    maps = hm.explain(resnet, x, targets, "splitcam", layer="layer2.0.relu#2")
    assert maps.shape == (3, 1, *x.shape[-2:])
    with pytest.raises(ValueError, match="split.layer_names"):
        hm.explain(resnet, x, targets, "splitcam", layer="layer9")
    with pytest.raises(ValueError, match="spatial layer"):
        hm.explain(resnet, x, targets, "splitcam", layer="fc")
    with pytest.raises(ValueError, match="stream"):
        hm.explain(resnet, x, targets, "splitgrad", stream="both")


def test_split_is_rebuilt_when_the_model_changes(vgg, inputs_for, targets):
    """The cached split is used only for the unchanged model: editing weights via .data is noticed."""
    x = inputs_for("vgg")
    before = hm.explain(vgg, x, targets, "splitgrad")
    with torch.no_grad():
        vgg.features[0].weight.data.mul_(-1.0)
    after = hm.explain(vgg, x, targets, "splitgrad")
    fresh = hm.decompose(vgg).sensitivities(x, targets, ["input"], alpha=0.4)["input"].delta_pos_g.mean(1, keepdim=True)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after.double(), fresh, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", SPLIT_METHODS)
def test_quantus_metrics_run_with_the_split_methods(method, vgg, inputs_for, targets):
    x = inputs_for("vgg").numpy()
    y = np.asarray(targets)
    kwargs = {"method": method, "dtype": "float32"}
    sensitivity = quantus.MaxSensitivity(nr_samples=2, disable_warnings=True, display_progressbar=False)
    scores = sensitivity(model=vgg, x_batch=x, y_batch=y, explain_func=hm.quantus_explain_func,
                         explain_func_kwargs=kwargs, device="cpu")
    assert len(scores) == len(y) and np.all(np.isfinite(scores))
    mprt = quantus.MPRT(disable_warnings=True, display_progressbar=False, return_last_correlation=True)
    correlations = mprt(model=vgg, x_batch=x, y_batch=y, explain_func=hm.quantus_explain_func,
                        explain_func_kwargs=kwargs, device="cpu")
    assert len(correlations) == len(y)


def _edit_leaky(model):
    model.features[2] = nn.LeakyReLU(0.5).eval()


def _edit_pool(model):
    model.features[3] = nn.AvgPool2d(2).eval()


def _edit_eps(model):
    model.features[1].eps = 0.5


def _edit_stride(model):
    model.features[0].stride = (2, 2)


def _edit_channels(model):
    weight = model.features[4].weight
    weight.data = weight.data[:, [1, 0, *range(2, weight.shape[1])]].clone()


def _edit_channels_in_place(model):
    weight = model.features[4].weight
    weight.data.copy_(weight.data[:, [1, 0, *range(2, weight.shape[1])]].clone())


@pytest.mark.parametrize(
    "edit", [_edit_leaky, _edit_pool, _edit_eps, _edit_stride, _edit_channels, _edit_channels_in_place]
)
@pytest.mark.parametrize("method", SPLIT_METHODS)
def test_an_edited_model_is_explained_as_it_is_now(method, edit, vgg_bn, inputs_for, targets):
    """Issue 15 item 1: after explaining, edit the model (module swapped, attribute changed, weights permuted
    through .data, forward patched); the next call must equal a fresh model's, never the stale split's."""
    x = inputs_for("vgg_bn")
    hm.explain(vgg_bn, x, targets, method)
    edit(vgg_bn)
    after = hm.explain(vgg_bn, x, targets, method)
    fresh = copy.deepcopy(vgg_bn)
    expected = hm.explain(fresh, x, targets, method)
    torch.testing.assert_close(after, expected, rtol=0, atol=0)


def test_the_split_is_reused_for_an_unchanged_model(vgg, inputs_for, targets):
    from hidden_monotonicity.methods.split import split_of, _DECOMPOSITION_DEFAULTS

    first = split_of(vgg, **_DECOMPOSITION_DEFAULTS)
    assert split_of(vgg, **_DECOMPOSITION_DEFAULTS) is first
    assert split_of(copy.deepcopy(vgg), **_DECOMPOSITION_DEFAULTS) is not first


def test_a_forward_replaced_on_the_instance_is_refused_not_ignored(vgg, inputs_for, targets):
    """torch.fx traces the class's forward: a replacement on the instance would be silently ignored by the split."""
    original = vgg.forward
    vgg.forward = lambda x: original(2.0 * x)
    with pytest.raises(hm.UnsupportedModelError, match="forward was replaced on the instance"):
        hm.explain(vgg, inputs_for("vgg"), targets, "splitcam")
