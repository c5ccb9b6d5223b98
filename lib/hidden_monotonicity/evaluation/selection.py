"""The selection protocol: pick each method's configuration on the validation split (digest D.5).

Every candidate configuration of a method's grid is evaluated on the validation split with the
metrics of the selection criterion (default: mean rank over AUC@5, AUC@20, Selectivity,
AttributionLocalisation, PointingGame, MaxSensitivity); :func:`select_configuration` picks one,
ties going to the earlier candidate. The validation split may use cheaper metric settings
(``profile.selection_metric_params``, see :func:`metric_params_for`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import tables as tables_module
from .metrics import MetricOutput, metric_outputs
from .profiles import EvaluationProfile
from .store import STATUS_OK


def metric_params_for(profile: EvaluationProfile, metric: str, split: str) -> dict[str, Any]:
    """The metric overrides of ``profile`` for ``split`` (validation: plus ``selection_metric_params``)."""
    params = dict(profile.metric_params.get(metric, {}))
    if split == "val":
        params.update(profile.selection_metric_params.get(metric, {}))
    return params


def profile_outputs(profile: EvaluationProfile) -> dict[str, MetricOutput]:
    """Every headline output (table column) of the profile's metrics, in profile order."""
    outputs: dict[str, MetricOutput] = {}
    for name in profile.metrics:
        for output in metric_outputs(name, profile.metric_params.get(name)):
            if output.name in outputs:
                raise ValueError(f"profile {profile.name!r}: two metrics produce the output {output.name!r}")
            outputs[output.name] = output
    return outputs


def selection_metric_names(profile: EvaluationProfile, outputs: Mapping[str, MetricOutput]) -> tuple[list[str], list[str]]:
    """(criterion outputs, catalogue metrics needed on the validation split)."""
    if profile.selection_criterion.startswith("metric:"):
        wanted = [profile.selection_criterion.split(":", 1)[1]]
    else:
        wanted = list(profile.selection_metrics)
    missing = [name for name in wanted if name not in outputs]
    if missing and any(g.may_have_several_candidates() for g in profile.methods):
        raise ValueError(
            f"profile {profile.name!r}: selection uses {missing}, which no metric of the profile produces; "
            f"available outputs: {list(outputs)}"
        )
    needed = []
    for name in profile.metrics:
        produced = {o.name for o in metric_outputs(name, profile.metric_params.get(name))}
        if produced & set(wanted) and not missing:
            needed.append(name)
    return wanted, needed


_selection_metric_names = selection_metric_names  # the name before the split of runner.py


def select_configuration(
    val_scores: pd.DataFrame,
    candidates: Sequence[str],
    metrics: Sequence[str],
    directions: Mapping[str, str],
    criterion: str = "mean_rank",
) -> pd.DataFrame:
    """Score every candidate configuration on the validation split and mark the chosen one.

    ``val_scores``: per-sample rows (``config``, ``metric``, ``score``, ``status``) of one model
    and method. ``criterion="mean_rank"``: per metric, candidates are ranked by their mean score
    (1 = best, by the metric's direction; ties share the average rank; a candidate without scores
    ranks last), and the criterion value is the mean rank (lower is better).
    ``criterion="metric:<name>"``: the criterion value is the mean of that metric. Ties go to the
    earlier candidate. Returns one row per candidate with ``criterion_value``, ``val_<metric>``
    means, ``n_val`` and ``chosen``.
    """
    if not candidates:
        raise ValueError("select_configuration needs at least one candidate")
    ok = val_scores[(val_scores["status"] == STATUS_OK) & val_scores["metric"].isin(list(metrics))]
    means = ok.groupby(["config", "metric"])["score"].mean().unstack("metric")
    means = means.reindex(index=list(candidates), columns=list(metrics))
    counts = ok.groupby("config")["sample"].nunique().reindex(list(candidates)).fillna(0).astype(int)
    if criterion == "mean_rank":
        values = tables_module.mean_ranks(means, {m: directions[m] for m in metrics})
        better_is_lower = True
    elif criterion.startswith("metric:"):
        metric = criterion.split(":", 1)[1]
        values = means[metric]
        better_is_lower = directions[metric] != "higher"
    else:
        raise ValueError(f"unknown selection criterion {criterion!r}; use 'mean_rank' or 'metric:<name>'")
    order = values.to_numpy(dtype=float)
    order = np.where(np.isnan(order), np.inf, order if better_is_lower else -order)
    chosen_index = int(np.argmin(order))  # first minimum: ties go to the earlier candidate
    table = pd.DataFrame(
        {
            "candidate": np.arange(len(candidates)),
            "config": list(candidates),
            "criterion": criterion,
            "criterion_value": values.to_numpy(dtype=float),
            **{f"val_{m}": means[m].to_numpy(dtype=float) for m in metrics},
            "n_val": counts.to_numpy(),
            "chosen": np.arange(len(candidates)) == chosen_index,
        }
    )
    return table
