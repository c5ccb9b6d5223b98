"""The α ablation of SplitCAM and SplitGrad (paper B.3, issue 26.12): the headline metrics against α.

The paper shifts the sensitivities by α (B.3, "iterative offset reduction": the common mode shrinks by ``1 − 2α`` per
layer) and reports SplitCAM at α = 0.4; the default evaluation profile selects α on the validation split from
{0.3, 0.4} (SplitCAM) and {0.4, 0.5} (SplitGrad) only (:data:`.profiles.MAIN_PARAMETERS`). This ablation shows the
whole range instead of assuming it: for each model, each split-method row is scored on the test split at every α of a
grid (default 0, 0.1, ..., 0.5) with every other parameter - layer, stabilisation, ``abs``, max-pool rule - fixed to
the configuration the main evaluation selected for that model (``selection.csv``).

It is an ordinary evaluation (:func:`.runner.evaluate`: per-image work units, resume, provenance), of a derived
profile (:func:`ablation_profile`): one single-candidate row per (method, α), labelled ``"splitcam α=0.3"`` (so no
selection runs), the headline metrics with the test split's parameters, no table at registered defaults, no fresh
split. Rows are shared by the models of a profile, but the fixed parameters are per model, so each model is its own
run, in ``out_dir/<model>``. α = 0 is the exact split gradient in float64: its common mode is not damped at all, and
a map may be degenerate; a failure is recorded per image as a ``status`` (``n_not_ok`` in the table), never raised.

:func:`ablation_summary` turns the runs' scores into the table (mean and 95 % interval per model, method, α and
metric, by :func:`.tables.summarize`, the same intervals as the evaluation tables); :func:`best_alphas` names the best
α of each column and whether the selected α is distinguishable from it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..decomposition.validation import PAPER_ALPHA_RANGE
from .fresh_split import confirmatory_metrics
from .profiles import EvaluationProfile, MethodGrid
from .results import EvaluationResult
from .selection import profile_outputs
from .tables import summarize

#: The α grid of the ablation: the paper's whole range [0, 0.5] in steps of 0.1.
DEFAULT_ALPHAS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
#: The methods with an α (SplitLRP has none).
ABLATED_METHODS: tuple[str, ...] = ("splitcam", "splitgrad")
TABLE_COLUMNS = ["model", "method", "alpha", "metric", "direction", "mean", "ci_low", "ci_high", "interval_method", "n",
                 "n_not_ok", "status", "in_grid", "selected", "config"]


def check_alphas(alphas: Sequence[float]) -> tuple[float, ...]:
    """The α grid as floats, sorted; a clear ``ValueError`` for an empty grid, a repeat or an α outside [0, 0.5]."""
    if isinstance(alphas, (str, bytes)) or not isinstance(alphas, Sequence) or len(alphas) == 0:
        raise ValueError(f"alphas must be a non-empty sequence of numbers in [0, 0.5] (paper B.3), got {alphas!r}; "
                         f"e.g. {DEFAULT_ALPHAS}")
    low, high = PAPER_ALPHA_RANGE
    values = []
    for alpha in alphas:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(alpha)) or not low <= float(alpha) <= high:
            raise ValueError(f"every α of the ablation must be a number in [{low:g}, {high:g}] (the paper's range, "
                             f"B.3), got {alpha!r} in {tuple(alphas)!r}")
        values.append(float(alpha))
    if len(set(values)) != len(values):
        raise ValueError(f"the α grid repeats a value: {tuple(alphas)!r}; give each α once")
    return tuple(sorted(values))


def alpha_label(row: str, alpha: float) -> str:
    """The table row of ``row`` at ``alpha``: ``"splitcam α=0.3"``."""
    return f"{row} α={alpha:g}"


def ablated_rows(profile: EvaluationProfile) -> tuple[MethodGrid, ...]:
    """The profile's rows of SplitCAM / SplitGrad (:data:`ABLATED_METHODS`), in profile order."""
    return tuple(row for row in profile.methods if row.method in ABLATED_METHODS)


def grid_alphas(row: MethodGrid) -> tuple[float, ...]:
    """The α values a row selects from (its grid, or its fixed α)."""
    values = row.grid.get("alpha", (row.fixed["alpha"],) if "alpha" in row.fixed else ())
    return tuple(float(a) for a in values)


def selected_parameters(selection: pd.DataFrame, model: str, row: str) -> dict[str, Any]:
    """The configuration the main evaluation chose for ``row`` on ``model`` (``selection.csv``'s chosen candidate)."""
    if selection is None or selection.empty or not {"model", "method", "params", "chosen"} <= set(selection.columns):
        raise ValueError("the selection has no chosen configurations (columns model, method, params, chosen): pass the "
                         "main evaluation's selection.csv (result.selection) of a complete run")
    picked = selection[(selection["model"] == model) & (selection["method"] == row) & selection["chosen"].astype(bool)]
    if len(picked) != 1:
        raise ValueError(f"the selection has {len(picked)} chosen configuration(s) of {row!r} on {model!r}, expected 1; "
                         "pass the selection.csv of the complete main evaluation of this profile")
    return json.loads(picked["params"].iloc[0])


def ablation_profile(profile: EvaluationProfile, selection: pd.DataFrame, model: str, *,
                     alphas: Sequence[float] = DEFAULT_ALPHAS, n_test: int | None = None) -> EvaluationProfile:
    """The evaluation profile of the ablation of ``model``: one single-candidate row per (split method, α) with the
    other parameters fixed to the main evaluation's selection, the headline metrics on the test split only.

    ``n_test``: the first ``n_test`` test images, at most the profile's (None: the profile's ``n_test``)."""
    alphas = check_alphas(alphas)
    if model not in profile.models:
        raise ValueError(f"model {model!r} is not in profile {profile.name!r} (models: {', '.join(profile.models)})")
    if n_test is not None and (isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 1):
        raise ValueError(f"n_test must be a whole number >= 1 (or None: the profile's {profile.n_test}), got {n_test!r}")
    rows = []
    for row in ablated_rows(profile):
        chosen = selected_parameters(selection, model, row.name)
        chosen.pop("alpha", None)
        rows += [MethodGrid(row.method, fixed={**chosen, "alpha": alpha}, label=alpha_label(row.name, alpha))
                 for alpha in alphas]
    if not rows:
        raise ValueError(f"profile {profile.name!r} has no {' or '.join(ABLATED_METHODS)} row: nothing to ablate")
    metrics = confirmatory_metrics(profile)
    return profile.replace(
        name=f"{profile.name}-alpha-ablation", models=(model,), methods=tuple(rows), metrics=metrics,
        description=f"α ablation (B.3) of {profile.name!r} on {model}: α in {alphas}, the other parameters as selected",
        metric_params={m: dict(v) for m, v in profile.metric_params.items() if m in metrics},
        selection_metric_params={}, defaults_metrics=(), fresh_test={}, n_val=0,
        n_test=profile.n_test if n_test is None else int(n_test) if profile.n_test is None else min(int(n_test), profile.n_test))


def ablation_summary(scores: pd.DataFrame, profile: EvaluationProfile, selection: pd.DataFrame, *,
                     alphas: Sequence[float] = DEFAULT_ALPHAS) -> pd.DataFrame:
    """The ablation table (:data:`TABLE_COLUMNS`) from the runs' per-image test ``scores`` (every model together).

    ``mean``, ``ci_low``/``ci_high`` (95 %), ``interval_method`` and ``n`` over the ``ok`` scores, by
    :func:`.tables.summarize` with the profile's seed, as in the evaluation tables; ``n_not_ok`` and ``status`` (the
    most frequent status other than ok, or "ok") count the rest; ``in_grid``: α is a candidate of the main profile's
    selection; ``selected``: α is the one it selected for the model."""
    alphas = check_alphas(alphas)
    outputs = {name: o for name, o in profile_outputs(profile).items() if name in profile.selection_metrics}
    directions = {name: o.direction for name, o in outputs.items()}
    test = scores[(scores["split"] == "test") & scores["metric"].isin(list(outputs))]
    summary = summarize(test, directions, seed=profile.seed, binary_metrics=[n for n, o in outputs.items() if o.binary])
    cells = {(r["model"], r["method"], r["metric"]): r for _, r in summary.iterrows()}
    records = []
    for model in profile.models:
        for row in ablated_rows(profile):
            chosen = selected_parameters(selection, model, row.name).get("alpha")
            for alpha in alphas:
                label = alpha_label(row.name, alpha)
                part = test[(test["model"] == model) & (test["method"] == label)]
                if part.empty:
                    continue
                for metric in outputs:
                    scored = part[part["metric"] == metric]
                    bad = scored[scored["status"] != "ok"]["status"]
                    cell = cells.get((model, label, metric))
                    records.append({
                        "model": model, "method": row.name, "alpha": alpha, "metric": metric,
                        "direction": directions[metric],
                        **{k: (cell[k] if cell is not None else v) for k, v in
                           (("mean", np.nan), ("ci_low", np.nan), ("ci_high", np.nan), ("interval_method", "none"),
                            ("n", 0))},
                        "n_not_ok": len(bad), "status": bad.value_counts().index[0] if len(bad) else "ok",
                        "in_grid": any(math.isclose(alpha, a) for a in grid_alphas(row)),
                        "selected": chosen is not None and math.isclose(alpha, float(chosen)),
                        "config": scored["config"].iloc[0] if len(scored) else "",
                    })
    return pd.DataFrame(records, columns=TABLE_COLUMNS)


def best_alphas(table: pd.DataFrame) -> pd.DataFrame:
    """Per model, method and metric: the α with the best mean (by the metric's direction; ties: the smaller α), the
    selected α, and ``selected_within_ci``: whether the selected α's interval overlaps the best one's."""
    records = []
    for (model, method, metric), part in table.dropna(subset=["mean"]).groupby(["model", "method", "metric"], sort=False):
        order = part["mean"] if part["direction"].iloc[0] == "lower" else -part["mean"]
        best = part.loc[order.sort_values(kind="mergesort").index[0]]
        chosen = part[part["selected"].astype(bool)]
        overlap = bool(len(chosen)) and not (chosen["ci_high"].iloc[0] < best["ci_low"]
                                             or chosen["ci_low"].iloc[0] > best["ci_high"])
        records.append({"model": model, "method": method, "metric": metric, "best_alpha": best["alpha"],
                        "best_mean": best["mean"], "best_ci_low": best["ci_low"], "best_ci_high": best["ci_high"],
                        "selected_alpha": chosen["alpha"].iloc[0] if len(chosen) else np.nan,
                        "selected_mean": chosen["mean"].iloc[0] if len(chosen) else np.nan,
                        "selected_within_ci": overlap})
    return pd.DataFrame(records)


@dataclass
class AlphaAblation:
    """What :func:`run_alpha_ablation` returns: the table, each model's :class:`EvaluationResult` and the wall time."""

    table: pd.DataFrame
    results: dict[str, EvaluationResult] = field(default_factory=dict)
    wall_time_s: float = 0.0
    n_test: int | None = None

    @property
    def scores(self) -> pd.DataFrame:
        """The per-image scores of every model's run."""
        return pd.concat([r.scores for r in self.results.values()], ignore_index=True)


def run_alpha_ablation(profile: EvaluationProfile, selection: pd.DataFrame, out_dir: str | Path, *,
                       alphas: Sequence[float] = DEFAULT_ALPHAS, n_test: int | None = None,
                       **evaluate_kwargs: Any) -> AlphaAblation:
    """Run (or resume) the ablation of every model of ``profile`` into ``out_dir/<model>`` with
    :func:`.runner.evaluate` (``evaluate_kwargs``: ``device``, ``backend``, ``progress``, ``restart``, ...) and
    summarise it (:func:`ablation_summary`). ``selection``: the main evaluation's ``selection.csv`` frame."""
    from .runner import evaluate  # the runner imports the whole evaluation; imported when a run is asked for

    alphas = check_alphas(alphas)
    profiles = {m: ablation_profile(profile, selection, m, alphas=alphas, n_test=n_test) for m in profile.models}
    started = time.perf_counter()
    results = {m: evaluate(p, Path(out_dir) / m, **evaluate_kwargs) for m, p in profiles.items()}
    wall = time.perf_counter() - started
    incomplete = [m for m, r in results.items() if not r.complete]
    if incomplete:
        raise RuntimeError(f"the α ablation of {incomplete} stopped early; run it again to resume")
    scores = pd.concat([r.scores for r in results.values()], ignore_index=True)
    return AlphaAblation(ablation_summary(scores, profile, selection, alphas=alphas), results, round(wall, 1),
                         next(iter(profiles.values())).n_test)
