"""The self-explaining models through the DC decomposition engine (paper sections A-C applied to F).

``MonotoneDifference.as_plain_network`` exports ``f(x) = g(x) - h(1 - x)`` as a plain ReLU network that
``hm.decompose`` / ``hm.explain`` accept; ``split_sensitivities`` returns the engine's four input
sensitivities as pixel maps. Checked here: the export computes the model, the split reconstructs it, the
exact relation between the engine's streams and the model's own streams for DM models (derived in
``monotone/explanations.py``; checked against an independent linearisation built from the model's own
stream modules), the α = 0.5 and pairwise identities against autograd, and the split explanations.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import hidden_monotonicity as hm
from hidden_monotonicity.monotone import make_model, split_sensitivities, stream_gradients
from hidden_monotonicity.monotone.layers import ConstrainedLayer
from hidden_monotonicity.monotone.model import PlainDifference

PIXELS, SIDE = 64, 8
CONSTRAINTS = ("softplus", "exp", "clamp")
ARCHITECTURES = ("mlp", "cnn")
PLAIN_LEAF_TYPES = (nn.Linear, nn.Conv2d, nn.ReLU, nn.AvgPool2d, nn.Flatten)


def images(n: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(n, PIXELS, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def autograd_input_gradient(model, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``∂f_k/∂x`` by autograd through the model's own forward (independent of the engine)."""
    x = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x).gather(1, targets[:, None]).sum(), x)
    return gradient.reshape(-1, SIDE, SIDE)


def negative_bias_linearisation(stream: nn.Module) -> nn.Module:
    """``L_s``: the stream with every ReLU replaced by the identity and every bias ``b`` by ``ReLU(-b)``
    (a copy of the model's own stream module, so it shares no code with the engine)."""
    linear = copy.deepcopy(stream)
    linear.activation = nn.Identity()
    with torch.no_grad():
        for layer in linear.modules():
            if isinstance(layer, ConstrainedLayer) and layer.bias is not None:
                layer.bias.copy_(torch.relu(-layer.bias))
    return linear


def jacobian_rows(function, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (rows,) = torch.autograd.grad(function(x).gather(1, targets[:, None]).sum(), x)
    return rows.reshape(-1, SIDE, SIDE)


# --------------------------------------------------------------------------------------------- export


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("constraint", CONSTRAINTS)
@pytest.mark.parametrize("kind", ["dm", "dic"])
def test_plain_network_computes_the_model_and_splits_exactly(build_small_model, kind, architecture, constraint):
    model = build_small_model(kind, architecture, constraint, 5, in_features=PIXELS)
    x = images(6)
    expected = model(x)
    plain = model.as_plain_network()
    assert isinstance(plain, PlainDifference) and not any(m.training for m in plain.modules())
    leaves = [m for m in plain.modules() if not list(m.children()) and not isinstance(m, nn.ModuleList)]
    assert leaves and all(isinstance(m, PLAIN_LEAF_TYPES) for m in leaves), {type(m).__name__ for m in leaves}
    for layout in (x, x.reshape(6, SIDE, SIDE), x.reshape(6, 1, SIDE, SIDE)):  # the model's input layouts
        torch.testing.assert_close(plain(layout), expected, rtol=0, atol=1e-6)
    for stabilize in ("scale", "none"):
        out = hm.decompose(plain, dtype=torch.float64, stabilize=stabilize)(x)
        torch.testing.assert_close(out.g - out.h, expected, rtol=0, atol=1e-6)
        assert float(out.g.min()) >= -1e-9 and float(out.h.min()) >= -1e-9  # non-negative streams for x >= 0


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_unconstrained_baseline_exports_too(build_small_model, architecture):
    model = build_small_model("unconstrained", architecture, "softplus", 2, in_features=PIXELS)
    x = images(4, seed=1)
    out = hm.decompose(model.as_plain_network())(x)
    torch.testing.assert_close(out.g - out.h, model(x), rtol=0, atol=1e-6)


def test_export_holds_the_effective_weights_as_a_snapshot_under_readable_names(build_small_model):
    model = build_small_model("dic", "cnn", "softplus", 1, in_features=PIXELS)
    plain = model.as_plain_network()
    parameters = dict(plain.named_parameters())
    assert all(not isinstance(m, ConstrainedLayer) for m in plain.modules())
    torch.testing.assert_close(parameters["g_stream.features.convs.1.weight"], model.g_stream.layers[1].effective_weight)
    torch.testing.assert_close(parameters["h_stream.head.weight"], model.h_stream.layers[2].effective_weight)
    torch.testing.assert_close(parameters["h_stream.head.bias"], model.h_stream.layers[2].bias)
    torch.testing.assert_close(parameters["g_stream.features.skips.0.weight"], model.g_stream.skips[0].effective_weight)
    torch.testing.assert_close(parameters["g_stream.head_skip.weight"], model.g_stream.skips[1].effective_weight)
    before = plain(images(3))
    with torch.no_grad():
        model.g_stream.layers[0].raw_weight.add_(1.0)
    torch.testing.assert_close(plain(images(3)), before, rtol=0, atol=0)  # a snapshot
    names = hm.decompose(plain).layer_names
    assert {"g_stream.features.relus.1", "h_stream.head", "g_stream.head_skip"} <= set(names)
    assert plain.last_activation_layer("h") == "h_stream.features.relus.1"


def test_unprojected_clamp_model_exports_what_its_forward_computes(build_small_model):
    model = build_small_model("dm", "mlp", "clamp", 3, in_features=PIXELS)
    with torch.no_grad():
        model.g_stream.layers[1].raw_weight.sub_(0.5)  # now violates W >= 0: forward uses it as is
    assert model.constraint_violation() > 0
    x = images(5, seed=2)
    torch.testing.assert_close(model.as_plain_network()(x), model(x), rtol=0, atol=1e-6)


def test_float32_model_exports_in_float32():
    model = make_model(0, kind="dm", architecture="cnn", hidden=(3, 4)).eval()
    x = images(4, dtype=torch.float32)
    plain = model.as_plain_network()
    assert {p.dtype for p in plain.parameters()} == {torch.float32}
    torch.testing.assert_close(plain(x), model(x), rtol=0, atol=1e-6)


def test_non_piecewise_linear_or_lipschitz_models_are_refused():
    with pytest.raises(ValueError, match="only ReLU activations have an exact DC split"):
        make_model(0, kind="dic", activation="softplus").as_plain_network()
    with pytest.raises(ValueError, match="kind='lmn'"):
        make_model(0, kind="lmn", hidden=(4,)).as_plain_network()
    with pytest.raises(ValueError, match="only ReLU"):
        split_sensitivities(make_model(0, activation="softplus"), images(2, dtype=torch.float32))


# ------------------------------------------------------------------ the engine's streams vs the model's


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("constraint", ["softplus", "clamp"])
def test_dm_engine_streams_are_the_model_streams_plus_one_shared_affine_term(build_small_model, architecture, constraint):
    """DM, stabilize="none", x in [0, 1]: ``G = g(x) + L_h(x) + L_g(0)``, ``H = h(1 - x) + L_h(x) + L_g(0)``
    and, at α = 0, ``δ^{+,g} = ∂g/∂x + A_h``, ``δ^{-,g} = A_g - ∂g/∂x``, ``δ^{+,h} = A_h - ∂h/∂u``,
    ``δ^{-,h} = A_g + ∂h/∂u`` (derivation in ``monotone/explanations.py``)."""
    model = build_small_model("dm", architecture, constraint, 7, in_features=PIXELS)
    x = images(10, seed=3)
    model.initialise_from_data_(x)  # zero-mean pre-activations: many ReLUs are off, so g is not affine here
    assert model.constraint_violation() == 0.0
    lin_g, lin_h = negative_bias_linearisation(model.g_stream), negative_bias_linearisation(model.h_stream)
    with torch.no_grad():
        shared = lin_h(x) + lin_g(torch.zeros_like(x))
        positive = hm.decompose(model.as_plain_network(), stabilize="none", input_split="positive")(x)
        center = hm.decompose(model.as_plain_network(), stabilize="none", input_split="center")(x)
        g_model, h_model = model.g(x), model.h(1 - x)
    scale = float(shared.abs().max())
    torch.testing.assert_close(positive.g, g_model + shared, rtol=0, atol=1e-10 * scale)
    torch.testing.assert_close(positive.h, h_model + shared, rtol=0, atol=1e-10 * scale)
    torch.testing.assert_close(center.g, positive.g, rtol=0, atol=0)  # the same split for x >= 0
    assert float((positive.g - g_model).abs().min()) > 1e-3  # the engine's g is NOT the model's g

    targets = torch.arange(10) % 3
    sens = split_sensitivities(model, x, targets, alpha=0.0).input
    maps = stream_gradients(model, x, targets)
    g_map, h_map = maps.g.reshape(-1, SIDE, SIDE), maps.h.reshape(-1, SIDE, SIDE)
    a_g, a_h = jacobian_rows(lin_g, x, targets), jacobian_rows(lin_h, x, targets)
    assert float((a_g - g_map).abs().max()) > 1e-3 and float((a_h - h_map).abs().max()) > 1e-3  # non-trivial
    tolerance = 1e-10 * float(a_g.abs().max() + a_h.abs().max())
    for got, expected in (
        (sens.delta_pos_g, g_map + a_h),
        (sens.delta_neg_g, a_g - g_map),
        (sens.delta_pos_h, a_h - h_map),
        (sens.delta_neg_h, a_g + h_map),
    ):
        torch.testing.assert_close(got, expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("kind", ["dm", "dic"])
def test_split_sensitivities_identities_against_autograd(build_small_model, kind, architecture):
    model = build_small_model(kind, architecture, "exp", 11, in_features=PIXELS)
    x = images(6, seed=4)
    model.initialise_from_data_(x)
    targets = torch.tensor([0, 1, 2, 2, 1, 0])
    gradient = autograd_input_gradient(model, x, targets)
    tolerance = 1e-9 * float(gradient.abs().max())
    half = split_sensitivities(model, x, targets, alpha=0.5).input
    torch.testing.assert_close(half.delta_pos_g, 0.5 * gradient, rtol=0, atol=tolerance)
    torch.testing.assert_close(half.delta_neg_h, 0.5 * gradient, rtol=0, atol=tolerance)
    torch.testing.assert_close(half.delta_neg_g, -0.5 * gradient, rtol=0, atol=tolerance)
    for alpha in (0.0, 0.3):  # pairwise invariants hold for every α
        record = split_sensitivities(model, x, targets, alpha=alpha).input
        assert record.delta_pos_g.shape == (6, SIDE, SIDE)
        scale = tolerance + 1e-9 * float(record.delta_pos_g.abs().max())
        torch.testing.assert_close(record.delta_pos_g - record.delta_pos_h, gradient, rtol=0, atol=scale)
        torch.testing.assert_close(record.delta_neg_h - record.delta_neg_g, gradient, rtol=0, atol=scale)


def test_split_sensitivities_defaults_layers_and_errors(build_small_model):
    model = build_small_model("dic", "cnn", "softplus", 2, in_features=PIXELS)
    x = images(4, seed=5)
    result = split_sensitivities(model, x.reshape(4, 1, SIDE, SIDE), layers=("input", "g_stream.features.relus.1"))
    logits = model(x)
    assert torch.equal(result.targets, logits.argmax(1))
    torch.testing.assert_close(result.g - result.h, logits.gather(1, result.targets[:, None]).squeeze(1), rtol=0, atol=1e-9)
    assert result.input.a_pos.shape == (4, SIDE, SIDE)
    assert result["g_stream.features.relus.1"].delta_pos_g.shape == (4, 4, SIDE, SIDE)
    with pytest.raises(KeyError, match="not requested"):
        result["h_stream.head"]
    with pytest.raises(KeyError, match="valid layer names"):
        split_sensitivities(model, x, layers=("nope",))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        split_sensitivities(model, x + 2.0)
    with pytest.raises(ValueError, match="target classes"):
        split_sensitivities(model, x, target=3)


# --------------------------------------------------------------------------------------- hm.explain


@pytest.mark.parametrize("kind", ["dm", "dic"])
def test_split_methods_explain_the_cnn_export(build_small_model, kind):
    model = build_small_model(kind, "cnn", "softplus", 4, in_features=PIXELS)
    x = images(3, seed=6).reshape(3, 1, SIDE, SIDE)
    model.initialise_from_data_(x)
    plain = model.as_plain_network()
    targets = [0, 1, 2]
    for method, params in (
        ("splitcam", {}),  # default layer: the h-stream's last convolutional block
        ("splitcam", {"layer": plain.last_activation_layer("g")}),
        ("splitgrad", {}),
        ("splitlrp", {}),
    ):
        maps = hm.explain(plain, x, targets, method, **params)
        assert maps.shape == (3, 1, SIDE, SIDE) and maps.dtype == torch.float32, method
        assert bool(torch.isfinite(maps).all()) and float(maps.abs().max()) > 0, (method, params)


def test_splitgrad_on_the_mlp_export_with_image_inputs_is_half_the_gradient(build_small_model):
    model = build_small_model("dm", "mlp", "softplus", 6, in_features=PIXELS)
    x = images(4, seed=7)
    model.initialise_from_data_(x)
    targets = torch.tensor([1, 2, 0, 1])
    maps = hm.explain(model.as_plain_network(), x.reshape(4, 1, SIDE, SIDE), targets, "splitgrad", alpha=0.5)
    expected = 0.5 * autograd_input_gradient(model, x, targets)
    torch.testing.assert_close(maps.squeeze(1).double(), expected, rtol=1e-5, atol=1e-6 * float(expected.abs().max()))
