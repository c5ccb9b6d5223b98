"""Property tests (hypothesis): the streams of DM models are monotone and convex, those of DIC
models convex (paper section F), for every constraint method and both architectures; the
checks are shown to have power on unconstrained networks (negative controls)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

N_FEATURES = 16  # 4x4 images, so the CNN variant runs too
TOLERANCE = 1e-9  # float64 round-off on O(1..100) scores

unit_vectors = arrays(np.float64, (N_FEATURES,), elements=st.floats(0.0, 1.0, allow_nan=False))
seeds = st.integers(min_value=0, max_value=10_000)
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONSTRAINTS = ("clamp", "softplus", "exp")
ARCHITECTURES = ("mlp", "cnn")


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values, dtype=np.float64)).unsqueeze(0)


def _streams(model):
    """(name, stream function) for both streams of the model; h takes the inverted image."""
    return (("g", model.g), ("h", model.h))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("constraint", CONSTRAINTS)
@PROPERTY_SETTINGS
@given(seed=seeds, x=unit_vectors, step=unit_vectors)
def test_dm_streams_are_monotone(build_small_model, architecture, constraint, seed, x, step):
    """g(y) >= g(x) and h(y) >= h(x) whenever y >= x coordinate-wise."""
    model = build_small_model("dm", architecture, constraint, seed)
    y = np.clip(x + step, 0.0, 1.0)
    for name, stream in _streams(model):
        low, high = stream(_tensor(x)), stream(_tensor(y))
        assert bool((high >= low - TOLERANCE * (1 + low.abs())).all()), f"{name} decreased: {low} -> {high}"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("constraint", CONSTRAINTS)
@PROPERTY_SETTINGS
@given(seed=seeds, x=unit_vectors, step=unit_vectors)
def test_dm_logits_are_monotone_in_every_pixel(build_small_model, architecture, constraint, seed, x, step):
    """f = g(x) - h(1-x) with g, h non-decreasing is itself non-decreasing in x (documented in model.py)."""
    model = build_small_model("dm", architecture, constraint, seed)
    y = np.clip(x + step, 0.0, 1.0)
    low, high = model(_tensor(x)), model(_tensor(y))
    assert bool((high >= low - TOLERANCE * (1 + low.abs())).all())


@pytest.mark.parametrize("kind", ("dm", "dic"))
@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("constraint", CONSTRAINTS)
@PROPERTY_SETTINGS
@given(seed=seeds, x=unit_vectors, y=unit_vectors)
def test_streams_are_convex_midpoint(build_small_model, kind, architecture, constraint, seed, x, y):
    """Midpoint convexity s((x+y)/2) <= (s(x) + s(y)) / 2 for both streams of DM and DIC models."""
    model = build_small_model(kind, architecture, constraint, seed)
    for name, stream in _streams(model):
        left = stream(_tensor((x + y) / 2))
        right = (stream(_tensor(x)) + stream(_tensor(y))) / 2
        assert bool((left <= right + TOLERANCE * (1 + right.abs())).all()), f"{name}: {left} > {right}"


@PROPERTY_SETTINGS
@given(seed=seeds, x=unit_vectors, step=unit_vectors)
def test_library_lmn_streams_are_monotone(build_small_model, seed, x, step):
    """Cross-check of the comparison library's guarantee on random weights (monotone, not convex)."""
    model = build_small_model("lmn", "mlp", "clamp", seed)
    y = np.clip(x + step, 0.0, 1.0)
    for name, stream in _streams(model):
        low, high = stream(_tensor(x)), stream(_tensor(y))
        assert bool((high >= low - 1e-6 * (1 + low.abs())).all()), f"LMN {name} decreased: {low} -> {high}"


@pytest.mark.parametrize("constraint", CONSTRAINTS)
@PROPERTY_SETTINGS
@given(seed=seeds, x=unit_vectors)
def test_dm_gradients_are_nonnegative(build_small_model, constraint, seed, x):
    """For DM every gradient map (g, h and f) is >= 0, for every class."""
    from hidden_monotonicity.monotone import stream_gradients

    model = build_small_model("dm", "mlp", constraint, seed)
    for target in range(model.num_classes):
        maps = stream_gradients(model, _tensor(x), target=target)
        for name in ("g", "h", "f"):
            assert float(getattr(maps, name).min()) >= 0.0, name


def _violations(model, kind: str, n_pairs: int = 400, seed: int = 0) -> tuple[int, int]:
    """(monotonicity violations, convexity violations) of model.g over random pairs."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n_pairs, N_FEATURES, generator=generator, dtype=torch.float64)
    y = torch.rand(n_pairs, N_FEATURES, generator=generator, dtype=torch.float64)
    upper = torch.maximum(x, y)
    monotone = int((model.g(upper) < model.g(x) - 1e-6).any(dim=1).sum())
    convex = int((model.g((x + y) / 2) > (model.g(x) + model.g(y)) / 2 + 1e-6).any(dim=1).sum())
    return monotone, convex


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_checks_detect_unconstrained_networks(build_small_model, architecture):
    """Negative control: the same checks find violations in the unconstrained baseline,
    and DIC streams (convex but not monotone) violate monotonicity."""
    monotone, convex = _violations(build_small_model("unconstrained", architecture, "clamp", 3), "unconstrained")
    assert monotone > 0 and convex > 0
    monotone_dic, convex_dic = _violations(build_small_model("dic", architecture, "clamp", 3), "dic")
    assert monotone_dic > 0 and convex_dic == 0
    assert _violations(build_small_model("dm", architecture, "clamp", 3), "dm") == (0, 0)


def test_clamp_projection_is_what_makes_the_weights_nonnegative(build_small_model, randomise):
    """Without ``project_`` the raw 'clamp' weights are negative; the projection fixes exactly that."""
    model = build_small_model("dm", "mlp", "clamp", 0)
    assert model.constraint_violation() == 0.0
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.sub_(5.0)
    assert model.constraint_violation() > 0.0
    model.project_()
    assert model.constraint_violation() == 0.0
    # re-parameterised layers never violate, whatever the raw values
    soft = randomise(build_small_model("dic", "cnn", "softplus", 0), 7, scale=10.0)
    assert soft.constraint_violation() == 0.0
