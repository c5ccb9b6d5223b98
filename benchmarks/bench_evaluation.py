"""Efficiency of the evaluation loop: measured seconds / the compute each work unit needs (issue 27).

    .venv/bin/python benchmarks/bench_evaluation.py                                   # default profile, first model
    .venv/bin/python benchmarks/bench_evaluation.py --model benchmark_resnet --images 32
    .venv/bin/python benchmarks/bench_evaluation.py --profile smoke --images 4 --methods saliency,gradcam --repeats 1

For every method row x metric of a profile it runs the work units exactly as the runner does them
(``hidden_monotonicity.evaluation.runner._Run.explain_chunk`` for the unit's maps, ``_Run.compute_unit`` for the
metric, with the runner's seeds and the metric parameters of the test split; writing the unit file is left out) and
compares the measured seconds with the seconds of the model passes that the metric's *definition* needs
(:func:`required_passes`)::

    required seconds = forward passes x t_forward + explanations x t_explain
    ratio            = measured seconds / required seconds            (1.0: no overhead at all)

``t_forward``: one no-grad forward pass of the model at the chunk's batch size; ``t_explain``: one explanation of
the chunk by the row's method (``backend.explain``, the row at its registered defaults
``MethodGrid.default_parameters()``); each the median of ``--repeats`` calls after one untimed call. A forward +
backward pass (input gradient) is timed and printed for reference. Re-explanations (MaxSensitivity's perturbed
inputs, RandomLogit's off-class targets, EfficientMPRT's randomised model) are charged one ``t_explain`` each.

Rows of the table
    ``(maps)``: the unit's precomputed explanation (one per chunk: the profile reuses it for every metric; the runner
    charges it to the first metric of the chunk, this table shows it apart). Metrics that need no model pass
    (AttributionLocalisation, PointingGame, Sparseness, Complexity) have required = 0 s and no ratio: their measured
    seconds are overhead, printed as such, and are in the numerator of every total.
Instrumentation
    A forward hook on the model (copied with it into EfficientMPRT's randomised copies) counts the *actual* forward
    calls outside explanations and the images they carried ("calls/passes": calls and images / chunk size), and the
    explain functions are wrapped to count the explanations; both are printed next to the required counts, so
    redundant passes show (e.g. Quantus explaining the original model again in EfficientMPRT).
``--cprofile N`` adds the N functions with the most own time over the whole measurement (cProfile).

The numbers depend on the machine and its load (both printed with the torch threads, the date and the commit).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from hidden_monotonicity.evaluation.backend import correctly_classified, default_backend, model_test_filter, profile_model
from hidden_monotonicity.evaluation.metrics import MetricEvaluator, ModelContext, build_metric
from hidden_monotonicity.evaluation.profiles import MethodGrid, get_profile
from hidden_monotonicity.evaluation.runner import _Run
from hidden_monotonicity.evaluation.selection import metric_params_for
from hidden_monotonicity.evaluation.store import WorkUnit, config_key

MAPS = "(maps)"


# --------------------------------------------------------------------------------------------- the required compute
@dataclass(frozen=True)
class Passes:
    """Model passes one work unit needs: forward passes and explanations, each of one chunk-sized batch."""

    forwards: float = 0.0
    explanations: float = 0.0

    def __add__(self, other: "Passes") -> "Passes":
        return Passes(self.forwards + other.forwards, self.explanations + other.explanations)

    def seconds(self, t_forward: float, t_explain: float) -> float:
        return self.forwards * t_forward + self.explanations * t_explain


def required_passes(metric: str, params: Mapping[str, Any], image_shape: tuple[int, int, int],
                    method_cost: float = 1.0, n_random_layers: int | None = None) -> Passes:
    """The model passes one unit of ``metric`` (resolved ``params``) needs on one chunk, by the metric's definition.

    ``image_shape`` is ``(C, H, W)``; ``method_cost`` the explanations one re-explanation costs (1: a re-explanation
    is one explanation of the method); ``n_random_layers`` the layers EfficientMPRT randomises (needed only with
    ``skip_layers=False``). Every pass is of the whole chunk (one batch); the unit's own explanation is the
    ``(maps)`` row and counted there, once per chunk (the profile reuses it: ``reuse_explanations``).

    * **PixelFlipping** (Bach et al. 2015; our ``PixelFlippingAUC``): features are flipped ``features_in_step`` at a
      time in the order of the map broadcast over the channels (``C*H*W`` features), and the target output is read
      after each step. The outputs AUC@f integrate the curve from the first step to the fraction f only
      (:func:`~hidden_monotonicity.evaluation.pixel_flipping.pixel_flipping_auc`; the unperturbed output is not a
      curve point), so the definition needs ``min(floor(max f * C*H*W / step), ceil(C*H*W / step))`` forward passes
      (default profile: floor(0.2 * 12288 / 256) = 9 of the 48 steps of the full curve).
    * **Selectivity** (Montavon et al. 2018): patches of ``patch_size`` are removed one by one, most relevant first,
      and the target output is read after each removal; the score is ``trapz(curve, dx=1)`` over those points, so
      one forward pass per patch: ``ceil(H / patch) * ceil(W / patch)`` (default profile: 4 x 4 = 16).
    * **MaxSensitivity** (Yeh et al. 2019): the maximum over ``nr_samples`` perturbed inputs of the change of the
      explanation: ``nr_samples`` re-explanations; with ``return_nan_when_prediction_changes`` also the predicted
      labels, of the input once and of each perturbed input: ``1 + nr_samples`` forward passes (else none).
    * **EfficientMPRT** (Hedström et al. 2023): the complexity (entropy) of the explanation of the randomised model
      against that of the original (the unit's maps), plus the entropy of both models' outputs: one re-explanation
      of the fully randomised model (``skip_layers=True``; otherwise one per randomised layer, ``n_random_layers``)
      and one forward pass per model (original and each randomised one explained).
    * **RandomLogit** (Sixt et al. 2020): the similarity of the map to the explanation of a random other class: one
      re-explanation, no forward pass.
    * **Completeness** (our ``ToleranceCompleteness``): ``f(x) - f(x0)``: the target logit at the input and at the
      baseline: 2 forward passes (run as one batch of 2N images).
    * **AttributionLocalisation, PointingGame, Sparseness, Complexity**: functions of the map (and the mask) only:
      no pass (their seconds are overhead).
    * Other catalogue metrics (MPRT, InputInvariance, NonSensitivity) are not counted: a ``ValueError`` says so.
    """
    c, h, w = image_shape
    if metric == "PixelFlipping":
        n_features = c * h * w
        step = int(params["features_in_step"])
        fractions = params.get("auc_fractions", (0.05, 0.20))
        needed = math.floor((max(fractions) + 1e-12) * n_features / step)
        return Passes(forwards=max(1, min(needed, math.ceil(n_features / step))))
    if metric == "Selectivity":
        patch = int(params["patch_size"])
        return Passes(forwards=math.ceil(h / patch) * math.ceil(w / patch))
    if metric == "MaxSensitivity":
        samples = int(params["nr_samples"])
        forwards = 1 + samples if params.get("return_nan_when_prediction_changes", False) else 0
        return Passes(forwards=forwards, explanations=samples * method_cost)
    if metric == "EfficientMPRT":
        if params.get("skip_layers", True):
            models = 1
        elif n_random_layers is None:
            raise ValueError("EfficientMPRT with skip_layers=False needs n_random_layers (the layers it randomises)")
        else:
            models = n_random_layers
        return Passes(forwards=1 + models, explanations=models * method_cost)
    if metric == "RandomLogit":
        return Passes(explanations=method_cost)
    if metric == "Completeness":
        return Passes(forwards=2)
    if metric in ("AttributionLocalisation", "PointingGame", "Sparseness", "Complexity"):
        return Passes()
    raise ValueError(f"required_passes does not count metric {metric!r}; it counts PixelFlipping, Selectivity, "
                     "MaxSensitivity, EfficientMPRT, RandomLogit, Completeness and the map-only metrics")


def random_layer_count(model: torch.nn.Module) -> int:
    """The layers Quantus's randomisation metrics randomise: the modules with ``reset_parameters``."""
    return sum(1 for _, module in model.named_modules() if hasattr(module, "reset_parameters"))


# --------------------------------------------------------------------------------------------- instrumentation
@dataclass
class PassCounter:
    """Forward calls of the model outside explanations (calls, images) and explanation calls (calls, images)."""

    depth: int = 0
    forward_calls: int = 0
    forward_images: int = 0
    explain_calls: int = 0
    explain_images: int = 0
    hook: Callable[..., None] | None = None  # the forward hook of :func:`count_forwards`

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.forward_calls, self.forward_images, self.explain_calls, self.explain_images


def count_forwards(model: torch.nn.Module, counter: PassCounter) -> torch.utils.hooks.RemovableHandle:
    """A forward hook on ``model`` counting its calls outside explanations (a plain function, so that deep copies of
    the model - EfficientMPRT's randomised ones - share the counter; a bound method would be deep-copied with it)."""

    def hook(module: torch.nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if counter.depth == 0:
            counter.forward_calls += 1
            counter.forward_images += int(inputs[0].shape[0]) if inputs and hasattr(inputs[0], "shape") else 0

    counter.hook = hook
    return model.register_forward_hook(hook)


def counted(function: Callable[..., Any], counter: PassCounter, inputs_key: str) -> Callable[..., Any]:
    """``function(model, inputs, ...)`` that counts its calls and the images it explains as explanations.

    The counting hook is taken off the explained model during the call (and put back after): the DC split refuses
    models with forward hooks (it cannot trace them), and forwards inside an explanation are the explanation's.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        model = kwargs.get("model", args[0] if args else None)
        inputs = kwargs.get(inputs_key, args[1] if len(args) > 1 else None)
        counter.explain_calls += 1
        counter.explain_images += int(len(inputs)) if inputs is not None else 0
        hooks = getattr(model, "_forward_hooks", {})
        ours = {key: value for key, value in hooks.items() if value is counter.hook}
        for key in ours:
            del hooks[key]
        counter.depth += 1
        try:
            return function(*args, **kwargs)
        finally:
            counter.depth -= 1
            hooks.update(ours)

    return wrapper


# --------------------------------------------------------------------------------------------- timing one pass
#: ``--clock wall`` (default) or ``cpu`` (process CPU time: the honest measure on a machine shared with other jobs,
#: with one torch thread); the passes and the units are timed with the same clock
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_seconds(call: Callable[[], Any], repeats: int, device: str, warmup: int = 1) -> float:
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(max(1, repeats)):
        _synchronize(device)
        start = clock()
        call()
        _synchronize(device)
        durations.append(clock() - start)
    return statistics.median(durations)


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int, device: str) -> float:
    def forward() -> None:
        with torch.no_grad():
            model(x)

    return median_seconds(forward, repeats, device)


def time_forward_backward(model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor, repeats: int,
                          device: str) -> float:
    def forward_backward() -> None:
        inputs = x.detach().clone().requires_grad_(True)
        output = model(inputs)
        output.gather(1, targets[:, None]).sum().backward()

    seconds = median_seconds(forward_backward, repeats, device)
    model.zero_grad(set_to_none=True)
    return seconds


# --------------------------------------------------------------------------------------------- the measurement
@dataclass
class Cell:
    method: str
    metric: str
    measured: float = 0.0
    required: Passes = field(default_factory=Passes)
    required_seconds: float = 0.0
    forward_calls: int = 0
    forward_images: int = 0
    explain_calls: int = 0
    explain_images: int = 0
    images: int = 0  # images of the chunks (the denominator of "passes" = images / chunk size)
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def ratio(self) -> float | None:
        return self.measured / self.required_seconds if self.required_seconds > 0 else None


@dataclass
class MethodTiming:
    method: str
    params: dict[str, Any]
    t_explain: float  # per chunk (of the first chunk's size)


class Measurement:
    """Runs the units of one model: every method row x metric over the chunks of the test images."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        profile = get_profile(args.profile)
        if args.chunk_size is not None:
            profile = profile.replace(chunk_size=args.chunk_size)
        self.profile = profile
        self.model_name = args.model or profile.models[0]
        if self.model_name not in profile.models:
            raise SystemExit(f"--model {self.model_name!r} is not a model of profile {profile.name!r}; "
                             f"choose from {', '.join(profile.models)}")
        rows = {g.name: g for g in profile.methods}
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(rows)
        unknown = [m for m in wanted if m not in rows]
        if unknown or not wanted:
            raise SystemExit(f"--methods {','.join(unknown) or '(none)'}: not a row of profile {profile.name!r}; "
                             f"choose from {', '.join(rows)}")
        self.grids: list[MethodGrid] = [rows[m] for m in wanted]
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else list(profile.metrics)
        unknown = [m for m in metrics if m not in profile.metrics]
        if unknown or not metrics:
            raise SystemExit(f"--metrics {','.join(unknown) or '(none)'}: not a metric of profile {profile.name!r}; "
                             f"choose from {', '.join(profile.metrics)}")
        self.metrics = metrics
        self.device = args.device
        self.counter = PassCounter()
        base = default_backend()
        self.backend = replace(
            base,
            explain=counted(base.explain, self.counter, "x"),
            quantus_explain_func=counted(base.quantus_explain_func, self.counter, "inputs"),
        )
        self.run = _Run(profile, store=None, backend=self.backend, device=self.device, data_dir=args.data_dir,
                        max_units=None, progress=False, on_error="record")

    def load(self) -> None:
        model, self.weights = profile_model(self.backend, self.profile, self.model_name)
        self.model = model.to(self.device).eval()
        samples = self.run.samples("test")
        if model_test_filter(self.profile):
            samples = correctly_classified(self.model, samples, None, self.device, self.model_name,
                                           self.profile.chunk_size)
        if self.args.images > len(samples):
            raise SystemExit(f"--images {self.args.images}: the test split of profile {self.profile.name!r} has "
                             f"{len(samples)} images; ask for at most that many")
        self.samples = samples.select(np.arange(self.args.images))
        with torch.no_grad():
            self.num_classes = int(self.model(torch.as_tensor(self.samples.x[:1], device=self.device)).shape[1])
        self.context = ModelContext(name=self.model_name, num_classes=self.num_classes)
        size = self.profile.chunk_size
        self.chunks = [np.arange(s, min(s + size, len(self.samples))) for s in range(0, len(self.samples), size)]
        self.image_shape = tuple(int(d) for d in self.samples.x.shape[1:])
        self.n_random_layers = random_layer_count(self.model)

    def time_passes(self) -> None:
        """t_forward and t_forward_backward per chunk size (median of ``--repeats``)."""
        self.t_forward: dict[int, float] = {}
        self.t_forward_backward: dict[int, float] = {}
        for n in sorted({len(c) for c in self.chunks}):
            x = torch.as_tensor(self.samples.x[:n], device=self.device)
            targets = torch.as_tensor(self.samples.y[:n], device=self.device)
            self.t_forward[n] = time_forward(self.model, x, self.args.repeats, self.device)
            self.t_forward_backward[n] = time_forward_backward(self.model, x, targets, self.args.repeats, self.device)

    def time_explanation(self, grid: MethodGrid, params: dict[str, Any]) -> dict[int, float]:
        seconds = {}
        for n in sorted({len(c) for c in self.chunks}):
            x = torch.as_tensor(self.samples.x[:n], device=self.device)
            targets = torch.as_tensor(self.samples.y[:n], device=self.device)
            seconds[n] = median_seconds(lambda: self.backend.explain(self.model, x, targets, grid.method, **params),
                                        self.args.repeats, self.device)
        return seconds

    def measure(self) -> list[Cell]:
        self.evaluators: dict[str, MetricEvaluator] = {
            m: build_metric(m, metric_params_for(self.profile, m, "test"), self.context) for m in self.metrics
        }
        self.method_timings: list[MethodTiming] = []
        cells: list[Cell] = []
        handle = count_forwards(self.model, self.counter)
        try:
            for grid in self.grids:
                cells.extend(self.measure_row(grid))
        finally:
            handle.remove()
        return cells

    def measure_row(self, grid: MethodGrid) -> list[Cell]:
        params = grid.default_parameters()
        t_explain = self.time_explanation(grid, params)
        self.method_timings.append(MethodTiming(grid.name, params, t_explain[len(self.chunks[0])]))
        config = config_key(params)
        maps_cell = Cell(grid.name, MAPS)
        cells = {m: Cell(grid.name, m) for m in self.metrics}
        for ci, chunk in enumerate(self.chunks):
            n = len(chunk)
            maps = None
            for metric, evaluator in self.evaluators.items():
                unit = WorkUnit(self.model_name, "test", grid.name, config, evaluator.name, ci)
                uses_maps = not evaluator.needs_explain_func or self.profile.reuse_explanations
                needs_maps = uses_maps and evaluator.skip_reason(self.model) is None
                if needs_maps and maps is None:
                    before = self.counter.snapshot()
                    start = clock()
                    maps = self.run.explain_chunk(self.model, self.samples, chunk, grid, params, unit)
                    _synchronize(self.device)
                    self.add(maps_cell, clock() - start, before, n, Passes(explanations=1),
                             t_explain[n])
                before = self.counter.snapshot()
                start = clock()
                rows = self.run.compute_unit(unit, evaluator, self.model, self.samples, chunk,
                                             maps if needs_maps else None, grid, params)
                _synchronize(self.device)
                elapsed = clock() - start
                metric_params = evaluator.params
                if evaluator.skip_reason(self.model) is not None:
                    required = Passes()
                else:
                    required = required_passes(metric, metric_params, self.image_shape,
                                               n_random_layers=self.n_random_layers)
                self.add(cells[metric], elapsed, before, n, required, t_explain[n])
                for status, count in rows["status"].map(lambda s: s.split(":")[0]).value_counts().items():
                    cells[metric].statuses[status] += int(count)
        return [maps_cell, *cells.values()]

    def add(self, cell: Cell, seconds: float, before: tuple[int, int, int, int], n: int, required: Passes,
            t_explain: float) -> None:
        after = self.counter.snapshot()
        calls, images, explain_calls, explain_images = (a - b for a, b in zip(after, before))
        cell.measured += seconds
        cell.required = cell.required + required
        cell.required_seconds += required.seconds(self.t_forward[n], t_explain)
        cell.forward_calls += calls
        cell.forward_images += images
        cell.explain_calls += explain_calls
        cell.explain_images += explain_images
        cell.images += n


# --------------------------------------------------------------------------------------------- the report
def _git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
        return commit + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _passes(images: int, n: int) -> str:
    return f"{images / n:g}" if n else "0"


def _ratio(measured: float, required: float) -> str:
    return f"{measured / required:.2f}" if required > 0 else "overhead"


def report(m: Measurement, cells: list[Cell], load_before: tuple[float, ...], wall: float) -> str:
    chunk = m.profile.chunk_size
    lines = [
        f"**bench_evaluation**: profile {m.profile.name}, model {m.model_name} ({m.weights}), device {m.device}",
        "",
        f"- machine: {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); python {platform.python_version()}",
        f"- date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; commit {_git_commit()}",
        f"- load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; after: "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}; wall time {wall:.0f} s",
        f"- {len(m.samples)} test images of {m.image_shape}, {len(m.chunks)} chunk(s) of <= {chunk}; "
        f"{len(m.grids)} method row(s) at registered defaults; repeats {m.args.repeats}; clock {m.args.clock}",
        "- one pass (median): " + "; ".join(
            f"batch {n}: forward {m.t_forward[n] * 1e3:.2f} ms, forward+backward {m.t_forward_backward[n] * 1e3:.2f} ms"
            for n in sorted(m.t_forward)),
        "- metric parameters (test split): " + "; ".join(
            f"{name} {ev.params.get('features_in_step', ev.params.get('patch_size', ev.params.get('nr_samples', '')))}"
            for name, ev in m.evaluators.items() if name in ("PixelFlipping", "Selectivity", "MaxSensitivity")),
        "",
        "Explanation of one chunk (t_explain, median):",
        "",
        "| method | parameters | t_explain s |",
        "|---|---|---:|",
    ]
    for t in m.method_timings:
        lines.append(f"| {t.method} | {config_key(t.params) if t.params else '{}'} | {t.t_explain:.4f} |")
    lines += [
        "",
        "Per cell (sums over the chunks; passes in chunk-sized batches; actual forwards = calls of the model outside "
        "explanations, as calls/passes):",
        "",
        "| method | metric | measured s | required fwd | required expl | actual fwd calls/passes | actual expl "
        "calls/passes | required s | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        note = "" if set(c.statuses) <= {"ok"} else " (" + ", ".join(f"{k} {v}" for k, v in sorted(c.statuses.items())) + ")"
        lines.append(
            f"| {c.method} | {c.metric}{note} | {c.measured:.3f} | {c.required.forwards:g} | {c.required.explanations:g} "
            f"| {c.forward_calls}/{_passes(c.forward_images, chunk)} | {c.explain_calls}/{_passes(c.explain_images, chunk)} "
            f"| {c.required_seconds:.3f} | {_ratio(c.measured, c.required_seconds)} |")

    def totals(key: Callable[[Cell], str], title: str) -> None:
        groups: dict[str, list[Cell]] = defaultdict(list)
        for c in cells:
            groups[key(c)].append(c)
        lines.extend(["", f"Per {title}:", "", f"| {title} | measured s | required s | ratio | overhead s (no pass required) |",
                      "|---|---:|---:|---:|---:|"])
        for name, group in groups.items():
            measured = sum(c.measured for c in group)
            required = sum(c.required_seconds for c in group)
            overhead = sum(c.measured for c in group if c.required_seconds == 0)
            lines.append(f"| {name} | {measured:.3f} | {required:.3f} | {_ratio(measured, required)} | {overhead:.3f} |")

    totals(lambda c: c.metric, "metric")
    totals(lambda c: c.method, "method")
    measured = sum(c.measured for c in cells)
    required = sum(c.required_seconds for c in cells)
    overhead = sum(c.measured for c in cells if c.required_seconds == 0)
    lines += ["", "Actual passes that differ from the required ones (per chunk, averaged over the chunks):", ""]
    shown = 0
    for c in cells:
        n_chunks = len(m.chunks)
        actual_fwd = c.forward_images / chunk / n_chunks
        actual_expl = c.explain_images / chunk / n_chunks
        req_fwd, req_expl = c.required.forwards / n_chunks, c.required.explanations / n_chunks
        if not (math.isclose(actual_fwd, req_fwd) and math.isclose(actual_expl, req_expl)):
            lines.append(f"- {c.method} / {c.metric}: forwards {actual_fwd:g} (required {req_fwd:g}), "
                         f"explanations {actual_expl:g} (required {req_expl:g})")
            shown += 1
    if not shown:
        lines.append("- none")
    lines += ["", "The 5 cells with the most seconds above their required ones (measured - required):", ""]
    for c in sorted(cells, key=lambda c: c.measured - c.required_seconds, reverse=True)[:5]:
        lines.append(f"- {c.method} / {c.metric}: {c.measured - c.required_seconds:.3f} s above {c.required_seconds:.3f} s "
                     f"(ratio {_ratio(c.measured, c.required_seconds)})")
    lines += ["", f"measured {measured:.2f} s, required {required:.2f} s, overhead of the pass-free metrics {overhead:.2f} s",
              f"overall efficiency ratio: {measured / required:.2f} (measured / required)"]
    return "\n".join(lines)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", choices=("smoke", "default"), help="evaluation profile (default: default)")
    parser.add_argument("--model", default=None, help="a model of the profile (default: its first)")
    parser.add_argument("--images", type=int, default=32, help="test images (default 32)")
    parser.add_argument("--chunk-size", type=int, default=None, help="images per work unit (default: the profile's)")
    parser.add_argument("--methods", default=None, help="comma-separated row names (default: every row of the profile)")
    parser.add_argument("--metrics", default=None, help="comma-separated metrics (default: the profile's)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per pass timing (median; default 3)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (default) or process CPU time (for a shared machine; use --threads 1)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default) or 'cuda'")
    parser.add_argument("--data-dir", default=None, help="dataset folder (profiles reading a local copy)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="print the N functions with the most own time over the measurement (default 0: none)")
    args = parser.parse_args(argv)
    if args.images < 1 or args.repeats < 1 or args.threads < 1 or (args.chunk_size is not None and args.chunk_size < 1):
        parser.error("--images, --repeats, --threads and --chunk-size must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    measurement = Measurement(args)
    measurement.load()
    measurement.time_passes()
    profiler = cProfile.Profile() if args.cprofile else None
    if profiler:
        profiler.enable()
    cells = measurement.measure()
    if profiler:
        profiler.disable()
    print(report(measurement, cells, load_before, time.perf_counter() - started))
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(args.cprofile)
        print("\n```\n" + stream.getvalue().strip() + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
