"""evaluation.paper: the published VGG16 numbers (paper E.1) and the side-by-side with ours."""

from __future__ import annotations

import pandas as pd
import pytest

import hidden_monotonicity as hm
from hidden_monotonicity.evaluation import paper


def test_compare_with_paper_pairs_our_means_with_the_published_ones():
    table = pd.DataFrame({
        "model": ["vgg16", "vgg16", "vgg16", "resnet18"],
        "method": ["splitcam", "splitcam", "saliency", "splitcam"],
        "metric": ["PointingGame", "Sparseness", "PointingGame", "PointingGame"],
        "mean": [0.9, 0.5, 0.1, 0.2],
    })
    comparison = paper.compare_with_paper(table, model="vgg16")
    assert comparison[["method", "metric"]].values.tolist() == [["splitcam", "PointingGame"]]
    row = comparison.iloc[0]
    assert row["paper"] == 0.938 and row["ours"] == 0.9 and row["difference"] == pytest.approx(0.9 - 0.938)
    assert paper.compare_with_paper(table, model="benchmark_vgg").empty
    with pytest.raises(ValueError, match="columns"):
        paper.compare_with_paper(table.drop(columns="mean"))


def test_paper_table_matches_the_digest():
    table = paper.paper_table().set_index("method")
    assert table.loc["splitcam", "PointingGame"] == 0.938
    assert table.loc["layercam", "MaxSensitivity"] == 5.508
    assert table.loc["splitlrp", "MaxSensitivity"] == table["MaxSensitivity"].min()  # SplitLRP is the most robust
    assert set(table.index) <= set(hm.methods())
