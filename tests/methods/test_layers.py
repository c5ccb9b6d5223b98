"""Layer resolution (methods/layers.py): container modules as layers for every layer method, "did you mean" errors."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import hidden_monotonicity as hm
from hidden_monotonicity.methods.layers import resolve_split_layer

LAYER_METHODS = ["splitcam", "splitgrad", "splitlrp", "gradcam", "gradcam_pp", "layercam", "xgradcam"]
CAM_BASELINES = ["gradcam", "gradcam_pp", "layercam", "xgradcam"]


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


@pytest.fixture(scope="module")
def vgg16() -> nn.Module:
    """torchvision VGG16 (its ``features`` exactly) with a small head, so no 25088x4096 matrix is allocated."""
    torch.manual_seed(0)
    with torch.device("meta"):
        model = torchvision.models.vgg16(weights=None, num_classes=10)
    model.features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(nn.Flatten(), nn.Linear(512, 10))
    return model.eval()


def _x(size: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("method", LAYER_METHODS)
def test_a_container_is_a_layer_for_every_layer_method_on_resnet18(method, resnet18):
    """``layer="layer3"`` is the container's output: for split methods its last split node (``layer3.1.relu#2``, the
    ReLU after the last residual add), for the CAM baselines the output of the Sequential (= that of block layer3.1)."""
    x = _x(64)
    maps = hm.explain(resnet18, x, [1, 2], method, layer="layer3")
    assert maps.shape == (2, 1, 64, 64) and torch.isfinite(maps).all() and maps.abs().sum() > 0
    same_output = "layer3.1.relu#2" if method.startswith("split") else "layer3.1"
    torch.testing.assert_close(maps, hm.explain(resnet18, x, [1, 2], method, layer=same_output), rtol=0, atol=0)


@pytest.mark.parametrize("method", LAYER_METHODS)
def test_features_is_a_layer_for_every_layer_method_on_vgg16(method, vgg16):
    x = _x(64)
    maps = hm.explain(vgg16, x, [4, 5], method, layer="features")
    assert maps.shape == (2, 1, 64, 64) and torch.isfinite(maps).all()
    # the last module of VGG16's features is its fifth max-pool, features.30
    torch.testing.assert_close(maps, hm.explain(vgg16, x, [4, 5], method, layer="features.30"), rtol=0, atol=0)


def test_split_layer_of_a_module_is_the_last_split_node_traced_inside_it(resnet18):
    split = hm.decompose(resnet18)
    assert resolve_split_layer(split, resnet18, "layer3", "input") == "layer3.1.relu#2"
    assert resolve_split_layer(split, resnet18, "layer2.0", "input") == "layer2.0.relu#2"
    assert resolve_split_layer(split, resnet18, "layer2.0.downsample", "input") == "layer2.0.downsample.1"
    # exact split names win over the module rule: the first call of the shared ReLU stays the first call
    assert resolve_split_layer(split, resnet18, "layer1.0.relu", "input") == "layer1.0.relu"
    assert split.layers_inside("layer1.1")[-2:] == ["add_1", "layer1.1.relu#2"]
    assert resolve_split_layer(split, resnet18, None, "@cam") == "layer4.1.relu#2"


@pytest.mark.parametrize("method", ["splitcam", "layercam"])
def test_unknown_layer_suggests_the_closest_names_not_the_whole_list(method, resnet18):
    with pytest.raises(ValueError, match=r"unknown layer 'layer33'.*did you mean 'layer3'") as error:
        hm.explain(resnet18, _x(32, 1), 0, method, layer="layer33")
    message = str(error.value)
    assert "layer1.0.conv1" not in message and len(message) < 400
    with pytest.raises(ValueError, match=r"did you mean 'layer3.1.relu'"):
        hm.explain(resnet18, _x(32, 1), 0, method, layer="layer3.1.rleu")


def test_split_network_unknown_layer_suggests_close_names(resnet18):
    split = hm.decompose(resnet18)
    with pytest.raises(KeyError, match=r"did you mean 'layer4.1.conv2'") as error:
        split.activations(_x(32, 1), ["layer4.1.conv3"])
    assert "valid layer names" in str(error.value) and "layer1.0.bn1" not in str(error.value)
