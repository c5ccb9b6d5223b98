"""Mean ranks a reviewer accepts (issue 25, items 1, 8 and 11): only complete columns are ranked, the table at
registered defaults shows only what every method was scored on, bold mean ranks are the methods not distinguishable
from the best, the metrics' agreement is written, the rank bootstrap is paired, and the splits hold the images the
profiles say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hidden_monotonicity.evaluation import get_profile
from hidden_monotonicity.evaluation import statistics as S
from hidden_monotonicity.evaluation import tables as T
from hidden_monotonicity.evaluation.backend import load_profile_split

DIRECTIONS = {"PointingGame": "higher", "MaxSensitivity": "lower", "Sparseness": "higher", "Complexity": "lower"}
HEADLINE = ("PointingGame", "MaxSensitivity")


def _frame(values: dict[tuple[str, str], np.ndarray], config: str = "c") -> pd.DataFrame:
    rows = [{"model": "m", "split": "test", "method": method, "config": config, "metric": metric, "category": "x",
             "sample": i, "target": 0, "score": float(v), "status": "ok", "seed": 0}
            for (method, metric), scores in values.items() for i, v in enumerate(scores)]
    return pd.DataFrame(rows)


def _scores(methods=("a", "b", "c"), n: int = 12, seed: int = 0) -> dict[tuple[str, str], np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {}
    for i, method in enumerate(methods):
        values[method, "PointingGame"] = (rng.random(n) < 0.9 - 0.2 * i).astype(float)
        values[method, "MaxSensitivity"] = rng.normal(0.2 + 0.3 * i, 0.05, n)
        values[method, "Sparseness"] = rng.normal(0.8 - 0.2 * i, 0.05, n)
    return values


def test_the_defaults_table_keeps_only_the_columns_every_method_has(tmp_path):
    """The runner scores every method at its defaults on the profile's defaults_metrics only; a method whose selected
    configuration is its default has every metric there. Before: its lone cells were bold and its mean rank 1.00."""
    values = _scores()
    default_values = {k: v for k, v in values.items() if k[1] == "PointingGame" or k[0] == "a"}
    paths = T.write_tables(_frame(values), tmp_path, models=["m"], metric_order=list(DIRECTIONS),
                           method_order=["a", "b", "c"], directions=DIRECTIONS, headline_metrics=HEADLINE,
                           default_scores=_frame(default_values, config="default"))
    defaults = pd.read_csv(paths["defaults"])
    assert set(defaults["metric"]) == {"PointingGame", T.MEAN_RANK}
    assert set(defaults["table"]) == {T.HEADLINE}  # the other-categories table had no column every method has
    text = paths["md"].read_text()
    section = text[text.index("at registered defaults"):]
    assert "| Method | Mean rank \u2193 | PointingGame \u2191 |" in section and "Sparseness \u2191 |" not in section
    assert "Left out at registered defaults (not computed for every method at its defaults; see the table above): " \
           "MaxSensitivity, Sparseness." in section
    assert "**1.00" not in section


def test_a_column_some_method_lacks_is_shown_but_not_ranked():
    values = _scores()
    del values["c", "MaxSensitivity"]
    table = T.build_tables(_frame(values), "m", list(DIRECTIONS), ["a", "b", "c"], DIRECTIONS,
                           headline_metrics=HEADLINE)
    headline = table[table["table"] == T.HEADLINE]
    lacking = headline[headline["metric"] == "MaxSensitivity"]
    assert len(lacking) == 2 and lacking["rank"].isna().all() and not lacking["is_best"].any()
    # the mean rank is PointingGame's rank alone (before: c ranked last on MaxSensitivity for want of a score)
    pointing = headline[headline["metric"] == "PointingGame"].set_index("method")["rank"]
    mean_rank = headline[headline["metric"] == T.MEAN_RANK].set_index("method")
    assert mean_rank["mean"].to_dict() == pointing.to_dict() and (mean_rank["n"] == 1).all()
    text = T.to_markdown([table])
    assert "Not in the mean rank (no score for the methods in brackets): MaxSensitivity (c)." in text


def test_a_column_with_one_value_and_missing_means_is_constant():
    means = pd.DataFrame({"Lone": [1.0, np.nan, np.nan], "Varies": [1.0, 2.0, np.nan]}, index=["a", "b", "c"])
    assert T.constant_metrics(means) == ["Lone"]
    assert T.incomplete_metrics(means) == ["Lone", "Varies"] and T.ranked_metrics(means) == []


def _close_race(n: int = 30) -> dict[tuple[str, str], np.ndarray]:
    """a and b within noise of each other (a slightly ahead), c and d clearly behind on both metrics."""
    rng = np.random.default_rng(4)
    base = rng.uniform(0, 4, n)
    values = {}
    for method, shift, noise in (("a", 0.0, 1.0), ("b", 0.15, 1.0), ("c", 3.0, 0.1), ("d", 6.0, 0.1)):
        values[method, "MaxSensitivity"] = base + shift + rng.normal(0, noise, n)
        values[method, "Complexity"] = base + shift + rng.normal(0, noise, n)
    return values


def test_bold_mean_ranks_are_the_methods_not_distinguishable_from_the_best():
    directions = {"MaxSensitivity": "lower", "Complexity": "lower"}
    table = T.build_tables(_frame(_close_race()), "m", list(directions), ["a", "b", "c", "d"], directions,
                           headline_metrics=tuple(directions))
    ranks = table[table["metric"] == T.MEAN_RANK].set_index("method")
    assert ranks.loc["a", "mean"] < ranks.loc["b", "mean"]  # a is the point-estimate best ...
    assert ranks.loc["b", "ci_low"] <= ranks.loc["a", "ci_high"]  # ... but b's interval overlaps a's
    assert set(ranks.index[ranks["is_best"]]) == {"a", "b"}
    assert ranks.loc["c", ["ci_low", "ci_high"]].tolist() == [3.0, 3.0]
    # every interval overlapping the best's: nothing is singled out; no intervals: nothing either
    assert not T.indistinguishable_from_best([1.2, 1.5, 1.8], [1.0, 1.0, 1.5], [2.0, 2.0, 2.0]).any()
    assert not T.indistinguishable_from_best([1.0, 2.0], [np.nan, np.nan], [np.nan, np.nan]).any()
    assert T.indistinguishable_from_best([1.2, 1.5, 2.8], [1.0, 1.0, 2.5], [2.0, 2.0, 3.0]).tolist() == [True, True, False]


def test_metric_correlations_are_written_beside_the_ranks(tmp_path):
    methods = ["a", "b", "c", "d"]
    values = {}
    for i, method in enumerate(methods):
        values[method, "PointingGame"] = np.array([1.0] * (8 - 2 * i) + [0.0] * (2 * i))  # a best
        values[method, "MaxSensitivity"] = np.full(8, 0.1 * (i + 1))  # lower is better: a best, same order
        values[method, "Sparseness"] = np.full(8, 0.1 * (i + 1))  # higher is better: d best, opposite order
        values[method, "Complexity"] = np.full(8, 5.0)  # constant: not ranked, not correlated
    paths = T.write_tables(_frame(values), tmp_path, models=["m"], metric_order=list(DIRECTIONS), method_order=methods,
                           directions=DIRECTIONS, headline_metrics=HEADLINE)
    assert paths["metric_correlations"] == tmp_path / "metric_correlations.csv"
    matrix = pd.read_csv(paths["metric_correlations"]).set_index("metric")
    assert list(matrix.columns) == ["model", "PointingGame", "MaxSensitivity", "Sparseness"]
    assert matrix.loc["PointingGame", "MaxSensitivity"] == pytest.approx(1.0)
    assert matrix.loc["Sparseness", "PointingGame"] == pytest.approx(-1.0)
    assert (matrix["model"] == "m").all()
    assert "metric_correlations.csv: Spearman correlation" in paths["md"].read_text()


def test_the_rank_bootstrap_resamples_the_same_images_for_every_method():
    """B = A + 0.05 on every image, images differing a lot: B is worse on every resample of the same images, so the
    paired intervals are [1, 1] and [2, 2]; resampling each method's images separately would make them overlap."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 10, 40)
    cube = np.stack([a, a + 0.05])[:, None, :]  # (methods, metrics, images), lower is better
    rank = lambda m: T.rank_columns(m, ["lower"])  # noqa: E731
    low, high = S.bootstrap_ranks(cube, rank, seed=0, n_resamples=500)
    assert low.tolist() == [1.0, 2.0] and high.tolist() == [1.0, 2.0]
    # the same statistic unpaired (what the test guards against): the intervals overlap
    picks = [rng.integers(0, 40, (500, 40)) for _ in range(2)]
    means = np.stack([cube[k, 0, picks[k]].mean(axis=1) for k in range(2)], axis=1)[:, :, None]
    unpaired = rank(means).mean(axis=2)
    assert np.percentile(unpaired[:, 0], 97.5) == 2.0 and np.percentile(unpaired[:, 1], 2.5) == 1.0


@pytest.mark.parametrize("name, n_val, n_test, described", [
    ("smoke", 4, 4, "4+4 digits"),
    ("default", 32, 480, "32 validation / 480 test images"),
    ("natural", 2, 8, "2 validation / 8 test mosaics"),
])
def test_each_profile_states_the_images_its_splits_hold(name, n_val, n_test, described):
    profile = get_profile(name)
    assert (profile.n_val, profile.n_test) == (n_val, n_test) and described in profile.description


def test_the_smoke_profile_data_holds_the_stated_numbers_of_images():
    """``data.load`` returns fewer images than asked when a split is short: check the smoke splits are full."""
    profile = get_profile("smoke")
    assert len(load_profile_split(profile, "val", None)) == profile.n_val
    assert len(load_profile_split(profile, "test", None)) == profile.n_test
