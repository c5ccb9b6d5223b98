"""Small networks for the decomposition tests (random init, eval mode, float64 unless stated)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))


def _randomise_batchnorm(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Give BatchNorm non-trivial running statistics and affine parameters (signs of both kinds)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=generator) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            m.weight.data.copy_(torch.randn(c, generator=generator))
            m.bias.data.copy_(torch.randn(c, generator=generator) * 0.3)
    return model


def mlp(widths=(6, 16, 16, 5), seed=0, batchnorm=False) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    return _randomise_batchnorm(model, torch.Generator().manual_seed(seed)).eval().double()


def small_cnn(seed=0, pool="max", batchnorm=True, classes=4) -> nn.Sequential:
    """conv → (bn) → maxpool → relu → conv → relu → avgpool → flatten → linear.
    The max-pool acts on a conv output (no exact ties), so subgradient choices are unambiguous."""
    torch.manual_seed(seed)
    pool_layer = nn.MaxPool2d(3, 2, padding=1) if pool == "max" else nn.AvgPool2d(2)
    layers = [nn.Conv2d(3, 6, 3, padding=1)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(6))
    layers += [pool_layer, nn.ReLU(), nn.Conv2d(6, 8, 3, stride=1, padding=1), nn.ReLU(),
               nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, classes)]
    model = nn.Sequential(*layers)
    return _randomise_batchnorm(model, torch.Generator().manual_seed(seed)).eval().double()


class TinyResidual(nn.Module):
    """A residual block with a functional in-place ReLU, ``+=``, ``torch.add``, ``torch.cat`` and ``view(size(0), -1)``."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.skip = nn.Conv2d(3, 4, 1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        out = self.relu(self.bn(self.conv1(x)))
        out = self.conv2(out)
        out += self.skip(x)
        out = self.relu(out)  # the same ReLU module used twice
        other = torch.relu(torch.add(out, self.skip(x), alpha=0.5))
        out = torch.cat([out, other], dim=1)
        out = self.pool(out)
        out = torch.nn.functional.relu(out, inplace=True)
        return self.head(out.view(out.size(0), -1))


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)


def tiny_residual(seed=0):
    torch.manual_seed(seed)
    return _randomise_batchnorm(TinyResidual(), torch.Generator().manual_seed(seed)).eval().double()
