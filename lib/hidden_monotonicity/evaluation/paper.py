"""The paper's published evaluation numbers (paper section E, table E.1) and a side-by-side with ours."""

from __future__ import annotations

__all__ = ["PAPER_ROW_LABELS", "PAPER_VGG16_RESULTS", "compare_with_paper", "paper_table"]

#: The paper's published VGG16 results on the ImageNet-S-50 test images (paper-digest E.1; mean scores).
#: Keys are this library's method names; a metric the paper does not report is absent.
PAPER_VGG16_RESULTS: dict[str, dict[str, float]] = {
    "splitcam": {"PointingGame": 0.938, "Selectivity": 4.711, "MaxSensitivity": 0.456},
    "splitlrp": {"PointingGame": 0.871, "Selectivity": 5.168, "MaxSensitivity": 0.282},
    "guided_backprop": {"PointingGame": 0.887, "Selectivity": 3.276, "MaxSensitivity": 0.571},
    "layercam": {"PointingGame": 0.855, "Selectivity": 3.128, "MaxSensitivity": 5.508},
    "lrp_gamma": {"PointingGame": 0.680, "Selectivity": 3.189, "MaxSensitivity": 0.519},
    "gradcam_pp": {"PointingGame": 0.827, "Selectivity": 5.955, "MaxSensitivity": 0.401},
    "integrated_gradients": {"PointingGame": 0.797, "Selectivity": 4.838, "MaxSensitivity": 1.069},
}
#: Row labels of the paper's table (digest E.1).
PAPER_ROW_LABELS: dict[str, str] = {
    "splitcam": "SplitCAM (sc, α=0.4, wta)",
    "splitlrp": "SplitLRP (sc, wta)",
    "guided_backprop": "Guided Backprop",
    "layercam": "LayerCAM",
    "lrp_gamma": "LRP γ=0.25",
    "gradcam_pp": "GradCAM++",
    "integrated_gradients": "Integrated Gradients",
}


def paper_table():
    """The paper's VGG16 table (digest E.1) as a DataFrame: one row per method, one column per metric."""
    import pandas as pd

    frame = pd.DataFrame.from_dict(PAPER_VGG16_RESULTS, orient="index")
    frame.insert(0, "paper row", [PAPER_ROW_LABELS[name] for name in frame.index])
    frame.index.name = "method"
    return frame.reset_index()


def compare_with_paper(table, model: str = "vgg16"):
    """Our mean scores next to the paper's (digest E.1) for the methods and metrics both report.

    ``table`` is the ``table.csv`` of an evaluation (columns ``model, method, metric, mean, ...``). Returns
    columns ``method, paper row, metric, paper, ours, difference``; methods or metrics we did not evaluate for
    ``model`` are left out. An empty result means there is nothing to compare (e.g. the digits benchmark).
    """
    import pandas as pd

    needed = {"model", "method", "metric", "mean"}
    if not needed <= set(table.columns):
        raise ValueError(f"table must have the columns {sorted(needed)} (an evaluation's table.csv), got {list(table.columns)}")
    ours = table[table["model"] == model]
    rows = []
    for method, scores in PAPER_VGG16_RESULTS.items():
        for metric, paper_value in scores.items():
            match = ours[(ours["method"] == method) & (ours["metric"] == metric)]
            if match.empty:
                continue
            value = float(match["mean"].iloc[0])
            rows.append((method, PAPER_ROW_LABELS[method], metric, paper_value, value, value - paper_value))
    return pd.DataFrame(rows, columns=["method", "paper row", "metric", "paper", "ours", "difference"])
