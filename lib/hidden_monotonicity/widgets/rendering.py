"""Figures of the explorer: one :class:`~.explorer_model.ExplorerView` (image, the map or two maps on one colour
scale with a colourbar, g/h/f and the scores, the per-layer magnitudes) and the self-explaining models' g/h maps.

Only matplotlib; the widgets (:mod:`.controls`) show these figures as PNGs (:func:`figure_output`).
"""

from __future__ import annotations

import base64
import io
import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.cm import ScalarMappable

from .explorer_model import ExplorerModel, ExplorerView, method_label

__all__ = ["PREVIEW_DPI", "WIDGET_DPI", "figure_output", "render_view", "shared_colourbar"]

#: Resolution of the saved static preview (the titles and text stay legible).
PREVIEW_DPI = 150
#: Resolution of the live view inside the notebook (its width fits JupyterLab's notebook column).
WIDGET_DPI = 80
#: Width of every explorer figure in inches (WIDGET_DPI · FIGURE_WIDTH pixels in the notebook).
FIGURE_WIDTH = 11.0
_TEXT_WIDTH = 40  # characters per line in the text panel


def figure_output(figure: plt.Figure, dpi: int = WIDGET_DPI) -> dict[str, Any]:
    """A matplotlib figure as one ``display_data`` output (PNG) for an ``ipywidgets.Output``'s ``outputs``.

    Setting the widget's outputs directly (instead of ``with output: display(figure)``) needs no routing of
    the kernel's messages by the frontend, so the view updates the same way with and without one (papermill).
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": repr(figure)},
        "metadata": {},
    }


def shared_colourbar(figure: plt.Figure, ax: plt.Axes, limit: float, label: str = "map value") -> None:
    """A colourbar of the ``bwr`` scale from ``-limit`` to ``limit`` (the scale every map panel uses)."""
    bar = figure.colorbar(ScalarMappable(Normalize(-limit, limit), cmap="bwr"), cax=ax)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    bar.formatter.set_powerlimits((-2, 3))
    bar.update_ticks()


def _wrap(line: str) -> list[str]:
    return textwrap.wrap(line, _TEXT_WIDTH, subsequent_indent="    ") or [""]


def _format(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.4g}"


def text_lines(explorer: ExplorerModel, view: ExplorerView) -> list[str]:
    """The text panel: the explained class with its logit, g, h, f (with the split's stabilisation), the scores."""
    state = view.state
    lines = [f"model: {state.model}",
             f"explained: {explorer.class_name(view.target)} (class {view.target}), logit {view.logits[view.target]:.4g}",
             f"true {explorer.class_name(view.true_class)}, predicted {explorer.class_name(view.predicted)}",
             "",
             f"split g − h (stabilisation {view.stabilisation}):",
             f"  g = {view.g:.6g}", f"  h = {view.h:.6g}", f"  f = g − h = {view.f:.6g}"]
    if view.scores:
        lines += ["", "per-image scores:", *[f"  {name}: {_format(value)}" for name, value in view.scores.items()]]
    return [wrapped for line in lines for wrapped in _wrap(line)]


def _draw_profile(ax: plt.Axes, view: ExplorerView) -> None:
    profile = view.profile
    positions = np.arange(len(profile.layers))
    styles = {"a⁺": ("C3", "-"), "a⁻": ("C0", "-"), "δ⁺ᵍ": ("C3", ":"), "δ⁻ᵍ": ("C0", ":"), "δ⁺ʰ": ("C1", "--"),
              "δ⁻ʰ": ("C2", "--")}
    for label, values in profile.magnitudes.items():
        colour, style = styles.get(label, ("k", "-"))
        shown = np.where(values > 0, values, np.nan)
        ax.plot(positions, shown, style, color=colour, marker="o", markersize=2.5, linewidth=1, label=f"mean |{label}|")
    ax.set_yscale("log")
    ax.set_xticks(positions, profile.layers, rotation=30, ha="right", fontsize=7.5)
    ax.tick_params(axis="y", labelsize=7.5)
    if profile.current is not None:
        ax.axvline(profile.layers.index(profile.current), color="grey", linewidth=0.8)
    ax.set_title(f"streams and sensitivities per split layer (image {view.state.image}, class {view.target})", fontsize=8)
    ax.legend(fontsize=7.5, ncol=6, loc="lower center", bbox_to_anchor=(0.5, 1.12), frameon=False)
    ax.grid(alpha=0.3, linewidth=0.5)


def render_view(explorer: ExplorerModel, view: ExplorerView) -> plt.Figure:
    """The view as one figure: image with mask | the map(s) on one colour scale | colourbar | text;
    below, the per-layer magnitudes when the view has them. A failed view shows its reason instead of a map."""
    from ..plots.saliency import display_limit, overlay, to_display_image

    state = view.state
    image = to_display_image(explorer.dataset.images[state.image], explorer.dataset.mean, explorer.dataset.std)
    mask = explorer.dataset.masks[state.image, 0].cpu().numpy()
    panels = view.panels if view.current else []
    n_maps = max(1, len(panels))
    rows = 2 if view.profile is not None and view.current else 1
    height = 3.3 + (2.3 if rows == 2 else 0.0)
    figure = plt.figure(figsize=(FIGURE_WIDTH, height), layout="constrained")
    top, bottom = (figure.subfigures(2, 1, height_ratios=[3.3, 2.3]) if rows == 2 else (figure, None))
    ratios = [1.0] * (1 + n_maps) + [0.06, 1.5]
    axes = top.subplots(1, len(ratios), gridspec_kw={"width_ratios": ratios})
    overlay(axes[0], image, None, mask, title=f"image {state.image}: {explorer.class_name(view.true_class)}")
    text_ax, bar_ax = axes[-1], axes[-2]
    text_ax.axis("off")
    if view.current:
        limit = max(display_limit(values) for _, values in panels)
        for ax, (title, values) in zip(axes[1 : 1 + n_maps], panels):
            overlay(ax, image, values, mask, title=title, limit=limit)
        shared_colourbar(figure, bar_ax, limit, "map value (shared scale)" if n_maps > 1 else "map value")
        lines = text_lines(explorer, view)
    else:
        axes[1].axis("off")
        bar_ax.axis("off")
        axes[1].set_title(f"{method_label(state.method)}: no map", fontsize=8, color="firebrick")
        reason = "\n".join(textwrap.wrap(view.error or "not computed", 30))
        axes[1].text(0.5, 0.5, f"update failed\n(map not current)\n\n{reason}", ha="center", va="center", fontsize=7.5,
                     color="firebrick", transform=axes[1].transAxes, wrap=True)
        lines = text_lines(explorer, view)[:8]
    text_ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7.5,
                 transform=text_ax.transAxes)
    if bottom is not None:
        _draw_profile(bottom.subplots(), view)
    return figure
