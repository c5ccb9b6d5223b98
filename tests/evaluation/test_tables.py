"""Paper-format tables: arrows, mean ± std, bold best per direction, mean rank; ranking helpers."""

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


def test_table_marks_the_best_per_direction_and_formats_mean_pm_std():
    summary = T.summarize(_scores(), DIRECTIONS)
    table = T.build_table(summary, "vgg", ["PointingGame", "MaxSensitivity"], ["splitcam", "layercam", "saliency"], DIRECTIONS)
    best = table[table["is_best"]].set_index("metric")["method"]
    assert best["PointingGame"] == "splitcam"  # highest mean (0.75)
    assert best["MaxSensitivity"] == "layercam"  # lowest mean (0.2)
    cell = table[(table["method"] == "saliency") & (table["metric"] == "MaxSensitivity")].iloc[0]
    assert cell["display"] == f"1.000 \u00b1 {np.std([0.9, 1.1, 1.0, 1.0]):.3f}"
    ranks = table[table["metric"] == T.MEAN_RANK].set_index("method")["mean"]
    # PointingGame ranks: splitcam 1, layercam 2, saliency 3; MaxSensitivity: layercam 1, splitcam 2, saliency 3
    assert ranks.to_dict() == {"splitcam": 1.5, "layercam": 1.5, "saliency": 3.0}
    assert set(table[(table["metric"] == T.MEAN_RANK) & table["is_best"]]["method"]) == {"splitcam", "layercam"}


def test_markdown_has_arrows_bold_and_config_footnotes():
    summary = T.summarize(_scores(), DIRECTIONS)
    table = T.build_table(summary, "vgg", ["PointingGame", "MaxSensitivity"], ["splitcam", "layercam", "saliency"], DIRECTIONS)
    text = T.to_markdown([table], title="t")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Method"))
    assert header == "| Method | PointingGame \u2191 | MaxSensitivity \u2193 | Mean rank \u2193 |"
    splitcam = next(line for line in lines if line.startswith("| splitcam"))
    assert "**0.750 \u00b1 0.433**" in splitcam
    assert "| 0.450 \u00b1 0.112 |" in splitcam  # MaxSensitivity not best -> not bold
    layercam = next(line for line in lines if line.startswith("| layercam"))
    assert "**0.200 \u00b1 0.071**" in layercam
    assert "- splitcam: `cfg-splitcam`" in text
    assert "(test split, n = 4 images per cell)" in text


def test_latex_escapes_and_bolds():
    summary = T.summarize(_scores().replace({"splitcam": "split_cam"}), DIRECTIONS)
    table = T.build_table(summary, "vgg", ["PointingGame", "MaxSensitivity"], ["split_cam", "layercam", "saliency"], DIRECTIONS)
    tex = T.to_latex([table], caption="VGG")
    assert r"split\_cam & \textbf{0.750 $\pm$ 0.433}" in tex
    assert r"PointingGame $\uparrow$" in tex and r"MaxSensitivity $\downarrow$" in tex
    assert tex.count(r"\begin{tabular}{lccc}") == 1 and r"\toprule" in tex and r"\bottomrule" in tex


def test_ties_at_display_precision_are_all_bold():
    summary = pd.DataFrame({"model": "m", "method": ["a", "b", "c"], "config": "x", "metric": "PointingGame",
                            "category": "Localisation", "direction": "higher", "mean": [0.5, 0.50001, 0.4],
                            "std": 0.0, "n": 3})
    table = T.build_table(summary, "m", ["PointingGame"], ["a", "b", "c"], DIRECTIONS)
    bold = table[(table["metric"] == "PointingGame") & table["is_best"]]["method"].tolist()
    assert bold == ["a", "b"]


def test_write_tables_creates_all_three_formats(tmp_path):
    summary = T.summarize(_scores(), DIRECTIONS)
    paths = T.write_tables(summary, tmp_path, models=["vgg"], metric_order=["PointingGame", "MaxSensitivity"],
                           method_order=["splitcam", "layercam", "saliency"], directions=DIRECTIONS)
    assert {p.name for p in paths.values()} == {"table.csv", "table.md", "table.tex"}
    written = pd.read_csv(paths["csv"])
    assert {"model", "method", "config", "metric", "direction", "arrow", "mean", "std", "n", "rank", "is_best"} <= set(written)


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
