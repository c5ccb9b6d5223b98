"""Ranks of methods over metrics - the one place they are computed (paper section E, issues 13 and 25).

* :func:`rank_columns` / :func:`rank_table` / :func:`mean_ranks` - per-metric ranks of means (1 = best, ties share
  the average rank, a missing mean ranks last) and their average; the selection protocol (validation candidates)
  and the figures use them too;
* :func:`ranked_metrics` - the columns a result table may rank: every method has a mean (a column some method lacks
  would rank it last for want of a score) and the means differ at display precision;
* :func:`indistinguishable_from_best` - the methods whose mean-rank bootstrap interval overlaps the best's (the
  set the tables set in bold);
* :func:`metric_correlations` / :func:`model_metric_correlations` - how far the metrics agree: Spearman correlation
  of every pair of ranked columns over the methods' means (``metric_correlations.csv``);
* :func:`columns_for_every_method` - the columns of the table at registered defaults;
* :func:`score_cube` - per-image scores as (methods, metrics, images), the rank bootstrap's input.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from .metrics import HIGHER, LOWER

MEAN_RANK = "Mean rank"


def _check_direction(direction: str) -> None:
    if direction not in (HIGHER, LOWER):
        raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {direction!r}")


def rank_columns(means: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Rank the rows of ``means`` (..., methods, metrics) per metric column: 1 = best.

    Ties share the average rank; a missing (NaN) mean ranks last (the selection protocol's penalty for a
    candidate without a score; the result tables rank only complete columns, :func:`ranked_metrics`).
    ``directions[k]`` is the direction of column ``k``.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.shape[-1] != len(directions):
        raise ValueError(f"{means.shape[-1]} metric columns but {len(directions)} directions")
    for direction in directions:
        _check_direction(direction)
    sign = np.array([-1.0 if d == HIGHER else 1.0 for d in directions])
    keyed = np.where(np.isnan(means), np.inf, means * sign)
    return scipy.stats.rankdata(keyed, method="average", axis=-2)


def rank_by_direction(values: pd.Series, direction: str) -> pd.Series:
    """Rank values so that 1 is best; ties share the average rank; NaN ranks last."""
    ranks = rank_columns(values.to_numpy(dtype=float)[:, None], [direction])[:, 0]
    return pd.Series(ranks, index=values.index)


def rank_table(means: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    """Ranks of ``means`` (rows = methods or candidates, columns = metrics) plus a ``Mean rank`` column."""
    if means.shape[1] == 0:
        raise ValueError("ranking needs at least one metric column")
    ranks = rank_columns(means.to_numpy(dtype=float), [directions[c] for c in means.columns])
    table = pd.DataFrame(ranks, index=means.index, columns=means.columns)
    table[MEAN_RANK] = table.mean(axis=1)
    return table


def mean_ranks(means: pd.DataFrame, directions: Mapping[str, str]) -> pd.Series:
    """Average over columns of the per-column ranks of ``means`` (rows = candidates, columns = metrics)."""
    return rank_table(means, directions)[MEAN_RANK]


def column_precision(values: pd.Series | np.ndarray, precision: int = 3) -> int:
    """Decimals for one metric column: ``precision``, or more when the column's largest ``|mean|`` is below
    ``10 ** (1 - precision)`` (0.01 at 3 decimals) - then enough for two significant digits of it, so that a column
    of small values (e.g. AUC@5 of probabilities over 1000 classes) is neither shown as 0.000 nor taken as constant.
    At most 12 decimals."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    largest = float(finite.max()) if finite.size else 0.0
    if largest == 0.0 or largest >= 10.0 ** (1 - precision):
        return precision
    return int(min(12, max(precision, 1 - math.floor(math.log10(largest)))))


def constant_metrics(means: pd.DataFrame, precision: int = 3) -> list[str]:
    """Columns whose displayed means (at :func:`column_precision`) are all the same - missing means aside, so a
    column with one value and NaNs is constant too (it cannot order the methods)."""
    if len(means) < 2:
        return []
    return [c for c in means.columns if means[c].round(column_precision(means[c], precision)).nunique(dropna=True) <= 1]


def incomplete_metrics(means: pd.DataFrame) -> list[str]:
    """Columns where some method (row) has no mean."""
    return [c for c in means.columns if means[c].isna().any()]


def ranked_metrics(means: pd.DataFrame, precision: int = 3) -> list[str]:
    """The columns of ``means`` (rows = methods) that enter a table's mean rank: complete and not constant."""
    left_out = set(incomplete_metrics(means)) | set(constant_metrics(means, precision))
    return [c for c in means.columns if c not in left_out]


def indistinguishable_from_best(mean: Sequence[float], low: Sequence[float], high: Sequence[float]) -> np.ndarray:
    """Which methods cannot be told apart from the best mean rank: their bootstrap interval overlaps the interval of
    the method with the lowest mean rank (the first of tied ones).

    Returns all False when an interval is missing (no per-image scores to resample) or when every method
    overlaps the best (bold would single nothing out). Overlap of two 95 % intervals is a conservative rule:
    a method outside the set differs from the best, one inside may or may not.
    """
    mean, low, high = (np.asarray(v, dtype=np.float64) for v in (mean, low, high))
    if mean.size == 0 or not (np.isfinite(low).all() and np.isfinite(high).all() and np.isfinite(mean).all()):
        return np.zeros(mean.shape, dtype=bool)
    best = int(np.argmin(mean))
    overlaps = (low <= high[best]) & (high >= low[best])
    return overlaps if not overlaps.all() else np.zeros(mean.shape, dtype=bool)


def metric_correlations(means: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    """Spearman correlation of every pair of columns of ``means`` (rows = methods) over the methods.

    Each column is oriented so that better is larger (lower-is-better columns negated): +1 means the two metrics
    order the methods the same way, -1 the opposite way. Rows and columns are the metrics, in ``means``' order;
    NaN where a column is constant or fewer than three methods have both means.
    """
    sign = pd.Series({c: (1.0 if directions[c] == HIGHER else -1.0) for c in means.columns})
    oriented = means.astype(float) * sign
    return oriented.corr(method="spearman", min_periods=3).reindex(index=means.columns, columns=means.columns)


def columns_for_every_method(scores: pd.DataFrame, model: str, metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """(metrics every method of ``model`` in ``scores`` has rows for, the others) - in ``metrics``' order.

    The table at registered defaults is built from the kept ones only: the runner scores every method at its
    defaults on the profile's ``defaults_metrics``, and the other metrics only where a method's selected
    configuration happens to be its default - a column for a few methods would compare nothing.
    """
    part = scores[scores["model"] == model]
    methods = set(part["method"])
    kept = [m for m in metrics if methods and set(part[part["metric"] == m]["method"]) == methods]
    return kept, [m for m in metrics if m not in kept and m in set(part["metric"])]


def model_metric_correlations(table: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    """One model's metric-by-metric Spearman correlations (:func:`metric_correlations`) over the columns its
    tables rank (both tables), as rows ``model, metric, <metric>...``."""
    cells = table[(table["metric"] != MEAN_RANK) & table["rank"].notna()]
    if cells.empty:
        return pd.DataFrame(columns=["model", "metric"])
    metrics = list(dict.fromkeys(cells["metric"]))
    means = cells.pivot_table(index="method", columns="metric", values="mean", aggfunc="first", sort=False)[metrics]
    matrix = metric_correlations(means, directions)
    matrix.insert(0, "metric", matrix.index)
    matrix.insert(0, "model", table["model"].iloc[0])
    return matrix.reset_index(drop=True)


def score_cube(scores: pd.DataFrame, model: str, methods: Sequence[str], metrics: Sequence[str]) -> np.ndarray:
    """Per-image ``ok`` scores of one model as an array (methods, metrics, images); NaN where missing."""
    part = scores[(scores["model"] == model) & (scores["status"] == "ok") & scores["metric"].isin(list(metrics))
                  & scores["method"].isin(list(methods))]
    samples = sorted(set(part["sample"].astype(int)))
    cube = np.full((len(methods), len(metrics), len(samples)), np.nan)
    if not samples:
        return cube
    where = {s: i for i, s in enumerate(samples)}
    method_index = {m: i for i, m in enumerate(methods)}
    metric_index = {m: i for i, m in enumerate(metrics)}
    cube[part["method"].map(method_index).to_numpy(), part["metric"].map(metric_index).to_numpy(),
         part["sample"].astype(int).map(where).to_numpy()] = part["score"].to_numpy(dtype=float)
    return cube
