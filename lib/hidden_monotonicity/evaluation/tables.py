"""Paper-format result tables with uncertainty, and the paired comparisons (paper section E, issue 13).

Per model, two tables: the **headline** - the paper's six columns (AUC@5, AUC@20, Selectivity,
AttributionLocalisation, PointingGame, MaxSensitivity) and their mean rank - and **other
categories** (complexity, randomisation, axiomatic) with their own mean rank. Rows are methods,
columns are metrics with their direction arrow (``↑`` higher is better, ``↓`` lower is better);
a cell is the mean over the test images with its 95 % confidence interval (:mod:`.statistics`; the
method by the metric's definition - Clopper-Pearson for 0/1 scores, BCa otherwise - named per cell in
``interval_method`` and per column under the markdown table), the best mean of each ranked column is
bold (every cell that displays the same best value). The mean rank averages the per-metric ranks of
the means (ties share the average rank) and carries a bootstrap interval too (images resampled, every
method re-ranked on the same resample); bold are the methods whose interval overlaps the best's
(:func:`.ranking.indistinguishable_from_best`), none when all do.

A column that some method lacks, or whose mean is the same for every method, cannot order them: it is
shown but left out of the mean rank, with a note (:func:`.ranking.ranked_metrics`). The table "at registered
defaults" keeps only the columns computed for every method. ``Completeness`` (pass rate at the stated
tolerance) is not tabulated - it is 0 for nearly every method - ``CompletenessError`` (the relative error) is.

:func:`compare_methods` (:mod:`.comparisons`) tests every split method against every baseline on every metric,
paired per image (sign-flip permutation test of the mean difference); the paper's claims form a confirmatory family
(Holm), the rest an exploratory one (Benjamini-Hochberg); ``direction`` says which side a significant effect favours.

Ranks are computed in :mod:`.ranking` only (re-exported here); the selection protocol and the figures use
those functions. ``metric_correlations.csv``: how far the ranked metrics agree (:func:`.ranking.metric_correlations`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from . import statistics
from .comparisons import COMPARISON_COLUMNS, compare_methods, comparisons_markdown, descriptive  # noqa: F401 (tables' API)
from .comparisons import replicate_confirmatory, split_verdicts_markdown
from .metrics import ARROWS, HIGHER, LOWER
from .profiles import PAPER_SELECTION_METRICS
from .store import FRESH_SPLIT
from .ranking import (  # noqa: F401  (the ranking helpers are part of this module's interface)
    MEAN_RANK,
    column_precision,
    columns_for_every_method,
    constant_metrics,
    incomplete_metrics,
    indistinguishable_from_best,
    mean_ranks,
    metric_correlations,
    model_metric_correlations,
    rank_by_direction,
    rank_columns,
    rank_table,
    ranked_metrics,
    score_cube,
)

HEADLINE = "headline"
OTHER = "other"
TABLE_TITLES = {HEADLINE: "Headline: the paper's columns", OTHER: "Other categories"}
#: Outputs kept in scores.csv but not tabulated, with the reason (written under the tables).
NOT_TABULATED: dict[str, str] = {
    "Completeness": "Completeness (pass rate of |sum(a) - (f(x) - f(0))| <= 1 % of |f(x) - f(0)|) is in scores.csv; "
    "the table shows CompletenessError, the relative error itself",
}
SUMMARY_COLUMNS = ["model", "method", "config", "metric", "category", "direction", "mean", "std", "ci_low", "ci_high",
                   "interval_method", "n"]
TABLE_COLUMNS = ["model", "table", "method", "config", "metric", "category", "direction", "arrow", "mean", "std",
                 "ci_low", "ci_high", "interval_method", "n", "rank", "display", "is_best"]
#: Interval method of the mean-rank column: percentiles of the mean ranks over image resamples (same images for all).
RANK_INTERVAL = "percentile (paired rank bootstrap)"


# --------------------------------------------------------------------------------------------
# summaries and per-image cubes
# --------------------------------------------------------------------------------------------


def _ok_scores(scores: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    ok = scores[(scores["status"] == "ok") & scores["metric"].isin(list(directions))]
    return ok[np.isfinite(ok["score"].to_numpy(dtype=float))]


def summarize(scores: pd.DataFrame, directions: Mapping[str, str], *, seed: int = 0,
              binary_metrics: Collection[str] | None = None) -> pd.DataFrame:
    """Mean, std (ddof=0), 95 % interval (and its method) and count of the ``ok`` scores per model, method, config,
    metric.

    The interval is :func:`.statistics.interval_of_mean`: Clopper-Pearson for the metrics whose per-image score is
    0/1 by definition (:func:`.statistics.binary_metrics`), BCa bootstrap otherwise, seeded by ``seed`` and the
    cell's identity (model, method, config, metric); ``interval_method`` names the method each cell got.
    """
    ok = _ok_scores(scores, directions)
    if ok.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    binary = statistics.binary_metrics({str(m): part["score"].to_numpy(dtype=float)
                                        for m, part in ok.groupby("metric", sort=False)}, binary_metrics)
    rows = []
    for (model, method, config, metric, category), part in ok.groupby(
            ["model", "method", "config", "metric", "category"], sort=False):
        values = part.sort_values("sample", kind="mergesort")["score"].to_numpy(dtype=float)
        interval = statistics.interval_of_mean(values, binary=metric in binary,
                                               seed=statistics.stable_seed(seed, model, method, config, metric))
        rows.append({"model": model, "method": method, "config": config, "metric": metric, "category": category,
                     "direction": directions[metric], "mean": float(values.mean()), "std": float(np.std(values)),
                     "ci_low": interval.low, "ci_high": interval.high, "interval_method": interval.method,
                     "n": len(values)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def format_number(value: float, precision: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{precision}f}"


def format_interval(mean: float, low: float, high: float, precision: int = 3) -> str:
    """``"0.123 [0.100, 0.150]"`` (the interval left out when it is undefined)."""
    text = format_number(mean, precision)
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return text
    return f"{text} [{format_number(low, precision)}, {format_number(high, precision)}]"


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def build_table(
    summary: pd.DataFrame,
    model: str,
    metric_order: Sequence[str],
    method_order: Sequence[str],
    directions: Mapping[str, str],
    precision: int = 3,
    *,
    scores: pd.DataFrame | None = None,
    table: str = HEADLINE,
    seed: int = 0,
    mark_best: bool = True,
) -> pd.DataFrame:
    """Tidy table of one model: one row per (method, metric) plus the mean-rank column (``mark_best=False``: no
    cell is marked best, for a profile whose images cannot support a winner).

    Columns: :data:`TABLE_COLUMNS`. ``display`` is ``mean [ci_low, ci_high]`` at ``precision``
    decimals (more for a column of small values, :func:`column_precision`). Only complete, non-constant columns
    are ranked (:func:`.ranking.ranked_metrics`): a column some method lacks, or with the same mean for every
    method, is shown with ``rank`` NaN and nothing bold. The mean rank's interval needs the per-image ``scores``
    (test split, chosen configurations); without them it is NaN and no mean rank is bold; with them the bold
    mean ranks are the methods not distinguishable from the best (:func:`.ranking.indistinguishable_from_best`).
    """
    part = summary[summary["model"] == model]
    metrics = [m for m in metric_order if m in set(part["metric"])]
    methods = [m for m in method_order if m in set(part["method"])]
    rows: list[dict] = []
    means = part.pivot_table(index="method", columns="metric", values="mean", aggfunc="first", sort=False)
    means = means.reindex(index=methods, columns=metrics)
    cells = {(r["method"], r["metric"]): r for _, r in part.iterrows()}
    ranked = ranked_metrics(means, precision)
    ranks = rank_table(means[ranked], directions) if ranked else pd.DataFrame(index=methods)
    for metric in metrics:
        direction = directions[metric]
        decimals = column_precision(means[metric], precision)
        displayed = means[metric].round(decimals)
        best_value = displayed.max() if direction == HIGHER else displayed.min()
        for method in methods:
            record = cells.get((method, metric))
            if record is None:
                continue
            mean = float(record["mean"])
            low, high = float(record.get("ci_low", np.nan)), float(record.get("ci_high", np.nan))
            rows.append({
                "model": model, "table": table, "method": method, "config": record["config"], "metric": metric,
                "category": record["category"], "direction": direction, "arrow": ARROWS[direction], "mean": mean,
                "std": float(record["std"]), "ci_low": low, "ci_high": high,
                "interval_method": record.get("interval_method", statistics.NO_INTERVAL), "n": int(record["n"]),
                "rank": float(ranks.loc[method, metric]) if metric in ranked else float("nan"),
                "display": format_interval(mean, low, high, decimals),
                "is_best": bool(mark_best and metric in ranked and not math.isnan(mean) and round(mean, decimals) == best_value),
            })
    if ranked and methods:
        overall = ranks[MEAN_RANK]
        low = high = np.full(len(methods), np.nan)
        if scores is not None:
            cube = score_cube(scores, model, methods, ranked)
            low, high = statistics.bootstrap_ranks(
                cube, lambda m: rank_columns(m, [directions[c] for c in ranked]),
                seed=statistics.stable_seed(seed, model, table, "mean rank"))
        bold = indistinguishable_from_best(overall.to_numpy(dtype=float), low, high)
        for i, method in enumerate(methods):
            value = float(overall[method])
            rows.append({
                "model": model, "table": table, "method": method, "config": part[part["method"] == method]["config"].iloc[0],
                "metric": MEAN_RANK, "category": "Summary", "direction": LOWER, "arrow": ARROWS[LOWER], "mean": value,
                "std": float("nan"), "ci_low": float(low[i]), "ci_high": float(high[i]),
                "interval_method": RANK_INTERVAL if np.isfinite(low[i]) else statistics.NO_INTERVAL, "n": len(ranked),
                "rank": float("nan"), "display": format_interval(value, float(low[i]), float(high[i]), 2),
                "is_best": bool(mark_best and bold[i]),
            })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def build_tables(
    scores: pd.DataFrame,
    model: str,
    metric_order: Sequence[str],
    method_order: Sequence[str],
    directions: Mapping[str, str],
    *,
    headline_metrics: Sequence[str] = PAPER_SELECTION_METRICS,
    precision: int = 3,
    seed: int = 0,
    binary_metrics: Collection[str] | None = None,
    mark_best: bool = True,
) -> pd.DataFrame:
    """The headline table and the other-categories table of one model from per-image test ``scores``
    (``binary_metrics``: see :func:`.statistics.binary_metrics`; ``mark_best``: see :func:`build_table`)."""
    tabulated = [m for m in metric_order if m not in NOT_TABULATED]
    summary = summarize(scores[scores["model"] == model], {m: directions[m] for m in tabulated}, seed=seed,
                        binary_metrics=binary_metrics)
    headline = [m for m in tabulated if m in headline_metrics]
    other = [m for m in tabulated if m not in headline_metrics]
    parts = [build_table(summary, model, columns, method_order, directions, precision, scores=scores, table=name,
                         seed=seed, mark_best=mark_best)
             for name, columns in ((HEADLINE, headline), (OTHER, other)) if columns]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TABLE_COLUMNS)


# --------------------------------------------------------------------------------------------
# output formats
# --------------------------------------------------------------------------------------------


def _cell_grid(table: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], pd.Series]]:
    metrics = list(dict.fromkeys(table["metric"]))
    methods = list(dict.fromkeys(table["method"]))
    cells = {(r["method"], r["metric"]): r for _, r in table.iterrows()}
    return methods, metrics, cells


def _header(metric: str, table: pd.DataFrame) -> str:
    arrow = table[table["metric"] == metric]["arrow"].iloc[0]
    return f"{metric} {arrow}"


def _sections(table: pd.DataFrame) -> list[pd.DataFrame]:
    """One frame per (table kind) of one model's table, headline first; mean rank moved to the front."""
    names = list(dict.fromkeys(table["table"])) if "table" in table else [HEADLINE]
    parts = []
    for name in names:
        part = table[table["table"] == name] if "table" in table else table
        order = [MEAN_RANK] + [m for m in dict.fromkeys(part["metric"]) if m != MEAN_RANK]
        part = part.assign(_order=part["metric"].map({m: i for i, m in enumerate(order)}))
        parts.append(part.sort_values("_order", kind="mergesort").drop(columns="_order"))
    return parts


def _markdown_grid(part: pd.DataFrame) -> list[str]:
    methods, metrics, cells = _cell_grid(part)
    lines = ["| Method | " + " | ".join(_header(m, part) for m in metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for method in methods:
        row = [method]
        for metric in metrics:
            cell = cells.get((method, metric))
            row.append("" if cell is None else (f"**{cell['display']}**" if cell["is_best"] else cell["display"]))
        lines.append("| " + " | ".join(row) + " |")
    unranked = [m for m in metrics if m != MEAN_RANK and part[part["metric"] == m]["rank"].isna().all()]
    missing = {m: [k for k in methods if (k, m) not in cells] for m in unranked}
    incomplete = [f"{m} ({', '.join(missing[m])})" for m in unranked if missing[m]]
    if incomplete:
        lines += ["", f"Not in the mean rank (no score for the methods in brackets): {'; '.join(incomplete)}."]
    constant = [m for m in unranked if not missing[m]]
    if constant:
        lines += ["", f"Not in the mean rank (the same mean for every method): {', '.join(constant)}."]
    return lines + _interval_note(part)


def _interval_note(part: pd.DataFrame) -> list[str]:
    """One line saying which interval method each column of ``part`` uses (cells per method when a column mixes)."""
    if "interval_method" not in part:
        return []
    cells = part[part["metric"] != MEAN_RANK]
    columns: dict[str, list[str]] = {}
    for metric, column in cells.groupby("metric", sort=False):
        counts = column["interval_method"].fillna(statistics.NO_INTERVAL).value_counts(sort=False)
        for method, count in counts.items():
            columns.setdefault(str(method), []).append(metric if count == len(column) else
                                                        f"{metric} ({count} of {len(column)} cells)")
    if not columns:
        return []
    parts = [f"{method} for {', '.join(names)}" for method, names in columns.items()]
    return ["", f"Intervals: {'; '.join(parts)}."]


def to_markdown(
    tables: Sequence[pd.DataFrame],
    title: str = "",
    notes: Sequence[str] = (),
    *,
    comparisons: pd.DataFrame | None = None,
    candidate_counts: Mapping[tuple[str, str], int] | None = None,
    defaults: Sequence[pd.DataFrame] = (),
    defaults_left_out: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Markdown with one section per model: both tables, held comparisons, selected configurations, and the table at
    registered defaults (``defaults``) with the columns left out of it (``defaults_left_out``, per model)."""
    lines: list[str] = [f"# {title}", ""] if title else []
    defaults_by_model = {t["model"].iloc[0]: t for t in defaults if not t.empty}
    for table in tables:
        if table.empty:
            continue
        model = table["model"].iloc[0]
        n_values = sorted({int(r["n"]) for _, r in table.iterrows() if r["metric"] != MEAN_RANK})
        n_text = str(n_values[0]) if len(n_values) == 1 else f"{n_values[0]}-{n_values[-1]}"
        lines += [f"## {model} (test split, n = {n_text} images per cell)", ""]
        for part in _sections(table):
            name = part["table"].iloc[0] if "table" in part else HEADLINE
            lines += [f"### {TABLE_TITLES.get(name, name)}", ""] + _markdown_grid(part) + [""]
        if comparisons is not None:
            lines += comparisons_markdown(comparisons[comparisons["model"] == model]) + [""]
        lines += ["Selected configurations (validation split):", ""]
        for method in dict.fromkeys(table["method"]):
            config = table[table["method"] == method]["config"].iloc[0]
            count = (candidate_counts or {}).get((model, method))
            suffix = f" (from {count} candidate{'s' if count != 1 else ''})" if count is not None else ""
            lines.append(f"- {method}: `{config}`{suffix}")
        lines.append("")
        if model in defaults_by_model:
            lines += [f"### {model}: at registered defaults, no selection", ""]
            for part in _sections(defaults_by_model[model]):
                lines += _markdown_grid(part) + [""]
        left_out = list((defaults_left_out or {}).get(model, ()))
        if left_out:
            if model not in defaults_by_model:
                lines += [f"### {model}: at registered defaults, no selection", ""]
            lines += [f"Left out at registered defaults (not computed for every method at its defaults; see the "
                      f"table above): {', '.join(left_out)}.", ""]
    used = {m for t in [*tables, *defaults] if "interval_method" in t for m in t["interval_method"].dropna()}
    lines += ["Cells: mean over test images [95 % confidence interval of the mean, by the method named under each "
              "table: " + "; ".join(f"{k}: {v}" for k, v in statistics.INTERVAL_METHODS.items() if k in used) + "]. "
              "Bold: the best mean of each ranked column.",
              "Mean rank: average per-metric rank of the means over the columns every method has whose means differ "
              "[95 % percentile interval of a paired bootstrap: the same images resampled for every method, then "
              "re-ranked]; bold: the methods whose interval overlaps the best's (not distinguishable from it), none "
              "when every method's does or without intervals.",
              "metric_correlations.csv: Spearman correlation of every two ranked metrics over the methods' means "
              "(per model; lower-is-better metrics negated, so +1 = the same order of the methods)."]
    lines += [f"{reason}." for reason in NOT_TABULATED.values()]
    lines += [f"{note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(tables: Sequence[pd.DataFrame], caption: str = "") -> str:
    """LaTeX (booktabs), one ``table`` environment per model and table kind; intervals as ``\\scriptsize``."""
    arrows = {"\u2191": r"$\uparrow$", "\u2193": r"$\downarrow$"}
    blocks: list[str] = []
    for table in tables:
        if table.empty:
            continue
        model = table["model"].iloc[0]
        for part in _sections(table):
            methods, metrics, cells = _cell_grid(part)
            header = " & ".join(
                [r"Method"] + [f"{latex_escape(m)} {arrows[part[part['metric'] == m]['arrow'].iloc[0]]}" for m in metrics]
            )
            body = []
            for method in methods:
                row = [latex_escape(method)]
                for metric in metrics:
                    cell = cells.get((method, metric))
                    if cell is None:
                        row.append("")
                        continue
                    mean_text, _, interval = cell["display"].partition(" ")
                    text = latex_escape(mean_text)
                    text = rf"\textbf{{{text}}}" if cell["is_best"] else text
                    if interval:
                        text += rf" {{\scriptsize {latex_escape(interval)}}}"
                    row.append(text)
                body.append(" & ".join(row) + r" \\")
            name = part["table"].iloc[0] if "table" in part else HEADLINE
            caption_text = latex_escape(f"{caption} {model} ({TABLE_TITLES.get(name, name)})".strip())
            blocks.append("\n".join([
                r"\begin{table}[t]", r"\centering", rf"\caption{{{caption_text}}}",
                r"\begin{tabular}{l" + "c" * len(metrics) + "}", r"\toprule", header + r" \\", r"\midrule", *body,
                r"\bottomrule", r"\end{tabular}", r"\end{table}",
            ]))
    return "\n\n".join(blocks) + "\n"


def candidate_counts(selection: pd.DataFrame | None) -> dict[tuple[str, str], int]:
    """``{(model, method): number of candidate configurations}`` from ``selection.csv``."""
    if selection is None or selection.empty:
        return {}
    return {(str(m), str(k)): int(len(part)) for (m, k), part in selection.groupby(["model", "method"], sort=False)}


def write_tables(
    scores: pd.DataFrame,
    out_dir: str | Path,
    *,
    models: Sequence[str],
    metric_order: Sequence[str],
    method_order: Sequence[str],
    directions: Mapping[str, str],
    split_methods: Sequence[str] | None = None,
    selection: pd.DataFrame | None = None,
    default_scores: pd.DataFrame | None = None,
    headline_metrics: Sequence[str] = PAPER_SELECTION_METRICS,
    title: str = "",
    notes: Sequence[str] = (),
    precision: int = 3,
    seed: int = 0,
    binary_metrics: Collection[str] | None = None,
    mark_best: bool = True,
    fresh_scores: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write ``table.csv/.md/.tex``, ``comparisons.csv`` and ``metric_correlations.csv`` from per-image test
    ``scores``; return the paths.

    ``scores``: the test rows of the chosen configurations. ``split_methods``: the rows compared
    against every other row (default: labels starting with ``"split"``). ``default_scores``: test
    rows of every method at its registered defaults (``table_defaults.csv`` and a section of the
    markdown; only the columns every method has, :func:`.ranking.columns_for_every_method`). ``binary_metrics``:
    the outputs whose per-image score is 0/1 by definition (:func:`.statistics.binary_metrics`). ``fresh_scores``:
    the rows of the fresh test split (:mod:`.fresh_split`); its confirmatory comparisons join ``comparisons.csv``
    (``split`` = ``"fresh"``, :func:`.comparisons.replicate_confirmatory`) and ``table.md`` ends with the
    confirmatory verdicts of both splits side by side; the tables stay on ``scores``.
    """
    out = Path(out_dir)
    common = dict(headline_metrics=headline_metrics, precision=precision, seed=seed, binary_metrics=binary_metrics,
                  mark_best=mark_best)
    tables = [build_tables(scores, m, metric_order, method_order, directions, **common) for m in models]
    tables = [t for t in tables if not t.empty]
    present = list(dict.fromkeys(scores["method"])) if not scores.empty else []
    ours = [m for m in method_order if m in present and
            (m in split_methods if split_methods is not None else str(m).startswith("split"))]
    baselines = [m for m in method_order if m in present and m not in ours]
    tabulated = [m for m in metric_order if m not in NOT_TABULATED]
    comparisons = pd.concat(
        [compare_methods(scores, m, ours, baselines, tabulated, directions, seed=seed,
                         confirmatory_metrics=headline_metrics) for m in models],
        ignore_index=True) if models else pd.DataFrame(columns=COMPARISON_COLUMNS)
    if not mark_best:  # a qualitative profile: effects described, nothing tested
        comparisons = descriptive(comparisons)
    test_comparisons = comparisons
    if fresh_scores is not None and not fresh_scores.empty:
        on_fresh = set(fresh_scores["method"])
        fresh = [replicate_confirmatory(fresh_scores, m, [x for x in ours if x in on_fresh],
                                        [b for b in baselines if b in on_fresh], tabulated, directions, comparisons,
                                        split=FRESH_SPLIT, seed=seed, confirmatory_metrics=headline_metrics)
                 for m in models]
        comparisons = pd.concat([c for c in [comparisons, *fresh] if not c.empty] or [comparisons], ignore_index=True)
    defaults: list[pd.DataFrame] = []
    left_out: dict[str, list[str]] = {}
    if default_scores is not None and not default_scores.empty:
        for m in models:
            kept, left_out[m] = columns_for_every_method(default_scores, m, tabulated)
            defaults.append(build_tables(default_scores, m, kept, method_order, directions, **common))
        defaults = [t for t in defaults if not t.empty]
    paths = {"csv": out / "table.csv", "md": out / "table.md", "tex": out / "table.tex",
             "comparisons": out / "comparisons.csv", "metric_correlations": out / "metric_correlations.csv"}
    correlations = [model_metric_correlations(t, directions) for t in tables]
    (pd.concat(correlations, ignore_index=True) if correlations else pd.DataFrame(columns=["model", "metric"])).to_csv(
        paths["metric_correlations"], index=False)
    combined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TABLE_COLUMNS)
    combined.to_csv(paths["csv"], index=False)
    comparisons.to_csv(paths["comparisons"], index=False)
    if default_scores is not None:
        paths["defaults"] = out / "table_defaults.csv"
        (pd.concat(defaults, ignore_index=True) if defaults else pd.DataFrame(columns=TABLE_COLUMNS)).to_csv(
            paths["defaults"], index=False)
    markdown = to_markdown(tables, title=title, notes=notes, comparisons=test_comparisons,
                           candidate_counts=candidate_counts(selection), defaults=defaults, defaults_left_out=left_out)
    both_splits = split_verdicts_markdown(comparisons)
    if both_splits:
        markdown += "\n" + "\n".join(both_splits).rstrip() + "\n"
    paths["md"].write_text(markdown, encoding="utf-8")
    paths["tex"].write_text(to_latex(tables, caption=title), encoding="utf-8")
    return paths
