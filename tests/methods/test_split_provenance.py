"""Which split a split method reads (issue 24): the cached split of ``methods.split.split_of`` must be the split of
exactly this model with exactly these options, and hooks the split cannot see are refused behind hm.explain too.

Each test compares against a fresh deep copy of the model, whose split cannot come from the cache."""

from __future__ import annotations

import copy

import pytest
import torch

import hidden_monotonicity as hm
from test_baselines import CHEAP, _baseline_names  # cheap settings of the slow baselines, every baseline

#: every decomposition option of hm.explain's split methods: (first value, second value, other options)
OPTIONS = {
    "theta": (0.1, 0.5, {}),
    "stabilize": ("scale", "shift", {}),
    "threshold": (10.0, 0.5, {"stabilize": "threshold"}),
    "stabilize_when": ("always", "above_threshold", {}),
    "maxpool": ("wta", "dc", {}),
    "dtype": ("float64", "float32", {}),
    "input_split": ("center", "positive", {}),
}


def test_every_decomposition_option_is_covered():
    from hidden_monotonicity.methods.split import _DECOMPOSITION_DEFAULTS

    assert set(OPTIONS) == set(_DECOMPOSITION_DEFAULTS)


@pytest.mark.parametrize("method", ["splitcam", "splitlrp"])
@pytest.mark.parametrize("option", OPTIONS)
def test_a_second_call_with_another_option_equals_a_fresh_models(option, method, vgg_bn, inputs_for, targets):
    """The split cache is keyed on every split option: ``theta=0.1`` then ``theta=0.5`` on one model gives the
    ``theta=0.5`` map of a fresh model (and not the cached ``theta=0.1`` split's)."""
    first_value, second_value, other = OPTIONS[option]
    x = inputs_for("vgg_bn")
    first = hm.explain(vgg_bn, x, targets, method, **other, **{option: first_value})
    second = hm.explain(vgg_bn, x, targets, method, **other, **{option: second_value})
    fresh = hm.explain(copy.deepcopy(vgg_bn), x, targets, method, **other, **{option: second_value})
    assert not torch.equal(first, fresh), f"{option} does not change the {method} map: the test would prove nothing"
    torch.testing.assert_close(second, fresh, rtol=0, atol=0)


def _bn_mean_in_place(model):
    model.features[1].running_mean.add_(0.5)


def _bn_var_through_data(model):
    model.features[5].running_var.data.mul_(3.0)  # .data: the version counter does not move


@pytest.mark.parametrize("edit", [_bn_mean_in_place, _bn_var_through_data])
@pytest.mark.parametrize("method", ["splitcam", "splitgrad"])
def test_a_batch_norm_statistic_edited_between_calls_is_noticed(edit, method, vgg_bn, inputs_for, targets):
    x = inputs_for("vgg_bn")
    first = hm.explain(vgg_bn, x, targets, method)
    edit(vgg_bn)
    second = hm.explain(vgg_bn, x, targets, method)
    fresh = hm.explain(copy.deepcopy(vgg_bn), x, targets, method)
    assert not torch.equal(first, fresh)
    torch.testing.assert_close(second, fresh, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["splitcam", "splitgrad", "splitlrp"])
def test_a_forward_hook_is_refused_behind_explain(method, vgg, inputs_for, targets):
    """Before: the split ignored the hook (SplitGrad at alpha 0.5 correlated 0.5 with the true input gradient)."""
    x = inputs_for("vgg")
    hm.explain(vgg, x, targets, method)  # a cached split, then the hook
    handle = vgg.features[4].register_forward_hook(lambda module, inputs, output: 2.0 * output.flip(-1))
    with pytest.raises(hm.UnsupportedModelError, match=r"module 'features\.4' \(ReLU\) has a forward hook"):
        hm.explain(vgg, x, targets, method)
    with pytest.raises(hm.UnsupportedModelError, match=r"module 'features\.4' \(ReLU\) has a forward hook"):
        hm.explain(copy.deepcopy(vgg), x, targets, method)
    handle.remove()
    torch.testing.assert_close(hm.explain(vgg, x, targets, method), hm.explain(copy.deepcopy(vgg), x, targets, method),
                               rtol=0, atol=0)


def test_a_nan_weight_is_refused_behind_explain(vgg, inputs_for, targets):
    vgg.classifier[0].weight.data[0, :4] = float("nan")
    with pytest.raises(ValueError, match=r"parameter 'classifier\.0\.weight' holds 4 NaN value\(s\)"):
        hm.explain(vgg, inputs_for("vgg"), targets, "splitcam")




@pytest.mark.parametrize("method", _baseline_names())
def test_no_baseline_leaves_a_forward_hook_that_the_split_would_refuse(method, vgg_bn, inputs_for, targets):
    """Captum, pytorch-grad-cam and zennit register hooks during a call: they must all be gone after it (module and
    global ones), so that a split method on the same model is not refused."""
    from hidden_monotonicity.decomposition.fingerprint import forward_hooks

    x = inputs_for("vgg_bn")
    hm.explain(vgg_bn, x, targets, method, **CHEAP.get(method, {}))
    assert forward_hooks(vgg_bn) == []
    hm.explain(vgg_bn, x, targets, "splitgrad")
