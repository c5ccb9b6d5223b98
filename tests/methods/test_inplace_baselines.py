"""Baselines switch ``inplace`` off on activations (captum hooks need it) - but never where the model relies on the
in-place write (issue 15 item 3): the explained function stays the model's own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hidden_monotonicity as hm
from hidden_monotonicity.methods.model_guards import inplace_relied_upon, relu_inplace_disabled


class ReliesOnInplace(nn.Module):
    """``self.r(y)`` without assignment: the in-place ReLU is what makes ``y`` non-negative below."""

    def __init__(self, traceable: bool = True):
        super().__init__()
        self.traceable = traceable
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.r = nn.ReLU(inplace=True)
        self.s = nn.ReLU(inplace=True)  # assigned: switching it off changes nothing
        self.head = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        y = self.conv(x)
        if not self.traceable and bool(y.sum() > -1e30):  # data-dependent control flow: fx cannot trace this
            y = y * 1.0
        self.r(y)
        y = self.s(y + 0.1)
        return self.head(y.flatten(1))


def _gradient(model, x, target):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[:, target].sum(), x)
    return grad.sum(1, keepdim=True)


@pytest.mark.parametrize("traceable", [True, False])
def test_saliency_is_the_models_own_gradient_when_it_relies_on_an_inplace_relu(traceable):
    torch.manual_seed(0)
    model = ReliesOnInplace(traceable).eval()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    expected = _gradient(model, x, 2)
    maps = hm.explain(model, x, 2, "saliency")
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-6 * expected.abs().max().item())
    assert model.r.inplace and model.s.inplace  # restored


def test_only_the_relied_upon_module_stays_in_place():
    model = ReliesOnInplace().eval()
    assert inplace_relied_upon(model) == {model.r}
    with relu_inplace_disabled(model):
        assert model.r.inplace is True and model.s.inplace is False
    assert model.s.inplace is True
