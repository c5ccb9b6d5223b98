"""Paper-format result tables with uncertainty, and the paired comparisons (paper section E, issue 13).

Per model, two tables: the **headline** - the paper's six columns (AUC@5, AUC@20, Selectivity,
AttributionLocalisation, PointingGame, MaxSensitivity) and their mean rank - and **other
categories** (complexity, randomisation, axiomatic) with their own mean rank. Rows are methods,
columns are metrics with their direction arrow (``↑`` higher is better, ``↓`` lower is better);
a cell is the mean over the test images with its 95 % bootstrap confidence interval
(:mod:`.statistics`), the best mean of each column is bold (every cell that displays the same best
value). The mean rank averages the per-metric ranks of the means (ties share the average rank) and
carries a bootstrap interval too (images resampled, every method re-ranked on the same resample).

A column whose mean is the same for every method cannot order them: it is shown but left out of
the mean rank, with a note. ``Completeness`` (pass rate at the stated tolerance) is not tabulated -
it is 0 for nearly every method - ``CompletenessError`` (the relative error) is.

:func:`compare_methods` (:mod:`.comparisons`) tests every split method against every baseline on every metric,
paired per image (sign-flip permutation test of the mean difference); the paper's claims form a confirmatory family
(Holm), the rest an exploratory one (Benjamini-Hochberg); ``direction`` says which side a significant effect favours.

Ranks are computed here only (:func:`rank_columns`); the selection protocol and the figures use
these functions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from . import statistics
from .comparisons import COMPARISON_COLUMNS, compare_methods, comparisons_markdown  # noqa: F401 (tables' API)
from .metrics import ARROWS, HIGHER, LOWER
from .profiles import PAPER_SELECTION_METRICS

MEAN_RANK = "Mean rank"
HEADLINE = "headline"
OTHER = "other"
TABLE_TITLES = {HEADLINE: "Headline: the paper's columns", OTHER: "Other categories"}
#: Outputs kept in scores.csv but not tabulated, with the reason (written under the tables).
NOT_TABULATED: dict[str, str] = {
    "Completeness": "Completeness (pass rate of |sum(a) - (f(x) - f(0))| <= 1 % of |f(x) - f(0)|) is in scores.csv; "
    "the table shows CompletenessError, the relative error itself",
}
SUMMARY_COLUMNS = ["model", "method", "config", "metric", "category", "direction", "mean", "std", "ci_low", "ci_high", "n"]
TABLE_COLUMNS = ["model", "table", "method", "config", "metric", "category", "direction", "arrow", "mean", "std",
                 "ci_low", "ci_high", "n", "rank", "display", "is_best"]


# --------------------------------------------------------------------------------------------
# ranks (the one place they are computed)
# --------------------------------------------------------------------------------------------


def _check_direction(direction: str) -> None:
    if direction not in (HIGHER, LOWER):
        raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {direction!r}")


def rank_columns(means: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Rank the rows of ``means`` (..., methods, metrics) per metric column: 1 = best.

    Ties share the average rank; a missing (NaN) mean ranks last. ``directions[k]`` is the direction
    of column ``k``.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.shape[-1] != len(directions):
        raise ValueError(f"{means.shape[-1]} metric columns but {len(directions)} directions")
    for direction in directions:
        _check_direction(direction)
    sign = np.array([-1.0 if d == HIGHER else 1.0 for d in directions])
    keyed = np.where(np.isnan(means), np.inf, means * sign)
    return scipy.stats.rankdata(keyed, method="average", axis=-2)


def rank_by_direction(values: pd.Series, direction: str) -> pd.Series:
    """Rank values so that 1 is best; ties share the average rank; NaN ranks last."""
    ranks = rank_columns(values.to_numpy(dtype=float)[:, None], [direction])[:, 0]
    return pd.Series(ranks, index=values.index)


def rank_table(means: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    """Ranks of ``means`` (rows = methods or candidates, columns = metrics) plus a ``Mean rank`` column."""
    if means.shape[1] == 0:
        raise ValueError("ranking needs at least one metric column")
    ranks = rank_columns(means.to_numpy(dtype=float), [directions[c] for c in means.columns])
    table = pd.DataFrame(ranks, index=means.index, columns=means.columns)
    table[MEAN_RANK] = table.mean(axis=1)
    return table


def mean_ranks(means: pd.DataFrame, directions: Mapping[str, str]) -> pd.Series:
    """Average over columns of the per-column ranks of ``means`` (rows = candidates, columns = metrics)."""
    return rank_table(means, directions)[MEAN_RANK]


# --------------------------------------------------------------------------------------------
# summaries and per-image cubes
# --------------------------------------------------------------------------------------------


def _ok_scores(scores: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    ok = scores[(scores["status"] == "ok") & scores["metric"].isin(list(directions))]
    return ok[np.isfinite(ok["score"].to_numpy(dtype=float))]


def summarize(scores: pd.DataFrame, directions: Mapping[str, str], *, seed: int = 0) -> pd.DataFrame:
    """Mean, std (ddof=0), 95 % bootstrap interval and count of the ``ok`` scores per model, method, config, metric.

    The interval of each cell is seeded by ``seed`` and the cell's identity (model, method, config, metric).
    """
    ok = _ok_scores(scores, directions)
    if ok.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    rows = []
    for (model, method, config, metric, category), part in ok.groupby(
            ["model", "method", "config", "metric", "category"], sort=False):
        values = part.sort_values("sample", kind="mergesort")["score"].to_numpy(dtype=float)
        low, high = statistics.mean_interval(values, seed=statistics.stable_seed(seed, model, method, config, metric))
        rows.append({"model": model, "method": method, "config": config, "metric": metric, "category": category,
                     "direction": directions[metric], "mean": float(values.mean()), "std": float(np.std(values)),
                     "ci_low": low, "ci_high": high, "n": len(values)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def score_cube(scores: pd.DataFrame, model: str, methods: Sequence[str], metrics: Sequence[str]) -> np.ndarray:
    """Per-image ``ok`` scores of one model as an array (methods, metrics, images); NaN where missing."""
    part = scores[(scores["model"] == model) & (scores["status"] == "ok") & scores["metric"].isin(list(metrics))
                  & scores["method"].isin(list(methods))]
    samples = sorted(set(part["sample"].astype(int)))
    cube = np.full((len(methods), len(metrics), len(samples)), np.nan)
    if not samples:
        return cube
    where = {s: i for i, s in enumerate(samples)}
    method_index = {m: i for i, m in enumerate(methods)}
    metric_index = {m: i for i, m in enumerate(metrics)}
    cube[part["method"].map(method_index).to_numpy(), part["metric"].map(metric_index).to_numpy(),
         part["sample"].astype(int).map(where).to_numpy()] = part["score"].to_numpy(dtype=float)
    return cube


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


def column_precision(values: pd.Series | np.ndarray, precision: int = 3) -> int:
    """Decimals for one metric column: ``precision``, or more when the column's largest ``|mean|`` is below
    ``10 ** (1 - precision)`` (0.01 at 3 decimals) - then enough for two significant digits of it, so that a column
    of small values (e.g. AUC@5 of probabilities over 1000 classes) is neither shown as 0.000 nor taken as constant.
    At most 12 decimals."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    largest = float(finite.max()) if finite.size else 0.0
    if largest == 0.0 or largest >= 10.0 ** (1 - precision):
        return precision
    return int(min(12, max(precision, 1 - math.floor(math.log10(largest)))))


def constant_metrics(means: pd.DataFrame, precision: int = 3) -> list[str]:
    """Columns whose displayed mean (at :func:`column_precision`) is the same for every method (they cannot order
    the methods)."""
    if len(means) < 2:
        return []
    return [c for c in means.columns if means[c].round(column_precision(means[c], precision)).nunique(dropna=False) == 1]


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
) -> pd.DataFrame:
    """Tidy table of one model: one row per (method, metric) plus the mean-rank column.

    Columns: :data:`TABLE_COLUMNS`. ``display`` is ``mean [ci_low, ci_high]`` at ``precision``
    decimals (more for a column of small values, :func:`column_precision`). The mean rank's interval needs the per-image ``scores`` (test split, chosen
    configurations); without them it is NaN. Columns constant across methods are not ranked.
    """
    part = summary[summary["model"] == model]
    metrics = [m for m in metric_order if m in set(part["metric"])]
    methods = [m for m in method_order if m in set(part["method"])]
    rows: list[dict] = []
    means = part.pivot_table(index="method", columns="metric", values="mean", aggfunc="first", sort=False)
    means = means.reindex(index=methods, columns=metrics)
    cells = {(r["method"], r["metric"]): r for _, r in part.iterrows()}
    ranked = [m for m in metrics if m not in constant_metrics(means, precision)]
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
                "std": float(record["std"]), "ci_low": low, "ci_high": high, "n": int(record["n"]),
                "rank": float(ranks.loc[method, metric]) if metric in ranked else float("nan"),
                "display": format_interval(mean, low, high, decimals),
                "is_best": bool(metric in ranked and not math.isnan(mean) and round(mean, decimals) == best_value),
            })
    if ranked and methods:
        overall = ranks[MEAN_RANK]
        low = high = np.full(len(methods), np.nan)
        if scores is not None:
            cube = score_cube(scores, model, methods, ranked)
            low, high = statistics.bootstrap_ranks(
                cube, lambda m: rank_columns(m, [directions[c] for c in ranked]),
                seed=statistics.stable_seed(seed, model, table, "mean rank"))
        best_rank = overall.round(2).min()
        for i, method in enumerate(methods):
            value = float(overall[method])
            rows.append({
                "model": model, "table": table, "method": method, "config": part[part["method"] == method]["config"].iloc[0],
                "metric": MEAN_RANK, "category": "Summary", "direction": LOWER, "arrow": ARROWS[LOWER], "mean": value,
                "std": float("nan"), "ci_low": float(low[i]), "ci_high": float(high[i]), "n": len(ranked),
                "rank": float("nan"), "display": format_interval(value, float(low[i]), float(high[i]), 2),
                "is_best": bool(round(value, 2) == best_rank),
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
) -> pd.DataFrame:
    """The headline table and the other-categories table of one model from per-image test ``scores``."""
    tabulated = [m for m in metric_order if m not in NOT_TABULATED]
    summary = summarize(scores[scores["model"] == model], {m: directions[m] for m in tabulated}, seed=seed)
    headline = [m for m in tabulated if m in headline_metrics]
    other = [m for m in tabulated if m not in headline_metrics]
    parts = [build_table(summary, model, columns, method_order, directions, precision, scores=scores, table=name,
                         seed=seed)
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
    unranked = sorted({r["metric"] for _, r in part.iterrows() if r["metric"] != MEAN_RANK and math.isnan(r["rank"])})
    if unranked:
        lines += ["", f"Not in the mean rank (the same mean for every method): {', '.join(unranked)}."]
    return lines


def to_markdown(
    tables: Sequence[pd.DataFrame],
    title: str = "",
    notes: Sequence[str] = (),
    *,
    comparisons: pd.DataFrame | None = None,
    candidate_counts: Mapping[tuple[str, str], int] | None = None,
    defaults: Sequence[pd.DataFrame] = (),
) -> str:
    """Markdown with one section per model: both tables, held comparisons, selected configurations."""
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
    lines += ["Cells: mean over test images [95 % bootstrap confidence interval of the mean]; mean rank: average "
              "per-metric rank of the means [95 % bootstrap interval, images resampled and re-ranked]."]
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
) -> dict[str, Path]:
    """Write ``table.csv/.md/.tex`` and ``comparisons.csv`` from per-image test ``scores``; return the paths.

    ``scores``: the test rows of the chosen configurations. ``split_methods``: the rows compared
    against every other row (default: labels starting with ``"split"``). ``default_scores``: test
    rows of every method at its registered defaults (``table_defaults.csv`` and a section of the
    markdown).
    """
    out = Path(out_dir)
    common = dict(headline_metrics=headline_metrics, precision=precision, seed=seed)
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
    defaults: list[pd.DataFrame] = []
    if default_scores is not None and not default_scores.empty:
        defaults = [build_tables(default_scores, m, metric_order, method_order, directions, **common) for m in models]
        defaults = [t for t in defaults if not t.empty]
    paths = {"csv": out / "table.csv", "md": out / "table.md", "tex": out / "table.tex",
             "comparisons": out / "comparisons.csv"}
    combined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TABLE_COLUMNS)
    combined.to_csv(paths["csv"], index=False)
    comparisons.to_csv(paths["comparisons"], index=False)
    if default_scores is not None:
        paths["defaults"] = out / "table_defaults.csv"
        (pd.concat(defaults, ignore_index=True) if defaults else pd.DataFrame(columns=TABLE_COLUMNS)).to_csv(
            paths["defaults"], index=False)
    paths["md"].write_text(to_markdown(tables, title=title, notes=notes, comparisons=comparisons,
                                       candidate_counts=candidate_counts(selection), defaults=defaults),
                           encoding="utf-8")
    paths["tex"].write_text(to_latex(tables, caption=title), encoding="utf-8")
    return paths
