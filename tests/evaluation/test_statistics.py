"""Uncertainty of the evaluation: bootstrap intervals, the paired sign-flip test, Holm's correction, rank intervals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hidden_monotonicity.evaluation import statistics as S
from hidden_monotonicity.evaluation.tables import rank_columns


def test_mean_interval_matches_the_normal_approximation_for_a_large_sample():
    values = np.random.default_rng(0).normal(2.0, 1.5, size=400)
    low, high = S.mean_interval(values, seed=1)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(values.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(values.mean() + half, abs=0.15 * half)


def test_mean_interval_edge_cases_and_seeding():
    assert S.mean_interval([0.3, 0.3, 0.3], seed=0) == (0.3, 0.3)
    assert all(np.isnan(S.mean_interval([1.0], seed=0)))
    values = np.random.default_rng(1).normal(size=20)
    assert S.mean_interval(values, seed=5) == S.mean_interval(values, seed=5)
    assert S.mean_interval(values, seed=5) != S.mean_interval(values, seed=6)
    with pytest.raises(ValueError, match="finite"):
        S.mean_interval([1.0, np.nan], seed=0)


def _exact_sign_flip_p(differences: np.ndarray) -> float:
    """Two-sided exact sign-flip p-value of the mean: the share of the 2^n sign assignments whose |sum| is at least
    the observed |sum| (written independently of the library: itertools, no matrix of patterns)."""
    observed = abs(differences.sum())
    sums = [abs(sum(s * d for s, d in zip(signs, differences))) for signs in itertools.product((1, -1), repeat=len(differences))]
    return float(np.mean([s >= observed - 1e-12 for s in sums]))


def test_paired_comparison_tests_the_mean_difference_by_exact_sign_flips():
    # the old expectation (the exact Wilcoxon signed-rank p, 0.25) tested the pseudo-median, not the reported mean
    a = np.array([1.2, 0.7, 3.1, 2.2, 0.4, 1.9, 2.8, 1.1])
    b = np.array([1.0, 0.9, 2.0, 1.7, 0.45, 1.0, 2.5, 1.6])
    result = S.paired_comparison(a, b, seed=0)
    assert result.n == 8 and result.mean_difference == pytest.approx(np.mean(a - b))
    assert result.p_value == pytest.approx(_exact_sign_flip_p(a - b)) and result.p_value == pytest.approx(56 / 256)
    assert result.ci_low < result.mean_difference < result.ci_high and result.ci_method == "BCa"
    assert result.sd == pytest.approx(np.std(a - b, ddof=1)) and "exact" in result.test
    same = S.paired_comparison(a, a, seed=0)
    assert same.p_value == 1.0 and same.mean_difference == 0.0 and same.ci_low == same.ci_high == 0.0
    with pytest.raises(ValueError, match="same length"):
        S.paired_comparison(a, b[:3], seed=0)


def test_holm_known_values():
    np.testing.assert_allclose(S.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    adjusted = S.holm([0.5, np.nan, 0.01])
    assert np.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.5) and adjusted[2] == pytest.approx(0.02)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        S.holm([1.5])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_rejects_exactly_what_the_step_down_procedure_rejects(p_values):
    adjusted = S.holm(p_values)
    assert np.all(adjusted >= np.asarray(p_values) - 1e-15) and np.all(adjusted <= 1)
    # Holm's procedure: walk up the sorted p-values, reject while p_(i) <= alpha / (m - i)
    alpha, m = 0.05, len(p_values)
    rejected = set()
    for i, index in enumerate(np.argsort(p_values, kind="mergesort")):
        if p_values[index] > alpha / (m - i):
            break
        rejected.add(int(index))
    assert {int(i) for i in np.flatnonzero(adjusted <= alpha)} == rejected


def test_bootstrap_rank_interval():
    rng = np.random.default_rng(0)
    n = 30
    # method 0 beats 1 beats 2 on every image (lower is better); 3 and 4 are noisy twins
    cube = np.stack([
        np.stack([np.full(n, 0.0), np.full(n, 1.0)]),
        np.stack([np.full(n, 1.0), np.full(n, 2.0)]),
        np.stack([np.full(n, 2.0), np.full(n, 3.0)]),
        np.stack([5 + rng.normal(size=n), 5 + rng.normal(size=n)]),
        np.stack([5 + rng.normal(size=n), 5 + rng.normal(size=n)]),
    ])
    directions = ["lower", "lower"]
    low, high = S.bootstrap_ranks(cube, lambda m: rank_columns(m, directions), seed=0, n_resamples=400)
    np.testing.assert_array_equal(low[:3], [1, 2, 3])
    np.testing.assert_array_equal(high[:3], [1, 2, 3])
    assert low[3] == low[4] == 4 and high[3] == high[4] == 5
    again = S.bootstrap_ranks(cube, lambda m: rank_columns(m, directions), seed=0, n_resamples=400)
    np.testing.assert_array_equal(again[0], low)
