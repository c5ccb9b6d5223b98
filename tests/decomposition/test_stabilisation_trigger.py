"""When the forward stabilisation runs (paper B.2 "whenever they exceed a threshold"; issue 26.10):
``hm.decompose(..., stabilize_when="always" | "above_threshold")``.

"above_threshold" is a trigger per layer and per sample: the strategy runs on a sample's activation at a layer only
if one of its streams exceeds Θ (``threshold``), otherwise the streams pass untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import hidden_monotonicity as hm
from decomposition_nets import mlp, small_cnn, tiny_residual
from reference import make_layer, stabilize_streams
from reference_nets import build, residual_inputs

#: four samples of growing magnitude: at the paper's Θ = 10 some (layer, sample) pairs are above and some below
SCALES = (0.3, 1.0, 3.0, 6.0)


def _scaled_inputs(shape):
    x = torch.randn(len(SCALES), *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(21))
    return x * torch.tensor(SCALES, dtype=torch.float64).view(-1, *([1] * len(shape)))


def _net(name):
    if name == "mlp":
        return mlp(widths=(6,) + (16,) * 5 + (4,)), _scaled_inputs((6,))
    if name == "small_cnn":
        return small_cnn(), _scaled_inputs((3, 8, 8))
    if name == "tiny_residual":
        return tiny_residual(), _scaled_inputs((3, 8, 8))
    return build()[1], 3.0 * residual_inputs("center")


def _everything(split, x, targets):
    """Every output of a split: g, h, the streams and four sensitivities at every layer (α = 0.4), the relevance."""
    out = split(x)
    record = split.sensitivities(x, targets, split.layer_names, alpha=0.4)
    relevance = split.relevance(x, targets, ["input"])["input"]
    tensors = [out.g, out.h, relevance.pos, relevance.neg]
    for layer in record.layers.values():
        tensors += [layer.a_pos, layer.a_neg, layer.delta_pos_g, layer.delta_neg_g, layer.delta_pos_h, layer.delta_neg_h]
    return tensors


def _identical(a, b):
    return len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("strategy", ["scale", "shift"])
@pytest.mark.parametrize("when", ["always", "above_threshold"])
@pytest.mark.parametrize("net", ["mlp", "small_cnn", "tiny_residual", "residual_graph"])
def test_g_minus_h_equals_f_under_both_triggers(net, when, strategy):
    model, x = _net(net)
    out = hm.decompose(model, stabilize=strategy, stabilize_when=when)(x)
    torch.testing.assert_close(out.g - out.h, model(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("net", ["small_cnn", "residual_graph"])
def test_above_threshold_leaves_streams_below_the_threshold_untouched(net):
    """Θ above every stream of the unstabilised split: "above_threshold" is bit-identical to no stabilisation
    (outputs, streams and sensitivities at every layer, relevance), while "always" changes the streams."""
    model, x = _net(net)
    targets = torch.arange(x.shape[0]) % 3
    none = _everything(hm.decompose(model, stabilize="none"), x, targets)
    largest = max(t.abs().max().item() for t in none)
    below = _everything(hm.decompose(model, stabilize_when="above_threshold", threshold=2.0 * largest), x, targets)
    assert _identical(below, none)
    assert not _identical(_everything(hm.decompose(model, threshold=2.0 * largest), x, targets), none)


@pytest.mark.parametrize("net", ["small_cnn", "residual_graph"])
def test_above_threshold_stabilises_like_always_where_every_layer_is_above(net):
    """Θ = 0: every layer of every sample has a stream above it, so "above_threshold" is bit-identical to "always"."""
    model, x = _net(net)
    targets = torch.arange(x.shape[0]) % 3
    for strategy in ("scale", "shift"):
        always = _everything(hm.decompose(model, stabilize=strategy, threshold=0.0), x, targets)
        triggered = _everything(hm.decompose(model, stabilize=strategy, threshold=0.0, stabilize_when="above_threshold"),
                                x, targets)
        assert _identical(triggered, always)


def _reference_streams(model: nn.Sequential, x, strategy, theta, threshold):
    """The streams after every layer of a Sequential with the per-layer, per-sample trigger, from the naive
    reference (explicit (a⁺, a⁻), reference.py) and the trigger written out here; also which (layer, sample)
    pairs fired and whether a fired layer had units at or below Θ."""
    p, n, original = x.clamp(min=0), (-x).clamp(min=0), x
    streams, fired, mixed = {}, [], False
    for k, module in enumerate(model):
        p, n = make_layer(module, p, n, "wta", original)(p, n)
        original = module(original)
        if k < len(model) - 1 and not isinstance(module, nn.Flatten):
            larger = torch.maximum(p, n)
            fire = larger.flatten(1).amax(1) > threshold
            stabilised_p, stabilised_n = stabilize_streams(p, n, strategy, theta, threshold)
            shape = (-1,) + (1,) * (p.ndim - 1)
            p, n = torch.where(fire.view(shape), stabilised_p, p), torch.where(fire.view(shape), stabilised_n, n)
            fired.append(fire)
            mixed |= bool((larger[fire] <= threshold).any())
        streams[str(k)] = (p, n)
    return streams, torch.stack(fired), mixed


@pytest.mark.parametrize("strategy", ["scale", "shift"])
@pytest.mark.parametrize("net", ["mlp", "small_cnn"])
def test_the_trigger_is_per_layer_and_sample_as_the_reference(net, strategy):
    """At the paper's Θ = 10 the engine's streams equal the reference's at every layer, and the trigger splits:
    some (layer, sample) pairs fire and some do not, some layers fire for one sample and not for another (a
    per-batch trigger would fail), and fired layers have units below Θ that are stabilised too (a per-unit
    trigger would fail)."""
    model, x = _net(net)
    theta, threshold = 0.1, 10.0
    expected, fired, mixed = _reference_streams(model, x, strategy, theta, threshold)
    assert fired.any() and not fired.all() and (fired.any(1) & ~fired.all(1)).any() and mixed
    split = hm.decompose(model, stabilize=strategy, theta=theta, threshold=threshold, stabilize_when="above_threshold")
    got = split.activations(x, list(expected))
    for name, (p, n) in expected.items():
        scale = max(p.abs().max().item(), n.abs().max().item())
        for actual, e, which in ((got[name].pos, p, "a+"), (got[name].neg, n, "a-")):
            error = (actual - e).abs().max().item() / scale
            assert error <= 1e-12, f"{strategy} layer {name} {which}: relative error {error:.2e}"


def test_the_default_is_always_and_unchanged():
    """The default trigger is "always", and it is the stabilisation as before the option existed: bit-identical to
    an explicit "always" (checked against the previous code's outputs when the option was added)."""
    assert hm.decompose.__signature__.parameters["stabilize_when"].default == "always"
    model, x = _net("residual_graph")
    targets = torch.tensor([0, 2, 1])
    assert _identical(_everything(hm.decompose(model), x, targets),
                      _everything(hm.decompose(model, stabilize_when="always"), x, targets))
    assert "stabilize_when='always'" in repr(hm.decompose(model))


def test_an_unknown_trigger_is_refused():
    with pytest.raises(ValueError, match="unknown stabilize_when 'sometimes'; choose one of always, above_threshold"):
        hm.decompose(mlp(), stabilize_when="sometimes")


def test_the_trigger_passes_through_explain():
    """hm.explain's split methods take the option (and key their split cache on it)."""
    model, x = _net("small_cnn")
    x = x.float()
    model = model.float()
    targets = torch.tensor([0, 1, 2, 3])
    none = hm.explain(model, x, targets, "splitcam", layer="4", stabilize="none")
    below = hm.explain(model, x, targets, "splitcam", layer="4", stabilize_when="above_threshold", threshold=1e6)
    always = hm.explain(model, x, targets, "splitcam", layer="4", threshold=1e6)
    torch.testing.assert_close(below, none, rtol=0, atol=0)
    assert not torch.equal(always, none)
