"""Figure for paper section F / Fig. 3: per-stream gradient maps of a self-explaining model.

:func:`plot_monotone_streams` draws one row per class, with four columns: the digit, the
g-map ``dg_k/dx``, the h-map ``dh_k/du`` at the h-stream's input ``u`` and the f-gradient ``df_k/dx``,
for class k = the row's class (see :mod:`hidden_monotonicity.monotone.explanations`). The title and the
h-column follow the model's form (``h_input``): ``f(x) = g(x) - h(1-x)``, ``u = 1 - x`` (default), where the
maps add up (f-gradient = g-map + h-map), or ``f(x) = g(x) - h(x)``, ``u = x``, where f-gradient = g-map - h-map.
The maps use a diverging colour map, symmetric around 0, on one scale per row shared by the three
maps, with a colourbar per row; red = positive, blue = negative: more ink at the pixel raises (lowers) g_k for the
g-map and f_k for the f-gradient; for the h-map of the inverted form it raises (lowers) f_k too (u = 1 - x falls
with the ink), for the identity form it raises (lowers) h_k, which counts against f_k. The
stroke outline (intensity > threshold) is drawn on every map to make the Fig. 3 claim
(g on present ink, h on missing ink) visible.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..monotone.data import load_digits_split
from ..monotone.explanations import DEFAULT_STROKE_THRESHOLD, stream_gradients
from ..monotone.model import MonotoneDifference

COLUMN_TITLES = ("digit x", "g-map dg/dx", "h-map dh/du, u=1-x", "f-gradient df/dx")  # h_input="inverted"
#: the model's equation per ``h_input`` (what the h-stream reads), as the figures print it
FORM_EQUATIONS = {"inverted": "f(x) = g(x) - h(1-x)", "identity": "f(x) = g(x) - h(x)"}


def form_equation(model: MonotoneDifference) -> str:
    """``"f(x) = g(x) - h(1-x)"`` or ``"f(x) = g(x) - h(x)"``: the model's form, read from its ``h_input``."""
    h_input = getattr(model, "h_input", "inverted")
    if h_input not in FORM_EQUATIONS:
        raise ValueError(f"unknown h_input {h_input!r} of the model; expected one of {tuple(FORM_EQUATIONS)}")
    return FORM_EQUATIONS[h_input]


def column_titles(model: MonotoneDifference) -> tuple[str, str, str, str]:
    """The four column titles; the h-map's names the h-stream's input (``u=1-x`` or ``u=x``)."""
    if form_equation(model).endswith("h(1-x)"):
        return COLUMN_TITLES
    return (COLUMN_TITLES[0], COLUMN_TITLES[1], "h-map dh/du, u=x", COLUMN_TITLES[3])


def pick_examples(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """First image of each class in ``classes`` (in that order); raises if a class has none."""
    chosen = []
    for cls in classes:
        hits = torch.nonzero(labels == cls).flatten()
        if hits.numel() == 0:
            raise ValueError(f"no image with label {cls} to plot; pass classes= with labels present in the data")
        chosen.append(int(hits[0]))
    index = torch.tensor(chosen)
    return images[index], labels[index]


def plot_monotone_streams(
    model: MonotoneDifference,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    path: str | os.PathLike | None = "figures/monotone_streams.png",
    *,
    classes: Sequence[int] | None = None,
    stroke_threshold: float = DEFAULT_STROKE_THRESHOLD,
    title: str | None = None,
    dpi: int = 150,
    aspect: float | None = None,
) -> plt.Figure:
    """Grid of digit / g-map / h-map / f-gradient, one row per class (explained class = row class).

    ``aspect=16/9``: the slide layout, transposed - one *column* per class, the digit and the three maps in rows, at
    the 16:9 slide size (:data:`~hidden_monotonicity.plots.saliency.SLIDE_SIZE`), one colour scale per class (column).
    Signed maps use :data:`~hidden_monotonicity.plots.saliency.SIGNED_CMAP` (red = for, blue = against), as every
    saliency figure of the project.

    ``images``/``labels`` default to the test part of :func:`load_digits_split`; the first
    image of each class is shown. Images must be square and in [0, 1]. Saves to ``path``
    (parent folders are created) unless ``path`` is None; returns the figure. ``title``: the first line of the
    figure title (default: kind and architecture); the second always states the model's form
    (:func:`form_equation`, from ``model.h_input``), so a title can never name the wrong one.
    """
    if images is None or labels is None:
        data = load_digits_split()
        images, labels = data.x_test, data.y_test
    classes = list(range(model.num_classes)) if classes is None else list(classes)
    x, y = pick_examples(model.flatten_input(images), torch.as_tensor(labels), classes)
    side = int(round(model.in_features**0.5))
    if side * side != model.in_features:
        raise ValueError(f"plot_monotone_streams needs square images, but the model has {model.in_features} features")
    model.eval()
    gradients = stream_gradients(model, x.to(next(model.parameters()).dtype), target=y)
    predicted = gradients.logits.argmax(dim=1)
    maps = gradients.images(side)
    digits = x.reshape(-1, side, side).numpy()
    stroke = digits > stroke_threshold

    from .saliency import SIGNED_CMAP, SLIDE_SIZE, _colorbar

    slide = aspect is not None
    if slide:  # classes in columns, [digit, g, h, f] in rows
        width = SLIDE_SIZE[0] if aspect >= 1 else SLIDE_SIZE[1]
        fig, grid = plt.subplots(4, len(classes), figsize=(width, width / aspect), squeeze=False, layout="constrained")
        axes = grid.T  # axes[class, panel] in both layouts
    else:
        fig, axes = plt.subplots(len(classes), 4, figsize=(4 * 1.75 + 0.9, len(classes) * 1.6 + 0.8), squeeze=False,
                                 layout="constrained")
    fontsize = 11 if slide else 9
    for row, cls in enumerate(classes):
        axes[row, 0].imshow(digits[row], cmap="gray_r", vmin=0, vmax=1)
        name_of_row = f"class {cls}\n(pred {int(predicted[row])})"
        if slide:
            axes[row, 0].set_title(name_of_row, fontsize=fontsize)
        else:
            axes[row, 0].set_ylabel(name_of_row, fontsize=fontsize)
        # one symmetric scale per class, shared by the three maps (f-gradient = g-map +/- h-map, see form_equation)
        row_maps = {name: maps[name][row].double().numpy() for name in ("g", "h", "f")}
        limit = max(float(np.abs(values).max()) for values in row_maps.values()) or 1.0
        for col, name in enumerate(("g", "h", "f"), start=1):
            axes[row, col].imshow(row_maps[name], cmap=SIGNED_CMAP, vmin=-limit, vmax=limit)
            if stroke[row].any() and not stroke[row].all():
                axes[row, col].contour(stroke[row].astype(float), levels=[0.5], colors="k", linewidths=0.6)
        _colorbar(fig, axes[row, 1:].tolist(), limit, location="bottom" if slide else "right",
                  fontsize=9 if slide else 7)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    for col, column_title in enumerate(column_titles(model)):
        if slide:
            axes[0, col].set_ylabel(column_title.replace(" ", "\n", 1), fontsize=fontsize)
        else:
            axes[0, col].set_title(column_title, fontsize=fontsize)
    equation = form_equation(model)
    # u = 1 - x: a red h-map pixel (dh/du > 0) also means "more ink raises f"; u = x: it raises h, so lowers f
    colours = ("red: more ink here raises the class score, blue: lowers it" if equation.endswith("h(1-x)")
               else "red: more ink here raises that map's score (g, h or f; h counts against f), blue: lowers it")
    per = "class (column)" if slide else "row"
    fig.suptitle(f"{title or f'{model.kind.upper()} {model.architecture}'}\n{equation}; {colours} (one scale per {per})",
                 fontsize=12 if slide else 10)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig
