"""Class sensitivity: does a method's map change when another class is explained? (issue 13.4)

A sanity check in the sense of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency maps") and
Sixt, Granz & Landgraf (ICML 2020, "When explanations lie: why many modified BP attributions
fail"): explain the same image once for its label ``y`` and once for another class
(``(y + shift) mod C``) and compare the two maps. A map that answers "why class y" must differ from
the map for another class; a rank correlation near 1 means the method shows the same picture
whatever is asked. Quantus's ``RandomLogit`` (similarity to the map of a random other class, in the
evaluation tables) measures the same property with SSIM.

Sixt et al. prove that backward rules which propagate only through positive weights (such as
LRP-z⁺ / LRP-αβ) converge, layer after layer, to a map that does not depend on the explained class.
The split network of the paper has only non-negative weights (``W⁺ = max(W, 0)``, ``W⁻ = max(−W, 0)``),
so SplitLRP falls under that theorem; the split gradients (SplitCAM, SplitGrad) do not, because the
sensitivity pairs carry the signed difference ``W⁺ − W⁻`` back.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import scipy.stats
import torch
from torch import nn

from . import statistics

CLASS_SENSITIVITY_COLUMNS = ["method", "sample", "target", "other", "spearman", "pearson"]


def other_classes(targets: torch.Tensor, num_classes: int, shift: int = 3) -> torch.Tensor:
    """``(y + shift) mod C``: a fixed, different class for every image (``shift`` must not be a multiple of C)."""
    if num_classes < 2:
        raise ValueError(f"class sensitivity needs at least two classes, got {num_classes}")
    if shift % num_classes == 0:
        raise ValueError(f"shift {shift} is a multiple of the {num_classes} classes: the other class would be the target")
    return (targets + shift) % num_classes


def map_correlations(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image Spearman and Pearson correlation of two map batches (N, ...); NaN where a map is constant."""
    a = np.asarray(first, dtype=np.float64).reshape(len(first), -1)
    b = np.asarray(second, dtype=np.float64).reshape(len(second), -1)
    spearman, pearson = np.full(len(a), np.nan), np.full(len(a), np.nan)
    for i in range(len(a)):
        if np.ptp(a[i]) == 0 or np.ptp(b[i]) == 0:
            continue
        spearman[i] = scipy.stats.spearmanr(a[i], b[i]).statistic
        pearson[i] = scipy.stats.pearsonr(a[i], b[i]).statistic
    return spearman, pearson


def class_sensitivity(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    methods: Mapping[str, tuple[str, Mapping[str, Any]]],
    *,
    shift: int = 3,
    num_classes: int | None = None,
    explain: Callable[..., torch.Tensor] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Correlation of every method's map for the label with its map for class ``(y + shift) mod C``.

    ``methods``: ``{row label: (method name, parameters)}`` (e.g. the configurations chosen on the
    validation split). Returns one row per (method, image): :data:`CLASS_SENSITIVITY_COLUMNS`.
    """
    from ..environment import seed_everything

    if explain is None:
        from ..methods.registry import explain
    if num_classes is None:
        with torch.no_grad():
            num_classes = int(model(x[:2]).shape[1])
    others = other_classes(targets, num_classes, shift)
    rows = []
    for label, (method, params) in methods.items():
        maps = []
        for wanted in (targets, others):
            seed_everything(statistics.stable_seed(seed, "class sensitivity", label))
            maps.append(explain(model, x, wanted, method, **dict(params)).detach().cpu().numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            spearman, pearson = map_correlations(*maps)
        for i in range(len(x)):
            rows.append({"method": label, "sample": i, "target": int(targets[i]), "other": int(others[i]),
                         "spearman": spearman[i], "pearson": pearson[i]})
    return pd.DataFrame(rows, columns=CLASS_SENSITIVITY_COLUMNS)


def summarize_class_sensitivity(frame: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Per method: mean Spearman / Pearson correlation over images with the 95 % bootstrap interval of the mean."""
    rows = []
    for method, part in frame.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method}
        for column in ("spearman", "pearson"):
            values = part[column].dropna().to_numpy(dtype=float)
            low, high = statistics.mean_interval(values, seed=statistics.stable_seed(seed, method, column))
            row.update({column: float(values.mean()) if len(values) else float("nan"),
                        f"{column}_ci_low": low, f"{column}_ci_high": high})
        row["n"] = int(part["spearman"].notna().sum())
        rows.append(row)
    return pd.DataFrame(rows)
