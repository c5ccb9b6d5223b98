"""The paper's published evaluation numbers (paper section E, table E.1) and a side-by-side with ours."""

from __future__ import annotations

__all__ = ["PAPER_ROW_LABELS", "PAPER_SETTING_SOURCES", "PAPER_VGG16_RESULTS", "compare_with_paper", "paper_settings_table",
           "paper_table"]

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

#: Where each metric setting of the ``paper`` profile comes from (issue 26.5): the paper names its metrics but not
#: their parameters, so most are Quantus 0.6.0's defaults or its ImageNet tutorial's, and two are our reading.
#: ``(metric, parameter) -> source``; the values themselves are read from the profile (no number typed twice).
PAPER_SETTING_SOURCES: dict[tuple[str, str], str] = {
    ("PixelFlipping", "features_in_step"): "Quantus ImageNet tutorial's step (one image row of 224 px); not published",
    ("PixelFlipping", "auc_fractions"): "our reading of the paper's 'AUC@5 / AUC@20' (the first 5 % / 20 % of the "
                                        "flipped features); the paper does not define it",
    ("Selectivity", "patch_size"): "Quantus default; not published",
    ("MaxSensitivity", "nr_samples"): "Quantus default; not published",
    ("MaxSensitivity", "lower_bound"): "Quantus default (uniform noise of half-width 0.2); not published",
    ("RandomLogit", "num_classes"): "ImageNet's 1000 classes",
}
#: The direction the library scores Selectivity in, and what the paper's table suggests (issue 26.5).
SELECTIVITY_DIRECTION_NOTE = (
    "Selectivity is scored lower-is-better here (Quantus: the area under the class probability while the most "
    "relevant patches are removed). Read that way, the paper's VGG16 table ranks SplitCAM ({splitcam:.3f}) below "
    "LayerCAM ({layercam:.3f}) and Guided Backprop ({guided_backprop:.3f}), while the paper's text says SplitCAM leads "
    "in Selectivity: the paper probably reads Selectivity the other way (higher-is-better). Its numbers are shown as "
    "published; compare directions before comparing ranks."
)


def paper_settings_table(profile=None) -> str:
    """Markdown table of the ``paper`` profile's metric settings and where each comes from (:data:`PAPER_SETTING_SOURCES`)."""
    from .metrics import resolve_params
    from .profiles import get_profile

    profile = get_profile("paper") if profile is None else profile
    rows = ["| metric | setting | value | source |", "|---|---|---|---|"]
    for (metric, name), source in PAPER_SETTING_SOURCES.items():
        params = resolve_params(metric, profile.metric_params.get(metric))
        if name not in params:
            raise KeyError(f"the paper profile's {metric} has no setting {name!r}: update PAPER_SETTING_SOURCES")
        rows.append(f"| {metric} | `{name}` | `{params[name]}` | {source} |")
    return "\n".join(rows)


def selectivity_direction_note() -> str:
    """:data:`SELECTIVITY_DIRECTION_NOTE` with the paper's numbers filled in from :data:`PAPER_VGG16_RESULTS`."""
    return SELECTIVITY_DIRECTION_NOTE.format(**{m: PAPER_VGG16_RESULTS[m]["Selectivity"]
                                                for m in ("splitcam", "layercam", "guided_backprop")})


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
