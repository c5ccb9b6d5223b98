"""Figures of the localisation benchmarks: the digits (one image per class) and the grid pointing game's mosaics,
each with its ground-truth mask's contour."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..data.localisation import LocalisationDataset

__all__ = ["plot_benchmark_samples", "plot_mosaics"]


def plot_benchmark_samples(
    dataset: LocalisationDataset,
    path: str | Path | None = None,
    *,
    per_class: int = 1,
    seed: int = 0,
    contour_colour: str = "#ff00ff",
    dpi: int = 150,
) -> Figure:
    """Show ``per_class`` images of every class (randomly chosen with ``seed``) with the mask contour.

    Args:
        dataset: a :class:`~hidden_monotonicity.data.LocalisationDataset` (images are denormalised for display).
        path: where to save the figure (PNG/PDF by suffix); ``None`` only returns it.
        per_class: rows of examples per class.
        seed: seed of the choice of examples.
        contour_colour: colour of the mask outline (level 0.5 of the binary mask).
        dpi: resolution of the saved file.
    """
    import matplotlib.pyplot as plt

    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    labels = dataset.labels.numpy()
    classes = sorted(set(labels.tolist()))
    if not classes:
        raise ValueError("the dataset is empty")
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        per_class, len(classes), figsize=(1.3 * len(classes), 1.45 * per_class), squeeze=False, constrained_layout=True
    )
    for column, label in enumerate(classes):
        members = np.flatnonzero(labels == label)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for row in range(per_class):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            if row >= len(chosen):
                ax.axis("off")
                continue
            image, _, mask = dataset[int(chosen[row])]
            ax.imshow(dataset.denormalise(image).permute(1, 2, 0).numpy(), interpolation="nearest")
            mask_np = mask[0].numpy()
            if 0 < mask_np.sum() < mask_np.size:
                ax.contour(mask_np, levels=[0.5], colors=[contour_colour], linewidths=0.8)
            if row == 0:
                ax.set_title(dataset.class_names[label], fontsize=9)
    split = dataset.meta.get("split")
    fig.suptitle(f"{dataset.meta.get('source', 'dataset')}" + (f" - {split}" if split else ""), fontsize=7)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def plot_mosaics(
    dataset: LocalisationDataset,
    *,
    count: int | None = None,
    contour_colour: str = "#ff00ff",
    panel_size: float = 1.9,
    title: str = "",
) -> Figure:
    """The first ``count`` images of a grid pointing game (:func:`hidden_monotonicity.data.grid_pointing_game`) in one
    row, each titled with its target class and outlined where its mask (the target cell) is."""
    import matplotlib.pyplot as plt

    count = len(dataset) if count is None else min(int(count), len(dataset))
    if count < 1:
        raise ValueError("plot_mosaics needs at least one image")
    fig, axes = plt.subplots(1, count, figsize=(panel_size * count, panel_size + 0.5), squeeze=False, layout="constrained")
    for index, ax in enumerate(axes[0]):
        image, label, mask = dataset[index]
        ax.imshow(dataset.denormalise(image).permute(1, 2, 0).numpy(), interpolation="nearest")
        # pad the mask so that the outline is closed where the target cell touches the image border
        height, width = mask.shape[-2:]
        padded = np.pad(mask[0].numpy(), 1)
        ax.contour(np.arange(-1, width + 1), np.arange(-1, height + 1), padded, levels=[0.5], colors=[contour_colour],
                   linewidths=1.5)
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_title(dataset.class_names[int(label)], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
