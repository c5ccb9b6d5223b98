"""plots.stability: exact invariants of the stream magnitudes, the α-shift and the reconstruction errors."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from hidden_monotonicity.plots import stability  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "decomposition"))
from reference import reference_split  # noqa: E402


def deep_cnn(depth: int = 8, width: int = 8, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 4)]
    model = nn.Sequential(*layers).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.mul_(3.0)  # make the common mode grow quickly
    return model


@pytest.fixture(scope="module")
def model_and_input():
    return deep_cnn(), torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_stream_magnitudes_invariants(model_and_input):
    model, x = model_and_input
    frame = stability.stream_magnitudes(model, x, ("none", "shift", "scale"))
    assert set(frame["stream"]) == {"a+", "a-", "a+ + a-", "|a|"}
    pivot = frame.pivot_table(index=["strategy", "depth"], columns="stream", values="mean")
    # a⁺ + a⁻ is the sum of the two stream means; |a| is the same for every strategy (the original network)
    np.testing.assert_allclose(pivot["a+ + a-"], pivot["a+"] + pivot["a-"], rtol=1e-10)
    for depth in pivot.loc["none"].index:
        assert pivot.loc[("shift", depth), "|a|"] == pytest.approx(pivot.loc[("none", depth), "|a|"], rel=1e-9)
    # full recentering: the common mode equals |a| after every layer but the output (never stabilised)
    shift = pivot.loc["shift"].iloc[:-1]
    np.testing.assert_allclose(shift["a+ + a-"], shift["|a|"], rtol=1e-9, atol=1e-12)
    # common mode >= |a| always; without stabilisation it grows and ends far above the stabilised one
    assert (pivot["a+ + a-"] >= pivot["|a|"] * (1 - 1e-9)).all()
    last = frame["depth"].max() - 1
    assert pivot.loc[("none", last), "a+ + a-"] > 1e3 * pivot.loc[("scale", last), "a+ + a-"]


def test_reconstruction_errors(model_and_input):
    model, x = model_and_input
    errors = stability.reconstruction_errors(model, x, ("none", "shift", "scale")).set_index(["strategy", "dtype"])
    assert errors.loc[("shift", "float64"), "relative_error"] < 1e-12
    assert errors.loc[("scale", "float64"), "relative_error"] < 1e-12
    assert errors.loc[("scale", "float32"), "relative_error"] < 1e-4
    assert errors.loc[("none", "float32"), "relative_error"] > 100 * errors.loc[("scale", "float32"), "relative_error"]
    assert errors.loc[("none", "float64"), "max_stream"] > errors.loc[("scale", "float64"), "max_stream"]


def test_common_mode_shrinks_by_one_minus_two_alpha_per_shifting_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()
    x = torch.randn(4, 5, dtype=torch.float64)
    alphas = (0.0, 0.1, 0.2, 0.3, 0.5)
    frame = stability.common_mode_by_alpha(model, x, 1, alphas, stabilize="none")
    at_input = frame[frame["layer"] == "input"].set_index("alpha")
    # common(α) = (1 − 2α)^k common(0) with k = the number of shifting layers above: at the input all five
    # (Linear, ReLU, Linear, ReLU, Linear; the output layer shifts too), after module j the 4 − j above it
    shifting_above = {"input": 5, "0": 4, "1": 3, "2": 2, "3": 1, "4": 0}
    assert set(frame["layer"]) == set(shifting_above)
    for layer, k in shifting_above.items():
        rows = frame[frame["layer"] == layer].set_index("alpha")
        for a in (0.1, 0.2, 0.3):
            assert rows.loc[a, "common_mode"] == pytest.approx((1 - 2 * a) ** k * rows.loc[0.0, "common_mode"], rel=1e-12), (layer, a)
    exponents = [math.log(at_input.loc[a, "common_mode"] / at_input.loc[0.0, "common_mode"]) / math.log(1 - 2 * a)
                 for a in (0.1, 0.2, 0.3)]
    assert exponents == pytest.approx([5.0, 5.0, 5.0], abs=1e-9)
    assert at_input.loc[0.5, "common_mode"] == 0.0
    # the unshifted common mode itself equals the independent reference's |δ^{+,g} + δ^{−,g}|
    targets = torch.ones(4, dtype=torch.long)
    _, _, reference = reference_split(model, x, targets)
    assert at_input.loc[0.0, "common_mode"] == pytest.approx(float((reference[0][0] + reference[0][1]).abs().mean()), rel=1e-12)
    # the gradient part is the same for every α and equals |∂f/∂x| (independent autograd check)
    np.testing.assert_allclose(at_input["gradient"], at_input["gradient"].iloc[0], rtol=1e-12)
    x_grad = x.clone().requires_grad_(True)
    model(x_grad)[:, 1].sum().backward()
    assert at_input.loc[0.0, "gradient"] == pytest.approx(float(x_grad.grad.abs().mean()), rel=1e-12)


def test_plots_and_their_errors(model_and_input):
    model, x = model_and_input
    magnitudes = stability.stream_magnitudes(model, x, ("none", "scale"))
    fig = stability.plot_stream_magnitudes(magnitudes)
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 3  # two strategies + |a|
    plt.close(fig)
    with pytest.raises(ValueError, match="no rows"):
        stability.plot_stream_magnitudes(magnitudes, stream="b+")
    fig = stability.plot_common_mode(stability.common_mode_by_alpha(model, x, 0, (0.0, 0.5)))
    assert len(fig.axes) == 2
    plt.close(fig)
    fig, ax = plt.subplots()
    assert stability.plot_reconstruction_errors(stability.reconstruction_errors(model, x, ("scale",)), ax=ax) is fig
    assert len(ax.patches) == 2
    plt.close(fig)


def test_panel_axes_layout():
    fig, axes = stability.panel_axes(3)
    assert len(axes) == 3 and len(fig.axes) == 4 and not fig.axes[3].get_visible()
    plt.close(fig)
    fig, axes = stability.panel_axes(1)
    assert len(fig.axes) == 1
    plt.close(fig)
    with pytest.raises(ValueError):
        stability.panel_axes(0)
