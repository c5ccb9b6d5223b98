"""MonotoneDifference: f = g(x) - h(1 - x), input checks, explanations, initialisation."""

from __future__ import annotations

import pytest
import torch

import hidden_monotonicity as hm
from hidden_monotonicity.monotone import MonotoneDifference, make_model, stream_gradients, stream_mass_shares, stroke_mask
from hidden_monotonicity.monotone.explanations import StreamGradients
from hidden_monotonicity.monotone.layers import ConstrainedLayer, inverse_softplus

KINDS = ("dm", "dic", "unconstrained", "lmn")


@pytest.mark.parametrize(
    ("kind", "architecture"), [(k, a) for k in KINDS for a in ("mlp", "cnn") if (k, a) != ("lmn", "cnn")]
)
def test_forward_is_g_of_x_minus_h_of_inverted_x(build_small_model, kind, architecture):
    model = build_small_model(kind, architecture, "softplus", 4)
    x = torch.rand(7, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = model.g(x) - model.h(1 - x)
    # independent path: the stream modules themselves
    independent = model.g_stream(x) - model.h_stream(1 - x)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    torch.testing.assert_close(model(x), independent, rtol=0, atol=0)
    assert model(x).shape == (7, 3)


def test_image_shaped_inputs_are_accepted(build_small_model):
    model = build_small_model("dic", "cnn", "clamp", 0)
    x = torch.rand(5, 16, dtype=torch.float64)
    torch.testing.assert_close(model(x.reshape(5, 4, 4)), model(x))
    torch.testing.assert_close(model(x.reshape(5, 1, 4, 4)), model(x))


def test_public_api_is_reachable_lazily():
    assert hm.monotone.MonotoneDifference is MonotoneDifference
    model = MonotoneDifference()
    assert (model.in_features, model.num_classes, model.kind, model.architecture) == (64, 10, "dm", "mlp")
    assert model.constraint == hm.monotone.DEFAULT_CONSTRAINT


@pytest.mark.parametrize(
    ("bad_input", "error", "message"),
    [
        (torch.rand(2, 63), ValueError, "64 features"),
        (torch.rand(64), ValueError, "batch dimension"),
        (torch.rand(2, 8, 9), ValueError, "64 features"),
        (torch.rand(2, 64) + 1.5, ValueError, r"\[0, 1\]"),
        (-torch.rand(2, 64) - 0.1, ValueError, "divide sklearn digits by 16"),
        (torch.full((2, 64), float("nan")), ValueError, "NaN"),
        (torch.randint(0, 16, (2, 64)), TypeError, "floating point"),
    ],
)
def test_bad_inputs_raise_clear_errors(bad_input, error, message):
    model = MonotoneDifference()
    with pytest.raises(error, match=message):
        model(bad_input)


def test_values_exactly_at_the_bounds_are_fine():
    model = MonotoneDifference().eval()
    x = torch.zeros(2, 64)
    x[1] = 1.0
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "dc"}, "unknown model kind"),
        ({"constraint": "abs"}, "unknown weight constraint"),
        ({"constraint": "none"}, "needs non-negative weights"),
        ({"architecture": "rnn"}, "unknown architecture"),
        ({"architecture": "cnn", "in_features": 60}, "not a square number"),
        ({"activation": "tanh"}, "convex non-decreasing"),
        ({"hidden": (0, 4)}, "positive"),
        ({"kind": "lmn", "architecture": "cnn"}, "only architecture='mlp'"),
        ({"kind": "lmn", "hidden": (7,)}, "even hidden widths"),
    ],
)
def test_bad_configuration_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MonotoneDifference(**kwargs)


def test_icnn_layout_first_layer_and_skips_unconstrained():
    model = MonotoneDifference(kind="dic", hidden=(5, 6, 7), constraint="clamp")
    stream = model.g_stream
    assert [layer.constraint for layer in stream.layers] == ["none", "clamp", "clamp", "clamp"]
    assert [skip.constraint for skip in stream.skips] == ["none"] * 3
    assert [skip.raw_weight.shape[0] for skip in stream.skips] == [6, 7, 10]
    dm = MonotoneDifference(kind="dm", hidden=(5, 6), constraint="exp")
    assert [layer.constraint for layer in dm.h_stream.layers] == ["exp"] * 3 and len(dm.h_stream.skips) == 0


def test_make_model_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    first, second, other = make_model(3, kind="dic"), make_model(3, kind="dic"), make_model(4, kind="dic")
    assert torch.equal(torch.random.get_rng_state(), state)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(first.parameters(), other.parameters()))


@pytest.mark.parametrize("constraint", ("softplus", "exp", "clamp"))
def test_set_effective_weight_inverts_the_parameterisation(constraint):
    layer = MonotoneDifference(constraint=constraint, hidden=(4,)).g_stream.layers[0]
    target = torch.rand(layer.raw_weight.shape, generator=torch.Generator().manual_seed(1)) + 0.01
    layer.set_effective_weight_(target)
    torch.testing.assert_close(layer.effective_weight.detach(), target, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="non-negative"):
        layer.set_effective_weight_(-target)


def test_inverse_softplus_is_exact_in_float64():
    w = torch.logspace(-5, 2, 50, dtype=torch.float64)
    torch.testing.assert_close(torch.nn.functional.softplus(inverse_softplus(w)), w, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ("dm", "dic"))
@pytest.mark.parametrize("architecture", ("mlp", "cnn"))
def test_data_dependent_initialisation_centres_units_and_keeps_constraints(digits, kind, architecture):
    model = make_model(0, kind=kind, architecture=architecture, constraint="softplus")
    batch = digits.x_train[:256]
    model.initialise_from_data_(batch)
    assert model.constraint_violation() == 0.0
    stream = model.g_stream
    x = stream._prepare(batch)
    pre = stream._pre_activation(0, x, x).detach()
    dims = [d for d in range(pre.ndim) if d != 1]
    torch.testing.assert_close(pre.mean(dim=dims), torch.zeros(pre.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(pre.std(dim=dims), torch.ones(pre.shape[1]), atol=1e-3, rtol=0)
    # the second stage is centred as well, so its ReLUs are neither all on nor all off
    second = stream._pre_activation(1, stream.activation(pre), x).detach()
    active = (second > 0).float().mean()
    assert 0.3 < float(active) < 0.7


# ---------------------------------------------------------------------- explanations
@pytest.mark.parametrize("kind", KINDS)
def test_f_gradient_is_sum_of_stream_gradients(build_small_model, kind):
    """d/dx [g(x) - h(1 - x)] = dg/dx + dh/du: chain rule, with f from a separate backward pass."""
    model = build_small_model(kind, "mlp", "exp", 2)
    x = torch.rand(6, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    maps = stream_gradients(model, x)
    torch.testing.assert_close(maps.f, maps.g + maps.h, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(maps.targets, model(x).argmax(dim=1))
    torch.testing.assert_close(maps.g_scores - maps.h_scores, model(x).gather(1, maps.targets[:, None]).squeeze(1))


def test_stream_gradients_match_per_image_jacobians(build_small_model):
    """Batched maps equal the rows of the full Jacobian of each stream (torch.func)."""
    model = build_small_model("dic", "cnn", "softplus", 5)
    x = torch.rand(4, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    target = torch.tensor([0, 2, 1, 2])
    maps = stream_gradients(model, x, target=target)
    for i in range(len(x)):
        jac_g = torch.func.jacrev(lambda v: model.g(v[None])[0])(x[i])
        jac_h = torch.func.jacrev(lambda v: model.h(v[None])[0])(1 - x[i])
        torch.testing.assert_close(maps.g[i], jac_g[target[i]])
        torch.testing.assert_close(maps.h[i], jac_h[target[i]])


def test_stream_gradients_target_forms(build_small_model):
    model = build_small_model("dm", "mlp", "clamp", 1)
    x = torch.rand(3, 16, dtype=torch.float64)
    assert stream_gradients(model, x, target=2).targets.tolist() == [2, 2, 2]
    assert stream_gradients(model, x, target=torch.tensor([0, 1, 2])).targets.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        stream_gradients(model, x, target=3)
    with pytest.raises(ValueError, match="one per image"):
        stream_gradients(model, x, target=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stream_gradients(model, x + 2, target=0)


def _maps(g: torch.Tensor, h: torch.Tensor) -> StreamGradients:
    n = g.shape[0]
    return StreamGradients(torch.zeros(n, dtype=torch.long), g, h, g + h, torch.zeros(n), torch.zeros(n), torch.zeros(n, 2))


def test_mass_shares_on_handmade_maps():
    x = torch.tensor([[1.0, 0.9, 0.0, 0.2], [0.6, 0.0, 0.0, 0.0]])
    stroke = stroke_mask(x, 0.5)
    assert stroke.tolist() == [[True, True, False, False], [True, False, False, False]]
    # g only on ink, h only on background -> shares 1 and 1
    shares = stream_mass_shares(_maps(stroke.double() * 3, (~stroke).double() * -2), x)
    assert shares["g_mass_on_stroke"] == pytest.approx(1.0)
    assert shares["h_mass_on_background"] == pytest.approx(1.0)
    assert shares["stroke_fraction"] == pytest.approx(3 / 8)
    assert shares["g_lift"] == pytest.approx(8 / 3)
    # uniform maps -> shares equal the per-image chance level; all-zero maps are skipped
    uniform = _maps(torch.ones(2, 4, dtype=torch.float64), torch.tensor([[1.0, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.float64))
    shares = stream_mass_shares(uniform, x)
    assert shares["g_mass_on_stroke"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert shares["h_mass_on_background"] == pytest.approx(2 / 4)
    assert (shares["g_zero_maps"], shares["h_zero_maps"]) == (0.0, 0.5)
    with pytest.raises(ValueError, match="stroke threshold"):
        stroke_mask(x, 1.0)


def test_constrained_layers_found(build_small_model):
    model = build_small_model("dic", "mlp", "clamp", 0)
    layers = [m for m in model.modules() if isinstance(m, ConstrainedLayer)]
    # per stream: 3 main layers + 2 skips
    assert len(layers) == 10
    assert sum(layer.is_nonnegative for layer in layers) == 4
