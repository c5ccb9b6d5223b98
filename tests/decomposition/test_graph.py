"""Graph capture: supported forms, layer names, and the clear errors for what is not supported."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

import hidden_monotonicity as hm
from decomposition_nets import mlp, tiny_residual


def test_layer_names_follow_module_names_and_count_reused_modules():
    split = hm.decompose(torchvision.models.resnet18(weights=None).eval())
    names = split.layer_names
    assert names[0] == "input"
    assert "layer3.1.conv2" in names and "fc" in names
    assert "layer1.0.relu" in names and "layer1.0.relu#2" in names  # BasicBlock reuses its ReLU
    assert len(names) == len(set(names))


def test_unknown_layer_lists_valid_names():
    split = hm.decompose(mlp())
    with pytest.raises(KeyError, match="valid layer names"):
        split.sensitivities(torch.randn(2, 6, dtype=torch.float64), [0, 1], layers=["nope"])


class WithGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        return torch.softmax(self.norm(self.act(self.fc(x))), dim=1)


def test_unsupported_ops_are_all_named_before_computing():
    with pytest.raises(hm.UnsupportedModelError) as info:
        hm.decompose(WithGelu().eval())
    message = str(info.value)
    assert "'act'" in message and "GELU" in message
    assert "'norm'" in message and "LayerNorm" in message
    assert "softmax" in message
    assert "Supported:" in message and "Conv2d" in message


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return -self.fc(x)


def test_data_dependent_control_flow_is_a_clear_error():
    with pytest.raises(hm.UnsupportedModelError, match="control flow"):
        hm.decompose(DataDependent().eval())


def test_attention_is_unsupported():
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.MultiheadAttention(4, 1, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.attention(x, x, x)[0].mean(1))

    with pytest.raises(hm.UnsupportedModelError, match="MultiheadAttention"):
        hm.decompose(Attention().eval())


def test_training_mode_is_a_clear_error():
    model = mlp(batchnorm=True).train()
    with pytest.raises(ValueError, match=r"model\.eval\(\)"):
        hm.decompose(model)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_a_clear_error(bad):
    split = hm.decompose(mlp())
    x = torch.randn(2, 6, dtype=torch.float64)
    x[0, 1] = bad
    with pytest.raises(ValueError, match="NaN/Inf"):
        split(x)


def test_targets_are_checked():
    split = hm.decompose(mlp())
    x = torch.randn(3, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="out of range"):
        split.sensitivities(x, [0, 1, 5])
    with pytest.raises(ValueError, match="2 targets for a batch of 3 images; pass one target per image"):
        split.sensitivities(x, [0, 1])


def test_functional_inplace_reused_relu_add_cat_view_are_traced():
    split = hm.decompose(tiny_residual())
    kinds = {type(p.rule).__name__ for p in split.nodes if p.rule is not None}
    assert {"LinearCombinationRule", "CatRule", "ReshapeRule", "PiecewiseLinearRule", "MaxPoolRule"} <= kinds


def test_split_follows_the_device_and_dtype_of_the_input():
    split = hm.decompose(mlp().float(), dtype=torch.float32)
    out = split(torch.randn(2, 6))
    assert out.g.dtype == torch.float32


def test_scalar_arithmetic_and_complement_inputs():
    """f(x) = g(x) − h(1 − x) style models (paper F) trace: number − tensor, tensor * number, tensor / number."""

    class Complement(nn.Module):
        def __init__(self):
            super().__init__()
            self.g = nn.Linear(4, 3)
            self.h = nn.Linear(4, 3)

        def forward(self, x):
            return self.g(x) * 2.0 - self.h(1 - x) / 4 + 0.5

    torch.manual_seed(0)
    model = Complement().eval().double()
    x = torch.rand(5, 4, dtype=torch.float64)
    out = hm.decompose(model, stabilize="none")(x)
    torch.testing.assert_close(out.g - out.h, model(x), rtol=1e-12, atol=1e-12)


def test_decompose_options_have_one_home():
    """``decompose``'s keyword defaults are read from ``SplitNetwork`` (not restated); unknown options are refused."""
    import inspect

    from hidden_monotonicity.decomposition import DECOMPOSITION_OPTIONS, SplitNetwork

    init = {n: p.default for n, p in inspect.signature(SplitNetwork.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY}
    shown = {n: p.default for n, p in inspect.signature(hm.decompose).parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert DECOMPOSITION_OPTIONS == init == shown
    with pytest.raises(TypeError, match="unknown option.*stabilise"):
        hm.decompose(mlp(), stabilise="none")
