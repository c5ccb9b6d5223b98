"""Deterministic reruns (issue 13.6) and the uncertainty outputs of the smoke profile (issue 13.2): the smoke
profile run twice into fresh folders gives byte-identical scores, tables and comparisons."""

from __future__ import annotations

import pandas as pd
import pytest

import hidden_monotonicity as hm
from hidden_monotonicity.evaluation import get_profile

OUTPUTS = ("scores.csv", "table.csv", "comparisons.csv", "selection.csv", "table.md")


@pytest.mark.slow
def test_smoke_profile_twice_gives_byte_identical_results(tmp_path):
    profile = get_profile("smoke")
    first = hm.evaluate(profile, tmp_path / "first", progress=False)
    second = hm.evaluate(profile, tmp_path / "second", progress=False)
    assert first.complete and second.complete
    for name in OUTPUTS:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name

    table = pd.read_csv(tmp_path / "first" / "table.csv")
    cells = table[table["metric"] != "Mean rank"].dropna(subset=["ci_low"])
    assert len(cells) > 0 and (cells["ci_low"] <= cells["mean"] + 1e-12).all() and (cells["mean"] <= cells["ci_high"] + 1e-12).all()
    assert set(table["table"]) == {"headline", "other"}
    comparisons = pd.read_csv(tmp_path / "first" / "comparisons.csv")
    assert len(comparisons) > 0 and comparisons["p_value"].between(0, 1).all()
    assert set(comparisons["method"]) == {"splitcam"}
    defaults = pd.read_csv(tmp_path / "first" / "table_defaults.csv")
    assert set(defaults["method"]) == {row.name for row in profile.methods}
    seconds = first.metadata["seconds"]
    assert all(f"benchmark_vgg/{row.name}" in seconds for row in profile.methods)
    assert seconds["benchmark_vgg/splitcam"]["val_cpu_s"] > 0
