"""A finished run's files assembled into results: ``scores.csv``, ``selection.csv``, the tables and ``metadata.json``
(:func:`finalize`, called by :func:`~.runner.evaluate` and :func:`~.runner.merge`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import tables as tables_module
from .metadata import status_notes, status_summary
from .profiles import SPLIT_METHODS, EvaluationProfile
from .selection import profile_outputs
from .store import FRESH_SPLIT, ResultStore, config_key, sort_scores


@dataclass
class EvaluationResult:
    """What :func:`evaluate` and :func:`merge` return (everything is also on disk in ``out_dir``)."""

    out_dir: Path
    complete: bool
    scores: pd.DataFrame
    selection: pd.DataFrame
    table: pd.DataFrame
    metadata: dict[str, Any]
    units_computed: int = 0
    paths: dict[str, Path] = field(default_factory=dict)

    def chosen_configurations(self, profile: EvaluationProfile, model: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """``{row label: (method, parameters)}``: the configuration every row of ``profile`` was scored with on the
        test split of ``model`` (its selected candidate), ready for ``hm.explain(model, x, y, method, **parameters)``."""
        return chosen_configurations(self.selection, profile, model)


def chosen_configurations(selection: pd.DataFrame, profile: EvaluationProfile, model: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The selected configuration of every row of ``profile`` for ``model``, read from ``selection.csv``'s frame.

    Rows are returned in the profile's order; a row without a chosen candidate for ``model`` raises ``ValueError``
    (the run is incomplete: resume it first)."""
    methods = {row.name: row.method for row in profile.methods}
    picked = selection[(selection["model"] == model) & selection["chosen"].astype(bool)] if not selection.empty else selection
    chosen = {str(r["method"]): json.loads(r["params"]) for _, r in picked.iterrows()}
    missing = [label for label in methods if label not in chosen]
    if missing:
        raise ValueError(f"no selected configuration for {missing} on {model!r}; the evaluation is incomplete - resume it")
    return {label: (methods[label], chosen[label]) for label in methods}


def _remove_stale_outputs(store: ResultStore, written: set[str]) -> None:
    """Delete result files an earlier finalisation of this folder wrote that this one did not (e.g. a
    ``table_defaults.csv`` of a profile with defaults metrics, after a rerun without): no table of another run
    stays next to this run's."""
    try:
        previous = (store.read_metadata() or {}).get("outputs", [])
    except ValueError:
        previous = []
    for name in previous if isinstance(previous, list) else []:
        path = store.root / str(name)
        if str(name) not in written and path.parent == store.root and path.is_file():
            path.unlink()


def finalize(out_dir: str | Path, profile: EvaluationProfile, metadata: dict[str, Any]) -> EvaluationResult:
    """Assemble ``scores.csv``, ``selection.csv``, the tables and ``metadata.json`` from the unit files."""
    store = ResultStore(out_dir)
    outputs = profile_outputs(profile)
    directions = {name: o.direction for name, o in outputs.items()}
    scores = sort_scores(store.read_units())
    scores.to_csv(store.root / "scores.csv", index=False)
    selection = store.read_all_selections()
    if not selection.empty:
        selection = selection.sort_values(["model", "method", "candidate"], kind="mergesort").reset_index(drop=True)
    selection.to_csv(store.root / "selection.csv", index=False)

    test = scores[scores["split"] == "test"]
    fresh = scores[scores["split"] == FRESH_SPLIT]  # the confirmatory rows on the fresh test split (.fresh_split)
    default_scores = None
    if profile.defaults_metrics:
        default_keys = pd.DataFrame([{"method": g.name, "config": config_key(g.default_parameters())} for g in profile.methods])
        default_scores = test.merge(default_keys, on=["method", "config"], how="inner")
        if profile.defaults_images is not None and not default_scores.empty:  # the first defaults_images test images
            first = default_scores.groupby("model")["sample"].rank(method="dense") <= profile.defaults_images
            default_scores = default_scores[first]
    if not selection.empty and not test.empty:
        chosen = selection[selection["chosen"].astype(bool)][["model", "method", "config"]]
        test = test.merge(chosen, on=["model", "method", "config"], how="inner")
        fresh = fresh.merge(chosen, on=["model", "method", "config"], how="inner")
    status = status_summary(scores)
    paths = tables_module.write_tables(
        test,
        store.root,
        models=list(profile.models),
        metric_order=list(outputs),
        method_order=[g.name for g in profile.methods],
        directions=directions,
        split_methods=[g.name for g in profile.methods if g.method in SPLIT_METHODS],
        selection=selection,
        default_scores=default_scores,
        title=f"Evaluation ({profile.name} profile): mean [95 % CI] over test images"
              + (f". {profile.qualitative}" if profile.qualitative else ""),
        notes=status_notes(status),
        seed=profile.seed,
        binary_metrics=[name for name, o in outputs.items() if o.binary],
        mark_best=not profile.qualitative,
        fresh_scores=fresh if not fresh.empty else None,
    )
    metadata.update(status)
    paths.update({"scores": store.root / "scores.csv", "selection": store.root / "selection.csv", "metadata": store.metadata_path})
    _remove_stale_outputs(store, {path.name for path in paths.values()})
    metadata["outputs"] = sorted(path.name for path in paths.values())
    metadata.pop("merge_in_progress", None)
    store.write_metadata(metadata)
    table = pd.read_csv(paths["csv"])
    return EvaluationResult(out_dir=store.root, complete=bool(metadata.get("complete")), scores=scores,
                            selection=selection, table=table, metadata=metadata, paths=paths)
