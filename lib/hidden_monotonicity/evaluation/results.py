"""A finished run's files assembled into results: ``scores.csv``, ``selection.csv``, the tables and ``metadata.json``
(:func:`finalize`, called by :func:`~.runner.evaluate` and :func:`~.runner.merge`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import tables as tables_module
from .metadata import metrics_metadata, status_notes, status_summary
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


#: What notebook 04 writes into ``figures/`` from a finished run, by the key of :attr:`EvaluationResult.paths`:
#: the per-image scores, the selection decisions and the tables. :func:`shipped_result` reads them back.
SHIPPED_FILES: dict[str, str] = {
    "scores": "evaluation_scores.csv.gz",
    "selection": "evaluation_selection.csv",
    "csv": "evaluation_table.csv",
    "md": "evaluation_table.md",
    "comparisons": "evaluation_comparisons.csv",
    "metric_correlations": "evaluation_metric_correlations.csv",
}


def shipped_result(folder: str | Path, profile: EvaluationProfile) -> EvaluationResult:
    """A finished run of ``profile`` read back from the files notebook 04 wrote into ``folder`` (:data:`SHIPPED_FILES`;
    the repository's ``figures/`` holds the default profile's), without computing anything.

    Why: the default evaluation takes about 15 minutes on a 2-core CPU; the ``classroom`` notebook profile shows the
    same tables, comparisons and figures in seconds by loading the committed per-image scores and selection instead
    (notebook 04 says so when it does). The result's ``metadata`` holds what the plots need (the metrics with their
    directions, :func:`.metadata.metrics_metadata`) and ``"shipped_from"``; ``units_computed`` is 0. ``ValueError``
    when a file is missing or the scores are not ``profile``'s (another profile's run, or an older one).
    """
    folder = Path(folder)
    missing = [name for name in SHIPPED_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder} lacks {', '.join(missing)}: run notebook 04 under the default profile first "
                         f"(make reproduce), or pass the folder that holds its outputs")
    scores = pd.read_csv(folder / SHIPPED_FILES["scores"])
    selection = pd.read_csv(folder / SHIPPED_FILES["selection"])
    rows = [row.name for row in profile.methods]
    for what, frame in (("scores", scores), ("selection", selection)):
        absent = sorted(set(profile.models) - set(frame["model"])) + sorted(set(rows) - set(frame["method"]))
        if absent:
            raise ValueError(f"{folder / SHIPPED_FILES[what]} has no rows for {absent} of the {profile.name!r} profile: "
                             f"it comes from another profile's run; rerun notebook 04 under {profile.name!r}")
    metadata: dict[str, Any] = {"profile_name": profile.name, "complete": True, "wall_time_s": 0.0,
                                "metrics": metrics_metadata(profile), "shipped_from": str(folder)}
    metadata.update(status_summary(scores))
    return EvaluationResult(out_dir=folder, complete=True, scores=scores, selection=selection,
                            table=pd.read_csv(folder / SHIPPED_FILES["csv"]), metadata=metadata, units_computed=0,
                            paths={key: folder / name for key, name in SHIPPED_FILES.items()})


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
