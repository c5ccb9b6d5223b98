"""Shared helpers for the tests of ``hidden_monotonicity.monotone`` (paper section F)."""

from __future__ import annotations

import pytest
import torch

from hidden_monotonicity.monotone import load_digits_split, make_model
from hidden_monotonicity.monotone.layers import ConstrainedLayer


def randomise_parameters_(model: torch.nn.Module, seed: int, scale: float = 1.0) -> torch.nn.Module:
    """Overwrite every parameter with N(0, scale^2) noise, then apply the projection.

    Raw weights of 'softplus'/'exp' layers may be anything (the map keeps W >= 0); raw
    weights of 'clamp' layers become negative and are fixed only by ``project_()``; LMN
    weights are renormalised by the library's parametrisation. So the properties are tested
    on generic weights, not only on the initialisation.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * scale)
    if hasattr(model, "project_"):
        model.project_()
    return model


def small_model(kind: str, architecture: str = "mlp", constraint: str = "clamp", seed: int = 0, in_features: int = 16):
    """A tiny float64 model with random parameters (4x4 images for the CNN)."""
    hidden = (3, 4) if architecture == "cnn" else (8, 6)
    if kind == "lmn":
        hidden = (8, 6)
    model = make_model(
        seed, kind=kind, in_features=in_features, num_classes=3, hidden=hidden, architecture=architecture, constraint=constraint
    )
    model = model.double()
    randomise_parameters_(model, seed + 1000)
    for layer in model.modules():
        if isinstance(layer, ConstrainedLayer) and layer.is_nonnegative:
            assert float(layer.effective_weight.detach().min()) >= 0.0
    return model.eval()


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread is ~1000x faster than two on a loaded 2-core machine
    (thread hand-off dominates). Restored after each test so other folders are unaffected."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def digits():
    return load_digits_split()


@pytest.fixture(scope="session")
def build_small_model():
    """Factory :func:`small_model` (session scope, so hypothesis tests may use it)."""
    return small_model


@pytest.fixture(scope="session")
def randomise():
    """Factory :func:`randomise_parameters_`."""
    return randomise_parameters_
