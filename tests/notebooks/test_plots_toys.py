"""plots.toys: the toy decompositions against an independent numpy split, and the property checker's power."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hidden_monotonicity.plots import toys  # noqa: E402


def numpy_split(model: torch.nn.Sequential, x_pos: np.ndarray, x_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """g and h of an MLP, written directly from the paper's layer rule (A.2), independent of the library:
    z⁺ = W⁺a⁺ + W⁻a⁻ + b⁺, z⁻ = W⁻a⁺ + W⁺a⁻ + b⁻, ReLU → (max(z⁺, z⁻), z⁻)."""
    a_pos, a_neg = x_pos, x_neg
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
            w_pos, w_neg, b_pos, b_neg = np.maximum(w, 0), np.maximum(-w, 0), np.maximum(b, 0), np.maximum(-b, 0)
            a_pos, a_neg = a_pos @ w_pos.T + a_neg @ w_neg.T + b_pos, a_pos @ w_neg.T + a_neg @ w_pos.T + b_neg
        else:
            a_pos, a_neg = np.maximum(a_pos, a_neg), a_neg
    return a_pos[:, 0], a_neg[:, 0]


@settings(max_examples=25, deadline=None)
@given(
    in_features=st.integers(1, 3),
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    seed=st.integers(0, 10_000),
    split=st.sampled_from(["positive", "center"]),
)
def test_grid_decomposition_equals_an_independent_numpy_split(in_features, hidden, seed, split):
    model = toys.toy_relu_network(in_features, hidden, seed=seed)
    points = np.random.default_rng(seed).uniform(-3, 3, size=(40, in_features))
    dec = toys.decompose_on_grid(model, points, input_split=split)
    if split == "positive":
        x_pos, x_neg = points, np.zeros_like(points)
    else:
        x_pos, x_neg = np.maximum(points, 0), np.maximum(-points, 0)
    g, h = numpy_split(model, x_pos, x_neg)
    np.testing.assert_allclose(dec.g, g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dec.h, h, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        f = model(torch.as_tensor(points)).numpy()[:, 0]
    np.testing.assert_allclose(dec.f, f, rtol=0, atol=0)
    assert dec.reconstruction_error < 1e-10 * max(1.0, np.abs(g).max())


@settings(max_examples=10, deadline=None)
@given(in_features=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_property_checks_hold_for_every_relu_network(in_features, seed):
    model = toys.toy_relu_network(in_features, (5, 4), seed=seed, weight_scale=2.0)
    checks = toys.property_checks(model, n=300, seed=seed)
    assert checks["holds"].all(), checks
    assert len(checks) == 5


def test_property_checks_catch_violations():
    """The checker must fail on functions that are not convex, not monotone, or do not reconstruct f."""
    model = toys.toy_relu_network(1, (4,), seed=0)

    def concave(x_pos, x_neg):
        g = -((x_pos - x_neg) ** 2)[:, 0]
        return g, g - model(x_pos - x_neg)[:, 0].detach()

    checks = toys.property_checks(model, n=500, streams=concave).set_index(["function", "property"])["holds"]
    assert not checks[("g", "convex")] and not checks[("h", "convex")]
    assert checks[("g − h vs f", "Theorem 1: g − h = f")]

    def decreasing(x_pos, x_neg):
        g = -(x_pos + x_neg)[:, 0]
        return g, g.clone()

    checks = toys.property_checks(model, n=500, streams=decreasing).set_index(["function", "property"])["holds"]
    assert not checks[("g", "monotone in (x⁺, x⁻)")] and not checks[("g − h vs f", "Theorem 1: g − h = f")]


def test_the_positive_split_is_monotone_in_x_and_the_center_split_is_not():
    model = toys.toy_relu_network(1, (6, 6), seed=0, weight_scale=1.5)
    grid = np.linspace(-3, 3, 301)
    positive = toys.decompose_on_grid(model, grid, input_split="positive")
    center = toys.decompose_on_grid(model, grid, input_split="center")
    assert np.diff(positive.g).min() >= 0 and np.diff(positive.h).min() >= 0
    assert np.diff(center.g).min() < 0  # center: g grows again for x -> -inf, through x⁻
    for dec in (positive, center):  # convex on the grid either way
        assert np.diff(dec.g, 2).min() > -1e-9 and np.diff(dec.h, 2).min() > -1e-9


def test_grid_and_plots():
    xs, ys, points = toys.grid_2d(5, extent=1.0)
    assert xs.shape == (5, 5) and points.shape == (25, 2)
    np.testing.assert_array_equal(points[:, 0].reshape(5, 5), xs)
    model = toys.toy_relu_network(2, (3,), seed=1)
    fig = toys.plot_toy_2d(toys.decompose_on_grid(model, points), xs, ys)
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) >= 4
    plt.close(fig)
    dec = toys.decompose_on_grid(toys.toy_relu_network(1, (3,)), np.linspace(-1, 1, 11))
    fig = toys.plot_toy_1d({"a": dec, "b": dec})
    assert len(fig.axes) == 4
    plt.close(fig)
    with pytest.raises(ValueError):
        toys.plot_toy_1d({})


def test_toy_network_validates_and_is_seeded():
    a, b = toys.toy_relu_network(2, (3, 3), seed=4), toys.toy_relu_network(2, (3, 3), seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not a.training and next(a.parameters()).dtype == torch.float64
    with pytest.raises(ValueError, match="positive"):
        toys.toy_relu_network(0, (3,))


# ------------------------------------------------------------------------------------------------ interactive toy (issue 29.8)
def _finite_difference_g(model, points, eps=1e-6):
    """∂g/∂x of the positive split by central differences of the independent numpy split (g is piecewise linear)."""
    columns = []
    for k in range(points.shape[1]):
        step = np.zeros_like(points)
        step[:, k] = eps
        up, _ = numpy_split(model, points + step, np.zeros_like(points))
        down, _ = numpy_split(model, points - step, np.zeros_like(points))
        columns.append((up - down) / (2 * eps))
    return np.stack(columns, axis=1)


def test_toy_view_delta_pos_g_is_the_gradient_of_g_at_alpha_0_and_half_the_gradient_at_alpha_half():
    model = toys.tiny_relu_network()
    _, _, points = toys.grid_2d(9, extent=2.0)
    points = points + np.array([0.0137, -0.0291])  # off the kinks of the ReLUs (ties have a convention)
    exact = toys.toy_view(model, points, alpha=0.0, input_split="positive")
    np.testing.assert_allclose(exact.delta_pos_g, _finite_difference_g(model, points), atol=1e-7)
    half = toys.toy_view(model, points, alpha=0.5)
    assert half.half_gradient_error < 1e-12
    assert exact.half_gradient_error > 0.1  # at α = 0 δ⁺ᵍ is not half the gradient: the α slider changes the panel
    middle = toys.toy_view(model, points, alpha=0.25)
    assert not np.allclose(middle.delta_pos_g, exact.delta_pos_g) and not np.allclose(middle.delta_pos_g, half.delta_pos_g)
    np.testing.assert_allclose(half.gradient, 2 * half.delta_pos_g, atol=1e-12)


def test_toy_view_input_split_changes_g_and_h_not_f():
    model = toys.tiny_relu_network(w11=0.7, v2=-0.9)
    _, _, points = toys.grid_2d(7, extent=2.0)
    positive = toys.toy_view(model, points, input_split="positive")
    center = toys.toy_view(model, points, input_split="center")
    np.testing.assert_array_equal(positive.f, center.f)
    assert not np.allclose(positive.g, center.g)
    assert max(positive.reconstruction_error, center.reconstruction_error) < 1e-12
    with pytest.raises(ValueError, match="input_split must be one of"):
        toys.toy_view(model, points, input_split="negative")
    with pytest.raises(ValueError, match="alpha must lie in"):
        toys.toy_view(model, points, alpha=0.7)


def test_toy_explorer_alpha_slider_and_split_toggle_drive_the_view():
    explorer = toys.ToyExplorer(points=8)  # a grid with no point on a kink (there autograd takes ReLU'(0) = 0)
    explorer.build()
    first = explorer.output.outputs[0]["data"]["image/png"]
    explorer.alpha_slider.value = 0.5  # as a student dragging the α slider
    assert explorer.alpha == 0.5 and explorer.view.half_gradient_error < 1e-12
    assert explorer.output.outputs[0]["data"]["image/png"] != first
    explorer.split_toggle.value = "center"  # as a student clicking the toggle
    assert explorer.input_split == "center" and explorer.view.input_split == "center"
    view = explorer.update(alpha=0.0, input_split="positive")
    assert explorer.alpha_slider.value == 0.0 and explorer.split_toggle.value == "positive" and view.alpha == 0.0
    with pytest.raises(ValueError, match="alpha must lie in"):
        explorer.update(alpha=-0.1)


def test_toy_figure_shows_f_g_h_and_delta_not_the_round_off_panel_at_16_9():
    from hidden_monotonicity.plots.saliency import SIGNED_CMAP

    explorer = toys.ToyExplorer(points=9, alpha=0.25)
    fig = explorer.figure()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison]  # the text panel has no axes
    titles = [ax.get_title() for ax in panels]
    assert len(panels) == 4 and not any("g − h − f" in t for t in titles), titles
    assert any(t.startswith("δ⁺ᵍ") and "α = 0.25" in t for t in titles)
    width, height = fig.get_size_inches()
    assert abs(width / height - 16 / 9) < 0.01
    signed = [ax for ax in panels if ax.get_title() == "f" or ax.get_title().startswith("δ⁺ᵍ")]
    used = [{artist.get_cmap().name for artist in ax.collections if hasattr(artist, "get_cmap")} for ax in signed]
    assert len(signed) == 2 and all(SIGNED_CMAP in names and not names & {"RdBu", "RdBu_r"} for names in used), used
    plt.close(fig)
