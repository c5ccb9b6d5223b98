"""One validation of targets and numeric parameters for every entry point (issue 15 items 4 and 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import hidden_monotonicity as hm

BAD_TARGETS = [
    (1.7, TypeError, "integer class indices"),
    (True, TypeError, "bool"),
    (torch.tensor([1.0, 2.0, 0.0]), TypeError, "dtype torch.float32"),
    (torch.tensor([[1], [2], [0]]), ValueError, r"1-D .* shape \(3, 1\)"),
    (np.array([True, False, True]), TypeError, "integer class indices"),
    ([1, 2], ValueError, "2 targets for a batch of 3"),
    (10, ValueError, r"target 10 \(image 0\) is out of range"),
]


@pytest.mark.parametrize("targets, error, message", BAD_TARGETS)
def test_sensitivities_relevance_and_explain_refuse_the_same_targets(targets, error, message, vgg, inputs_for):
    x = inputs_for("vgg")
    split = hm.decompose(vgg)
    with pytest.raises(error, match=message):
        split.sensitivities(x, targets, ["input"])
    with pytest.raises(error, match=message):
        split.relevance(x, targets, ["input"])
    with pytest.raises(error, match=message):
        hm.explain(vgg, x, targets, "splitgrad")


def test_good_targets_agree_between_sensitivities_and_explain(vgg, inputs_for):
    x = inputs_for("vgg")
    split = hm.decompose(vgg)
    for targets in (3, np.int64(3), torch.tensor(3), [3, 3, 3], np.array([3, 3, 3]), torch.tensor([3, 3, 3])):
        record = split.sensitivities(x, targets, ["input"], alpha=0.4)["input"]
        maps = hm.explain(vgg, x, targets, "splitgrad", layer="input")
        torch.testing.assert_close(maps.double(), record.delta_pos_g.mean(1, keepdim=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("alpha", [0.9, 1.0, -0.1, math.nan, math.inf, True])
def test_alpha_outside_the_papers_range_is_refused(alpha, vgg, inputs_for, targets):
    x = inputs_for("vgg")
    with pytest.raises((ValueError, TypeError), match="alpha"):
        hm.decompose(vgg).sensitivities(x, targets, ["input"], alpha=alpha)
    with pytest.raises((ValueError, TypeError), match="alpha"):
        hm.explain(vgg, x, targets, "splitcam", alpha=alpha)


def test_alpha_above_half_needs_an_explicit_opt_in(vgg, inputs_for, targets):
    x = inputs_for("vgg")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 0.5\].*allow_large_alpha=True"):
        hm.decompose(vgg).sensitivities(x, targets, ["input"], alpha=0.9)
    record = hm.decompose(vgg).sensitivities(x, targets, ["input"], alpha=0.9, allow_large_alpha=True)["input"]
    assert torch.isfinite(record.delta_pos_g).all()
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        hm.decompose(vgg).sensitivities(x, targets, ["input"], alpha=1.5, allow_large_alpha=True)


NUMERIC = [
    ("splitlrp", {"epsilon": math.nan}, "epsilon must be a finite number"),
    ("splitlrp", {"epsilon": 0.0}, r"epsilon must lie in \(0"),
    ("splitlrp", {"epsilon": -1e-6}, r"epsilon must lie in \(0"),
    ("splitcam", {"theta": math.nan}, "theta"),
    ("splitcam", {"theta": 1.5}, "theta"),
    ("splitgrad", {"threshold": math.nan, "stabilize": "threshold"}, "threshold must be a finite number"),
    ("splitgrad", {"threshold": -1.0}, "threshold must lie in"),
    ("integrated_gradients", {"baseline": math.nan, "n_steps": 2}, "baseline must be a finite number"),
    ("deeplift", {"baseline": math.inf}, "baseline must be a finite number"),
    ("gradient_shap", {"stdevs": -0.1}, "stdevs must lie in"),
    ("gradient_shap", {"seed": math.nan}, "seed must be a non-negative integer"),
    ("occlusion", {"baseline": "zero"}, "baseline must be a real number"),
    ("lrp_epsilon", {"epsilon": math.nan}, "epsilon must be a finite number"),
    ("lrp_gamma", {"gamma": -0.25}, "gamma must lie in"),
    ("lrp_gamma", {"low": math.nan}, "low and high must be finite"),
]


@pytest.mark.parametrize("method, params, message", NUMERIC)
def test_numeric_method_parameters_are_validated(method, params, message, vgg, inputs_for, targets):
    with pytest.raises((ValueError, TypeError), match=message):
        hm.explain(vgg, inputs_for("vgg"), targets, method, **params)
