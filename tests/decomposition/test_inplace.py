"""Unassigned in-place operations (issue 15 item 2): the split computes what eager mode computes, g − h = f exactly,
or refuses with an error naming the node."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import hidden_monotonicity as hm


class Unassigned(nn.Module):
    """conv -> an in-place op whose result is not assigned -> the overwritten tensor is read again."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.other = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        y = self.conv(x)
        if self.kind == "method relu_":
            y.relu_()
        elif self.kind == "torch.relu_":
            torch.relu_(y)
        elif self.kind == "F.relu inplace":
            F.relu(y, inplace=True)
        elif self.kind == "add_":
            y.add_(self.other(x))
        elif self.kind == "mul_":
            y.mul_(3)
        elif self.kind == "module inplace":
            self.relu(y)
        elif self.kind == "twice":
            y.relu_()
            y.mul_(-2.0)
            self.relu(y)
        return self.head(y.flatten(1))


KINDS = ["method relu_", "torch.relu_", "F.relu inplace", "add_", "mul_", "module inplace", "twice"]


@pytest.mark.parametrize("kind", KINDS)
def test_unassigned_inplace_operations_are_split_exactly(kind):
    torch.manual_seed(0)
    model = Unassigned(kind).eval().double()
    x = torch.randn(4, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        f = model(x.clone())
    out = hm.decompose(model, stabilize="none")(x)
    torch.testing.assert_close(out.g - out.h, f, rtol=0, atol=1e-12)
    stabilized = hm.decompose(model)(x)
    torch.testing.assert_close(stabilized.g - stabilized.h, f, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["method relu_", "module inplace"])
def test_sensitivities_of_unassigned_inplace_relu_match_autograd(kind):
    torch.manual_seed(0)
    model = Unassigned(kind).eval().double()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg)[:, 1].sum(), xg)
    record = hm.decompose(model).sensitivities(x, [1, 1], ["input"], alpha=0.5)["input"]
    torch.testing.assert_close(record.delta_pos_g, 0.5 * grad, rtol=1e-9, atol=1e-12)


class WriteThroughView(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.head = nn.Linear(2 * 4 * 4 * 2, 3)

    def forward(self, x):
        y = self.conv(x)
        flat = y.flatten(1)
        flat.relu_()  # also overwrites y, which is read below
        return self.head(torch.cat([flat, y.flatten(1)], 1))


def test_an_inplace_write_through_a_shared_storage_is_refused_naming_the_node():
    model = WriteThroughView().eval().double()
    with pytest.raises(hm.UnsupportedModelError, match=r"node 'relu_' overwrites 'flatten' in place.*shares storage"):
        hm.decompose(model)


def test_the_users_model_is_not_changed_by_the_rewrite():
    model = Unassigned("method relu_").eval().double()
    before = model.code if hasattr(model, "code") else None
    hm.decompose(model)
    assert before is None and not hasattr(model, "graph")
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(hm.decompose(model)(x).f, model(x.clone()), rtol=0, atol=1e-10)
