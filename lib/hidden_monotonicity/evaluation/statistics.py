"""Uncertainty of the evaluation: bootstrap intervals, paired tests, multiplicity corrections (issues 13.2, 25).

The tables report means over a few dozen test images; this module says how sure they are.

* :func:`mean_interval` - 95 % bootstrap confidence interval of the mean over images (BCa, expanded for small
  samples, :func:`bootstrap_interval`); :func:`interval_of_mean` picks the method from the metric's definition:
  Clopper-Pearson for scores that are 0/1 by definition (:func:`proportion_interval`), else BCa;
* :func:`paired_comparison` - one method against another on the same images: the mean per-image
  difference, its BCa bootstrap interval and the p-value of a paired sign-flip permutation test of that
  mean (:func:`sign_flip_p_values`: exact up to 16 pairs, else Monte-Carlo; issue 25.3);
* :func:`holm` / :func:`benjamini_hochberg` - family-wise (confirmatory) and false-discovery-rate (exploratory)
  corrections; :func:`minimal_detectable_effect` and :func:`tost_p_value` (equivalence) say what a
  non-significant comparison can and cannot exclude (issue 25.5);
* :func:`bootstrap_ranks` - resample the images (the same resample for every method and metric),
  re-rank, and return the percentile interval of every method's mean rank.

Every resample is seeded: ``stable_seed`` (:func:`.store.derive_seed`) derives a 32-bit seed from the run's seed and a
cell's identity, so an interval does not depend on the order in which cells are computed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

import numpy as np
import scipy.stats

from .metrics import output_is_binary
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
    """Bootstrap interval of the mean of continuous ``values``: :func:`bootstrap_interval` without the method name
    (NaN, NaN for fewer than two values; zero width for a constant sample)."""
    interval = bootstrap_interval(values, seed=seed, confidence=confidence, n_resamples=n_resamples)
    return interval.low, interval.high


#: Paired tests (issue 25.3): up to this many pairs every one of the 2^n sign patterns is enumerated (2^16 = 65,536).
EXACT_SIGN_FLIPS_MAX = 16
#: Monte-Carlo sign patterns beyond that; p = (k + 1) / (N + 1), so the smallest p-value is 1 / 100,000.
N_SIGN_FLIPS = 99_999
#: Power at which :func:`minimal_detectable_effect` is stated.
POWER = 0.8
_FLIP_CHUNK = 8192  # sign patterns per matrix product (8192 x n floats)


def _paired_differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    first = np.asarray(a, dtype=np.float64).reshape(-1)
    second = np.asarray(b, dtype=np.float64).reshape(-1)
    if first.shape != second.shape:
        raise ValueError(f"paired scores must have the same length, got {len(first)} and {len(second)}")
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        raise ValueError("paired tests need finite values; drop NaN / inf scores first (status != 'ok')")
    return first - second


def sign_flip_test_name(n: int, n_permutations: int = N_SIGN_FLIPS) -> str:
    """How :func:`sign_flip_p_values` computes the p-value of ``n`` pairs (the ``test`` column of comparisons.csv)."""
    if n <= EXACT_SIGN_FLIPS_MAX:
        return f"sign-flip permutation of the mean, exact (2^{n} patterns)"
    return f"sign-flip permutation of the mean, Monte-Carlo (N = {n_permutations})"


def sign_flip_p_values(differences: np.ndarray | Sequence[float], *, seed: int,
                       n_permutations: int = N_SIGN_FLIPS) -> np.ndarray:
    """Two-sided paired sign-flip permutation p-values of the mean difference, one per row of ``differences``.

    The test of the statistic the tables report (issue 25.3): under H0 each per-image difference is as likely to
    have either sign (the two methods are exchangeable on every image), so every sign pattern ``s`` is equally
    likely and ``p = P(|sum s*d| >= |sum d|)`` (``|mean|`` equivalently). With ``n <= EXACT_SIGN_FLIPS_MAX`` pairs
    all 2^n patterns are enumerated (the identity and its mirror included: ``p >= 2 / 2^n``); beyond, ``N`` random
    patterns from ``default_rng(seed)`` give ``p = (k + 1) / (N + 1)`` (Phipson & Smyth 2010: never 0, exact level).
    Sums equal to the observed one up to rounding (1e-9 of ``sum |d|``) count as at least as extreme; a row of zeros
    gets p = 1. All rows (same ``n``) share the patterns - one matrix product for a family; each p-value is valid
    on its own.
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[None, :] if d.ndim == 1 else d
    if d.ndim != 2:
        raise ValueError(f"differences must be one vector or a (comparisons, pairs) array, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("paired tests need finite differences; drop NaN / inf scores first (status != 'ok')")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive number of sign patterns, got {n_permutations}")
    k, n = d.shape
    if n == 0:
        return np.full(k, np.nan)
    threshold = np.abs(d.sum(axis=1)) - 1e-9 * np.abs(d).sum(axis=1)
    count = np.zeros(k, dtype=np.int64)
    if n <= EXACT_SIGN_FLIPS_MAX:
        total = 2 ** n
        for start in range(0, total, _FLIP_CHUNK):
            codes = np.arange(start, min(start + _FLIP_CHUNK, total))
            signs = 1.0 - 2.0 * ((codes[:, None] >> np.arange(n)) & 1)  # row = one of the 2^n patterns
            count += (np.abs(signs @ d.T) >= threshold).sum(axis=0)
        return count / total
    rng = np.random.default_rng(seed)
    for start in range(0, n_permutations, _FLIP_CHUNK):
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(min(_FLIP_CHUNK, n_permutations - start), n))
        count += (np.abs(signs @ d.T) >= threshold).sum(axis=0)
    return (count + 1) / (n_permutations + 1)


def mean_difference_interval(differences: Sequence[float], *, seed: int, confidence: float = CONFIDENCE,
                             n_resamples: int = N_RESAMPLES) -> tuple[float, float, str]:
    """BCa bootstrap interval of the mean of paired ``differences``: (low, high, method).

    BCa (bias-corrected and accelerated; ``scipy.stats.bootstrap``, seeded): second-order accurate for the skewed
    per-image differences of bounded metrics. Where BCa is undefined (a resample distribution without spread, e.g.
    one non-zero difference) the percentile interval of the same resamples is returned and ``method`` says so;
    equal differences give a zero-width interval (``"constant"``), fewer than two NaN (``"none"``).
    """
    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    if len(d) < 2:
        return float("nan"), float("nan"), "none"
    if np.all(d == d[0]):
        return float(d[0]), float(d[0]), "constant"
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning / RuntimeWarning: BCa undefined, fall back
            result = scipy.stats.bootstrap((d,), stable_mean, n_resamples=n_resamples, confidence_level=confidence,
                                           method=method, vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high, method
    return float("nan"), float("nan"), "none"


@dataclass(frozen=True)
class PairedComparison:
    """``a - b`` on the same images: the mean difference, its BCa interval, the sign-flip p-value of that mean."""

    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    sd: float = float("nan")  #: SD of the differences (ddof = 1), for the detectable effect and the TOST
    test: str = ""
    ci_method: str = ""


def paired_comparison(a: Sequence[float], b: Sequence[float], *, seed: int, confidence: float = CONFIDENCE,
                      n_resamples: int = N_RESAMPLES, n_permutations: int = N_SIGN_FLIPS) -> PairedComparison:
    """Compare two methods on the same images (``a[i]`` and ``b[i]`` belong to image ``i``).

    The p-value tests the reported statistic, the mean difference (:func:`sign_flip_p_values`), not Wilcoxon's
    pseudo-median, whose sign can differ from the mean's; the interval is :func:`mean_difference_interval`.
    """
    difference = _paired_differences(a, b)
    n = len(difference)
    if n == 0:
        return PairedComparison(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    low, high, ci_method = mean_difference_interval(difference, seed=seed, confidence=confidence,
                                                    n_resamples=n_resamples)
    p_value = float(sign_flip_p_values(difference, seed=stable_seed(seed, "sign flips"),
                                       n_permutations=n_permutations)[0])
    sd = float(difference.std(ddof=1)) if n > 1 else float("nan")
    return PairedComparison(float(difference.mean()), low, high, p_value, n, sd,
                            sign_flip_test_name(n, n_permutations), ci_method)


def _checked_p_values(p_values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    valid = np.flatnonzero(~np.isnan(p))
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p, valid


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979); NaN entries stay NaN and are not counted.

    Sorted ascending, ``p_(i)`` is multiplied by ``m - i`` (i = 0..m-1), the running maximum makes the
    adjusted values monotone, and they are capped at 1. An adjusted value <= alpha rejects at
    family-wise error rate alpha.
    """
    p, valid = _checked_p_values(p_values)
    adjusted = np.full_like(p, np.nan)
    if len(valid) == 0:
        return adjusted
    order = valid[np.argsort(p[valid], kind="mergesort")]
    m = len(order)
    scaled = p[order] * (m - np.arange(m))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (1995); NaN entries stay NaN and are not counted.

    Sorted ascending, ``p_(i)`` (i = 1..m) becomes ``p_(i) * m / i``; the running minimum from the largest down makes
    them monotone; capped at 1. Adjusted values <= q reject with a false discovery rate of at most q (independent or
    positively dependent tests) - the correction of the exploratory comparisons, which propose rather than claim.
    """
    p, valid = _checked_p_values(p_values)
    adjusted = np.full_like(p, np.nan)
    if len(valid) == 0:
        return adjusted
    order = valid[np.argsort(p[valid], kind="mergesort")]
    m = len(order)
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted


def minimal_detectable_effect(sd: float, n: int, level: float, power: float = POWER) -> float:
    """The mean difference a two-sided test at ``level`` detects with ``power``, for ``n`` pairs whose differences
    have standard deviation ``sd``: ``(z_{1-level/2} + z_{power}) * sd / sqrt(n)`` (normal approximation of the
    paired test, the observed ``sd`` taken as the true one). NaN for fewer than two pairs."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if not 0 < level < 1 or not 0 < power < 1:
        raise ValueError(f"level and power must lie in (0, 1), got level={level} and power={power}")
    z = scipy.stats.norm.ppf(1 - level / 2) + scipy.stats.norm.ppf(power)
    return float(z * sd / np.sqrt(n))


def tost_p_value(differences: Sequence[float], margin: float) -> float:
    """Two one-sided tests (Schuirmann 1987) of equivalence of the mean difference to 0 within ``+-margin``.

    Paired t statistics ``t_low = (mean + margin) / se`` (H0: mean <= -margin) and ``t_high = (mean - margin) / se``
    (H0: mean >= margin), ``se = sd / sqrt(n)``, ``n - 1`` degrees of freedom; the p-value is the larger of the two
    one-sided ones (equivalent at level alpha <=> the 1 - 2 alpha t interval lies inside the margin). A margin <= 0
    cannot be met (p = 1); differences without spread: p = 0 inside the margin, 1 outside; NaN for fewer than two.
    """
    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    n = len(d)
    if n < 2:
        return float("nan")
    if not np.isfinite(d).all():
        raise ValueError("paired tests need finite differences; drop NaN / inf scores first (status != 'ok')")
    mean = float(d.mean())
    if not margin > 0:
        return 1.0
    se = float(d.std(ddof=1)) / np.sqrt(n)
    if se == 0:
        return 0.0 if abs(mean) < margin else 1.0
    p_low = float(scipy.stats.t.sf((mean + margin) / se, n - 1))
    p_high = float(scipy.stats.t.cdf((mean - margin) / se, n - 1))
    return max(p_low, p_high)


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


# --------------------------------------------------------------------------------------------
# the interval of a mean, by the metric's definition (issue 25)
# --------------------------------------------------------------------------------------------

CLOPPER_PEARSON = "clopper-pearson"
BCA_EXPANDED = "bca-expanded"
PERCENTILE_EXPANDED = "percentile-expanded"
CONSTANT = "constant"
NO_INTERVAL = "none"
#: What each value of a table's ``interval_method`` column means (written under the markdown tables).
INTERVAL_METHODS: dict[str, str] = {
    CLOPPER_PEARSON: "Clopper-Pearson exact binomial interval (per-image scores are 0/1 by the metric's definition)",
    BCA_EXPANDED: "BCa bootstrap (scipy.stats.bootstrap) at a confidence level expanded for small samples "
                  "(Hesterberg 2015)",
    PERCENTILE_EXPANDED: "percentile bootstrap at the same expanded level (BCa undefined for these scores)",
    CONSTANT: "zero width (the same continuous score on every image)",
    NO_INTERVAL: "no interval (fewer than two images)",
}
#: Above this level every bootstrap interval is the range of the resampled means anyway (2000 resamples).
MAX_EXPANDED_CONFIDENCE = 0.9999


@dataclass(frozen=True)
class Interval:
    """A confidence interval of a mean and the method that gave it (a key of :data:`INTERVAL_METHODS`)."""

    low: float
    high: float
    method: str


def is_binary_data(values: Sequence[float]) -> bool:
    """Whether every value is 0 or 1 (and there is at least one)."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return bool(array.size) and bool(np.isin(array, (0.0, 1.0)).all())


def expanded_confidence(n: int, confidence: float = CONFIDENCE) -> float:
    """The confidence level at which a bootstrap interval of a mean of ``n`` values is computed.

    Bootstrap intervals of a mean are too narrow for small samples: the resampled means spread like
    ``s / sqrt(n)`` with the ``1/n`` standard deviation and a normal instead of a Student quantile
    (simulated coverage of the nominal 95 % percentile interval: 0.88 for n = 8 normal scores).
    Hesterberg's expansion (2015, "What teachers should know about the bootstrap", the expanded
    percentile interval) asks for the level whose normal quantile is ``sqrt(n / (n - 1)) t_{n-1}``;
    it tends to ``confidence`` as ``n`` grows (0.9537 at n = 96). Capped at :data:`MAX_EXPANDED_CONFIDENCE`.
    """
    if n < 2:
        return confidence
    quantile = np.sqrt(n / (n - 1)) * scipy.stats.t.ppf(0.5 + confidence / 2, n - 1)
    return float(min(MAX_EXPANDED_CONFIDENCE, 1 - 2 * scipy.stats.norm.sf(quantile)))


def proportion_interval(values: Sequence[float], *, confidence: float = CONFIDENCE) -> Interval:
    """Clopper-Pearson exact interval of the hit rate of 0/1 ``values`` (``scipy.stats.binomtest``).

    A bootstrap of 0/1 scores cannot be right near 0 or 1: 96 hits out of 96 resample to 96 out of 96 and
    give [1, 1], where the exact interval is [0.962, 1]. The exact interval covers with at least the nominal
    probability for every true rate.
    """
    array = _finite(values)
    if array.size == 0:
        return Interval(float("nan"), float("nan"), NO_INTERVAL)
    if not is_binary_data(array):
        outside = float(array[~np.isin(array, (0.0, 1.0))][0])
        raise ValueError(f"a proportion interval needs scores that are 0 or 1, got {outside!r}; "
                         "use bootstrap_interval for a continuous metric")
    result = scipy.stats.binomtest(int(array.sum()), int(array.size)).proportion_ci(confidence_level=confidence,
                                                                                   method="exact")
    return Interval(float(result.low), float(result.high), CLOPPER_PEARSON)


#: Significant digits of the bootstrap statistic (:func:`stable_mean`).
STABLE_DIGITS = 12


def stable_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The mean rounded to :data:`STABLE_DIGITS` significant digits: the bootstrap's statistic.

    With few images many resamples are permutations of the sample (or of each other); their means are equal in exact
    arithmetic but differ in the last bit with the summation order, and BCa's bias correction counts the resampled
    means *below* the sample's mean - so float noise decided those ties, and an interval bound moved by up to 13 % of
    its width between CPUs at n = 4 (issue 28, ``benchmarks/measure_float_noise.py``). Rounded, equal means tie on
    every machine; 12 digits keep far more precision than any score has.
    """
    mean = np.mean(values, axis=axis)
    magnitude = np.floor(np.log10(np.where(mean == 0, 1.0, np.abs(mean))))
    scale = 10.0 ** (STABLE_DIGITS - 1 - magnitude)
    return np.round(mean * scale) / scale


def bootstrap_interval(values: Sequence[float], *, seed: int, confidence: float = CONFIDENCE,
                       n_resamples: int = N_RESAMPLES) -> Interval:
    """BCa bootstrap interval of the mean of continuous ``values``, at :func:`expanded_confidence`.

    BCa (``scipy.stats.bootstrap(method="BCa")``) corrects the percentile interval for bias and skew -
    the heavy right tail of e.g. CompletenessError, where the percentile interval's upper bound is far too
    low. Fewer than two values: no interval (NaN). A constant sample: zero width, right for a continuous
    score that is the same on every image. When BCa is undefined (NaN bounds) the percentile interval at
    the same level is returned, and the method says so.
    """
    array = _finite(values)
    if len(array) < 2:
        return Interval(float("nan"), float("nan"), NO_INTERVAL)
    if np.all(array == array[0]):
        return Interval(float(array[0]), float(array[0]), CONSTANT)
    level = expanded_confidence(len(array), confidence)
    for method, name in (("BCa", BCA_EXPANDED), ("percentile", PERCENTILE_EXPANDED)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's DegenerateDataWarning: the percentile fallback follows
            result = scipy.stats.bootstrap((array,), stable_mean, n_resamples=n_resamples, confidence_level=level,
                                           method=method, vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return Interval(low, high, name)
    return Interval(float("nan"), float("nan"), NO_INTERVAL)


def binary_metrics(scores_by_metric: Mapping[str, Sequence[float]], declared: Collection[str] | None = None) -> set[str]:
    """The metrics (keys of ``scores_by_metric``) whose per-image score is 0/1, so that their interval is
    Clopper-Pearson.

    ``declared`` says it from the metrics' definitions (:attr:`.metrics.MetricOutput.binary`; the runner passes
    it). Without it the catalogue decides (:func:`.metrics.output_is_binary`, at its default parameters), and
    only a metric the catalogue does not know is judged by its scores: all 0 or 1 -> binary, with a warning.
    """
    if declared is not None:
        return set(declared)
    binary = set()
    for metric, values in scores_by_metric.items():
        known = output_is_binary(metric)
        if known is None and is_binary_data(values):
            warnings.warn(f"metric {metric!r} is not in the metric catalogue and all its scores are 0 or 1: its "
                          "intervals are Clopper-Pearson (a proportion); pass binary_metrics to say what it is",
                          UserWarning, stacklevel=3)
            known = True
        if known:
            binary.add(metric)
    return binary


def interval_of_mean(values: Sequence[float], *, binary: bool, seed: int, confidence: float = CONFIDENCE,
                     n_resamples: int = N_RESAMPLES) -> Interval:
    """The interval of a table cell: :func:`proportion_interval` when the metric's per-image score is 0/1 by
    its definition (``binary``), else :func:`bootstrap_interval`."""
    if binary:
        return proportion_interval(values, confidence=confidence)
    return bootstrap_interval(values, seed=seed, confidence=confidence, n_resamples=n_resamples)
