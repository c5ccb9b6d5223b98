"""Paper-format tables: arrows, mean [95 % CI], bold best per direction, mean rank with interval; headline and other
tables; paired comparisons; ranking helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hidden_monotonicity.evaluation import tables as T

DIRECTIONS = {"PointingGame": "higher", "MaxSensitivity": "lower"}


def _scores() -> pd.DataFrame:
    rows = []
    values = {
        ("splitcam", "PointingGame"): [1.0, 1.0, 0.0, 1.0],
        ("splitcam", "MaxSensitivity"): [0.5, 0.3, 0.4, 0.6],
        ("layercam", "PointingGame"): [1.0, 0.0, 0.0, 1.0],
        ("layercam", "MaxSensitivity"): [0.2, 0.2, 0.1, 0.3],
        ("saliency", "PointingGame"): [0.0, 0.0, 1.0, 0.0],
        ("saliency", "MaxSensitivity"): [0.9, 1.1, 1.0, 1.0],
    }
    for (method, metric), scores in values.items():
        for sample, score in enumerate(scores):
            rows.append({"model": "vgg", "split": "test", "method": method, "config": f"cfg-{method}", "metric": metric,
                         "category": "x", "sample": sample, "target": 0, "score": score, "status": "ok", "seed": 1})
    # rows that must not count
    rows.append({**rows[0], "score": -100.0, "status": "dropped: empty mask", "sample": 9})
    rows.append({**rows[0], "score": np.nan, "status": "failed: boom", "sample": 10})
    return pd.DataFrame(rows)


def test_summary_uses_only_ok_rows_and_population_std():
    summary = T.summarize(_scores(), DIRECTIONS)
    cell = summary[(summary["method"] == "splitcam") & (summary["metric"] == "PointingGame")].iloc[0]
    assert cell["n"] == 4
    assert cell["mean"] == pytest.approx(0.75)
    assert cell["std"] == pytest.approx(np.std([1, 1, 0, 1]))
    # a bootstrap interval of a mean of 0/1 values lies within the values' range and around the mean
    assert 0.0 <= cell["ci_low"] < 0.75 < cell["ci_high"] <= 1.0


def test_summary_intervals_are_seeded_and_order_independent():
    scores = _scores()
    first = T.summarize(scores, DIRECTIONS, seed=3)
    shuffled = T.summarize(scores.sample(frac=1.0, random_state=1), DIRECTIONS, seed=3)
    key = ["method", "metric"]
    pd.testing.assert_frame_equal(first.sort_values(key).reset_index(drop=True),
                                  shuffled.sort_values(key).reset_index(drop=True)[first.columns])
    continuous = pd.DataFrame({"model": "m", "method": "a", "config": "c", "metric": "MaxSensitivity", "category": "x",
                               "sample": range(30), "score": np.random.default_rng(0).normal(size=30), "status": "ok"})
    seeded = [T.summarize(continuous, DIRECTIONS, seed=s)["ci_low"].iloc[0] for s in (3, 3, 4)]
    assert seeded[0] == seeded[1] != seeded[2]


def test_table_marks_the_best_per_direction_and_formats_mean_pm_std():
    summary = T.summarize(_scores(), DIRECTIONS)
    table = T.build_table(summary, "vgg", ["PointingGame", "MaxSensitivity"], ["splitcam", "layercam", "saliency"], DIRECTIONS)
    best = table[table["is_best"]].set_index("metric")["method"]
    assert best["PointingGame"] == "splitcam"  # highest mean (0.75)
    assert best["MaxSensitivity"] == "layercam"  # lowest mean (0.2)
    cell = table[(table["method"] == "saliency") & (table["metric"] == "MaxSensitivity")].iloc[0]
    assert cell["display"] == f"1.000 [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]"
    assert 0.9 <= cell["ci_low"] < 1.0 < cell["ci_high"] <= 1.1
    assert cell["std"] == pytest.approx(np.std([0.9, 1.1, 1.0, 1.0]))
    ranks = table[table["metric"] == T.MEAN_RANK].set_index("method")["mean"]
    # PointingGame ranks: splitcam 1, layercam 2, saliency 3; MaxSensitivity: layercam 1, splitcam 2, saliency 3
    assert ranks.to_dict() == {"splitcam": 1.5, "layercam": 1.5, "saliency": 3.0}
    # without per-image scores the mean ranks have no interval: nothing can be said indistinguishable from the best
    assert not table[table["metric"] == T.MEAN_RANK]["is_best"].any()


def test_markdown_has_arrows_bold_and_config_footnotes():
    summary = T.summarize(_scores(), DIRECTIONS)
    table = T.build_table(summary, "vgg", ["PointingGame", "MaxSensitivity"], ["splitcam", "layercam", "saliency"], DIRECTIONS)
    text = T.to_markdown([table], title="t")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Method"))
    assert header == "| Method | Mean rank \u2193 | PointingGame \u2191 | MaxSensitivity \u2193 |"
    cells = {(r["method"], r["metric"]): r["display"] for _, r in table.iterrows()}
    splitcam = next(line for line in lines if line.startswith("| splitcam"))
    assert f"**{cells['splitcam', 'PointingGame']}**" in splitcam and cells["splitcam", "PointingGame"].startswith("0.750 [")
    assert f"| {cells['splitcam', 'MaxSensitivity']} |" in splitcam  # MaxSensitivity not best -> not bold
    assert cells["splitcam", "MaxSensitivity"].startswith("0.450 [")
    layercam = next(line for line in lines if line.startswith("| layercam"))
    assert f"**{cells['layercam', 'MaxSensitivity']}**" in layercam and cells["layercam", "MaxSensitivity"].startswith("0.200 [")
    assert "- splitcam: `cfg-splitcam`" in text
    assert "(test split, n = 4 images per cell)" in text


def test_latex_escapes_and_bolds():
    summary = T.summarize(_scores().replace({"splitcam": "split_cam"}), DIRECTIONS)
    table = T.build_table(summary, "vgg", ["PointingGame", "MaxSensitivity"], ["split_cam", "layercam", "saliency"], DIRECTIONS)
    tex = T.to_latex([table], caption="VGG")
    assert r"split\_cam & 1.50 & \textbf{0.750} {\scriptsize [" in tex
    assert r"PointingGame $\uparrow$" in tex and r"MaxSensitivity $\downarrow$" in tex
    assert tex.count(r"\begin{tabular}{lccc}") == 1 and r"\toprule" in tex and r"\bottomrule" in tex


def test_ties_at_display_precision_are_all_bold():
    summary = pd.DataFrame({"model": "m", "method": ["a", "b", "c"], "config": "x", "metric": "PointingGame",
                            "category": "Localisation", "direction": "higher", "mean": [0.5, 0.50001, 0.4],
                            "std": 0.0, "n": 3})
    table = T.build_table(summary, "m", ["PointingGame"], ["a", "b", "c"], DIRECTIONS)
    bold = table[(table["metric"] == "PointingGame") & table["is_best"]]["method"].tolist()
    assert bold == ["a", "b"]


def test_write_tables_creates_all_formats(tmp_path):
    paths = T.write_tables(_scores(), tmp_path, models=["vgg"], metric_order=["PointingGame", "MaxSensitivity"],
                           method_order=["splitcam", "layercam", "saliency"], directions=DIRECTIONS)
    assert {p.name for p in paths.values()} == {"table.csv", "table.md", "table.tex", "comparisons.csv",
                                                "metric_correlations.csv"}
    written = pd.read_csv(paths["csv"])
    assert {"model", "table", "method", "config", "metric", "direction", "arrow", "mean", "std", "ci_low", "ci_high",
            "n", "rank", "is_best"} <= set(written)
    cells = written[written["metric"] != T.MEAN_RANK]
    assert (cells["ci_low"] <= cells["mean"]).all() and (cells["mean"] <= cells["ci_high"]).all()
    ranks = written[written["metric"] == T.MEAN_RANK]
    assert (ranks["ci_low"] <= ranks["ci_high"]).all() and ranks["ci_low"].ge(1).all() and ranks["ci_high"].le(3).all()
    comparisons = pd.read_csv(paths["comparisons"])
    assert list(comparisons.columns[:14]) == ["model", "method", "baseline", "metric", "family", "direction", "effect",
                                              "ci_low", "ci_high", "p_value", "p_adjusted", "mde", "equivalent", "n"]
    # splitcam against the two baselines on both metrics; LayerCAM is one of the paper's baselines, Saliency is not
    assert len(comparisons) == 4 and set(comparisons["baseline"]) == {"layercam", "saliency"}
    assert comparisons["p_value"].between(0, 1).all() and (comparisons["p_adjusted"] >= comparisons["p_value"]).all()
    family = comparisons.set_index("baseline")["family"]
    assert set(family["layercam"]) == {"confirmatory"} and set(family["saliency"]) == {"exploratory"}


def test_headline_and_other_tables_have_their_own_ranks():
    directions = {**DIRECTIONS, "Sparseness": "higher"}
    scores = _scores()
    extra = scores[scores["metric"] == "PointingGame"].assign(metric="Sparseness")
    extra["score"] = extra["method"].map({"splitcam": 0.1, "layercam": 0.5, "saliency": 0.9}) + 0.01 * extra["sample"]
    scores = pd.concat([scores, extra], ignore_index=True)
    table = T.build_tables(scores, "vgg", ["PointingGame", "MaxSensitivity", "Sparseness"],
                           ["splitcam", "layercam", "saliency"], directions,
                           headline_metrics=("PointingGame", "MaxSensitivity"))
    ranks = table[table["metric"] == T.MEAN_RANK].set_index(["table", "method"])["mean"]
    assert ranks[T.HEADLINE].to_dict() == {"splitcam": 1.5, "layercam": 1.5, "saliency": 3.0}
    assert ranks[T.OTHER].to_dict() == {"splitcam": 3.0, "layercam": 2.0, "saliency": 1.0}
    assert set(table[table["table"] == T.OTHER]["metric"]) == {"Sparseness", T.MEAN_RANK}


def test_constant_columns_are_shown_but_not_ranked_and_completeness_is_not_tabulated():
    directions = {**DIRECTIONS, "Completeness": "higher", "CompletenessError": "lower"}
    scores = _scores()
    constant = scores[scores["metric"] == "PointingGame"].assign(metric="CompletenessError", score=0.5)
    passed = scores[scores["metric"] == "PointingGame"].assign(metric="Completeness", score=0.0)
    scores = pd.concat([scores, constant, passed], ignore_index=True)
    table = T.build_tables(scores, "vgg", ["PointingGame", "MaxSensitivity", "Completeness", "CompletenessError"],
                           ["splitcam", "layercam", "saliency"], directions,
                           headline_metrics=("PointingGame", "MaxSensitivity"))
    assert "Completeness" not in set(table["metric"])
    error = table[table["metric"] == "CompletenessError"]
    assert len(error) == 3 and error["rank"].isna().all() and not error["is_best"].any()
    assert table[(table["table"] == T.OTHER) & (table["metric"] == T.MEAN_RANK)].empty
    text = T.to_markdown([table])
    assert "Not in the mean rank (the same mean for every method): CompletenessError." in text


def test_comparisons_take_the_direction_into_account_and_mark_what_holds():
    rng = np.random.default_rng(0)
    rows = []
    for sample in range(40):
        noise = rng.normal(0, 0.05)
        for method, shift in (("splitx", -0.3), ("base", 0.0), ("same", 0.0)):
            for metric, direction in (("MaxSensitivity", "lower"), ("PointingGame", "higher")):
                rows.append({"model": "m", "method": method, "config": "c", "metric": metric, "category": "c",
                             "sample": sample, "score": 1.0 + shift + noise + rng.normal(0, 0.01), "status": "ok"})
    scores = pd.DataFrame(rows)
    result = T.compare_methods(scores, "m", ["splitx"], ["base", "same"], ["MaxSensitivity", "PointingGame"], DIRECTIONS)
    by = result.set_index(["baseline", "metric"])
    # splitx is 0.3 lower: better for MaxSensitivity (lower), worse for PointingGame (higher)
    assert by.loc[("base", "MaxSensitivity"), "direction"] == "method"
    assert by.loc[("base", "PointingGame"), "direction"] == "baseline"
    assert result["holds"].all() and (result["n"] == 40).all()
    assert set(result["family"]) == {"exploratory"}  # "splitx" is none of the paper's split methods
    cell = by.loc[("base", "MaxSensitivity")]
    assert cell["ci_low"] < cell["effect"] < cell["ci_high"] and abs(cell["effect"] + 0.3) < 0.01
    assert cell["ci_high"] - cell["ci_low"] < 0.02  # per-image noise sd 0.014, n = 40: interval about +-0.0045
    text = "\n".join(T.comparisons_markdown(result))
    assert "2 favour the split method, 2 the baseline" in text
    assert "| splitx | base | MaxSensitivity \u2193 | method |" in text


def test_rank_by_direction():
    values = pd.Series([0.1, 0.3, np.nan, 0.3])
    assert T.rank_by_direction(values, "higher").tolist() == [3.0, 1.5, 4.0, 1.5]
    assert T.rank_by_direction(values, "lower").tolist() == [1.0, 2.5, 4.0, 2.5]
    with pytest.raises(ValueError, match="direction"):
        T.rank_by_direction(values, "up")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=8, unique=True))
def test_higher_and_lower_ranks_mirror_each_other(values):
    series = pd.Series(values)
    higher = T.rank_by_direction(series, "higher")
    lower = T.rank_by_direction(series, "lower")
    np.testing.assert_allclose(higher + lower, len(values) + 1)
    assert higher[series.idxmax()] == 1.0


def test_a_column_of_small_values_gets_the_decimals_to_show_and_rank_them():
    from hidden_monotonicity.evaluation.tables import column_precision, constant_metrics

    assert column_precision([0.5, 0.02]) == 3  # the usual columns keep 3 decimals
    assert column_precision([0.00051, 0.00012]) == 5  # two significant digits of the largest
    assert column_precision([0.0, 0.0]) == 3 and column_precision([np.nan, 0.004]) == 4
    means = pd.DataFrame({"AUC@5": [0.00051, 0.00012], "Flat": [0.0001, 0.0001]}, index=["a", "b"])
    assert constant_metrics(means) == ["Flat"]  # AUC@5 differs once shown at 5 decimals
