"""Issue 25.9: the per-image evidence behind the committed tables is committed too, and the tables follow from it.

``figures/evaluation_scores.csv.gz`` and ``figures/evaluation_selection.csv`` are written by notebook 04 (``make
reproduce``) next to ``evaluation_table.csv`` and ``evaluation_comparisons.csv``; a reader can audit any number
without the 10-minute rerun. These tests recompute one table cell and one comparison from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hidden_monotonicity.outputs import repository_root

FIGURES = repository_root() / "figures"


@pytest.fixture(scope="module")
def evidence():
    scores = pd.read_csv(FIGURES / "evaluation_scores.csv.gz")
    selection = pd.read_csv(FIGURES / "evaluation_selection.csv")
    chosen = selection[selection["chosen"].astype(bool)].set_index(["model", "method"])["config"]
    return scores, chosen


def _test_scores(scores, chosen, model, method, metric):
    part = scores[(scores["model"] == model) & (scores["split"] == "test") & (scores["method"] == method)
                  & (scores["config"] == chosen[(model, method)]) & (scores["metric"] == metric) & (scores["status"] == "ok")]
    return part.set_index("sample")["score"]


@pytest.mark.parametrize("model, method, metric", [("benchmark_vgg", "splitcam", "PointingGame"),
                                                   ("benchmark_resnet", "layercam", "AUC@5")])
def test_a_table_cell_is_the_mean_of_its_published_per_image_scores(evidence, model, method, metric):
    scores, chosen = evidence
    table = pd.read_csv(FIGURES / "evaluation_table.csv")
    cell = table[(table["model"] == model) & (table["method"] == method) & (table["metric"] == metric)].iloc[0]
    per_image = _test_scores(scores, chosen, model, method, metric)
    assert len(per_image) == cell["n"] > 0
    assert per_image.mean() == pytest.approx(cell["mean"], rel=1e-5, abs=1e-9)
    assert cell["config"] == chosen[(model, method)]


def test_a_confirmatory_comparison_is_the_paired_difference_of_its_published_scores(evidence):
    scores, chosen = evidence
    comparisons = pd.read_csv(FIGURES / "evaluation_comparisons.csv")
    row = comparisons[(comparisons["family"] == "confirmatory") & (comparisons["split"] == "test") & (comparisons["model"] == "benchmark_vgg")
                      & (comparisons["method"] == "splitcam") & (comparisons["baseline"] == "layercam")
                      & (comparisons["metric"] == "AUC@20")].iloc[0]
    method = _test_scores(scores, chosen, "benchmark_vgg", "splitcam", "AUC@20")
    baseline = _test_scores(scores, chosen, "benchmark_vgg", "layercam", "AUC@20")
    paired = (method - baseline).dropna()  # matched by sample id
    assert len(paired) == row["n"]
    assert paired.mean() == pytest.approx(row["effect"], rel=1e-5, abs=1e-9)
    assert row["ci_low"] <= row["effect"] <= row["ci_high"]
    assert np.isfinite(row["mde"]) and row["mde"] > 0
