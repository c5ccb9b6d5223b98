"""What ``metadata.json`` of an evaluation output folder records.

The profile (in full), the seed, the package versions, every metric's resolved parameters and
softmax flag, the selection protocol, one record per run (start, device, threads, wall time, units
computed), the models' weights, a summary of the score statuses and whether the run is complete.
A merged folder records the shards it was merged from (:func:`merged_metadata`).
"""

from __future__ import annotations

import json
import platform
from typing import Any, Sequence

import pandas as pd

from .metrics import ModelContext, build_metric, resolve_params
from .profiles import EvaluationProfile
from .selection import metric_params_for

METADATA_FORMAT = 1
VERSION_PACKAGES = ("torch", "torchvision", "numpy", "quantus", "captum", "zennit", "grad-cam", "pandas", "scikit-image")


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers (recorded in metadata.json)."""
    from .._version import __version__
    from ..environment import package_versions as installed_versions

    return {"python": platform.python_version(), **installed_versions(VERSION_PACKAGES), "hidden-monotonicity": __version__}


def metrics_metadata(profile: EvaluationProfile) -> dict[str, Any]:
    """Per metric: category, softmax flag, resolved parameters (test and validation) and outputs."""
    described = {}
    for name in profile.metrics:
        overrides = profile.metric_params.get(name)
        evaluator = build_metric(name, overrides, ModelContext("(any)", 2))
        params = resolve_params(name, overrides)
        described[name] = {
            "category": evaluator.category,
            "softmax": evaluator.softmax,
            "needs_mask": evaluator.needs_mask,
            "needs_explain_func": evaluator.needs_explain_func,
            "normalise_func": "normalise_by_max_per_sample" if params.get("normalise") else None,
            "params": params,
            "validation_params": resolve_params(name, metric_params_for(profile, name, "val")),
            "outputs": [{"name": o.name, "direction": o.direction, "category": o.category} for o in evaluator.outputs()],
        }
    return json.loads(json.dumps(described, default=lambda v: list(v) if isinstance(v, tuple) else str(v)))


def new_metadata(profile: EvaluationProfile, shard: int, num_shards: int, device: str) -> dict[str, Any]:
    """The metadata of a fresh output folder (its ``runs`` list grows with every run)."""
    return {
        "format": METADATA_FORMAT,
        "profile_name": profile.name,
        "profile": profile.to_dict(),
        "seed": profile.seed,
        "shard": shard,
        "num_shards": num_shards,
        "device": device,
        "versions": package_versions(),
        "metrics": metrics_metadata(profile),
        "selection": {"criterion": profile.selection_criterion, "metrics": list(profile.selection_metrics),
                      "split": "val", "tie_break": "earlier candidate in grid order"},
        "runs": [],
        "complete": False,
    }


def status_summary(scores: pd.DataFrame) -> dict[str, Any]:
    """Counts of each score status, dropped samples per model/split, skip reasons, failed rows."""
    if scores.empty:
        return {"status_counts": {}, "dropped_samples": {}, "skipped": {}, "failed_rows": 0}
    counts = scores.groupby("status").size().to_dict()
    dropped = scores[scores["status"].str.startswith("dropped")]
    dropped_samples = {
        f"{model}/{split}": int(part["sample"].nunique())
        for (model, split), part in dropped.groupby(["model", "split"], sort=True)
    }
    skipped = scores[scores["status"].str.startswith("skipped")]
    skipped_info = {f"{model}/{metric}": status for (model, metric, status), _ in skipped.groupby(["model", "metric", "status"])}
    failed = int(scores["status"].str.startswith("failed").sum())
    return {"status_counts": {k: int(v) for k, v in counts.items()}, "dropped_samples": dropped_samples,
            "skipped": skipped_info, "failed_rows": failed}


def merged_metadata(shard_dirs: Sequence[str], metadatas: Sequence[dict[str, Any]], shards_complete: bool) -> dict[str, Any]:
    """The metadata of a merge of shard folders ``shard_dirs`` with metadata ``metadatas``."""
    first = metadatas[0]
    merged = {key: first[key] for key in ("format", "profile_name", "profile", "seed", "metrics", "selection")}
    merged.update(
        {
            "versions": first["versions"],
            "device": sorted({m["device"] for m in metadatas}),
            "merged_from": [{"dir": str(d), "shard": m["shard"], "device": m["device"], "versions": m["versions"],
                             "wall_time_s": m.get("wall_time_s"), "complete": m.get("complete")}
                            for d, m in zip(shard_dirs, metadatas)],
            "num_shards": first["num_shards"],
            "wall_time_s": round(sum(m.get("wall_time_s") or 0.0 for m in metadatas), 3),
            "models": {k: v for m in metadatas for k, v in m.get("models", {}).items()},
            "complete": all(m.get("complete") for m in metadatas) and shards_complete,
        }
    )
    if any(m["versions"] != first["versions"] for m in metadatas):
        merged["versions_differ_between_shards"] = True
    return merged
