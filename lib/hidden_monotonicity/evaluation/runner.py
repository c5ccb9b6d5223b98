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

import hashlib
import json
import os
import platform
import re
import shutil
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..environment import seed_everything
from . import tables as tables_module
from .metrics import MetricEvaluator, MetricOutput, ModelContext, build_metric, metric_outputs, resolve_params
from ..methods.layers import conv_block_outputs, layer_candidates, resolve_layer_rule, spatial_modules, split_layer_candidates  # noqa: F401
from .profiles import SPLIT_METHODS, EvaluationProfile, MethodGrid, expand_grid, get_profile

SCORE_COLUMNS = ["model", "split", "method", "config", "metric", "category", "sample", "target", "score", "status", "seed"]
_TEXT_COLUMNS = {c: str for c in ("model", "split", "method", "config", "metric", "category", "status")}
SPLITS = ("val", "test")
STATUS_OK = "ok"
STATUS_EMPTY_MASK = "dropped: empty mask"
METADATA_FORMAT = 1
VERSION_PACKAGES = ("torch", "torchvision", "numpy", "quantus", "captum", "zennit", "grad-cam", "pandas", "scikit-image")


# --------------------------------------------------------------------------------------------
# backend: where models, data and explanations come from
# --------------------------------------------------------------------------------------------


@dataclass
class EvaluationBackend:
    """The pieces the runner uses; :func:`default_backend` wires the library, tests plug stand-ins.

    ``load_model(name, allow_random_init, seed) -> (model, weights description)``;
    ``load_split(profile, split, data_dir) -> LocalisationDataset`` (``.images``, ``.labels``,
    ``.masks``); ``explain(model, x, targets, method, **params) -> (N,1,H,W) tensor``;
    ``quantus_explain_func(model, inputs, targets, **kwargs) -> (N,1,H,W) array``;
    ``method_spec(name)`` -> object with ``.needs_layer`` and ``.parameters`` (dict, optional);
    ``layer_candidates(model, spec, example) -> [layer names]`` in network order (layer rules resolve
    on it; ``example`` is one input image batch on the model's device).
    """

    load_model: Callable[[str, bool, int], tuple[nn.Module, str]]
    load_split: Callable[[EvaluationProfile, str, str | None], Any]
    explain: Callable[..., torch.Tensor]
    quantus_explain_func: Callable[..., np.ndarray]
    method_spec: Callable[[str], Any]
    layer_candidates: Callable[[nn.Module, Any, torch.Tensor], list[str]]


def _load_library_model(name: str, allow_random_init: bool, seed: int) -> tuple[nn.Module, str]:
    from .. import models

    try:
        return models.load(name), "pretrained"
    except models.WeightsNotFoundError as error:
        if not allow_random_init:
            raise
        warnings.warn(f"{error} Using a randomly initialised {name} (seed {seed}) instead.", stacklevel=2)
        torch.manual_seed(seed)
        return models.load(name, weights=None), f"random init (seed {seed}): weights not found"


def _load_library_split(profile: EvaluationProfile, split: str, data_dir: str | None) -> Any:
    from .. import data

    n = profile.n_val if split == "val" else profile.n_test
    if profile.dataset == "digits":
        kwargs = dict(profile.dataset_kwargs)
        if n is not None:
            kwargs["n"] = n
        return data.digits_benchmark(split=split, **kwargs)
    if profile.dataset == "imagenet_s":
        if data_dir is None:
            raise ValueError(
                f"profile {profile.name!r} evaluates ImageNet-S-50: pass the dataset folder with "
                "--data-dir / data_dir=... (see hidden_monotonicity.data.imagenet_s for the layout)"
            )
        return data.imagenet_s(data_dir, split=split, **dict(profile.dataset_kwargs))
    raise ValueError(f"profile {profile.name!r}: unknown dataset {profile.dataset!r}; use 'digits' or 'imagenet_s'")


def default_backend() -> EvaluationBackend:
    """The library's models, data and methods (``hm.models``, ``hm.data``, ``hm.explain``)."""
    from ..methods import registry

    return EvaluationBackend(
        load_model=_load_library_model,
        load_split=_load_library_split,
        explain=registry.explain,
        quantus_explain_func=registry.quantus_explain_func,
        method_spec=registry.get_method,
        layer_candidates=layer_candidates,
    )


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def derive_seed(root: int, *parts: Any) -> int:
    """A 32-bit seed from the profile seed and a unit's identity (stable across runs and machines)."""
    digest = hashlib.sha256(json.dumps([root, *parts], sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def config_key(params: Mapping[str, Any]) -> str:
    """Canonical text of a configuration: ``"abs=False;alpha=0.4;layer=features.10"``."""
    if not params:
        return "default"
    return ";".join(f"{key}={params[key]}" for key in sorted(params))


def _safe_name(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if safe != text:
        safe += "-" + hashlib.sha1(text.encode()).hexdigest()[:6]
    return safe


def _config_digest(config: str) -> str:
    return hashlib.sha1(config.encode()).hexdigest()[:12]


def resolve_device(device: str | None) -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; anything else is checked and returned."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; pass --device cpu")
    torch.device(device)  # validates the string
    return device


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers (recorded in metadata.json)."""
    from .._version import __version__
    from ..environment import package_versions as installed_versions

    return {"python": platform.python_version(), **installed_versions(VERSION_PACKAGES), "hidden-monotonicity": __version__}


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


def _selection_metric_names(profile: EvaluationProfile, outputs: Mapping[str, MetricOutput]) -> tuple[list[str], list[str]]:
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


# --------------------------------------------------------------------------------------------
# selection protocol
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# storage of units, selections and metadata
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkUnit:
    """One resumable piece of work (see the module docstring)."""

    model: str
    split: str
    method: str
    config: str
    metric: str
    chunk: int


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class ResultStore:
    """Files of one output folder: finished units, selection decisions, metadata."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.units_dir = self.root / "units"
        self.selection_dir = self.root / "selection"

    def unit_path(self, unit: WorkUnit) -> Path:
        return (
            self.units_dir
            / _safe_name(unit.model)
            / unit.split
            / _safe_name(unit.method)
            / _config_digest(unit.config)
            / f"{unit.metric}-{unit.chunk:05d}.csv"
        )

    def has(self, unit: WorkUnit) -> bool:
        return self.unit_path(unit).is_file()

    def write_unit(self, unit: WorkUnit, rows: pd.DataFrame) -> None:
        _atomic_write_text(self.unit_path(unit), rows[SCORE_COLUMNS].to_csv(index=False))

    def read_units(self, model: str | None = None, split: str | None = None, method: str | None = None) -> pd.DataFrame:
        base = self.units_dir
        if model is not None:
            base = base / _safe_name(model)
            if split is not None:
                base = base / split
                if method is not None:
                    base = base / _safe_name(method)
        files = sorted(p for p in base.rglob("*.csv") if not p.name.startswith(".tmp-")) if base.is_dir() else []
        if not files:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})
        frame = pd.concat([pd.read_csv(p, dtype=_TEXT_COLUMNS, keep_default_na=False, na_values={"score": [""]}) for p in files],
                          ignore_index=True)
        if split is not None and model is None:
            frame = frame[frame["split"] == split]
        return frame

    def selection_path(self, model: str, method: str) -> Path:
        return self.selection_dir / _safe_name(model) / f"{_safe_name(method)}.csv"

    def read_selection(self, model: str, method: str) -> pd.DataFrame | None:
        path = self.selection_path(model, method)
        if not path.is_file():
            return None
        return pd.read_csv(path, dtype={"model": str, "method": str, "config": str, "params": str, "criterion": str})

    def write_selection(self, model: str, method: str, table: pd.DataFrame) -> None:
        _atomic_write_text(self.selection_path(model, method), table.to_csv(index=False))

    def read_all_selections(self) -> pd.DataFrame:
        files = sorted(self.selection_dir.rglob("*.csv")) if self.selection_dir.is_dir() else []
        files = [p for p in files if not p.name.startswith(".tmp-")]
        if not files:
            return pd.DataFrame(columns=["model", "method", "candidate", "config", "params", "criterion", "criterion_value", "chosen"])
        return pd.concat([pd.read_csv(p, dtype={"model": str, "method": str, "config": str, "params": str}) for p in files],
                         ignore_index=True)

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.json"

    def read_metadata(self) -> dict[str, Any] | None:
        if not self.metadata_path.is_file():
            return None
        return json.loads(self.metadata_path.read_text(encoding="utf-8"))

    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        _atomic_write_text(self.metadata_path, json.dumps(metadata, indent=2, sort_keys=False, default=str) + "\n")

    def clean_temporary_files(self) -> int:
        """Remove temporary files a killed run left behind; return how many."""
        count = 0
        for path in self.root.rglob(".tmp-*"):
            path.unlink(missing_ok=True)
            count += 1
        return count


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


class UnitBudgetExhausted(Exception):
    """Raised internally when ``max_units`` units have been computed in this call."""


@dataclass
class Samples:
    """One split as numpy arrays (Quantus's layout) plus sample indices."""

    split: str
    x: np.ndarray  # (N, 3, H, W) float32
    y: np.ndarray  # (N,) int64
    s: np.ndarray  # (N, 1, H, W) float32 in {0, 1}
    ids: np.ndarray  # (N,) int64, index within the split

    @classmethod
    def from_dataset(cls, dataset: Any, split: str, n: int | None) -> "Samples":
        total = len(dataset.labels)
        if n is not None and n > total:
            warnings.warn(f"the {split} split has {total} images, fewer than the {n} requested; using all", stacklevel=2)
        count = total if n is None else min(n, total)
        if count < total and hasattr(dataset, "subset"):
            dataset = dataset.subset(np.arange(count))
        images = torch.as_tensor(dataset.images)[:count]
        labels = torch.as_tensor(dataset.labels)[:count]
        masks = torch.as_tensor(dataset.masks)[:count]
        if images.ndim != 4 or masks.shape != (count, 1, *images.shape[2:]):
            raise ValueError(
                f"{split} split: images must be (N,C,H,W) and masks (N,1,H,W); got {tuple(images.shape)} and {tuple(masks.shape)}"
            )
        return cls(
            split=split,
            x=images.detach().cpu().numpy().astype(np.float32),
            y=labels.detach().cpu().numpy().astype(np.int64),
            s=masks.detach().cpu().numpy().astype(np.float32),
            ids=np.arange(count, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.y)


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
        self.selection_outputs, self.selection_metrics = _selection_metric_names(profile, self.outputs)
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


def _metrics_metadata(profile: EvaluationProfile) -> dict[str, Any]:
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


def _new_metadata(profile: EvaluationProfile, shard: int, num_shards: int, device: str) -> dict[str, Any]:
    return {
        "format": METADATA_FORMAT,
        "profile_name": profile.name,
        "profile": profile.to_dict(),
        "seed": profile.seed,
        "shard": shard,
        "num_shards": num_shards,
        "device": device,
        "versions": package_versions(),
        "metrics": _metrics_metadata(profile),
        "selection": {"criterion": profile.selection_criterion, "metrics": list(profile.selection_metrics),
                      "split": "val", "tie_break": "earlier candidate in grid order"},
        "runs": [],
        "complete": False,
    }


def _status_summary(scores: pd.DataFrame) -> dict[str, Any]:
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
    status = _status_summary(scores)
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
        test,
        store.root,
        models=list(profile.models),
        metric_order=list(outputs),
        method_order=label_order,
        directions=directions,
        split_methods=[g.name for g in profile.methods if g.method in SPLIT_METHODS],
        selection=selection,
        title=f"Evaluation ({profile.name} profile): mean [95 % CI] over test images",
        notes=notes,
        seed=profile.seed,
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
    device = resolve_device(device or profile.device)
    store = ResultStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    store.clean_temporary_files()
    metadata = store.read_metadata()
    fresh = _new_metadata(profile, shard, num_shards, device)
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
    target.root.mkdir(parents=True, exist_ok=True)
    for store in stores:
        for sub in ("units", "selection"):
            source = store.root / sub
            if not source.is_dir():
                continue
            for path in sorted(source.rglob("*.csv")):
                if path.name.startswith(".tmp-"):
                    continue
                destination = target.root / sub / path.relative_to(source)
                if destination.exists() and destination.read_bytes() != path.read_bytes():
                    raise ValueError(f"{path} conflicts with a different file of another shard ({destination})")
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)

    profile = EvaluationProfile.from_dict(first["profile"])
    merged = {key: first[key] for key in ("format", "profile_name", "profile", "seed", "metrics", "selection")}
    merged.update(
        {
            "versions": first["versions"],
            "device": sorted({m["device"] for m in metadatas}),
            "merged_from": [{"dir": str(s.root), "shard": m["shard"], "device": m["device"], "versions": m["versions"],
                             "wall_time_s": m.get("wall_time_s"), "complete": m.get("complete")}
                            for s, m in zip(stores, metadatas)],
            "num_shards": first["num_shards"],
            "wall_time_s": round(sum(m.get("wall_time_s") or 0.0 for m in metadatas), 3),
            "models": {k: v for m in metadatas for k, v in m.get("models", {}).items()},
            "complete": all(m.get("complete") for m in metadatas) and shards == expected,
        }
    )
    if any(m["versions"] != first["versions"] for m in metadatas):
        merged["versions_differ_between_shards"] = True
    return finalize(target.root, profile, merged)
