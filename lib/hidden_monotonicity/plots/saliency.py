"""Saliency galleries (paper section C and Fig. 4): maps of several methods, α sweeps, layer sweeps, stream maps.

Everything goes through ``hm.explain``, so the maps are exactly those the quantitative evaluation scores.

* :func:`compute_maps` - ``{label: (N, H, W) array}`` for a list of ``(label, method, params)`` rows;
* :func:`evenly_spaced_layers` - ``k`` layers a split method (or a CAM) can explain, from shallow to deep;
* :func:`alpha_sweep`, :func:`layer_sweep`, :func:`stream_maps` - the map dictionaries of notebook 03
  (SplitCAM for α = 0 … 0.5; one method across depths; the g/h and ± stream variants of SplitCAM and the
  R⁺, R⁻, R⁺ − R⁻ maps of SplitLRP);
* :func:`layer_sweep_grid`, :func:`layer_similarity`, :func:`best_matching_layers` - the Fig. 4 analogue
  (SplitCAM, SplitLRP, LayerCAM and LRP-γ across depths) and which SplitCAM depth matches which LRP-γ depth;
* :func:`plot_gallery` - images in rows, maps in columns, every map over its (dimmed grey) image with the object
  mask's contour; signed maps use a diverging colour map symmetric around 0 (red = evidence for the class,
  blue = against; R⁻, evidence against with positive values, with the colour map reversed), on a stated scale
  (:func:`saliency_rgba`: per panel, or shared per row / column with a colourbar; a panel that the shared scale
  would leave nearly blank gets its own scale and says so, :data:`OWN_SCALE_BELOW`) and transparent where 0;
  ``aspect=16/9`` draws the same figure at the 16:9 slide size :data:`SLIDE_SIZE`;
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
    "OWN_SCALE_BELOW",
    "SIGNED_CMAP",
    "SLIDE_SIZE",
    "alpha_sweep",
    "compute_maps",
    "display_limit",
    "map_cmap",
    "evenly_spaced_layers",
    "layer_sweep",
    "layer_sweep_grid",
    "layer_similarity",
    "best_matching_layers",
    "LAYER_SWEEP_METHODS",
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
    """Maps of one method at each of ``layers`` (the Fig. 4 analogue: shallow to deep), titled with ``label``
    (default: the method's registered label, e.g. "SplitCAM")."""
    from ..methods import get_method

    name = label or get_method(method).label
    return compute_maps(model, x, targets, [(f"{name} @ {layer}", method, {**params, "layer": layer}) for layer in layers])


#: The rows of the Fig. 4 analogue: ``(method, which layers)`` - ``"split"``: the split layers (ReLU outputs),
#: ``"cam"``: the convolution-block outputs (LayerCAM, and LRP-γ: the relevance at the block's output).
LAYER_SWEEP_METHODS: tuple[tuple[str, str], ...] = (
    ("splitcam", "split"), ("splitlrp", "split"), ("layercam", "cam"), ("lrp_gamma", "cam"),
)


def layer_sweep_grid(model: nn.Module, x: torch.Tensor, targets, split_layers: Sequence[str], cam_layers: Sequence[str],
                     *, methods: Sequence[tuple[str, str]] = LAYER_SWEEP_METHODS,
                     params: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The Fig. 4 analogue as data: ``{method label: {layer: (N, H, W) maps}}``, one row per ``(method, layers)`` of
    ``methods`` (default :data:`LAYER_SWEEP_METHODS`: SplitCAM and SplitLRP at ``split_layers``, LayerCAM and LRP-γ
    at ``cam_layers``), shallow to deep. ``params``: extra ``hm.explain`` parameters per method name (e.g.
    ``{"splitcam": {"alpha": 0.4}}``). Pass the row of one image to :func:`plot_grid` (``{row: {layer: maps[i]}}``)
    and two rows to :func:`layer_similarity`."""
    from ..methods import get_method

    params = dict(params or {})
    unknown = sorted(set(params) - {method for method, _ in methods})
    if unknown:
        raise ValueError(f"params names method(s) {unknown} that are not rows of the sweep; rows: {[m for m, _ in methods]}")
    grid: dict[str, dict[str, np.ndarray]] = {}
    for method, family in methods:
        if family not in ("split", "cam"):
            raise ValueError(f"the layers of {method!r} must be 'split' or 'cam', got {family!r}")
        layers = split_layers if family == "split" else cam_layers
        maps = layer_sweep(model, x, targets, layers, method=method, **dict(params.get(method, {})))
        grid[get_method(method).label] = {key.split(" @ ", 1)[1]: value for key, value in maps.items()}
    return grid


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (ties get their mean rank); NaN when either map is constant."""
    from scipy.stats import rankdata

    ranks_a, ranks_b = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    if np.ptp(ranks_a) == 0 or np.ptp(ranks_b) == 0:
        return float("nan")
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def layer_similarity(rows_a: Mapping[str, np.ndarray], rows_b: Mapping[str, np.ndarray], *, name_a: str = "SplitCAM",
                     name_b: str = "LRP-γ", network: str | None = None):  # noqa: ANN201 - a DataFrame
    """Which depth of one method matches which depth of another: Spearman's rank correlation between the map of
    ``rows_a[layer_a]`` and the map of ``rows_b[layer_b]`` of the same image, for every pair of layers, averaged over
    the images (maps ``(N, H, W)`` at the input resolution, as :func:`layer_sweep_grid` returns them; rank correlation
    because the methods' scales differ by orders of magnitude and the CAMs are min-max scaled).

    Returns a long table, one row per pair: ``network`` (when given), ``<name_a> layer``, ``<name_a> depth`` (1 =
    shallowest of ``rows_a``), the same for ``name_b``, ``spearman`` (mean over the images, NaN where a map is
    constant) and ``images``."""
    import pandas as pd

    if not rows_a or not rows_b:
        raise ValueError("layer_similarity needs at least one layer in each of rows_a and rows_b")
    counts = {len(np.asarray(maps)) for maps in [*rows_a.values(), *rows_b.values()]}
    if len(counts) != 1:
        raise ValueError(f"every layer must hold maps of the same images, got image counts {sorted(counts)}")
    records = []
    for depth_a, (layer_a, maps_a) in enumerate(rows_a.items(), start=1):
        for depth_b, (layer_b, maps_b) in enumerate(rows_b.items(), start=1):
            maps_a, maps_b = np.asarray(maps_a), np.asarray(maps_b)
            if maps_a.shape != maps_b.shape:
                raise ValueError(f"maps of {layer_a!r} {maps_a.shape} and {layer_b!r} {maps_b.shape} differ in shape; "
                                 "compare maps at the input resolution")
            values = [_spearman(a, b) for a, b in zip(maps_a, maps_b)]
            finite = [value for value in values if np.isfinite(value)]
            records.append({
                **({"network": network} if network is not None else {}),
                f"{name_a} layer": layer_a, f"{name_a} depth": depth_a,
                f"{name_b} layer": layer_b, f"{name_b} depth": depth_b,
                "spearman": float(np.mean(finite)) if finite else float("nan"), "images": len(values),
            })
    return pd.DataFrame(records)


def best_matching_layers(table, *, name_a: str = "SplitCAM", name_b: str = "LRP-γ"):  # noqa: ANN001, ANN201
    """For every ``name_a`` layer of a :func:`layer_similarity` table (per ``network`` when present), the ``name_b``
    layer with the highest Spearman correlation: one row per ``name_a`` layer, in the table's order."""
    keys = [column for column in ("network", f"{name_a} layer") if column in table.columns]
    ranked = table.dropna(subset=["spearman"])
    best = ranked.loc[ranked.groupby(keys, sort=False)["spearman"].idxmax()]
    return best.reset_index(drop=True)


def stream_maps(model: nn.Module, x: torch.Tensor, targets, *, layer: str | None = None, alpha: float = 0.4,
                lrp_layer: str = "input", **params: Any) -> dict[str, np.ndarray]:
    """SplitCAM for the four (stream, output) pairs (paper C.1 superscripts (l, ±, g/h)) and the SplitLRP
    relevance of the + stream, the − stream and their difference (C.3)."""
    from ..methods import get_method

    cam, lrp = get_method("splitcam").label, get_method("splitlrp").label
    rows: list[MapRow] = []
    for stream, sign in (("pos", "+"), ("neg", "−")):
        for output in ("g", "h"):
            rows.append((f"{cam} ({sign},{output})", "splitcam", {**params, "layer": layer, "alpha": alpha, "stream": stream, "output": output}))
    for relevance, label in (("pos", "R⁺"), ("neg", "R⁻"), ("pos-neg", "R⁺ − R⁻")):
        rows.append((f"{lrp} {label}", "splitlrp", {"layer": lrp_layer, "relevance": relevance}))
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
    """The colour scale's end of a map (or of several maps together): the ``percentile`` of ``|map|`` over the
    finite values (its maximum when that is 0); 1.0 for an all-zero or empty map."""
    values = np.abs(np.asarray(saliency, dtype=np.float64))
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    limit = float(np.percentile(finite, percentile))
    return limit if limit > 0 else (float(finite.max()) or 1.0)


def saliency_rgba(saliency: np.ndarray, *, cmap: str = "bwr", map_alpha: float = 0.85, gamma: float = 0.6,
                  percentile: float = 99.5, limit: float | None = None) -> np.ndarray:
    """A signed map as an RGBA image: colour from ``cmap`` on a scale symmetric around 0, full colour at the
    ``percentile`` of ``|map|`` (a few extreme pixels would otherwise wash out the rest; 100 = the maximum), opacity
    growing with ``|map|`` (``map_alpha · min(1, |v| / limit)^gamma``), so that where the map is 0 the image
    underneath shows unchanged. ``limit``: a given scale end (e.g. shared by a row, :func:`display_limit`)
    instead of this map's percentile. Display only: the scores never see this scaling."""
    values = np.asarray(saliency, dtype=np.float64)
    finite = np.isfinite(values)
    limit = float(limit) if limit is not None and limit > 0 else display_limit(values, percentile)
    scaled = np.clip(np.where(finite, values, 0.0) / limit, -1.0, 1.0)
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
        ax.set_title(title, fontsize=9)


#: colour conventions of every saliency figure: red = evidence for the class, blue = evidence against. A map of
#: *against*-evidence with positive values (SplitLRP's R⁻, the relevance on the − stream) is drawn with the colour
#: map reversed, so that it is blue as well.
SIGNED_CMAP = "bwr"
AGAINST_CMAP = "bwr_r"
SCALES = ("panel", "row", "column")
#: A panel whose own scale end is below this fraction of its shared (column) scale would show almost nothing on the
#: shared one (one hotspot in another image sets it): it gets its own scale, marked "own scale" in the panel. (On the
#: benchmark VGG's gallery SplitCAM's panels sit at 0.31-0.43 of the column's scale and looked blank; every other
#: method's at 0.6-1.4.)
OWN_SCALE_BELOW = 0.5
#: The size (inches) of a 16:9 slide figure: PowerPoint's and Beamer-at-169's widescreen page, 13.33 × 7.5 in.
SLIDE_SIZE = (13.333, 7.5)


def map_cmap(label: str) -> str:
    """The colour map of a panel: :data:`AGAINST_CMAP` for the R⁻ maps (label mentions R⁻ but not R⁺), else
    :data:`SIGNED_CMAP`."""
    return AGAINST_CMAP if "R⁻" in label and "R⁺" not in label else SIGNED_CMAP


def _panel_title(label: str) -> str:
    return f"{label} (blue: against)" if map_cmap(label) == AGAINST_CMAP else label


def _limits(table: list[list[np.ndarray | None]], scale: str, percentile: float = 99.5) -> list[list[float | None]]:
    """Colour scale ends for a grid of maps: one per panel, one shared per row or one shared per column."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if scale == "panel":
        return [[None if m is None else display_limit(m, percentile) for m in row] for row in table]
    if scale == "row":
        shared = [display_limit(np.concatenate([np.ravel(m) for m in row if m is not None]) if any(m is not None for m in row) else np.zeros(1), percentile) for row in table]
        return [[shared[r] for _ in row] for r, row in enumerate(table)]
    columns = max(len(row) for row in table)
    shared = []
    for c in range(columns):
        parts = [np.ravel(row[c]) for row in table if c < len(row) and row[c] is not None]
        shared.append(display_limit(np.concatenate(parts) if parts else np.zeros(1), percentile))
    return [[shared[c] for c in range(len(row))] for row in table]


def own_scale_panels(table: list[list[np.ndarray | None]], limits: list[list[float | None]], *,
                     below: float | None = OWN_SCALE_BELOW, percentile: float = 99.5) -> set[tuple[int, int]]:
    """``(row, column)`` of the panels whose own scale end (:func:`display_limit`) is below ``below`` × their shared
    one: on the shared scale they would look blank. ``below=None``: none."""
    if below is None:
        return set()
    found = set()
    for r, row in enumerate(table):
        for c, values in enumerate(row):
            if values is None or limits[r][c] is None:
                continue
            if display_limit(values, percentile) < below * limits[r][c]:
                found.add((r, c))
    return found


def exponent_of(limit: float) -> int:
    """The power of ten a colourbar states in its label instead of an offset text (0 for 0.01 <= limit < 1000)."""
    if not np.isfinite(limit) or limit <= 0 or 1e-2 <= limit < 1e3:
        return 0
    return int(np.floor(np.log10(limit)))


def _colorbar(figure: plt.Figure, axes, limit: float, *, location: str = "right", label: str = "",
              fontsize: float = 7) -> None:
    """A colourbar of :data:`SIGNED_CMAP` on [−limit, limit]. A very small or large scale is written as "× 10^k" in
    the bar's label (centred under / beside the bar), never as matplotlib's offset text at the bar's end, which
    overlaps the neighbouring bar in a row of bars."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    mappable = ScalarMappable(norm=Normalize(-limit, limit), cmap=SIGNED_CMAP)
    bar = figure.colorbar(mappable, ax=axes, location=location, shrink=0.85, fraction=0.04, pad=0.02)
    bar.ax.tick_params(labelsize=fontsize)
    power = exponent_of(limit)
    bar.locator = MaxNLocator(nbins=4, symmetric=True)
    bar.formatter = FuncFormatter(lambda value, _: f"{value / 10.0 ** power:g}")
    bar.update_ticks()
    text = ", ".join(part for part in (label, f"× 1e{power}" if power else "") if part)
    if text:
        bar.set_label(text, fontsize=fontsize)


def _wrap_title(title: str, width_inches: float, fontsize: float) -> str:
    """A panel title broken into lines no wider than the panel (about 0.55 em per character)."""
    import textwrap

    width = max(6, int(width_inches * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.wrap(title, width=width, break_long_words=False)) or title


def _wrap_label(label: str, height_inches: float, fontsize: float) -> str:
    """``label`` broken into lines that fit a rotated y-label along ``height_inches`` (the image inside a panel takes
    about 80 % of it; about 0.62 em per character)."""
    import textwrap

    width = max(8, int(0.8 * height_inches * 72 / (0.62 * fontsize)))
    return "\n".join(textwrap.wrap(label, width=width, break_long_words=False)) or label


_SCALE_NOTE = "red: for, blue: against; full colour at the 99.5th percentile of |map|"


def plot_gallery(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    masks: np.ndarray | None = None,
    row_labels: Sequence[str] | None = None,
    title: str = "",
    panel_size: float = 1.7,
    scale: str = "panel",
    colorbar: bool = False,
    own_scale_below: float | None = OWN_SCALE_BELOW,
    aspect: float | None = None,
) -> plt.Figure:
    """Images ``(N, H, W, 3)`` in rows; first column the image, then one column per entry of ``maps``.

    ``scale``: where the colour scale is shared - ``"panel"`` (each map its own), ``"row"`` (all maps of an image:
    right for sweeps of one method, e.g. over α), ``"column"`` (one method over all images: right for galleries
    of different methods). ``colorbar``: draw the colour scale (one per row / column / panel), symmetric around 0.
    R⁻ maps (evidence against) are drawn with the colour map reversed (:func:`map_cmap`).
    ``own_scale_below`` (``scale="column"`` only): a panel whose own scale end is below this fraction of its
    column's gets its own scale (:func:`own_scale_panels`; one off-object hotspot must not blank the rest of a
    column), marked "own scale ±v" in the panel and named in the title; ``None``: the shared scale everywhere.
    ``aspect``: a figure of this width / height (e.g. ``16 / 9``: :data:`SLIDE_SIZE`, larger fonts), panels
    sized to fit; ``None``: ``panel_size`` per panel. Save a slide figure with ``bbox_inches=None`` so that it
    keeps its aspect. Row labels are wrapped to the panel height."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("plot_gallery needs at least one image")
    for label, values in maps.items():
        if len(values) != n:
            raise ValueError(f"maps[{label!r}] has {len(values)} maps for {n} images")
    columns = 1 + len(maps)
    if aspect is not None:
        width = SLIDE_SIZE[0] if aspect >= 1 else SLIDE_SIZE[1]
        figsize = (width, width / aspect)
        panel_size = min((figsize[0] - (0.6 if colorbar else 0)) / columns, (figsize[1] - 1.2) / (n + (0.5 if colorbar else 0)))
    else:
        figsize = (panel_size * columns + (0.6 if colorbar else 0), panel_size * n + 0.5)
    fontsize = 11 if aspect is not None else 9
    figure, axes = plt.subplots(n, columns, figsize=figsize, squeeze=False, layout="constrained")
    for ax in axes.flat:  # square panels at the top of their cells: a row stays level when a column has a colourbar
        ax.set_anchor("N")
    table = [[np.asarray(values[row]) for values in maps.values()] for row in range(n)]
    limits = _limits(table, scale)
    shared = [row[:] for row in limits]
    own = own_scale_panels(table, limits, below=own_scale_below) if scale == "column" else set()
    for row, column in own:
        limits[row][column] = display_limit(table[row][column])
    # column titles wrapped to the panel width and padded to the same number of lines, so that every panel of a row
    # sits at the same height (constrained layout gives a taller title a taller cell)
    headers = [_wrap_title(text, panel_size, fontsize) for text in ("image", *(_panel_title(label) for label in maps))]
    lines = max(header.count("\n") for header in headers)
    headers = ["\n" * (lines - header.count("\n")) + header for header in headers]
    for row in range(n):
        mask = None if masks is None else np.asarray(masks[row]).squeeze()
        overlay(axes[row, 0], images[row], None, mask, title=headers[0] if row == 0 else "")
        if row_labels is not None:
            axes[row, 0].set_ylabel(_wrap_label(str(row_labels[row]), panel_size, fontsize - 1), fontsize=fontsize - 1)
        for column, (label, values) in enumerate(maps.items(), start=1):
            ax = axes[row, column]
            overlay(ax, images[row], values[row], mask,
                    title=headers[column] if row == 0 else "",
                    cmap=map_cmap(label), limit=limits[row][column - 1])
            if (row, column - 1) in own:
                ax.text(0.03, 0.97, f"own scale ±{limits[row][column - 1]:.2g}", transform=ax.transAxes, va="top",
                        ha="left", fontsize=fontsize - 3, bbox={"facecolor": "white", "alpha": 0.8, "pad": 1.5, "lw": 0})
        if aspect is not None:
            axes[0, 0].title.set_fontsize(fontsize)
            for ax in axes[0, 1:]:
                ax.title.set_fontsize(fontsize)
    if colorbar and maps:
        bar_font = 9 if aspect is not None else 7
        if scale == "row":
            for row in range(n):
                _colorbar(figure, axes[row, 1:].tolist(), limits[row][0], fontsize=bar_font)
        elif scale == "column":
            for column in range(1, columns):
                _colorbar(figure, axes[:, column].tolist(), shared[0][column - 1], location="bottom", fontsize=bar_font)
            # an invisible bar under the image column: every column then has the same layout and the rows stay level
            _colorbar(figure, axes[:, 0].tolist(), 1.0, location="bottom", fontsize=bar_font)
            figure.axes[-1].set_visible(False)
        else:
            for row in range(n):
                for column in range(1, columns):
                    _colorbar(figure, axes[row, column], limits[row][column - 1], fontsize=bar_font)
    if title:
        note = f"{_SCALE_NOTE}, shared per {scale}"
        if own:
            note += ("; panels marked 'own scale' use their own: the shared one would hide them ("
                     + ", ".join(f"{list(maps)[c]} row {r + 1}" for r, c in sorted(own)) + ")")
        text = f"{title}\n({note})" if colorbar else title
        figure.suptitle("\n".join(_wrap_title(line, figsize[0], fontsize + 1) for line in text.split("\n")),
                        fontsize=fontsize + 1)
    return figure


def plot_grid(
    image: np.ndarray,
    grid: Mapping[str, Mapping[str, np.ndarray]],
    *,
    mask: np.ndarray | None = None,
    title: str = "",
    panel_size: float = 1.8,
    scale: str = "panel",
    colorbar: bool = False,
    aspect: float | None = None,
) -> plt.Figure:
    """One image; ``grid[row label][column label]`` is a 2-D map. Rows may have different columns (e.g. the
    layers each method accepts); missing panels stay empty. Column titles are given per panel (name the layer
    there). ``scale`` / ``colorbar`` / ``aspect`` as in :func:`plot_gallery` (``"row"``: one scale per method across
    layers; ``aspect=16/9``: the slide size :data:`SLIDE_SIZE`)."""
    if not grid:
        raise ValueError("plot_grid needs at least one row")
    rows = list(grid)
    columns = max(len(cells) for cells in grid.values())
    if aspect is not None:
        width = SLIDE_SIZE[0] if aspect >= 1 else SLIDE_SIZE[1]
        figsize = (width, width / aspect)
    else:
        figsize = (panel_size * columns + (0.6 if colorbar else 0), panel_size * len(rows) + 0.5)
    figure, axes = plt.subplots(len(rows), columns, figsize=figsize, squeeze=False, layout="constrained")
    limits = _limits([[np.asarray(values) for values in grid[row].values()] for row in rows], scale)
    for r, row in enumerate(rows):
        cells = list(grid[row].items())
        cmap = map_cmap(row)
        for c in range(columns):
            ax = axes[r, c]
            if c >= len(cells):
                ax.axis("off")
                continue
            label, values = cells[c]
            overlay(ax, image, np.asarray(values), mask, title=label, cmap=cmap if cmap != SIGNED_CMAP else map_cmap(label),
                    limit=limits[r][c])
            if colorbar and scale == "panel":
                _colorbar(figure, ax, limits[r][c])
        axes[r, 0].set_ylabel(_panel_title(row), fontsize=9)
        if colorbar and scale == "row" and cells:
            _colorbar(figure, axes[r, : len(cells)].tolist(), limits[r][0])
    if colorbar and scale == "column":
        for c in range(columns):
            present = [r for r, row in enumerate(rows) if c < len(grid[row])]
            if present:
                _colorbar(figure, [axes[r, c] for r in present], limits[present[0]][c], location="bottom")
    if title:
        figure.suptitle(f"{title}\n({_SCALE_NOTE}, shared per {scale})" if colorbar else title, fontsize=11)
    return figure
