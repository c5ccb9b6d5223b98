"""The evaluation loop: methods x models x metrics, per-sample scores, resumable and shardable.

Paper sections D (setup) and E (results). ``evaluate(profile, out_dir)`` runs, for every model and
every method row of the profile (:class:`~.profiles.MethodGrid`):

1. **selection** (digest D.5): every candidate configuration of the method's grid is evaluated on
   the validation split with the metrics of the selection criterion; the criterion (default: mean
   rank over AUC@5, AUC@20, Selectivity, AttributionLocalisation, PointingGame, MaxSensitivity) picks
   one configuration, ties going to the earlier candidate (all written to ``selection.csv``; a single
   candidate is not evaluated on the validation split).
2. **test**: the chosen configuration is evaluated on the test split with every metric of the profile,
   and the row's registered defaults with ``profile.defaults_metrics`` (the table without selection).
3. **fresh** (profiles with ``fresh_test``, rows of the confirmatory family only): the chosen configuration on a
   second test split drawn once the protocol was frozen, with the headline metrics (:mod:`.fresh_split`).

The rooms of the evaluation: :mod:`.backend` (models, data and methods of a profile),
:mod:`.selection` (the selection protocol), :mod:`.store` (the files of an output folder),
:mod:`.metadata` (what ``metadata.json`` records), :mod:`.metrics` (the metric catalogue), :mod:`.tables`;
this module holds the loop, :func:`evaluate`, :func:`finalize` and :func:`merge`.

Quantus metric classes are called directly (:mod:`.metrics`); re-explaining metrics get
``hm.quantus_explain_func`` with the configuration's parameters, the others precomputed maps.

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
    shard, so shards never wait for each other; :func:`merge` combines shard folders. ``workers`` (:mod:`.parallel`)
    and ``dask`` (:mod:`.dask_backend`: a Dask cluster, local or on Slurm) spread the rows without sharding by hand.
Outputs
    ``scores.csv`` (tidy: model, split, method, config, metric, category, sample, target, score,
    status, seed), ``selection.csv``, ``metadata.json`` (with CPU / wall ``seconds`` per model x row),
    ``table.md/.tex/.csv``, ``comparisons.csv`` (:mod:`.tables`). ``status`` is ``ok``, ``dropped: empty
    mask``, ``skipped: <reason>``, ``failed: <error>`` or ``non-finite``; only ``ok`` rows enter the tables.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..environment import seed_everything
from ..progress import report_progress
from .backend import (EvaluationBackend, Samples, check_data_dir, correctly_classified, default_backend, loader_profile,
                      model_test_filter, profile_model)
from .fresh_split import FRESH, check_fresh_split, fresh_plan, load_split
from .metadata import Timings, check_shards, merged_metadata, new_metadata
from .metrics import MetricEvaluator, ModelContext, build_metric
from .dask_backend import check_dask, describe, execute_in_dask, resolve_device
from .parallel import check_arguments, check_workers, execute_in_workers  # noqa: F401 (check_arguments: API)
from .profiles import EvaluationProfile, MethodGrid, get_profile
from .provenance import data_fingerprint, model_fingerprint, resume_metadata, run_fingerprint, stored_metadata
from .results import EvaluationResult, finalize
from .selection import (candidate_configurations, metric_params_for, profile_outputs, select_configuration,
                        selection_metric_names)
from .store import (SCORE_COLUMNS, STATUS_EMPTY_MASK, STATUS_OK, EvaluationSetupError, FolderLock, OutputFolderError,
                    ResultStore, WorkUnit, config_key, copy_results, derive_seed, make_output_folder,
                    prepare_merge_folder)

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
        self._model_test: Samples | None = None  # the current model's test split under test_filter "correct"
        self.fresh_rows, self.fresh_metrics = fresh_plan(profile)
        self.models_info: dict[str, dict[str, Any]] = {}
        self.seconds = Timings()  # CPU and wall seconds per "model/row" and split, and per metric

    # ---------------------------------------------------------------- data and models
    def samples(self, split: str) -> Samples:
        if split == "test" and self._model_test is not None:
            return self._model_test
        if split not in self._samples:
            n = self.profile.n_val if split == "val" else self.profile.n_test
            if split == "test" and model_test_filter(self.profile):  # filtered per model first, then cut to n_test
                n = None
            dataset = load_split(self.backend, loader_profile(self.profile), split, self.data_dir)
            self._samples[split] = Samples.from_dataset(dataset, split, n)
        return self._samples[split]

    def groups(self) -> list[tuple[int, str, MethodGrid]]:
        rows = [(m, g) for m in self.profile.models for g in self.profile.methods]
        return [(i, m, g) for i, (m, g) in enumerate(rows)]

    def my_rows(self, shard: int, num_shards: int) -> list[tuple[str, MethodGrid]]:
        return [(m, g) for i, m, g in self.groups() if i % num_shards == shard]

    def prepare(self, shard: int, num_shards: int, rows: Sequence[tuple[str, MethodGrid]] | None = None) -> None:
        """Check the methods, load the data and the models of this shard's rows (or of ``rows``), before any work
        unit: their fingerprints are compared with the output folder's first (:mod:`.provenance`)."""
        mine = self.my_rows(shard, num_shards) if rows is None else list(rows)
        for method in dict.fromkeys(g.method for _, g in mine):  # fail before any work on an unknown method
            self.backend.method_spec(method)
        self.samples("test")
        if self.profile.n_val != 0:
            self.samples("val")
        if self.fresh_rows:  # loaded (and fingerprinted) by every shard, compared with the other splits' images
            self.samples(FRESH)
            check_fresh_split(self.profile, {split: samples.x for split, samples in self._samples.items()})
        self._models: dict[str, tuple[nn.Module, str]] = {}
        self._ready: dict[str, tuple[nn.Module, ModelContext, Samples | None]] = {}
        self.model_fingerprints: dict[str, str] = {}
        for model_name in dict.fromkeys(m for m, _ in mine):
            model, weights = profile_model(self.backend, self.profile, model_name)
            self.model_fingerprints[model_name] = model_fingerprint(model)
            self._models[model_name] = (model, weights)

    def fingerprint(self, profile_description: Mapping[str, Any], versions: Mapping[str, str]) -> dict[str, Any]:
        """What this run's results depend on (:func:`.provenance.run_fingerprint`); after :meth:`prepare`."""
        data = {split: data_fingerprint(samples.x, samples.y, samples.s) for split, samples in self._samples.items()}
        return run_fingerprint(profile_description, versions, self.model_fingerprints, data)

    def execute(self, shard: int, num_shards: int, rows: Sequence[tuple[str, MethodGrid]] | None = None,
                keep_models: bool = False, chunks: Sequence[int] | None = None) -> None:
        """Run the rows of this shard (or the given ``rows``, and of them the test chunks ``chunks``), model by model in
        profile order. ``keep_models``: keep every model ready once set up (for a worker of :mod:`.parallel`)."""
        mine = self.my_rows(shard, num_shards) if rows is None else list(rows)
        for model_name in self.profile.models:
            for grid in [g for m, g in mine if m == model_name]:
                model, context = self.ready_model(model_name, keep_models)
                self.run_row(model_name, model, context, grid, chunks)

    def ready_model(self, model_name: str, keep_models: bool) -> tuple[nn.Module, ModelContext]:
        """The model on the device in eval mode, its context, and its test split (test_filter "correct")."""
        if model_name not in self._ready:
            if not keep_models:
                self._ready.clear()  # one model in memory at a time
            model, weights = self._models.pop(model_name)
            model = model.to(self.device).eval()
            model_test = None
            if model_test_filter(self.profile):
                self._model_test = None
                model_test = correctly_classified(model, self.samples("test"), self.profile.n_test, self.device,
                                                  model_name, self.profile.chunk_size)
            self._model_test = model_test
            with torch.no_grad():
                probe = torch.as_tensor(self.samples("test").x[:1], device=self.device)
                num_classes = int(model(probe).shape[1])
            self.models_info[model_name] = {"weights": weights, "num_classes": num_classes,
                                            "test_images": len(self.samples("test"))}
            self._ready[model_name] = (model, ModelContext(name=model_name, num_classes=num_classes), model_test)
        model, context, self._model_test = self._ready[model_name]
        return model, context

    # ---------------------------------------------------------------- one table row
    def run_row(self, model_name: str, model: nn.Module, context: ModelContext, grid: MethodGrid,
                chunks: Sequence[int] | None = None) -> None:
        """Selection (or its stored decision), then the units of ``chunks`` (None: all) of the chosen configuration
        on the test split, the defaults and the fresh split (:mod:`.parallel` runs a row's chunks in parts)."""
        spec = self.backend.method_spec(grid.method)
        example = torch.as_tensor(self.samples("test").x[:1], device=self.device)
        candidates = candidate_configurations(grid, spec, lambda: self.backend.layer_candidates(model, spec, example))
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
        self.run_units(model_name, model, context, "test", grid, params, self.profile.metrics, chunks=chunks)
        if self.profile.defaults_metrics:  # the table "at registered defaults, no selection"
            defaults = grid.default_parameters()
            cut = None if self.profile.defaults_images is None else math.ceil(self.profile.defaults_images / self.profile.chunk_size)
            part = chunks if cut is None else [c for c in (range(cut) if chunks is None else chunks) if c < cut]
            self.run_units(model_name, model, context, "test", grid, defaults, self.profile.defaults_metrics,
                           timing_key="defaults", chunks=part)
        if grid.name in self.fresh_rows:  # the same chosen configuration on the fresh split: no new selection
            self.run_units(model_name, model, context, FRESH, grid, params, self.fresh_metrics, chunks=chunks)

    # ---------------------------------------------------------------- units
    def evaluator(self, metric: str, context: ModelContext, split: str) -> MetricEvaluator:
        return build_metric(metric, metric_params_for(self.profile, metric, split), context)

    def run_units(self, model_name: str, model: nn.Module, context: ModelContext, split: str, grid: MethodGrid,
                  params: dict[str, Any], metric_names: Sequence[str], timing_key: str | None = None,
                  chunks: Sequence[int] | None = None) -> None:
        samples = self.samples(split)
        config = config_key(params)
        evaluators = [self.evaluator(m, context, split) for m in metric_names]
        size = self.profile.chunk_size
        indices = [np.arange(start, min(start + size, len(samples))) for start in range(0, len(samples), size)]
        wanted = range(len(indices)) if chunks is None else [ci for ci in chunks if ci < len(indices)]
        units = [(ci, ev, WorkUnit(model_name, split, grid.name, config, ev.name, ci)) for ci in wanted for ev in evaluators]
        pending = self.store.pending([u for _, _, u in units])
        if not pending:
            return
        from tqdm.auto import tqdm

        desc = f"{model_name} | {split} | {grid.name} [{config}]"
        done = len(units) - len(pending)
        with tqdm(total=len(units), initial=done, desc=desc, disable=not self.progress, leave=False) as bar:
            maps_by_chunk: dict[int, np.ndarray | _ExplainFailure] = {}
            for ci, ev, unit in units:
                if unit not in pending:
                    continue
                if self.max_units is not None and self.units_computed >= self.max_units:
                    raise UnitBudgetExhausted
                bar.set_postfix_str(ev.name)
                # precomputed maps (or their failure) only go to metrics that use them; re-explaining metrics
                # call the explain function themselves (unless the profile reuses explanations), so their status
                # never depends on the unit order
                uses_maps = not ev.needs_explain_func or self.profile.reuse_explanations
                needs_maps = uses_maps and ev.skip_reason(model) is None
                cpu, wall = time.process_time(), time.perf_counter()
                if needs_maps and ci not in maps_by_chunk:
                    maps_by_chunk[ci] = self.explain_chunk(model, samples, indices[ci], grid, params, unit)
                maps = maps_by_chunk[ci] if needs_maps else None
                rows = self.compute_unit(unit, ev, model, samples, indices[ci], maps, grid, params)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                self.seconds.add(f"{model_name}/{grid.name}", timing_key or split, cpu, wall)
                self.seconds.add(f"metric/{split}/{ev.name}", "unit", cpu, wall)
                self.store.write_unit(unit, rows)
                self.units_computed += 1
                bar.update(1)
                done += 1  # tqdm does not count when disabled (progress=False)
                report_progress(run=str(self.store.root), task=desc, task_done=done, task_total=len(units),
                                units_computed=self.units_computed)

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


def _setup(profile: str | EvaluationProfile, device: str | None, data_dir: str | None,
           default_data: bool, dask: Any = None) -> tuple[EvaluationProfile, str]:
    """The profile and the device, checked in this order: profile, data folder, device."""
    try:
        profile = get_profile(profile)
        if default_data:
            check_data_dir(profile, data_dir)
        return profile, resolve_device(device or profile.device, dask)
    except EvaluationSetupError:
        raise
    except ValueError as error:
        raise EvaluationSetupError(str(error)) from None


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
    restart: bool = False,
    workers: int | str = 1,
    dask: Any = None,
) -> EvaluationResult:
    """Run (or resume) the evaluation of ``profile`` into ``out_dir`` (paper sections D, E).

    Args:
        profile: ``"smoke"``, ``"default"``, ``"paper"`` or an :class:`EvaluationProfile`.
        out_dir: output folder; an existing folder of the same profile and shard is resumed (damaged
            unit and selection files are recomputed, with a warning naming each). One run at a time:
            a folder in use by another run raises :class:`~.store.OutputFolderError`.
        shard, num_shards: evaluate only the (model, method) rows with index ``shard mod num_shards``;
            combine shard folders with :func:`merge`.
        data_dir: dataset folder (ImageNet-S for the paper profile).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``; default: the profile's.
        backend: where models, data and explanations come from (default: the library).
        max_units: stop after computing this many work units (the run is then incomplete and can be
            resumed); for tests and time-boxed jobs.
        progress: show tqdm progress bars (one per model, split and method; postfix = metric).
        on_error: ``"record"`` stores failed scores with a ``failed: ...`` status; ``"raise"`` stops.
        restart: what to do when ``out_dir`` holds results computed from something else than this run uses
            (another profile, other weights, data, library code or package versions: :mod:`.provenance`).
            ``False`` (default): stop with an error naming what changed. ``True``: recompute in place what changed
            (the changed models' results when only weights changed, else everything), with a warning.
        workers: processes that share the rows (:mod:`.parallel`; same results as 1, which runs in this process);
            ``"auto"``: one per CPU core on the CPU, 1 on a GPU.
        dask: run the work units as Dask tasks (:mod:`.dask_backend`): a scheduler address, a number of local worker
            processes, a ``distributed.Client`` or a Dask cluster (:func:`.dask_backend.slurm_cluster`).

    Returns:
        :class:`EvaluationResult`; ``complete`` is False when ``max_units`` stopped the run.

    A run that fails before it finished any work unit removes the output folder again if it created it.
    """
    check_arguments(shard, num_shards, max_units, on_error)
    if not isinstance(restart, bool):
        raise EvaluationSetupError(f"restart must be True or False, got {restart!r}")
    profile, device = _setup(profile, device, data_dir, default_data=backend is None, dask=dask)
    workers = check_workers(workers, max_units, device)
    check_dask(dask, workers, max_units)
    store = ResultStore(out_dir)
    created = make_output_folder(store.root)
    run: _Run | None = None
    try:
        with FolderLock(store.root):
            store.clean_temporary_files()
            fresh = new_metadata(profile, shard, num_shards, device)
            stored = stored_metadata(store, fresh, restart)
            run = _Run(profile, store, backend or default_backend(), device, data_dir, max_units, progress, on_error)
            run.prepare(shard, num_shards)
            fresh["fingerprint"] = run.fingerprint(fresh["profile"], fresh["versions"])
            metadata = resume_metadata(store, stored, fresh, restart)
            _execute(run, store, metadata, shard, num_shards, fresh, workers, dask)
            result = finalize(store.root, profile, metadata)
    except BaseException:
        if created and (run is None or run.units_computed == 0):
            shutil.rmtree(store.root, ignore_errors=True)  # a failed start leaves no empty folder behind
        raise
    result.units_computed = run.units_computed
    return result


def _execute(run: _Run, store: ResultStore, metadata: dict[str, Any], shard: int, num_shards: int,
             fresh: dict[str, Any], workers: int, dask: Any = None) -> None:
    """Run the loop and record the run (start, device, wall time, units, finished) in ``metadata``."""
    run_record: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                  "device": run.device, "torch_threads": torch.get_num_threads(), "workers": workers,
                                  "versions": fresh["versions"], **({"dask": describe(dask)} if dask is not None else {})}
    metadata["runs"].append(run_record)
    store.write_metadata(metadata)
    started = time.perf_counter()
    complete = False
    expected = {"profile_description": fresh["profile"], "versions": fresh["versions"], "fingerprint": fresh["fingerprint"]}
    try:
        if dask is not None:
            execute_in_dask(run, run.my_rows(shard, num_shards), dask, expected_fingerprint=expected)
        elif workers == 1:
            run.execute(shard, num_shards)
        else:
            execute_in_workers(run, run.my_rows(shard, num_shards), workers, expected_fingerprint=expected)
        complete = True
    except UnitBudgetExhausted:
        complete = False
    finally:
        run_record.update({"wall_time_s": round(time.perf_counter() - started, 3), "units_computed": run.units_computed,
                           "finished": complete})
        metadata["models"] = {**metadata.get("models", {}), **run.models_info}
        metadata["seconds"] = run.seconds.added_to(metadata.get("seconds", {}))
        metadata["wall_time_s"] = round(sum(r.get("wall_time_s", 0.0) for r in metadata["runs"]), 3)
        metadata["complete"] = complete
        store.write_metadata(metadata)


def merge(shard_dirs: Sequence[str | Path], out_dir: str | Path, *, allow_incomplete: bool = False,
          overwrite: bool = False) -> EvaluationResult:
    """Combine the folders of ``evaluate(..., shard=i, num_shards=n)`` runs into one result.

    All shards ``0..n-1`` of one profile must be given, each complete (unless ``allow_incomplete``).
    The merged tables equal those of a single unsharded run. ``out_dir`` must be empty or new, or hold
    an earlier merge of the same shard folders (it is then redone); ``overwrite=True`` replaces the
    results of whatever evaluation it holds.
    """
    if not shard_dirs:
        raise ValueError("merge needs at least one shard folder")
    out = Path(out_dir).resolve()
    stores = [ResultStore(Path(d)) for d in shard_dirs]
    if any(s.root.resolve() == out for s in stores):
        raise OutputFolderError("the merge output folder must differ from the shard folders")
    metadatas = []
    for store in stores:
        meta = store.read_metadata()
        if meta is None:
            raise OutputFolderError(f"{store.root} has no metadata.json: it is not an evaluation output folder")
        metadatas.append(meta)
    all_shards = check_shards(stores, metadatas, allow_incomplete)
    target = ResultStore(out)
    created = make_output_folder(target.root)
    try:
        with FolderLock(target.root):
            prepare_merge_folder(target, stores, overwrite)
            profile = EvaluationProfile.from_dict(metadatas[0]["profile"])
            merged = merged_metadata([str(s.root) for s in stores], metadatas, all_shards)
            # written first, so that a merge killed while copying is recognised (and redone) by the next one
            target.write_metadata({**merged, "complete": False, "merge_in_progress": True})
            copy_results(stores, target)
            return finalize(target.root, profile, merged)
    except BaseException:
        if created:
            shutil.rmtree(target.root, ignore_errors=True)
        raise
