"""Saliency galleries (paper section C and Fig. 4): maps of several methods, α sweeps, layer sweeps, stream maps.

Everything goes through ``hm.explain``, so the maps are exactly those the quantitative evaluation scores.

* :func:`compute_maps` - ``{label: (N, H, W) array}`` for a list of ``(label, method, params)`` rows;
* :func:`evenly_spaced_layers` - ``k`` layers a split method (or a CAM) can explain, from shallow to deep;
* :func:`alpha_sweep`, :func:`layer_sweep`, :func:`stream_maps` - the map dictionaries of notebook 03
  (SplitCAM for α = 0 … 0.5; one method across depths; the g/h and ± stream variants of SplitCAM and the
  R⁺, R⁻, R⁺ − R⁻ maps of SplitLRP);
* :func:`plot_gallery` - images in rows, maps in columns, every map over its (dimmed grey) image with the object
  mask's contour; signed maps use a diverging colour map symmetric around 0 (red = evidence for the class,
  blue = against), scaled per map (:func:`saliency_rgba`) and transparent where the map is 0;
* :func:`plot_grid` - one image, methods in rows and layers (or any other setting) in columns (Fig. 4);
* :func:`overlay` - one such panel (used by the interactive explorer too).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

__all__ = [
    "MapRow",
    "alpha_sweep",
    "compute_maps",
    "evenly_spaced_layers",
    "layer_sweep",
    "overlay",
    "plot_gallery",
    "plot_grid",
    "saliency_rgba",
    "stream_maps",
    "to_display_image",
]

#: One gallery column: ``(label, method name, parameters for hm.explain)``.
MapRow = tuple[str, str, Mapping[str, Any]]


def compute_maps(model: nn.Module, x: torch.Tensor, targets, rows: Sequence[MapRow]) -> dict[str, np.ndarray]:
    """Run ``hm.explain`` for every ``(label, method, params)`` row; returns ``{label: (N, H, W) float32}``."""
    from ..methods import explain

    labels = [label for label, _, _ in rows]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"gallery labels must be unique, repeated: {duplicates}")
    return {label: explain(model, x, targets, method, **dict(params))[:, 0].cpu().numpy() for label, method, params in rows}


def evenly_spaced_layers(model: nn.Module, example: torch.Tensor, count: int, *, family: str = "split") -> list[str]:
    """``count`` evenly spaced explainable layers, shallow to deep, the deepest included.

    ``family="split"``: spatial ReLU outputs of the split network (as the evaluation's layer grids, without
    ``"input"``); ``"cam"``: the convolution-block outputs the CAM baselines accept.
    """
    from ..methods.layers import conv_block_outputs, resolve_layer_rule, split_layer_candidates

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if family == "split":
        candidates = [name for name in split_layer_candidates(model, example) if name != "input"]
    elif family == "cam":
        candidates = conv_block_outputs(model)
    else:
        raise ValueError(f"family must be 'split' or 'cam', got {family!r}")
    return resolve_layer_rule(f"@evenly:{count}", candidates)


def alpha_sweep(model: nn.Module, x: torch.Tensor, targets, alphas: Sequence[float], *, method: str = "splitcam",
                **params: Any) -> dict[str, np.ndarray]:
    """Maps of a split method for every α (paper B.3: α = 0 true split gradient, α = 0.5 gradient multiple)."""
    return compute_maps(model, x, targets, [(f"α = {alpha:g}", method, {**params, "alpha": float(alpha)}) for alpha in alphas])


def layer_sweep(model: nn.Module, x: torch.Tensor, targets, layers: Sequence[str], *, method: str = "splitcam",
                label: str | None = None, **params: Any) -> dict[str, np.ndarray]:
    """Maps of one method at each of ``layers`` (the Fig. 4 analogue: shallow to deep)."""
    name = label or method
    return compute_maps(model, x, targets, [(f"{name} @ {layer}", method, {**params, "layer": layer}) for layer in layers])


def stream_maps(model: nn.Module, x: torch.Tensor, targets, *, layer: str | None = None, alpha: float = 0.4,
                lrp_layer: str = "input", **params: Any) -> dict[str, np.ndarray]:
    """SplitCAM for the four (stream, output) pairs (paper C.1 superscripts (l, ±, g/h)) and the SplitLRP
    relevance of the + stream, the − stream and their difference (C.3)."""
    rows: list[MapRow] = []
    for stream, sign in (("pos", "+"), ("neg", "−")):
        for output in ("g", "h"):
            rows.append((f"SplitCAM ({sign},{output})", "splitcam", {**params, "layer": layer, "alpha": alpha, "stream": stream, "output": output}))
    for relevance, label in (("pos", "R⁺"), ("neg", "R⁻"), ("pos-neg", "R⁺ − R⁻")):
        rows.append((f"SplitLRP {label}", "splitlrp", {"layer": lrp_layer, "relevance": relevance}))
    return compute_maps(model, x, targets, rows)


# ------------------------------------------------------------------------------------------- drawing
def to_display_image(image: torch.Tensor | np.ndarray, mean: Sequence[float] | None = None,
                     std: Sequence[float] | None = None) -> np.ndarray:
    """A ``(3, H, W)`` (normalised) image as ``(H, W, 3)`` floats in [0, 1] for ``imshow``."""
    array = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float64)
    if array.ndim != 3 or array.shape[0] not in (1, 3):
        raise ValueError(f"expected an image of shape (3, H, W) or (1, H, W), got {array.shape}")
    if mean is not None and std is not None:
        array = array * np.asarray(std).reshape(-1, 1, 1) + np.asarray(mean).reshape(-1, 1, 1)
    else:  # unknown normalisation: stretch to [0, 1]
        array = (array - array.min()) / (np.ptp(array) or 1.0)
    array = np.clip(array, 0.0, 1.0).transpose(1, 2, 0)
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def display_limit(saliency: np.ndarray, percentile: float = 99.5) -> float:
    """The value shown in full colour by :func:`saliency_rgba`: the ``percentile`` of ``|map|`` over its finite
    values (the maximum when that is 0; 1 for an all-zero map)."""
    values = np.abs(np.asarray(saliency, dtype=np.float64))
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 1.0
    limit = float(np.percentile(finite, percentile)) or float(finite.max())
    return limit or 1.0


def saliency_rgba(saliency: np.ndarray, *, cmap: str = "bwr", map_alpha: float = 0.85, gamma: float = 0.6,
                  percentile: float = 99.5, limit: float | None = None) -> np.ndarray:
    """A signed map as an RGBA image: colour from ``cmap`` on a scale symmetric around 0, full colour at ``limit``
    (default :func:`display_limit`: the ``percentile`` of ``|map|``, so a few extreme pixels do not wash out the
    rest; 100 = the maximum), opacity growing with ``|map|`` (``map_alpha · min(1, |v| / limit)^gamma``), so that
    where the map is 0 the image underneath shows unchanged. Display only: the scores never see this scaling."""
    values = np.asarray(saliency, dtype=np.float64)
    finite = np.isfinite(values)
    limit = display_limit(values, percentile) if limit is None else float(limit)
    scaled = np.clip(np.where(finite, values, 0.0) / (limit or 1.0), -1.0, 1.0)
    rgba = plt.get_cmap(cmap)((scaled + 1.0) / 2.0)
    rgba[..., 3] = map_alpha * np.abs(scaled) ** gamma
    return rgba


def overlay(ax: plt.Axes, image: np.ndarray, saliency: np.ndarray | None, mask: np.ndarray | None = None, *,
            title: str = "", map_alpha: float = 0.85, cmap: str = "bwr", contour_colour: str = "lime",
            limit: float | None = None) -> None:
    """Draw ``image`` (dimmed grey) with ``saliency`` on top (:func:`saliency_rgba`: red positive, blue negative,
    transparent where 0, full colour at ``limit``) and the contour of ``mask``. ``saliency=None`` shows the image in
    colour only."""
    ax.set_xticks([])
    ax.set_yticks([])
    if saliency is None:
        ax.imshow(image, interpolation="nearest")
    else:
        grey = 0.25 + 0.5 * image.mean(axis=2)  # dimmed: the map's colours stay visible on bright strokes
        ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.imshow(saliency_rgba(saliency, cmap=cmap, map_alpha=map_alpha, limit=limit), interpolation="bilinear")
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float64)
        if 0 < mask.sum() < mask.size:
            ax.contour(mask, levels=[0.5], colors=[contour_colour], linewidths=0.9)
    if title:
        ax.set_title(title, fontsize=8)


def plot_gallery(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    masks: np.ndarray | None = None,
    row_labels: Sequence[str] | None = None,
    title: str = "",
    panel_size: float = 1.7,
) -> plt.Figure:
    """Images ``(N, H, W, 3)`` in rows; first column the image, then one column per entry of ``maps``."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("plot_gallery needs at least one image")
    for label, values in maps.items():
        if len(values) != n:
            raise ValueError(f"maps[{label!r}] has {len(values)} maps for {n} images")
    columns = 1 + len(maps)
    figure, axes = plt.subplots(n, columns, figsize=(panel_size * columns, panel_size * n + 0.5), squeeze=False,
                                layout="constrained")
    for row in range(n):
        mask = None if masks is None else np.asarray(masks[row]).squeeze()
        overlay(axes[row, 0], images[row], None, mask, title="image" if row == 0 else "")
        if row_labels is not None:
            axes[row, 0].set_ylabel(row_labels[row], fontsize=8)
        for column, (label, values) in enumerate(maps.items(), start=1):
            overlay(axes[row, column], images[row], values[row], mask, title=label if row == 0 else "")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_grid(
    image: np.ndarray,
    grid: Mapping[str, Mapping[str, np.ndarray]],
    *,
    mask: np.ndarray | None = None,
    title: str = "",
    panel_size: float = 1.8,
) -> plt.Figure:
    """One image; ``grid[row label][column label]`` is a 2-D map. Rows may have different columns (e.g. the
    layers each method accepts); missing panels stay empty. Column titles are given per panel."""
    if not grid:
        raise ValueError("plot_grid needs at least one row")
    rows = list(grid)
    columns = max(len(cells) for cells in grid.values())
    figure, axes = plt.subplots(len(rows), columns, figsize=(panel_size * columns, panel_size * len(rows) + 0.5),
                                squeeze=False, layout="constrained")
    for r, row in enumerate(rows):
        cells = list(grid[row].items())
        for c in range(columns):
            ax = axes[r, c]
            if c >= len(cells):
                ax.axis("off")
                continue
            label, values = cells[c]
            overlay(ax, image, np.asarray(values), mask, title=label)
        axes[r, 0].set_ylabel(row, fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
