"""Class sensitivity: does a method's map change when another class is explained? (issues 13.4, 25.6)

A sanity check in the sense of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency maps") and
Sixt, Granz & Landgraf (ICML 2020, "When explanations lie: why many modified BP attributions
fail"): explain the same image once for its label ``y`` and once for another class
(``(y + shift) mod C``) and compare the two maps. A map that answers "why class y" must differ from
the map for another class. Quantus's ``RandomLogit`` (similarity to the map of a random other class, in the
evaluation tables) measures the same property with SSIM.

**Two correlations, one baseline.** Every image gets four correlations (Spearman and Pearson each):

* ``other_signed`` - the maps for ``y`` and for the other class, signed. It asks *does the map's sign
  pattern change with the class?* A correlation of -1 is **not** class sensitivity: the map for the other
  class is the same picture with its sign flipped (as class-blind as +1).
* ``other_abs`` - the same two maps, on ``|map|``. It asks *does the map point at the same places for
  another class?* This is the one to read for class (in)sensitivity: it is blind to a global sign flip.
* ``same_signed`` / ``same_abs`` - the **same-class baseline**: the map for ``y`` on the image and the map
  for ``y`` on the image plus a small seeded Gaussian noise (standard deviation ``noise_sd`` times the
  image's own standard deviation). It says how high the correlation of two maps of *the same class* is for
  this method - a method whose maps shatter under a tiny perturbation never reaches 1, however blind to
  the class it is.

How to read them: a method is **class-insensitive** when its ``other_abs`` correlation is high *and* close
to its ``same_abs`` baseline (:func:`summarize_class_sensitivity` reports the paired gap
``same_abs - other_abs`` with its interval: near 0 = the other class changes the map no more than noise
does). It is class-sensitive when ``other_abs`` lies clearly below ``same_abs``. The signed pair answers
the narrower sign question: a high ``other_abs`` with ``other_signed`` near -1 means the method only
flips the sign of one picture (e.g. a contrast of two nearly parallel output weights).

Sixt et al. prove that backward rules which propagate only through positive weights (such as
LRP-z⁺ / LRP-αβ) converge, layer after layer, to a map that does not depend on the explained class.
The split network of the paper has only non-negative weights (``W⁺ = max(W, 0)``, ``W⁻ = max(−W, 0)``),
so SplitLRP falls under that theorem; the split gradients (SplitCAM, SplitGrad) do not, because the
sensitivity pairs carry the signed difference ``W⁺ − W⁻`` back.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import scipy.stats
import torch
from torch import nn

from . import statistics

#: the four per-image comparisons: (first map, second map) and (signed maps or |map|)
QUANTITIES = ("other_signed", "other_abs", "same_signed", "same_abs")
CORRELATIONS = ("spearman", "pearson")
CLASS_SENSITIVITY_COLUMNS = ["method", "sample", "target", "other", "noise_sd"] + [
    f"{quantity}_{correlation}" for correlation in CORRELATIONS for quantity in QUANTITIES
]
#: the same-class baseline's input noise: Gaussian, standard deviation = this fraction of each image's standard
#: deviation. Notebook 04 prints how many test predictions it changes (none at 1 % on the benchmark models); gradient maps
#: of the benchmark VGG already decorrelate under it (Saliency: |map| Spearman 0.76 at 1 %, 0.57 at 5 %, 0.92 at
#: 0.1 %), so the baseline is always reported with its level (notebook 04)
DEFAULT_NOISE_SD = 0.01


def other_classes(targets: torch.Tensor, num_classes: int, shift: int = 3) -> torch.Tensor:
    """``(y + shift) mod C``: a fixed, different class for every image (``shift`` must not be a multiple of C)."""
    if num_classes < 2:
        raise ValueError(f"class sensitivity needs at least two classes, got {num_classes}")
    if shift % num_classes == 0:
        raise ValueError(f"shift {shift} is a multiple of the {num_classes} classes: the other class would be the target")
    return (targets + shift) % num_classes


def map_correlations(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image Spearman and Pearson correlation of two map batches (N, ...); NaN where a map is constant.

    Spearman is the Pearson correlation of the average ranks (ties share their mean rank), as
    :func:`scipy.stats.spearmanr` computes it; done for all images at once.
    """
    a = np.asarray(first, dtype=np.float64).reshape(len(first), -1)
    b = np.asarray(second, dtype=np.float64).reshape(len(second), -1)
    if a.shape != b.shape:
        raise ValueError(f"the two map batches differ in shape: {a.shape} and {b.shape}; pass maps of the same images")
    constant = (np.ptp(a, axis=1) == 0) | (np.ptp(b, axis=1) == 0)
    pearson = _row_pearson(a, b)
    spearman = _row_pearson(scipy.stats.rankdata(a, axis=1), scipy.stats.rankdata(b, axis=1))
    pearson[constant], spearman[constant] = np.nan, np.nan
    return spearman, pearson


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.clip(values, -1.0, 1.0)


def noisy_copy(x: torch.Tensor, noise_sd: float, *, seed: int = 0) -> torch.Tensor:
    """``x`` plus seeded Gaussian noise whose standard deviation is ``noise_sd`` times each image's own standard
    deviation (over channels and pixels); ``noise_sd = 0`` returns an exact copy."""
    _check_noise_sd(noise_sd)
    if noise_sd == 0:
        return x.clone()
    images = x.detach().cpu().double()
    generator = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(images.shape, generator=generator, dtype=torch.float64)
    scale = images.reshape(len(images), -1).std(dim=1, correction=0).reshape(-1, *([1] * (images.dim() - 1)))
    return (images + noise_sd * scale * noise).to(device=x.device, dtype=x.dtype)


def same_class_input(x: torch.Tensor, noise_sd: float, *, seed: int = 0) -> torch.Tensor:
    """The input of the same-class baseline: :func:`noisy_copy` with the seed :func:`class_sensitivity` derives."""
    return noisy_copy(x, noise_sd, seed=statistics.stable_seed(seed, "class sensitivity noise"))


@torch.no_grad()
def changed_predictions(model: torch.nn.Module, x: torch.Tensor, noise_sd: float, *, seed: int = 0) -> int:
    """How many of ``model``'s predictions the same-class baseline's noise changes (it should change none)."""
    return int((model(same_class_input(x, noise_sd, seed=seed)).argmax(1) != model(x).argmax(1)).sum())


def _check_noise_sd(noise_sd: float) -> None:
    if isinstance(noise_sd, bool) or not isinstance(noise_sd, numbers.Real) or not math.isfinite(noise_sd) \
            or noise_sd < 0:
        raise ValueError(f"noise_sd must be a finite number >= 0 (a fraction of the image's standard deviation, "
                         f"e.g. {DEFAULT_NOISE_SD}), got {noise_sd!r}")


def class_sensitivity(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    methods: Mapping[str, tuple[str, Mapping[str, Any]]],
    *,
    shift: int = 3,
    num_classes: int | None = None,
    noise_sd: float = DEFAULT_NOISE_SD,
    batch_size: int | None = 32,
    explain: Callable[..., torch.Tensor] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Per image and method: correlation of the map for the label with the map for class ``(y + shift) mod C``
    (signed and on ``|map|``) and the same-class baseline (the map for the label under input noise).

    ``methods``: ``{row label: (method name, parameters)}`` (e.g. the configurations chosen on the
    validation split). Every image of ``x`` is used. Three explanations per image and method: label, other
    class, label on the noisy image (:func:`noisy_copy` with ``noise_sd``, the same noise for every method);
    each call is seeded alike, so a stochastic method (GradientSHAP) draws the same samples for all three and
    ``noise_sd = 0`` gives a baseline of exactly 1. ``batch_size`` images are explained at a time (None: all).
    Returns one row per (method, image): :data:`CLASS_SENSITIVITY_COLUMNS`; see the module docstring for
    which correlation answers which question.
    """
    from ..environment import seed_everything

    _check_noise_sd(noise_sd)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive number of images or None (all at once), got {batch_size!r}")
    if len(x) != len(targets):
        raise ValueError(f"{len(x)} images but {len(targets)} targets; pass one label per image")
    if explain is None:
        from ..methods.registry import explain
    if num_classes is None:
        with torch.no_grad():
            num_classes = int(model(x[:2]).shape[1])
    others = other_classes(targets, num_classes, shift)
    noisy = same_class_input(x, noise_sd, seed=seed)
    step = len(x) if batch_size is None else int(batch_size)
    rows = []
    for label, (method, params) in methods.items():
        maps: dict[str, list[np.ndarray]] = {"label": [], "other": [], "noisy": []}
        for start in range(0, len(x), max(step, 1)):
            part = slice(start, start + step)
            for key, images, wanted in (("label", x, targets), ("other", x, others), ("noisy", noisy, targets)):
                seed_everything(statistics.stable_seed(seed, "class sensitivity", label, start))
                maps[key].append(explain(model, images[part], wanted[part], method, **dict(params))
                                 .detach().cpu().numpy())
        label_map, other_map, noisy_map = (np.concatenate(maps[key]) for key in ("label", "other", "noisy"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = {
                "other_signed": map_correlations(label_map, other_map),
                "other_abs": map_correlations(np.abs(label_map), np.abs(other_map)),
                "same_signed": map_correlations(label_map, noisy_map),
                "same_abs": map_correlations(np.abs(label_map), np.abs(noisy_map)),
            }
        for i in range(len(x)):
            row = {"method": label, "sample": i, "target": int(targets[i]), "other": int(others[i]),
                   "noise_sd": float(noise_sd)}
            for quantity, (spearman, pearson) in values.items():
                row[f"{quantity}_spearman"], row[f"{quantity}_pearson"] = spearman[i], pearson[i]
            rows.append(row)
    return pd.DataFrame(rows, columns=CLASS_SENSITIVITY_COLUMNS)


def summarize_class_sensitivity(frame: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Per method: mean correlation over images with the 95 % bootstrap interval of the mean, for each of
    ``other_signed``, ``other_abs``, ``same_signed``, ``same_abs`` (Spearman and Pearson), plus the paired gap
    ``abs_gap = same_abs - other_abs`` (per image, then mean and interval: near 0 = class-insensitive).

    Columns ``<quantity>_<correlation>``, ``..._ci_low``, ``..._ci_high``; ``n`` = images where every
    correlation is defined (a constant map has none) - all means are over these same images;
    ``n_images``; ``noise_sd`` of the baseline.
    """
    missing = [column for column in CLASS_SENSITIVITY_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks the columns {missing}; pass the output of class_sensitivity()")
    value_columns = [column for column in CLASS_SENSITIVITY_COLUMNS if column.endswith(CORRELATIONS)]
    rows = []
    for method, part in frame.groupby("method", sort=False):
        defined = part.dropna(subset=value_columns)
        row: dict[str, Any] = {"method": method}
        for correlation in CORRELATIONS:
            series = {quantity: defined[f"{quantity}_{correlation}"].to_numpy(dtype=float) for quantity in QUANTITIES}
            series["abs_gap"] = series["same_abs"] - series["other_abs"]
            for quantity, values in series.items():
                column = f"{quantity}_{correlation}"
                low, high = statistics.mean_interval(values, seed=statistics.stable_seed(seed, method, column))
                row.update({column: float(values.mean()) if len(values) else float("nan"),
                            f"{column}_ci_low": low, f"{column}_ci_high": high})
        row.update({"n": len(defined), "n_images": len(part), "noise_sd": float(part["noise_sd"].iloc[0])})
        rows.append(row)
    return pd.DataFrame(rows)
