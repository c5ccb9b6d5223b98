"""Evaluation figures: rank matrix values and PNG output."""

from __future__ import annotations

import pandas as pd
import pytest

from hidden_monotonicity.plots import evaluation as plots

DIRECTIONS = {"PointingGame": "higher", "MaxSensitivity": "lower"}


def _scores() -> pd.DataFrame:
    rows = []
    table = {"a": (0.9, 0.5), "b": (0.5, 0.1), "c": (0.1, 0.9)}
    for method, (pointing, sensitivity) in table.items():
        for sample in range(3):
            for metric, value in (("PointingGame", pointing), ("MaxSensitivity", sensitivity)):
                rows.append({"model": "m", "split": "test", "method": method, "config": "x", "metric": metric,
                             "category": "c", "sample": sample, "target": 0, "score": value + 0.01 * sample,
                             "status": "ok", "seed": 0})
    rows.append({**rows[0], "split": "val", "score": 100.0})  # validation rows never enter the figures
    return pd.DataFrame(rows)


def test_rank_matrix():
    ranks = plots.rank_matrix(_scores(), DIRECTIONS, "m")
    assert ranks.loc["a", "PointingGame"] == 1 and ranks.loc["c", "PointingGame"] == 3
    assert ranks.loc["b", "MaxSensitivity"] == 1 and ranks.loc["c", "MaxSensitivity"] == 3
    assert ranks.loc["a", "Mean rank"] == 1.5 and ranks.loc["c", "Mean rank"] == 3


def test_write_figures(tmp_path):
    metadata = {"metrics": {"PG": {"outputs": [{"name": "PointingGame", "direction": "higher"}]},
                            "MS": {"outputs": [{"name": "MaxSensitivity", "direction": "lower"}]}}}
    for kind in ("box", "strip"):
        figure = plots.plot_metric_distributions(_scores(), DIRECTIONS, kind=kind)
        assert [ax.get_title() for ax in figure.axes if ax.get_visible()] == ["PointingGame \u2191", "MaxSensitivity \u2193"]
    paths = plots.write_evaluation_figures(_scores(), tmp_path / "fig", metadata=metadata)
    assert [p.name for p in paths] == ["distributions-m.png", "ranks-m.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000 for p in paths)
    with pytest.raises(ValueError, match="kind"):
        plots.plot_metric_distributions(_scores(), DIRECTIONS, kind="bar")


def test_figures_use_the_chosen_configuration_and_draw_binary_metrics_as_dots():
    scores = _scores()
    scores.loc[scores["metric"] == "PointingGame", "score"] = (scores["sample"] % 2).astype(float)
    defaults = scores[scores["split"] == "test"].assign(config="defaults", score=-5.0)
    both = pd.concat([scores, defaults], ignore_index=True)
    with pytest.raises(ValueError, match="selection"):
        plots.rank_matrix(both, DIRECTIONS, "m")
    selection = pd.DataFrame({"model": "m", "method": ["a", "b", "c"], "config": "x", "chosen": True})
    ranks = plots.rank_matrix(both, DIRECTIONS, "m", selection=selection)
    assert ranks.loc["b", "MaxSensitivity"] == 1 and ranks.loc["c", "MaxSensitivity"] == 3
    figure = plots.plot_metric_distributions(both, DIRECTIONS, model="m", selection=selection, kind="box")
    pointing = next(ax for ax in figure.axes if ax.get_title().startswith("PointingGame"))
    assert pointing.get_ylabel() == "mean (95 % CI)" and len(pointing.lines) >= 3
