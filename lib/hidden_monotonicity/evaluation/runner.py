"""The evaluation loop: methods x models x metrics, per-sample scores, resumable and shardable.

Paper sections D (setup) and E (results). ``evaluate(profile, out_dir)`` runs, for every model and
every method row of the profile (:class:`~.profiles.MethodGrid`):

1. **selection** (digest D.5): every candidate configuration of the method's grid is evaluated on
   the validation split with the metrics of the selection criterion; the criterion (default: mean
   rank over AUC@5, AUC@20, Selectivity, AttributionLocalisation, PointingGame, MaxSensitivity) picks
   one configuration, ties going to the earlier candidate. Every candidate, its validation scores
   and the choice are written to ``selection.csv``. A method with a single candidate is not
   evaluated on the validation split.
2. **test**: the chosen configuration is evaluated on the test split with every metric of the profile.

The rooms of the evaluation: :mod:`.backend` (models, data and methods of a profile),
:mod:`.selection` (the selection protocol), :mod:`.store` (the files of an output folder),
:mod:`.metadata` (what ``metadata.json`` records), :mod:`.metrics` (the metric catalogue), :mod:`.tables`;
this module holds the loop, :func:`evaluate`, :func:`finalize` and :func:`merge`.

Quantus metric classes are called directly (never ``quantus.evaluate``); see
:mod:`.metrics` for the workarounds of its pitfalls. Precomputed maps go only to metrics that do not
re-explain; re-explaining metrics get ``hm.quantus_explain_func`` with the configuration's parameters.

Work units and files
    A work unit is (model, split, method, configuration, metric, chunk of ``chunk_size`` images).
    Each finished unit is written at once (atomically: temporary file + rename) to
    ``DIR/units/<model>/<split>/<method>/<config digest>/<metric>-<chunk>.csv``; a selection decision
    to ``DIR/selection/<model>/<method>.csv``. A killed run restarted on the same ``DIR`` skips
    finished units and ends with the same tables. Every unit has its own seed, derived from the
    profile seed and the unit's identity (``numpy``, ``torch`` and ``random`` are re-seeded before
    each explanation and each metric call), so results do not depend on the order, the shard or
    interruptions.
Shards
    ``shard=i, num_shards=n`` evaluates the (model, method) rows with index ``i mod n`` (the row index
    runs over models, then methods, in profile order). Each row - selection and test - stays within one
    shard, so shards never wait for each other; :func:`merge` combines shard folders.
Outputs
    ``scores.csv`` (tidy: model, split, method, config, metric, category, sample, target, score,
    status, seed), ``selection.csv``, ``metadata.json`` and ``table.md/.tex/.csv``
    (:mod:`.tables`). ``status`` is ``ok``, ``dropped: empty mask`` (localisation metrics),
    ``skipped: <reason>``, ``failed: <error>`` or ``non-finite``; only ``ok`` rows enter the tables.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..environment import seed_everything, select_device
from ..methods.layers import conv_block_outputs, resolve_layer_rule, split_layer_candidates  # noqa: F401 (re-exported)
from . import tables as tables_module
from .backend import EvaluationBackend, Samples, default_backend
from .metadata import merged_metadata, new_metadata, package_versions, status_summary  # noqa: F401
from .metrics import MetricEvaluator, ModelContext, build_metric
from .profiles import EvaluationProfile, MethodGrid, expand_grid, get_profile
from .selection import (  # noqa: F401 (re-exported for callers of the pre-split runner)
    _selection_metric_names,
    metric_params_for,
    profile_outputs,
    select_configuration,
    selection_metric_names,
)
from .store import (  # noqa: F401 (re-exported for callers of the pre-split runner)
    SCORE_COLUMNS,
    SPLITS,
    STATUS_EMPTY_MASK,
    STATUS_OK,
    ResultStore,
    WorkUnit,
    config_key,
    copy_results,
    derive_seed,
)

# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


class UnitBudgetExhausted(Exception):
    """Raised internally when ``max_units`` units have been computed in this call."""


@dataclass
class _ExplainFailure:
    message: str


def _failure_status(error: BaseException, stage: str = "") -> str:
    """One-line status text of an exception (kept short: it is repeated in every affected row)."""
    prefix = f"failed: {stage}: " if stage else "failed: "
    return (prefix + f"{type(error).__name__}: {error}".replace("\n", " "))[:300]


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


class _Run:
    def __init__(self, profile: EvaluationProfile, store: ResultStore, backend: EvaluationBackend, device: str,
                 data_dir: str | None, max_units: int | None, progress: bool, on_error: str) -> None:
        self.profile = profile
        self.store = store
        self.backend = backend
        self.device = device
        self.data_dir = data_dir
        self.max_units = max_units
        self.progress = progress
        self.on_error = on_error
        self.units_computed = 0
        self.outputs = profile_outputs(profile)
        self.selection_outputs, self.selection_metrics = selection_metric_names(profile, self.outputs)
        self.directions = {name: o.direction for name, o in self.outputs.items()}
        self._samples: dict[str, Samples] = {}
        self.models_info: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- data and models
    def samples(self, split: str) -> Samples:
        if split not in self._samples:
            n = self.profile.n_val if split == "val" else self.profile.n_test
            dataset = self.backend.load_split(self.profile, split, self.data_dir)
            self._samples[split] = Samples.from_dataset(dataset, split, n)
        return self._samples[split]

    def groups(self) -> list[tuple[int, str, MethodGrid]]:
        rows = [(m, g) for m in self.profile.models for g in self.profile.methods]
        return [(i, m, g) for i, (m, g) in enumerate(rows)]

    def execute(self, shard: int, num_shards: int) -> None:
        mine = [(m, g) for i, m, g in self.groups() if i % num_shards == shard]
        for method in dict.fromkeys(g.method for _, g in mine):  # fail before any work on an unknown method
            self.backend.method_spec(method)
        for model_name in self.profile.models:
            rows = [g for m, g in mine if m == model_name]
            if not rows:
                continue
            model, weights = self.backend.load_model(model_name, self.profile.allow_random_init, self.profile.seed)
            model = model.to(self.device).eval()
            with torch.no_grad():
                probe = torch.as_tensor(self.samples("test").x[:1], device=self.device)
                num_classes = int(model(probe).shape[1])
            self.models_info[model_name] = {"weights": weights, "num_classes": num_classes}
            context = ModelContext(name=model_name, num_classes=num_classes)
            for grid in rows:
                self.run_row(model_name, model, context, grid)

    # ---------------------------------------------------------------- one table row
    def candidates(self, model: nn.Module, grid: MethodGrid) -> list[dict[str, Any]]:
        spec = self.backend.method_spec(grid.method)
        grid_values = {k: tuple(v) for k, v in grid.grid.items()}
        fixed = dict(grid.fixed)
        uses_layer = "layer" in grid_values or "layer" in fixed
        if uses_layer and not getattr(spec, "needs_layer", False):
            raise ValueError(f"method {grid.method!r} takes no layer, but row {grid.name!r} sets one")
        if uses_layer:
            example = torch.as_tensor(self.samples("test").x[:1], device=self.device)
            valid = self.backend.layer_candidates(model, spec, example)
            if "layer" in grid_values:
                layers: list[str] = []
                for rule in grid_values["layer"]:
                    for layer in resolve_layer_rule(rule, valid):
                        if layer not in layers:
                            layers.append(layer)
                grid_values["layer"] = tuple(layers)
            if "layer" in fixed:
                resolved = resolve_layer_rule(fixed["layer"], valid)
                if len(resolved) != 1:
                    raise ValueError(f"row {grid.name!r}: a fixed layer must resolve to one layer, {fixed['layer']!r} gives {resolved}")
                fixed["layer"] = resolved[0]
        accepted = getattr(spec, "parameters", None)
        candidates = [{**fixed, **combo} for combo in expand_grid(grid_values)]
        if accepted is not None:
            unknown = sorted(set(candidates[0]) - set(accepted))
            if unknown:
                raise ValueError(
                    f"row {grid.name!r}: method {grid.method!r} has no parameter(s) {unknown}; it accepts {sorted(accepted)}"
                )
        return candidates

    def run_row(self, model_name: str, model: nn.Module, context: ModelContext, grid: MethodGrid) -> None:
        candidates = self.candidates(model, grid)
        keys = [config_key(c) for c in candidates]
        if len(set(keys)) != len(keys):
            raise ValueError(f"row {grid.name!r}: candidate configurations repeat: {keys}")
        selection = self.store.read_selection(model_name, grid.name)
        if selection is None:
            if len(candidates) == 1:
                table = pd.DataFrame({"candidate": [0], "config": keys, "criterion": "single candidate",
                                      "criterion_value": [np.nan], "n_val": [0], "chosen": [True]})
            else:
                for params in candidates:
                    self.run_units(model_name, model, context, "val", grid, params, self.selection_metrics)
                val = self.store.read_units(model_name, "val", grid.name)
                table = select_configuration(val, keys, self.selection_outputs, self.directions, self.profile.selection_criterion)
            table.insert(0, "method", grid.name)
            table.insert(0, "model", model_name)
            table.insert(4, "params", [json.dumps(c, sort_keys=True) for c in candidates])
            self.store.write_selection(model_name, grid.name, table)
            selection = self.store.read_selection(model_name, grid.name)
        chosen = selection[selection["chosen"].astype(bool)]
        if len(chosen) != 1 or chosen["config"].iloc[0] not in keys:
            raise RuntimeError(
                f"{self.store.selection_path(model_name, grid.name)} does not match the profile's candidates; "
                "it was written by a different profile - use a fresh output folder"
            )
        params = candidates[keys.index(chosen["config"].iloc[0])]
        self.run_units(model_name, model, context, "test", grid, params, self.profile.metrics)

    # ---------------------------------------------------------------- units
    def evaluator(self, metric: str, context: ModelContext, split: str) -> MetricEvaluator:
        return build_metric(metric, metric_params_for(self.profile, metric, split), context)

    def run_units(self, model_name: str, model: nn.Module, context: ModelContext, split: str, grid: MethodGrid,
                  params: dict[str, Any], metric_names: Sequence[str]) -> None:
        samples = self.samples(split)
        config = config_key(params)
        evaluators = [self.evaluator(m, context, split) for m in metric_names]
        size = self.profile.chunk_size
        chunks = [np.arange(start, min(start + size, len(samples))) for start in range(0, len(samples), size)]
        units = [(ci, ev, WorkUnit(model_name, split, grid.name, config, ev.name, ci)) for ci in range(len(chunks)) for ev in evaluators]
        done = sum(self.store.has(u) for _, _, u in units)
        if done == len(units):
            return
        from tqdm.auto import tqdm

        desc = f"{model_name} | {split} | {grid.name} [{config}]"
        with tqdm(total=len(units), initial=done, desc=desc, disable=not self.progress, leave=False) as bar:
            maps_by_chunk: dict[int, np.ndarray | _ExplainFailure] = {}
            for ci, ev, unit in units:
                if self.store.has(unit):
                    continue
                if self.max_units is not None and self.units_computed >= self.max_units:
                    raise UnitBudgetExhausted
                bar.set_postfix_str(ev.name)
                needs_maps = not ev.needs_explain_func
                if needs_maps and ci not in maps_by_chunk and ev.skip_reason(model) is None:
                    maps_by_chunk[ci] = self.explain_chunk(model, samples, chunks[ci], grid, params, unit)
                rows = self.compute_unit(unit, ev, model, samples, chunks[ci], maps_by_chunk.get(ci), grid, params)
                self.store.write_unit(unit, rows)
                self.units_computed += 1
                bar.update(1)

    def explain_chunk(self, model: nn.Module, samples: Samples, chunk: np.ndarray, grid: MethodGrid,
                      params: Mapping[str, Any], unit: WorkUnit) -> np.ndarray | _ExplainFailure:
        seed_everything(derive_seed(self.profile.seed, "explain", unit.model, unit.split, unit.method, unit.config, unit.chunk))
        x = torch.as_tensor(samples.x[chunk], device=self.device)
        targets = torch.as_tensor(samples.y[chunk], device=self.device)
        try:
            maps = self.backend.explain(model, x, targets, grid.method, **params)
        except Exception as error:  # recorded per sample unless on_error == "raise"
            if self.on_error == "raise":
                raise
            return _ExplainFailure(_failure_status(error, "explain"))
        maps = maps.detach().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps)
        if maps.shape != (len(chunk), 1, *samples.x.shape[2:]):
            raise ValueError(
                f"method {grid.method!r} returned maps of shape {maps.shape}; expected {(len(chunk), 1, *samples.x.shape[2:])}"
            )
        return maps

    def compute_unit(self, unit: WorkUnit, evaluator: MetricEvaluator, model: nn.Module, samples: Samples,
                     chunk: np.ndarray, maps: np.ndarray | _ExplainFailure | None, grid: MethodGrid,
                     params: Mapping[str, Any]) -> pd.DataFrame:
        seed = derive_seed(self.profile.seed, unit.model, unit.split, unit.method, unit.config, unit.metric, unit.chunk)
        headline = [o.name for o in evaluator.outputs()]
        category = evaluator.category
        records: list[dict[str, Any]] = []

        def add(sample_positions: Iterable[int], output: str, scores: Iterable[float] | None, status: str) -> None:
            values = list(scores) if scores is not None else None
            for j, pos in enumerate(sample_positions):
                score = float(values[j]) if values is not None else np.nan
                final_status = status
                if status == STATUS_OK and not np.isfinite(score):
                    final_status = "non-finite"
                records.append({"model": unit.model, "split": unit.split, "method": unit.method, "config": unit.config,
                                "metric": output, "category": category, "sample": int(samples.ids[pos]),
                                "target": int(samples.y[pos]), "score": score, "status": final_status, "seed": seed})

        reason = evaluator.skip_reason(model)
        if reason is not None:
            for output in headline:
                add(chunk, output, None, f"skipped: {reason}")
            return self._frame(records)
        keep = np.ones(len(chunk), dtype=bool)
        if evaluator.needs_mask:  # Quantus would score an empty mask (PointingGame: as a hit)
            keep = samples.s[chunk].reshape(len(chunk), -1).sum(axis=1) > 0
            for output in headline:
                add(chunk[~keep], output, None, STATUS_EMPTY_MASK)
        valid = chunk[keep]
        if isinstance(maps, _ExplainFailure):
            for output in headline:
                add(valid, output, None, maps.message)
            return self._frame(records)
        if len(valid):
            chunk_maps = None if maps is None else maps[keep]
            try:
                results = self._call_metric(evaluator, seed, model, samples, valid, chunk_maps, grid, params)
                for output, values in results.items():
                    add(valid, output, values, STATUS_OK)
            except Exception:
                if self.on_error == "raise":
                    raise
                # retry sample by sample so that one degenerate map does not sink the whole chunk
                for j, pos in enumerate(valid):
                    single_maps = None if chunk_maps is None else chunk_maps[j : j + 1]
                    try:
                        results = self._call_metric(evaluator, seed, model, samples, valid[j : j + 1], single_maps, grid, params)
                        for output, values in results.items():
                            add([pos], output, values, STATUS_OK)
                    except Exception as single_error:
                        for output in headline:
                            add([pos], output, None, _failure_status(single_error))
        return self._frame(records)

    @staticmethod
    def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame.from_records(records, columns=SCORE_COLUMNS)

    def _call_metric(self, evaluator: MetricEvaluator, seed: int, model: nn.Module, samples: Samples, rows: np.ndarray,
                     maps: np.ndarray | None, grid: MethodGrid, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        seed_everything(seed)
        results = evaluator.compute(
            model=model,
            x=samples.x[rows],
            y=samples.y[rows],
            a=maps,
            s=samples.s[rows],
            explain_func=self.backend.quantus_explain_func,
            explain_func_kwargs={"method": grid.method, **params},
            device=self.device,
        )
        for output, values in results.items():
            if np.shape(values) != (len(rows),):
                raise ValueError(f"metric {evaluator.name} output {output!r} gave {np.shape(values)} scores for {len(rows)} samples")
        return results


# --------------------------------------------------------------------------------------------
# metadata, finalisation, public entry points
# --------------------------------------------------------------------------------------------


def _sort_scores(scores: pd.DataFrame) -> pd.DataFrame:
    if scores.empty:
        return scores[SCORE_COLUMNS]
    ordered = scores.assign(_split=scores["split"].map({s: i for i, s in enumerate(SPLITS)}))
    ordered = ordered.sort_values(["model", "_split", "method", "config", "metric", "sample"], kind="mergesort")
    return ordered.drop(columns="_split")[SCORE_COLUMNS].reset_index(drop=True)


def finalize(out_dir: str | Path, profile: EvaluationProfile, metadata: dict[str, Any]) -> EvaluationResult:
    """Assemble ``scores.csv``, ``selection.csv``, the tables and ``metadata.json`` from the unit files."""
    store = ResultStore(out_dir)
    outputs = profile_outputs(profile)
    directions = {name: o.direction for name, o in outputs.items()}
    scores = _sort_scores(store.read_units())
    scores.to_csv(store.root / "scores.csv", index=False)
    selection = store.read_all_selections()
    if not selection.empty:
        selection = selection.sort_values(["model", "method", "candidate"], kind="mergesort").reset_index(drop=True)
    selection.to_csv(store.root / "selection.csv", index=False)

    test = scores[scores["split"] == "test"]
    if not selection.empty and not test.empty:
        chosen = selection[selection["chosen"].astype(bool)][["model", "method", "config"]]
        test = test.merge(chosen, on=["model", "method", "config"], how="inner")
    summary = tables_module.summarize(test, directions)
    status = status_summary(scores)
    notes = []
    for key, value in status["dropped_samples"].items():
        notes.append(f"- {key}: {value} image(s) with an empty mask dropped from the localisation metrics.")
    for key, value in status["skipped"].items():
        notes.append(f"- {key}: {value}")
    if status["failed_rows"]:
        notes.append(f"- {status['failed_rows']} score(s) failed; see the status column of scores.csv.")
    if notes:
        notes.insert(0, "Notes:\n")
    label_order = [g.name for g in profile.methods]
    paths = tables_module.write_tables(
        summary,
        store.root,
        models=list(profile.models),
        metric_order=list(outputs),
        method_order=label_order,
        directions=directions,
        title=f"Evaluation ({profile.name} profile): mean \u00b1 std over test images",
        notes=notes,
    )
    metadata.update(status)
    store.write_metadata(metadata)
    table = pd.read_csv(paths["csv"])
    paths.update({"scores": store.root / "scores.csv", "selection": store.root / "selection.csv", "metadata": store.metadata_path})
    return EvaluationResult(out_dir=store.root, complete=bool(metadata.get("complete")), scores=scores,
                            selection=selection, table=table, metadata=metadata, paths=paths)


def _check_shard(shard: int, num_shards: int) -> None:
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")


def evaluate(
    profile: str | EvaluationProfile = "smoke",
    out_dir: str | Path = "results/evaluation",
    *,
    shard: int = 0,
    num_shards: int = 1,
    data_dir: str | None = None,
    device: str | None = None,
    backend: EvaluationBackend | None = None,
    max_units: int | None = None,
    progress: bool = True,
    on_error: str = "record",
) -> EvaluationResult:
    """Run (or resume) the evaluation of ``profile`` into ``out_dir`` (paper sections D, E).

    Args:
        profile: ``"smoke"``, ``"default"``, ``"paper"`` or an :class:`EvaluationProfile`.
        out_dir: output folder; an existing folder of the same profile and shard is resumed.
        shard, num_shards: evaluate only the (model, method) rows with index ``shard mod num_shards``;
            combine shard folders with :func:`merge`.
        data_dir: dataset folder (ImageNet-S for the paper profile).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``; default: the profile's.
        backend: where models, data and explanations come from (default: the library).
        max_units: stop after computing this many work units (the run is then incomplete and can be
            resumed); for tests and time-boxed jobs.
        progress: show tqdm progress bars (one per model, split and method; postfix = metric).
        on_error: ``"record"`` stores failed scores with a ``failed: ...`` status; ``"raise"`` stops.

    Returns:
        :class:`EvaluationResult`; ``complete`` is False when ``max_units`` stopped the run.
    """
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    profile = get_profile(profile)
    _check_shard(shard, num_shards)
    device = select_device(device or profile.device)
    store = ResultStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    store.clean_temporary_files()
    metadata = store.read_metadata()
    fresh = new_metadata(profile, shard, num_shards, device)
    if metadata is None:
        metadata = fresh
    else:
        for key in ("profile", "shard", "num_shards"):
            if metadata.get(key) != fresh[key]:
                raise ValueError(
                    f"{store.root} holds results of another run ({key} differs: {metadata.get(key)!r} vs {fresh[key]!r}); "
                    "use a fresh --out folder to start a new evaluation"
                )
        if metadata.get("versions") != fresh["versions"]:
            warnings.warn(f"resuming {store.root} with different package versions than its first run", stacklevel=2)
    run_record: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                  "device": device, "torch_threads": torch.get_num_threads(),
                                  "versions": fresh["versions"]}
    metadata["runs"].append(run_record)
    store.write_metadata(metadata)

    run = _Run(profile, store, backend or default_backend(), device, data_dir, max_units, progress, on_error)
    started = time.perf_counter()
    complete = False
    try:
        run.execute(shard, num_shards)
        complete = True
    except UnitBudgetExhausted:
        complete = False
    finally:
        run_record.update({"wall_time_s": round(time.perf_counter() - started, 3), "units_computed": run.units_computed,
                           "finished": complete})
        metadata["models"] = {**metadata.get("models", {}), **run.models_info}
        metadata["wall_time_s"] = round(sum(r.get("wall_time_s", 0.0) for r in metadata["runs"]), 3)
        metadata["complete"] = complete
        store.write_metadata(metadata)
    result = finalize(store.root, profile, metadata)
    result.units_computed = run.units_computed
    return result


def merge(shard_dirs: Sequence[str | Path], out_dir: str | Path, *, allow_incomplete: bool = False) -> EvaluationResult:
    """Combine the folders of ``evaluate(..., shard=i, num_shards=n)`` runs into one result.

    All shards ``0..n-1`` of one profile must be given, each complete (unless ``allow_incomplete``).
    The merged tables equal those of a single unsharded run.
    """
    if not shard_dirs:
        raise ValueError("merge needs at least one shard folder")
    out = Path(out_dir).resolve()
    stores = [ResultStore(Path(d)) for d in shard_dirs]
    if any(s.root.resolve() == out for s in stores):
        raise ValueError("the merge output folder must differ from the shard folders")
    metadatas = []
    for store in stores:
        meta = store.read_metadata()
        if meta is None:
            raise ValueError(f"{store.root} has no metadata.json: it is not an evaluation output folder")
        metadatas.append(meta)
    first = metadatas[0]
    for store, meta in zip(stores, metadatas):
        if meta["profile"] != first["profile"]:
            raise ValueError(f"{store.root} was run with a different profile than {stores[0].root}; cannot merge")
        if meta["num_shards"] != first["num_shards"]:
            raise ValueError(f"{store.root} has num_shards={meta['num_shards']}, {stores[0].root} has {first['num_shards']}")
        if not meta.get("complete") and not allow_incomplete:
            raise ValueError(f"{store.root} (shard {meta['shard']}) is incomplete; resume it first or pass allow_incomplete")
    shards = sorted(m["shard"] for m in metadatas)
    expected = list(range(first["num_shards"]))
    if shards != expected and not allow_incomplete:
        raise ValueError(f"merge needs shards {expected} exactly once each, got {shards}")

    target = ResultStore(out)
    copy_results(stores, target)

    profile = EvaluationProfile.from_dict(first["profile"])
    merged = merged_metadata([str(s.root) for s in stores], metadatas, shards == expected)
    return finalize(target.root, profile, merged)
