"""Figures of the Quantus evaluation (paper section E): score distributions and a rank heatmap.

* :func:`plot_metric_distributions` - one panel per metric, the per-image test scores of every
  method (violin, box or strip plot, seaborn), titled with the metric's direction arrow; a 0/1
  metric (PointingGame) is drawn as its mean with the 95 % bootstrap interval (dots);
* :func:`plot_rank_heatmap` - methods x metrics, the rank of each method's mean score per metric
  (1 = best), plus the mean rank; one heatmap per model;
* :func:`plot_class_sensitivity` - per method, the rank correlation of the maps for two classes (signed and
  on |map|) beside the same-class baseline, and RandomLogit, with intervals;
* :func:`plot_alpha_ablation` - the α ablation of SplitCAM and SplitGrad (paper B.3): per model and headline
  metric, the mean with its 95 % interval against α, the main profile's α candidates and selected α marked;
* :func:`write_evaluation_figures` - distributions and ranks, as PNG files in a folder.

Input is the tidy ``scores.csv`` of :func:`hidden_monotonicity.evaluation.evaluate`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..evaluation.metrics import ARROWS
from ..evaluation.tables import rank_table, summarize
from ..outputs import FIGURE_DPI

__all__ = ["directions_from_metadata", "plot_alpha_ablation", "plot_class_sensitivity", "plot_metric_distributions",
           "plot_rank_heatmap", "write_evaluation_figures"]

_KINDS = ("violin", "box", "strip")


def directions_from_metadata(metadata: Mapping[str, Any]) -> dict[str, str]:
    """``{output name: "higher"|"lower"}`` from ``metadata.json``'s ``metrics`` section."""
    return {o["name"]: o["direction"] for m in metadata["metrics"].values() for o in m["outputs"]}


def _test_scores(scores: pd.DataFrame, directions: Mapping[str, str], model: str | None,
                 selection: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``ok`` test scores of the chosen configurations (``selection.csv``'s ``chosen`` rows).

    Without ``selection`` every test configuration is kept, which is only unambiguous when the run evaluated
    one configuration per method on the test split (no table at registered defaults).
    """
    part = scores[(scores["status"] == "ok") & (scores["split"] == "test") & scores["metric"].isin(list(directions))]
    if model is not None:
        part = part[part["model"] == model]
    if selection is not None and not selection.empty:
        chosen = selection[selection["chosen"].astype(bool)][["model", "method", "config"]].astype(str)
        part = part.merge(chosen, on=["model", "method", "config"], how="inner")
    elif part.groupby(["model", "method"])["config"].nunique().gt(1).any():
        raise ValueError("the test split holds several configurations per method (the chosen one and the registered "
                         "defaults): pass selection=result.selection to plot the chosen ones")
    return part


def plot_metric_distributions(
    scores: pd.DataFrame,
    directions: Mapping[str, str],
    *,
    model: str | None = None,
    kind: str = "violin",
    metrics: Sequence[str] | None = None,
    columns: int = 3,
    selection: pd.DataFrame | None = None,
) -> plt.Figure:
    """Per-metric distribution of the per-image test scores, one panel per metric, methods on the x-axis."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    part = _test_scores(scores, directions, model, selection)
    if part.empty:
        raise ValueError("no test scores with status 'ok' to plot")
    metric_list = [m for m in (metrics or directions) if m in set(part["metric"])]
    methods = list(dict.fromkeys(part["method"]))
    rows = math.ceil(len(metric_list) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False, layout="constrained")
    palette = dict(zip(methods, sns.color_palette("tab20", len(methods))))
    for ax, metric in zip(axes.flat, metric_list):
        data = part[part["metric"] == metric]
        if _is_binary(data["score"]):
            _plot_binary(ax, data, metric, directions[metric], methods, palette)
            ax.set_title(f"{metric} {ARROWS[directions[metric]]}")
            ax.tick_params(axis="x", labelrotation=60, labelsize=7)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
            continue
        common = dict(data=data, x="method", y="score", hue="method", order=methods, hue_order=methods,
                      palette=palette, ax=ax, legend=False)
        if kind == "violin":
            sns.violinplot(cut=0, inner="quartile", density_norm="width", **common)
        elif kind == "box":
            sns.boxplot(**common)
        else:
            sns.stripplot(jitter=0.25, size=3, **common)
        ax.set_title(f"{metric} {ARROWS[directions[metric]]}")
        ax.set_xlabel("")
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    for ax in list(axes.flat)[len(metric_list):]:
        ax.set_visible(False)
    figure.suptitle(f"Per-image test scores{f' - {model}' if model else ''}")
    return figure


def rank_matrix(scores: pd.DataFrame, directions: Mapping[str, str], model: str | None = None,
                selection: pd.DataFrame | None = None) -> pd.DataFrame:
    """Methods x metrics matrix of ranks of the mean test score (1 = best), with a mean-rank column.

    The ranks are those of the tables (:func:`hidden_monotonicity.evaluation.tables.rank_table`).
    """
    part = _test_scores(scores, directions, model, selection)
    means = part.pivot_table(index="method", columns="metric", values="score", aggfunc="mean", sort=False)
    metric_list = [m for m in directions if m in means.columns]
    if means.empty or not metric_list:
        return pd.DataFrame()
    return rank_table(means[metric_list], directions)


def _is_binary(values: pd.Series) -> bool:
    return bool(len(values)) and bool(values.isin([0.0, 1.0]).all())


def _plot_binary(ax: plt.Axes, data: pd.DataFrame, metric: str, direction: str, methods: Sequence[str],
                 palette: Mapping[str, Any]) -> None:
    """A 0/1 metric: the mean (hit rate) per method with its 95 % bootstrap interval, as dots."""
    summary = summarize(data, {metric: direction}).set_index("method").reindex(methods)
    for position, method in enumerate(methods):
        row = summary.loc[method]
        if pd.isna(row["mean"]):
            continue
        low = row["mean"] - (row["ci_low"] if pd.notna(row["ci_low"]) else row["mean"])
        high = (row["ci_high"] if pd.notna(row["ci_high"]) else row["mean"]) - row["mean"]
        ax.errorbar([position], [row["mean"]], yerr=[[low], [high]], fmt="o", color=palette[method], capsize=3)
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("mean (95 % CI)")


def plot_rank_heatmap(scores: pd.DataFrame, directions: Mapping[str, str], *, model: str | None = None,
                      selection: pd.DataFrame | None = None) -> plt.Figure:
    """Heatmap of :func:`rank_matrix` (darker = better)."""
    ranks = rank_matrix(scores, directions, model, selection)
    if ranks.empty:
        raise ValueError("no test scores with status 'ok' to rank")
    labels = [f"{c} {ARROWS[directions[c]]}" if c in directions else f"{c} {ARROWS['lower']}" for c in ranks.columns]
    figure, ax = plt.subplots(figsize=(2.5 + 0.75 * len(labels), 2.2 + 0.38 * len(ranks)), layout="constrained")
    sns.heatmap(ranks, annot=True, fmt=".1f", cmap="viridis_r", cbar_kws={"label": "rank (1 = best)"},
                xticklabels=labels, ax=ax)
    ax.set_ylabel("")
    ax.set_xlabel("")
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.set_title(f"Rank of the mean test score per metric{f' - {model}' if model else ''}")
    return figure


def plot_class_sensitivity(summary: pd.DataFrame, table: pd.DataFrame | None = None, *,
                           model: str | None = None, correlation: str = "spearman") -> plt.Figure:
    """Class sensitivity per method
    (:func:`~hidden_monotonicity.evaluation.class_sensitivity.summarize_class_sensitivity`): one panel for the
    signed maps and one for ``|map|``, each with the correlation of the maps for the label and for another class
    (filled dots) beside the same-class baseline, the maps for the label with and without a small input noise
    (open diamonds); dots = means, bars = 95 % bootstrap intervals. A method is class-insensitive where its
    ``|map|`` dot is high and close to its diamond; -1 in the signed panel is a sign flip, not class sensitivity.
    When the evaluation ``table`` is given, Quantus RandomLogit (SSIM to a random other class's map) is a
    third panel.
    """
    if correlation not in ("spearman", "pearson"):
        raise ValueError(f"correlation must be 'spearman' or 'pearson', got {correlation!r}")
    needed = [f"{q}_{correlation}{end}" for q in ("other_signed", "other_abs", "same_signed", "same_abs")
              for end in ("", "_ci_low", "_ci_high")]
    missing = [column for column in needed if column not in summary.columns]
    if missing:
        raise ValueError(f"the summary lacks the columns {missing}; pass the output of summarize_class_sensitivity()")
    methods = list(summary["method"])
    noise = summary["noise_sd"].iloc[0] if "noise_sd" in summary.columns and len(summary) else float("nan")
    name = correlation.capitalize()
    panels: list[tuple[str, str]] = [
        ("signed", f"{name} correlation, signed maps\n(does the sign pattern change?)"),
        ("abs", f"{name} correlation, |map|\n(does it point elsewhere?)"),
    ]
    random_logit = None
    if table is not None:
        part = table[(table["metric"] == "RandomLogit")]
        if model is not None:
            part = part[part["model"] == model]
        if not part.empty:
            random_logit = part.set_index("method").reindex(methods)
            panels.append(("RandomLogit", "RandomLogit (SSIM to a random\nother class's map) \u2193"))
    figure, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 1.4 + 0.3 * len(methods)),
                                squeeze=False, sharey=True, layout="constrained")
    positions = np.arange(len(methods), dtype=float)

    def draw(ax: plt.Axes, mean: Any, low: Any, high: Any, offset: float, **style: Any) -> Any:
        mean, low, high = (pd.Series(v).to_numpy(dtype=float) for v in (mean, low, high))
        low, high = np.where(np.isnan(low), mean, low), np.where(np.isnan(high), mean, high)
        return ax.errorbar(mean, positions + offset, xerr=[mean - low, high - mean], capsize=2, ls="none", **style)

    handles = []
    for ax, (key, title) in zip(axes[0], panels):
        if key == "RandomLogit":
            draw(ax, random_logit["mean"], random_logit["ci_low"], random_logit["ci_high"], 0.0, fmt="o", color="C0")
        else:
            columns = {who: f"{who}_{key}_{correlation}" for who in ("other", "same")}
            handles = [
                draw(ax, *(summary[columns["other"] + end] for end in ("", "_ci_low", "_ci_high")), -0.12,
                     fmt="o", color="C0", label="label vs another class"),
                draw(ax, *(summary[columns["same"] + end] for end in ("", "_ci_low", "_ci_high")), 0.12,
                     fmt="D", color="C1", mfc="none", ms=4,
                     label=f"same-class baseline (label vs label, noise SD {noise:g} x image SD)"),
            ]
        ax.axvline(1.0, color="0.6", lw=0.8, ls="--")
        ax.axvline(0.0, color="0.8", lw=0.8)
        ax.set_title(title, fontsize=9)
    axes[0, 0].set_yticks(positions, methods)
    axes[0, 0].invert_yaxis()
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    figure.suptitle(f"Class sensitivity{f' - {model}' if model else ''}", fontsize=10)
    return figure


def plot_alpha_ablation(table: pd.DataFrame) -> plt.Figure:
    """The α ablation (:func:`hidden_monotonicity.evaluation.ablation.ablation_summary`): one row of panels per model,
    one panel per headline metric, one line per method - the mean over the test images against α with its 95 %
    interval (band). Open rings: the α candidates of the main evaluation's selection; a star: the α it selected."""
    needed = {"model", "method", "alpha", "metric", "direction", "mean", "ci_low", "ci_high", "in_grid", "selected"}
    if not needed <= set(table.columns):
        raise ValueError(f"the table lacks the columns {sorted(needed - set(table.columns))}; pass the output of "
                         "ablation_summary() (AlphaAblation.table)")
    models, metrics = list(dict.fromkeys(table["model"])), list(dict.fromkeys(table["metric"]))
    figure, axes = plt.subplots(len(models), len(metrics), figsize=(2.7 * len(metrics), 2.4 * len(models) + 0.6),
                                squeeze=False, sharex=True, layout="constrained")
    handles: dict[str, Any] = {}
    for i, model in enumerate(models):
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            for k, (method, part) in enumerate(table[(table["model"] == model) & (table["metric"] == metric)]
                                               .groupby("method", sort=False)):
                part = part.sort_values("alpha")
                color = f"C{k}"
                line, = ax.plot(part["alpha"], part["mean"], "o-", color=color, ms=3, lw=1.2, label=method)
                ax.fill_between(part["alpha"], part["ci_low"], part["ci_high"], color=color, alpha=0.15, lw=0)
                grid = part[part["in_grid"].astype(bool)]
                ax.plot(grid["alpha"], grid["mean"], "o", ms=9, mfc="none", mec=color, mew=1.0)
                chosen = part[part["selected"].astype(bool)]
                ax.plot(chosen["alpha"], chosen["mean"], "*", ms=12, color=color, mec="k", mew=0.5)
                handles[method] = line
            direction = table[table["metric"] == metric]["direction"].iloc[0]
            ax.set_title(f"{metric} {ARROWS.get(direction, '')}" if i == 0 else "", fontsize=9)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel(model, fontsize=9)
            if i == len(models) - 1:
                ax.set_xlabel("α", fontsize=9)
    marks = [plt.Line2D([], [], ls="none", marker="o", ms=9, mfc="none", mec="0.3",
                        label="α candidates of the selection"),
             plt.Line2D([], [], ls="none", marker="*", ms=12, color="0.5", mec="k", mew=0.5, label="selected α")]
    figure.legend(handles=[*handles.values(), *marks], loc="outside lower center", ncols=len(handles) + 2, fontsize=8,
                  frameon=False)
    figure.suptitle("α ablation (B.3): mean over test images with 95 % interval, other parameters as selected",
                    fontsize=10)
    return figure


def write_evaluation_figures(
    scores: pd.DataFrame,
    out_dir: str | Path,
    *,
    metadata: Mapping[str, Any] | None = None,
    directions: Mapping[str, str] | None = None,
    kind: str = "violin",
    dpi: int = FIGURE_DPI,
    selection: pd.DataFrame | None = None,
) -> list[Path]:
    """Write ``distributions-<model>.png`` and ``ranks-<model>.png`` for every model; return the paths."""
    if directions is None:
        if metadata is None:
            raise ValueError("give the metric directions, or the metadata of the run to read them from")
        directions = directions_from_metadata(metadata)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for model in dict.fromkeys(scores["model"]):
        if _test_scores(scores, directions, model, selection).empty:
            continue
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(model))
        for name, figure in (
            (f"distributions-{safe}.png", plot_metric_distributions(scores, directions, model=model, kind=kind,
                                                                    selection=selection)),
            (f"ranks-{safe}.png", plot_rank_heatmap(scores, directions, model=model, selection=selection)),
        ):
            path = out / name
            figure.savefig(path, dpi=dpi)
            plt.close(figure)
            paths.append(path)
    return paths
