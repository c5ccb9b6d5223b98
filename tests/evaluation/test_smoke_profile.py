"""The shipped smoke profile end to end with the real library (models, digits benchmark, methods)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import hidden_monotonicity as hm
from hidden_monotonicity.evaluation import get_profile

from completeness_recomputed import assert_completeness_recomputed


@pytest.mark.slow
def test_smoke_profile_end_to_end(tmp_path):
    profile = get_profile("smoke")
    missing = [row.method for row in profile.methods if row.method not in hm.methods()]
    if missing:
        pytest.skip(f"methods not registered yet: {missing}")
    result = hm.evaluate("smoke", tmp_path, progress=False)
    assert result.complete
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["profile_name"] == "smoke" and meta["wall_time_s"] < 300
    table = pd.read_csv(tmp_path / "table.csv")
    assert set(table["method"]) == {row.method for row in profile.methods}
    ok = result.scores[(result.scores["status"] == "ok") & (result.scores["split"] == "test")]
    assert set(ok["category"]) == {"Faithfulness", "Localisation", "Robustness", "Complexity", "Randomisation", "Axiomatic"}
    completeness = ok[(ok["method"] == "input_x_gradient") & (ok["metric"] == "Completeness")]["score"]
    assert len(completeness) == profile.n_test
    # on the path that runs (trained checkpoint or random init): the scores equal an independent recomputation
    assert_completeness_recomputed(profile, meta, ok)
    selection = pd.read_csv(tmp_path / "selection.csv")
    splitcam = selection[selection["method"] == "splitcam"]
    assert len(splitcam) == 2 and splitcam["chosen"].sum() == 1 and splitcam["val_PointingGame"].notna().all()
