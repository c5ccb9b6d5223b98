"""Paper-format result tables from per-sample scores (paper section E).

Rows are methods, columns are metrics with their direction arrow (``↑`` higher is better, ``↓``
lower is better, from Quantus's ``score_direction`` or our own definition), cells are
``mean ± std`` over the test images (population std, ``ddof=0``), the best cell of each column is
bold (all cells that display the same best value), and a final ``Mean rank ↓`` column averages the
per-metric ranks (ecosystem-notes section 6). One table per model. Written as Markdown, LaTeX
(booktabs) and a tidy CSV.

The ranking helpers are shared with the selection protocol (``runner``) and the rank heatmap
(``plots.evaluation``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import ARROWS, HIGHER, LOWER

MEAN_RANK = "Mean rank"
SUMMARY_COLUMNS = ["model", "method", "config", "metric", "category", "direction", "mean", "std", "n"]
TABLE_COLUMNS = ["model", "method", "config", "metric", "category", "direction", "arrow", "mean", "std", "n", "rank",
                 "display", "is_best"]


def rank_by_direction(values: pd.Series, direction: str) -> pd.Series:
    """Rank values so that 1 is best; ties share the average rank; NaN ranks last."""
    if direction not in (HIGHER, LOWER):
        raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {direction!r}")
    return values.rank(ascending=(direction == LOWER), method="average", na_option="bottom")


def mean_ranks(means: pd.DataFrame, directions: Mapping[str, str]) -> pd.Series:
    """Average over columns of the per-column ranks of ``means`` (rows = candidates, columns = metrics)."""
    if means.shape[1] == 0:
        raise ValueError("mean_ranks needs at least one metric column")
    ranks = pd.DataFrame({col: rank_by_direction(means[col], directions[col]) for col in means.columns})
    return ranks.mean(axis=1)


def summarize(scores: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    """Mean, std (ddof=0) and count of the ``status == "ok"`` scores per model, method, config, metric."""
    ok = scores[scores["status"] == "ok"]
    ok = ok[ok["metric"].isin(list(directions))]
    if ok.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    grouped = ok.groupby(["model", "method", "config", "metric", "category"], sort=False)["score"]
    summary = grouped.agg(mean="mean", std=lambda s: float(np.std(s.to_numpy(dtype=float))), n="count").reset_index()
    summary["direction"] = summary["metric"].map(directions)
    return summary[SUMMARY_COLUMNS]


def format_number(value: float, precision: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{precision}f}"


def build_table(
    summary: pd.DataFrame,
    model: str,
    metric_order: Sequence[str],
    method_order: Sequence[str],
    directions: Mapping[str, str],
    precision: int = 3,
) -> pd.DataFrame:
    """Tidy table of one model: one row per (method, metric) plus the mean-rank column.

    Columns: model, method, config, metric, category, direction, arrow, mean, std, n, rank,
    display, is_best. ``display`` is ``mean ± std`` at ``precision`` decimals.
    """
    part = summary[summary["model"] == model]
    metrics = [m for m in metric_order if m in set(part["metric"])]
    methods = [m for m in method_order if m in set(part["method"])]
    rows: list[dict] = []
    means = part.pivot_table(index="method", columns="metric", values="mean", aggfunc="first", sort=False)
    means = means.reindex(index=methods, columns=metrics)
    for metric in metrics:
        direction = directions[metric]
        ranks = rank_by_direction(means[metric], direction)
        displayed = means[metric].round(precision)
        best_value = displayed.max() if direction == HIGHER else displayed.min()
        for method in methods:
            cell = part[(part["method"] == method) & (part["metric"] == metric)]
            if cell.empty:
                continue
            record = cell.iloc[0]
            mean, std = float(record["mean"]), float(record["std"])
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "config": record["config"],
                    "metric": metric,
                    "category": record["category"],
                    "direction": direction,
                    "arrow": ARROWS[direction],
                    "mean": mean,
                    "std": std,
                    "n": int(record["n"]),
                    "rank": float(ranks[method]),
                    "display": f"{format_number(mean, precision)} \u00b1 {format_number(std, precision)}",
                    "is_best": bool(not math.isnan(mean) and round(mean, precision) == best_value),
                }
            )
    if metrics and methods:
        overall = mean_ranks(means, {m: directions[m] for m in metrics})
        best_rank = overall.round(2).min()
        for method in methods:
            config = part[part["method"] == method]["config"].iloc[0]
            value = float(overall[method])
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "config": config,
                    "metric": MEAN_RANK,
                    "category": "Summary",
                    "direction": LOWER,
                    "arrow": ARROWS[LOWER],
                    "mean": value,
                    "std": float("nan"),
                    "n": len(metrics),
                    "rank": float("nan"),
                    "display": f"{value:.2f}",
                    "is_best": bool(round(value, 2) == best_rank),
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _cell_grid(table: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], pd.Series]]:
    metrics = list(dict.fromkeys(table["metric"]))
    methods = list(dict.fromkeys(table["method"]))
    cells = {(r["method"], r["metric"]): r for _, r in table.iterrows()}
    return methods, metrics, cells


def _header(metric: str, table: pd.DataFrame) -> str:
    arrow = table[table["metric"] == metric]["arrow"].iloc[0]
    return f"{metric} {arrow}"


def to_markdown(tables: Sequence[pd.DataFrame], title: str = "", notes: Sequence[str] = ()) -> str:
    """Markdown with one section per model table (see :func:`build_table`)."""
    lines: list[str] = [f"# {title}", ""] if title else []
    for table in tables:
        if table.empty:
            continue
        model = table["model"].iloc[0]
        methods, metrics, cells = _cell_grid(table)
        n_values = sorted({int(r["n"]) for _, r in table.iterrows() if r["metric"] != MEAN_RANK})
        n_text = str(n_values[0]) if len(n_values) == 1 else f"{n_values[0]}-{n_values[-1]}"
        lines += [f"## {model} (test split, n = {n_text} images per cell)", ""]
        lines.append("| Method | " + " | ".join(_header(m, table) for m in metrics) + " |")
        lines.append("|---|" + "---:|" * len(metrics))
        for method in methods:
            row = [method]
            for metric in metrics:
                cell = cells.get((method, metric))
                if cell is None:
                    row.append("")
                else:
                    row.append(f"**{cell['display']}**" if cell["is_best"] else cell["display"])
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "Selected configurations (validation split):", ""]
        for method in methods:
            config = table[table["method"] == method]["config"].iloc[0]
            lines.append(f"- {method}: `{config}`")
        lines.append("")
    lines += [f"{note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(tables: Sequence[pd.DataFrame], caption: str = "") -> str:
    """LaTeX (booktabs) with one ``table`` environment per model."""
    arrows = {"\u2191": r"$\uparrow$", "\u2193": r"$\downarrow$"}
    blocks: list[str] = []
    for table in tables:
        if table.empty:
            continue
        model = table["model"].iloc[0]
        methods, metrics, cells = _cell_grid(table)
        header = " & ".join(
            [r"Method"] + [f"{latex_escape(m)} {arrows[table[table['metric'] == m]['arrow'].iloc[0]]}" for m in metrics]
        )
        body = []
        for method in methods:
            row = [latex_escape(method)]
            for metric in metrics:
                cell = cells.get((method, metric))
                if cell is None:
                    row.append("")
                    continue
                text = latex_escape(cell["display"]).replace("\u00b1", r"$\pm$")
                row.append(rf"\textbf{{{text}}}" if cell["is_best"] else text)
            body.append(" & ".join(row) + r" \\")
        caption_text = latex_escape(f"{caption} {model}".strip())
        blocks.append(
            "\n".join(
                [
                    r"\begin{table}[t]",
                    r"\centering",
                    rf"\caption{{{caption_text}}}",
                    r"\begin{tabular}{l" + "c" * len(metrics) + "}",
                    r"\toprule",
                    header + r" \\",
                    r"\midrule",
                    *body,
                    r"\bottomrule",
                    r"\end{tabular}",
                    r"\end{table}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def write_tables(
    summary: pd.DataFrame,
    out_dir: str | Path,
    *,
    models: Sequence[str],
    metric_order: Sequence[str],
    method_order: Sequence[str],
    directions: Mapping[str, str],
    title: str = "",
    notes: Sequence[str] = (),
    precision: int = 3,
) -> dict[str, Path]:
    """Write ``table.csv``, ``table.md`` and ``table.tex`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    tables = [build_table(summary, m, metric_order, method_order, directions, precision) for m in models]
    tables = [t for t in tables if not t.empty]
    paths = {"csv": out / "table.csv", "md": out / "table.md", "tex": out / "table.tex"}
    combined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TABLE_COLUMNS)
    combined.to_csv(paths["csv"], index=False)
    paths["md"].write_text(to_markdown(tables, title=title, notes=notes), encoding="utf-8")
    paths["tex"].write_text(to_latex(tables, caption=title), encoding="utf-8")
    return paths
