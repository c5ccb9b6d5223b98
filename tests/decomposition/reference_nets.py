"""A small residual DAG for the reference comparisons: the same list of nodes runs as a model (for the engine)
and through the independent reference (``reference.py``)."""

from __future__ import annotations

import torch
import torch.nn as nn

from decomposition_nets import _randomise_batchnorm
from reference import GraphNet, Node


def residual_nodes(seed: int = 0) -> list[Node]:
    torch.manual_seed(seed)
    c3 = nn.Conv2d(4, 4, 3, padding=1)
    with torch.no_grad():
        c3.weight.mul_(12.0)  # so that ReLU6's upper kink at 6 is crossed by some units
    nodes = [
        Node("c1", nn.Conv2d(3, 4, 3, padding=1), ["input"]),
        Node("bn", nn.BatchNorm2d(4), ["c1"]),
        Node("r1", nn.LeakyReLU(0.1), ["bn"]),
        Node("c2", nn.Conv2d(4, 4, 3, padding=1), ["r1"]),
        Node("skip", nn.Conv2d(3, 4, 1), ["input"]),
        Node("add", "add", ["c2", "skip"]),
        Node("r2", nn.ReLU(), ["add"]),
        Node("c3", c3, ["r2"]),
        Node("r6", nn.ReLU6(), ["c3"]),
        Node("ht", nn.Hardtanh(-0.5, 1.5), ["add"]),  # "add" feeds two branches
        Node("add_1", "add", ["r6", "r2"], coefficients=[1.0, -0.5]),  # a negative coefficient swaps the streams
        Node("cat", "cat", ["add_1", "ht"]),
        Node("pool", nn.MaxPool2d(2), ["cat"]),
        Node("flat", nn.Flatten(), ["pool"]),
        Node("fc", nn.Linear(8 * 4 * 4, 3), ["flat"]),
    ]
    return nodes


def build(seed: int = 0):
    nodes = residual_nodes(seed)
    model = GraphNet(nodes)
    _randomise_batchnorm(model, torch.Generator().manual_seed(seed))
    return nodes, model.eval().double()


def engine_name(node_name: str) -> str:
    return node_name if node_name in ("input", "add", "add_1", "cat") else f"m.{node_name}"


def residual_inputs(input_split: str = "center") -> torch.Tensor:
    """A seeded batch of three 8x8 images. Values of both signs for either split: on non-negative inputs the
    "positive" split ``(x, 0)`` and the "center" split ``(ReLU(x), ReLU(−x))`` coincide, so they could not be
    told apart."""
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, generator=generator)
    return x + 0.5 if input_split == "positive" else x
