"""Paired comparisons of the split methods with the baselines: ``comparisons.csv`` (paper section E, issue 25).

Every split method is compared with every baseline on every tabulated metric, paired per test image (differences
matched by sample id, so a failed image of one row drops that image from its comparisons only):

* **effect** - the mean per-image difference, split method minus baseline (raw units, whatever the metric's
  direction), with its 95 % BCa bootstrap interval (:func:`.statistics.mean_difference_interval`);
* **p_value** - a two-sided paired sign-flip permutation test of that same mean (exact for up to 16 images, else
  Monte-Carlo with 99,999 seeded patterns, ``p = (k + 1) / (N + 1)``; :func:`.statistics.sign_flip_p_values`);
* **family** - :data:`CONFIRMATORY` for the paper's claims, fixed before any run: a split method
  (:data:`.profiles.SPLIT_METHODS`) against one of the paper's baselines (:data:`PAPER_BASELINES`) on a headline
  column (:data:`.profiles.PAPER_SELECTION_METRICS`); Holm-corrected per model (family-wise error 5 %). Every other
  comparison is :data:`EXPLORATORY`: Benjamini-Hochberg per model (false discovery rate 5 %) - hypotheses for later
  work, not claims;
* **direction** - which side a significant effect (adjusted p <= alpha) favours given the metric's direction
  (``"method"``, ``"baseline"``), ``"none"`` when not significant; ``holds`` is ``direction != "none"``;
* **mde** - the minimal detectable effect: the mean difference a two-sided test at the family's first-step level
  ``alpha / m`` (``m`` = comparisons in the family; the strictest level Holm and BH apply, so conservative) detects
  with 80 % power at this ``n``, from a normal approximation with the observed SD of the differences;
* **equivalent** - two one-sided paired t-tests (TOST) of ``|mean difference| < margin``, the p-values adjusted
  like the family's difference tests. The margin is one number per model and metric,
  :data:`EQUIVALENCE_MARGIN_SD` (0.2, a "small" effect in Cohen's sense) times the metric's pooled per-image SD
  over the compared rows (within-row variances pooled with weights ``n - 1``).

A comparison that is neither significant nor equivalent is inconclusive: the data exclude neither no effect nor an
effect of the size of the margin; its ``mde`` says how large an effect the run could have detected.

``split`` (the last column) says which test split a row was computed on: ``"test"``, or ``"fresh"`` - a second test
split drawn once the protocol was frozen (:mod:`.fresh_split`), on which only the confirmatory family is tested
(:func:`replicate_confirmatory`: a Holm family of its own per model, with the test split's margins).
:func:`confirmatory_side_by_side` puts the verdicts of both splits next to each other.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import statistics
from .metrics import ARROWS, HIGHER
from .paper import PAPER_VGG16_RESULTS
from .profiles import PAPER_SELECTION_METRICS, SPLIT_METHODS

#: The baselines of the paper's published table (digest E.1: Guided Backprop, LayerCAM, LRP-γ, GradCAM++,
#: Integrated Gradients; :data:`.paper.PAPER_VGG16_RESULTS` holds their numbers) under this library's method names:
#: the paper's claims are made against these rows. Comparisons of a split method with them on the headline columns
#: form the small confirmatory family (3 x 5 x 6 = 90 per model). The other baselines the paper's text names
#: (DeepLift, Gradient SHAP, Occlusion, Feature Ablation; digest D.3) and the profile's extra rows (Saliency,
#: Input x Gradient, LRP-ε, GradCAM, XGradCAM, ...) are compared in the exploratory family.
PAPER_BASELINES: tuple[str, ...] = tuple(name for name in PAPER_VGG16_RESULTS if name not in SPLIT_METHODS)
CONFIRMATORY = "confirmatory"
EXPLORATORY = "exploratory"
#: The family of every comparison of a qualitative profile (:attr:`.profiles.EvaluationProfile.qualitative`): effects
#: and intervals describe its images, no test verdict is drawn (its images are not independent draws).
DESCRIPTIVE = "descriptive"
#: The multiplicity correction of each family.
CORRECTIONS = {CONFIRMATORY: ("holm", statistics.holm), EXPLORATORY: ("bh", statistics.benjamini_hochberg)}
#: Equivalence margin in units of the metric's pooled per-image SD (0.2 SD: a "small" standardised effect).
EQUIVALENCE_MARGIN_SD = 0.2
#: p-values below this are printed as "< 1e-6" in markdown (comparisons.csv keeps the number).
P_DISPLAY_FLOOR = 1e-6
COMPARISON_COLUMNS = ["model", "method", "baseline", "metric", "family", "direction", "effect", "ci_low", "ci_high",
                      "p_value", "p_adjusted", "mde", "equivalent", "n", "metric_direction", "correction",
                      "test_level", "margin", "p_equivalence", "p_equivalence_adjusted", "sd_difference", "test",
                      "ci_method", "holds", "split"]


def _ok_scores(scores: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    ok = scores[(scores["status"] == "ok") & scores["metric"].isin(list(metrics))]
    return ok[np.isfinite(ok["score"].to_numpy(dtype=float))]


def equivalence_margins(scores: pd.DataFrame, rows: Sequence[str], metrics: Sequence[str],
                        fraction: float = EQUIVALENCE_MARGIN_SD) -> dict[str, float]:
    """``{metric: fraction * pooled per-image SD}`` over the ``ok`` scores of ``rows`` (one model's methods).

    The pooled variance is ``sum((n_i - 1) s_i^2) / sum(n_i - 1)`` over the rows with at least two scores (the
    within-row spread of the metric across images, not the spread between methods); NaN without such a row.
    """
    ok = _ok_scores(scores[scores["method"].isin(list(rows))], metrics)
    margins = {}
    for metric in metrics:
        groups = ok[ok["metric"] == metric].groupby("method")["score"]
        counts, variances = groups.count(), groups.var(ddof=1)
        keep = counts >= 2
        dof = float((counts[keep] - 1).sum())
        margins[metric] = fraction * math.sqrt(float(((counts[keep] - 1) * variances[keep]).sum()) / dof) \
            if dof > 0 else float("nan")
    return margins


def _per_sample(part: pd.DataFrame, model: str, method: str, metric: str) -> pd.Series:
    series = part.set_index(part["sample"].astype(int))["score"].astype(float)
    if series.index.has_duplicates:
        raise ValueError(f"scores of model {model!r}, method {method!r}, metric {metric!r} hold several ok rows for "
                         f"one sample; pass the test rows of one configuration per method (the chosen ones)")
    return series


def compare_methods(
    scores: pd.DataFrame,
    model: str,
    methods: Sequence[str],
    baselines: Sequence[str],
    metrics: Sequence[str],
    directions: Mapping[str, str],
    *,
    alpha: float = statistics.ALPHA,
    seed: int = 0,
    confirmatory_metrics: Sequence[str] = PAPER_SELECTION_METRICS,
    confirmatory_methods: Sequence[str] = SPLIT_METHODS,
    confirmatory_baselines: Sequence[str] = PAPER_BASELINES,
    margin_sd: float = EQUIVALENCE_MARGIN_SD,
    n_permutations: int = statistics.N_SIGN_FLIPS,
    margins: Mapping[str, float] | None = None,
    split: str = "test",
) -> pd.DataFrame:
    """Every method against every baseline on every metric of one model, paired by sample id (see the module).

    Returns :data:`COMPARISON_COLUMNS`, one row per (method, baseline, metric) with scores on both sides. The
    interval of a row is seeded by ``seed`` and the row's identity; the sign patterns by ``seed``, the model and
    the number of pairs (shared by the rows with that many pairs), so nothing depends on the order of the rows.
    ``margins``: the equivalence margin per metric (default: :func:`equivalence_margins` of these scores);
    ``split``: the value of the ``split`` column.
    """
    ok = _ok_scores(scores[scores["model"] == model], [m for m in metrics if m in directions])
    by_key = {key: _per_sample(part, model, *key) for key, part in ok.groupby(["method", "metric"], sort=False)}
    if margins is None:
        margins = equivalence_margins(ok, list(methods) + list(baselines), metrics, margin_sd)
    margins = {metric: float(margins.get(metric, float("nan"))) for metric in metrics}
    rows, differences = [], []
    for method in methods:
        for baseline in baselines:
            for metric in metrics:
                a, b = by_key.get((method, metric)), by_key.get((baseline, metric))
                if a is None or b is None:
                    continue
                common = a.index.intersection(b.index).sort_values()
                d = a.loc[common].to_numpy() - b.loc[common].to_numpy()
                low, high, ci_method = statistics.mean_difference_interval(
                    d, seed=statistics.stable_seed(seed, model, method, baseline, metric))
                confirmatory = (method in confirmatory_methods and baseline in confirmatory_baselines
                                and metric in confirmatory_metrics)
                rows.append({"model": model, "split": split, "method": method, "baseline": baseline,
                             "metric": metric, "family": CONFIRMATORY if confirmatory else EXPLORATORY,
                             "effect": float(d.mean()) if len(d) else float("nan"), "ci_low": low, "ci_high": high,
                             "n": len(d), "metric_direction": directions[metric], "margin": margins[metric],
                             "p_equivalence": statistics.tost_p_value(d, margins[metric]),
                             "sd_difference": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
                             "test": statistics.sign_flip_test_name(len(d), n_permutations), "ci_method": ci_method})
                differences.append(d)
    if not rows:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    frame = pd.DataFrame(rows)
    p_values = np.full(len(rows), np.nan)
    for n in sorted({len(d) for d in differences} - {0}):
        same_n = [i for i, d in enumerate(differences) if len(d) == n]
        p_values[same_n] = statistics.sign_flip_p_values(
            np.stack([differences[i] for i in same_n]), seed=statistics.stable_seed(seed, model, "sign flips", n),
            n_permutations=n_permutations)
    frame["p_value"] = p_values
    frame["correction"] = ""
    frame[["p_adjusted", "p_equivalence_adjusted", "test_level"]] = np.nan
    for family, (name, correct) in CORRECTIONS.items():
        rows_in = (frame["family"] == family).to_numpy()
        frame.loc[rows_in, "correction"] = name
        frame.loc[rows_in, "p_adjusted"] = correct(frame.loc[rows_in, "p_value"].to_numpy(dtype=float))
        frame.loc[rows_in, "p_equivalence_adjusted"] = correct(frame.loc[rows_in, "p_equivalence"].to_numpy(dtype=float))
        frame.loc[rows_in, "test_level"] = alpha / max(1, int(frame.loc[rows_in, "p_value"].notna().sum()))
    frame["mde"] = [statistics.minimal_detectable_effect(sd, n, level)
                    for sd, n, level in zip(frame["sd_difference"], frame["n"], frame["test_level"])]
    significant = (frame["p_adjusted"] <= alpha).to_numpy()
    effect = frame["effect"].to_numpy(dtype=float)
    better = np.where(frame["metric_direction"].to_numpy() == HIGHER, effect > 0, effect < 0)
    frame["direction"] = np.where(significant, np.where(better, "method", "baseline"), "none")
    frame["equivalent"] = (frame["p_equivalence_adjusted"] <= alpha).to_numpy()
    frame["holds"] = frame["direction"] != "none"
    return frame[COMPARISON_COLUMNS]


# --------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------


def format_p_value(p: float, floor: float = P_DISPLAY_FLOOR) -> str:
    """Two significant digits; ``"< 1e-6"`` below ``floor`` (smaller values carry no information); NaN ``"n/a"``."""
    if p is None or math.isnan(p):
        return "n/a"
    return f"< {floor:.0e}".replace("e-0", "e-") if p < floor else f"{p:.2g}"


def _number(value: float, precision: int) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{precision}f}"


def _counts(part: pd.DataFrame) -> str:
    method, baseline = int((part["direction"] == "method").sum()), int((part["direction"] == "baseline").sum())
    equivalent = int((part["equivalent"].astype(bool) & (part["direction"] == "none")).sum())
    inconclusive = int(((part["direction"] == "none") & ~part["equivalent"].astype(bool)).sum())
    return (f"{method} favour the split method, {baseline} the baseline; of the {len(part) - method - baseline} "
            f"without a significant difference, {equivalent} are equivalent within the margin and {inconclusive} "
            "inconclusive")


def _rows(part: pd.DataFrame, precision: int) -> list[str]:
    lines = ["| Method | Baseline | Metric | Favours | Effect [95 % CI] | adjusted p | MDE | margin | Equivalent | n |",
             "|---|---|---|---|---:|---:|---:|---:|---|---:|"]
    for _, r in part.iterrows():
        effect = _number(r["effect"], precision)
        if not (math.isnan(r["ci_low"]) or math.isnan(r["ci_high"])):
            effect += f" [{_number(r['ci_low'], precision)}, {_number(r['ci_high'], precision)}]"
        lines.append(f"| {r['method']} | {r['baseline']} | {r['metric']} {ARROWS[r['metric_direction']]} | "
                     f"{r['direction']} | {effect} | {format_p_value(r['p_adjusted'])} | "
                     f"{_number(r['mde'], precision)} | {_number(r['margin'], precision)} | "
                     f"{'yes' if r['equivalent'] else 'no'} | {int(r['n'])} |")
    return lines


def descriptive(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The comparisons of a qualitative profile: the same effects, intervals and p-values (for the record), but in the
    family :data:`DESCRIPTIVE`, with no direction, no equivalence and no claim (``holds`` False)."""
    return comparisons.assign(family=DESCRIPTIVE, direction="none", equivalent=False, holds=False)


def comparisons_markdown(comparisons: pd.DataFrame, precision: int = 3) -> list[str]:
    """Markdown lines of one model's comparisons: the confirmatory family (every claim it supports: a significant
    difference or an equivalence), then the exploratory family's significant differences, each with its counts."""
    lines = ["Paired comparisons (split method − baseline per test image; p: two-sided sign-flip permutation test "
             "of the mean difference; interval: 95 % BCa bootstrap; MDE: the difference detectable with 80 % power "
             "at the family's level α/m, normal approximation with the observed SD of the differences; equivalent: "
             f"TOST within ± {EQUIVALENCE_MARGIN_SD:g} pooled per-image SD of the metric; every row is in "
             "comparisons.csv)."]
    if (comparisons["family"] == DESCRIPTIVE).any():
        lines += ["", f"**Descriptive** ({len(comparisons)} comparisons): the profile is qualitative (see the title), so "
                  "no comparison is tested: the effects and intervals in comparisons.csv describe these images only."]
    for family, title, rule in (
            (CONFIRMATORY, "Confirmatory", "the paper's claims, fixed before the run - split methods against the "
             "paper's baselines on the headline columns; Holm, family-wise 5 %"),
            (EXPLORATORY, "Exploratory", "every other comparison; Benjamini-Hochberg, false discovery rate 5 %: "
             "hypotheses, not claims")):
        part = comparisons[comparisons["family"] == family]
        if part.empty:
            continue
        lines += ["", f"**{title}** ({len(part)} comparisons; {rule}): {_counts(part)}."]
        shown = part[(part["direction"] != "none") | (part["equivalent"].astype(bool) & (family == CONFIRMATORY))]
        if not shown.empty:
            lines += [""] + _rows(shown, precision)
    return lines


VERDICTS = ("favours method", "favours baseline", "equivalent", "inconclusive", "not tested")


def verdicts(comparisons: pd.DataFrame) -> pd.Series:
    """One verdict per comparison: ``"favours method"`` / ``"favours baseline"`` (a significant difference after the
    family's correction), else ``"equivalent"`` (TOST within the margin), else ``"inconclusive"`` (neither: the run
    cannot tell "no difference" from "not enough images"; compare the row's ``mde`` with the margin); ``"not tested"``
    for the :data:`DESCRIPTIVE` comparisons of a qualitative profile."""
    significant = comparisons["direction"].map({"method": "favours method", "baseline": "favours baseline"})
    equivalent = comparisons["equivalent"].astype(bool).map({True: "equivalent", False: "inconclusive"})
    verdict = significant.fillna(equivalent)
    return verdict.where(comparisons["family"] != DESCRIPTIVE, "not tested").rename("verdict")


def comparison_summary(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Counts of each verdict per model and family (rows: model, family; columns: :data:`VERDICTS`, ``total``)
    and the median minimal detectable effect in units of the equivalence margin (``median_mde_over_margin``: above 1,
    the run could not have detected an effect of the margin's size)."""
    frame = comparisons.assign(verdict=verdicts(comparisons), mde_over_margin=comparisons["mde"] / comparisons["margin"])
    keys = ["model", "split", "family"] if "split" in frame else ["model", "family"]
    counts = frame.groupby(keys + ["verdict"]).size().unstack("verdict", fill_value=0)
    counts = counts.reindex(columns=list(VERDICTS), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts["median_mde_over_margin"] = frame.groupby(keys)["mde_over_margin"].median().round(2)
    counts = counts.reset_index()
    if "split" in counts:  # test split first, then the fresh one (in the order of comparisons.csv)
        order = {split: i for i, split in enumerate(dict.fromkeys(frame["split"]))}
        counts = counts.sort_values(["model", "split"], key=lambda c: c.map(order) if c.name == "split" else c,
                                    kind="mergesort").reset_index(drop=True)
    return counts


# --------------------------------------------------------------------------------------------
# the confirmatory family on a second test split (issue 25.10, :mod:`.fresh_split`)
# --------------------------------------------------------------------------------------------


def replicate_confirmatory(
    scores: pd.DataFrame,
    model: str,
    methods: Sequence[str],
    baselines: Sequence[str],
    metrics: Sequence[str],
    directions: Mapping[str, str],
    reference: pd.DataFrame | None,
    *,
    split: str,
    seed: int = 0,
    confirmatory_metrics: Sequence[str] = PAPER_SELECTION_METRICS,
    confirmatory_methods: Sequence[str] = SPLIT_METHODS,
    confirmatory_baselines: Sequence[str] = PAPER_BASELINES,
    **options,
) -> pd.DataFrame:
    """The confirmatory comparisons of one model on the test split ``split`` (e.g. ``"fresh"``), and only those.

    The pairs of ``methods`` x ``baselines`` x ``metrics`` that belong to the confirmatory family, with the tests of
    :func:`compare_methods`, Holm-corrected as a family of their own (this model, this split). The equivalence
    margins are those of ``reference`` (the model's comparisons on the test split: fixed before these images were
    seen, and the same on both splits, so that their verdicts compare); a metric without one gets the margin of these
    scores. The random draws (intervals, sign patterns) are seeded by ``seed`` and ``split``. ``options``: further
    arguments of :func:`compare_methods` (``alpha``, ``n_permutations``, ...).
    """
    methods = [m for m in methods if m in confirmatory_methods]
    baselines = [b for b in baselines if b in confirmatory_baselines]
    metrics = [m for m in metrics if m in confirmatory_metrics]
    known = reference[reference["model"] == model] if reference is not None and not reference.empty else None
    margins = {} if known is None else {str(k): float(v) for k, v in known.groupby("metric")["margin"].first().items()}
    missing = [m for m in metrics if m not in margins]
    if missing:
        margins.update(equivalence_margins(scores[scores["model"] == model], methods + baselines, missing))
    return compare_methods(scores, model, methods, baselines, metrics, directions,
                           seed=statistics.stable_seed(seed, split), confirmatory_metrics=confirmatory_metrics,
                           confirmatory_methods=confirmatory_methods, confirmatory_baselines=confirmatory_baselines,
                           margins=margins, split=split, **options)


_PAIR = ["model", "method", "baseline", "metric"]


def confirmatory_side_by_side(comparisons: pd.DataFrame) -> pd.DataFrame:
    """One row per confirmatory comparison (model, method, baseline, metric) with, per split, its verdict
    (:func:`verdicts`), effect, interval and adjusted p in columns ``<name>_<split>`` (``verdict_test``,
    ``verdict_fresh``, ...), and ``same_verdict``: whether every split gave the same verdict (False when a split
    lacks the comparison)."""
    part = comparisons[comparisons["family"] == CONFIRMATORY]
    if "split" not in part:
        part = part.assign(split="test")
    splits = list(dict.fromkeys(part["split"]))
    part = part.assign(verdict=verdicts(part))
    values = ["verdict", "effect", "ci_low", "ci_high", "p_adjusted"]
    wide = part.set_index(_PAIR + ["split"])[values].unstack("split")
    pairs = list(dict.fromkeys(map(tuple, part[_PAIR].itertuples(index=False))))
    wide = wide.reindex(pd.MultiIndex.from_tuples(pairs, names=_PAIR)) if pairs else wide
    columns = [(value, split) for split in splits for value in values]
    frame = wide.reindex(columns=pd.MultiIndex.from_tuples(columns)) if columns else wide
    frame.columns = [f"{value}_{split}" for value, split in columns]
    verdict_columns = frame[[f"verdict_{split}" for split in splits]]
    frame["same_verdict"] = verdict_columns.notna().all(axis=1) & verdict_columns.nunique(axis=1).eq(1)
    return frame.reset_index()


def split_verdicts_markdown(comparisons: pd.DataFrame) -> list[str]:
    """Markdown lines of the confirmatory verdicts of every test split side by side: counts per model and split, and
    how many comparisons keep their verdict on the other split(s); no lines when ``comparisons`` holds one split."""
    part = comparisons[comparisons["family"] == CONFIRMATORY] if "split" in comparisons else comparisons.iloc[:0]
    splits = list(dict.fromkeys(part["split"]))
    if len(splits) < 2:
        return []
    lines = ["## The confirmatory family on both test splits", "",
             f"The paper's claims (split methods against the paper's baselines on the headline columns; Holm per model "
             f"and split) on the {splits[0]} split and on the {', '.join(splits[1:])} split, a second test split drawn "
             "once the protocol - rows, candidates, metrics, selection - was frozen, scored with the configurations "
             "chosen on the validation split and the same equivalence margins (`split` column of comparisons.csv; "
             "its images: `fresh_test` in metadata.json). Verdicts:", "",
             "| Model | Split | Images | Favours method | Favours baseline | Equivalent | Inconclusive | Comparisons |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    frame = part.assign(verdict=verdicts(part))
    for model in dict.fromkeys(frame["model"]):
        for split in splits:
            cell = frame[(frame["model"] == model) & (frame["split"] == split)]
            if cell.empty:
                continue
            counts = cell["verdict"].value_counts()
            n = sorted({int(v) for v in cell["n"]})
            images = str(n[0]) if len(n) == 1 else f"{n[0]}-{n[-1]}"
            lines.append(f"| {model} | {split} | {images} | "
                         + " | ".join(str(int(counts.get(v, 0))) for v in VERDICTS) + f" | {len(cell)} |")
    side = confirmatory_side_by_side(part)
    lines.append("")
    for model in dict.fromkeys(side["model"]):
        rows = side[side["model"] == model]
        first = rows[f"verdict_{splits[0]}"]
        held = first.isin(["favours method", "favours baseline"])
        for other in splits[1:]:
            again = rows[f"verdict_{other}"]
            lines.append(f"- {model}: the same verdict on the {splits[0]} and the {other} split for "
                         f"{int((first == again).sum())} of {len(rows)} comparisons; of the {int(held.sum())} "
                         f"significant differences on the {splits[0]} split, {int((held & (first == again)).sum())} "
                         f"are significant in the same direction on the {other} split.")
    return lines + [""]
