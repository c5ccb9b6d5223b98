"""SplitCAM and SplitGrad (paper C.1, C.2) for all four (stream, output) pairs against values computed from the
independent reference (``tests/decomposition/reference.py``): ``Σ_c δ^{(l,s,o)}_c · a^{(l,s)}_c`` and the channel
mean of ``δ^{(l,s,o)}``, with the α-shift and the forward stabilisation of the reference."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import hidden_monotonicity as hm

sys.path.insert(0, str(Path(__file__).parents[1] / "decomposition"))

from reference import reference_graph_split  # noqa: E402
from reference_nets import build, engine_name, residual_inputs as _inputs  # noqa: E402

STREAMS = {"pos": 0, "neg": 1}
SENSITIVITY = {("pos", "g"): 0, ("neg", "g"): 1, ("pos", "h"): 2, ("neg", "h"): 3}
ALPHA, THETA = 0.3, 0.2
TARGETS = torch.tensor([1, 0, 2])


@pytest.fixture(scope="module")
def setting():
    nodes, model = build()
    x = _inputs("center")
    _, _, sensitivities, streams = reference_graph_split(nodes, x, TARGETS, alpha=ALPHA, stabilize="scale", theta=THETA)
    return model, x, sensitivities, streams


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """float32 maps: relative to the map's largest value."""
    scale = expected.abs().max().item()
    assert scale > 0
    error = (actual.double() - expected).abs().max().item() / scale
    assert error <= 1e-5, f"relative error {error:.2e}"


@pytest.mark.parametrize("layer", ["r1", "add"])  # spatial layers at the input's resolution (no upsampling)
@pytest.mark.parametrize("stream", ["pos", "neg"])
@pytest.mark.parametrize("output", ["g", "h"])
def test_splitcam_and_splitgrad_equal_the_reference(setting, layer, stream, output):
    model, x, sensitivities, streams = setting
    options = dict(layer=engine_name(layer), stream=stream, output=output, alpha=ALPHA, stabilize="scale", theta=THETA)
    delta = sensitivities[layer][SENSITIVITY[(stream, output)]]
    activation = streams[layer][STREAMS[stream]]
    _close(hm.explain(model, x, TARGETS, "splitcam", **options), (delta * activation).sum(1, keepdim=True))
    _close(hm.explain(model, x, TARGETS, "splitgrad", **options), delta.mean(1, keepdim=True))


def test_the_four_pairs_are_different_maps(setting):
    """Guard: on this net the four streams/outputs differ by far more than the tolerance above, so reading the
    wrong stream or the wrong output's sensitivities cannot pass."""
    _, _, sensitivities, streams = setting
    pos, neg = streams["r1"]
    assert ((pos - neg).abs().max() > 0.1 * pos.abs().max()) and (neg.abs().max() > 0)
    deltas = sensitivities["r1"]
    for i in range(4):
        for j in range(i + 1, 4):
            difference = (deltas[i] - deltas[j]).abs().max().item()
            assert difference > 1e-3 * max(deltas[i].abs().max().item(), deltas[j].abs().max().item()), (i, j)
