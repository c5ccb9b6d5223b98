"""Worker processes (evaluate(..., workers=n), evaluation/parallel.py): the same results as one process, and no
worker computes from other models or data than the run fingerprinted."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from hidden_monotonicity.evaluation import evaluate
from hidden_monotonicity.evaluation.store import EvaluationSetupError

from evaluation_standins import make_backend, picklable_backend, stand_in_profile

SCORE_KEY = ["model", "split", "method", "config", "metric", "sample"]


def _scores(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "scores.csv").sort_values(SCORE_KEY).reset_index(drop=True)


def test_two_workers_write_the_same_scores_selection_and_tables_as_one(tmp_path):
    profile = stand_in_profile()
    one = evaluate(profile, tmp_path / "one", backend=picklable_backend(), progress=False)
    two = evaluate(profile, tmp_path / "two", backend=picklable_backend(), progress=False, workers=2)
    assert one.complete and two.complete and two.units_computed == one.units_computed > 0
    pd.testing.assert_frame_equal(_scores(tmp_path / "one"), _scores(tmp_path / "two"))
    for name in ("selection.csv", "table.csv"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text(), name
    meta = json.loads((tmp_path / "two" / "metadata.json").read_text())
    assert meta["runs"][-1]["workers"] == 2
    assert set(meta["models"]) == set(profile.models)
    rows = {f"{m}/{g.name}" for m in profile.models for g in profile.methods}
    assert rows <= set(meta["seconds"]), "every row's seconds come back from the workers"


def test_a_worker_that_loads_other_weights_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HM_TEST_OTHER_WEIGHTS_OUTSIDE_PID", str(os.getpid()))
    with pytest.raises(RuntimeError, match="other models or data than the calling process fingerprinted"):
        evaluate(stand_in_profile(), tmp_path / "r", backend=picklable_backend(), progress=False, workers=2)


def test_a_backend_that_cannot_be_pickled_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(EvaluationSetupError, match="pickled.*pass workers=1"):
        evaluate(stand_in_profile(), tmp_path / "r", backend=make_backend(), progress=False, workers=2)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_refused(tmp_path, workers):
    with pytest.raises(EvaluationSetupError, match="workers must be a positive integer"):
        evaluate(stand_in_profile(), tmp_path / "r", backend=make_backend(), progress=False, workers=workers)


def test_workers_with_a_unit_budget_are_refused(tmp_path):
    with pytest.raises(EvaluationSetupError, match="max_units.*workers=1"):
        evaluate(stand_in_profile(), tmp_path / "r", backend=make_backend(), progress=False, workers=2, max_units=3)
