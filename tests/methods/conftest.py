"""Small random-init VGG- and ResNet-style nets built from torchvision's own classes.

The nets keep torchvision's module structure (``features.N`` / ``layerK.B`` names, in-place
ReLUs, a shared ``relu`` in each ``BasicBlock``, batch norms) at widths of 8-64 channels, so
every test runs in milliseconds on a CPU. Batch norms get random running statistics and affine
parameters and every bias is non-zero, so canonizers and bias handling are actually exercised.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models import VGG, ResNet
from torchvision.models.resnet import BasicBlock
from torchvision.models.vgg import make_layers

NUM_CLASSES = 10
TARGETS = (0, 3, 7)
VGG_INPUT = 32
RESNET_INPUT = 64
VGG_CONFIG = [8, "M", 16, "M", 32, 32, "M"]
RESNET_WIDTHS = (8, 16, 32, 64)


def _randomise_batch_norms_and_biases(model: nn.Module, generator: torch.Generator) -> nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                channels = module.num_features
                module.running_mean.copy_(0.2 * torch.randn(channels, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(channels, generator=generator))
                module.weight.copy_(0.8 + 0.4 * torch.rand(channels, generator=generator))
                module.bias.copy_(0.1 * torch.randn(channels, generator=generator))
            elif isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
                module.bias.copy_(0.05 * torch.randn(module.bias.shape, generator=generator))
    return model


def build_vgg_style(batch_norm: bool = False, seed: int = 0) -> VGG:
    """torchvision ``VGG`` with features ``VGG_CONFIG`` (32x32 input -> 4x4) and a 128-32-32-10 classifier."""
    torch.manual_seed(seed)
    features = make_layers(VGG_CONFIG, batch_norm=batch_norm)
    with torch.device("meta"):  # the stock 25088x4096 classifier is replaced below; never allocate it
        model = VGG(features, num_classes=NUM_CLASSES, init_weights=True)
    model.avgpool = nn.AdaptiveAvgPool2d((2, 2))
    width = VGG_CONFIG[-2]
    model.classifier = nn.Sequential(
        nn.Linear(width * 2 * 2, 32),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(32, 32),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(32, NUM_CLASSES),
    )
    generator = torch.Generator().manual_seed(seed)
    return _randomise_batch_norms_and_biases(model, generator).eval()


def build_resnet_style(seed: int = 0) -> ResNet:
    """torchvision ``ResNet`` with ``BasicBlock`` x [2, 2, 2, 2] at widths 8/16/32/64 (64x64 input -> 2x2)."""
    torch.manual_seed(seed)
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=NUM_CLASSES)  # stock stem; stages rebuilt below
    first = RESNET_WIDTHS[0]
    model.inplanes = first
    model.conv1 = nn.Conv2d(3, first, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(first)
    model.layer1 = model._make_layer(BasicBlock, RESNET_WIDTHS[0], 2)
    model.layer2 = model._make_layer(BasicBlock, RESNET_WIDTHS[1], 2, stride=2)
    model.layer3 = model._make_layer(BasicBlock, RESNET_WIDTHS[2], 2, stride=2)
    model.layer4 = model._make_layer(BasicBlock, RESNET_WIDTHS[3], 2, stride=2)
    model.fc = nn.Linear(RESNET_WIDTHS[3], NUM_CLASSES)
    generator = torch.Generator().manual_seed(seed)
    return _randomise_batch_norms_and_biases(model, generator).eval()


_BUILDERS = {
    "vgg": (lambda: build_vgg_style(batch_norm=False), VGG_INPUT),
    "vgg_bn": (lambda: build_vgg_style(batch_norm=True), VGG_INPUT),
    "resnet": (build_resnet_style, RESNET_INPUT),
}


@pytest.fixture(scope="package", autouse=True)
def _single_torch_thread():
    """These nets are tiny: one intra-op thread is several times faster than two on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def _model_cache() -> dict[str, nn.Module]:
    return {name: builder() for name, (builder, _) in _BUILDERS.items()}


def _inputs_for(name: str, batch: int = 3, seed: int = 1) -> torch.Tensor:
    size = _BUILDERS[name][1]
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="session")
def inputs_for():
    """``inputs_for(net_name, batch=3, seed=1)``: a seeded N(0, 1) batch at the net's input size."""
    return _inputs_for


@pytest.fixture(scope="session")
def targets() -> list[int]:
    """One different class per image of the 3-image batches."""
    return list(TARGETS)


@pytest.fixture(scope="session")
def num_classes() -> int:
    return NUM_CLASSES


@pytest.fixture
def vgg(_model_cache: dict[str, nn.Module]) -> nn.Module:
    """A fresh copy (tests may not leak changes into each other) of the plain VGG-style net."""
    return copy.deepcopy(_model_cache["vgg"])


@pytest.fixture
def vgg_bn(_model_cache: dict[str, nn.Module]) -> nn.Module:
    return copy.deepcopy(_model_cache["vgg_bn"])


@pytest.fixture
def resnet(_model_cache: dict[str, nn.Module]) -> nn.Module:
    return copy.deepcopy(_model_cache["resnet"])


@pytest.fixture(params=["vgg", "vgg_bn", "resnet"])
def any_net(request: pytest.FixtureRequest, _model_cache: dict[str, nn.Module]) -> tuple[str, nn.Module, torch.Tensor]:
    """(name, model copy, a batch of 3 inputs at the net's size) for each of the three nets."""
    name = request.param
    return name, copy.deepcopy(_model_cache[name]), _inputs_for(name)
