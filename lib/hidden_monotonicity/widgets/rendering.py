"""Figures of the explorer: one :class:`~.explorer_model.ExplorerView` (image, the map(s) each with its colourbar -
or one shared scale - in the project's colour convention, what the map means, g/h/f and the scores, the per-layer
magnitudes), its numbers as an HTML table, and the self-explaining models' g/h maps.

Only matplotlib; the widgets (:mod:`.controls`) show these figures as PNGs (:func:`figure_output`).
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.cm import ScalarMappable

from ..plots.saliency import map_cmap
from .explorer_model import COMPARISONS, METHOD_MEANING, ExplorerModel, ExplorerView, friendly_layer, method_label

__all__ = ["PREVIEW_DPI", "WIDGET_DPI", "colour_legend", "figure_output", "info_html", "method_meaning",
           "render_view", "shared_colourbar"]

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


def shared_colourbar(figure: plt.Figure, ax: plt.Axes, limit: float, label: str = "map value", *, cmap: str = "bwr",
                     one_sided: bool = False) -> None:
    """A colourbar of ``cmap`` from ``-limit`` to ``limit`` (the scale a map panel uses); ``one_sided``: only 0 to
    ``limit`` shown (maps of magnitudes, ``|map|``)."""
    bar = figure.colorbar(ScalarMappable(Normalize(-limit, limit), cmap=cmap), cax=ax)
    if one_sided:
        ax.set_ylim(0, limit)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6.5)
    bar.formatter.set_powerlimits((-2, 3))
    bar.update_ticks()


def _wrap(line: str) -> list[str]:
    return textwrap.wrap(line, _TEXT_WIDTH, subsequent_indent="    ") or [""]


def _format(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.4g}"


def explained_quantity(explorer: ExplorerModel, view: ExplorerView, title: str = "") -> str:
    """What a red pixel of the panel titled ``title`` (first line: the method's label) raises: ``g`` or ``h`` (split
    methods, by their output), ``f = g − h`` (the triptych's third panel) or the explained logit (the baselines)."""
    first, _, details = (title or method_label(view.state.method)).partition("\n")
    method = next((m for m in explorer.methods if method_label(m) == first), view.state.method)
    if explorer.spec(method).family != "split":
        return f"the logit of {explorer.class_name(view.target)}"
    if "g − h" in details:
        return "f = g − h"
    return "h" if "h" in [part.strip() for part in details.split(",")] else "g"


def colour_legend(explorer: ExplorerModel, view: ExplorerView) -> str:
    """The colour convention in one line (red = raises, blue = lowers; R⁻ drawn blue; ``|map|`` one-sided)."""
    if view.state.absolute:
        return "|map|: colour shows the magnitude only (the sign is dropped)"
    quantity = explained_quantity(explorer, view, view.panels[0][0] if view.panels else "")
    legend = f"red raises {quantity} (evidence present), blue lowers it (evidence against)"
    if any(map_cmap(title) != "bwr" for title, _ in view.panels):
        legend += "; R⁻ (evidence against) is drawn blue"
    return legend


def method_meaning(explorer: ExplorerModel, method: str) -> str:
    """What the map of ``method`` is, in one line."""
    return METHOD_MEANING.get(method) or f"{method_label(method)}: {explorer.spec(method).description}"


def _class_text(explorer: ExplorerModel, view: ExplorerView, index: int) -> str:
    return f"{explorer.class_name(index)} (class {index}, p = {view.probabilities[index]:.2f})"


def text_lines(explorer: ExplorerModel, view: ExplorerView) -> list[str]:
    """The text panel: the explained class with its logit and probability, g, h, f (split methods only, with the
    split's stabilisation), the scores with the mask they are against."""
    state = view.state
    true = "none (your image)" if view.true_class < 0 else explorer.class_name(view.true_class)
    lines = [f"model: {state.model}",
             f"explained: {_class_text(explorer, view, view.target)}, logit {view.logits[view.target]:.4g}",
             f"true {true}, predicted {explorer.class_name(view.predicted)}"]
    if view.split_family:
        lines += ["", f"split g − h (stabilisation {view.stabilisation}):",
                  f"  g = {view.g:.6g}", f"  h = {view.h:.6g}", f"  f = g − h = {view.f:.6g}"]
    if view.warning:
        lines += ["", f"warning: {view.warning}"]
    if view.current and (view.scores or view.scores_note):
        lines += ["", view.scores_note + (":" if view.scores else ""),
                  *[f"  {name}: {_format(value)}" for name, value in view.scores.items()]]
    return [wrapped for line in lines for wrapped in _wrap(line)]


def info_html(explorer: ExplorerModel, view: ExplorerView) -> str:
    """The view's numbers as an HTML table (the live explorer shows it beside the figure): top-5 classes with
    probabilities, the explained class, g/h/f for the split methods, the scores (or why there are none)."""
    def row(name: str, value: str, css: str = "") -> str:
        return f"<tr{css}><th style='text-align:left;padding-right:8px'>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"

    state = view.state
    rows = [row("model", state.model),
            row("explained class", f"{explorer.class_name(view.target)} ({view.target}), logit "
                                   f"{view.logits[view.target]:.4g}, p = {view.probabilities[view.target]:.3f}"),
            row("true class", "none (your image)" if view.true_class < 0 else explorer.class_name(view.true_class))]
    rows += [row(f"top {k + 1}", f"{explorer.class_name(c)} ({c}): p = {p:.3f}")
             for k, (c, p) in enumerate(view.top_classes(5))]
    if view.current:
        rows.append(row("colours", colour_legend(explorer, view)))
        if len(view.panels) > 1:
            rows.append(row("colour scale", "one shared by all maps" if state.shared_scale else
                            "each map its own (see its colourbar)"))
        rows.append(row("the map", method_meaning(explorer, state.method)))
    if view.split_family:
        rows += [row(f"g ({view.stabilisation})", f"{view.g:.6g}"), row("h", f"{view.h:.6g}"),
                 row("f = g − h", f"{view.f:.6g}")]
    if view.warning:
        rows.append(row("warning", view.warning, " style='color:#b35900'"))
    if view.current and view.scores_note:
        rows.append(f"<tr><th colspan=2 style='text-align:left;padding-top:6px'>{html.escape(view.scores_note)}</th></tr>")
        rows += [row(name, _format(value)) for name, value in view.scores.items()]
    return ("<table class='hm-info' style='font-size:13px;border-collapse:collapse;line-height:1.35'>"
            + "".join(rows) + "</table>")


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
    labels = [friendly_layer(name) for name in profile.layers]
    ax.set_xticks(positions, labels, rotation=60 if len(labels) > 12 else 30, ha="right",
                  fontsize=6.5 if len(labels) > 12 else 7.5)
    ax.tick_params(axis="y", labelsize=7.5)
    if profile.current is not None:
        ax.axvline(profile.layers.index(profile.current), color="grey", linewidth=0.8)
    ax.set_title(f"streams and sensitivities per split layer (image {view.state.image}, class {view.target}; "
                 f"α = {profile.alpha:g}, stabilisation {profile.stabilisation})", fontsize=8)
    ax.legend(fontsize=7.5, ncol=6, loc="lower center", bbox_to_anchor=(0.5, 1.12), frameon=False)
    ax.grid(alpha=0.3, linewidth=0.5)


def panel_limits(view: ExplorerView) -> list[float]:
    """The colour scale end of every panel: its own (default) or one shared (``state.shared_scale``)."""
    from ..plots.saliency import display_limit

    limits = [display_limit(values) for _, values in view.panels]
    return [max(limits)] * len(limits) if view.state.shared_scale and limits else limits


def render_view(explorer: ExplorerModel, view: ExplorerView, *, text: bool = True) -> plt.Figure:
    """The view as one figure: image with mask | each map with its colourbar (per-panel scales, or one shared
    scale; R⁻ maps drawn with the reversed map so that against-evidence is blue, ``plots.saliency.map_cmap``) |
    the text (``text=True``; the live explorer shows it as an HTML table instead); under the maps the colour
    convention and what the method's map is; below, the per-layer magnitudes when the view has them. A failed view
    shows its reason instead of a map."""
    from ..plots.saliency import overlay, to_display_image

    state = view.state
    image = to_display_image(explorer.dataset.images[state.image], explorer.dataset.mean, explorer.dataset.std)
    mask = explorer.dataset.masks[state.image, 0].cpu().numpy()
    panels = view.panels if view.current else []
    n_maps = max(1, len(panels))
    rows = 2 if view.profile is not None and view.current else 1
    width = max(FIGURE_WIDTH if text else 0.0, 2.6 * (1 + n_maps) + 0.55 * n_maps + (3.4 if text else 0.0))
    height = 3.5 + (2.4 if rows == 2 else 0.0)
    # a fixed grid (no constrained layout: that draws the figure twice, +0.4 s per photo update)
    figure = plt.figure(figsize=(width, height))
    grid = figure.add_gridspec(rows, 1, height_ratios=[3.5, 2.4][:rows], left=0.01, right=1 - 0.55 / width,
                               top=1 - 0.55 / height, bottom=(0.6 if rows == 1 else 0.9) / height, hspace=0.9)
    top, bottom = figure, (grid[1] if rows == 2 else None)
    ratios = [1.0] + [1.0, 0.06] * n_maps + ([1.5] if text else [])
    row = grid[0].subgridspec(1, len(ratios), width_ratios=ratios, wspace=0.4)
    axes = [figure.add_subplot(row[0, i]) for i in range(len(ratios))]
    true = "your image" if view.true_class < 0 else explorer.class_name(view.true_class)
    overlay(axes[0], image, None, mask, title=f"image {state.image}: {true}")
    map_axes, bar_axes = axes[1 : 1 + 2 * n_maps : 2], axes[2 : 2 + 2 * n_maps : 2]
    if view.current:
        limits = panel_limits(view)
        scale = "shared scale" if state.shared_scale else "per-panel scale"
        for ax, bar_ax, (title, values), limit in zip(map_axes, bar_axes, panels, limits):
            cmap = map_cmap(title)
            overlay(ax, image, values, mask, title=title, limit=limit, cmap=cmap, map_alpha=state.opacity)
            ax.title.set_fontsize(8)
            label = f"red raises {explained_quantity(explorer, view, title)}" if cmap == "bwr" else "blue: R⁻ (against)"
            label = f"{scale}; {label}" if n_maps > 1 else label
            shared_colourbar(figure, bar_ax, limit, label, cmap=cmap, one_sided=state.absolute)
        if n_maps > 1:
            figure.suptitle(f"{COMPARISONS[state.compare]} - {'one shared colour scale' if state.shared_scale else 'each map on its own colour scale'}",
                         fontsize=8.5, y=1 - 0.05 / height, va="top")
        caption = [colour_legend(explorer, view), method_meaning(explorer, state.method)]
    else:
        for bar_ax in bar_axes:
            bar_ax.axis("off")
        map_axes[0].axis("off")
        map_axes[0].set_title(f"{method_label(state.method)}: no map", fontsize=8, color="firebrick")
        reason = "\n".join(textwrap.wrap(view.error or "not computed", 30))
        map_axes[0].text(0.5, 0.5, f"update failed\n(map not current)\n\n{reason}", ha="center", va="center",
                         fontsize=7.5, color="firebrick", transform=map_axes[0].transAxes, wrap=True)
        caption = []
    if text:
        text_ax = axes[-1]
        text_ax.axis("off")
        text_ax.text(0.0, 1.0, "\n".join(text_lines(explorer, view)), va="top", ha="left", family="monospace",
                     fontsize=7.5, transform=text_ax.transAxes)
    if caption:
        width_chars = int(width * 15)
        figure.text(0.5, axes[1].get_position().y0 - 0.06 / height,
                    "\n".join(wrapped for line in caption for wrapped in textwrap.wrap(line, width_chars)),
                    fontsize=7.5, ha="center", va="top")
    if bottom is not None:
        profile_ax = figure.add_subplot(bottom)
        box = profile_ax.get_position()
        profile_ax.set_position([box.x0 + 0.6 / width, box.y0, box.width - 0.6 / width, box.height])  # room for y ticks
        _draw_profile(profile_ax, view)
    return figure
