"""Toy ReLU networks for teaching the DC decomposition (paper section A, Theorem 1).

A small fully connected ReLU network ``f`` on 1-D or 2-D inputs is split with ``hm.decompose`` (float64, no
forward stabilisation, so that ``g`` and ``h`` are exactly the convex, monotone functions of the theorem) and
evaluated on a grid:

* :func:`toy_relu_network` builds the network (seeded, float64);
* :func:`decompose_on_grid` returns ``f``, ``g``, ``h`` on grid points (:class:`ToyDecomposition`);
* :func:`property_checks` tests, on random points, the four claims of section A.2 numerically:
  Theorem 1 (``g − h = f``), convexity of g and h (midpoint inequality), and monotonicity of g and h in the
  stream inputs ``(x⁺, x⁻)`` (non-negative increments never decrease them);
* :func:`plot_toy_1d` / :func:`plot_toy_2d` draw the figures of notebook 01;
* :class:`ToyExplorer`: ipywidgets sliders for the nine weights of a ``2 → 2 → 1`` ReLU network
  (:func:`tiny_relu_network`), an α slider and an input-split toggle, with live level sets of f, g and h and the
  backward sensitivity δ⁺ᵍ at the input (:func:`toy_view`, :func:`plot_toy_view`; headless too).

Input splits (A.2 item 2): ``"positive"`` feeds ``(x⁺, x⁻) = (x, 0)``, so ``g(x)`` and ``h(x)`` are convex and
non-decreasing in ``x`` itself; ``"center"`` feeds ``(ReLU(x), ReLU(−x))``: still convex in ``x`` (a convex
non-decreasing function of convex functions), but no longer monotone in ``x`` — only in ``(x⁺, x⁻)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "INPUT_SPLITS",
    "TOY_PARAMETERS",
    "ToyDecomposition",
    "ToyExplorer",
    "ToyView",
    "decompose_on_grid",
    "grid_2d",
    "plot_backward_common_mode",
    "plot_toy_1d",
    "plot_toy_2d",
    "plot_toy_view",
    "property_checks",
    "tiny_relu_network",
    "toy_relu_network",
    "toy_view",
]


def toy_relu_network(in_features: int = 1, hidden: Sequence[int] = (6, 6), *, seed: int = 0, out_features: int = 1,
                     weight_scale: float = 1.0) -> nn.Sequential:
    """``Linear → ReLU → … → Linear`` in float64, eval mode, weights ~ N(0, weight_scale²/fan_in) and biases
    ~ N(0, 0.5²), drawn from ``torch.Generator().manual_seed(seed)``."""
    if in_features < 1 or out_features < 1 or any(int(width) < 1 for width in hidden):
        raise ValueError(f"all layer widths must be positive, got in={in_features}, hidden={tuple(hidden)}, out={out_features}")
    generator = torch.Generator().manual_seed(int(seed))
    widths = [int(in_features), *map(int, hidden), int(out_features)]
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        linear = nn.Linear(fan_in, fan_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64) * weight_scale / fan_in**0.5)
            linear.bias.copy_(torch.randn(fan_out, generator=generator, dtype=torch.float64) * 0.5)
        layers.append(linear)
        if index < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()


@dataclass
class ToyDecomposition:
    """``f``, ``g`` and ``h`` (first output) at ``points`` ``(N, d)`` for one input split."""

    points: np.ndarray
    f: np.ndarray
    g: np.ndarray
    h: np.ndarray
    input_split: str

    @property
    def reconstruction_error(self) -> float:
        """``max |g − h − f|`` over the points (Theorem 1 says 0)."""
        return float(np.abs(self.g - self.h - self.f).max())


def _split(model: nn.Module, input_split: str):
    from ..decomposition import decompose

    return decompose(model, dtype=torch.float64, stabilize="none", input_split=input_split)


def decompose_on_grid(model: nn.Module, points: np.ndarray | torch.Tensor, *, input_split: str = "positive") -> ToyDecomposition:
    """Evaluate ``f = model`` and its split ``g``, ``h`` (no stabilisation, float64) at ``points`` ``(N, d)``."""
    x = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    if x.ndim == 1:
        x = x[:, None]
    split = _split(model, input_split)
    out = split(x)
    with torch.no_grad():
        f = model(x.to(next(model.parameters()).dtype)).double()
    return ToyDecomposition(x.numpy(), f[:, 0].numpy(), out.g[:, 0].numpy(), out.h[:, 0].numpy(), input_split)


def grid_2d(points_per_axis: int, extent: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, points)``: a square grid on ``[−extent, extent]²``, ``points`` of shape ``(n², 2)`` (row-major)."""
    axis = np.linspace(-extent, extent, int(points_per_axis))
    xs, ys = np.meshgrid(axis, axis)
    return xs, ys, np.stack([xs.ravel(), ys.ravel()], axis=1)


def property_checks(
    model: nn.Module,
    *,
    n: int = 2000,
    seed: int = 0,
    scale: float = 2.0,
    tolerance: float = 1e-9,
    streams: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> pd.DataFrame:
    """Numerical check of Theorem 1, convexity and monotonicity of g and h (paper A.2) on ``n`` random samples.

    Works on the stream inputs ``(x⁺, x⁻) ∈ R^{2d}`` directly (``split.forward_streams``), where the theorem
    makes its claims:

    * Theorem 1: ``g(x⁺, x⁻) − h(x⁺, x⁻) = f(x⁺ − x⁻)``: worst ``|g − h − f|``;
    * convexity: ``φ(t p + (1−t) q) ≤ t φ(p) + (1−t) φ(q)`` for random ``p, q, t``: worst excess of the left side;
    * monotonicity: ``φ(p) ≤ φ(p + e)`` for random ``e ≥ 0``: worst decrease ``φ(p) − φ(p + e)``.

    ``streams(x_pos, x_neg) -> (g, h)`` replaces the split of ``model`` (default: ``hm.decompose(model)``'s
    ``forward_streams``, first output); the tests use it to feed functions that violate the properties.
    Returns one row per (function, property) with the worst violation and whether it is ``≤ tolerance``
    times the largest magnitude of the sampled values.
    """
    generator = torch.Generator().manual_seed(int(seed))
    in_features = next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features
    if streams is None:
        split = _split(model, "positive")

        def streams(x_pos: torch.Tensor, x_neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = split.forward_streams(x_pos, x_neg)
            return out.g[:, 0], out.h[:, 0]

    def sample(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale

    def evaluate(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return streams(p[:, :in_features], p[:, in_features:])

    p, q = sample(n, 2 * in_features), sample(n, 2 * in_features)
    t = torch.rand(n, 1, generator=generator, dtype=torch.float64)
    e = torch.rand(n, 2 * in_features, generator=generator, dtype=torch.float64) * scale
    g_p, h_p = evaluate(p)
    g_q, h_q = evaluate(q)
    g_mid, h_mid = evaluate(t * p + (1 - t) * q)
    g_up, h_up = evaluate(p + e)
    with torch.no_grad():
        f_p = model((p[:, :in_features] - p[:, in_features:]).to(next(model.parameters()).dtype)).double()[:, 0]
    magnitude = float(torch.cat([g_p.abs(), h_p.abs(), f_p.abs()]).max()) or 1.0
    t = t[:, 0]
    rows = [
        ("g − h vs f", "Theorem 1: g − h = f", float((g_p - h_p - f_p).abs().max())),
        ("g", "convex", float((g_mid - (t * g_p + (1 - t) * g_q)).max().clamp_min(0))),
        ("h", "convex", float((h_mid - (t * h_p + (1 - t) * h_q)).max().clamp_min(0))),
        ("g", "monotone in (x⁺, x⁻)", float((g_p - g_up).max().clamp_min(0))),
        ("h", "monotone in (x⁺, x⁻)", float((h_p - h_up).max().clamp_min(0))),
    ]
    frame = pd.DataFrame(rows, columns=["function", "property", "worst violation"])
    frame["holds"] = frame["worst violation"] <= tolerance * magnitude
    frame["samples"] = n
    return frame


def plot_toy_1d(decompositions: Mapping[str, ToyDecomposition], *, title: str | None = None) -> plt.Figure:
    """One column per input split: top ``f`` with ``g − h`` dashed on it, bottom ``g`` and ``h``."""
    if not decompositions:
        raise ValueError("plot_toy_1d needs at least one ToyDecomposition")
    columns = len(decompositions)
    figure, axes = plt.subplots(2, columns, figsize=(4.3 * columns, 5.6), squeeze=False, sharex=True, layout="constrained")
    for column, (label, dec) in enumerate(decompositions.items()):
        x = dec.points[:, 0]
        top, bottom = axes[0, column], axes[1, column]
        top.plot(x, dec.f, color="black", lw=2, label="f (the network)")
        top.plot(x, dec.g - dec.h, color="tab:orange", lw=1.2, ls="--", label="g − h")
        top.set_title(f"{label}: max |g − h − f| = {dec.reconstruction_error:.1e}", fontsize=9)
        top.legend(fontsize=8, loc="best")
        shape = "convex, non-decreasing" if dec.input_split == "positive" else "convex"
        bottom.plot(x, dec.g, color="tab:red", lw=1.8, label=f"g ({shape})")
        bottom.plot(x, dec.h, color="tab:blue", lw=1.8, label=f"h ({shape})")
        bottom.set_xlabel("x")
        bottom.legend(fontsize=8, loc="best")
        for ax in (top, bottom):
            ax.axvline(0.0, color="0.85", lw=0.8, zorder=0)
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("f and g − h")
    axes[1, 0].set_ylabel("the two streams")
    figure.suptitle(title or "DC decomposition f = g − h of a 1-D ReLU network", fontsize=11)
    return figure


def plot_toy_2d(dec: ToyDecomposition, xs: np.ndarray, ys: np.ndarray, *, title: str | None = None, levels: int = 14,
                aspect: float | None = None) -> plt.Figure:
    """Filled contour maps of ``f``, ``g``, ``h`` and ``|g − h − f|`` over a 2-D grid made by :func:`grid_2d`: ``f``
    signed (:data:`~hidden_monotonicity.plots.saliency.SIGNED_CMAP`, red > 0, blue < 0), ``g`` in reds (the part for),
    ``h`` in blues (the part against). ``aspect=16/9``: a 2 × 2 layout at the 16:9 slide size with larger ticks
    (:data:`~hidden_monotonicity.plots.saliency.SLIDE_SIZE`) instead of the 1 × 4 strip."""
    from .saliency import SIGNED_CMAP, SLIDE_SIZE

    shape = xs.shape
    panels = [
        ("f", dec.f, SIGNED_CMAP),
        ("g (convex, monotone)", dec.g, "Reds"),
        ("h (convex, monotone)", dec.h, "Blues"),
        ("|g − h − f|", np.abs(dec.g - dec.h - dec.f), "Greys"),
    ]
    if aspect is not None:
        width = SLIDE_SIZE[0] if aspect >= 1 else SLIDE_SIZE[1]
        figure, grid = plt.subplots(2, 2, figsize=(width, width / aspect), layout="constrained")
        axes, fontsize = grid.ravel(), 13
    else:
        figure, axes = plt.subplots(1, 4, figsize=(15, 3.7), layout="constrained")
        fontsize = 10
    for ax, (label, values, cmap) in zip(axes, panels):
        grid = values.reshape(shape)
        if label == "f":
            limit = float(np.abs(grid).max()) or 1.0
            filled = ax.contourf(xs, ys, grid, levels=np.linspace(-limit, limit, levels + 1), cmap=cmap)
            ax.contour(xs, ys, grid, levels=[0.0], colors="k", linewidths=1.2)
        elif label.startswith("|"):
            filled = ax.pcolormesh(xs, ys, grid, cmap=cmap, shading="auto")
            label = f"{label}, max {grid.max():.1e}"
        else:
            filled = ax.contourf(xs, ys, grid, levels=levels, cmap=cmap)
            ax.contour(xs, ys, grid, levels=levels, colors="k", linewidths=0.4, alpha=0.5)
        figure.colorbar(filled, ax=ax, shrink=0.85).ax.tick_params(labelsize=fontsize - 2)
        ax.set_title(label, fontsize=fontsize)
        ax.set_xlabel("x₁", fontsize=fontsize - 1)
        ax.tick_params(labelsize=fontsize - 2)
        ax.set_aspect("equal")
    for ax in (axes[0], axes[2]) if aspect is not None else (axes[0],):
        ax.set_ylabel("x₂", fontsize=fontsize - 1)
    figure.suptitle(title or f"2-D ReLU network, input split {dec.input_split!r}: convex level sets of g and h",
                    fontsize=fontsize + 1)
    return figure


# ------------------------------------------------------------------------------------------ interactive toy
#: the nine parameters of :class:`ToyExplorer`'s network ``2 → 2 → 1``: first-layer weights and biases, output
#: weights and bias
TOY_PARAMETERS: tuple[str, ...] = ("w11", "w12", "w21", "w22", "b1", "b2", "v1", "v2", "c")
TOY_DEFAULTS: dict[str, float] = {"w11": 1.0, "w12": -1.0, "w21": -0.5, "w22": 1.5, "b1": 0.5, "b2": -0.5,
                                  "v1": 1.0, "v2": -1.5, "c": 0.2}


def tiny_relu_network(**weights: float) -> nn.Sequential:
    """The network ``f(x) = v · ReLU(W x + b) + c`` with ``x ∈ R²``, two hidden units (float64); unnamed
    parameters take :data:`TOY_DEFAULTS`."""
    unknown = sorted(set(weights) - set(TOY_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown toy parameter(s) {unknown}; the parameters are {', '.join(TOY_PARAMETERS)}")
    p = {**TOY_DEFAULTS, **{k: float(v) for k, v in weights.items()}}
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double().eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[p["w11"], p["w12"]], [p["w21"], p["w22"]]], dtype=torch.float64))
        net[0].bias.copy_(torch.tensor([p["b1"], p["b2"]], dtype=torch.float64))
        net[2].weight.copy_(torch.tensor([[p["v1"], p["v2"]]], dtype=torch.float64))
        net[2].bias.copy_(torch.tensor([p["c"]], dtype=torch.float64))
    return net


#: the input splits of paper A.2 the toy can show (see the module docstring)
INPUT_SPLITS: tuple[str, ...] = ("positive", "center")


@dataclass
class ToyView:
    """What :class:`ToyExplorer` shows for one setting: the forward split on the grid and the backward
    sensitivity ``δ⁺ᵍ`` at the input (paper B.3) for ``alpha``, next to the gradient ``∂f/∂x``.

    ``delta_pos_g`` and ``gradient`` have shape ``(N, 2)`` (one column per input coordinate). With the unit seed and
    the output shift, ``δ⁺ᵍ`` is the gradient of ``g`` with respect to ``x⁺`` at α = 0 and ``½ ∂f/∂x`` at α = 0.5."""

    decomposition: ToyDecomposition
    alpha: float
    delta_pos_g: np.ndarray
    gradient: np.ndarray

    points = property(lambda self: self.decomposition.points, doc="the grid points ``(N, 2)``")
    f = property(lambda self: self.decomposition.f, doc="``f`` at the points")
    g = property(lambda self: self.decomposition.g, doc="``g`` at the points")
    h = property(lambda self: self.decomposition.h, doc="``h`` at the points")
    input_split = property(lambda self: self.decomposition.input_split, doc="the input split of the view")

    @property
    def reconstruction_error(self) -> float:
        """``max |g − h − f|`` over the grid (Theorem 1 says 0; a check, no longer a panel)."""
        return self.decomposition.reconstruction_error

    @property
    def half_gradient_error(self) -> float:
        """``max |δ⁺ᵍ − ½ ∂f/∂x|`` over the grid: 0 at α = 0.5 (with the output shift), in general not below. On a
        kink (a hidden pre-activation exactly 0) autograd's ``ReLU'(0) = 0`` and the split's tie rule may differ."""
        return float(np.abs(self.delta_pos_g - 0.5 * self.gradient).max())


def toy_view(model: nn.Module, points: np.ndarray | torch.Tensor, *, alpha: float = 0.0,
             input_split: str = "positive") -> ToyView:
    """The function behind :class:`ToyExplorer`: ``f``, ``g``, ``h`` at ``points`` ``(N, 2)`` and the sensitivity
    ``δ⁺ᵍ`` of the input for the first output (unit seed, α-shift ``alpha`` with the output shift, paper B.3), with
    ``∂f/∂x`` from autograd for comparison. Float64, no forward stabilisation (as :func:`decompose_on_grid`)."""
    if input_split not in INPUT_SPLITS:
        raise ValueError(f"input_split must be one of {', '.join(INPUT_SPLITS)}, got {input_split!r}")
    if not 0.0 <= float(alpha) <= 0.5:
        raise ValueError(f"alpha must lie in [0, 0.5] (the paper's range), got {alpha}")
    decomposition = decompose_on_grid(model, points, input_split=input_split)
    x = torch.as_tensor(decomposition.points, dtype=torch.float64)
    record = _split(model, input_split).sensitivities(x, 0, ["input"], alpha=float(alpha))["input"]
    x_grad = x.clone().requires_grad_(True)
    model(x_grad)[:, 0].sum().backward()
    return ToyView(decomposition, float(alpha), record.delta_pos_g.detach().double().numpy(), x_grad.grad.numpy())


def plot_toy_view(view: ToyView, xs: np.ndarray, ys: np.ndarray, *, title: str | None = None, levels: int = 14,
                  arrows: int = 9) -> plt.Figure:
    """The interactive toy's figure: level sets of ``f`` (signed: red > 0, blue < 0, the zero line black), ``g``
    (red: the part *for*) and ``h`` (blue: the part *against*), and ``δ⁺ᵍ`` at the input: colour = its
    ``x₁``-component on a scale symmetric around 0 (red = raises ``g``), arrows = the vector ``(δ⁺ᵍ₁, δ⁺ᵍ₂)`` on an
    ``arrows × arrows`` sub-grid. Colour maps: :data:`~hidden_monotonicity.plots.saliency.SIGNED_CMAP` for the signed
    panels, as every saliency figure of the project. 16:9 (13.3 × 7.5 in), ticks readable on a slide; a text panel gives
    the split, α, ``max |δ⁺ᵍ − ½ ∂f/∂x|`` and the reconstruction error (a number, not a round-off map)."""
    from .saliency import SIGNED_CMAP, SLIDE_SIZE

    dec = view.decomposition
    shape = xs.shape
    figure, axes = plt.subplot_mosaic([["f", "g", "delta", "delta"], ["h", "info", "delta", "delta"]],
                                      figsize=SLIDE_SIZE, layout="constrained")
    panels = [("f", dec.f, SIGNED_CMAP, "f"), ("g", dec.g, "Reds", "g: convex, monotone\n(the part for)"),
              ("h", dec.h, "Blues", "h: convex, monotone\n(the part against)")]
    for key, values, cmap, label in panels:
        ax = axes[key]
        grid = values.reshape(shape)
        if cmap == SIGNED_CMAP:
            limit = float(np.abs(grid).max()) or 1.0
            filled = ax.contourf(xs, ys, grid, levels=np.linspace(-limit, limit, levels + 1), cmap=cmap)
            ax.contour(xs, ys, grid, levels=[0.0], colors="k", linewidths=1.2)
        else:
            filled = ax.contourf(xs, ys, grid, levels=levels, cmap=cmap)
            ax.contour(xs, ys, grid, levels=levels, colors="k", linewidths=0.4, alpha=0.5)
        figure.colorbar(filled, ax=ax, shrink=0.9).ax.tick_params(labelsize=10)
        ax.set_title(label, fontsize=12)
    ax = axes["delta"]
    component = view.delta_pos_g[:, 0].reshape(shape)
    limit = float(np.abs(view.delta_pos_g).max()) or 1.0
    mesh = ax.pcolormesh(xs, ys, component, cmap=SIGNED_CMAP, vmin=-limit, vmax=limit, shading="auto")
    figure.colorbar(mesh, ax=ax, shrink=0.9).ax.tick_params(labelsize=11)
    step = max(1, shape[0] // max(1, arrows))
    sub = (slice(step // 2, None, step), slice(step // 2, None, step))
    ax.quiver(xs[sub], ys[sub], view.delta_pos_g[:, 0].reshape(shape)[sub], view.delta_pos_g[:, 1].reshape(shape)[sub],
              color="k", angles="xy", pivot="middle", width=0.004)
    ax.set_title(f"δ⁺ᵍ at the input, α = {view.alpha:g}\ncolour: its x₁-part; arrows: the vector (δ⁺ᵍ₁, δ⁺ᵍ₂)", fontsize=13)
    for key in ("f", "g", "h", "delta"):
        axes[key].set_aspect("equal")
        axes[key].tick_params(labelsize=10 if key != "delta" else 11)
        axes[key].set_xlabel("x₁", fontsize=11)
        axes[key].set_ylabel("x₂", fontsize=11)
    info = axes["info"]
    info.axis("off")
    info.text(0.02, 0.95, f"input split: {dec.input_split!r}\nα = {view.alpha:g}\n\nmax |δ⁺ᵍ − ½ ∂f/∂x| = "
                          f"{view.half_gradient_error:.2g}\n(0 at α = 0.5)\n\nmax |g − h − f| = "
                          f"{view.reconstruction_error:.1e}\n(Theorem 1)", transform=info.transAxes, va="top",
              fontsize=11, family="monospace")
    figure.suptitle(title or f"2-D ReLU network, input split {dec.input_split!r}", fontsize=14)
    return figure


class ToyExplorer:
    """Sliders for the nine weights of :func:`tiny_relu_network` and for α, a toggle for the input split
    (``"positive"`` / ``"center"``, paper A.2), and the live figure :func:`plot_toy_view` of :func:`toy_view`: level
    sets of ``f``, ``g``, ``h`` and the backward sensitivity ``δ⁺ᵍ`` at the input. Works headless: :meth:`update`
    changes weights, α or the split and redraws without a frontend, :meth:`figure` returns the current figure.

    The view is written into the ``ipywidgets.Output``'s ``outputs`` directly (never ``with output:``), as in the
    explorer of notebook 06, so it updates the same way in JupyterLab and under papermill."""

    def __init__(self, *, points: int = 41, extent: float = 2.0, input_split: str = "positive", alpha: float = 0.0,
                 **weights: float):
        self.weights = {**TOY_DEFAULTS}
        tiny_relu_network(**weights)  # validates the names
        self.weights.update({k: float(v) for k, v in weights.items()})
        self.xs, self.ys, self.points = grid_2d(points, extent)
        self.input_split = input_split
        self.alpha = float(alpha)
        self.sliders: dict[str, Any] = {}  # the nine weights
        self.alpha_slider = None
        self.split_toggle = None
        self.output = None
        self.view = self._compute()

    @property
    def decomposition(self) -> ToyDecomposition:
        """The forward split of the current view."""
        return self.view.decomposition

    def _compute(self) -> ToyView:
        return toy_view(tiny_relu_network(**self.weights), self.points, alpha=self.alpha, input_split=self.input_split)

    def figure(self) -> plt.Figure:
        """The current ``f``, ``g``, ``h`` level sets and ``δ⁺ᵍ`` as a figure."""
        text = ", ".join(f"{k}={v:+.2f}" for k, v in self.weights.items())
        return plot_toy_view(self.view, self.xs, self.ys,
                             title=f"f(x) = v·ReLU(Wx + b) + c, input split {self.input_split!r}\n[{text}]")

    def update(self, *, alpha: float | None = None, input_split: str | None = None, **weights: float) -> ToyView:
        """Set some weights, α and/or the input split, recompute, redraw (when built) and return the view."""
        tiny_relu_network(**weights)
        if input_split is not None and input_split not in INPUT_SPLITS:
            raise ValueError(f"input_split must be one of {', '.join(INPUT_SPLITS)}, got {input_split!r}")
        if alpha is not None and not 0.0 <= float(alpha) <= 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5] (the paper's range), got {alpha}")
        self.weights.update({k: float(v) for k, v in weights.items()})
        self.alpha = self.alpha if alpha is None else float(alpha)
        self.input_split = self.input_split if input_split is None else input_split
        for name, value in weights.items():
            if name in self.sliders and self.sliders[name].value != value:
                self.sliders[name].value = float(value)  # fires _on_change, which finds nothing new to do
        if self.alpha_slider is not None and self.alpha_slider.value != self.alpha:
            self.alpha_slider.value = self.alpha
        if self.split_toggle is not None and self.split_toggle.value != self.input_split:
            self.split_toggle.value = self.input_split
        self.view = self._compute()
        self._redraw()
        return self.view

    def _redraw(self) -> None:
        if self.output is None:
            return
        from ..widgets import figure_output

        figure = self.figure()
        try:
            self.output.outputs = (figure_output(figure),)
        finally:
            plt.close(figure)

    def _on_change(self, change: Mapping[str, Any]) -> None:
        name = change["owner"].description
        if name == "α":
            if self.alpha != change["new"]:
                self.update(alpha=change["new"])
        elif name == "input split":
            if self.input_split != change["new"]:
                self.update(input_split=change["new"])
        elif self.weights.get(name) != change["new"]:
            self.update(**{name: change["new"]})

    def build(self):
        """The sliders, the α slider, the input-split toggle and the live figure, as an ``ipywidgets.VBox``."""
        import ipywidgets as widgets

        self.sliders = {
            name: widgets.FloatSlider(value=self.weights[name], min=-2.0, max=2.0, step=0.1, description=name,
                                      continuous_update=False, layout=widgets.Layout(width="220px"))
            for name in TOY_PARAMETERS
        }
        self.alpha_slider = widgets.FloatSlider(value=self.alpha, min=0.0, max=0.5, step=0.05, description="α",
                                                continuous_update=False, layout=widgets.Layout(width="220px"))
        self.split_toggle = widgets.ToggleButtons(options=list(INPUT_SPLITS), value=self.input_split,
                                                  description="input split")
        for control in (*self.sliders.values(), self.alpha_slider, self.split_toggle):
            control.observe(self._on_change, names="value")
        self.output = widgets.Output()
        self._redraw()
        rows = [widgets.HBox([self.sliders[n] for n in names]) for names in
                (("w11", "w12", "b1"), ("w21", "w22", "b2"), ("v1", "v2", "c"))]
        return widgets.VBox([widgets.HTML("<b>W</b> (rows: hidden units), <b>b</b>, output <b>v</b>, <b>c</b>; "
                                          "backward: <b>α</b>; forward: the input split"), *rows,
                             widgets.HBox([self.alpha_slider, self.split_toggle]), self.output])


def plot_backward_common_mode(table: pd.DataFrame, *, title: str | None = None) -> plt.Figure:
    """The backward common mode ``|δ⁺ + δ⁻|`` per layer and α (``hm.teaching.common_mode_table``): measured
    (solid, filled) and the prediction ``(1 − 2α)^k ×`` the α = 0 value (open circles), log scale. Exact zeros
    (α = 0.5 below the output) sit on a dotted floor line labelled "exactly 0"."""
    figure, ax = plt.subplots(figsize=(7.5, 4.4), layout="constrained")
    layers = list(dict.fromkeys(table["layer"]))
    position = {name: i for i, name in enumerate(layers)}
    positive = table.loc[table["common_mode"] > 0, "common_mode"]
    floor = float(positive.min()) / 100 if not positive.empty else 1e-20
    colours = plt.cm.plasma(np.linspace(0, 0.85, table["alpha"].nunique()))
    for colour, (alpha, rows) in zip(colours, table.groupby("alpha", sort=True)):
        x = rows["layer"].map(position)
        measured = rows["common_mode"].where(rows["common_mode"] > 0, floor)
        ax.plot(x, measured, marker="o", lw=1.8, color=colour, label=f"α = {alpha:g}")
        ax.plot(x, rows["predicted"].where(rows["predicted"] > 0, floor), ls="none", marker="o", ms=10, mfc="none",
                color=colour)
    if (table["common_mode"] == 0).any():
        ax.axhline(floor, color="0.6", lw=0.8, ls=":")
        ax.annotate("exactly 0", (0, floor), xytext=(2, 3), textcoords="offset points", fontsize=9, color="0.35")
    ax.plot([], [], ls="none", marker="o", ms=10, mfc="none", color="0.3", label="(1 − 2α)^k × (α = 0 value)")
    ax.set_yscale("log")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, fontsize=9)
    ax.set_xlabel("layer (sensitivity of its output; k = number of layers above it)", fontsize=10)
    ax.set_ylabel("mean |δ⁺ + δ⁻| (common mode)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or "The α-shift multiplies the backward common mode by (1 − 2α) per layer", fontsize=11)
    return figure
