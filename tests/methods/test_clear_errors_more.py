"""Clear errors instead of silent wrong results or library tracebacks (issue 24): each names the problem and what to do.

Tiny nets only (3 -> 4 -> 4 channels, 8 x 8 px); the whole file runs in a few seconds.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from torch import nn

import hidden_monotonicity as hm

CAM_METHODS = ["gradcam", "gradcam_pp", "layercam", "xgradcam"]


def _pooled_net() -> nn.Module:
    """conv relu conv relu AdaptiveAvgPool2d(1) flatten linear: layer '4' (the pool) has a 1 x 1 output."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5),
    ).eval()


def _x(batch: int = 2, size: int = 8) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------ case 8: CAMs at a 1 x 1 layer


@pytest.mark.parametrize("method", CAM_METHODS)
def test_a_cam_at_a_one_by_one_layer_is_refused_with_a_layer_that_has_extent(method):
    label = hm.methods()[method].label
    with pytest.raises(
        ValueError,
        match=rf"layer '4' has spatial size 1×1: {re.escape(label)} would give every pixel the same value.*"
        r"choose a convolutional layer with spatial extent, e.g. '3' \(8×8\)",
    ):
        hm.explain(_pooled_net(), _x(), [0, 1], method, layer="4")
    # the suggested layer works and is not constant
    maps = hm.explain(_pooled_net(), _x(), [0, 1], method, layer="3")
    assert (maps.amax(dim=(2, 3)) > maps.amin(dim=(2, 3))).all()


def test_a_cam_where_every_conv_block_is_one_by_one_says_to_use_larger_images():
    model = nn.Sequential(nn.Conv2d(3, 4, 8), nn.ReLU(), nn.Flatten(), nn.Linear(4, 5)).eval()  # 8 x 8 -> 1 x 1
    with pytest.raises(ValueError, match=r"layer '1' has spatial size 1×1.*no convolution block.*larger images"):
        hm.explain(model, _x(), 0, "gradcam")


def test_cam_layer_candidates_leave_out_one_by_one_layers():
    """The evaluation's layer rules (``@last``, ...) pick among these: a 1×1 block would only be refused there."""
    from hidden_monotonicity.methods.layers import conv_block_outputs, layer_candidates

    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(4, 5),
    ).eval()  # the second block maps 8 x 8 to 1 x 1
    spec = hm.methods()["gradcam"]
    assert conv_block_outputs(model) == ["1", "3"]
    assert layer_candidates(model, spec, _x()) == ["1"]
    assert layer_candidates(model, spec, _x(size=16)) == ["1", "3"]  # 9 x 9 at 16 px


# ------------------------------------------------------------------------------------------- inputs, targets


def test_an_input_on_the_meta_device_is_named():
    x = torch.empty(2, 3, 8, 8, device="meta")
    with pytest.raises(ValueError, match=r"x is on the meta device \(no data.*'cpu' or 'cuda'"):
        hm.explain(_pooled_net(), x, 0, "saliency")
    with pytest.raises(ValueError, match=r"x is on the meta device \(no data"):
        hm.quantus_explain_func(_pooled_net(), x, np.array([0, 1]), method="saliency")


@pytest.mark.parametrize(
    "targets",
    [
        torch.tensor([2**63 + 1, 0], dtype=torch.uint64),
        np.array([2**63 + 1, 0], dtype=np.uint64),
        [2**63 + 1, 0],
        np.uint64(2**63 + 1),
        2**63 + 1,
    ],
    ids=["torch-uint64", "numpy-uint64", "list", "numpy-scalar", "int"],
)
def test_a_target_beyond_int64_is_reported_with_its_real_value(targets):
    with pytest.raises(ValueError, match=r"target 9223372036854775809 \(image 0\) is out of range: the model has 5"):
        hm.explain(_pooled_net(), _x(), targets, "saliency")


def test_uint64_targets_in_range_still_work():
    model, x = _pooled_net(), _x()
    expected = hm.explain(model, x, [3, 1], "saliency")
    for targets in (torch.tensor([3, 1], dtype=torch.uint64), np.array([3, 1], dtype=np.uint64)):
        torch.testing.assert_close(hm.explain(model, x, targets, "saliency"), expected, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ layers


@pytest.mark.parametrize("method", ["gradcam", "layercam", "splitcam"])
def test_a_layer_given_as_a_module_object_is_the_layer_of_that_name(method):
    model, x = _pooled_net(), _x()
    torch.testing.assert_close(
        hm.explain(model, x, [0, 1], method, layer=model[1]),
        hm.explain(model, x, [0, 1], method, layer="1"),
        rtol=0,
        atol=0,
    )


def test_a_list_of_layers_asks_for_one_layer_name():
    model = _pooled_net()
    with pytest.raises(ValueError, match=r"layer must be one layer name, got a list of 2 \(\['1', '3'\]\).*layer='1'"):
        hm.explain(model, _x(), 0, "gradcam", layer=["1", "3"])
    with pytest.raises(ValueError, match=r"got a list of 1 \(\['3'\]\).*layer='3'"):
        hm.explain(model, _x(), 0, "splitcam", layer=[model[3]])


def test_a_module_of_another_copy_or_the_model_itself_is_not_a_layer():
    model = _pooled_net()
    with pytest.raises(ValueError, match=r"not part of this Sequential.*another copy.*pass the layer's name"):
        hm.explain(model, _x(), 0, "gradcam", layer=copy.deepcopy(model)[1])
    with pytest.raises(ValueError, match=r"layer is the model itself \(Sequential\).*pass a layer name such as '3'"):
        hm.explain(model, _x(), 0, "gradcam", layer=model)


# ------------------------------------------------------------------------------------------ method options


def test_an_unknown_integration_rule_lists_the_allowed_ones():
    with pytest.raises(
        ValueError,
        match=r"integration must be one of 'riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid', "
        r"'gausslegendre' .*got 'bogus'",
    ):
        hm.explain(_pooled_net(), _x(), 0, "integrated_gradients", integration="bogus")
    for rule in ("riemann_trapezoid", "gausslegendre"):  # the allowed values still work
        assert torch.isfinite(hm.explain(_pooled_net(), _x(), 0, "integrated_gradients", integration=rule,
                                         n_steps=4)).all()


# ------------------------------------------------------------------------------------ zennit: several tensors


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.conv(x).flatten(2).transpose(1, 2)
        attended, _ = self.attention(tokens, tokens, tokens)
        return self.fc(attended.mean(dim=1))


class _Gate(nn.Sigmoid):
    """A Sigmoid subclass (so zennit gives it an activation's rule) whose forward takes two tensors."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.sigmoid(x) * y


class _Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gate = _Gate()
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(x)
        return self.fc(self.gate(hidden, hidden).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", ["lrp_epsilon", "lrp_gamma", "lrp_epsilon_plus_flat"])
def test_zennit_on_an_attention_model_names_the_module_and_a_method_that_works(method):
    model, x = _Attention().eval(), _x()
    with pytest.raises(
        ValueError,
        match=rf"{method}: zennit's LRP rules need modules that take and return a single tensor, but 'attention' "
        r"\(nn.MultiheadAttention\).*e.g. 'saliency'",
    ):
        hm.explain(model, x, 0, method)
    assert torch.isfinite(hm.explain(model, x, 0, "saliency")).all()  # the suggested method does work


def test_zennit_on_another_module_with_several_inputs_is_a_clear_error():
    with pytest.raises(ValueError, match=r"lrp_epsilon: zennit's LRP rules need modules that take and return a single"
                                         r" tensor.*several tensors.*e.g. 'saliency'"):
        hm.explain(_Gated().eval(), _x(), 0, "lrp_epsilon")


# ------------------------------------------------------------------------------------ non-finite parameters


@pytest.mark.parametrize("method", ["saliency", "gradcam", "lrp_epsilon", "occlusion", "splitgrad"])
def test_nan_or_inf_parameters_are_refused_for_every_method(method):
    model = _pooled_net()
    with torch.no_grad():
        model[0].weight[0, 0, 0, :3] = float("nan")
    with pytest.raises(ValueError, match=r"parameter '0.weight' holds 3 NaN value\(s\) of 108: every explanation would "
                                         r"be NaN; reload finite weights"):
        hm.explain(model, _x(), 0, method)


def test_an_infinite_buffer_is_named_too():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 5)).eval()
    with torch.no_grad():
        model[1].running_var[1] = float("inf")
    with pytest.raises(ValueError, match=r"buffer '1.running_var' holds 1 infinite value\(s\) of 4: every"):
        hm.explain(model, _x(), 0, "saliency")
    with torch.no_grad():
        model[4].bias[0] = float("nan")
    with pytest.raises(ValueError, match=r"parameter '4.bias' holds 1 NaN value\(s\) of 5; buffer '1.running_var' holds "
                                         r"1 infinite value\(s\) of 4: every"):
        hm.explain(model, _x(), 0, "saliency")


def test_huge_but_finite_parameters_are_not_mistaken_for_infinite_ones():
    """The fast test sums each tensor; a sum that overflows is re-checked value by value."""
    from hidden_monotonicity.decomposition import check_finite_tensors

    layer = nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight.fill_(3e38)  # the float32 sum overflows to inf
    check_finite_tensors(layer)
    with torch.no_grad():
        layer.weight[0, :2] = torch.tensor([float("inf"), -float("inf")])  # +inf and -inf sum to NaN
    with pytest.raises(ValueError, match=r"parameter 'weight' holds 2 infinite value\(s\) of 16"):
        check_finite_tensors(layer)
