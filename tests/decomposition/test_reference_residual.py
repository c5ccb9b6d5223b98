"""The engine against the independent reference (``reference.py``) on a small residual DAG: residual adds (one
with a negative coefficient), a branch point, concatenation, LeakyReLU / ReLU6 / Hardtanh, both input splits;
all four sensitivities at every layer (paper B.3), the streams with and without the forward stabilisation (B.2)."""

from __future__ import annotations

import pytest
import torch

import hidden_monotonicity as hm
from reference import reference_graph_split
from reference_nets import build, engine_name, residual_inputs as _inputs

FIELDS = ("delta_pos_g", "delta_neg_g", "delta_pos_h", "delta_neg_h")


def _max_relative_error(actual: torch.Tensor, expected: torch.Tensor, scale: float) -> float:
    return (actual - expected).abs().max().item() / scale


def test_the_net_exercises_every_kink():
    """ReLU6 and Hardtanh see inputs on all three of their pieces, ReLU on both (else the test proves little)."""
    nodes, model = build()
    x = _inputs("center")
    captured = {}
    hooks = [model.m[name].register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, i[0]))
             for name in ("r2", "r6", "ht")]
    model(x)
    for hook in hooks:
        hook.remove()
    assert (captured["r2"] < 0).any() and (captured["r2"] > 0).any()
    for name, (low, high) in {"r6": (0.0, 6.0), "ht": (-0.5, 1.5)}.items():
        z = captured[name]
        assert (z < low).any() and ((z > low) & (z < high)).any() and (z > high).any(), name


def test_the_engine_traces_the_reference_graph_with_these_layer_names():
    nodes, model = build()
    split = hm.decompose(model)
    assert split.layer_names == ["input"] + [engine_name(node.name) for node in nodes]


@pytest.mark.parametrize("input_split", ["center", "positive"])
@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_four_sensitivities_and_streams_at_every_layer_equal_the_reference(alpha, input_split):
    nodes, model = build()
    x = _inputs(input_split)
    targets = torch.tensor([0, 2, 1])
    g_ref, h_ref, reference, streams = reference_graph_split(nodes, x, targets, alpha=alpha, input_split=input_split)
    split = hm.decompose(model, stabilize="none", input_split=input_split)
    result = split.sensitivities(x, targets, split.layer_names, alpha=alpha)
    torch.testing.assert_close(result.g, g_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(result.h, h_ref, rtol=1e-12, atol=1e-12)
    for name in ["input"] + [node.name for node in nodes]:
        record = result[engine_name(name)]
        expected = reference[name]
        scale = max(e.abs().max().item() for e in expected) + 1e-300
        for field, e in zip(FIELDS, expected):
            error = _max_relative_error(getattr(record, field), e, scale)
            assert error <= 1e-10, f"{name} {field}: relative error {error:.2e}"
        p, n = streams[name]
        stream_scale = max(p.abs().max().item(), n.abs().max().item()) + 1e-300
        assert _max_relative_error(record.a_pos, p, stream_scale) <= 1e-12, (name, "a_pos")
        assert _max_relative_error(record.a_neg, n, stream_scale) <= 1e-12, (name, "a_neg")


def test_the_alpha_shift_changes_the_sensitivities_below_each_residual_add(monkeypatch):
    """Guard of the comparison above: at α = 0.2 the sensitivities below a residual add differ from those of a
    reference that does not shift after adds (so an engine that skipped that shift could not pass)."""
    import reference as reference_module

    nodes, _ = build()
    x = _inputs("center")
    targets = torch.tensor([0, 2, 1])
    _, _, with_shift, _ = reference_graph_split(nodes, x, targets, alpha=0.2)
    shifts = reference_module._shifts
    monkeypatch.setattr(reference_module, "_shifts", lambda node: node.op != "add" and shifts(node))
    _, _, without, _ = reference_graph_split(nodes, x, targets, alpha=0.2)
    for name in ("c2", "skip", "input"):
        difference = (with_shift[name][0] - without[name][0]).abs().max().item()
        assert difference > 1e-3 * with_shift[name][0].abs().max().item(), name
