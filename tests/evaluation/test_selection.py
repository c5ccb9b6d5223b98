"""The selection protocol (paper D.5): mean rank over validation metrics, ties to the earlier candidate."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hidden_monotonicity.evaluation.selection import select_configuration

DIRECTIONS = {"AUC@5": "lower", "PointingGame": "higher", "MaxSensitivity": "lower"}


def _val_rows(means: dict[str, dict[str, float]], spread: float = 0.01) -> pd.DataFrame:
    rows = []
    for config, by_metric in means.items():
        for metric, mean in by_metric.items():
            for sample in range(2):  # two samples symmetric around the mean
                rows.append({"config": config, "metric": metric, "sample": sample, "status": "ok",
                             "score": mean + (spread if sample else -spread)})
    return pd.DataFrame(rows)


def test_mean_rank_criterion_picks_the_best_candidate():
    means = {
        "a": {"AUC@5": 0.30, "PointingGame": 0.5, "MaxSensitivity": 0.9},  # ranks 3, 3, 3
        "b": {"AUC@5": 0.10, "PointingGame": 0.9, "MaxSensitivity": 0.5},  # ranks 1, 1, 2
        "c": {"AUC@5": 0.20, "PointingGame": 0.7, "MaxSensitivity": 0.1},  # ranks 2, 2, 1
    }
    table = select_configuration(_val_rows(means), ["a", "b", "c"], list(DIRECTIONS), DIRECTIONS)
    assert table["criterion_value"].tolist() == pytest.approx([3.0, 4 / 3, 5 / 3])
    assert table.loc[table["chosen"], "config"].tolist() == ["b"]
    assert table["val_PointingGame"].tolist() == pytest.approx([0.5, 0.9, 0.7])
    assert table["n_val"].tolist() == [2, 2, 2]


def test_single_metric_criterion_uses_its_direction():
    means = {"a": {"MaxSensitivity": 0.4, "PointingGame": 0.2}, "b": {"MaxSensitivity": 0.2, "PointingGame": 0.1}}
    rows = _val_rows(means)
    low = select_configuration(rows, ["a", "b"], ["MaxSensitivity"], DIRECTIONS, "metric:MaxSensitivity")
    assert low.loc[low["chosen"], "config"].item() == "b"
    high = select_configuration(rows, ["a", "b"], ["PointingGame"], DIRECTIONS, "metric:PointingGame")
    assert high.loc[high["chosen"], "config"].item() == "a"


def test_ties_go_to_the_earlier_candidate_and_missing_scores_rank_last():
    means = {"a": {"PointingGame": 0.5}, "b": {"PointingGame": 0.5}}
    rows = _val_rows(means)
    table = select_configuration(rows, ["b", "a"], ["PointingGame"], DIRECTIONS)
    assert table.loc[table["chosen"], "config"].item() == "b"
    # candidate "z" has no scores at all (e.g. every sample failed): it must not be chosen
    failed = pd.concat([rows, pd.DataFrame([{"config": "z", "metric": "PointingGame", "sample": 0,
                                             "status": "failed: x", "score": np.nan}])])
    table = select_configuration(failed, ["z", "a"], ["PointingGame"], DIRECTIONS)
    assert table.loc[table["chosen"], "config"].item() == "a"
    assert table["n_val"].tolist() == [0, 2]


def test_unknown_criterion_is_rejected():
    with pytest.raises(ValueError, match="criterion"):
        select_configuration(_val_rows({"a": {"PointingGame": 1}}), ["a"], ["PointingGame"], DIRECTIONS, "median")


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=5, unique=True),
       st.randoms(use_true_random=False))
def test_choice_is_the_mean_rank_minimum_and_independent_of_candidate_order(triples, rnd):
    names = [f"c{i}" for i in range(len(triples))]
    means = {n: dict(zip(DIRECTIONS, t)) for n, t in zip(names, triples)}
    rows = _val_rows(means, spread=0.0)
    table = select_configuration(rows, names, list(DIRECTIONS), DIRECTIONS)
    # independent recomputation of the mean rank
    frame = pd.DataFrame(means).T
    ranks = pd.DataFrame({m: frame[m].rank(ascending=DIRECTIONS[m] == "lower", method="average") for m in DIRECTIONS})
    expected = ranks.mean(axis=1)
    np.testing.assert_allclose(table["criterion_value"], expected[names].to_numpy())
    chosen = table.loc[table["chosen"], "config"].item()
    assert expected[chosen] == expected.min()
    shuffled = names[:]
    rnd.shuffle(shuffled)
    again = select_configuration(rows, shuffled, list(DIRECTIONS), DIRECTIONS)
    if (expected == expected.min()).sum() == 1:  # unique optimum: the order cannot matter
        assert again.loc[again["chosen"], "config"].item() == chosen


def test_every_candidate_listed_once():
    names = ["-".join(p) for p in itertools.product("ab", "xy")]
    rows = _val_rows({n: {"PointingGame": i / 10} for i, n in enumerate(names)})
    table = select_configuration(rows, names, ["PointingGame"], DIRECTIONS)
    assert table["config"].tolist() == names and table["chosen"].sum() == 1
