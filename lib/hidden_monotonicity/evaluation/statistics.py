"""Uncertainty of the evaluation: bootstrap intervals, paired tests, Holm correction (issue 13.2).

The tables report means over a few dozen test images; this module says how sure they are.

* :func:`mean_interval` - 95 % bootstrap confidence interval of the mean over images
  (``scipy.stats.bootstrap``, percentile method; a constant sample gives a zero-width interval);
* :func:`paired_comparison` - one method against another on the same images: the mean per-image
  difference, its bootstrap interval and the Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``,
  zero differences dropped as in Wilcoxon's original test; all differences zero -> p = 1);
* :func:`holm` - Holm's step-down correction of a family of p-values (not in scipy; Holm 1979);
* :func:`bootstrap_ranks` - resample the images (the same resample for every method and metric),
  re-rank, and return the percentile interval of every method's mean rank.

Every resample is seeded: ``stable_seed`` (:func:`.store.derive_seed`) derives a 32-bit seed from the run's seed and a
cell's identity, so an interval does not depend on the order in which cells are computed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.stats

from .store import derive_seed as stable_seed  # one seed derivation for units and intervals

CONFIDENCE = 0.95
N_RESAMPLES = 2000
ALPHA = 0.05


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(array).all():
        raise ValueError("bootstrap intervals need finite values; drop NaN / inf scores first (status != 'ok')")
    return array


def mean_interval(values: Sequence[float], *, seed: int, confidence: float = CONFIDENCE,
                  n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN, NaN for fewer than two values)."""
    array = _finite(values)
    if len(array) < 2:
        return float("nan"), float("nan")
    if np.all(array == array[0]):
        return float(array[0]), float(array[0])
    result = scipy.stats.bootstrap((array,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                                   method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class PairedComparison:
    """``a - b`` on the same images: mean difference, its interval, Wilcoxon p-value, number of pairs."""

    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int


def paired_comparison(a: Sequence[float], b: Sequence[float], *, seed: int, confidence: float = CONFIDENCE,
                      n_resamples: int = N_RESAMPLES) -> PairedComparison:
    """Compare two methods on the same images (``a[i]`` and ``b[i]`` belong to image ``i``)."""
    first, second = _finite(a), _finite(b)
    if first.shape != second.shape:
        raise ValueError(f"paired scores must have the same length, got {len(first)} and {len(second)}")
    n = len(first)
    if n == 0:
        return PairedComparison(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    difference = first - second
    low, high = mean_interval(difference, seed=seed, confidence=confidence, n_resamples=n_resamples)
    if np.all(difference == 0):
        p_value = 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # few non-zero differences: normal approximation warns
            p_value = float(scipy.stats.wilcoxon(difference, zero_method="wilcox").pvalue)
    return PairedComparison(float(difference.mean()), low, high, p_value, n)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979); NaN entries stay NaN and are not counted.

    Sorted ascending, ``p_(i)`` is multiplied by ``m - i`` (i = 0..m-1), the running maximum makes the
    adjusted values monotone, and they are capped at 1. An adjusted value <= alpha rejects at
    family-wise error rate alpha.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if len(valid) == 0:
        return adjusted
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = valid[np.argsort(p[valid], kind="mergesort")]
    m = len(order)
    scaled = p[order] * (m - np.arange(m))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def bootstrap_ranks(cube: np.ndarray, rank_columns: Callable[[np.ndarray], np.ndarray], *, seed: int,
                    confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of every method's mean rank, resampling images.

    ``cube``: per-image scores of shape (methods, metrics, images), NaN where a score is missing.
    ``rank_columns(means)`` ranks a (..., methods, metrics) array of means per metric (1 = best) -
    the same ranking function the table uses. Each resample draws images with replacement, the same
    images for every method and metric, recomputes the means (ignoring missing scores), re-ranks and
    averages over metrics. Returns (low, high), each of shape (methods,).
    """
    cube = np.asarray(cube, dtype=np.float64)
    if cube.ndim != 3 or cube.shape[2] < 2:
        nan = np.full(cube.shape[0] if cube.ndim else 0, np.nan)
        return nan, nan.copy()
    rng = np.random.default_rng(seed)
    n_images = cube.shape[2]
    mean_ranks = np.empty((n_resamples, cube.shape[0]))
    batch = 250
    for start in range(0, n_resamples, batch):
        stop = min(start + batch, n_resamples)
        picks = rng.integers(0, n_images, size=(stop - start, n_images))
        resampled = cube[:, :, picks]  # (methods, metrics, B, images)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a metric without scores in a resample: all-NaN mean
            means = np.nanmean(resampled, axis=3).transpose(2, 0, 1)  # (B, methods, metrics)
        mean_ranks[start:stop] = rank_columns(means).mean(axis=2)
    tail = (1 - confidence) / 2 * 100
    lows = np.percentile(mean_ranks, tail, axis=0)
    highs = np.percentile(mean_ranks, 100 - tail, axis=0)
    return lows, highs
