"""Paired comparisons (issue 25): the sign-flip test of the reported mean, confirmatory / exploratory families with
their corrections, the direction of a significant effect, the detectable effect and the equivalence test. Every
expected value below is worked out by hand in the comment beside it."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from hidden_monotonicity.evaluation import comparisons as C
from hidden_monotonicity.evaluation import statistics as S

DIRECTIONS = {"PointingGame": "higher", "MaxSensitivity": "lower", "Sparseness": "higher"}


def _rows(model, method, metric, values, samples=None, status="ok"):
    samples = range(len(values)) if samples is None else samples
    return [{"model": model, "method": method, "config": "c", "metric": metric, "category": "x", "sample": int(s),
             "score": float(v), "status": status} for s, v in zip(samples, values)]


# --------------------------------------------------------------------------------------------
# the sign-flip permutation test
# --------------------------------------------------------------------------------------------


def test_exact_sign_flip_p_values_computed_by_hand():
    # d = (1, 2, 3): the 8 sign patterns give sums 6, 4, 2, 0, 0, -2, -4, -6; |sum| >= 6 twice -> 2/8
    # d = (1, 1, 1, -1): sums of four +-1 are 4 (1 way), 2 (4), 0 (6), -2 (4), -4 (1); |sum| >= 2: 10 of 16
    #   (ties with the observed sum count as at least as extreme)
    # d = (1, 2, -0.5, 4): |sum| >= 6.5 only with 1, 2, 4 of one sign (0.5 either way): 4 of 16
    # d = 0: every pattern is as extreme as the observed sum -> 1
    p = S.sign_flip_p_values(np.array([[1.0, 2.0, 3.0, 0.0]]), seed=0)  # a zero difference does not change |sum|
    assert p.tolist() == [0.25]
    assert S.sign_flip_p_values([1.0, 1.0, 1.0, -1.0], seed=0).tolist() == [0.625]
    assert S.sign_flip_p_values([0.1, 0.2, -0.05, 0.4], seed=0).tolist() == [0.25]  # scaled by 0.1: rounding ties
    assert S.sign_flip_p_values(np.zeros((2, 5)), seed=0).tolist() == [1.0, 1.0]


def test_monte_carlo_sign_flip_p_value_is_k_plus_one_over_n_plus_one():
    n_permutations = 999
    # 40 equal positive differences: a random pattern reaches |sum| = 40 with probability 2^-39, so k = 0
    assert S.sign_flip_p_values(np.ones(40), seed=3, n_permutations=n_permutations).tolist() == [1 / 1000]
    # 17 pairs (one more than the exact limit): agrees with full enumeration of the 2^17 patterns within MC error
    d = np.random.default_rng(0).normal(0.3, 1.0, size=17)
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=17)))
    exact = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12))
    estimate = S.sign_flip_p_values(d, seed=5, n_permutations=20_000)[0]
    assert abs(estimate - exact) < 4 * np.sqrt(exact * (1 - exact) / 20_000) + 1e-4
    assert S.sign_flip_p_values(d, seed=5, n_permutations=999)[0] == S.sign_flip_p_values(d, seed=5, n_permutations=999)[0]


def test_benjamini_hochberg_hand_example():
    # sorted 0.01, 0.04, 0.045, 0.2 -> p * 4 / rank = 0.04, 0.08, 0.06, 0.2; running minimum from the top:
    # 0.04, 0.06, 0.06, 0.2
    np.testing.assert_allclose(S.benjamini_hochberg([0.04, 0.045, 0.01, 0.2]), [0.06, 0.06, 0.04, 0.2])
    adjusted = S.benjamini_hochberg([0.02, np.nan, 0.5])  # m = 2: 0.02 * 2 / 1 = 0.04, 0.5 * 2 / 2 = 0.5
    assert np.isnan(adjusted[1]) and adjusted[[0, 2]].tolist() == pytest.approx([0.04, 0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        S.benjamini_hochberg([-0.1])


def _t4_cdf(t: float) -> float:
    """CDF of Student's t with 4 degrees of freedom in closed form:
    1/2 + (3/8) * t / sqrt(1 + t^2/4) * (1 - t^2 / (12 (1 + t^2/4)))."""
    w = 1 + t * t / 4
    return 0.5 + 3 / 8 * t / np.sqrt(w) * (1 - t * t / (12 * w))


def test_tost_hand_example():
    # d = (0.1, 0.3, -0.1, 0.1, 0.1): mean 0.1, squared deviations 0, 0.04, 0.04, 0, 0 -> s^2 = 0.08 / 4 = 0.02,
    # se = sqrt(0.02 / 5) = sqrt(0.004) = 0.063246. Margin 0.3: t_low = 0.4 / se = sqrt(40),
    # t_high = -0.2 / se = -sqrt(10), 4 df: p = max(1 - F(sqrt 40), F(-sqrt 10)) = max(0.0016, 0.01705)
    d = [0.1, 0.3, -0.1, 0.1, 0.1]
    expected = max(1 - _t4_cdf(np.sqrt(40)), _t4_cdf(-np.sqrt(10)))
    assert expected == pytest.approx(0.0170547, rel=1e-5)
    assert S.tost_p_value(d, 0.3) == pytest.approx(expected, rel=1e-9)
    # margin 0.2: t_low = 0.3 / se = sqrt(22.5), t_high = -0.1 / se = -sqrt(2.5) -> p = F(-sqrt 2.5) = 0.0945: not
    # equivalent at 5 %
    assert S.tost_p_value(d, 0.2) == pytest.approx(_t4_cdf(-np.sqrt(2.5)), rel=1e-9)
    # an asymmetric case: mean 0.1 against margin 0.12 -> the upper test decides (t_high = -0.02 / se)
    assert S.tost_p_value(d, 0.12) == pytest.approx(_t4_cdf(-0.02 / np.sqrt(0.004)), rel=1e-9)
    assert S.tost_p_value(d, 0.0) == 1.0 and S.tost_p_value([0.1, 0.1], 0.2) == 0.0
    assert S.tost_p_value([0.1, 0.1], 0.05) == 1.0 and np.isnan(S.tost_p_value([0.1], 0.2))


def test_minimal_detectable_effect_hand_example():
    # (z_0.975 + z_0.8) * sd / sqrt(n) = (1.959964 + 0.841621) * 1 / 4
    assert S.minimal_detectable_effect(1.0, 16, 0.05) == pytest.approx(0.700396, rel=1e-5)
    # alpha / m with m = 10: z_0.9975 = 2.807034
    assert S.minimal_detectable_effect(2.0, 25, 0.005) == pytest.approx((2.807034 + 0.841621) * 2 / 5, rel=1e-5)
    assert np.isnan(S.minimal_detectable_effect(1.0, 1, 0.05))


# --------------------------------------------------------------------------------------------
# compare_methods
# --------------------------------------------------------------------------------------------


def test_holds_and_direction_follow_the_adjusted_p_value():
    # splitcam vs layercam (one of the paper's baselines), n = 6: PointingGame differences all +0.1 -> exact
    # p = 2 / 64 = 0.03125, between alpha / m = 0.025 and alpha = 0.05; MaxSensitivity differences all 0 -> p = 1.
    # Holm over the confirmatory family (m = 2): 0.03125 * 2 = 0.0625 > 0.05 -> no direction.
    rows = (_rows("m", "splitcam", "PointingGame", [0.6, 0.7, 0.8, 0.9, 0.5, 0.4])
            + _rows("m", "layercam", "PointingGame", [0.5, 0.6, 0.7, 0.8, 0.4, 0.3])
            + _rows("m", "splitcam", "MaxSensitivity", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            + _rows("m", "layercam", "MaxSensitivity", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    scores = pd.DataFrame(rows)
    result = C.compare_methods(scores, "m", ["splitcam"], ["layercam"], ["PointingGame", "MaxSensitivity"], DIRECTIONS,
                               confirmatory_metrics=("PointingGame", "MaxSensitivity")).set_index("metric")
    cell = result.loc["PointingGame"]
    assert cell["family"] == "confirmatory" and cell["correction"] == "holm"
    assert cell["p_value"] == pytest.approx(1 / 32) and cell["p_adjusted"] == pytest.approx(1 / 16)
    assert cell["direction"] == "none" and not cell["holds"] and cell["test_level"] == pytest.approx(0.025)
    # the same comparisons, exploratory (Benjamini-Hochberg, m = 2): 0.03125 * 2 / 1 = 0.0625 -> no direction either
    explored = C.compare_methods(scores, "m", ["splitcam"], ["layercam"], ["PointingGame", "MaxSensitivity"],
                                 DIRECTIONS, confirmatory_metrics=()).set_index("metric")
    assert explored.loc["PointingGame", "correction"] == "bh" and explored.loc["PointingGame", "direction"] == "none"
    # one image more (n = 7, p = 2 / 128; Holm 0.03125 <= 0.05): now it holds, for the method (higher is better)
    more = pd.DataFrame(rows + _rows("m", "splitcam", "PointingGame", [0.9], [6])
                        + _rows("m", "layercam", "PointingGame", [0.8], [6]))
    held = C.compare_methods(more, "m", ["splitcam"], ["layercam"], ["PointingGame", "MaxSensitivity"], DIRECTIONS,
                             confirmatory_metrics=("PointingGame", "MaxSensitivity")).set_index("metric")
    assert held.loc["PointingGame", "p_adjusted"] == pytest.approx(1 / 32)
    assert held.loc["PointingGame", "direction"] == "method" and held.loc["PointingGame", "holds"]
    # two confirmatory comparisons at p = 2/64 each: Holm adjusts both to 0.0625 (nothing holds) where
    # Benjamini-Hochberg would keep both at 0.03125 - the confirmatory family must use Holm
    both = pd.DataFrame(rows[:12] + _rows("m", "splitcam", "MaxSensitivity", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
                        + _rows("m", "layercam", "MaxSensitivity", [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]))
    holm = C.compare_methods(both, "m", ["splitcam"], ["layercam"], ["PointingGame", "MaxSensitivity"], DIRECTIONS,
                             confirmatory_metrics=("PointingGame", "MaxSensitivity"))
    assert holm["p_value"].tolist() == pytest.approx([1 / 32, 1 / 32])
    assert holm["p_adjusted"].tolist() == pytest.approx([1 / 16, 1 / 16]) and (holm["direction"] == "none").all()


def test_equivalence_follows_the_adjusted_tost_p_value():
    # the TOST hand example's differences (mean 0.1, se sqrt(0.004)) on two metrics with the same scores, and the
    # margin set so that each raw TOST p is 0.03: equivalent alone (m = 1), not after Holm over both (0.06)
    d = np.array([0.1, 0.3, -0.1, 0.1, 0.1])
    base = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    rows = []
    for metric in ("PointingGame", "MaxSensitivity"):
        rows += _rows("m", "splitcam", metric, base + d) + _rows("m", "layercam", metric, base)
    scores = pd.DataFrame(rows)
    margin = 0.1 + scipy.stats.t.ppf(0.97, 4) * np.sqrt(0.004)
    pooled_sd = C.equivalence_margins(scores, ["splitcam", "layercam"], ["PointingGame"], fraction=1.0)["PointingGame"]
    common = dict(margin_sd=margin / pooled_sd)
    pair = C.compare_methods(scores, "m", ["splitcam"], ["layercam"], ["PointingGame", "MaxSensitivity"], DIRECTIONS,
                             confirmatory_metrics=("PointingGame", "MaxSensitivity"), **common)
    assert pair["margin"].tolist() == pytest.approx([margin, margin])
    assert pair["p_equivalence"].tolist() == pytest.approx([0.03, 0.03])
    assert pair["p_equivalence_adjusted"].tolist() == pytest.approx([0.06, 0.06]) and not pair["equivalent"].any()
    alone = C.compare_methods(scores, "m", ["splitcam"], ["layercam"], ["PointingGame", "MaxSensitivity"], DIRECTIONS,
                              confirmatory_metrics=("PointingGame",), **common)
    assert alone["equivalent"].all() and set(alone["family"]) == {"confirmatory", "exploratory"}


def _mean_against_median_scores():
    # 35 images where the split method is a little better (+0.050 .. +0.084) and 5 where it is far worse (-1):
    # the pseudo-median is positive (Wilcoxon: p = 0.003), the mean is (35 * 0.067 - 5) / 40 = -0.066
    d = np.concatenate([0.05 + 0.001 * np.arange(35), -np.ones(5)])
    base = np.linspace(0.2, 0.8, 40)
    return pd.DataFrame(_rows("m", "splitcam", "PointingGame", base + d) + _rows("m", "layercam", "PointingGame", base)), d


def test_the_p_value_tests_the_reported_mean_not_the_pseudo_median():
    scores, d = _mean_against_median_scores()
    assert scipy.stats.wilcoxon(d).pvalue < 0.01 and d.mean() < 0  # what the old Wilcoxon test would have claimed
    result = C.compare_methods(scores, "m", ["splitcam"], ["layercam"], ["PointingGame"], DIRECTIONS,
                               n_permutations=9999).iloc[0]
    assert result["effect"] == pytest.approx(d.mean())
    # sign flips of the mean: |sum| = 2.655 against an SD under H0 of sqrt(sum d^2) = 2.27 -> p about 0.24
    assert 0.15 < result["p_value"] < 0.35 and result["direction"] == "none"


def test_direction_takes_the_metric_direction_into_account():
    # splitx is 0.5 higher on every image, on a higher-is-better and on a lower-is-better metric (n = 8: p = 2/256)
    rows = []
    for metric in ("PointingGame", "MaxSensitivity"):
        rows += _rows("m", "splitx", metric, np.arange(8) + 0.5) + _rows("m", "base", metric, np.arange(8))
    result = C.compare_methods(pd.DataFrame(rows), "m", ["splitx"], ["base"], ["PointingGame", "MaxSensitivity"],
                               DIRECTIONS).set_index("metric")
    assert result.loc["PointingGame", "direction"] == "method" and result.loc["MaxSensitivity", "direction"] == "baseline"
    assert (result["effect"] == 0.5).all() and (result["metric_direction"] == ["higher", "lower"]).all()


def test_differences_are_matched_by_sample_id_not_by_position():
    # method: score = sample id; baseline: score = 2 * sample id, rows shuffled, sample 3 failed and sample 5 NaN.
    # Matched pairs: samples 0, 1, 2, 4, 6, 7 -> differences -id = 0, -1, -2, -4, -6, -7 (mean -20 / 6)
    samples = np.arange(8)
    baseline_order = np.array([7, 2, 5, 0, 3, 6, 1, 4])
    baseline = [r for r in _rows("m", "base", "PointingGame", 2.0 * baseline_order, baseline_order) if r["sample"] != 3]
    for r in baseline:
        r["score"] = np.nan if r["sample"] == 5 else r["score"]
    rows = (_rows("m", "splitx", "PointingGame", samples.astype(float), samples) + baseline
            + _rows("m", "base", "PointingGame", [6.0], [3], status="failed: out of memory"))
    result = C.compare_methods(pd.DataFrame(rows), "m", ["splitx"], ["base"], ["PointingGame"], DIRECTIONS).iloc[0]
    assert result["n"] == 6 and result["effect"] == pytest.approx(-20 / 6)
    d = -np.array([0.0, 1, 2, 4, 6, 7])
    assert result["sd_difference"] == pytest.approx(d.std(ddof=1))
    # five non-zero differences of one sign and a zero: |sum| = 20 only with the five of one sign, the zero's sign
    # free -> 2 * 2 of the 64 patterns
    assert result["p_value"] == pytest.approx(4 / 64) and "exact" in result["test"]
    assert result["ci_low"] < result["effect"] < result["ci_high"] < 0


def _family_scores(n=20, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    shifts = {"splitcam": 0.3, "splitlrp": -0.05, "layercam": 0.0, "saliency": 0.1}
    for metric in ("PointingGame", "Sparseness"):
        common = rng.normal(0, 1, size=n)
        for method, shift in shifts.items():
            rows += _rows("m", method, metric, common + shift + rng.normal(0, 0.3, size=n))
    return pd.DataFrame(rows)


def test_families_their_corrections_levels_and_detectable_effects():
    scores = _family_scores()
    result = C.compare_methods(scores, "m", ["splitcam", "splitlrp"], ["layercam", "saliency"],
                               ["PointingGame", "Sparseness"], DIRECTIONS, confirmatory_metrics=("PointingGame",),
                               n_permutations=999)
    confirmatory = result[result["family"] == "confirmatory"]
    # split method x paper baseline (layercam; saliency is not in the paper's list) x headline column
    assert sorted(zip(confirmatory["method"], confirmatory["baseline"], confirmatory["metric"])) == [
        ("splitcam", "layercam", "PointingGame"), ("splitlrp", "layercam", "PointingGame")]
    exploratory = result[result["family"] == "exploratory"]
    assert len(exploratory) == 6
    np.testing.assert_allclose(confirmatory["p_adjusted"], S.holm(confirmatory["p_value"]))
    np.testing.assert_allclose(exploratory["p_adjusted"], S.benjamini_hochberg(exploratory["p_value"]))
    assert (confirmatory["test_level"] == 0.05 / 2).all() and (exploratory["test_level"] == 0.05 / 6).all()
    for _, r in result.iterrows():
        assert r["mde"] == pytest.approx(S.minimal_detectable_effect(r["sd_difference"], 20, r["test_level"]))
    assert (result["p_adjusted"] >= result["p_value"]).all() and (result["n"] == 20).all()
    assert "Monte-Carlo (N = 999)" in result["test"].iloc[0]


def test_equivalence_margin_and_equivalent_column():
    scores = _family_scores(n=60, seed=1)
    margins = C.equivalence_margins(scores[scores["model"] == "m"], ["splitcam", "layercam"], ["PointingGame"])
    part = scores[(scores["metric"] == "PointingGame") & scores["method"].isin(["splitcam", "layercam"])]
    variances = part.groupby("method")["score"].var(ddof=1)  # equal n: the pooled variance is their mean
    assert margins["PointingGame"] == pytest.approx(0.2 * np.sqrt(variances.mean()))
    result = C.compare_methods(scores, "m", ["splitcam", "splitlrp"], ["layercam"], ["PointingGame"], DIRECTIONS,
                               n_permutations=999).set_index("method")
    # pooled per-image SD about 1.04 -> margin about 0.21; splitlrp is 0.05 from layercam (difference SD 0.42,
    # se 0.055): TOST p well below 0.05; splitcam is 0.3 away: not equivalent, and significant for the method
    assert result.loc["splitlrp", "equivalent"] and result.loc["splitlrp", "direction"] == "none"
    assert not result.loc["splitcam", "equivalent"] and result.loc["splitcam", "direction"] == "method"
    margin = result.loc["splitlrp", "margin"]
    assert margin == pytest.approx(C.equivalence_margins(scores, ["splitcam", "splitlrp", "layercam"],
                                                         ["PointingGame"])["PointingGame"])
    d = (scores[(scores["method"] == "splitlrp") & (scores["metric"] == "PointingGame")]["score"].to_numpy()
         - scores[(scores["method"] == "layercam") & (scores["metric"] == "PointingGame")]["score"].to_numpy())
    assert result.loc["splitlrp", "p_equivalence"] == pytest.approx(S.tost_p_value(d, margin))


def test_markdown_prints_p_values_below_the_floor_and_keeps_the_families_apart():
    scores = _family_scores(n=60, seed=1)
    result = C.compare_methods(scores, "m", ["splitcam", "splitlrp"], ["layercam", "saliency"],
                               ["PointingGame", "Sparseness"], DIRECTIONS, confirmatory_metrics=("PointingGame",),
                               n_permutations=999)
    result.loc[result["method"] == "splitcam", "p_adjusted"] = 9.4e-15  # the csv keeps whatever number it holds
    text = "\n".join(C.comparisons_markdown(result))
    assert "< 1e-6" in text and "9.4e-15" not in text
    assert "**Confirmatory** (2 comparisons;" in text and "**Exploratory** (6 comparisons;" in text
    assert C.format_p_value(0.0123) == "0.012" and C.format_p_value(1e-6) == "1e-06"
    assert C.format_p_value(float("nan")) == "n/a"


def test_paper_baselines_are_rows_of_the_profiles():
    from hidden_monotonicity.evaluation.profiles import CAM_BASELINES, PIXEL_BASELINES

    assert set(C.PAPER_BASELINES) <= set(PIXEL_BASELINES + CAM_BASELINES)
    assert C.PAPER_BASELINES == ("guided_backprop", "layercam", "lrp_gamma", "gradcam_pp", "integrated_gradients")
