"""Numerical stability of the split streams (paper section B): the blow-up and its fixes, as tables and figures.

* :func:`stream_magnitudes` - mean ``a⁺`` and ``a⁻`` after every layer of the split network, for each forward
  stabilisation strategy (B.2). Without stabilisation the common mode grows multiplicatively with depth (B.1);
* :func:`common_mode_by_alpha` - mean ``|δ⁺ + δ⁻|`` of the sensitivities (the backward common mode, B.3) at
  every layer for each α of the α-shift; each shifting layer multiplies it by ``1 − 2α``, so α = 0.5 removes it;
* :func:`reconstruction_errors` - relative error of ``g − h`` against a float64 copy of the network, for each
  strategy in float32 and float64: the blow-up destroys the difference, stabilisation and float64 restore it;
* ``plot_*`` - the figures of notebook 02 (log scales).
"""

from __future__ import annotations

import copy
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "common_mode_by_alpha",
    "layer_labels",
    "panel_axes",
    "plot_common_mode",
    "plot_reconstruction_errors",
    "plot_stream_magnitudes",
    "reconstruction_errors",
    "stream_magnitudes",
]

_STRATEGY_COLOURS = {"none": "tab:red", "shift": "tab:green", "scale": "tab:blue", "threshold": "tab:purple"}
#: line style, marker and width per strategy: "shift" and "scale" often lie on top of each other (both keep the
#: common mode at the scale of the activations), so they differ in dash pattern and marker, not only in colour
_STRATEGY_STYLES = {"none": ("-", "o", 2.0), "shift": ("--", "s", 2.6), "scale": ("-", "o", 1.4), "threshold": (":", "^", 2.0)}
_LABEL_SIZE = 10


def _decompose(model: nn.Module, strategy: str, dtype: torch.dtype, theta: float, threshold: float):
    from ..decomposition import decompose

    return decompose(model, dtype=dtype, stabilize=strategy, theta=theta, threshold=threshold)


def stream_magnitudes(
    model: nn.Module,
    x: torch.Tensor,
    strategies: Sequence[str] = ("none", "shift", "scale", "threshold"),
    *,
    dtype: torch.dtype = torch.float64,
    theta: float = 0.1,
    threshold: float = 10.0,
) -> pd.DataFrame:
    """Mean and maximum of the streams at every layer of the split network, per stabilisation strategy.

    Columns: ``strategy, layer, depth`` (position in ``split.layer_names``), ``stream`` (``"a+"``, ``"a-"``,
    ``"a+ + a-"`` - the common mode - and ``"|a|"`` - the original activation ``|a⁺ − a⁻|``), ``mean``, ``max``.
    Values are taken after the layer's stabilisation (what the next layer receives).
    """
    rows = []
    for strategy in strategies:
        split = _decompose(model, strategy, dtype, theta, threshold)
        kept = split.activations(x, split.layer_names)
        for depth, name in enumerate(split.layer_names):
            streams = kept[name]
            pairs = (("a+", streams.pos), ("a-", streams.neg), ("a+ + a-", streams.s), ("|a|", streams.d.abs()))
            for stream, values in pairs:
                values = values.double()
                rows.append((strategy, name, depth, stream, float(values.mean()), float(values.abs().max())))
    return pd.DataFrame(rows, columns=["strategy", "layer", "depth", "stream", "mean", "max"])


def common_mode_by_alpha(
    model: nn.Module,
    x: torch.Tensor,
    targets,
    alphas: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    *,
    stabilize: str = "scale",
    dtype: torch.dtype = torch.float64,
) -> pd.DataFrame:
    """Backward common mode ``|δ^{+,g} + δ^{−,g}|`` and the gradient part ``|δ^{+,g} − δ^{+,h}| = |∂f/∂a|`` per layer
    and α (paper B.3). Columns: ``alpha, layer, depth, common_mode, gradient`` (means over the batch and units).

    The common mode is identical for the g and the h pair; the α-shift multiplies it by ``1 − 2α`` after every
    shifting layer, while the gradient part does not depend on α (pairwise invariant).
    """
    split = _decompose(model, stabilize, dtype, 0.1, 10.0)
    layers = [name for name in split.layer_names]
    rows = []
    for alpha in alphas:
        result = split.sensitivities(x, targets, layers, alpha=float(alpha))
        for depth, name in enumerate(layers):
            record = result[name]
            common = (record.delta_pos_g + record.delta_neg_g).double()
            gradient = (record.delta_pos_g - record.delta_pos_h).double()
            rows.append((float(alpha), name, depth, float(common.abs().mean()), float(gradient.abs().mean())))
    return pd.DataFrame(rows, columns=["alpha", "layer", "depth", "common_mode", "gradient"])


def reconstruction_errors(
    model: nn.Module,
    x: torch.Tensor,
    strategies: Sequence[str] = ("none", "shift", "scale", "threshold"),
    dtypes: Sequence[torch.dtype] = (torch.float32, torch.float64),
    *,
    theta: float = 0.1,
    threshold: float = 10.0,
) -> pd.DataFrame:
    """Relative reconstruction error ``max |(g − h) − f| / max |f|`` per strategy and precision (Theorem 1 in
    floating point), with ``f`` from a float64 copy of ``model``. Also the largest output stream ``max |g|``.

    Columns: ``strategy, dtype, relative_error, max_stream``.
    """
    reference_model = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        reference = reference_model(x.double())
    scale = float(reference.abs().max()) or 1.0
    rows = []
    for strategy in strategies:
        for dtype in dtypes:
            split = _decompose(model, strategy, dtype, theta, threshold)
            out = split(x)
            difference = out.g.double() - out.h.double()
            error = float((difference - reference).abs().max()) / scale
            rows.append((strategy, str(dtype).replace("torch.", ""), error, float(out.g.double().abs().max())))
    return pd.DataFrame(rows, columns=["strategy", "dtype", "relative_error", "max_stream"])


# ------------------------------------------------------------------------------------------- plots
def panel_axes(count: int, *, columns: int = 2, panel: tuple[float, float] = (6.0, 4.2),
               aspect: float | None = None) -> tuple[plt.Figure, list[plt.Axes]]:
    """A figure with ``count`` panels on a grid of ``columns`` columns (unused cells hidden); returns the figure
    and the ``count`` axes in reading order. ``aspect=16/9``: the whole figure at the slide size
    (:data:`~hidden_monotonicity.plots.saliency.SLIDE_SIZE`) instead of ``panel`` inches per panel."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    columns = min(columns, count)
    rows = -(-count // columns)
    if aspect is not None:
        from .saliency import SLIDE_SIZE

        width = SLIDE_SIZE[0] if aspect >= 1 else SLIDE_SIZE[1]
        figsize = (width, width / aspect)
    else:
        figsize = (panel[0] * columns, panel[1] * rows)
    figure, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False, layout="constrained")
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return figure, flat[:count]


def layer_labels(model: nn.Module) -> dict[str, str]:
    """Readable tick labels for the layers of ``model``'s split: ``{"features.3": "features.3 ReLU", ...}`` (the
    module's class after its name; ``"input"`` stays). Pass it as ``labels=`` to the plots below."""
    labels = {"input": "input"}
    for name, module in model.named_modules():
        if name:
            labels[name] = f"{name} {type(module).__name__}"
    return labels


def _depth_ticks(ax: plt.Axes, layers: Sequence[str], max_ticks: int = 14, labels: dict[str, str] | None = None) -> None:
    step = max(1, int(np.ceil(len(layers) / max_ticks)))
    positions = list(range(0, len(layers), step))
    ax.set_xticks(positions)
    names = [(labels or {}).get(layers[i], layers[i]) for i in positions]
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("layer (output of; shallow → deep)", fontsize=_LABEL_SIZE)


def plot_stream_magnitudes(frame: pd.DataFrame, *, title: str = "", stream: str = "a+ + a-", ax: plt.Axes | None = None,
                           labels: dict[str, str] | None = None) -> plt.Figure:
    """Mean of one stream quantity per layer (default the common mode ``a⁺ + a⁻``), one line per strategy, log
    scale, with the original activation ``|a|`` dashed for reference. ``frame`` comes from :func:`stream_magnitudes`;
    ``labels``: readable tick labels per layer (:func:`layer_labels`)."""
    part = frame[frame["stream"] == stream]
    if part.empty:
        raise ValueError(f"no rows for stream {stream!r}; the frame has {sorted(set(frame['stream']))}")
    if ax is None:
        figure, ax = plt.subplots(figsize=(7.5, 4.0), layout="constrained")
    else:
        figure = ax.figure
    for strategy, rows in part.groupby("strategy", sort=False):
        values = rows.sort_values("depth")
        style, marker, width = _STRATEGY_STYLES.get(strategy, ("-", "o", 1.5))
        ax.plot(values["depth"], values["mean"].where(values["mean"] > 0), ls=style, marker=marker, ms=4, lw=width,
                label=strategy, color=_STRATEGY_COLOURS.get(strategy), mfc="none" if style == "--" else None)
    reference = frame[frame["stream"] == "|a|"].drop_duplicates("depth").sort_values("depth")
    if not reference.empty and stream != "|a|":
        ax.plot(reference["depth"], reference["mean"].where(reference["mean"] > 0), color="k", ls="-.", lw=1.2,
                label="|a| (original network)")
    ax.set_yscale("log")
    layers = part.sort_values("depth").drop_duplicates("depth")["layer"].tolist()
    _depth_ticks(ax, layers, labels=labels)
    ax.set_ylabel({"a+ + a-": "mean a⁺ + a⁻ (common mode)", "a+": "mean a⁺", "a-": "mean a⁻", "|a|": "mean |a|"}[stream],
                  fontsize=_LABEL_SIZE)
    ax.grid(alpha=0.3, which="both")
    ax.legend(title="stabilisation", fontsize=9)
    ax.set_title(title or "Stream magnitude per layer (paper B.1/B.2)", fontsize=11)
    return figure


def plot_common_mode(frame: pd.DataFrame, *, title: str = "", labels: dict[str, str] | None = None) -> plt.Figure:
    """Left: backward common mode per layer for each α (log scale). Values that are exactly 0 (α = 0.5 below the
    output) cannot sit on a log axis: they are drawn as open triangles on a floor line at the bottom, labelled
    "exactly 0". Right: at the input layer, common mode and gradient part against α (zeros on the same floor)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.6), layout="constrained", gridspec_kw={"width_ratios": [1.6, 1]})
    positive = frame.loc[frame["common_mode"] > 0, "common_mode"]
    floor = float(positive.min()) / 100 if not positive.empty else 1e-20
    colours = plt.cm.plasma(np.linspace(0, 0.85, frame["alpha"].nunique()))
    for colour, (alpha, rows) in zip(colours, frame.groupby("alpha", sort=True)):
        rows = rows.sort_values("depth")
        zero = rows["common_mode"] == 0
        left.plot(rows["depth"], rows["common_mode"].where(~zero), marker="o", ms=3.5, lw=1.6, color=colour,
                  label=f"α = {alpha:g}" + (" (0 below the output)" if zero.any() else ""))
        if zero.any():
            left.plot(rows.loc[zero, "depth"], np.full(int(zero.sum()), floor), ls=":", marker="v", ms=5, mfc="none",
                      color=colour)
    if (frame["common_mode"] == 0).any():
        left.axhline(floor, color="0.6", lw=0.8, ls=":")
        left.annotate("exactly 0", (0, floor), xytext=(2, 3), textcoords="offset points", fontsize=8, color="0.35")
    left.set_yscale("log")
    layers = frame.sort_values("depth").drop_duplicates("depth")["layer"].tolist()
    _depth_ticks(left, layers, labels=labels)
    left.set_ylabel("mean |δ⁺ + δ⁻| (common mode)", fontsize=_LABEL_SIZE)
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=8, ncol=2)
    left.set_title("Backward common mode per layer", fontsize=11)

    first = frame[frame["depth"] == frame["depth"].min()].sort_values("alpha")
    right.plot(first["alpha"], first["common_mode"].where(first["common_mode"] > 0, floor), marker="o",
               label="common mode |δ⁺ + δ⁻| (0 drawn on the floor)")
    gradient = first["gradient"].where(first["gradient"] > 0)
    right.plot(first["alpha"], gradient, marker="s", label=r"gradient part $|\delta^{+,g} - \delta^{+,h}|$")
    lost = first[(first["gradient"] == 0) & (first["common_mode"] > 0)]
    if not lost.empty and gradient.notna().any():  # the gradient drowned in the common mode's round-off
        for alpha in lost["alpha"]:
            right.annotate("gradient part lost\nto round-off", (alpha, float(gradient.min())), fontsize=7,
                           ha="left", va="top", color="tab:orange")
    right.set_yscale("log")
    right.set_xlabel("α")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8)
    right.set_title(f"At layer {first['layer'].iloc[0]!r}", fontsize=11)
    figure.suptitle(title or "α-shift of the sensitivities (paper B.3)", fontsize=12)
    return figure


def plot_reconstruction_errors(frame: pd.DataFrame, *, title: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """Grouped bars (log scale): relative error of ``g − h`` per strategy, one bar per precision."""
    strategies = list(dict.fromkeys(frame["strategy"]))
    dtypes = list(dict.fromkeys(frame["dtype"]))
    if ax is None:
        figure, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    else:
        figure = ax.figure
    width = 0.8 / len(dtypes)
    floor = 1e-18
    for i, dtype in enumerate(dtypes):
        part = frame[frame["dtype"] == dtype].set_index("strategy").reindex(strategies)
        values = part["relative_error"].clip(lower=floor)
        positions = np.arange(len(strategies)) + (i - (len(dtypes) - 1) / 2) * width
        bars = ax.bar(positions, values, width=width, label=dtype)
        for bar, value in zip(bars, part["relative_error"]):
            ax.annotate(f"{value:.0e}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(strategies)))
    ax.set_xticklabels(strategies)
    ax.set_xlabel("forward stabilisation")
    ax.set_ylabel("max |g − h − f| / max |f|")
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.grid(alpha=0.3, axis="y", which="both")
    ax.legend(title="precision", fontsize=8)
    ax.set_title(title or "Theorem 1 in floating point", fontsize=10)
    return figure
