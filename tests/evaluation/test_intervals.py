"""Intervals of the table cells (issue 25.2): the method follows the metric's definition - Clopper-Pearson for 0/1
scores, BCa bootstrap (expanded for small samples) otherwise - it covers as it claims, and every cell and column
says which method it used."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from hidden_monotonicity.evaluation import statistics as S
from hidden_monotonicity.evaluation import metrics as M
from hidden_monotonicity.evaluation import tables as T

DIRECTIONS = {"PointingGame": "higher", "MaxSensitivity": "lower", "RandomLogit": "lower", "HitRate": "higher"}


def _frame(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = [{"model": "m", "method": method, "config": "c", "metric": metric, "category": "x", "sample": i,
             "score": float(v), "status": "ok"}
            for (method, metric), scores in values.items() for i, v in enumerate(scores)]
    return pd.DataFrame(rows)


def _cell(summary: pd.DataFrame, method: str, metric: str) -> pd.Series:
    return summary[(summary["method"] == method) & (summary["metric"] == metric)].iloc[0]


def test_all_hits_get_the_exact_binomial_interval_not_zero_width():
    summary = T.summarize(_frame({("a", "PointingGame"): [1.0] * 96, ("b", "PointingGame"): [1.0] * 8}), DIRECTIONS)
    big, small = _cell(summary, "a", "PointingGame"), _cell(summary, "b", "PointingGame")
    # Clopper-Pearson: 96/96 -> [0.962, 1], 8/8 -> [0.631, 1] (0.025 ** (1 / n) is the exact lower bound)
    assert big["ci_low"] == pytest.approx(0.025 ** (1 / 96)) and big["ci_low"] == pytest.approx(0.962, abs=5e-4)
    assert small["ci_low"] == pytest.approx(0.025 ** (1 / 8)) and small["ci_low"] == pytest.approx(0.631, abs=5e-4)
    assert big["ci_high"] == small["ci_high"] == 1.0
    assert big["interval_method"] == small["interval_method"] == "clopper-pearson"


def test_binary_is_decided_by_the_metric_definition_not_by_the_data():
    # RandomLogit is a continuous similarity: all 1.0 is a constant continuous column (zero width, no warning)
    frame = _frame({("a", "RandomLogit"): [1.0] * 8, ("a", "MaxSensitivity"): [0.0, 1.0] * 4,
                    ("a", "PointingGame"): [0.0, 1.0] * 4})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = T.summarize(frame, DIRECTIONS)
    assert _cell(summary, "a", "RandomLogit")[["ci_low", "ci_high", "interval_method"]].tolist() == [1.0, 1.0, "constant"]
    assert _cell(summary, "a", "MaxSensitivity")["interval_method"] == "bca-expanded"
    assert _cell(summary, "a", "PointingGame")["interval_method"] == "clopper-pearson"
    # the caller's declaration wins (a weighted PointingGame is not 0/1): bootstrap, no data sniffing
    declared = T.summarize(frame, DIRECTIONS, binary_metrics=())
    assert _cell(declared, "a", "PointingGame")["interval_method"] == "bca-expanded"
    # a metric the catalogue does not know: judged by its data, with a warning
    with pytest.warns(UserWarning, match="'HitRate' is not in the metric catalogue"):
        unknown = T.summarize(_frame({("a", "HitRate"): [1.0, 0.0, 1.0, 1.0]}), DIRECTIONS)
    assert _cell(unknown, "a", "HitRate")["interval_method"] == "clopper-pearson"
    with pytest.raises(ValueError, match="0 or 1, got 0.5"):
        S.proportion_interval([1.0, 0.5])


def test_the_metric_catalogue_says_which_outputs_are_binary():
    assert M.metric_outputs("PointingGame")[0].binary
    assert not M.metric_outputs("PointingGame", {"weighted": True})[0].binary  # hits scaled by the mask size
    assert [o.binary for o in M.metric_outputs("Completeness")] == [True, False]  # pass/fail; CompletenessError
    assert not M.metric_outputs("MaxSensitivity")[0].binary
    assert [M.output_is_binary(n) for n in ("PointingGame", "AUC@5", "MPRT[conv1]", "CompletenessError", "Sparseness",
                                         "Unheard")] == [True, False, False, False, False, None]


def test_coverage_by_simulation_small_normal_samples():
    """300 samples of n = 8 normal scores: the nominal 95 % interval covers the true mean >= 90 % of the time
    (the percentile bootstrap: 0.88 - its intervals are too narrow for small n)."""
    rng = np.random.default_rng(0)
    samples = rng.normal(0.0, 1.0, size=(300, 8))
    covered = [low <= 0.0 <= high for low, high in (S.mean_interval(x, seed=i) for i, x in enumerate(samples))]
    assert np.mean(covered) >= 0.90
    percentile = [scipy.stats.bootstrap((x,), np.mean, method="percentile", rng=np.random.default_rng(i),
                                        n_resamples=2000).confidence_interval for i, x in enumerate(samples)]
    assert np.mean([ci.low <= 0.0 <= ci.high for ci in percentile]) < 0.90


def test_coverage_of_the_exact_binomial_interval_is_at_least_nominal():
    """Bernoulli(0.95), n = 8 (the bootstrap: 0.33 - 8/8 gives [1, 1]): exact coverage, summed over all outcomes."""
    n, p = 8, 0.95
    coverage = sum(scipy.stats.binom.pmf(k, n, p) for k in range(n + 1)
                   if (ci := S.proportion_interval([1.0] * k + [0.0] * (n - k))).low <= p <= ci.high)
    assert coverage >= 0.95


def test_a_heavy_right_tail_moves_the_bca_interval_up():
    """Right-skewed scores (CompletenessError-like): BCa's upper bound exceeds the percentile interval's, whose
    interval is centred on the sample mean and too low."""
    values = np.random.default_rng(3).lognormal(0.0, 2.0, size=96)
    interval = S.bootstrap_interval(values, seed=1)
    percentile = scipy.stats.bootstrap((values,), np.mean, method="percentile", rng=np.random.default_rng(1),
                                       n_resamples=2000).confidence_interval
    assert interval.method == "bca-expanded"
    assert interval.high > 1.2 * percentile.high and interval.low > percentile.low


def test_degenerate_bootstrap_cases(monkeypatch):
    assert S.bootstrap_interval([2.5] * 6, seed=0) == S.Interval(2.5, 2.5, "constant")
    assert S.bootstrap_interval([1.0], seed=0).method == "none"
    assert S.proportion_interval([1.0]).method == "clopper-pearson"  # one hit is still a binomial sample
    assert np.isnan(S.proportion_interval([]).low)
    # BCa undefined (NaN bounds): the percentile interval at the same level, named as such
    real = scipy.stats.bootstrap

    def bca_fails(data, statistic, *, method, **kwargs):
        result = real(data, statistic, method=method, **kwargs)
        if method == "BCa":
            result.confidence_interval = type(result.confidence_interval)(np.nan, np.nan)
        return result

    monkeypatch.setattr(scipy.stats, "bootstrap", bca_fails)
    fallback = S.bootstrap_interval([0.1, 0.5, 0.2, 0.9], seed=0)
    assert fallback.method == "percentile-expanded" and 0.1 <= fallback.low < fallback.high <= 0.9 + 1e-12


def test_expanded_confidence_tends_to_the_nominal_level():
    assert S.expanded_confidence(8) == pytest.approx(0.9885, abs=1e-4)
    assert S.expanded_confidence(96) == pytest.approx(0.9540, abs=1e-4)
    assert S.expanded_confidence(10_000) == pytest.approx(0.95, abs=1e-3)
    assert S.expanded_confidence(2) == S.MAX_EXPANDED_CONFIDENCE


def test_tables_name_the_interval_method_per_cell_and_column(tmp_path):
    rng = np.random.default_rng(0)
    frame = _frame({(method, metric): (rng.integers(0, 2, 12) if metric == "PointingGame" else rng.normal(i, 1, 12))
                    for i, method in enumerate(("a", "b", "c")) for metric in ("PointingGame", "MaxSensitivity")})
    paths = T.write_tables(frame, tmp_path, models=["m"], metric_order=["PointingGame", "MaxSensitivity"],
                           method_order=["a", "b", "c"], directions=DIRECTIONS)
    table = pd.read_csv(paths["csv"])
    by_metric = table.groupby("metric")["interval_method"].agg(set).to_dict()
    assert by_metric == {"PointingGame": {"clopper-pearson"}, "MaxSensitivity": {"bca-expanded"},
                         T.MEAN_RANK: {T.RANK_INTERVAL}}
    text = paths["md"].read_text()
    assert "Intervals: clopper-pearson for PointingGame; bca-expanded for MaxSensitivity." in text
    assert "clopper-pearson: Clopper-Pearson exact binomial interval" in text


def test_bootstrap_intervals_do_not_move_with_last_bit_noise():
    """Issue 28: at n = 4 many resamples are permutations of the sample; their means tie in exact arithmetic, and BCa's
    bias correction counted them by the last bit, so a bound moved by up to 13 % of the width between CPUs. The
    statistic is the mean rounded to 12 significant digits: the intervals of a sample and of the same sample with
    a few ulps of noise are equal."""
    import numpy as np

    from hidden_monotonicity.evaluation.statistics import bootstrap_interval, mean_difference_interval

    rng = np.random.default_rng(0)
    for _ in range(80):
        x = rng.normal(size=4)
        y = x * (1 + rng.uniform(-4, 4, size=4) * 2.2e-16)
        for interval in (bootstrap_interval, mean_difference_interval):
            a, b = interval(x, seed=1), interval(y, seed=1)
            (a_low, a_high), (b_low, b_high) = ((r.low, r.high) if hasattr(r, "low") else r[:2] for r in (a, b))
            width = a_high - a_low
            assert abs(a_low - b_low) <= 1e-9 * width and abs(a_high - b_high) <= 1e-9 * width
